"""Static analysis of the services' source: `extract_facts` and queries on its result.

`extract_facts(evidence)` reads every collected source file once per distinct
build context and returns `SourceFacts`: environment reads, endpoints,
logging calls, blocking calls, classes, tables, literal-key lookups and
method calls, plus the ENV/ARG lines and command-line binds of each
service's Dockerfile. A file that cannot be parsed or scanned becomes a
warning in `SourceFacts.warnings`; extraction itself does not raise.

The query functions below answer the questions patterns ask: which code
logged this line, which blocking calls run inside that function, where is
`x["key"]` or `.method(` used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import posixpath
from collections.abc import Iterable
from typing import NamedTuple, TypeVar

from stackmedic.analysis.calltarget import CallSite, CallTarget, find_call_target, next_call_after
from stackmedic.analysis.dockerfile import Stage, dockerfile_for, parse_dockerfile
from stackmedic.analysis.logsites import HOLE, best_log_site, log_site_matches, sites_matching
from stackmedic.analysis.pyindex import build_project
from stackmedic.analysis.pyscan import PythonScanner
from stackmedic.analysis.schema import parse_added_columns, parse_create_tables
from stackmedic.analysis.shellscan import is_shell_script, scan_exec_form, scan_shell
from stackmedic.analysis.textscan import language_of, scan_go, scan_javascript
from stackmedic.evidence.facts import (
    BlockingCall,
    ImageEnv,
    LogCallSite,
    SourceFacts,
    TableSchema,
)
from stackmedic.evidence.model import Evidence, SourceFile
from stackmedic.model import MessageText, english_text

__all__ = [
    "HOLE",
    "CallSite",
    "CallTarget",
    "EnvDefault",
    "UseSite",
    "best_log_site",
    "blocking_calls_in",
    "env_default",
    "extract_facts",
    "find_attribute_calls",
    "find_call_target",
    "find_subscripts",
    "log_site_matches",
    "log_sites_for_line",
    "next_call_after",
]

logger = logging.getLogger(__name__)

_Record = TypeVar("_Record")
_LIST_FIELDS = (
    "env_reads",
    "endpoints",
    "log_sites",
    "blocking_calls",
    "class_definitions",
    "table_definitions",
    "key_uses",
    "attribute_calls",
)


class UseSite(NamedTuple):
    """A source location of an expression: file, line, enclosing function and the text."""

    path: str
    line: int
    function: str | None
    expression: str


class EnvDefault(NamedTuple):
    """The value a variable has when compose does not set it, and where it comes from.

    `origin` is "dockerfile" (an ENV line, set in every container of the
    image) or "code" (the first in-code default).
    """

    value: str
    origin: str
    path: str
    line: int


# --- extraction ----------------------------------------------------------------------


def extract_facts(evidence: Evidence) -> SourceFacts:
    """Scan every service's sources and Dockerfile into one `SourceFacts`."""
    facts = SourceFacts()
    for services, sources in _source_groups(evidence):
        scanned = _scan_sources(sources)
        for service in services:
            _merge(facts, scanned, service)
        facts.warnings.extend(w for w in scanned.warnings if w not in facts.warnings)

    for service in _services(evidence):
        _scan_dockerfile(evidence, service, facts)

    for info in facts.class_definitions:
        facts.classes.setdefault(info.name, info)
    for table in facts.table_definitions:
        facts.tables.setdefault(table.name, table)
    logger.debug(
        "source facts: %d env reads, %d endpoints, %d log sites, %d blocking calls, %d warnings",
        len(facts.env_reads),
        len(facts.endpoints),
        len(facts.log_sites),
        len(facts.blocking_calls),
        len(facts.warnings),
    )
    return facts


def _services(evidence: Evidence) -> list[str]:
    names = list(evidence.services)
    for source in evidence.sources:
        if source.service not in names:
            names.append(source.service)
    return names


def _source_groups(evidence: Evidence) -> list[tuple[list[str], list[SourceFile]]]:
    """Group services whose collected files are identical, so each context is scanned once."""
    groups: dict[tuple[tuple[str, str], ...], tuple[list[str], list[SourceFile]]] = {}
    for service in _services(evidence):
        sources = evidence.sources_of(service)
        if not sources:
            continue
        key = tuple(sorted((s.path, hashlib.sha1(s.text.encode()).hexdigest()) for s in sources))
        groups.setdefault(key, ([], sources))[0].append(service)
    return list(groups.values())


def _scan_sources(sources: list[SourceFile]) -> SourceFacts:
    """Scan one build context's files; records carry an empty service."""
    facts = SourceFacts()
    project, warnings = build_project([(s.path, s.text) for s in sources])
    facts.warnings.extend(warnings)

    tables: list[TableSchema] = []
    added: list[tuple[str, str, str, str, int]] = []
    for module in project.modules:
        scanner = PythonScanner(project, module, facts)
        try:
            scanner.scan()
        except Exception as error:  # one file's failure must not stop the others
            logger.debug("scanning %s failed", module.path, exc_info=True)
            facts.warnings.append(_failure("report.analysis_warning.scan_failed", module.path, error))
            continue
        tables.extend(
            TableSchema(t.name, t.columns, module.path, line, "", t.column_types)
            for t, line in scanner.tables
        )
        added.extend(
            (name, column, kind, module.path, line)
            for name, column, kind, line in scanner.added_columns
        )

    for source in sources:
        try:
            _scan_other(source, facts, tables, added)
        except Exception as error:  # one file's failure must not stop the others
            logger.debug("scanning %s failed", source.path, exc_info=True)
            facts.warnings.append(_failure("report.analysis_warning.scan_failed", source.path, error))

    facts.table_definitions.extend(_with_added_columns(tables, added))
    return facts


def _scan_other(
    source: SourceFile,
    facts: SourceFacts,
    tables: list[TableSchema],
    added: list[tuple[str, str, str, str, int]],
) -> None:
    """Scan a file that is not Python: SQL, JavaScript/TypeScript, Go or a shell script."""
    path, text = source.path, source.text
    if path.lower().endswith(".sql"):
        for table in parse_create_tables(text):
            line = 1 + text.count("\n", 0, table.offset)
            tables.append(
                TableSchema(table.name, table.columns, path, line, "", table.column_types)
            )
        for name, column, kind, offset in parse_added_columns(text):
            added.append((name, column, kind, path, 1 + text.count("\n", 0, offset)))
        return
    language = language_of(path)
    if language == "js":
        scan_javascript(path, text, facts)
    elif language == "go":
        scan_go(path, text, facts)
    elif not _is_dockerfile(path) and not path.endswith(".py") and is_shell_script(path, text):
        scan_shell(path, text, facts)


def _failure(key: str, path: str, error: Exception) -> MessageText:
    """Return the warning `key` about `path` in English, carrying its catalogue form."""
    return english_text(key, path=path, error_type=type(error).__name__, error=str(error))


def _is_dockerfile(path: str) -> bool:
    name = posixpath.basename(path)
    return name.startswith(("Dockerfile", "Containerfile")) or name.endswith(".dockerfile")


def _with_added_columns(
    tables: list[TableSchema], added: list[tuple[str, str, str, str, int]]
) -> list[TableSchema]:
    """Append `ALTER TABLE ... ADD COLUMN` columns to the table they extend."""
    by_name = {table.name.lower(): table for table in tables}
    for name, column, kind, _path, _line in added:
        table = by_name.get(name.lower())
        if table is not None and column not in table.columns:
            table.columns.append(column)
            table.column_types[column] = kind
    return tables


def _merge(facts: SourceFacts, scanned: SourceFacts, service: str) -> None:
    for name in _LIST_FIELDS:
        target = getattr(facts, name)
        target.extend(_stamped(getattr(scanned, name), service))


def _stamped(records: Iterable[_Record], service: str) -> list[_Record]:
    return [dataclasses.replace(record, service=service) for record in records]  # type: ignore[type-var]


def _scan_dockerfile(evidence: Evidence, service: str, facts: SourceFacts) -> None:
    """Record a service's Dockerfile ENV/ARG lines and the env reads and binds of its command."""
    source = dockerfile_for(evidence, service)
    if source is None:
        return
    try:
        final = parse_dockerfile(source.text).final
    except Exception as error:  # a malformed Dockerfile must not stop the analysis
        logger.debug("parsing %s failed", source.path, exc_info=True)
        facts.warnings.append(_failure("report.analysis_warning.dockerfile_failed", source.path, error))
        return
    if final is None:
        return

    for name, (value, line) in final.env.items():
        facts.image_env.append(ImageEnv(service, name, value, source.path, line, "ENV"))
    for name, (arg_value, line) in final.args.items():
        facts.image_env.append(ImageEnv(service, name, arg_value, source.path, line, "ARG"))

    scanned = SourceFacts()
    _scan_command(source.path, final, scanned)
    _merge(facts, scanned, service)


def _scan_command(path: str, stage: Stage, facts: SourceFacts) -> None:
    entrypoint, cmd = stage.entrypoint, stage.cmd
    if entrypoint is not None and not entrypoint.shell_form:
        argv = list(entrypoint.argv) + (
            list(cmd.argv) if cmd is not None and not cmd.shell_form else []
        )
        scan_exec_form(path, argv, entrypoint.line, facts)
        return
    command = entrypoint or cmd
    if command is None:
        return
    if command.shell_form:
        scan_shell(path, command.text, facts, first_line=command.line)
    else:
        scan_exec_form(path, command.argv, command.line, facts)


# --- queries -------------------------------------------------------------------------


def find_subscripts(source: SourceFacts | Evidence, service: str, key: str) -> list[UseSite]:
    """Return where a service's code looks up `key`: `x["key"]`, `x.get("key")`, `x.pop("key")`."""
    facts = _facts(source)
    return [
        UseSite(use.path, use.line, use.function, use.expression)
        for use in facts.key_uses
        if use.service == service and use.key == key
    ]


def find_attribute_calls(
    source: SourceFacts | Evidence, service: str, attribute: str
) -> list[UseSite]:
    """Return where a service's code calls `<receiver>.<attribute>(...)`."""
    facts = _facts(source)
    return [
        UseSite(call.path, call.line, call.function, call.expression)
        for call in facts.attribute_calls
        if call.service == service and call.attribute == attribute
    ]


def blocking_calls_in(
    facts: SourceFacts, service: str, path: str, function_qualname: str
) -> list[BlockingCall]:
    """Return the blocking calls a function makes, directly or through one `self.method()` call.

    The order follows execution as far as the source shows it. Calls sort by
    the line in `function_qualname` where they happen, then by their own
    line. A `self.method()` call places all of that method's blocking calls
    at the line of the `self.method()` call.
    """
    ordered: list[tuple[int, int, BlockingCall]] = []
    for call in facts.blocking_calls:
        if call.service == service and call.path == path and call.function == function_qualname:
            ordered.append((call.line, call.line, call))

    class_name = function_qualname.rsplit(".", 1)[0] if "." in function_qualname else None
    if class_name is not None:
        for use in facts.attribute_calls:
            if (
                use.service != service
                or use.path != path
                or use.function != function_qualname
                or use.receiver not in ("self", "cls")
            ):
                continue
            callee_path, callee = _method_qualname(facts, service, path, class_name, use.attribute)
            for call in facts.blocking_calls:
                if call.service == service and call.path == callee_path and call.function == callee:
                    ordered.append((use.line, call.line, call))

    ordered.sort(key=lambda item: (item[0], item[1]))
    unique: list[BlockingCall] = []
    for _, _, call in ordered:
        if call not in unique:
            unique.append(call)
    return unique


def _method_qualname(
    facts: SourceFacts, service: str, path: str, class_name: str, method: str
) -> tuple[str, str]:
    """Return (path, qualname) of a method, looking into project base classes when needed."""
    classes = facts.classes_of(service)
    simple = class_name.rsplit(".", 1)[-1]
    seen: set[str] = set()
    current = classes.get(simple)
    while current is not None and current.name not in seen:
        if method in current.methods:
            prefix = class_name if current.path == path and current.name == simple else current.name
            return current.path, f"{prefix}.{method}"
        seen.add(current.name)
        bases = [base.rsplit(".", 1)[-1] for base in current.bases]
        current = next((classes[b] for b in bases if b in classes), None)
    return path, f"{class_name}.{method}"


def log_sites_for_line(facts: SourceFacts, service: str, line_text: str) -> list[LogCallSite]:
    """Return the service's logging calls that can have written `line_text`, most specific first."""
    return sites_matching((s for s in facts.log_sites if s.service == service), line_text)


def env_default(facts: SourceFacts, service: str, variable: str) -> EnvDefault | None:
    """Return the value a variable takes in a service when compose leaves it unset.

    A Dockerfile ENV line wins over an in-code default, because the process
    then finds the variable set. Returns None when neither gives a value.
    """
    image = facts.image_env_of(service).get(variable)
    if image is not None and image.value is not None:
        return EnvDefault(image.value, "dockerfile", image.path, image.line)
    for read in facts.env_reads_of(service):
        if read.variable == variable and read.default is not None:
            return EnvDefault(read.default, "code", read.path, read.line)
    return None


def _facts(source: SourceFacts | Evidence) -> SourceFacts:
    return source if isinstance(source, SourceFacts) else extract_facts(source)
