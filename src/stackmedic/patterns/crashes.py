"""Crashes of Node.js, Java and Go services, located in the project's files.

The stack parsers of `stackmedic.analysis.tracebacks`, reached through
`patterns.lookup`, cut the log into stacks. Each frame's file is a path inside the container (`/app/server.js`,
`com/example/OrderService.java`, `/build/internal/store/store.go`), and
`patterns.lookup` maps it back to the project. Python has its own patterns in
`patterns.application`. Errors that only report a failed connection are left
to the connection patterns, which say where the connection should go.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from stackmedic.evidence.model import ContainerEvidence, Evidence, LogLine
from stackmedic.i18n import Message
from stackmedic.model import Category, EvidenceRef, Finding, Fixability, SourceLocation
from stackmedic.patterns import lookup
from stackmedic.patterns.base import COMPOSE, LOG, SOURCE, AnalysisContext
from stackmedic.patterns.common import (
    NO_TEXT,
    advice,
    compose_ref,
    containers_by_service,
    log_ref,
    new_finding,
    sentences,
)
from stackmedic.patterns.connections import failure_kind
from stackmedic.patterns.lookup import ParsedTraceback

MAX_CITED_LINES = 3


@dataclass
class Located:
    """One crash as logged: its stack, the log lines it spans and its project location."""

    container: ContainerEvidence
    traceback: ParsedTraceback
    location: SourceLocation | None


@dataclass
class CrashGroup:
    crashes: list[Located] = field(default_factory=list)

    def refs(self) -> list[EvidenceRef]:
        refs = []
        for crash in self.crashes[:MAX_CITED_LINES]:
            logs = crash.container.logs
            first = logs[crash.traceback.first_line]
            refs.append(log_ref(crash.container, first))
            inner = _innermost_line(crash)
            if inner is not None and inner is not first:
                refs.append(log_ref(crash.container, inner))
        return refs


def _innermost_line(crash: Located) -> LogLine | None:
    """Return the log line of the frame the location comes from, if it can be found."""
    if crash.location is None:
        return None
    logs = crash.container.logs
    name = crash.location.path.rsplit("/", 1)[-1]
    for index in range(crash.traceback.first_line, crash.traceback.last_line + 1):
        if (
            0 <= index < len(logs)
            and name in logs[index].text
            and str(crash.location.line) in logs[index].text
        ):
            return logs[index]
    return None


def project_location(
    evidence: Evidence, service: str, traceback: ParsedTraceback
) -> SourceLocation | None:
    """Return the location of the innermost frame that is one of the project's files."""
    for frame in reversed(traceback.frames):
        location = lookup.location_for_frame(
            evidence, service, frame.file, frame.line, frame.function
        )
        if location is not None:
            return location
    return None


def _is_connection_error(traceback: ParsedTraceback) -> bool:
    return failure_kind(f"{traceback.exception_type}: {traceback.message}") is not None


def _grouped(
    evidence: Evidence,
    service: str,
    containers: list[ContainerEvidence],
    parse: Any,
    keep: Any,
) -> dict[tuple[str, str, str], CrashGroup]:
    groups: dict[tuple[str, str, str], CrashGroup] = {}
    for container in containers:
        for traceback in parse(container.logs):
            if not keep(traceback):
                continue
            location = project_location(evidence, service, traceback)
            key = (traceback.exception_type, traceback.message, str(location))
            groups.setdefault(key, CrashGroup()).crashes.append(
                Located(container, traceback, location)
            )
    return groups


def _at(location: object) -> Message:
    """Return " at <location>" as a sentence part, or an empty part without a location."""
    if not location:
        return NO_TEXT
    return advice("common.at", location=str(location))


def _crash_finding(
    pattern: Any,
    context: AnalysisContext,
    service: str,
    language: str,
    group: CrashGroup,
    remedy: Message,
    facts_extra: dict[str, Any] | None = None,
) -> Finding:
    first = group.crashes[0]
    location = first.location
    facts: dict[str, Any] = {
        "language": language,
        "exception_type": first.traceback.exception_type or "Error",
        "message": first.traceback.message,
        "location": str(location) if location is not None else None,
        "occurrences": len(group.crashes),
        **(facts_extra or {}),
    }
    return new_finding(
        context,
        code=pattern.code,
        service=service,
        category=pattern.category,
        fixable_by=Fixability.CODE,
        confidence=0.85 if location is not None else 0.7,
        facts=facts,
        evidence=group.refs(),
        location=location,
        recommendation=remedy,
    )


# --- Node.js -------------------------------------------------------------------------

_NODE_MODULE = re.compile(
    r"Error: Cannot find module '(?P<module>[^']+)'|"
    r"\[ERR_MODULE_NOT_FOUND\]: Cannot find (?:package|module) '(?P<esm>[^']+)'"
    r"(?: imported from (?P<importer>\S+))?"
)
_REQUIRE_STACK_ENTRY = re.compile(r"^\s*-\s+(?P<path>/\S+\.[cm]?[jt]s)\s*$")
_NODE_MODULES_TARGET = re.compile(r"node_modules")


def _workdir_bind(evidence: Evidence, service: str, importer: str | None) -> str | None:
    """Return the target of a bind mount over the app folder with no volume for node_modules."""
    volumes = evidence.services.get(service, {}).get("volumes") or []
    targets: list[tuple[str, str]] = []
    for entry in volumes:
        if isinstance(entry, dict):
            targets.append((str(entry.get("type") or ""), str(entry.get("target") or "")))
        else:
            parts = str(entry).split(":")
            if len(parts) >= 2:
                kind = "bind" if parts[0].startswith((".", "/", "~")) else "volume"
                targets.append((kind, parts[1]))
            elif parts:
                targets.append(("volume", parts[0]))
    if any(_NODE_MODULES_TARGET.search(target) for _, target in targets):
        return None
    for kind, target in targets:
        if kind != "bind" or not target:
            continue
        if importer is None or importer.startswith(target.rstrip("/") + "/"):
            return target
    return None


class NodeModuleNotFound:
    """A Node.js process cannot load a package or file it requires.

    Symptom: `Error: Cannot find module 'express'` (with a "Require stack"),
    `Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'x' imported from
    /app/src/index.js`.

    Remedy: install the package in the image (`npm ci` after copying
    package.json and the lock file), and when a bind mount of the source
    folder covers the image's node_modules, add a volume for node_modules
    (`- /app/node_modules`). A relative module ('./config') is a project file
    the image lacks: fix the COPY or the path.
    """

    code: ClassVar[str] = "NODE_MODULE_NOT_FOUND"
    summary: ClassVar[str] = "A Node.js module the code requires is missing from the container"
    category: ClassVar[Category] = Category.APPLICATION
    reads: ClassVar[frozenset[str]] = frozenset({LOG, COMPOSE, SOURCE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service, containers in sorted(containers_by_service(evidence).items()):
            groups: dict[str, list[tuple[ContainerEvidence, LogLine, str | None]]] = {}
            for container in containers:
                logs = container.logs
                for index, line in enumerate(logs):
                    match = _NODE_MODULE.search(line.text)
                    if match is None:
                        continue
                    module = match.group("module") or match.group("esm")
                    importer = match.group("importer")
                    if importer is None:
                        for following in logs[index + 1 : index + 4]:
                            entry = _REQUIRE_STACK_ENTRY.match(following.text)
                            if entry is not None:
                                importer = entry.group("path")
                                break
                    groups.setdefault(module, []).append((container, line, importer))
            for module, hits in sorted(groups.items()):
                findings.append(self._finding(context, service, module, hits))
        return findings

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        module: str,
        hits: list[tuple[ContainerEvidence, LogLine, str | None]],
    ) -> Finding:
        evidence = context.evidence
        importer = next((i for _, _, i in hits if i), None)
        local = module.startswith((".", "/"))
        location = None
        if importer is not None:
            location = lookup.location_for_frame(
                evidence, service, importer.removeprefix("file://"), 1, None
            )
        hidden_by = None if local else _workdir_bind(evidence, service, importer)
        facts: dict[str, Any] = {
            "module": module,
            "local": local,
            "importer": importer,
            "hidden_by_mount": hidden_by,
            "occurrences": len(hits),
        }
        refs = [log_ref(c, l) for c, l, _ in hits[:MAX_CITED_LINES]]
        if hidden_by is not None:
            refs.append(compose_ref(evidence, service, "volumes"))
        if local:
            remedy = advice(
                "NODE_MODULE_NOT_FOUND.recommendation.local",
                module=module,
                where=(
                    advice("NODE_MODULE_NOT_FOUND.recommendation.in", location=str(location))
                    if location
                    else NO_TEXT
                ),
            )
        elif hidden_by is not None:
            remedy = advice(
                "NODE_MODULE_NOT_FOUND.recommendation.hidden",
                mount=hidden_by,
                volume=f"{hidden_by.rstrip('/')}/node_modules",
                service=service,
                module=module,
            )
        else:
            remedy = advice("NODE_MODULE_NOT_FOUND.recommendation.install", module=module)
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.CODE,
            confidence=0.9,
            facts=facts,
            evidence=refs,
            location=location,
            recommendation=remedy,
        )


_UNHANDLED_REJECTION = re.compile(
    r"UnhandledPromiseRejection|ERR_UNHANDLED_REJECTION|Unhandled promise rejection"
)
_REJECTION_REASON = re.compile(r'rejected with the reason "(?P<reason>[^"]*)"')


class NodeException:
    """An uncaught error or an unhandled promise rejection ended a Node.js process.

    Symptom: an error line (`TypeError: Cannot read properties of undefined
    (reading 'id')`) followed by `at fn (/app/src/x.js:12:9)` frames, or
    "[UnhandledPromiseRejection: ... The promise rejected with the reason
    ...]". Missing modules and failed connections have their own patterns.

    Remedy: fix the code at the innermost project frame; handle the rejected
    promise (`await` it inside try/catch, or `.catch()`).
    """

    code: ClassVar[str] = "NODE_EXCEPTION"
    summary: ClassVar[str] = "A Node.js error was not handled by the service's code"
    category: ClassVar[Category] = Category.APPLICATION
    reads: ClassVar[frozenset[str]] = frozenset({LOG, SOURCE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service, containers in sorted(containers_by_service(evidence).items()):
            groups = _grouped(evidence, service, containers, lookup.node_stacks, self._keep)
            for group in groups.values():
                findings.append(self._stack_finding(context, service, group))
            rejections = [
                (c, l) for c in containers for l in c.logs if _UNHANDLED_REJECTION.search(l.text)
            ]
            if rejections and not groups:
                findings.append(self._rejection_finding(context, service, rejections))
        return findings

    @staticmethod
    def _keep(traceback: ParsedTraceback) -> bool:
        if not traceback.exception_type:
            return False
        if "Cannot find module" in traceback.message or "ERR_MODULE_NOT_FOUND" in traceback.message:
            return False
        return not _is_connection_error(traceback)

    def _stack_finding(self, context: AnalysisContext, service: str, group: CrashGroup) -> Finding:
        first = group.crashes[0]
        where = _at(first.location)
        rejected = any(
            _UNHANDLED_REJECTION.search(line.text)
            for crash in group.crashes
            for line in crash.container.logs
        )
        exception_type = first.traceback.exception_type
        remedy = sentences(
            advice(
                "NODE_EXCEPTION.recommendation",
                exception_type=exception_type,
                where=where,
                message=first.traceback.message,
            )
            if exception_type
            else advice(
                "NODE_EXCEPTION.recommendation.error", where=where, message=first.traceback.message
            ),
            advice("NODE_EXCEPTION.recommendation.rejected") if rejected else None,
        )
        return _crash_finding(
            self, context, service, "node", group, remedy, {"unhandled_rejection": rejected}
        )

    def _rejection_finding(
        self,
        context: AnalysisContext,
        service: str,
        rejections: list[tuple[ContainerEvidence, LogLine]],
    ) -> Finding:
        text = rejections[0][1].text
        reason = _REJECTION_REASON.search(text)
        facts = {
            "language": "node",
            "exception_type": "UnhandledPromiseRejection",
            "message": reason.group("reason") if reason else text.strip()[:200],
            "location": None,
            "occurrences": len(rejections),
            "unhandled_rejection": True,
        }
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.CODE,
            confidence=0.7,
            facts=facts,
            evidence=[log_ref(c, l) for c, l in rejections[:MAX_CITED_LINES]],
            recommendation=advice(
                "NODE_EXCEPTION.recommendation.unhandled_rejection", message=facts["message"]
            ),
        )


class JavaException:
    """A Java exception reached the top of a thread, often ending the JVM.

    Symptom: `Exception in thread "main" java.lang.IllegalStateException:
    ...` with `at com.example.X.method(X.java:42)` frames, and a chain of
    "Caused by:" blocks. The last "Caused by:" is the root of the chain and
    is the one reported; connection failures are left to the connection
    patterns.

    Remedy: fix the code at the innermost project frame of the root cause.
    """

    code: ClassVar[str] = "JAVA_EXCEPTION"
    summary: ClassVar[str] = "A Java exception was not handled by the service's code"
    category: ClassVar[Category] = Category.APPLICATION
    reads: ClassVar[frozenset[str]] = frozenset({LOG, SOURCE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service, containers in sorted(containers_by_service(evidence).items()):
            groups: dict[tuple[str, str, str], CrashGroup] = {}
            for container in containers:
                for chain in _java_chains(lookup.java_stacks(container.logs)):
                    root = chain[-1]
                    if any(_is_connection_error(link) for link in chain):
                        continue
                    location = project_location(evidence, service, root)
                    if location is None:
                        location = next(
                            (
                                loc
                                for link in reversed(chain)
                                if (loc := project_location(evidence, service, link)) is not None
                            ),
                            None,
                        )
                    key = (root.exception_type, root.message, str(location))
                    groups.setdefault(key, CrashGroup()).crashes.append(
                        Located(container, root, location)
                    )
            for group in groups.values():
                first = group.crashes[0]
                remedy = advice(
                    "JAVA_EXCEPTION.recommendation",
                    exception_type=first.traceback.exception_type,
                    where=_at(first.location),
                    message=first.traceback.message,
                )
                findings.append(_crash_finding(self, context, service, "java", group, remedy))
        return findings


def _java_chains(tracebacks: list[ParsedTraceback]) -> list[list[ParsedTraceback]]:
    """Group a Java exception with the "Caused by:" blocks that follow it."""
    chains: list[list[ParsedTraceback]] = []
    previous_end = -10
    for traceback in tracebacks:
        continues = chains and traceback.first_line <= previous_end + 2
        if continues:
            chains[-1].append(traceback)
        else:
            chains.append([traceback])
        previous_end = traceback.last_line
    return chains


class GoPanic:
    """A Go program panicked.

    Symptom: `panic: runtime error: invalid memory address or nil pointer
    dereference` (or `fatal error: ...`) followed by `goroutine 1
    [running]:` and `/src/internal/store/store.go:57 +0x1d` frames.

    Remedy: fix the code at the innermost project frame; the first goroutine
    printed is the one that panicked.
    """

    code: ClassVar[str] = "GO_PANIC"
    summary: ClassVar[str] = "A Go program panicked"
    category: ClassVar[Category] = Category.APPLICATION
    reads: ClassVar[frozenset[str]] = frozenset({LOG, SOURCE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service, containers in sorted(containers_by_service(evidence).items()):
            groups = _grouped(
                evidence,
                service,
                containers,
                lookup.go_panics,
                lambda t: not _is_connection_error(t),
            )
            for group in groups.values():
                first = group.crashes[0]
                remedy = advice(
                    "GO_PANIC.recommendation",
                    exception_type=first.traceback.exception_type,
                    where=_at(first.location),
                    message=first.traceback.message,
                )
                findings.append(_crash_finding(self, context, service, "go", group, remedy))
        return findings
