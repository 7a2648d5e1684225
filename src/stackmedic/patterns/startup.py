"""Patterns of services that do not get through their startup."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import ClassVar

from stackmedic.evidence.model import ContainerEvidence, Evidence, LogLine, SourceFile
from stackmedic.model import Category, ComposeEdit, EvidenceRef, Finding, Fixability, SourceLocation
from stackmedic.patterns import lookup
from stackmedic.patterns.base import AnalysisContext
from stackmedic.patterns.common import (
    build_dockerfile,
    compose_healthcheck,
    compose_ref,
    containers_by_service,
    depends_on_conditions,
    health_ref,
    healthcheck_disabled,
    location_in,
    log_message,
    log_ref,
    new_finding,
    propose,
    source_file,
    source_ref,
    state_ref,
)
from stackmedic.patterns.endpoints import service_hosts
from stackmedic.patterns.hang import Hang, find_hangs


class StartupHang:
    """A running container stopped logging before it was ready, without any error.

    Symptom: the log ends with an ordinary line ("About to call worker.start()")
    and nothing follows. The container is unhealthy or quiet for longer than
    max(60 s, the health check's start period), and no ERROR or traceback
    appears.

    Remedy: follow the last line to the code. The logging call that printed
    it, the call after it and the first call inside that can wait forever
    (a receive with no timeout on a connected socket) show what the process
    waits for. The endpoint it waits on is usually wrong (see
    ENDPOINT_MISMATCH), and the wait deserves a timeout.
    """

    code: ClassVar[str] = "STARTUP_HANG"
    summary: ClassVar[str] = "A container stopped making progress during startup without an error"
    category: ClassVar[Category] = Category.STARTUP

    def match(self, context: AnalysisContext) -> list[Finding]:
        return [self._finding(context, hang) for hang in find_hangs(context)]

    def _finding(self, context: AnalysisContext, hang: Hang) -> Finding:
        site = hang.site
        blocking = site.blocking
        connection = site.connection
        facts = {
            "last_line": log_message(hang.last_line.text) if hang.last_line else "",
            "silent_seconds": hang.silent_seconds,
            "containers": [c.name for c in hang.containers],
            "health": "unhealthy" if hang.unhealthy else "running",
            "log_site": f"{site.log_site.path}:{site.log_site.line}" if site.log_site else None,
            "call": site.target.function if site.target else None,
            "blocking_call": blocking.call if blocking else None,
            "endpoint": connection.url if connection else None,
            "peer_service": connection.peer if connection else None,
        }

        confidence = 0.5
        if hang.unhealthy:
            confidence += 0.15
        if hang.silent_seconds is not None:
            confidence += 0.1
        if blocking is not None:
            confidence += 0.15

        finding = new_finding(
            context,
            code=self.code,
            service=hang.service,
            category=self.category,
            fixable_by=Fixability.HUMAN,
            confidence=confidence,
            facts=facts,
            evidence=self._evidence(context, hang),
            location=self._location(context, hang),
            recommendation=self._recommendation(hang, facts),
        )
        return finding

    @staticmethod
    def _evidence(context: AnalysisContext, hang: Hang) -> list[EvidenceRef]:
        refs: list[EvidenceRef] = []
        for container in hang.containers:
            last = next((l for l in reversed(container.logs) if l.text.strip()), None)
            if last is not None:
                refs.append(log_ref(container, last))
            refs.append(state_ref(container))
            failing = [p for p in container.health_log if p.exit_code != 0]
            if failing:
                refs.append(health_ref(container, failing[-1]))

        evidence = context.evidence
        site = hang.site
        cited = []
        if site.log_site is not None:
            cited.append((site.log_site.path, site.log_site.line))
        if site.target is not None:
            cited.append((site.target.path, site.target.line))
        if site.connection is not None:
            cited.append((site.connection.endpoint.path, site.connection.endpoint.line))
        if site.blocking is not None:
            cited.append((site.blocking.path, site.blocking.line))
        for path, line in cited:
            refs.append(source_ref(source_file(evidence, hang.service, path), path, line))
        return refs

    @staticmethod
    def _location(context: AnalysisContext, hang: Hang) -> SourceLocation | None:
        site = hang.site
        if site.blocking is not None:
            return location_in(
                context.evidence,
                hang.service,
                site.blocking.path,
                site.blocking.line,
                site.blocking.function,
            )
        if site.target is not None:
            return location_in(
                context.evidence,
                hang.service,
                site.target.path,
                site.target.line,
                site.target.function,
            )
        if site.log_site is not None:
            return location_in(
                context.evidence,
                hang.service,
                site.log_site.path,
                site.log_site.line,
                site.log_site.function,
            )
        return None

    @staticmethod
    def _recommendation(hang: Hang, facts: Mapping[str, object]) -> str:
        site = hang.site
        if site.blocking is not None:
            where = f"{site.blocking.path}:{site.blocking.line}"
            function = site.blocking.function or facts["call"] or "its caller"
            text = f"{hang.service} waits in {function} at {where}: {site.blocking.call}"
            if site.connection is not None:
                text += f" after connecting to {site.connection.url}"
            text += " never returns."
            if site.connection is not None and site.connection.peer:
                text += (
                    f" Check that {site.connection.peer} serves this endpoint for this kind of"
                    " client, and give the call a timeout (a poller or RCVTIMEO) so a wrong"
                    " endpoint fails with an error instead of a silent hang."
                )
            else:
                text += " Give the call a timeout so the process fails with an error instead."
            return text
        return (
            f'{hang.service} stopped after "{facts["last_line"]}" with no error.'
            + (
                f" The next call runs {site.target.function} ({site.target.path}:{site.target.line})"
                if site.target is not None
                else ""
            )
            + (f", which connects to {site.connection.url}" if site.connection is not None else "")
            + ". Find the call that waits there (py-spy dump or a debugger on the running"
            " container) and give it a timeout."
        )


_REFUSED = re.compile(
    r"connection refused|ECONNREFUSED|could not connect|failed to connect|cannot connect|"
    r"unable to connect|not ready|connection reset|no route to host|name or service not known|"
    r"temporary failure in name resolution",
    re.IGNORECASE,
)


def has_healthcheck(evidence: Evidence, service: str) -> bool:
    """Tell whether a service has a health check in compose, in its containers or its image."""
    if compose_healthcheck(evidence, service) is not None:
        return True
    if healthcheck_disabled(evidence, service):
        return False
    for container in evidence.containers_of(service):
        if container.healthcheck and (container.healthcheck.get("Test") or [""])[0] != "NONE":
            return True
    dockerfile = build_dockerfile(evidence, service)
    return dockerfile is not None and lookup.image_healthcheck(dockerfile.text) is not None


class DependencyNotReady:
    """A service starts as soon as a dependency's container starts, not when it is ready.

    Symptom: `depends_on` in list form (or with condition service_started) on
    a dependency that has a health check. The dependent often logs
    "connection refused" or "could not connect" while the dependency is still
    starting.

    Remedy: `depends_on: {dep: {condition: service_healthy}}` for every
    dependency with a health check, service_started for the others.
    """

    code: ClassVar[str] = "DEPENDENCY_NOT_READY"
    summary: ClassVar[str] = "depends_on does not wait for dependencies that have a health check"
    category: ClassVar[Category] = Category.STARTUP

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service in sorted(evidence.services):
            conditions = depends_on_conditions(evidence, service)
            checked = {dep: has_healthcheck(evidence, dep) for dep in conditions}
            waiting = [
                dep
                for dep, condition in conditions.items()
                if checked[dep] and condition in (None, "service_started")
            ]
            if waiting:
                findings.append(self._finding(context, service, conditions, checked, waiting))
        return findings

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        conditions: dict[str, str | None],
        checked: dict[str, bool],
        waiting: list[str],
    ) -> Finding:
        evidence = context.evidence
        wanted: dict[str, str] = {}
        for dep, condition in conditions.items():
            if condition == "service_completed_successfully":
                wanted[dep] = condition
            else:
                wanted[dep] = "service_healthy" if checked[dep] else "service_started"

        refused = self._refused_lines(evidence, service, waiting)
        refs = [compose_ref(evidence, service, "depends_on")]
        for dep in waiting:
            if compose_healthcheck(evidence, dep) is not None:
                refs.append(compose_ref(evidence, dep, "healthcheck"))
        refs.extend(log_ref(container, line) for container, line in refused[:3])

        facts = {
            "dependencies": waiting,
            "conditions": wanted,
            "refused_lines": len(refused),
        }
        finding = new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.COMPOSE,
            confidence=0.8 if refused else 0.55,
            facts=facts,
            evidence=refs,
            recommendation=(
                f"Make {service} wait for {', '.join(waiting)} to pass its health check:"
                f" depends_on with condition service_healthy."
            ),
        )
        propose(
            context,
            finding,
            title=f"Wait for {', '.join(waiting)} to be healthy before starting {service}",
            rationale=(
                f"{', '.join(waiting)} {'has' if len(waiting) == 1 else 'have'} a health check,"
                f" but {service} only waits for the container to start"
                + (f"; {len(refused)} connection errors were logged meanwhile." if refused else ".")
            ),
            edit=ComposeEdit("set_depends_on_conditions", service, {"conditions": wanted}),
        )
        return finding

    @staticmethod
    def _refused_lines(
        evidence: Evidence, service: str, dependencies: list[str]
    ) -> list[tuple[ContainerEvidence, LogLine]]:
        """Return log lines of `service` that show a failed connection to one of `dependencies`.

        A line that names no host counts only when there is a single dependency.
        """
        names = {name for name, target in service_hosts(evidence).items() if target in dependencies}
        found = []
        for container in containers_by_service(evidence).get(service, []):
            for line in container.logs:
                if not _REFUSED.search(line.text):
                    continue
                lowered = line.text.lower()
                if any(name.lower() in lowered for name in names) or len(dependencies) == 1:
                    found.append((container, line))
        return found


_EXEC_FORMAT = re.compile(r"(?:exec (?P<path>/\S+?):? )?exec format error", re.IGNORECASE)


class ExecFormatError:
    """The container's program cannot be executed by this host's kernel.

    Symptom: `exec /usr/local/bin/app: exec format error` when the container
    starts: the binary is built for another CPU architecture, or a script has
    no `#!` line.

    Remedy: build the image for the host's platform (`docker build
    --platform`), or start the script with a shebang line.
    """

    code: ClassVar[str] = "EXEC_FORMAT_ERROR"
    summary: ClassVar[str] = "The container's program is built for another platform"
    category: ClassVar[Category] = Category.STARTUP

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        for service, containers in sorted(containers_by_service(context.evidence).items()):
            refs: list[EvidenceRef] = []
            program: str | None = None
            for container in containers:
                hits = _hits(container, _EXEC_FORMAT)
                for line, match in hits[:2]:
                    program = program or match.group("path")
                    refs.append(_line_ref(container, line))
                if hits:
                    refs.append(state_ref(container))
            if not refs:
                continue
            image = containers[0].image
            facts = {"program": program, "image": image}
            findings.append(
                new_finding(
                    context,
                    code=self.code,
                    service=service,
                    category=self.category,
                    fixable_by=Fixability.HUMAN,
                    confidence=0.9,
                    facts=facts,
                    evidence=refs,
                    recommendation=(
                        f"Rebuild {image} for this host's platform (docker build --platform), or,"
                        f" if {program or 'the entrypoint'} is a script, make its first line a"
                        " shebang such as #!/bin/sh."
                    ),
                )
            )
        return findings


_CRLF_SIGNS = re.compile(r"\^M|\$'\\r'|\\r'?: (?:No such file|command not found)")
_NO_SUCH_FILE = re.compile(r"exec (?P<path>/\S+?):? no such file or directory", re.IGNORECASE)


class EntrypointCrlf:
    """An entrypoint script has Windows (CRLF) line endings.

    Symptom: `/bin/sh^M: bad interpreter`, `$'\\r': command not found`, or
    `exec /docker-entrypoint.sh: no such file or directory` for a script that
    does exist in the build context (the kernel looks for an interpreter
    named "sh\\r").

    Remedy: convert the script to LF line endings and keep them with a
    `.gitattributes` rule such as `*.sh text eol=lf`.
    """

    code: ClassVar[str] = "ENTRYPOINT_CRLF"
    summary: ClassVar[str] = "An entrypoint script has CRLF line endings"
    category: ClassVar[Category] = Category.STARTUP

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        for service, containers in sorted(containers_by_service(context.evidence).items()):
            refs: list[EvidenceRef] = []
            script: SourceFile | None = None
            for container in containers:
                for line, _match in _hits(container, _CRLF_SIGNS)[:2]:
                    refs.append(_line_ref(container, line))
                for line, match in _hits(container, _NO_SUCH_FILE):
                    found = _script_in_sources(context.evidence, service, match.group("path"))
                    if found is not None:
                        script = script or found
                        refs.append(_line_ref(container, line))
            if not refs:
                continue
            signs = any(_CRLF_SIGNS.search(ref.text) for ref in refs)
            if script is None and signs:
                script = _crlf_script(context.evidence, service)
            crlf = script is not None and "\r\n" in script.text
            # NOTE: a script that exists with LF endings but "does not exist" at exec
            # time names a missing interpreter in its shebang; that is not this pattern.
            if not (signs or crlf):
                continue
            if script is not None:
                refs.append(
                    EvidenceRef("source", script.path, "line 1 ends with CRLF" if crlf else "", 1)
                )
            findings.append(self._finding(context, service, refs, script, crlf))
        return findings

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        refs: list[EvidenceRef],
        script: SourceFile | None,
        crlf: bool,
    ) -> Finding:
        path = script.path if script is not None else None
        facts = {"script": path, "crlf": crlf}
        location = location_in(context.evidence, service, path, 1) if path else None
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.CODE,
            confidence=0.9 if crlf else 0.6,
            facts=facts,
            evidence=refs,
            location=location,
            recommendation=(
                f"Convert {path or 'the entrypoint script'} to LF line endings (dos2unix, or your"
                " editor's line-ending setting) and add `*.sh text eol=lf` to .gitattributes so"
                " a Windows checkout does not bring CRLF back."
            ),
        )


def _hits(
    container: ContainerEvidence, pattern: re.Pattern[str]
) -> list[tuple[LogLine | None, re.Match[str]]]:
    """Return matches in the container's engine error (line None) and in its log lines."""
    hits: list[tuple[LogLine | None, re.Match[str]]] = []
    if container.error:
        match = pattern.search(container.error)
        if match is not None:
            hits.append((None, match))
    for line in container.logs:
        match = pattern.search(line.text)
        if match is not None:
            hits.append((line, match))
    return hits


def _line_ref(container: ContainerEvidence, line: LogLine | None) -> EvidenceRef:
    if line is None:
        return EvidenceRef(
            "state", container.name, f"error={container.error}", None, container.finished_at
        )
    return log_ref(container, line)


def _script_in_sources(evidence: Evidence, service: str, container_path: str) -> SourceFile | None:
    """Return the project file copied to `container_path`, matched by path suffix or file name."""
    name = posixpath.basename(container_path)
    for source in evidence.sources_of(service) or evidence.sources:
        if source.container_path == container_path:
            return source
    for source in evidence.sources_of(service) or evidence.sources:
        if posixpath.basename(source.path) == name:
            return source
    return None


def _crlf_script(evidence: Evidence, service: str) -> SourceFile | None:
    for source in evidence.sources_of(service) or evidence.sources:
        first = source.text.split("\n", 1)[0]
        if first.startswith("#!") and first.endswith("\r"):
            return source
    return None
