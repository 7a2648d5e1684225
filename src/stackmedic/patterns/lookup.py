"""The patterns' one doorway into source analysis (`stackmedic.analysis`).

Patterns ask a few questions about the code. Which logging call printed a
line, and what does the next call after it run? Which calls in a function
can block? Where is a key subscripted or a method called? What are a table's
columns and a class's methods? Which project file is a traceback frame in?
Each question is one function here, so the patterns do not depend on how the
analysis modules spell their arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stackmedic.analysis import dockerfile, locate, logsites, source
from stackmedic.analysis.locate import ParsedTraceback
from stackmedic.evidence.facts import BlockingCall, LogCallSite
from stackmedic.evidence.model import Evidence, LogLine
from stackmedic.model import SourceLocation
from stackmedic.patterns.base import AnalysisContext


@dataclass
class CallTarget:
    """The function a call statement runs, resolved to its definition."""

    function: str
    path: str
    line: int


@dataclass
class CodeUse:
    """A subscript or attribute call in the source: `row['key']`, `self.db.method(`."""

    path: str
    line: int
    function: str | None
    expression: str


@dataclass
class ClassSummary:
    name: str
    path: str
    line: int
    methods: dict[str, str]


@dataclass
class TableSummary:
    name: str
    columns: list[str]
    path: str | None
    line: int | None


def log_sites_for_line(context: AnalysisContext, service: str, text: str) -> list[LogCallSite]:
    """Return the logging calls of a service that can print `text`, most specific first."""
    own = [site for site in context.facts.log_sites if site.service == service]
    return logsites.sites_matching(own, text)


def call_after(context: AnalysisContext, service: str, path: str, line: int) -> CallTarget | None:
    """Resolve the call statement that follows the statement at path:line to its function."""
    target = source.find_call_target(context.evidence, service, path, line)
    if target is None:
        return None
    function, target_path, target_line = target
    return CallTarget(function, target_path, target_line)


def blocking_calls_in(
    context: AnalysisContext, service: str, path: str, function: str
) -> list[BlockingCall]:
    return list(source.blocking_calls_in(context.facts, service, path, function))


def subscripts_of(context: AnalysisContext, service: str, key: str) -> list[CodeUse]:
    """Return the lookups of a literal key (`x['key']`, `x.get('key')`) in a service's code."""
    return [
        CodeUse(use.path, use.line, use.function, use.expression)
        for use in context.facts.key_uses
        if use.service == service and use.key == key
    ]


def attribute_calls_of(context: AnalysisContext, service: str, attribute: str) -> list[CodeUse]:
    """Return the calls `receiver.attribute(...)` in a service's code."""
    return [
        CodeUse(call.path, call.line, call.function, call.expression)
        for call in context.facts.attribute_calls
        if call.service == service and call.attribute == attribute
    ]


def class_named(context: AnalysisContext, service: str, name: str) -> ClassSummary | None:
    """Return a class of the service's code by name, else one of any service."""
    info = context.facts.classes_of(service).get(name) or context.facts.classes.get(name)
    if info is None:
        return None
    methods = {method: found.signature for method, found in info.methods.items()}
    return ClassSummary(name, info.path, info.line, methods)


def tables(context: AnalysisContext, service: str) -> list[TableSummary]:
    """Return the tables the service's code creates, else every table found in the project."""
    found = context.facts.tables_of(service) or context.facts.tables
    return [
        TableSummary(name, list(table.columns), table.path, table.line)
        for name, table in sorted(found.items())
    ]


def location_for_frame(
    evidence: Evidence, service: str, file: str, line: int, function: str | None
) -> SourceLocation | None:
    """Map a traceback frame's file (a path inside the container) to a project location."""
    return locate.location_for(evidence, service, file, line, function)


def node_stacks(lines: list[LogLine]) -> list[ParsedTraceback]:
    """Return the Node.js stacks in log lines; frames run outermost first."""
    return locate.parse_node_stacks(lines)


def java_stacks(lines: list[LogLine]) -> list[ParsedTraceback]:
    """Return each Java exception and "Caused by:" block in log lines, in order."""
    return locate.parse_java_stacks(lines)


def go_panics(lines: list[LogLine]) -> list[ParsedTraceback]:
    """Return each Go panic with the frames of the goroutine that panicked."""
    return locate.parse_go_panics(lines)


def image_healthcheck(dockerfile_text: str) -> dict[str, object] | None:
    return dockerfile.healthcheck_of(dockerfile_text)


_HEALTHCHECK_LINE = re.compile(r"^\s*HEALTHCHECK\b", re.IGNORECASE | re.MULTILINE)


def healthcheck_line(dockerfile_text: str) -> int | None:
    """Return the line of the Dockerfile's last HEALTHCHECK instruction (the one that applies)."""
    matches = list(_HEALTHCHECK_LINE.finditer(dockerfile_text))
    if not matches:
        return None
    return dockerfile_text.count("\n", 0, matches[-1].start()) + 1
