"""Causal ordering of findings: root causes first, each followed by its consequences.

Two kinds of link set `Finding.caused_by`:

- explicit: an ENDPOINT_MISMATCH (else a MISSING_ENV) on a service causes a
  STARTUP_HANG on the same service, and an ENDPOINT_MISMATCH causes a
  CONNECTION_REFUSED of the same service towards the same peer;
- along depends_on: a hang or refused connection of a service that points at
  a peer (or, when it names none, at a dependency) is a consequence of a
  finding that makes that peer unavailable (crash, restart loop, hang, ...).

Findings are then sorted by the time of their first evidence; the order is
deterministic for the same input.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from stackmedic.evidence.model import Evidence
from stackmedic.model import Finding
from stackmedic.patterns.common import earliest_time, line_time, parse_time

# Findings that describe a service waiting on, or failing to reach, a peer.
SYMPTOM_CODES = {"STARTUP_HANG", "CONNECTION_REFUSED"}

# Findings that make their service unavailable to the services that use it.
UNAVAILABLE_CODES = {
    "CRASH_EXIT",
    "OOM_KILLED",
    "SIGNAL_KILLED",
    "RESTART_LOOP",
    "STARTUP_HANG",
    "EXEC_FORMAT_ERROR",
    "ENTRYPOINT_CRLF",
    "BIND_LOCALHOST",
    "PORT_ALREADY_ALLOCATED",
    "MODULE_NOT_FOUND",
    "PERMISSION_DENIED",
    "CONNECTION_REFUSED",
    "MISSING_ENV",
}

# For a hang, which finding on the same service to name as its cause, best first.
_HANG_CAUSES = ("ENDPOINT_MISMATCH", "MISSING_ENV")


def order_findings(findings: list[Finding], evidence: Evidence) -> list[Finding]:
    """Link consequences to their causes and return the findings root causes first.

    A `caused_by` already set is kept. A link that would close a cycle is not
    made.
    """
    by_id = {finding.id: finding for finding in findings}
    _link_explicit(findings, by_id)
    _link_dependencies(findings, evidence, by_id)
    return _causal_order(findings, evidence, by_id)


def _would_cycle(finding: Finding, cause: Finding, by_id: dict[str, Finding]) -> bool:
    current: Finding | None = cause
    seen: set[str] = set()
    while current is not None and current.id not in seen:
        if current.id == finding.id:
            return True
        seen.add(current.id)
        current = by_id.get(current.caused_by) if current.caused_by else None
    return current is not None


def _link(finding: Finding, cause: Finding, by_id: dict[str, Finding]) -> bool:
    if finding.caused_by is not None or cause.id == finding.id:
        return False
    if _would_cycle(finding, cause, by_id):
        return False
    finding.caused_by = cause.id
    return True


def _hang_cause_rank(cause: Finding, hang: Finding) -> tuple[int, int, float]:
    """Rank candidate causes: mismatches first, then those on the hang's endpoint."""
    kind = _HANG_CAUSES.index(cause.code)
    endpoint = hang.facts.get("endpoint")
    same_endpoint = 0 if endpoint and cause.facts.get("endpoint") == endpoint else 1
    return kind, same_endpoint, -cause.confidence


def _link_explicit(findings: list[Finding], by_id: dict[str, Finding]) -> None:
    for finding in findings:
        if finding.code == "STARTUP_HANG":
            causes = [
                f for f in findings if f.service == finding.service and f.code in _HANG_CAUSES
            ]
            if causes:
                best = min(causes, key=lambda cause: (_hang_cause_rank(cause, finding), cause.id))
                _link(finding, best, by_id)
        elif finding.code == "CONNECTION_REFUSED":
            peer = finding.facts.get("peer_service")
            for cause in findings:
                if (
                    cause.code == "ENDPOINT_MISMATCH"
                    and cause.service == finding.service
                    and peer is not None
                    and cause.facts.get("peer_service") == peer
                ):
                    _link(finding, cause, by_id)
                    break


def _link_dependencies(
    findings: list[Finding], evidence: Evidence, by_id: dict[str, Finding]
) -> None:
    # Latest symptoms first: when two symptoms point at each other, the later
    # one becomes the consequence of the earlier one.
    for finding in sorted(findings, key=_sort_key(evidence), reverse=True):
        if finding.code not in SYMPTOM_CODES or finding.caused_by is not None:
            continue
        peer = finding.facts.get("peer_service")
        peers = [str(peer)] if peer else evidence.depends_on(finding.service)
        causes = [
            f
            for f in findings
            if f.service in peers and f.service != finding.service and f.code in UNAVAILABLE_CODES
        ]
        # Prefer a cause that is itself a root, then the most certain one.
        causes.sort(key=lambda f: (f.caused_by is not None, -f.confidence, f.code, f.id))
        for cause in causes:
            if _link(finding, cause, by_id):
                break


def _first_time(finding: Finding, evidence: Evidence) -> dt.datetime:
    """Return when the finding's first evidence was logged.

    Findings that cite no timed evidence (compose and source only) take the
    time their service's first log line was written, else the collection time.
    """
    cited = earliest_time(finding.evidence)
    if cited is not None:
        return cited
    started = [
        t
        for container in evidence.containers_of(finding.service)
        for t in (line_time(container.logs[0]) if container.logs else None,)
        if t is not None
    ]
    if started:
        return min(started)
    collected = parse_time(evidence.collected_at)
    return collected or dt.datetime.max.replace(tzinfo=dt.UTC)


def _sort_key(evidence: Evidence) -> Callable[[Finding], tuple[dt.datetime, float, str, str, str]]:
    def key(finding: Finding) -> tuple[dt.datetime, float, str, str, str]:
        return (
            _first_time(finding, evidence),
            -finding.confidence,
            finding.code,
            finding.service,
            finding.id,
        )

    return key


def _causal_order(
    findings: list[Finding], evidence: Evidence, by_id: dict[str, Finding]
) -> list[Finding]:
    key = _sort_key(evidence)
    children: dict[str, list[Finding]] = {}
    roots = []
    for finding in findings:
        if finding.caused_by is not None and finding.caused_by in by_id:
            children.setdefault(finding.caused_by, []).append(finding)
        else:
            roots.append(finding)

    ordered: list[Finding] = []
    placed: set[str] = set()

    def place(finding: Finding) -> None:
        if finding.id in placed:
            return
        placed.add(finding.id)
        ordered.append(finding)
        for child in sorted(children.get(finding.id, []), key=key):
            place(child)

    for root in sorted(roots, key=key):
        place(root)
    # Findings whose caused_by links form a cycle given by the caller have no root.
    for finding in sorted(findings, key=key):
        place(finding)
    return ordered
