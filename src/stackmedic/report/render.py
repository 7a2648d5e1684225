"""Render a `RunRecord` as Markdown (English or Chinese) and as versioned JSON.

Both renderers show the run record as the loop wrote it: verdicts, fixed and
remaining problems are never recomputed here, only counted and grouped (see
`stackmedic.report.summary`). Every string taken from the record passes
through `redact_text` first, so a secret in a log line, a diff or a check
detail never reaches a report file.

Every label and sentence the report itself writes comes from the message
catalogue (`messages/<lang>/report.json`), looked up through `t()` inside the
template. Pattern codes, service names, paths and command lines are shown as
they are.

TODO: free text that other rooms store in English is shown as written in the
Chinese report too: repair titles, reasons and predictions, recommendation
texts, phase notes, warnings, and stop reasons that are not one of the codes
under `report.stop_reason.*`. Translating them needs message keys with fields
in the record instead of sentences.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import string
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2

from stackmedic.errors import StackmedicError
from stackmedic.i18n import LANGUAGES, catalogue, display_fields, translate
from stackmedic.model import (
    CheckResult,
    CycleRecord,
    EvidenceRef,
    Finding,
    Repair,
    RepairStatus,
    RunRecord,
)
from stackmedic.report import summary
from stackmedic.report.record_io import RecordFormatError, from_dict
from stackmedic.redact import redact_record

logger = logging.getLogger(__name__)

SCHEMA = "stackmedic.report/v1"
SCHEMA_FAMILY = "stackmedic.report/"
MARKDOWN_NAME = "report.md"
JSON_NAME = "report.json"

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


def render_markdown(run: RunRecord, lang: str) -> str:
    """Render the run as a Markdown report in `lang` (en or zh-CN)."""
    _check_language(lang)
    view = _MarkdownView(redact_record(run), lang)
    template = _environment().get_template("report.md.j2")
    text = template.render(run=view.run, view=view, t=view.t)
    if view.missing_keys:
        logger.warning(
            "report messages missing in %s: %s", lang, ", ".join(sorted(view.missing_keys))
        )
    return _tidy_markdown(text)


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


def write_reports(run: RunRecord, run_dir: Path, lang: str) -> list[Path]:
    """Write report.md (in `lang`) and report.json into `run_dir`; return both paths.

    Each file is written to a temporary file in `run_dir` and renamed over
    the target, so a reader never sees half a report.
    """
    run_dir = Path(run_dir)
    markdown = render_markdown(run, lang)
    document = render_json(run)

    run_dir.mkdir(parents=True, exist_ok=True)
    paths = [run_dir / MARKDOWN_NAME, run_dir / JSON_NAME]
    _write_atomically(paths[0], markdown)
    _write_atomically(paths[1], document)
    logger.info("wrote %s and %s", paths[0], paths[1])
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
            f"run record not found: {path}",
            hint="pass the run directory that contains report.json",
        ) from None
    except OSError as error:
        raise RecordFormatError(f"cannot read run record {path}: {error.strerror}") from None

    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise RecordFormatError(
            f"{path}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}"
        ) from None
    if not isinstance(data, dict):
        raise RecordFormatError(f"{path}: expected a JSON object at the top level")

    schema = data.get("schema")
    if not isinstance(schema, str) or not schema.startswith(SCHEMA_FAMILY):
        raise RecordFormatError(f"{path}: not a stackmedic report (schema is {schema!r})")
    if schema != SCHEMA:
        raise RecordFormatError(
            f"{path}: report schema {schema} is not supported; this stackmedic reads {SCHEMA}",
            hint="re-render the report with the stackmedic version that wrote it",
        )

    record = {key: value for key, value in data.items() if key not in ("schema", "summary")}
    try:
        return from_dict(RunRecord, record, path="run")
    except RecordFormatError as error:
        raise RecordFormatError(f"{path}: {error.message}") from None


def _check_language(lang: str) -> None:
    if lang not in LANGUAGES:
        raise StackmedicError(
            f"unknown report language {lang!r}",
            hint=f"choose one of {', '.join(LANGUAGES)}",
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


@functools.cache
def _environment() -> jinja2.Environment:
    # Markdown is not HTML, so nothing is escaped. Table cells and code spans
    # are made safe by `_MarkdownView.cell` and `inline_code`.
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


def format_evidence(refs: Iterable[EvidenceRef]) -> str:
    """Lay out evidence one item per line: `[kind] origin:line timestamp | text`.

    Continuation lines of a multi-line item (a health probe's traceback) are
    indented under the first.
    """
    lines: list[str] = []
    for ref in refs:
        head = f"[{ref.kind}] {ref.origin}"
        if ref.line is not None:
            head += f":{ref.line}"
        if ref.timestamp:
            head += f" {ref.timestamp}"
        text_lines = ref.text.splitlines() or [""]
        lines.append(f"{head} | {text_lines[0]}")
        lines.extend(f"{' ' * len(head)} | {line}" for line in text_lines[1:])
    return "\n".join(lines)


class _MarkdownView:
    """Formatting helpers and groupings the Markdown template calls.

    `run` is already redacted. `missing_keys` collects catalogue keys the
    template requested that `lang` lacks.
    """

    def __init__(self, run: RunRecord, lang: str) -> None:
        self.run = run
        self.lang = lang
        self.missing_keys: set[str] = set()
        self._messages = catalogue(lang)
        self._english = catalogue("en")

    # -- messages -------------------------------------------------------------

    def t(self, key: str, /, **fields: Any) -> str:
        if key not in self._messages:
            self.missing_keys.add(key)
        return translate(key, self.lang, **fields)

    def plural(self, key: str, count: int, /, **fields: Any) -> str:
        """Translate `<key>.one` or `<key>.other` by `count`, passing `count` as a field."""
        return self.t(f"{key}.{'one' if count == 1 else 'other'}", count=count, **fields)

    def t_or(self, key: str, fallback: str, /, **fields: Any) -> str:
        """Translate `key` when the catalogue has it, else return `fallback` unchanged."""
        if key in self._messages or key in self._english:
            return translate(key, self.lang, **fields)
        return fallback

    def join(self, items: Iterable[str]) -> str:
        return self.t("report.list.separator").join(items)

    def finding_summary(self, finding: Finding) -> str:
        """Return the finding's summary in the report language.

        Fills the pattern's `finding.<CODE>` message with the finding's facts
        and service. Falls back to the English `finding.summary` when the
        message is missing or names a field that the facts lack.
        """
        key = f"finding.{finding.code}"
        template = self._messages.get(key) or self._english.get(key)
        if template is None:
            return finding.summary

        fields: dict[str, Any] = display_fields(finding.facts)
        fields.setdefault("service", finding.service)
        try:
            required_fields = {
                name.split(".")[0].split("[")[0]
                for _text, name, _spec, _conversion in string.Formatter().parse(template)
                if name
            }
            if not required_fields <= fields.keys():
                logger.debug(
                    "%s lacks facts %s; using the stored summary",
                    key,
                    required_fields - fields.keys(),
                )
                return finding.summary
            return template.format(**fields)
        except (ValueError, KeyError, IndexError, AttributeError, TypeError) as error:
            logger.debug("cannot format %s: %s", key, error)
            return finding.summary

    # -- values ---------------------------------------------------------------

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

    def when(self, timestamp: str | None) -> str:
        """Format an ISO timestamp as `YYYY-MM-DD HH:MM:SS UTC` (or with its offset)."""
        if not timestamp:
            return self.t("report.value.not_recorded")
        parsed = summary.parse_timestamp(timestamp)
        if parsed is None:
            return timestamp
        offset = parsed.utcoffset()
        zone = "UTC" if not offset else parsed.strftime("%z")
        return f"{parsed.strftime('%Y-%m-%d %H:%M:%S')} {zone}"

    def seconds(self, value: float | None) -> str:
        if value is None:
            return self.t("report.value.not_recorded")
        return self.t("report.unit.seconds", value=f"{value:.1f}")

    def duration(self, value: float | None) -> str:
        if value is None:
            return self.t("report.value.not_recorded")
        total = max(0, round(value))
        hours, rest = divmod(total, 3600)
        minutes, seconds = divmod(rest, 60)
        if hours:
            return self.t("report.duration.hours", hours=hours, minutes=minutes)
        if minutes:
            return self.t("report.duration.minutes", minutes=minutes, seconds=seconds)
        return self.t("report.duration.seconds", seconds=seconds)

    def percent(self, fraction: float) -> str:
        return f"{round(fraction * 100)}%"

    def yes_no(self, value: bool) -> str:
        return self.t("report.value.yes" if value else "report.value.no")

    def enum_label(self, group: str, value: object) -> str:
        """Translate an enum member (verdict, category, ...) as `report.<group>.<value>`."""
        raw = str(getattr(value, "value", value))
        return self.t_or(f"report.{group}.{raw}", raw)

    def snippet_language(self, path: str) -> str:
        return snippet_language(path)

    def evidence(self, finding: Finding) -> str:
        return format_evidence(finding.evidence)

    def json_inline(self, value: object) -> str:
        return json.dumps(value, ensure_ascii=False)

    # -- run-level groupings -------------------------------------------------

    @functools.cached_property
    def final_checks(self) -> list[CheckResult]:
        return self.run.final_checks

    @functools.cached_property
    def final_tally(self) -> summary.CheckTally:
        return summary.tally_checks(self.final_checks)

    @functools.cached_property
    def final_checks_cycle(self) -> int | None:
        return summary.final_checks_cycle(self.run)

    @functools.cached_property
    def not_in_effect(self) -> list[summary.RepairOutcome]:
        return summary.repairs_not_in_effect(self.run)

    @functools.cached_property
    def causal_tree(self) -> list[summary.CauseNode]:
        return summary.causal_tree(self.run)

    @functools.cached_property
    def recommendation_groups(self) -> list[tuple[str, list[Any]]]:
        return summary.group_recommendations(self.run.recommendations)

    def priority_title(self, priority: str) -> str:
        return self.t_or(
            f"report.priority.{priority}",
            self.t("report.priority.other", priority=priority),
        )

    def success_rate(self) -> str:
        tally = self.final_tally
        if tally.percent is None:
            return self.t("report.summary.success_rate_none")
        return self.t(
            "report.summary.success_rate_value",
            passed=tally.passed,
            total=tally.total,
            percent=tally.percent,
        )

    def checks_source(self) -> str:
        if self.final_checks_cycle is None:
            return self.t("report.summary.checks_from_baseline")
        return self.t("report.summary.checks_from_cycle", number=self.final_checks_cycle)

    def stop_reason(self) -> str:
        reason = self.run.stop_reason.strip()
        if not reason:
            return self.t("report.value.not_recorded")
        return self.t_or(f"report.stop_reason.{reason}", reason)

    def run_duration(self) -> str:
        return self.duration(summary.seconds_between(self.run.started_at, self.run.finished_at))

    # -- cycle-level groupings -----------------------------------------------

    def sections(self, cycle: CycleRecord) -> list[summary.PhaseSection]:
        return summary.phase_sections(cycle)

    def phase_title(self, section: summary.PhaseSection) -> str:
        if section.kind == summary.OTHER:
            return section.name
        return f"{section.name}: {self.t('report.phase.' + section.kind)}"

    def cause_of(self, finding: Finding, cycle: CycleRecord | None) -> str:
        """Describe `finding.caused_by` as `id (CODE, service)` when the cause is known."""
        candidates = list(self.run.remaining) + list(self.run.fixed)
        if cycle is not None:
            candidates = cycle.findings + cycle.log_findings + candidates
        for candidate in candidates:
            if candidate.id == finding.caused_by:
                return (
                    f"{inline_code(candidate.id)} ({inline_code(candidate.code)} · "
                    f"{inline_code(candidate.service)})"
                )
        return inline_code(finding.caused_by or "")

    def repair_status(self, repair: Repair) -> str:
        """Return the marker and label of a repair's status (dry-run aware)."""
        status = repair.status
        if status == RepairStatus.APPLIED:
            return "✅ " + self.t("report.repair.status.applied")
        if status == RepairStatus.PLANNED and self.run.dry_run:
            return "⚠️ " + self.t("report.repair.status.planned_dry_run")
        return "⚠️ " + self.enum_label("repair.status", status)

    def repair_outcome_label(self, repair: Repair) -> str:
        if repair.status == RepairStatus.PLANNED and self.run.dry_run:
            return self.t("report.outcome.repair_planned_dry_run")
        return self.t_or(
            f"report.outcome.repair_{repair.status.value}",
            self.enum_label("repair.status", repair.status),
        )

    def conclusion(self) -> str:
        """Compose the closing paragraph from counts of the run record."""
        run = self.run
        sentences: list[str] = []

        tally = self.final_tally
        if tally.total:
            sentences.append(
                self.t("report.conclusion.checks", passed=tally.passed, total=tally.total)
            )
        else:
            sentences.append(self.t("report.conclusion.no_checks"))

        if run.fixed:
            sentences.append(self.plural("report.conclusion.fixed", len(run.fixed)))

        groups = summary.remaining_by_fixability(run)
        code_places = summary.code_fault_places(run)
        if groups["code"]:
            sentences.append(
                self.plural(
                    "report.conclusion.code_faults",
                    len(groups["code"]),
                    places=self.join(code_places),
                )
            )
        for fixability in ("compose", "human"):
            findings = groups.get(fixability) or []
            if findings:
                items = self.join(f"{f.code} ({f.service})" for f in findings)
                sentences.append(
                    self.plural(
                        f"report.conclusion.{fixability}_remaining", len(findings), items=items
                    )
                )
        if not run.remaining:
            sentences.append(self.t("report.conclusion.nothing_remains"))

        if self.not_in_effect:
            sentences.append(
                self.plural("report.conclusion.not_in_effect", len(self.not_in_effect))
            )
        sentences.append(
            self.t(
                "report.conclusion.cycles",
                run=len(run.cycles),
                max=run.max_cycles,
                verdict=self.enum_label("verdict", run.verdict),
            )
        )
        if run.stop_reason.strip():
            sentences.append(self.t("report.conclusion.stop_reason", reason=self.stop_reason()))
        if run.dry_run:
            sentences.append(self.t("report.conclusion.dry_run"))
        return self.t("report.conclusion.separator").join(sentences)
