"""The run report: Markdown and HTML in English or Chinese, and versioned JSON.

`render.py` contains the entry points, `view.py` what every format shows of a
run, `markdown.py` and `html.py` the two page formats, `timeline.py` the
HTML page's container timeline, `localize.py` the translation of sentences
stored in the record, `summary.py` the counts and groupings, `record_io.py`
the conversion of report.json back into a `RunRecord`, and `templates/` the
layouts. Secrets are masked by `stackmedic.redact` before any format sees
the record. The JSON schema is documented in docs/report-schema.md.
"""

from stackmedic.redact import redact_text
from stackmedic.report.render import (
    load_run,
    render_html,
    render_json,
    render_markdown,
    write_reports,
)

# NOTE: `render(run, fmt, lang)` is not re-exported here: the name would hide
# the `stackmedic.report.render` module. Import it from that module.
__all__ = [
    "load_run",
    "redact_text",
    "render_html",
    "render_json",
    "render_markdown",
    "write_reports",
]
