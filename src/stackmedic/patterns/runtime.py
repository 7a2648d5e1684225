"""Patterns of containers that die, restart, or fail on the resources they use."""

from __future__ import annotations

import posixpath
import re
from typing import Any, ClassVar

from stackmedic.evidence.model import ContainerEvidence, Evidence, LogLine
from stackmedic.model import Category, EvidenceRef, Finding, Fixability
from stackmedic.patterns.base import AnalysisContext
from stackmedic.patterns.common import (
    build_dockerfile,
    compose_ref,
    containers_by_service,
    is_error_line,
    last_nonempty_line,
    log_message,
    log_ref,
    new_finding,
    state_ref,
)
from stackmedic.patterns.endpoints import is_loopback, service_for_host

SIGKILL_EXIT = 137
# Exit codes of a container stopped on purpose: SIGINT and SIGTERM.
STOP_EXITS = {130, 143}
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
        line = last_nonempty_line(container)
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
                    recommendation=(
                        f"Raise the memory limit of {service}"
                        + (f" (now {limit})" if limit else " (none is set, so the host ran out)")
                        + " in deploy.resources.limits.memory, or reduce its memory use."
                    ),
                )
            )
        return findings


class SignalKilled:
    """The container's process was killed by SIGKILL, but not by the OOM killer.

    Symptom: exit code 137 with State.OOMKilled false.

    Remedy: find who sent the signal: `docker kill`, a stop that outlived
    `stop_grace_period`, or an OOM kill of a child process (see `docker
    events` and the host's kernel log).
    """

    code: ClassVar[str] = "SIGNAL_KILLED"
    summary: ClassVar[str] = "The container was killed by SIGKILL"
    category: ClassVar[Category] = Category.RUNTIME

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        for service, containers in sorted(containers_by_service(context.evidence).items()):
            killed = [
                c
                for c in containers
                if c.exit_code == SIGKILL_EXIT and not c.oom_killed and not c.is_running
            ]
            if not killed:
                continue
            refs = [state_ref(c) for c in killed]
            findings.append(
                new_finding(
                    context,
                    code=self.code,
                    service=service,
                    category=self.category,
                    fixable_by=Fixability.HUMAN,
                    confidence=0.5,
                    facts={
                        "exit_code": SIGKILL_EXIT,
                        "signal": "SIGKILL",
                        "containers": [c.name for c in killed],
                    },
                    evidence=refs,
                    recommendation=(
                        f"{service} was killed by SIGKILL without the OOM flag: check `docker"
                        " events` for a kill or a stop that exceeded stop_grace_period, and the"
                        " host's kernel log for an OOM kill of a child process."
                    ),
                )
            )
        return findings


class RestartLoop:
    """The container keeps exiting and being restarted.

    Symptom: restart count of 3 or more, or state "restarting".

    Remedy: fix what makes the process exit; its last log lines before each
    restart usually show why.
    """

    code: ClassVar[str] = "RESTART_LOOP"
    summary: ClassVar[str] = "The container is in a restart loop"
    category: ClassVar[Category] = Category.RUNTIME

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
                    recommendation=(
                        f"{service} exits (code {facts['exit_code']}) and is restarted over and"
                        f" over; fix the cause of the exit. Its last line: {facts['last_line']}"
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

    Symptom: state exited with exit code other than 0 (137 belongs to
    OOM_KILLED or SIGNAL_KILLED; 130 and 143 are stops on purpose). A
    container that exits 0 is not a failure: one-shot jobs do that.

    Remedy: fix the error its last log lines show.
    """

    code: ClassVar[str] = "CRASH_EXIT"
    summary: ClassVar[str] = "The container exited with an error code"
    category: ClassVar[Category] = Category.RUNTIME

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
                    recommendation=(
                        f"{service} exited with code {facts['exit_code']}; fix the error its"
                        f" last lines show: {facts['last_line']}"
                    ),
                )
            )
        return findings

    @staticmethod
    def _crashed(container: ContainerEvidence) -> bool:
        if container.state not in ("exited", "dead") or in_restart_loop(container):
            return False
        code = container.exit_code
        return code not in (None, 0, SIGKILL_EXIT) and code not in STOP_EXITS


_REFUSED = re.compile(
    r"connection refused|ECONNREFUSED|could not connect to server|Errno 111", re.IGNORECASE
)
_TARGETS = [
    re.compile(r"Error 111 connecting to (?P<host>[\w.-]+):(?P<port>\d+)"),
    re.compile(r"dial tcp (?P<host>[\w.\-\[\]:]+?):(?P<port>\d+): connect"),
    re.compile(r"ECONNREFUSED (?P<host>[\w.\-\[\]:]+?):(?P<port>\d+)"),
    re.compile(r'connection to server at "(?P<host>[^"]+)"[^,]*, port (?P<port>\d+)'),
    re.compile(r'on host "(?P<host>[^"]+)".*?port (?P<port>\d+)'),
    re.compile(
        r"(?:connect(?:ing)? to|connection to|at|to) (?:[a-z][\w+.-]*://)?"
        r"(?P<host>[A-Za-z0-9][\w.-]*):(?P<port>\d{2,5})\b",
        re.IGNORECASE,
    ),
]
_RECOVERED = re.compile(r"\bconnected\b|connection established|\bconnection ok\b", re.IGNORECASE)


def connection_target(text: str) -> tuple[str, int] | None:
    for pattern in _TARGETS:
        match = pattern.search(text)
        if match is not None:
            return match.group("host").strip("[]"), int(match.group("port"))
    return None


class ConnectionRefused:
    """A service's connections to a peer are refused, and it never connected afterwards.

    Symptom: "Connection refused", "ECONNREFUSED", "could not connect to
    server" with the host:port it tried; no later line reports a connection.

    Remedy: make the peer listen on that address (check it runs, its port,
    its bind address), and make the service wait until the peer is ready.
    """

    code: ClassVar[str] = "CONNECTION_REFUSED"
    summary: ClassVar[str] = "Connections to a peer service are refused"
    category: ClassVar[Category] = Category.RUNTIME

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service, containers in sorted(containers_by_service(evidence).items()):
            groups: dict[str, list[tuple[ContainerEvidence, LogLine]]] = {}
            targets: dict[str, tuple[str, int] | None] = {}
            for container in containers:
                for key, found, target in self._refusals(container):
                    groups.setdefault(key, []).extend(found)
                    targets[key] = target
            for key, found in sorted(groups.items()):
                findings.append(self._finding(context, service, targets[key], found))
        return findings

    @staticmethod
    def _refusals(
        container: ContainerEvidence,
    ) -> list[tuple[str, list[tuple[ContainerEvidence, LogLine]], tuple[str, int] | None]]:
        """Group a container's unrecovered refusals by target ("host:port", or "?" if unknown)."""
        logs = container.logs
        by_target: dict[str, list[int]] = {}
        targets: dict[str, tuple[str, int] | None] = {}
        for index, line in enumerate(logs):
            if not _REFUSED.search(line.text):
                continue
            following = logs[index + 1].text if index + 1 < len(logs) else ""
            target = connection_target(line.text) or connection_target(following)
            key = f"{target[0]}:{target[1]}" if target else "?"
            by_target.setdefault(key, []).append(index)
            targets[key] = target
        result = []
        for key, indexes in by_target.items():
            later = logs[indexes[-1] + 1 :]
            if any(_RECOVERED.search(l.text) and not _REFUSED.search(l.text) for l in later):
                continue
            result.append((key, [(container, logs[i]) for i in indexes], targets[key]))
        return result

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        target: tuple[str, int] | None,
        found: list[tuple[ContainerEvidence, LogLine]],
    ) -> Finding:
        evidence = context.evidence
        host, port = target if target else (None, None)
        peer = None if host is None or is_loopback(host) else service_for_host(evidence, host)
        facts: dict[str, Any] = {
            "target": f"{host}:{port}" if target else None,
            "peer_service": peer,
            "occurrences": len(found),
            "first_line": log_message(found[0][1].text),
        }
        refs = [log_ref(container, line) for container, line in found[:MAX_CITED_LINES]]
        if peer is not None:
            refs.extend(state_ref(c) for c in evidence.containers_of(peer))
        if is_loopback(host):
            advice = (
                f"{service} connects to {host}:{port}, which inside a container is the container"
                " itself; use the service name of the peer instead."
            )
        elif peer is not None:
            advice = (
                f"{service} cannot reach {peer} at {host}:{port}: check that {peer} runs and"
                f" listens on port {port} on all interfaces, and that {service} starts only once"
                f" {peer} is ready (depends_on with condition service_healthy)."
            )
        else:
            address = facts["target"] or "the address"
            advice = f"Check that something listens at {address}, which {service} connects to."
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
            recommendation=advice,
        )


_DENIED_PATHS = [
    re.compile(r"Permission denied: ['\"](?P<path>/[^'\"]+)['\"]"),
    re.compile(r"EACCES: permission denied, \w+ ['\"](?P<path>/[^'\"]+)['\"]", re.IGNORECASE),
    re.compile(r"open (?P<path>/\S+): permission denied", re.IGNORECASE),
    re.compile(r'could not open file "(?P<path>[^"]+)": Permission denied'),
    re.compile(r"(?P<path>/[\w./-]+): Permission denied"),
]


def denied_path(text: str) -> str | None:
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
    "open /x: permission denied".

    Remedy: give the container's user access to the path: change the owner
    of the mounted volume's files, or set `user:` to an owner, or fix the
    ownership in the Dockerfile (COPY --chown).
    """

    code: ClassVar[str] = "PERMISSION_DENIED"
    summary: ClassVar[str] = "The process is denied access to a file"
    category: ClassVar[Category] = Category.RUNTIME

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service, containers in sorted(containers_by_service(evidence).items()):
            groups: dict[str, list[tuple[ContainerEvidence, LogLine]]] = {}
            for container in containers:
                for line in container.logs:
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
        facts = {
            "path": path,
            "volume": mount[0] if mount else None,
            "mount_target": mount[1] if mount else None,
            "user": user,
            "occurrences": len(found),
        }
        who = f"user {user}" if user else "the container's user"
        if mount is not None:
            advice = (
                f"{path} is on the mount {mount[0]} -> {mount[1]}, which {who} cannot access:"
                f" change the owner of its files to {who} (or set user: for {service})."
            )
        else:
            folder = posixpath.dirname(path) or path
            advice = (
                f"{who.capitalize()} cannot access {path}: fix the ownership of {folder} in the"
                " image (COPY --chown, or chown in a RUN step before USER)."
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
            recommendation=advice,
        )
