"""The Markdown report (templates/report.md.j2) and its formatting helpers."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path

import jinja2

from stackmedic.model import CycleRecord, Finding, RunRecord
from stackmedic.report.view import ReportView

# Longer check details are cut in Markdown tables and outcome lists, but
# report.json keeps them whole.
MAX_CELL_CHARS = 400

_SNIPPET_LANGUAGES = {
    ".py": "python",
    ".yml": "yaml",
    ".yaml": "yaml",
    ".json": "json",
    ".sh": "bash",
    ".js": "javascript",
    ".ts": "typescript",
    ".go": "go",
    ".toml": "toml",
    ".ini": "ini",
}

_FENCE_LINE = re.compile(r"^(`{3,})")

# The prefix of the continuation lines of a multi-line evidence item.
_CONTINUATION = "    | "


def markdown_report(run: RunRecord, lang: str, run_dir: Path | None = None) -> str:
    """Render an already redacted run as Markdown in `lang`; `run_dir` is its folder, if known."""
    view = MarkdownView(run, lang, run_dir)
    template = _environment().get_template("report.md.j2")
    text = template.render(run=view.run, view=view, t=view.t)
    view.report_missing_keys("markdown")
    return _tidy_markdown(text)


@functools.cache
def _environment() -> jinja2.Environment:
    # Markdown is not HTML, so nothing is escaped. Table cells and code spans
    # are made safe by `MarkdownView.cell` and `inline_code`.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("stackmedic.report", "templates"),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _tidy_markdown(text: str) -> str:
    """Collapse runs of blank lines outside code fences, which the template leaves."""
    lines: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        opening = _FENCE_LINE.match(line)
        if fence is None:
            if opening:
                fence = opening.group(1)
            elif not line.strip() and (not lines or not lines[-1].strip()):
                continue
        elif line.strip() == fence:
            fence = None
        lines.append(line)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines) + "\n"


def inline_code(text: object) -> str:
    """Return `text` as a Markdown code span, fenced past any backticks inside it."""
    value = str(text)
    if not value:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    if value.startswith("`") or value.endswith("`"):
        value = f" {value} "
    return f"{fence}{value}{fence}"


def code_block(text: str, language: str = "") -> str:
    """Return `text` as a fenced code block, fenced past any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip(chr(10))}\n{fence}"


def snippet_language(path: str) -> str:
    name = Path(path).name
    if name.startswith("Dockerfile") or name.endswith(".dockerfile"):
        return "dockerfile"
    return _SNIPPET_LANGUAGES.get(Path(path).suffix.lower(), "")


def format_evidence(items: Iterable[tuple[str, str]]) -> str:
    """Lay out evidence as `head | text`, one item per line, from (head, text) pairs.

    Continuation lines of a multi-line item (a health probe's traceback)
    follow under it as `    | line`.
    """
    lines: list[str] = []
    for head, text in items:
        text_lines = text.splitlines() or [""]
        lines.append(f"{head} | {text_lines[0]}")
        lines.extend(f"{_CONTINUATION}{line}" for line in text_lines[1:])
    return "\n".join(lines)


class MarkdownView(ReportView):
    """`ReportView` plus Markdown escaping: code spans, fences and table cells."""

    def code(self, text: object) -> str:
        return inline_code(text)

    def codes(self, items: Iterable[object]) -> str:
        rendered = [inline_code(item) for item in items if str(item)]
        return self.join(rendered) if rendered else self.t("report.value.none")

    def block(self, text: str, language: str = "") -> str:
        return code_block(text, language)

    def shorten(self, text: object) -> str:
        """Cut `text` after MAX_CELL_CHARS characters, saying how many were left out."""
        value = str(text)
        if len(value) <= MAX_CELL_CHARS:
            return value
        cut = len(value) - MAX_CELL_CHARS
        return value[:MAX_CELL_CHARS] + " " + self.t("report.value.truncated", count=cut)

    def cell(self, text: object) -> str:
        """Return `text` fit for one Markdown table cell."""
        value = self.shorten(text)
        return value.replace("|", "\\|").replace("\r\n", "\n").replace("\n", "<br>")

    def first_line(self, text: str) -> str:
        """Return the first line of `text`, shortened, for one-line outcome lists."""
        lines = text.strip().splitlines()
        return self.shorten(lines[0]) if lines else self.t("report.value.none")

    def snippet_language(self, path: str) -> str:
        return snippet_language(path)

    def evidence(self, finding: Finding) -> str:
        groups = self.evidence_groups(finding)
        return format_evidence((self.evidence_head(group), group.first.text) for group in groups)

    def cause_of(self, finding: Finding, cycle: CycleRecord | None) -> str:
        """Describe `finding.caused_by` as `id (CODE · service)` when the cause is known."""
        cause = self.cause(finding, cycle)
        if cause is None:
            return inline_code(finding.caused_by or "")
        return f"{inline_code(cause.id)} ({inline_code(cause.code)} · {inline_code(cause.service)})"
