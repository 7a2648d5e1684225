"""Logging configuration shared by the service, the workers and the client."""

import logging
import os
import sys

LOG_FORMAT = "%(asctime)s - %(levelname)s - %(message)s"


def configure_logging() -> None:
    """Send log records to stdout at the level named by TACORESERVICE_LOG_LEVEL."""
    level_name = os.getenv("TACORESERVICE_LOG_LEVEL", "INFO").upper()
    level = logging.getLevelName(level_name)
    if not isinstance(level, int):
        level = logging.INFO
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stdout, force=True)
    if level_name != logging.getLevelName(level):
        logging.getLogger(__name__).warning(
            f"Unknown TACORESERVICE_LOG_LEVEL {level_name!r}, using INFO"
        )
