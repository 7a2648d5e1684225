"""Helpers every pattern family shares: log lines, times, compose settings, findings.

Nothing here decides whether something is a fault. These functions read the
evidence in one consistent way: a log line's level and time, a service's
effective environment, its health check in compose or in the image. They
also build findings and repairs with ids, summaries and evidence references.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from ruamel.yaml import YAML

from stackmedic.analysis import dockerfile, locate
from stackmedic.evidence.model import ContainerEvidence, Evidence, HealthProbe, LogLine, SourceFile
from stackmedic.i18n import Message, as_message, display_fields, message, translate
from stackmedic.model import (
    Category,
    ComposeEdit,
    EvidenceRef,
    Finding,
    Fixability,
    Repair,
    RepairStatus,
    SourceLocation,
)
from stackmedic.patterns.base import AnalysisContext
from stackmedic.shell import shell_join

# --- log lines ---------------------------------------------------------------

_LEVEL = re.compile(
    r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL|PANIC)\b|"
    r"\blevel=(trace|debug|info|warn|warning|error|fatal|panic)\b"
)
# The message part of `%(asctime)s - %(levelname)s - %(message)s` and of
# similar formats that put the level before the message.
_AFTER_LEVEL = re.compile(
    r"^.{0,80}?\b(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b\s*[\]:|-]*\s*"
)
_LEADING_TIME = re.compile(
    r"^\[?(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"
)
_ERROR_MARKERS = re.compile(
    r"Traceback \(most recent call last\)|^\s*[A-Za-z_][\w.]*(?:Error|Exception):|\bpanic:|"
    r"\bUnhandled\b|\bUncaught\b"
)
ERROR_LEVELS = {"ERROR", "CRITICAL", "FATAL", "PANIC"}


# nginx and Apache write the level in lower case in brackets: "[error]", "[emerg]".
_BRACKET_LEVEL = re.compile(r"\[(emerg|alert|crit|error|warn|notice|info|debug)\]")
_BRACKET_LEVELS = {"emerg": "FATAL", "alert": "FATAL", "crit": "CRITICAL", "warn": "WARNING"}


def log_level(text: str) -> str | None:
    """Return the upper-case level named near the start of a log line, if any."""
    match = _LEVEL.search(text[:120])
    if match is None:
        bracket = _BRACKET_LEVEL.search(text[:120])
        if bracket is None:
            return None
        word = bracket.group(1)
        return _BRACKET_LEVELS.get(word, word.upper())
    level = (match.group(1) or match.group(2)).upper()
    return "WARNING" if level == "WARN" else level


def log_message(text: str) -> str:
    """Return the message part of a log line, after its time and level prefix."""
    match = _AFTER_LEVEL.match(text)
    if match is None:
        return text.strip()
    return text[match.end() :].strip()


def is_error_line(text: str) -> bool:
    """Tell whether a line reports an error: an error level, a traceback or a panic."""
    return log_level(text) in ERROR_LEVELS or _ERROR_MARKERS.search(text) is not None


def parse_time(value: str | None) -> dt.datetime | None:
    """Parse an RFC 3339 or `asctime` timestamp; a time without zone is taken as UTC."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace(",", "."))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def line_time(line: LogLine) -> dt.datetime | None:
    """Return when a line was logged: the engine's timestamp, else a time at the line's start."""
    stamped = parse_time(line.timestamp)
    if stamped is not None:
        return stamped
    match = _LEADING_TIME.match(line.text)
    return parse_time(match.group(1)) if match else None


def logs_collected(container: ContainerEvidence) -> bool:
    """Tell whether the container's log was read at all.

    A container of a hand-written bundle without a log file has no log
    lines because nobody copied them, not because it was silent.
    """
    if container.logs:
        return True
    from_bundle = [p for p in container.provenance if p.method == "bundle"]
    if not from_bundle:
        return True
    return any(p.call.startswith("logs/") for p in from_bundle)


def candidate_lines(container: ContainerEvidence, *regexes: re.Pattern[str]) -> list[int]:
    """Return the positions in `container.logs` of the lines any of `regexes` may match.

    Each regex must be one of the log signatures (`patterns.signatures`). A
    pattern applies its own regex to these lines only, instead of to every
    line, and finds the same lines: one multi-pattern scan of the log serves
    every pattern.
    """
    # Imported here because the signature table imports the pattern modules.
    from stackmedic.patterns.signatures import log_index

    return log_index().line_indexes(container, *regexes)


def last_nonempty_line(container: ContainerEvidence) -> LogLine | None:
    for line in reversed(container.logs):
        if line.text.strip():
            return line
    return None


# --- evidence references -----------------------------------------------------


def log_ref(container: ContainerEvidence, line: LogLine) -> EvidenceRef:
    return EvidenceRef("log", container.name, line.text, line.number, line.timestamp)


def health_ref(container: ContainerEvidence, probe: HealthProbe) -> EvidenceRef:
    text = f"exit {probe.exit_code}: {probe.output.strip()}"
    return EvidenceRef("health", container.name, text, None, probe.end or probe.start)


def state_ref(container: ContainerEvidence) -> EvidenceRef:
    parts = [f"state={container.state}"]
    if container.health:
        parts.append(f"health={container.health}")
    if container.exit_code is not None:
        parts.append(f"exit_code={container.exit_code}")
    parts.append(f"restarts={container.restart_count}")
    if container.oom_killed:
        parts.append("oom_killed=true")
    if container.error:
        parts.append(f"error={container.error}")
    return EvidenceRef("state", container.name, " ".join(parts), None, container.finished_at)


def source_ref(source: SourceFile | None, path: str, line: int) -> EvidenceRef:
    text = source_line(source, line) if source is not None else ""
    return EvidenceRef("source", path, text, line)


def compose_ref(evidence: Evidence, service: str, key: str) -> EvidenceRef:
    """Cite one key of a service's resolved compose definition as a YAML snippet."""
    value = evidence.services.get(service, {}).get(key)
    origin = evidence.compose_files[-1] if evidence.compose_files else "compose"
    return EvidenceRef("compose", origin, render_yaml({"services": {service: {key: value}}}))


def render_yaml(data: Any) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue().rstrip()


def earliest_time(refs: Iterable[EvidenceRef]) -> dt.datetime | None:
    times = [t for t in (parse_time(ref.timestamp) for ref in refs) if t is not None]
    return min(times) if times else None


# --- source files --------------------------------------------------------------


def source_file(evidence: Evidence, service: str, path: str) -> SourceFile | None:
    """Return a service's source file by project path, or any service's file with that path."""
    for source in evidence.sources_of(service):
        if source.path == path:
            return source
    for source in evidence.sources:
        if source.path == path:
            return source
    return None


def source_line(source: SourceFile, line: int) -> str:
    lines = source.text.splitlines()
    if 1 <= line <= len(lines):
        return lines[line - 1].strip()
    return ""


def location_in(
    evidence: Evidence, service: str, path: str, line: int, function: str | None = None
) -> SourceLocation:
    """Build a SourceLocation for a project file, with a snippet when its text was collected."""
    source = source_file(evidence, service, path)
    snippet = None
    if source is not None:
        snippet = locate.snippet(source.text, line) or None
    container_path = source.container_path if source is not None else None
    return SourceLocation(path, line, function, snippet, container_path)


# --- compose settings --------------------------------------------------------


def compose_environment(evidence: Evidence, service: str) -> dict[str, str | None]:
    """Return a service's compose `environment` in either form as name -> value (None = unset)."""
    declared = evidence.services.get(service, {}).get("environment") or {}
    if isinstance(declared, dict):
        return {str(k): (None if v is None else str(v)) for k, v in declared.items()}
    environment: dict[str, str | None] = {}
    for entry in declared:
        name, sep, value = str(entry).partition("=")
        environment[name] = value if sep else None
    return environment


def compose_value(evidence: Evidence, service: str, variable: str) -> str | None:
    return compose_environment(evidence, service).get(variable)


def runtime_value(evidence: Evidence, service: str, variable: str) -> str | None:
    """Return a variable's value in the service's process environment, if the evidence shows it.

    Compose `environment` wins; else a container's environment (which also holds
    the image's ENV lines) is used.
    """
    value = compose_value(evidence, service, variable)
    if value is not None:
        return value
    for container in evidence.containers_of(service):
        if variable in container.env:
            return container.env[variable]
    return None


def depends_on_conditions(evidence: Evidence, service: str) -> dict[str, str | None]:
    """Return dependency -> declared condition (None when the list form gives none)."""
    declared = evidence.services.get(service, {}).get("depends_on") or {}
    if isinstance(declared, list):
        return {str(name): None for name in declared}
    conditions: dict[str, str | None] = {}
    for name, options in declared.items():
        condition = options.get("condition") if isinstance(options, dict) else None
        conditions[str(name)] = None if condition is None else str(condition)
    return conditions


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(value: Any) -> float | None:
    """Convert a compose duration ("1m30s") or an engine duration (int, nanoseconds) to seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value) / 1e9
    parts = _DURATION_PART.findall(str(value))
    if not parts:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


@dataclass
class HealthcheckSpec:
    """A health check in compose form, with where it was declared."""

    test: list[str]
    interval: float | None = None
    timeout: float | None = None
    retries: int | None = None
    start_period: float | None = None
    origin: str = "compose"

    @property
    def command(self) -> str:
        """Return the probe as one shell-like string for messages."""
        if self.test and self.test[0] == "CMD-SHELL":
            return " ".join(self.test[1:])
        if self.test and self.test[0] == "CMD":
            return " ".join(self.test[1:])
        return " ".join(self.test)

    @property
    def quoted_command(self) -> str:
        """Return the probe as a command line for finding texts.

        A CMD list is shell-quoted, so an argument with spaces keeps its
        quotes; a CMD-SHELL string is shown as written.
        """
        if self.test and self.test[0] == "CMD-SHELL":
            return " ".join(self.test[1:])
        if self.test and self.test[0] == "CMD":
            return shell_join(self.test[1:])
        return shell_join(self.test)

    @property
    def argv(self) -> list[str]:
        if self.test and self.test[0] == "CMD":
            return self.test[1:]
        if self.test and self.test[0] == "CMD-SHELL":
            return ["/bin/sh", "-c", " ".join(self.test[1:])]
        return self.test


def normalize_test(test: Any) -> list[str]:
    if test is None:
        return []
    if isinstance(test, str):
        return ["CMD-SHELL", test]
    return [str(part) for part in test]


def compose_healthcheck(evidence: Evidence, service: str) -> HealthcheckSpec | None:
    """Return the health check compose declares for a service; None when absent or disabled."""
    declared = evidence.services.get(service, {}).get("healthcheck")
    if not isinstance(declared, dict) or declared.get("disable"):
        return None
    test = normalize_test(declared.get("test"))
    if not test or test[0] == "NONE":
        return None
    retries = declared.get("retries")
    return HealthcheckSpec(
        test=test,
        interval=duration_seconds(declared.get("interval")),
        timeout=duration_seconds(declared.get("timeout")),
        retries=int(retries) if retries is not None else None,
        start_period=duration_seconds(declared.get("start_period")),
        origin="compose",
    )


def container_healthcheck(container: ContainerEvidence) -> HealthcheckSpec | None:
    """Return the health check a container runs, from its inspect `Config.Healthcheck`."""
    declared = container.healthcheck
    if not isinstance(declared, dict):
        return None
    test = normalize_test(declared.get("Test", declared.get("test")))
    if not test or test[0] == "NONE":
        return None
    retries = declared.get("Retries", declared.get("retries"))
    return HealthcheckSpec(
        test=test,
        interval=duration_seconds(declared.get("Interval", declared.get("interval"))),
        timeout=duration_seconds(declared.get("Timeout", declared.get("timeout"))),
        retries=int(retries) if retries else None,
        start_period=duration_seconds(declared.get("StartPeriod", declared.get("start_period"))),
        origin="container",
    )


def effective_healthcheck(evidence: Evidence, service: str) -> HealthcheckSpec | None:
    """Return the health check a service runs: compose's, else the one its containers report."""
    declared = compose_healthcheck(evidence, service)
    if declared is not None:
        return declared
    for container in evidence.containers_of(service):
        spec = container_healthcheck(container)
        if spec is not None:
            return spec
    return None


def healthcheck_disabled(evidence: Evidence, service: str) -> bool:
    declared = evidence.services.get(service, {}).get("healthcheck")
    if not isinstance(declared, dict):
        return False
    return bool(declared.get("disable")) or normalize_test(declared.get("test"))[:1] == ["NONE"]


def build_dockerfile(evidence: Evidence, service: str) -> SourceFile | None:
    """Return the Dockerfile a service's compose `build` uses, if its text was collected."""
    return dockerfile.dockerfile_for(evidence, service)


def containers_by_service(evidence: Evidence) -> dict[str, list[ContainerEvidence]]:
    """Group containers by service, each group sorted by container name."""
    groups: dict[str, list[ContainerEvidence]] = {}
    for container in sorted(evidence.containers, key=lambda c: c.name):
        groups.setdefault(container.service, []).append(container)
    return groups


# --- findings and repairs ------------------------------------------------------


def summary_for(code: str, service: str, facts: dict[str, Any], lang: str = "en") -> str:
    """Fill the pattern's `finding.<code>` sentence; a summary part among the facts gives its text."""
    plain = {name: _part_text(value) for name, value in facts.items()}
    fields = display_fields(plain)
    fields["service"] = service
    return translate(f"finding.{code}", lang, **fields)


def _part_text(value: Any) -> Any:
    part = as_message(value)
    return value if part is None else part.text


def summary_part(key: str, /, **params: Any) -> dict[str, Any]:
    """Build an optional clause of a finding summary, `patterns.<key>`, to store among the facts.

    The clause is a message in its JSON form, so the report translates it
    with the summary. Use `no_summary_part()` where the clause does not
    apply, for instance when the value it would name is unknown or zero.
    """
    return asdict(advice(key, **params))


def no_summary_part() -> dict[str, Any]:
    """Return an empty summary clause (see `summary_part`)."""
    return asdict(NO_TEXT)


def times_part(count: int) -> dict[str, Any]:
    """Return the summary clause " (once)" or " (N times)"; none for a count of 0."""
    if count <= 0:
        return no_summary_part()
    if count == 1:
        return summary_part("common.summary.times.one")
    return summary_part("common.summary.times.other", count=count)


def last_record_line(container: ContainerEvidence) -> LogLine | None:
    """Return the last log line that starts a record, preferring an error line.

    A line that starts with white space continues the record above it (a
    traceback frame, the second line of a driver's error message) and is
    skipped unless it carries a log level or a timestamp of its own. Falls
    back to the last non-empty line.
    """
    starts = [line for line in container.logs if line.text.strip() and _starts_record(line.text)]
    errors = [line for line in starts if is_error_line(line.text)]
    if errors:
        return errors[-1]
    if starts:
        return starts[-1]
    return last_nonempty_line(container)


def _starts_record(text: str) -> bool:
    if not text[:1].isspace():
        return True
    return log_level(text) is not None or _LEADING_TIME.match(text.strip()) is not None


NO_TEXT = Message(key="", text="")
"""An empty sentence part, for an optional field of a pattern sentence that does not apply."""


def advice(key: str, /, **params: Any) -> Message:
    """Build the pattern sentence `patterns.<key>` (a recommendation or a rationale) with `params`.

    Names, paths, values and commands go in as params, so no language
    translates them. A `Message` param is nested and translated with the
    sentence.
    """
    return message(f"patterns.{key}", **params)


def either(value: Any, fallback: str) -> Any:
    """Return `value`, or the phrase `patterns.<fallback>` (as a `Message`) when `value` is empty."""
    return value if value else advice(fallback)


def sentences(*parts: Message | None) -> Message:
    """Join the non-empty sentences among `parts` into one message, in order."""
    present = [part for part in parts if part is not None and part.text]
    if not present:
        return Message(key="", text="")
    joined = present[-1]
    for part in reversed(present[:-1]):
        joined = message("patterns.sentences", first=part, rest=joined)
    return joined


def _text_and_form(value: str | Message) -> tuple[str, Message | None]:
    if isinstance(value, Message):
        return value.text, value
    return value, None


def new_finding(
    context: AnalysisContext,
    *,
    code: str,
    service: str,
    category: Category,
    fixable_by: Fixability,
    confidence: float,
    facts: dict[str, Any],
    evidence: list[EvidenceRef],
    location: SourceLocation | None = None,
    recommendation: str | Message = "",
) -> Finding:
    """Create a finding with the next id and its English summary filled from `facts`.

    A `Message` recommendation is stored as its English text in
    `recommendation` and as itself in `recommendation_message`.
    """
    advice_text, advice_form = _text_and_form(recommendation)
    return Finding(
        id=context.next_id(),
        code=code,
        service=service,
        summary=summary_for(code, service, facts),
        confidence=round(max(0.0, min(1.0, confidence)), 2),
        category=category,
        fixable_by=fixable_by,
        evidence=evidence,
        location=location,
        facts=facts,
        recommendation=advice_text,
        recommendation_message=advice_form,
    )


def propose(
    context: AnalysisContext,
    finding: Finding,
    *,
    title: str,
    rationale: str | Message,
    edit: ComposeEdit,
) -> Repair:
    """Attach a proposed compose repair to a finding and return it.

    A `Message` rationale is stored as its English text and in `rationale_message`.
    """
    rationale_text, rationale_form = _text_and_form(rationale)
    repair = Repair(
        id=context.next_id("R"),
        finding_id=finding.id,
        code=finding.code,
        service=edit.service,
        title=title,
        rationale=rationale_text,
        rationale_message=rationale_form,
        edit=edit,
        status=RepairStatus.PROPOSED,
    )
    finding.repairs.append(repair)
    return repair


def unique(items: Iterable[str]) -> list[str]:
    """Return the items in first-seen order without duplicates."""
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)
