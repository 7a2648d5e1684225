import logging

import imgcore

logging.basicConfig(level=logging.INFO)
log = logging.getLogger("ocr.server")

log.info("loading page model")
# imgcore ships glibc wheels; on Alpine (musl) the extension is built from
# source at install time.
#
#
#
model = imgcore.decode(b"")
