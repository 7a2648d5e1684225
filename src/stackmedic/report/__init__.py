"""The run report: Markdown in English or Chinese, and versioned JSON.

`render.py` holds the entry points, `summary.py` the counts and groupings
both formats show, `redact.py` the masking of secrets, `record_io.py` the
conversion of report.json back into a `RunRecord`, and `templates/` the
Markdown layout. The JSON schema is documented in docs/report-schema.md.
"""

from stackmedic.redact import redact_text
from stackmedic.report.render import load_run, render_json, render_markdown, write_reports

__all__ = ["load_run", "redact_text", "render_json", "render_markdown", "write_reports"]
