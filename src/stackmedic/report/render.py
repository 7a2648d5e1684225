"""Render a `RunRecord` as Markdown, HTML (English or Chinese) and versioned JSON.

Every renderer shows the run record as the loop wrote it: verdicts, fixed
and remaining problems are never recomputed here, only counted and grouped
(see `stackmedic.report.summary`). Every string taken from the record passes
through `redact_record` first, so a secret in a log line, a diff or a check
detail never reaches a report file.

Every label and sentence the report itself writes comes from the message
catalogue (`messages/<lang>/report.json`), looked up through `t()` inside the
templates. Sentences the record stores in English are shown in the report's
language where the record keeps what a translation needs (see
`stackmedic.report.localize`). Pattern codes, service names, paths and
command lines are shown as they are.

NOTE: a repair's reason written when a file rejected the edit has no
catalogue form, and neither do a pattern's rationale and recommendation in
a record written before patterns stored them as messages. These are shown
as written in every language.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from stackmedic.errors import StackmedicError
from stackmedic.i18n import LANGUAGES, message
from stackmedic.model import RunRecord
from stackmedic.redact import redact_record
from stackmedic.report import summary
from stackmedic.report.html import html_report
from stackmedic.report.markdown import MAX_CELL_CHARS, markdown_report
from stackmedic.report.record_io import RecordFormatError, from_dict

__all__ = [
    "FORMATS",
    "HTML_NAME",
    "JSON_NAME",
    "MARKDOWN_NAME",
    "MAX_CELL_CHARS",
    "SCHEMA",
    "load_run",
    "render",
    "render_html",
    "render_json",
    "render_markdown",
    "write_reports",
]

logger = logging.getLogger(__name__)

SCHEMA = "stackmedic.report/v1"
SCHEMA_FAMILY = "stackmedic.report/"
MARKDOWN_NAME = "report.md"
JSON_NAME = "report.json"
HTML_NAME = "report.html"

FORMATS = ("md", "json", "html", "sarif")


def render_markdown(run: RunRecord, lang: str, run_dir: Path | None = None) -> str:
    """Render the run as a Markdown report in `lang` (en or zh-CN).

    With `run_dir`, the run's folder, the header names the folder and the
    command that rolls the run back.
    """
    _check_language(lang)
    return markdown_report(redact_record(run), lang, run_dir)


def render_html(run: RunRecord, lang: str, run_dir: Path | None = None) -> str:
    """Render the run as one self-contained HTML page in `lang` (en or zh-CN).

    The page loads nothing from the network: its CSS and its few lines of
    script are inline, and the container timeline is inline SVG. `run_dir`
    is used as in `render_markdown`.
    """
    _check_language(lang)
    return html_report(redact_record(run), lang, run_dir)


def render_json(run: RunRecord) -> str:
    """Render the run as JSON of schema `stackmedic.report/v1`.

    The object contains `schema`, then every field of `run.to_dict()`, then
    `summary` (counts computed from the record). docs/report-schema.md
    describes each field.
    """
    safe = redact_record(run)
    payload: dict[str, Any] = {"schema": SCHEMA}
    payload.update(safe.to_dict())
    payload["summary"] = summary.summary_dict(safe)
    return json.dumps(payload, ensure_ascii=False, indent=2) + "\n"


def render_sarif(run: RunRecord) -> str:
    """Render the run's remaining findings as SARIF through `stackmedic.report.sarif`.

    Raises:
        StackmedicError: this installation has no `stackmedic.report.sarif`.
    """
    try:
        sarif = importlib.import_module("stackmedic.report.sarif")
    except ModuleNotFoundError as error:
        if error.name != "stackmedic.report.sarif":
            raise
        raise StackmedicError(
            message("errors.report.sarif_unavailable", module="stackmedic.report.sarif"),
            hint=message("errors.report.hint.other_format"),
        ) from None
    safe = redact_record(run)
    text: str = sarif.render_sarif(safe.remaining, safe.stackmedic_version, safe.project_dir)
    return text


def render(run: RunRecord, fmt: str, lang: str, run_dir: Path | None = None) -> str:
    """Render the run in `fmt` (md, json, html or sarif); `lang` and `run_dir` apply to md and html.

    Raises:
        StackmedicError: `fmt` or `lang` is unknown, or SARIF is not available.
    """
    if fmt == "md":
        return render_markdown(run, lang, run_dir)
    if fmt == "html":
        return render_html(run, lang, run_dir)
    if fmt == "json":
        return render_json(run)
    if fmt == "sarif":
        return render_sarif(run)
    raise StackmedicError(
        message("errors.report.unknown_format", format=repr(fmt)),
        hint=message("errors.report.hint.choose", choices=", ".join(FORMATS)),
    )


def write_reports(run: RunRecord, run_dir: Path, lang: str) -> list[Path]:
    """Write report.md, report.json and report.html into `run_dir`; return the paths in that order.

    The Markdown and HTML reports are in `lang`. Each file is written to a
    temporary file in `run_dir` and renamed over the target, so a reader
    never sees half a report.
    """
    run_dir = Path(run_dir)
    documents = {
        MARKDOWN_NAME: render_markdown(run, lang, run_dir.resolve()),
        JSON_NAME: render_json(run),
        HTML_NAME: render_html(run, lang, run_dir.resolve()),
    }

    run_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in documents.items():
        path = run_dir / name
        _write_atomically(path, text)
        paths.append(path)
    logger.info("wrote %s", ", ".join(str(path) for path in paths))
    return paths


def load_run(run_dir: Path | str) -> RunRecord:
    """Read a run's report.json back into a `RunRecord`.

    `run_dir` is the run directory or the JSON file itself. Secrets that
    `render_json` masked stay masked in the loaded record.

    Raises:
        RecordFormatError: the file is missing, is not JSON, has another
            schema, or does not fit `RunRecord`.
    """
    path = Path(run_dir)
    if path.is_dir():
        path = path / JSON_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordFormatError(
            message("errors.report.run_not_found", path=str(path)),
            hint=message("errors.report.hint.run_directory", file=JSON_NAME),
        ) from None
    except OSError as error:
        raise RecordFormatError(
            message("errors.report.run_unreadable", path=str(path), error=error.strerror)
        ) from None

    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise RecordFormatError(
            message(
                "errors.report.invalid_json",
                location=f"{path}:{error.lineno}:{error.colno}",
                problem=error.msg,
            )
        ) from None
    if not isinstance(data, dict):
        raise RecordFormatError(message("errors.report.top_level_not_object", path=str(path)))

    schema = data.get("schema")
    if not isinstance(schema, str) or not schema.startswith(SCHEMA_FAMILY):
        raise RecordFormatError(
            message("errors.report.not_a_report", path=str(path), schema=repr(schema))
        )
    if schema != SCHEMA:
        raise RecordFormatError(
            message(
                "errors.report.schema_unsupported", path=str(path), schema=schema, supported=SCHEMA
            ),
            hint=message("errors.report.hint.same_version"),
        )

    record = {key: value for key, value in data.items() if key not in ("schema", "summary")}
    try:
        return from_dict(RunRecord, record, path="run")
    except RecordFormatError as error:
        raise RecordFormatError(
            message("errors.report.record_invalid", path=str(path), error=error.translatable)
        ) from None


def _check_language(lang: str) -> None:
    if lang not in LANGUAGES:
        raise StackmedicError(
            message("errors.report.unknown_language", lang=repr(lang)),
            hint=message("errors.report.hint.choose", choices=", ".join(LANGUAGES)),
        )


def _write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
