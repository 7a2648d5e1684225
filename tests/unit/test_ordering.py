"""Causal ordering: caused_by links and root-cause-first order."""

from __future__ import annotations

import random
from typing import Any

from evidence_builders import at, container, evidence, logs

from stackmedic.analysis.ordering import order_findings
from stackmedic.evidence.model import Evidence
from stackmedic.model import Category, EvidenceRef, Finding, Fixability


def finding(
    id: str,
    code: str,
    service: str,
    seconds: float | None = None,
    confidence: float = 0.8,
    **facts: Any,
) -> Finding:
    refs = []
    if seconds is not None:
        refs.append(EvidenceRef("log", f"p-{service}-1", "line", 1, at(seconds)))
    return Finding(
        id,
        code,
        service,
        f"{code} on {service}",
        confidence,
        Category.RUNTIME,
        Fixability.HUMAN,
        evidence=refs,
        facts=dict(facts),
    )


def stack() -> Evidence:
    return evidence(
        {
            "db": {},
            "api": {"depends_on": ["db"]},
            "worker": {"depends_on": ["api"]},
        }
    )


def test_endpoint_mismatch_causes_hang_on_same_service() -> None:
    hang = finding("F1", "STARTUP_HANG", "worker", 5, endpoint="tcp://api:5555", peer_service="api")
    mismatch = finding("F2", "ENDPOINT_MISMATCH", "worker", 30, endpoint="tcp://api:5555")
    ordered = order_findings([hang, mismatch], stack())
    assert hang.caused_by == "F2"
    assert mismatch.caused_by is None
    assert [f.id for f in ordered] == ["F2", "F1"]


def test_hang_cause_prefers_mismatch() -> None:
    hang = finding("F1", "STARTUP_HANG", "worker", 5, endpoint="tcp://api:5555")
    missing = finding("F2", "MISSING_ENV", "worker", confidence=0.3, endpoint="tcp://api:5555")
    mismatch = finding("F3", "ENDPOINT_MISMATCH", "worker", 30, endpoint="tcp://api:5555")
    order_findings([hang, missing, mismatch], stack())
    assert hang.caused_by == "F3"
    assert missing.caused_by is None


def test_missing_env_causes_hang_when_no_mismatch() -> None:
    hang = finding("F1", "STARTUP_HANG", "worker", 5)
    missing = finding("F2", "MISSING_ENV", "worker")
    order_findings([hang, missing], stack())
    assert hang.caused_by == "F2"


def test_findings_on_other_services_are_not_explicit_causes() -> None:
    hang = finding("F1", "STARTUP_HANG", "worker", 5)
    mismatch = finding("F2", "ENDPOINT_MISMATCH", "api", 1)
    order_findings([hang, mismatch], stack())
    assert hang.caused_by is None


def test_refused_connection_follows_crash_of_its_peer() -> None:
    refused = finding("F1", "CONNECTION_REFUSED", "api", 3, peer_service="db")
    crash = finding("F2", "CRASH_EXIT", "db", 10)
    other = finding("F3", "KEY_ERROR", "worker", 1)
    ordered = order_findings([refused, crash, other], stack())
    assert refused.caused_by == "F2"
    assert [f.id for f in ordered] == ["F3", "F2", "F1"]


def test_hang_without_peer_follows_unavailable_dependency() -> None:
    hang = finding("F1", "STARTUP_HANG", "worker", 5)
    loop = finding("F2", "RESTART_LOOP", "api", 20)
    order_findings([hang, loop], stack())
    assert hang.caused_by == "F2"


def test_code_fault_of_dependency_does_not_cause_hang() -> None:
    # A KeyError in one API handler does not stop the API from answering.
    hang = finding("F1", "STARTUP_HANG", "worker", 5, peer_service="api")
    key_error = finding("F2", "KEY_ERROR", "api", 1)
    order_findings([hang, key_error], stack())
    assert hang.caused_by is None


def test_chain_prefers_root_cause_of_dependency() -> None:
    worker_refused = finding("F1", "CONNECTION_REFUSED", "worker", 9, peer_service="api")
    api_refused = finding("F2", "CONNECTION_REFUSED", "api", 5, peer_service="db")
    db_oom = finding("F3", "OOM_KILLED", "db", 2)
    ordered = order_findings([worker_refused, api_refused, db_oom], stack())
    assert api_refused.caused_by == "F3"
    assert worker_refused.caused_by == "F2"
    assert [f.id for f in ordered] == ["F3", "F2", "F1"]


def test_mutual_symptoms_do_not_form_a_cycle() -> None:
    built = evidence({"a": {"depends_on": ["b"]}, "b": {"depends_on": ["a"]}})
    first = finding("F1", "STARTUP_HANG", "a", 1, peer_service="b")
    second = finding("F2", "STARTUP_HANG", "b", 2, peer_service="a")
    ordered = order_findings([first, second], built)
    assert second.caused_by == "F1"
    assert first.caused_by is None
    assert [f.id for f in ordered] == ["F1", "F2"]


def test_given_caused_by_is_kept() -> None:
    hang = finding("F1", "STARTUP_HANG", "worker", 5)
    hang.caused_by = "F9"
    mismatch = finding("F2", "ENDPOINT_MISMATCH", "worker", 30)
    ordered = order_findings([hang, mismatch], stack())
    assert hang.caused_by == "F9"
    # F9 is not among the findings, so the hang is ordered as a root.
    assert [f.id for f in ordered] == ["F1", "F2"]


def test_roots_are_ordered_by_first_evidence_time_then_confidence() -> None:
    late = finding("F1", "CRASH_EXIT", "api", 50)
    early = finding("F2", "KEY_ERROR", "api", 10)
    tie_low = finding("F3", "PERMISSION_DENIED", "db", 30, confidence=0.4)
    tie_high = finding("F4", "OOM_KILLED", "db", 30, confidence=0.9)
    ordered = order_findings([late, early, tie_low, tie_high], stack())
    assert [f.id for f in ordered] == ["F2", "F4", "F3", "F1"]


def test_finding_without_timed_evidence_takes_its_service_start() -> None:
    built = evidence(
        {"db": {}, "api": {}},
        [
            container("p-db-1", "db", lines=logs("ready", start=40.0)),
            container("p-api-1", "api", lines=logs("starting", start=5.0)),
        ],
    )
    static_db = finding("F1", "DEPENDENCY_NOT_READY", "db")
    static_api = finding("F2", "DEPENDENCY_NOT_READY", "api")
    timed = finding("F3", "CRASH_EXIT", "db", 20)
    ordered = order_findings([static_db, timed, static_api], built)
    assert [f.id for f in ordered] == ["F2", "F3", "F1"]


def test_order_is_the_same_for_any_input_order() -> None:
    def build() -> list[Finding]:
        return [
            finding("F1", "STARTUP_HANG", "worker", 5, peer_service="api"),
            finding("F2", "ENDPOINT_MISMATCH", "worker", 30),
            finding("F3", "CRASH_EXIT", "db", 10),
            finding("F4", "CONNECTION_REFUSED", "api", 12, peer_service="db"),
            finding("F5", "KEY_ERROR", "api", 12),
            finding("F6", "DEPENDENCY_NOT_READY", "worker"),
        ]

    expected = [f.id for f in order_findings(build(), stack())]
    shuffler = random.Random(7)
    for _ in range(10):
        findings = build()
        shuffler.shuffle(findings)
        assert [f.id for f in order_findings(findings, stack())] == expected
