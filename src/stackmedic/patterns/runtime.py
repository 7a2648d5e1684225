"""Patterns of containers that die, restart, or fail on the resources they use."""

from __future__ import annotations

import posixpath
import re
from typing import Any, ClassVar

from stackmedic.evidence.model import ContainerEvidence, Evidence, LogLine
from stackmedic.i18n import Message
from stackmedic.model import Category, EvidenceRef, Finding, Fixability
from stackmedic.patterns import connections
from stackmedic.patterns.base import COMPOSE, LOG, SOURCE, STATE, AnalysisContext
from stackmedic.patterns.common import (
    advice,
    build_dockerfile,
    candidate_lines,
    compose_ref,
    containers_by_service,
    either,
    is_error_line,
    last_record_line,
    log_message,
    log_ref,
    new_finding,
    no_summary_part,
    state_ref,
    summary_part,
    times_part,
)
from stackmedic.patterns.endpoints import is_loopback, service_for_host

SIGKILL_EXIT = 137
# Exit codes of a container stopped on purpose: SIGINT and SIGTERM.
STOP_EXITS = {130, 143}
# 128 + signal number: the exit code a shell or the engine reports for a
# process that a signal ended.
SIGNAL_EXITS = {
    132: "SIGILL",
    133: "SIGTRAP",
    134: "SIGABRT",
    135: "SIGBUS",
    136: "SIGFPE",
    137: "SIGKILL",
    139: "SIGSEGV",
}
# Messages of runtimes that ran out of their own heap (not the kernel's OOM kill).
_HEAP_EXHAUSTED = re.compile(
    r"JavaScript heap out of memory|java\.lang\.OutOfMemoryError|\bMemoryError\b|"
    r"fatal error: runtime: out of memory|Cannot allocate memory",
    re.IGNORECASE,
)
RESTART_LOOP_MIN_RESTARTS = 3
MAX_CITED_LINES = 3


def _memory_limit(evidence: Evidence, service: str) -> str | None:
    config = evidence.services.get(service, {})
    limits = ((config.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    value = limits.get("memory") or config.get("mem_limit")
    return None if value is None else str(value)


def _last_lines(container: ContainerEvidence, count: int = MAX_CITED_LINES) -> list[LogLine]:
    lines = [line for line in container.logs if line.text.strip()]
    errors = [line for line in lines if is_error_line(line.text)]
    return (errors or lines)[-count:]


def _last_message(containers: list[ContainerEvidence]) -> str | None:
    for container in containers:
        line = last_record_line(container)
        if line is not None:
            return log_message(line.text)
    return None


class OomKilled:
    """The kernel killed the container's process for exceeding its memory limit.

    Symptom: State.OOMKilled is true (exit code 137).

    Remedy: raise the service's memory limit (deploy.resources.limits.memory)
    or reduce the process's memory use.
    """

    code: ClassVar[str] = "OOM_KILLED"
    summary: ClassVar[str] = "The container was killed for running out of memory"
    category: ClassVar[Category] = Category.RUNTIME
    reads: ClassVar[frozenset[str]] = frozenset({STATE, COMPOSE, LOG})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service, containers in sorted(containers_by_service(evidence).items()):
            killed = [c for c in containers if c.oom_killed]
            if not killed:
                continue
            limit = _memory_limit(evidence, service)
            refs = [state_ref(c) for c in killed]
            for container in killed:
                refs.extend(log_ref(container, line) for line in _last_lines(container, 2))
            facts = {
                "exit_code": killed[0].exit_code,
                "memory_limit": limit,
                "containers": [c.name for c in killed],
            }
            findings.append(
                new_finding(
                    context,
                    code=self.code,
                    service=service,
                    category=self.category,
                    fixable_by=Fixability.HUMAN,
                    confidence=0.95,
                    facts=facts,
                    evidence=refs,
                    recommendation=advice(
                        "OOM_KILLED.recommendation",
                        service=service,
                        limit=(
                            advice("OOM_KILLED.limit.now", limit=limit)
                            if limit
                            else advice("OOM_KILLED.limit.none")
                        ),
                    ),
                )
            )
        return findings


class SignalKilled:
    """The container's process was ended by a signal other than a stop, and not by the OOM killer.

    Symptom: exit code 128 + N: 137 (SIGKILL) with State.OOMKilled false,
    139 (SIGSEGV, a segmentation fault), 134 (SIGABRT), 135 (SIGBUS), 132
    (SIGILL). Exit codes 130 and 143 (SIGINT, SIGTERM) are stops on purpose
    and are not reported.

    Remedy: for SIGKILL, find who sent it (`docker kill`, a stop that
    outlived `stop_grace_period`, an OOM kill of a child process). For
    SIGSEGV, SIGBUS and SIGILL, a native library crashed: often one built
    for another C library or CPU (musl and glibc wheels, an image for
    another platform). For SIGABRT, the runtime aborted, and its last lines
    name the reason, such as "JavaScript heap out of memory".
    """

    code: ClassVar[str] = "SIGNAL_KILLED"
    summary: ClassVar[str] = "The container's process was ended by a signal"
    category: ClassVar[Category] = Category.RUNTIME
    reads: ClassVar[frozenset[str]] = frozenset({STATE, LOG})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        for service, containers in sorted(containers_by_service(context.evidence).items()):
            killed = [
                c
                for c in containers
                if c.exit_code in SIGNAL_EXITS and not c.oom_killed and not c.is_running
            ]
            if not killed:
                continue
            exit_code = int(killed[0].exit_code or 0)
            signal = SIGNAL_EXITS[exit_code]
            refs = [state_ref(c) for c in killed]
            heap = [
                (c, line) for c in killed for line in c.logs if _HEAP_EXHAUSTED.search(line.text)
            ]
            refs.extend(log_ref(c, line) for c, line in heap[:2])
            if not heap:
                for container in killed:
                    refs.extend(log_ref(container, line) for line in _last_lines(container, 2))
            findings.append(
                new_finding(
                    context,
                    code=self.code,
                    service=service,
                    category=self.category,
                    fixable_by=Fixability.HUMAN,
                    confidence=0.5 if signal == "SIGKILL" else 0.8,
                    facts={
                        "exit_code": exit_code,
                        "signal": signal,
                        "heap_exhausted": bool(heap),
                        "containers": [c.name for c in killed],
                    },
                    evidence=refs,
                    recommendation=_signal_advice(service, signal, bool(heap)),
                )
            )
        return findings


def _signal_advice(service: str, signal: str, heap: bool) -> Message:
    if heap:
        return advice("SIGNAL_KILLED.recommendation.heap", service=service, signal=signal)
    if signal == "SIGKILL":
        return advice("SIGNAL_KILLED.recommendation.sigkill", service=service)
    if signal in ("SIGSEGV", "SIGBUS", "SIGILL"):
        return advice("SIGNAL_KILLED.recommendation.native", service=service, signal=signal)
    return advice("SIGNAL_KILLED.recommendation.aborted", service=service, signal=signal)


class RestartLoop:
    """The container keeps exiting and being restarted.

    Symptom: restart count of 3 or more, or state "restarting".

    Remedy: fix what makes the process exit; its last log lines before each
    restart usually show why.
    """

    code: ClassVar[str] = "RESTART_LOOP"
    summary: ClassVar[str] = "The container is in a restart loop"
    category: ClassVar[Category] = Category.RUNTIME
    reads: ClassVar[frozenset[str]] = frozenset({STATE, LOG})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        for service, containers in sorted(containers_by_service(context.evidence).items()):
            looping = [c for c in containers if in_restart_loop(c)]
            if not looping:
                continue
            refs: list[EvidenceRef] = []
            for container in looping:
                refs.append(state_ref(container))
                refs.extend(log_ref(container, line) for line in _last_lines(container))
            facts = {
                "restart_count": max(c.restart_count for c in looping),
                "exit_code": looping[0].exit_code,
                "last_line": _last_message(looping),
                "containers": [c.name for c in looping],
            }
            findings.append(
                new_finding(
                    context,
                    code=self.code,
                    service=service,
                    category=self.category,
                    fixable_by=Fixability.HUMAN,
                    confidence=0.85,
                    facts=facts,
                    evidence=refs,
                    recommendation=advice(
                        "RESTART_LOOP.recommendation",
                        service=service,
                        exit_code=facts["exit_code"],
                        last_line=facts["last_line"],
                    ),
                )
            )
        return findings


def in_restart_loop(container: ContainerEvidence) -> bool:
    return container.state == "restarting" or container.restart_count >= RESTART_LOOP_MIN_RESTARTS


def _is_one_shot(evidence: Evidence, service: str) -> bool:
    """Tell whether another service waits for this one to complete successfully."""
    for other in evidence.services:
        declared = evidence.services[other].get("depends_on") or {}
        if isinstance(declared, dict):
            options = declared.get(service)
            if (
                isinstance(options, dict)
                and options.get("condition") == "service_completed_successfully"
            ):
                return True
    return False


class CrashExit:
    """The container's process exited with a non-zero code.

    Symptom: state exited with exit code other than 0 (137, 139 and the
    other signal codes belong to OOM_KILLED or SIGNAL_KILLED; 130 and 143
    are stops on purpose). A container that exits 0 is not a failure:
    one-shot jobs do that.

    Remedy: fix the error its last log lines show.
    """

    code: ClassVar[str] = "CRASH_EXIT"
    summary: ClassVar[str] = "The container exited with an error code"
    category: ClassVar[Category] = Category.RUNTIME
    reads: ClassVar[frozenset[str]] = frozenset({STATE, LOG})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service, containers in sorted(containers_by_service(evidence).items()):
            crashed = [c for c in containers if self._crashed(c)]
            if not crashed:
                continue
            refs: list[EvidenceRef] = []
            for container in crashed:
                refs.append(state_ref(container))
                refs.extend(log_ref(container, line) for line in _last_lines(container))
            facts = {
                "exit_code": crashed[0].exit_code,
                "last_line": _last_message(crashed),
                "one_shot": _is_one_shot(evidence, service),
                "containers": [c.name for c in crashed],
            }
            findings.append(
                new_finding(
                    context,
                    code=self.code,
                    service=service,
                    category=self.category,
                    fixable_by=Fixability.HUMAN,
                    confidence=0.8,
                    facts=facts,
                    evidence=refs,
                    recommendation=advice(
                        "CRASH_EXIT.recommendation",
                        service=service,
                        exit_code=facts["exit_code"],
                        last_line=facts["last_line"],
                    ),
                )
            )
        return findings

    @staticmethod
    def _crashed(container: ContainerEvidence) -> bool:
        if container.state not in ("exited", "dead") or in_restart_loop(container):
            return False
        code = container.exit_code
        return code not in (None, 0) and code not in SIGNAL_EXITS and code not in STOP_EXITS


def connection_target(text: str) -> tuple[str, int] | None:
    """Return the (host, port) a connection error names, when it names both."""
    target = connections.connection_target(text)
    if target is None or target[1] is None:
        return None
    return target[0], target[1]


class ConnectionRefused:
    """A service's connections to a peer fail, and it never connected afterwards.

    Symptom: "Connection refused", "ECONNREFUSED", "could not connect to
    server", `Error 111 connecting to redis:6379`, pika's
    AMQPConnectionError or kafka's NoBrokersAvailable; no later line reports
    a connection. A host name of a project service that does not resolve
    counts too, because the engine's DNS resolves only running containers.

    Remedy: make the peer listen on that address (check it runs, its port,
    its bind address), and make the service wait until the peer is ready.
    """

    code: ClassVar[str] = "CONNECTION_REFUSED"
    summary: ClassVar[str] = "Connections to a peer service are refused"
    category: ClassVar[Category] = Category.RUNTIME
    reads: ClassVar[frozenset[str]] = frozenset({LOG, STATE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service, containers in sorted(containers_by_service(evidence).items()):
            groups: dict[str, list[tuple[ContainerEvidence, LogLine]]] = {}
            targets: dict[str, tuple[str, int | None] | None] = {}
            for container in containers:
                for key, found, target in self._refusals(evidence, container):
                    groups.setdefault(key, []).extend(found)
                    targets[key] = target
            for key, found in sorted(groups.items()):
                findings.append(self._finding(context, service, targets[key], found))
        return findings

    @staticmethod
    def _refusals(
        evidence: Evidence, container: ContainerEvidence
    ) -> list[tuple[str, list[tuple[ContainerEvidence, LogLine]], tuple[str, int | None] | None]]:
        """Group a container's unrecovered failures by target ("host:port", or "?" if unknown)."""
        by_target: dict[str, list[connections.FailedConnection]] = {}
        targets: dict[str, tuple[str, int | None] | None] = {}
        for failure in connections.failed_connections(container):
            # Only a service name that stops resolving means its peer is down.
            unresolved = failure.kind == connections.UNRESOLVED
            if unresolved and (
                failure.host is None or service_for_host(evidence, failure.host) is None
            ):
                continue
            target = (failure.host, failure.port) if failure.host else None
            key = "?" if target is None else failure.target or "?"
            by_target.setdefault(key, []).append(failure)
            targets[key] = target
        result = []
        for key, failures in by_target.items():
            if connections.recovered_after(failures[-1]):
                continue
            result.append((key, [(f.container, f.line) for f in failures], targets[key]))
        return result

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        target: tuple[str, int | None] | None,
        found: list[tuple[ContainerEvidence, LogLine]],
    ) -> Finding:
        evidence = context.evidence
        host, port = target if target else (None, None)
        peer = None if host is None or is_loopback(host) else service_for_host(evidence, host)
        facts: dict[str, Any] = {
            "target": _target_text(host, port) if target else None,
            "peer_service": peer,
            "occurrences": len(found),
            "first_line": log_message(found[0][1].text),
            "occurrences_part": times_part(len(found)),
            "peer_part": (
                summary_part("CONNECTION_REFUSED.summary.peer", peer=peer)
                if peer is not None
                else no_summary_part()
            ),
        }
        refs = [log_ref(container, line) for container, line in found[:MAX_CITED_LINES]]
        if peer is not None:
            refs.extend(state_ref(c) for c in evidence.containers_of(peer))
        if is_loopback(host):
            remedy = advice(
                "CONNECTION_REFUSED.recommendation.loopback", service=service, host=host, port=port
            )
        elif peer is not None:
            remedy = advice(
                "CONNECTION_REFUSED.recommendation.peer",
                service=service,
                peer=peer,
                target=facts["target"],
                port=either(port, "CONNECTION_REFUSED.it_serves"),
            )
        else:
            remedy = advice(
                "CONNECTION_REFUSED.recommendation.unknown",
                target=either(facts["target"], "CONNECTION_REFUSED.the_address"),
                service=service,
            )
        confidence = 0.6
        if peer is not None:
            peer_down = not any(c.is_running for c in evidence.containers_of(peer))
            confidence = 0.85 if peer_down else 0.75
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.HUMAN,
            confidence=confidence,
            facts=facts,
            evidence=refs,
            recommendation=remedy,
        )


def _target_text(host: str | None, port: int | None) -> str | None:
    if host is None:
        return None
    if port is None:
        return host
    return f"{host}:{port}"


_DENIED_PATHS = [
    re.compile(r"Permission denied: ['\"](?P<path>/[^'\"]+)['\"]"),
    re.compile(r"['\"](?P<path>/[^'\"]+)['\"]: (?:Permission denied|Operation not permitted)"),
    re.compile(
        r"(?:change|changing) (?:the )?(?:ownership|permissions|owner) of (?:directory )?"
        r"['\"](?P<path>/[^'\"]+)['\"]"
    ),
    re.compile(r"EACCES: permission denied, \w+ ['\"](?P<path>/[^'\"]+)['\"]", re.IGNORECASE),
    re.compile(r"open (?P<path>/\S+): permission denied", re.IGNORECASE),
    re.compile(r'could not open file "(?P<path>[^"]+)": Permission denied'),
    re.compile(r"(?P<path>/[\w./-]+): Permission denied"),
]


# The kernel refusing to execute the container's program: no execute bit,
# or a mount with noexec.
_EXEC_DENIED = [
    re.compile(r"exec (?P<path>/\S+?):? permission denied", re.IGNORECASE),
    re.compile(r'exec: "(?P<path>[^"]+)": permission denied', re.IGNORECASE),
    # The shell itself ("/bin/sh: 1: /app/start.sh: ..."), not a script named *.sh.
    re.compile(
        r"(?:^|[\s/])(?:ba|da)?sh: (?:line )?(?:\d+: )?(?P<path>[\w./-]+): Permission denied"
    ),
    re.compile(r'exec user process caused:? "?permission denied'),
]


def exec_denied_path(text: str) -> tuple[bool, str | None]:
    """Return (True, program path or None) when a line reports a program the kernel may not run."""
    for pattern in _EXEC_DENIED:
        match = pattern.search(text)
        if match is not None:
            return True, match.groupdict().get("path")
    return False, None


def denied_path(text: str) -> str | None:
    if exec_denied_path(text)[0]:
        return None
    for pattern in _DENIED_PATHS:
        match = pattern.search(text)
        if match is not None:
            return match.group("path")
    return None


def mount_for(evidence: Evidence, service: str, path: str) -> tuple[str, str] | None:
    """Return (source, target) of the volume or bind mount that contains `path`."""
    best: tuple[str, str] | None = None
    for entry in evidence.services.get(service, {}).get("volumes") or []:
        if isinstance(entry, dict):
            source, target = str(entry.get("source") or ""), str(entry.get("target") or "")
        else:
            parts = str(entry).split(":")
            if len(parts) < 2:
                continue
            source, target = parts[0], parts[1]
        inside = path == target or path.startswith(target.rstrip("/") + "/")
        if target and inside and (best is None or len(target) > len(best[1])):
            best = (source, target)
    return best


def container_user(evidence: Evidence, service: str) -> str | None:
    user = evidence.services.get(service, {}).get("user")
    if user:
        return str(user)
    dockerfile = build_dockerfile(evidence, service)
    if dockerfile is None:
        return None
    users = re.findall(r"^\s*USER\s+(\S+)", dockerfile.text, re.IGNORECASE | re.MULTILINE)
    return users[-1] if users else None


class PermissionDenied:
    """The process may not read or write a file it needs.

    Symptom: "Permission denied: '/data/app.db'", "EACCES: permission denied",
    "open /x: permission denied", "mkdir: cannot create directory '/data/x':
    Permission denied", "chown: changing ownership of '/var/lib/x':
    Operation not permitted". A program the kernel may not execute belongs
    to ENTRYPOINT_NOT_EXECUTABLE.

    Remedy: give the container's user access to the path: change the owner
    of the mounted volume's files, or set `user:` to an owner, or fix the
    ownership in the Dockerfile (COPY --chown).
    """

    code: ClassVar[str] = "PERMISSION_DENIED"
    summary: ClassVar[str] = "The process is denied access to a file"
    category: ClassVar[Category] = Category.RUNTIME
    reads: ClassVar[frozenset[str]] = frozenset({LOG, COMPOSE, SOURCE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service, containers in sorted(containers_by_service(evidence).items()):
            groups: dict[str, list[tuple[ContainerEvidence, LogLine]]] = {}
            for container in containers:
                for index in candidate_lines(container, *_DENIED_PATHS):
                    line = container.logs[index]
                    path = denied_path(line.text)
                    if path is not None:
                        groups.setdefault(path, []).append((container, line))
            for path, found in sorted(groups.items()):
                findings.append(self._finding(context, service, path, found))
        return findings

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        path: str,
        found: list[tuple[ContainerEvidence, LogLine]],
    ) -> Finding:
        evidence = context.evidence
        mount = mount_for(evidence, service, path)
        user = container_user(evidence, service)
        refs = [log_ref(container, line) for container, line in found[:MAX_CITED_LINES]]
        if mount is not None:
            refs.append(compose_ref(evidence, service, "volumes"))
        facts: dict[str, Any] = {
            "path": path,
            "volume": mount[0] if mount else None,
            "mount_target": mount[1] if mount else None,
            "user": user,
            "occurrences": len(found),
        }
        facts["user_part"] = (
            summary_part("PERMISSION_DENIED.summary.user", user=user) if user else no_summary_part()
        )
        facts["volume_part"] = (
            summary_part("PERMISSION_DENIED.summary.volume", volume=mount[0])
            if mount
            else no_summary_part()
        )
        who = (
            advice("PERMISSION_DENIED.user", user=user)
            if user
            else advice("PERMISSION_DENIED.no_user")
        )
        if mount is not None:
            remedy = advice(
                "PERMISSION_DENIED.recommendation.mount",
                path=path,
                volume=mount[0],
                target=mount[1],
                who=who,
                service=service,
            )
        else:
            folder = posixpath.dirname(path) or path
            remedy = advice(
                "PERMISSION_DENIED.recommendation.image." + ("user" if user else "no_user"),
                user=user,
                path=path,
                folder=folder,
            )
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.HUMAN,
            confidence=0.8,
            facts=facts,
            evidence=refs,
            recommendation=remedy,
        )
