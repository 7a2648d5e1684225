"""Patterns of storage: bind mounts whose host side is missing, and full disks."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from stackmedic.evidence.model import ContainerEvidence, Evidence, LogLine
from stackmedic.model import Category, EvidenceRef, Finding, Fixability
from stackmedic.patterns.base import COMPOSE, LOG, STATE, AnalysisContext
from stackmedic.patterns.common import (
    NO_TEXT,
    advice,
    candidate_lines,
    compose_ref,
    containers_by_service,
    either,
    log_ref,
    new_finding,
    state_ref,
)
from stackmedic.patterns.endpoints import service_for_host
from stackmedic.patterns.runtime import mount_for

MAX_CITED_LINES = 3

_IS_DIRECTORY = [
    re.compile(r"Is a directory: '(?P<path>[^']+)'"),
    re.compile(r'pread\(\) "(?P<path>[^"]+)" failed \(21: Is a directory\)'),
    re.compile(r"EISDIR: illegal operation on a directory, \w+ '(?P<path>[^']+)'"),
    re.compile(r"read (?P<path>/\S+): is a directory"),
    re.compile(r"(?P<path>/[\w./-]+): Is a directory"),
]
_ENGINE_MOUNT = [
    re.compile(r"bind source path does not exist: (?P<source>\S+)"),
    re.compile(r"error while creating mount source path '(?P<source>[^']+)'"),
    re.compile(r"Are you trying to mount a directory onto a file \(or vice-versa\)"),
    re.compile(r"not a directory: unknown: Are you trying to mount"),
]


def _is_directory_path(text: str) -> str | None:
    for pattern in _IS_DIRECTORY:
        match = pattern.search(text)
        if match is not None:
            return match.group("path")
    return None


def _looks_like_file(path: str) -> bool:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return "." in name.lstrip(".") or name.startswith(".")


class BindMountSourceMissing:
    """A bind mount's host path did not exist, so the container got a directory or nothing.

    Symptom: the program fails with "Is a directory" on a file path that a
    bind mount targets (`IsADirectoryError: [Errno 21] Is a directory:
    '/etc/app/config.yml'`, nginx's `pread() "/etc/nginx/nginx.conf" failed
    (21: Is a directory)`): Docker creates a missing host path as an empty
    directory. Or the engine refuses to start the container: "bind source
    path does not exist", "Are you trying to mount a directory onto a file".

    Remedy: create the host file before `docker compose up` (and delete the
    empty directory Docker made in its place), or correct the mount's source
    path, which is relative to the compose file.
    """

    code: ClassVar[str] = "BIND_MOUNT_SOURCE_MISSING"
    summary: ClassVar[str] = "A bind mount's host path does not exist"
    category: ClassVar[Category] = Category.RUNTIME
    reads: ClassVar[frozenset[str]] = frozenset({LOG, COMPOSE, STATE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        evidence = context.evidence
        findings = []
        for service, containers in sorted(containers_by_service(evidence).items()):
            found: dict[str, list[EvidenceRef]] = {}
            mounts: dict[str, tuple[str, str]] = {}
            for container in containers:
                self._from_logs(evidence, service, container, found, mounts)
                self._from_engine(evidence, service, container, found, mounts)
            for target, refs in sorted(found.items()):
                findings.append(self._finding(context, service, target, mounts.get(target), refs))
        return findings

    @staticmethod
    def _from_logs(
        evidence: Evidence,
        service: str,
        container: ContainerEvidence,
        found: dict[str, list[EvidenceRef]],
        mounts: dict[str, tuple[str, str]],
    ) -> None:
        for index in candidate_lines(container, *_IS_DIRECTORY):
            line = container.logs[index]
            path = _is_directory_path(line.text)
            if path is None:
                continue
            mount = mount_for(evidence, service, path)
            if mount is None or mount[1].rstrip("/") != path.rstrip("/"):
                continue
            if not _looks_like_file(mount[0]) and not _looks_like_file(path):
                continue
            found.setdefault(path, []).append(log_ref(container, line))
            mounts[path] = mount

    @staticmethod
    def _from_engine(
        evidence: Evidence,
        service: str,
        container: ContainerEvidence,
        found: dict[str, list[EvidenceRef]],
        mounts: dict[str, tuple[str, str]],
    ) -> None:
        texts = [container.error] if container.error else []
        texts += [w for w in evidence.warnings if container.name in w or f" {service} " in w]
        for text in texts:
            for pattern in _ENGINE_MOUNT:
                match = pattern.search(text)
                if match is None:
                    continue
                source = match.groupdict().get("source")
                target = source or "?"
                for entry in evidence.services.get(service, {}).get("volumes") or []:
                    if (
                        isinstance(entry, dict)
                        and source
                        and str(entry.get("source", "")).endswith(source.rsplit("/", 1)[-1])
                    ):
                        target = str(entry.get("target"))
                        mounts[target] = (str(entry.get("source")), target)
                found.setdefault(target, []).append(state_ref(container))
                break

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        target: str,
        mount: tuple[str, str] | None,
        refs: list[EvidenceRef],
    ) -> Finding:
        evidence = context.evidence
        source = mount[0] if mount else None
        facts: dict[str, Any] = {
            "target": target,
            "source": source,
            "occurrences": len(refs),
        }
        all_refs = refs[:MAX_CITED_LINES] + [compose_ref(evidence, service, "volumes")]
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.HUMAN,
            confidence=0.9 if mount is not None else 0.75,
            facts=facts,
            evidence=all_refs,
            recommendation=advice(
                "BIND_MOUNT_SOURCE_MISSING.recommendation",
                source=either(source, "BIND_MOUNT_SOURCE_MISSING.the_source"),
                target=target,
            ),
        )


_DISK_FULL = re.compile(
    r"No space left on device|ENOSPC|Disk quota exceeded|could not extend file|"
    r"MISCONF Redis is configured to save RDB snapshots|disk full",
    re.IGNORECASE,
)
_WRITE_PATH = re.compile(
    r'(?:write to|extend) file "(?P<quoted>[^"]+)"|'
    r"(?:open|write|mkdir|create) '?(?P<plain>/[\w./-]+)'?"
)


def _disk_full_lines(container: ContainerEvidence) -> list[int]:
    lines = candidate_lines(container, _DISK_FULL)
    return [index for index in lines if _DISK_FULL.search(container.logs[index].text)]


class DiskFull:
    """A write failed because the filesystem under the container is full.

    Symptom: "No space left on device" (ENOSPC), PostgreSQL's "could not
    extend file", "Disk quota exceeded", Redis' "MISCONF ... unable to
    persist to disk".

    Remedy: free space where Docker keeps its data (`docker system df`,
    then prune unused images, build cache and volumes you no longer need),
    or give the volume or tmpfs more room. No edit is proposed: what may be
    deleted is the operator's decision.
    """

    code: ClassVar[str] = "DISK_FULL"
    summary: ClassVar[str] = "A write failed because the disk is full"
    category: ClassVar[Category] = Category.RUNTIME
    reads: ClassVar[frozenset[str]] = frozenset({LOG, COMPOSE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        evidence = context.evidence
        findings = []
        for service, containers in sorted(containers_by_service(evidence).items()):
            hits: list[tuple[ContainerEvidence, LogLine]] = [
                (c, c.logs[i]) for c in containers for i in _disk_full_lines(c)
            ]
            if not hits:
                continue
            # A client that only relays the server's MISCONF reply is not where the disk is full.
            if all("MISCONF" in l.text for _, l in hits) and self._relayed(evidence, service):
                continue
            findings.append(self._finding(context, service, hits))
        return findings

    @staticmethod
    def _relayed(evidence: Evidence, service: str) -> bool:
        return any(
            service_for_host(evidence, name) not in (None, service) for name in ("redis", "cache")
        )

    def _finding(
        self, context: AnalysisContext, service: str, hits: list[tuple[ContainerEvidence, LogLine]]
    ) -> Finding:
        evidence = context.evidence
        path = None
        for _, line in hits:
            match = _WRITE_PATH.search(line.text)
            if match is not None:
                path = match.group("quoted") or match.group("plain")
                break
        mount = mount_for(evidence, service, path) if path and path.startswith("/") else None
        facts: dict[str, Any] = {
            "path": path,
            "volume": mount[0] if mount else None,
            "occurrences": len(hits),
        }
        refs = [log_ref(c, l) for c, l in hits[:MAX_CITED_LINES]]
        if mount is not None:
            refs.append(compose_ref(evidence, service, "volumes"))
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.HUMAN,
            confidence=0.9,
            facts=facts,
            evidence=refs,
            recommendation=advice(
                "DISK_FULL.recommendation",
                service=service,
                volume=advice("DISK_FULL.volume", volume=mount[0]) if mount else NO_TEXT,
            ),
        )
