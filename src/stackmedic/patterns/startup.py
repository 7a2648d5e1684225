"""Patterns of services that do not get through their startup."""

from __future__ import annotations

import datetime as dt
import math
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from stackmedic.evidence.model import ContainerEvidence, Evidence, LogLine, SourceFile
from stackmedic.i18n import Message
from stackmedic.model import Category, ComposeEdit, EvidenceRef, Finding, Fixability, SourceLocation
from stackmedic.patterns import lookup
from stackmedic.patterns.base import COMPOSE, HEALTH_LOG, LOG, SOURCE, STATE, AnalysisContext
from stackmedic.patterns.common import (
    NO_TEXT,
    HealthcheckSpec,
    advice,
    build_dockerfile,
    candidate_lines,
    compose_healthcheck,
    compose_ref,
    containers_by_service,
    depends_on_conditions,
    effective_healthcheck,
    health_ref,
    healthcheck_disabled,
    line_time,
    location_in,
    log_message,
    log_ref,
    new_finding,
    no_summary_part,
    parse_time,
    propose,
    sentences,
    source_file,
    source_ref,
    state_ref,
    summary_part,
)
from stackmedic.patterns.connections import (
    FailedConnection,
    failures_of,
    first_log_time,
    first_ready_time,
)
from stackmedic.patterns.connections import (
    ready_pattern as connection_ready_pattern,
)
from stackmedic.patterns.endpoints import is_loopback, service_for_host
from stackmedic.patterns.hang import Hang, find_hangs
from stackmedic.patterns.healthcheck import format_duration
from stackmedic.patterns.images import readiness_healthcheck, service_kind
from stackmedic.patterns.runtime import _EXEC_DENIED, exec_denied_path


class StartupHang:
    """A running container stopped logging before it was ready, without any error.

    Symptom: the log ends with an ordinary line ("About to call worker.start()")
    and nothing follows. The container is unhealthy, or it is built from the
    project's source and quiet for longer than max(60 s, the health check's
    start period), and no ERROR or traceback appears.

    Remedy: follow the last line to the code. The logging call that printed
    it, the call after it and the first call inside that can wait forever
    (a receive with no timeout on a connected socket) show what the process
    waits for. The endpoint it waits on is usually wrong (see
    ENDPOINT_MISMATCH), and the wait deserves a timeout.
    """

    code: ClassVar[str] = "STARTUP_HANG"
    summary: ClassVar[str] = "A container stopped making progress during startup without an error"
    category: ClassVar[Category] = Category.STARTUP
    reads: ClassVar[frozenset[str]] = frozenset({STATE, LOG, HEALTH_LOG, SOURCE, COMPOSE})

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
    def _recommendation(hang: Hang, facts: Mapping[str, object]) -> Message:
        site = hang.site
        connection = site.connection
        if site.blocking is not None:
            function: object = site.blocking.function or facts["call"]
            waits = advice(
                "STARTUP_HANG.recommendation.waits",
                service=hang.service,
                function=function if function else advice("STARTUP_HANG.recommendation.its_caller"),
                path=site.blocking.path,
                line=site.blocking.line,
                call=site.blocking.call,
                connected=(
                    advice("STARTUP_HANG.recommendation.after_connecting", endpoint=connection.url)
                    if connection is not None
                    else NO_TEXT
                ),
            )
            if connection is not None and connection.peer:
                remedy = advice("STARTUP_HANG.recommendation.check_peer", peer=connection.peer)
            else:
                remedy = advice("STARTUP_HANG.recommendation.timeout")
            return sentences(waits, remedy)
        next_call = NO_TEXT
        if site.target is not None:
            next_call = advice(
                "STARTUP_HANG.recommendation.next_call",
                function=site.target.function,
                path=site.target.path,
                line=site.target.line,
            )
        return advice(
            "STARTUP_HANG.recommendation.silent",
            service=hang.service,
            last_line=facts["last_line"],
            next_call=next_call,
            connects=(
                advice("STARTUP_HANG.recommendation.which_connects", endpoint=connection.url)
                if connection is not None
                else NO_TEXT
            ),
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


# Without a "ready" line from the peer, a failure this long after the peer
# started is not taken for a start-order problem.
STARTUP_WINDOW_SECONDS = 60.0


@dataclass
class StartupFailures:
    """A client's failed connections to one dependency, split by whether it was ready yet."""

    before_ready: list[FailedConnection] = field(default_factory=list)
    timing_unknown: list[FailedConnection] = field(default_factory=list)

    @property
    def all(self) -> list[FailedConnection]:
        return self.before_ready + self.timing_unknown


def startup_failures(
    evidence: Evidence, service: str, dependencies: list[str]
) -> dict[str, StartupFailures]:
    """Return, per peer service, the client's failed connections made before the peer was ready.

    A failure names its peer by host; a line without a host counts for the
    one dependency whose image speaks its protocol, else for the only
    dependency. A failure after the peer's first "ready" log line is not a
    start-order problem and is left out.
    """
    found: dict[str, StartupFailures] = {}
    times: dict[str, tuple[dt.datetime | None, dt.datetime | None]] = {}
    for failure in failures_of(evidence, service):
        peer = _peer_of(evidence, service, failure, dependencies)
        if peer is None:
            continue
        if peer not in times:
            times[peer] = (first_ready_time(evidence, peer), first_log_time(evidence, peer))
        ready, started = times[peer]
        moment = line_time(failure.line)
        group = found.setdefault(peer, StartupFailures())
        if ready is not None and moment is not None:
            if moment <= ready:
                group.before_ready.append(failure)
        elif moment is not None and started is not None:
            # No "ready" line: only failures soon after the peer started count.
            if (moment - started).total_seconds() <= STARTUP_WINDOW_SECONDS:
                group.timing_unknown.append(failure)
        else:
            group.timing_unknown.append(failure)
    return {peer: group for peer, group in found.items() if group.all}


def _refused_part(count: int) -> dict[str, Any]:
    """Return the DEPENDENCY_NOT_READY summary clause counting connection errors; none for 0."""
    if count <= 0:
        return no_summary_part()
    if count == 1:
        return summary_part("DEPENDENCY_NOT_READY.summary.refused.one")
    return summary_part("DEPENDENCY_NOT_READY.summary.refused.other", count=count)


def _came_up(evidence: Evidence, service: str) -> bool:
    """Tell whether a service runs now or logged that it accepts connections."""
    if any(c.is_running for c in evidence.containers_of(service)):
        return True
    return first_ready_time(evidence, service) is not None


def _peer_of(
    evidence: Evidence, service: str, failure: FailedConnection, dependencies: list[str]
) -> str | None:
    if failure.host is not None:
        if is_loopback(failure.host):
            return None
        peer = service_for_host(evidence, failure.host)
        return peer if peer != service else None
    by_kind = [
        d
        for d in dependencies
        if failure.protocol and service_kind(evidence, d) == failure.protocol
    ]
    if len(by_kind) == 1:
        return by_kind[0]
    return dependencies[0] if len(dependencies) == 1 else None


class DependencyNotReady:
    """A service starts as soon as a dependency's container starts, not when it is ready.

    Symptom: `depends_on` in list form (or with condition service_started) on
    a dependency that has a health check; or the service's first connections
    to a dependency fail ("connection refused", AMQPConnectionError) before
    the dependency logged that it accepts connections, while that dependency
    has no health check or is not in `depends_on` at all.

    Remedy: `depends_on: {dep: {condition: service_healthy}}` for every
    dependency with a health check, service_started for the others. A
    dependency without a health check whose image is well known (postgres,
    mysql, redis, rabbitmq, mongo) gets its image's readiness command as a
    health check first; for other images the finding says to write one.
    """

    code: ClassVar[str] = "DEPENDENCY_NOT_READY"
    summary: ClassVar[str] = "A service starts before its dependencies are ready"
    category: ClassVar[Category] = Category.STARTUP
    reads: ClassVar[frozenset[str]] = frozenset({COMPOSE, LOG, STATE, SOURCE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service in sorted(evidence.services):
            conditions = depends_on_conditions(evidence, service)
            failures = startup_failures(evidence, service, list(conditions))
            checked = {dep: has_healthcheck(evidence, dep) for dep in {*conditions, *failures}}
            # Without a health check, only a dependency that did come up was merely early.
            failures = {d: f for d, f in failures.items() if checked[d] or _came_up(evidence, d)}
            waiting = [
                dep
                for dep, condition in conditions.items()
                if condition in (None, "service_started") and (checked[dep] or dep in failures)
            ]
            waiting += [
                dep
                for dep in sorted(failures)
                if dep not in conditions and dep in evidence.services
            ]
            if waiting:
                findings.append(
                    self._finding(context, service, conditions, checked, waiting, failures)
                )
        return findings

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        conditions: dict[str, str | None],
        checked: dict[str, bool],
        waiting: list[str],
        failures: dict[str, StartupFailures],
    ) -> Finding:
        evidence = context.evidence
        new_checks = {
            dep: check
            for dep in waiting
            if not checked[dep] and (check := readiness_healthcheck(evidence, dep)) is not None
        }
        wanted: dict[str, str] = {}
        for dep in [*conditions, *(d for d in waiting if d not in conditions)]:
            condition = conditions.get(dep)
            if condition == "service_completed_successfully":
                wanted[dep] = condition
            elif checked.get(dep) or dep in new_checks:
                wanted[dep] = "service_healthy"
            else:
                wanted[dep] = "service_started"

        refused = [f for dep in waiting for f in failures.get(dep, StartupFailures()).all]
        refused.sort(key=lambda f: (f.container.name, f.line.number))
        refs = [compose_ref(evidence, service, "depends_on")]
        for dep in waiting:
            if compose_healthcheck(evidence, dep) is not None:
                refs.append(compose_ref(evidence, dep, "healthcheck"))
        refs.extend(log_ref(f.container, f.line) for f in refused[:3])

        unchecked = [dep for dep in waiting if not checked[dep]]
        facts = {
            "dependencies": waiting,
            "conditions": wanted,
            "refused_lines": len(refused),
            "refused_part": _refused_part(len(refused)),
            "without_healthcheck": unchecked,
            "not_listed": [dep for dep in waiting if dep not in conditions],
        }
        timed = any(failures.get(dep, StartupFailures()).before_ready for dep in waiting)
        confidence = 0.55
        if refused:
            # Refusals without times count less when no health check shows the dependency starts slowly.
            if timed:
                confidence = 0.85
            elif unchecked:
                confidence = 0.7
            else:
                confidence = 0.8
        finding = new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.COMPOSE,
            confidence=confidence,
            facts=facts,
            evidence=refs,
            recommendation=self._recommendation(service, waiting, unchecked, new_checks),
        )
        for dep, check in new_checks.items():
            propose(
                context,
                finding,
                title=f"Give {dep} a readiness health check ({HealthcheckSpec(test=check['test']).command})",
                rationale=advice(
                    "DEPENDENCY_NOT_READY.rationale.healthcheck",
                    dependency=dep,
                    probe=check["source"],
                ),
                edit=ComposeEdit("set_healthcheck", dep, check),
            )
        if any(wanted[dep] == "service_healthy" for dep in waiting) or facts["not_listed"]:
            propose(
                context,
                finding,
                title=f"Wait for {', '.join(waiting)} to be ready before starting {service}",
                rationale=advice(
                    "DEPENDENCY_NOT_READY.rationale.wait."
                    + ("many" if len(waiting) > 1 else "one")
                    + (".refused" if refused else ""),
                    service=service,
                    dependencies=", ".join(waiting),
                    refused=len(refused),
                ),
                edit=ComposeEdit("set_depends_on_conditions", service, {"conditions": wanted}),
            )
        return finding

    @staticmethod
    def _recommendation(
        service: str, waiting: list[str], unchecked: list[str], new_checks: dict[str, Any]
    ) -> Message:
        variant = "one" if len(waiting) == 1 else "many"
        text = advice(
            f"DEPENDENCY_NOT_READY.recommendation.wait.{variant}",
            service=service,
            dependencies=", ".join(waiting),
        )
        missing = [dep for dep in unchecked if dep not in new_checks]
        add_checks = (
            advice(
                "DEPENDENCY_NOT_READY.recommendation.add_checks", dependencies=", ".join(new_checks)
            )
            if new_checks
            else None
        )
        write_checks = (
            advice(
                "DEPENDENCY_NOT_READY.recommendation.write_checks",
                dependencies=", ".join(missing),
                service=service,
            )
            if missing
            else None
        )
        return sentences(text, add_checks, write_checks)


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
    reads: ClassVar[frozenset[str]] = frozenset({LOG, STATE})

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
                        advice("EXEC_FORMAT_ERROR.recommendation", image=image, program=program)
                        if program
                        else advice("EXEC_FORMAT_ERROR.recommendation.entrypoint", image=image)
                    ),
                )
            )
        return findings


_CRLF_SIGNS = re.compile(
    r"\^M|\$'\\r'|\\r['\u2019]?: (?:No such file|command not found)|"
    r"['\u2018]\w+\\r['\u2019]: No such file"
)
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
    reads: ClassVar[frozenset[str]] = frozenset({LOG, STATE, SOURCE})

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
                advice("ENTRYPOINT_CRLF.recommendation", path=path)
                if path
                else advice("ENTRYPOINT_CRLF.recommendation.entrypoint")
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
    for index in candidate_lines(container, pattern):
        line = container.logs[index]
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


class EntrypointNotExecutable:
    """The kernel refuses to execute the container's program: it has no execute permission.

    Symptom: `exec /docker-entrypoint.sh: permission denied` (exit code 126,
    or an engine error when the container is created), `/bin/sh: 1:
    /app/start.sh: Permission denied`. The script lost its execute bit on
    the way into the image: a checkout on Windows, a `git` setting, or a
    COPY from a folder that strips modes.

    Remedy: `RUN chmod +x /docker-entrypoint.sh` after the COPY (or `COPY
    --chmod=755`), and record the bit in git (`git update-index --chmod=+x`).
    """

    code: ClassVar[str] = "ENTRYPOINT_NOT_EXECUTABLE"
    summary: ClassVar[str] = "The container's program is not executable"
    category: ClassVar[Category] = Category.STARTUP
    reads: ClassVar[frozenset[str]] = frozenset({LOG, STATE, SOURCE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service, containers in sorted(containers_by_service(evidence).items()):
            refs: list[EvidenceRef] = []
            program: str | None = None
            for container in containers:
                texts: list[tuple[LogLine | None, str]] = []
                if container.error:
                    texts.append((None, container.error))
                candidates = candidate_lines(container, *_EXEC_DENIED)
                texts.extend((container.logs[i], container.logs[i].text) for i in candidates)
                for line, text in texts:
                    denied, path = exec_denied_path(text)
                    if denied:
                        program = program or path
                        refs.append(_line_ref(container, line))
                if refs and container.exit_code is not None:
                    refs.append(state_ref(container))
            if not refs:
                continue
            program = program or _program(evidence, service)
            script = _script_in_sources(evidence, service, program) if program else None
            findings.append(self._finding(context, service, program, script, refs))
        return findings

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        program: str | None,
        script: SourceFile | None,
        refs: list[EvidenceRef],
    ) -> Finding:
        location = location_in(context.evidence, service, script.path, 1) if script else None
        facts = {"program": program, "script": script.path if script else None}
        target = program or "the entrypoint"
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.CODE,
            confidence=0.9,
            facts=facts,
            evidence=refs[:4],
            location=location,
            recommendation=advice(
                "ENTRYPOINT_NOT_EXECUTABLE.recommendation",
                target=target,
                path=script.path if script else target,
            ),
        )


def _program(evidence: Evidence, service: str) -> str | None:
    config = evidence.services.get(service, {})
    for key in ("entrypoint", "command"):
        value = config.get(key)
        if isinstance(value, list) and value:
            return str(value[0])
        if isinstance(value, str) and value.strip():
            return value.split()[0]
    return None


# "Started OrdersApplication in 95.2 seconds (process running for 97.1)" (Spring Boot),
# "ready in 1834 ms" and similar totals that a server prints once it is ready.
_STARTED_IN = re.compile(
    r"Started \S+ in (?P<seconds>[\d.]+) seconds(?: \(process running for (?P<process>[\d.]+)\))?|"
    r"(?:ready|started|startup complete) in (?P<ms>\d+) ?ms\b",
    re.IGNORECASE,
)
DEFAULT_INTERVAL_SECONDS = 30.0
DEFAULT_RETRIES = 3
# The proposed start period leaves this much room over the measured start time.
START_PERIOD_MARGIN = 1.5


def _ready_seconds(container: ContainerEvidence) -> tuple[float, LogLine] | None:
    """Return how long the container took to log that it was ready, with that line."""
    ready_pattern = connection_ready_pattern()
    first_time = None
    for line in container.logs:
        moment = line_time(line)
        if first_time is None and moment is not None:
            first_time = moment
        told = _STARTED_IN.search(line.text)
        if told is not None:
            if told.group("ms"):
                return int(told.group("ms")) / 1000.0, line
            return float(told.group("process") or told.group("seconds")), line
        if ready_pattern.search(line.text):
            start = parse_time(container.started_at)
            if start is None or (moment is not None and start > moment):
                start = first_time
            if start is None or moment is None:
                return None
            return max(0.0, (moment - start).total_seconds()), line
    return None


class SlowStart:
    """A healthy service is declared failed because it starts slower than its health check allows.

    Symptom: the log shows the service became ready ("Started App in 95.2
    seconds", "ready to accept connections") later than start_period +
    interval x retries of its health check, and meanwhile the container was
    marked unhealthy: probes failed before that line, or services that wait
    for it (`condition: service_healthy`) never started.

    Remedy: keep the probe, give it a start_period longer than the measured
    start time (with a margin), so failures during startup do not count.
    """

    code: ClassVar[str] = "SLOW_START"
    summary: ClassVar[str] = "The health check gives up before the service finishes starting"
    category: ClassVar[Category] = Category.STARTUP
    reads: ClassVar[frozenset[str]] = frozenset({LOG, HEALTH_LOG, STATE, COMPOSE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service, containers in sorted(containers_by_service(evidence).items()):
            spec = effective_healthcheck(evidence, service)
            if spec is None:
                continue
            measured = [(c, r) for c in containers if (r := _ready_seconds(c)) is not None]
            if not measured:
                continue
            container, (needed, ready_line) = max(measured, key=lambda item: item[1][0])
            budget = (spec.start_period or 0.0) + (spec.interval or DEFAULT_INTERVAL_SECONDS) * (
                spec.retries or DEFAULT_RETRIES
            )
            if needed <= budget:
                continue
            harm = self._harm(evidence, service, containers, ready_line)
            if not harm:
                continue
            findings.append(
                self._finding(context, service, spec, container, ready_line, needed, budget, harm)
            )
        return findings

    @staticmethod
    def _harm(
        evidence: Evidence, service: str, containers: list[ContainerEvidence], ready: LogLine
    ) -> list[EvidenceRef]:
        """Return evidence that the slow start hurt: unhealthy state, early failed probes, stuck dependents."""
        refs: list[EvidenceRef] = []
        ready_time = line_time(ready)
        for container in containers:
            if container.health == "unhealthy":
                refs.append(state_ref(container))
            early = [
                p
                for p in container.health_log
                if p.exit_code != 0
                and ready_time is not None
                and (parse_time(p.end) or ready_time) <= ready_time
            ]
            if early:
                refs.append(health_ref(container, early[-1]))
        for other in sorted(evidence.services):
            if depends_on_conditions(evidence, other).get(service) != "service_healthy":
                continue
            waiting = evidence.containers_of(other)
            if waiting and all(c.state == "created" for c in waiting):
                refs.extend(state_ref(c) for c in waiting)
        for warning in evidence.warnings:
            if "is unhealthy" in warning and any(c.name in warning for c in containers):
                refs.append(EvidenceRef("state", service, warning))
        return refs

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        spec: HealthcheckSpec,
        container: ContainerEvidence,
        ready_line: LogLine,
        needed: float,
        budget: float,
        harm: list[EvidenceRef],
    ) -> Finding:
        evidence = context.evidence
        start_period = int(math.ceil(needed * START_PERIOD_MARGIN / 10.0) * 10)
        params: dict[str, Any] = {
            "test": spec.test,
            "interval": format_duration(spec.interval, "30s"),
            "timeout": format_duration(spec.timeout, "30s"),
            "retries": spec.retries or DEFAULT_RETRIES,
            "start_period": format_duration(float(start_period), "0s"),
            "source": f"the current probe with start_period {start_period}s",
        }
        facts = {
            "needed_seconds": round(needed, 1),
            "allowed_seconds": round(budget, 1),
            "start_period": format_duration(spec.start_period, "0s"),
            "proposed_start_period": params["start_period"],
        }
        refs = [log_ref(container, ready_line), *harm[:3]]
        if spec.origin == "compose":
            refs.append(compose_ref(evidence, service, "healthcheck"))
        finding = new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.COMPOSE,
            confidence=0.85,
            facts=facts,
            evidence=refs,
            recommendation=advice(
                "SLOW_START.recommendation",
                service=service,
                needed=f"{needed:.0f}",
                budget=f"{budget:.0f}",
                start_period=params["start_period"],
            ),
        )
        propose(
            context,
            finding,
            title=f"Give the health check of {service} a start_period of {params['start_period']}",
            rationale=advice(
                "SLOW_START.rationale",
                service=service,
                needed=f"{needed:.0f}",
                ready_line=log_message(ready_line.text),
                start_period=params["start_period"],
            ),
            edit=ComposeEdit("set_healthcheck", service, params),
        )
        return finding
