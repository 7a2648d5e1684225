"""Causal ordering of findings: root causes first, each followed by its consequences.

Links set `Finding.caused_by`, in this order (a link that is already set is
kept, and a link that would close a cycle is not made):

1. explicit: an ENDPOINT_MISMATCH (else a MISSING_ENV) on a service causes a
   STARTUP_HANG on the same service. A finding that names the faulty
   address (ENDPOINT_MISMATCH, LOCALHOST_PEER, HOST_NOT_RESOLVED,
   PORT_NOT_LISTENING) causes a CONNECTION_REFUSED of the same service. A
   TABLE_MISSING follows the failure of the migration service that should
   have created the table;
2. along depends_on: a hang, refused connection or start-order finding of a
   service that points at a peer (or, when it names none, at a dependency)
   is a consequence of a finding that makes that peer unavailable (crash,
   restart loop, hang, ...); a code fault of the peer counts only when the
   peer is not running;
3. same service: an exit or a restart loop follows the most certain
   specific finding on its service; a refused connection follows a
   DEPENDENCY_NOT_READY for the same peer; an uncaught exception follows a
   specific finding that cites the same log line.

Roots are then ordered by tier (observed specific faults; then generic
symptoms and risks seen only in configuration or source; then findings
under 0.5 confidence), by the time of their first evidence and by
confidence; each root is followed by its consequences. The order is
deterministic for the same input.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from stackmedic.evidence.model import Evidence
from stackmedic.model import Finding
from stackmedic.patterns.common import earliest_time, line_time, parse_time

# Findings that describe a service waiting on, or failing to reach, a peer.
SYMPTOM_CODES = {"STARTUP_HANG", "CONNECTION_REFUSED", "DEPENDENCY_NOT_READY"}

# Findings that make their service unavailable to the services that use it.
UNAVAILABLE_CODES = {
    "CRASH_EXIT",
    "OOM_KILLED",
    "SIGNAL_KILLED",
    "RESTART_LOOP",
    "STARTUP_HANG",
    "EXEC_FORMAT_ERROR",
    "ENTRYPOINT_CRLF",
    "ENTRYPOINT_NOT_EXECUTABLE",
    "BIND_LOCALHOST",
    "PORT_ALREADY_ALLOCATED",
    "MODULE_NOT_FOUND",
    "NODE_MODULE_NOT_FOUND",
    "PERMISSION_DENIED",
    "CONNECTION_REFUSED",
    "MISSING_ENV",
    "COMPOSE_VARIABLE_UNSET",
    "CONFIG_FILE_NOT_FOUND",
    "BIND_MOUNT_SOURCE_MISSING",
    "DISK_FULL",
    "DATA_DIR_INCOMPATIBLE",
    "SLOW_START",
    "HEALTHCHECK_MISCONFIGURED",
}
# Faults in code that make a peer unavailable only when they stopped it.
CODE_FAULT_CODES = {
    "PYTHON_EXCEPTION",
    "KEY_ERROR",
    "MISSING_ATTRIBUTE",
    "NODE_EXCEPTION",
    "JAVA_EXCEPTION",
    "GO_PANIC",
    "DB_AUTH_FAILED",
    "DATABASE_MISSING",
    "TABLE_MISSING",
    "REDIS_AUTH_FAILED",
    "TLS_CERTIFICATE_ERROR",
    "HOST_NOT_RESOLVED",
    "LOCALHOST_PEER",
    "PORT_NOT_LISTENING",
    "ENDPOINT_MISMATCH",
}
# Symptoms that a more specific finding on the same service explains.
GENERIC_CODES = {"CRASH_EXIT", "RESTART_LOOP", "CONNECTION_REFUSED"}
# Uncaught exceptions: explained by a specific finding that cites the same log line.
EXCEPTION_CODES = {"PYTHON_EXCEPTION", "NODE_EXCEPTION", "JAVA_EXCEPTION", "GO_PANIC"}
# Findings that name the address a refused connection went to.
ADDRESS_CODES = ("ENDPOINT_MISMATCH", "LOCALHOST_PEER", "HOST_NOT_RESOLVED", "PORT_NOT_LISTENING")
# Evidence kinds that show something happened, as opposed to configuration and source.
OBSERVED_KINDS = {"log", "state", "health", "check"}
# A finding below this confidence is never named as another's cause, and is ordered last.
MIN_CAUSE_CONFIDENCE = 0.5

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
    _link_same_service(findings, by_id)
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
            cause = _address_cause(finding, findings)
            if cause is not None:
                _link(finding, cause, by_id)
        elif finding.code == "TABLE_MISSING":
            for service in finding.facts.get("failed_migrations") or []:
                root = _service_root(service, findings, by_id)
                if root is not None and _link(finding, root, by_id):
                    break


def _address_cause(refused: Finding, findings: list[Finding]) -> Finding | None:
    """Return the finding on the same service that explains where a refused connection went."""
    peer = refused.facts.get("peer_service")
    target = refused.facts.get("target")
    host = str(target).rsplit(":", 1)[0] if target else None
    candidates = []
    for cause in findings:
        if cause.service != refused.service or cause.id == refused.id:
            continue
        if cause.code in ADDRESS_CODES:
            same_peer = peer is not None and cause.facts.get("peer_service") == peer
            same_target = target is not None and cause.facts.get("target") == target
            same_host = host is not None and cause.facts.get("host") == host
            if same_peer or same_target or same_host:
                candidates.append(cause)
    if not candidates and peer is None and target is None:
        # A failure that names no address: the one address finding of the service explains it.
        candidates = [
            c for c in findings if c.service == refused.service and c.code in ADDRESS_CODES
        ]
        if len({c.code for c in candidates}) != 1:
            candidates = []
    if candidates:
        return min(candidates, key=lambda c: (ADDRESS_CODES.index(c.code), -c.confidence, c.id))
    return None


def _service_root(
    service: str, findings: list[Finding], by_id: dict[str, Finding]
) -> Finding | None:
    """Return the most certain finding of a service that is not itself a consequence."""
    own = [f for f in findings if f.service == service and f.confidence >= MIN_CAUSE_CONFIDENCE]
    specific = [f for f in own if f.code not in GENERIC_CODES]
    pool = specific or own
    roots = [f for f in pool if f.caused_by is None or f.caused_by not in by_id]
    pool = roots or pool
    return min(pool, key=lambda f: (-f.confidence, f.code, f.id)) if pool else None


def _link_dependencies(
    findings: list[Finding], evidence: Evidence, by_id: dict[str, Finding]
) -> None:
    # Latest symptoms first: when two symptoms point at each other, the later
    # one becomes the consequence of the earlier one.
    for finding in sorted(findings, key=_sort_key(evidence), reverse=True):
        if finding.code not in SYMPTOM_CODES or finding.caused_by is not None:
            continue
        peers = _peers_of(finding, evidence)
        if finding.code == "DEPENDENCY_NOT_READY":
            # Waiting on a dependency matters less than the dependency never starting.
            peers = [p for p in peers if not _running(evidence, p)]
        causes = [
            f
            for f in findings
            if f.service in peers
            and f.service != finding.service
            and f.confidence >= MIN_CAUSE_CONFIDENCE
            and (
                f.code in UNAVAILABLE_CODES
                or (f.code in CODE_FAULT_CODES and not _running(evidence, f.service))
            )
        ]
        # Prefer a cause that is itself a root, then a specific one, then the most certain.
        causes.sort(
            key=lambda f: (
                f.caused_by is not None,
                f.code in GENERIC_CODES,
                -f.confidence,
                f.code,
                f.id,
            )
        )
        for cause in causes:
            if _link(finding, cause, by_id):
                break


def _peers_of(finding: Finding, evidence: Evidence) -> list[str]:
    if finding.code == "DEPENDENCY_NOT_READY":
        return [str(d) for d in finding.facts.get("dependencies") or []]
    peer = finding.facts.get("peer_service")
    return [str(peer)] if peer else evidence.depends_on(finding.service)


def _running(evidence: Evidence, service: str) -> bool:
    """Tell whether a service has a running container; unknown state counts as running."""
    containers = evidence.containers_of(service)
    if not containers:
        return True
    return any(c.is_running or c.state == "unknown" for c in containers)


def _link_same_service(findings: list[Finding], by_id: dict[str, Finding]) -> None:
    """Put generic symptoms and uncaught exceptions under the specific finding of their service."""
    for finding in sorted(findings, key=lambda f: f.id):
        if finding.caused_by is not None:
            continue
        if finding.code == "CONNECTION_REFUSED":
            peer = finding.facts.get("peer_service")
            causes = [
                c
                for c in findings
                if c.service == finding.service
                and c.code == "DEPENDENCY_NOT_READY"
                and peer in (c.facts.get("dependencies") or [])
            ]
        elif finding.code in GENERIC_CODES:
            same = [
                c
                for c in findings
                if c.service == finding.service
                and c.id != finding.id
                and c.confidence >= MIN_CAUSE_CONFIDENCE
            ]
            # An exit after failed connections follows them when nothing more specific is known.
            causes = [c for c in same if c.code not in GENERIC_CODES] or [
                c for c in same if c.code == "CONNECTION_REFUSED"
            ]
        elif finding.code in EXCEPTION_CODES:
            lines = _cited_lines(finding)
            causes = [
                c
                for c in findings
                if c.service == finding.service
                and c.id != finding.id
                and c.code not in GENERIC_CODES | EXCEPTION_CODES
                and _cited_lines(c) & lines
            ]
        else:
            continue
        # The cause that is a root, with the most certainty, wins.
        causes.sort(
            key=lambda c: (c.caused_by is not None, c.code in EXCEPTION_CODES, -c.confidence, c.id)
        )
        for cause in causes:
            if _link(finding, cause, by_id):
                break


def _cited_lines(finding: Finding) -> set[tuple[str, int]]:
    return {
        (ref.origin, ref.line)
        for ref in finding.evidence
        if ref.kind == "log" and ref.line is not None
    }


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


def _tier(finding: Finding) -> int:
    """Rank a root: observed specific faults first, then generic symptoms and latent risks, then uncertain findings.

    A finding is observed when it cites a log line, a container state, a
    health probe or a check. One that cites only configuration and source,
    such as a depends_on without a condition, is a risk until something fails.
    """
    if finding.confidence < MIN_CAUSE_CONFIDENCE:
        return 2
    if finding.code in GENERIC_CODES or not _observed(finding):
        return 1
    return 0


def _observed(finding: Finding) -> bool:
    return any(ref.kind in OBSERVED_KINDS for ref in finding.evidence)


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

    for root in sorted(roots, key=lambda f: (_tier(f), key(f))):
        place(root)
    # Findings whose caused_by links form a cycle given by the caller have no root.
    for finding in sorted(findings, key=key):
        place(finding)
    return ordered
