"""Faults in the application's own code, found through its exceptions and error lines."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from stackmedic.evidence.model import ContainerEvidence, LogLine
from stackmedic.i18n import Message
from stackmedic.model import Category, EvidenceRef, Finding, Fixability, SourceLocation
from stackmedic.patterns import lookup
from stackmedic.patterns.base import LOG, SOURCE, AnalysisContext
from stackmedic.patterns.common import (
    ERROR_LEVELS,
    NO_TEXT,
    advice,
    candidate_lines,
    containers_by_service,
    location_in,
    log_level,
    log_message,
    log_ref,
    new_finding,
    no_summary_part,
    sentences,
    source_file,
    source_ref,
    summary_part,
    times_part,
)
from stackmedic.patterns.configuration import env_key_error_names
from stackmedic.patterns.connections import failure_kind
from stackmedic.patterns.tracebacks import (
    LoggedTraceback,
    project_frame,
    traceback_lines,
    tracebacks_in,
)

MAX_CITED_LINES = 3


@dataclass
class Occurrences:
    """Log lines that report the same fault, across a service's containers."""

    lines: list[tuple[ContainerEvidence, LogLine]] = field(default_factory=list)
    tracebacks: list[LoggedTraceback] = field(default_factory=list)

    def refs(self) -> list[EvidenceRef]:
        """Cite the first lines, and the first line of each further container."""
        refs = []
        cited_containers = set()
        for index, (container, line) in enumerate(self.lines):
            if index < MAX_CITED_LINES or container.name not in cited_containers:
                refs.append(log_ref(container, line))
                cited_containers.add(container.name)
        return refs


def _quoted(value: str) -> str:
    return value.strip().strip("'\"")


def _is_env_key_error(context: AnalysisContext, service: str, traceback: LoggedTraceback) -> bool:
    key = _quoted(traceback.message)
    if key in env_key_error_names(traceback.container):
        return True
    return any(read.variable == key for read in context.facts.env_reads_of(service))


class PythonException:
    """An exception escaped into the log of a Python service.

    Symptom: "Traceback (most recent call last):" followed by frames and
    `SomeError: message`. KeyError, AttributeError and missing modules have
    their own patterns (KEY_ERROR, MISSING_ATTRIBUTE, MODULE_NOT_FOUND), and
    failed connections are left to the connection patterns.

    Remedy: fix the code at the innermost frame that belongs to the project.
    """

    code: ClassVar[str] = "PYTHON_EXCEPTION"
    summary: ClassVar[str] = "A Python exception was raised in the service's code"
    category: ClassVar[Category] = Category.APPLICATION
    reads: ClassVar[frozenset[str]] = frozenset({LOG, SOURCE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service, containers in sorted(containers_by_service(evidence).items()):
            groups: dict[tuple[str, str, str], tuple[Occurrences, SourceLocation | None]] = {}
            for container in containers:
                for traceback in tracebacks_in(container):
                    if self._has_own_pattern(traceback):
                        continue
                    located = project_frame(evidence, service, traceback)
                    location = located[1] if located is not None else None
                    key = (traceback.exception_type, traceback.message, str(location))
                    occurrences, _ = groups.setdefault(key, (Occurrences(), location))
                    occurrences.tracebacks.append(traceback)
                    occurrences.lines.append((container, traceback.exception_line))
                    if located is not None:
                        occurrences.lines.append((container, located[0].log_line))
            for (exception_type, message, _), (occurrences, location) in groups.items():
                findings.append(
                    self._finding(context, service, exception_type, message, occurrences, location)
                )
        return findings

    @staticmethod
    def _has_own_pattern(traceback: LoggedTraceback) -> bool:
        kind = traceback.short_type
        message = traceback.message
        # A failed connection is reported with its address by the connection patterns.
        if failure_kind(f"{kind}: {message}") is not None:
            return True
        return (
            kind == "KeyError"
            or (kind == "AttributeError" and "has no attribute" in message)
            or (kind in ("ModuleNotFoundError", "ImportError") and "No module named" in message)
        )

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        exception_type: str,
        message: str,
        occurrences: Occurrences,
        location: SourceLocation | None,
    ) -> Finding:
        facts = {
            "exception_type": exception_type,
            "message": message,
            "occurrences": len(occurrences.tracebacks),
            "location": str(location) if location is not None else None,
            "occurrences_part": times_part(len(occurrences.tracebacks)),
            "location_part": (
                summary_part("PYTHON_EXCEPTION.summary.location", location=str(location))
                if location is not None
                else no_summary_part()
            ),
        }
        where = (
            advice(
                "PYTHON_EXCEPTION.recommendation.where",
                function=location.function,
                location=str(location),
            )
            if location is not None
            else NO_TEXT
        )
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.CODE,
            confidence=0.85 if location is not None else 0.7,
            facts=facts,
            evidence=occurrences.refs(),
            location=location,
            recommendation=advice(
                "PYTHON_EXCEPTION.recommendation",
                exception_type=exception_type,
                where=where,
                message=message,
            ),
        )


# An error line whose message ends with a quoted identifier after a colon is
# how `logger.error(f"...: {e}")` prints a KeyError: "Error getting workers status: 'last_seen'".
_KEY_IN_MESSAGE = re.compile(r"^(?P<context>.+?):\s*['\"](?P<key>[A-Za-z_]\w*)['\"]\s*$")


def _name_tokens(name: str) -> set[str]:
    return {token for token in re.split(r"[_\W]+", name.lower()) if token}


def column_similarity(key: str, column: str) -> float:
    """Score how likely `column` is the name `key` was meant to be (0..~1.5)."""
    ratio = difflib.SequenceMatcher(None, key.lower(), column.lower()).ratio()
    return ratio + 0.25 * len(_name_tokens(key) & _name_tokens(column))


MIN_COLUMN_SIMILARITY = 0.5


class KeyErrorPattern:
    """Code reads a key that a row or mapping does not have.

    Symptom: `KeyError: 'last_seen'` in a traceback, or an ERROR line that
    prints the caught KeyError, "Error getting workers status: 'last_seen'".

    Remedy: read the key the data really has. When the mapping is a database
    row, the table's CREATE TABLE columns show the right name
    (`last_heartbeat`); the finding names the subscript's file and line.
    """

    code: ClassVar[str] = "KEY_ERROR"
    summary: ClassVar[str] = "The code reads a key that the data does not have"
    category: ClassVar[Category] = Category.APPLICATION
    reads: ClassVar[frozenset[str]] = frozenset({LOG, SOURCE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        for service, containers in sorted(containers_by_service(context.evidence).items()):
            groups: dict[str, _KeyErrorGroup] = {}
            for container in containers:
                self._from_tracebacks(context, service, container, groups)
                self._from_error_lines(context, service, container, groups)
            for key, group in groups.items():
                finding = self._finding(context, service, key, group)
                if finding is not None:
                    findings.append(finding)
        return findings

    @staticmethod
    def _from_tracebacks(
        context: AnalysisContext,
        service: str,
        container: ContainerEvidence,
        groups: dict[str, _KeyErrorGroup],
    ) -> None:
        for traceback in tracebacks_in(container):
            if traceback.short_type != "KeyError" or _is_env_key_error(context, service, traceback):
                continue
            key = _quoted(traceback.message)
            group = groups.setdefault(key, _KeyErrorGroup())
            group.occurrences.lines.append((container, traceback.exception_line))
            group.occurrences.tracebacks.append(traceback)
            if group.frame_location is None:
                located = project_frame(context.evidence, service, traceback)
                if located is not None:
                    group.frame_location = located[1]

    @staticmethod
    def _from_error_lines(
        context: AnalysisContext,
        service: str,
        container: ContainerEvidence,
        groups: dict[str, _KeyErrorGroup],
    ) -> None:
        in_tracebacks = traceback_lines(container)
        for line in container.logs:
            if line.number in in_tracebacks or log_level(line.text) not in ERROR_LEVELS:
                continue
            message = log_message(line.text)
            match = _KEY_IN_MESSAGE.match(message)
            if match is None:
                continue
            group = groups.setdefault(match.group("key"), _KeyErrorGroup())
            group.occurrences.lines.append((container, line))
            group.messages.append(message)

    def _finding(
        self, context: AnalysisContext, service: str, key: str, group: _KeyErrorGroup
    ) -> Finding | None:
        evidence = context.evidence
        use = self._subscript(context, service, key, group)
        # NOTE: a quoted word after a colon in an error line is taken for a
        # KeyError only when the service's code subscripts that key somewhere.
        # A traceback needs no such confirmation.
        if use is None and not group.occurrences.tracebacks:
            return None

        function = use.function if use is not None else None
        hints = " ".join(group.messages + [function or ""])
        table, columns, closest = self._closest_column(context, service, key, hints)
        facts = {
            "key": key,
            "table": table,
            "columns": columns,
            "closest_column": closest,
            "function": function,
            "occurrences": len(group.occurrences.lines),
            "table_part": _key_error_table_part(table, closest),
        }
        refs = group.occurrences.refs()
        location = group.frame_location
        if use is not None:
            location = location_in(evidence, service, use.path, use.line, use.function)
            refs.append(source_ref(source_file(evidence, service, use.path), use.path, use.line))
        if table is not None:
            placed = next((t for t in lookup.tables(context, service) if t.name == table), None)
            if placed is not None and placed.path is not None and placed.line is not None:
                refs.append(
                    source_ref(
                        source_file(evidence, service, placed.path), placed.path, placed.line
                    )
                )

        confidence = 0.7
        if use is not None and closest is not None:
            confidence = 0.9
        elif use is not None or group.occurrences.tracebacks:
            confidence = 0.8
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.CODE,
            confidence=confidence,
            facts=facts,
            evidence=refs,
            location=location,
            recommendation=self._recommendation(key, use, location, table, columns, closest),
        )

    @staticmethod
    def _subscript(
        context: AnalysisContext, service: str, key: str, group: _KeyErrorGroup
    ) -> lookup.CodeUse | None:
        """Return the subscript that most likely raised.

        That is the one at the traceback's frame, else one in the function of
        the logging call that printed the error, else in its file, else any.
        """
        uses = lookup.subscripts_of(context, service, key)
        if not uses:
            return None
        if group.frame_location is not None:
            for use in uses:
                if use.path == group.frame_location.path and use.line == group.frame_location.line:
                    return use
        for container, line in group.occurrences.lines:
            for site in lookup.log_sites_for_line(context, service, line.text):
                same_function = [
                    u for u in uses if u.path == site.path and u.function == site.function
                ]
                if same_function:
                    return same_function[0]
                same_file = [u for u in uses if u.path == site.path]
                if same_file:
                    return same_file[0]
        return uses[0]

    @staticmethod
    def _closest_column(
        context: AnalysisContext, service: str, key: str, hints: str
    ) -> tuple[str | None, list[str], str | None]:
        """Pick the table the key was meant for and its closest column.

        A table named in the error message or the function name is preferred;
        then the table with the most similar column.
        """
        best: tuple[float, float, str, list[str], str | None] | None = None
        hint_tokens = _name_tokens(hints)
        for table in lookup.tables(context, service):
            if key in table.columns:
                continue
            mentioned = 1.0 if _name_tokens(table.name) & hint_tokens else 0.0
            scored = sorted(
                ((column_similarity(key, column), column) for column in table.columns),
                reverse=True,
            )
            top_score, top_column = scored[0] if scored else (0.0, None)
            if top_score < MIN_COLUMN_SIMILARITY:
                top_column = None
            if not mentioned and top_column is None:
                continue
            candidate = (mentioned, top_score, table.name, table.columns, top_column)
            if best is None or candidate[:2] > best[:2]:
                best = candidate
        if best is None:
            return None, [], None
        return best[2], list(best[3]), best[4]

    @staticmethod
    def _recommendation(
        key: str,
        use: lookup.CodeUse | None,
        location: SourceLocation | None,
        table: str | None,
        columns: list[str],
        closest: str | None,
    ) -> Message:
        where: object = str(location) if location is not None else advice("KEY_ERROR.the_code")
        if use is None:
            subject = advice("KEY_ERROR.subject.key", key=key)
        elif use.function:
            subject = advice(
                "KEY_ERROR.subject.expression", expression=use.expression, function=use.function
            )
        else:
            subject = advice("KEY_ERROR.subject.module_code", expression=use.expression)
        return advice(
            "KEY_ERROR.recommendation",
            where=where,
            subject=subject,
            key=key,
            columns=(
                advice("KEY_ERROR.recommendation.columns", table=table, columns=", ".join(columns))
                if table is not None
                else NO_TEXT
            ),
            closest=(
                advice("KEY_ERROR.recommendation.closest", column=closest)
                if closest is not None
                else NO_TEXT
            ),
        )


@dataclass
class _KeyErrorGroup:
    occurrences: Occurrences = field(default_factory=Occurrences)
    messages: list[str] = field(default_factory=list)
    frame_location: SourceLocation | None = None


_NO_ATTRIBUTE = re.compile(
    r"(?:'(?P<cls>[\w.]+)' object|type object '(?P<type>[\w.]+)'|module '(?P<module>[\w.]+)')"
    r" has no attribute '(?P<attr>\w+)'"
)
# A method is offered as the intended one only when it is a likely typo of
# the missing name, or shares its verb (the first word) and most letters:
# get_service_metrics is not a stand-in for record_service_metrics.
TYPO_SIMILARITY = 0.88
SAME_VERB_SIMILARITY = 0.6


def _key_error_table_part(table: str | None, closest: str | None) -> dict[str, Any]:
    """Return the KEY_ERROR summary clause naming the table and the closest column, when known."""
    if table is not None and closest is not None:
        return summary_part("KEY_ERROR.summary.table_closest", table=table, column=closest)
    if table is not None:
        return summary_part("KEY_ERROR.summary.table", table=table)
    if closest is not None:
        return summary_part("KEY_ERROR.summary.closest", column=closest)
    return no_summary_part()


def closest_method(attribute: str, methods: list[str]) -> str | None:
    best: tuple[float, str] | None = None
    verb = attribute.split("_", 1)[0]
    for method in methods:
        ratio = difflib.SequenceMatcher(None, attribute, method).ratio()
        same_verb = method.split("_", 1)[0] == verb
        close = ratio >= TYPO_SIMILARITY or (same_verb and ratio >= SAME_VERB_SIMILARITY)
        if close and (best is None or ratio > best[0]):
            best = (ratio, method)
    return best[1] if best else None


class MissingAttribute:
    """Code calls a method or reads an attribute that the object's class does not define.

    Symptom: `'DatabaseManager' object has no attribute 'record_service_metrics'`
    in an AttributeError traceback or in an error line that prints it.

    Remedy: call a method the class has, or add the missing method. The
    finding points at the call and lists the class's real methods with their
    signatures.
    """

    code: ClassVar[str] = "MISSING_ATTRIBUTE"
    summary: ClassVar[str] = "The code uses an attribute that the class does not define"
    category: ClassVar[Category] = Category.APPLICATION
    reads: ClassVar[frozenset[str]] = frozenset({LOG, SOURCE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        for service, containers in sorted(containers_by_service(context.evidence).items()):
            groups: dict[tuple[str, str], Occurrences] = {}
            for container in containers:
                for index in candidate_lines(container, _NO_ATTRIBUTE):
                    line = container.logs[index]
                    found = _NO_ATTRIBUTE.search(line.text)
                    if found is None:
                        continue
                    owner = found.group("cls") or found.group("type") or found.group("module")
                    key = (owner, found.group("attr"))
                    groups.setdefault(key, Occurrences()).lines.append((container, line))
                for traceback in tracebacks_in(container):
                    found = _NO_ATTRIBUTE.search(traceback.message)
                    if traceback.short_type == "AttributeError" and found is not None:
                        owner = found.group("cls") or found.group("type") or found.group("module")
                        key = (owner, found.group("attr"))
                        groups.setdefault(key, Occurrences()).tracebacks.append(traceback)
            for (owner, attribute), occurrences in sorted(groups.items()):
                findings.append(self._finding(context, service, owner, attribute, occurrences))
        return findings

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        owner: str,
        attribute: str,
        occurrences: Occurrences,
    ) -> Finding:
        evidence = context.evidence
        info = lookup.class_named(context, service, owner.rsplit(".", 1)[-1])
        methods = sorted(info.methods) if info is not None else []
        signatures = [_signature(name, info.methods[name]) for name in methods] if info else []
        call, location = self._call_site(context, service, attribute, occurrences)

        facts: dict[str, Any] = {
            "class_name": owner,
            "attribute": attribute,
            "methods": signatures,
            "closest_method": closest_method(attribute, methods),
            "class_location": f"{info.path}:{info.line}" if info is not None else None,
            "call": call.expression if call is not None else None,
            "occurrences": len(occurrences.lines) or len(occurrences.tracebacks),
        }
        closest = facts["closest_method"]
        facts["closest_method_part"] = (
            summary_part("MISSING_ATTRIBUTE.summary.closest", method=closest)
            if closest is not None
            else no_summary_part()
        )
        refs = occurrences.refs()
        if call is not None:
            refs.append(source_ref(source_file(evidence, service, call.path), call.path, call.line))
        if info is not None:
            refs.append(source_ref(source_file(evidence, service, info.path), info.path, info.line))

        confidence = 0.9 if call is not None and info is not None else 0.7
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.CODE,
            confidence=confidence,
            facts=facts,
            evidence=refs,
            location=location,
            recommendation=self._recommendation(facts, location),
        )

    @staticmethod
    def _call_site(
        context: AnalysisContext, service: str, attribute: str, occurrences: Occurrences
    ) -> tuple[lookup.CodeUse | None, SourceLocation | None]:
        """Find the call: the traceback's project frame, else a call in the log call's function."""
        evidence = context.evidence
        calls = lookup.attribute_calls_of(context, service, attribute)
        for traceback in occurrences.tracebacks:
            located = project_frame(evidence, service, traceback)
            if located is not None:
                location = located[1]
                call = next(
                    (c for c in calls if c.path == location.path and c.line == location.line), None
                )
                return call, location
        chosen = None
        for _container, line in occurrences.lines:
            for site in lookup.log_sites_for_line(context, service, line.text):
                same_function = [
                    c for c in calls if c.path == site.path and c.function == site.function
                ]
                chosen = chosen or (same_function[0] if same_function else None)
        if chosen is None and calls:
            chosen = calls[0]
        if chosen is None:
            return None, None
        return chosen, location_in(evidence, service, chosen.path, chosen.line, chosen.function)

    @staticmethod
    def _recommendation(facts: dict[str, Any], location: SourceLocation | None) -> Message:
        owner = facts["class_name"]
        attribute = facts["attribute"]
        call_at = (
            advice("MISSING_ATTRIBUTE.at", location=str(location))
            if location is not None
            else NO_TEXT
        )
        if facts["closest_method"] is not None:
            return advice(
                "MISSING_ATTRIBUTE.recommendation.rename",
                class_name=owner,
                attribute=attribute,
                call_at=call_at,
                method=facts["closest_method"],
            )
        defined = (
            advice("MISSING_ATTRIBUTE.recommendation.defines", methods=", ".join(facts["methods"]))
            if facts["methods"]
            else NO_TEXT
        )
        class_at = (
            advice("MISSING_ATTRIBUTE.at", location=facts["class_location"])
            if facts["class_location"]
            else NO_TEXT
        )
        return advice(
            "MISSING_ATTRIBUTE.recommendation.add",
            class_name=owner,
            attribute=attribute,
            class_at=class_at,
            defined=defined,
            call_at=call_at,
        )


def _signature(name: str, signature: str) -> str:
    if signature.startswith("("):
        return f"{name}{signature}"
    return signature if name in signature else f"{name}{signature}"


_NO_MODULE = re.compile(
    r"(?:ModuleNotFoundError|ImportError): No module named ['\"]?(?P<module>[\w.]+)['\"]?"
)


class ModuleNotFound:
    """A Python import fails because the module is not in the image.

    Symptom: `ModuleNotFoundError: No module named 'x'`.

    Remedy: install the distribution that provides `x` in the image. When `x`
    is a package of the project itself, fix the Dockerfile's COPY and WORKDIR
    (or PYTHONPATH) so that it is importable.
    """

    code: ClassVar[str] = "MODULE_NOT_FOUND"
    summary: ClassVar[str] = "A Python module the code imports is missing from the image"
    category: ClassVar[Category] = Category.APPLICATION
    reads: ClassVar[frozenset[str]] = frozenset({LOG, SOURCE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service, containers in sorted(containers_by_service(evidence).items()):
            groups: dict[str, Occurrences] = {}
            for container in containers:
                for index in candidate_lines(container, _NO_MODULE):
                    line = container.logs[index]
                    found = _NO_MODULE.search(line.text)
                    if found is not None:
                        groups.setdefault(found.group("module"), Occurrences()).lines.append(
                            (container, line)
                        )
                for traceback in tracebacks_in(container):
                    found = _NO_MODULE.search(f"{traceback.short_type}: {traceback.message}")
                    if found is not None:
                        groups.setdefault(found.group("module"), Occurrences()).tracebacks.append(
                            traceback
                        )
            for module, occurrences in sorted(groups.items()):
                findings.append(self._finding(context, service, module, occurrences))
        return findings

    def _finding(
        self, context: AnalysisContext, service: str, module: str, occurrences: Occurrences
    ) -> Finding:
        evidence = context.evidence
        top_level = module.split(".", 1)[0]
        paths = [source.path for source in evidence.sources_of(service)]
        local = any(
            path == f"{top_level}.py"
            or path.startswith(f"{top_level}/")
            or f"/{top_level}/" in path
            for path in paths
        )
        location = None
        for traceback in occurrences.tracebacks:
            located = project_frame(evidence, service, traceback)
            if located is not None:
                location = located[1]
                break
        facts = {
            "module": module,
            "top_level": top_level,
            "local": local,
            "occurrences": len(occurrences.lines),
        }
        remedy = advice(
            "MODULE_NOT_FOUND.recommendation." + ("local" if local else "install"),
            module=top_level,
        )
        import_at = (
            advice("MODULE_NOT_FOUND.recommendation.import_at", location=str(location))
            if location is not None
            else None
        )
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.CODE,
            confidence=0.9,
            facts=facts,
            evidence=occurrences.refs(),
            location=location,
            recommendation=sentences(remedy, import_at),
        )
