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
    late = finding("F1", "CRASH_EXIT", "worker", 50)
    early = finding("F2", "KEY_ERROR", "api", 10)
    tie_low = finding("F3", "PERMISSION_DENIED", "db", 30, confidence=0.6)
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
    # Generic and unobserved findings share a tier, so time alone orders these three.
    timed = finding("F3", "CRASH_EXIT", "worker", 20)
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


# --- causes across services and within one service -------------------------------------------


def test_database_that_never_started_leads_its_clients_failures() -> None:
    built = evidence(
        {"db": {}, "api": {"depends_on": ["db"]}, "web": {"depends_on": ["api"]}},
        [
            container("p-db-1", "db", state="exited", exit_code=1),
            container("p-api-1", "api", state="exited", exit_code=1),
        ],
    )
    db_root = finding("F1", "DATA_DIR_INCOMPATIBLE", "db", 1)
    db_exit = finding("F2", "RESTART_LOOP", "db", 2)
    api_refused = finding("F3", "CONNECTION_REFUSED", "api", 3, peer_service="db", target="db:5432")
    api_waits = finding("F4", "DEPENDENCY_NOT_READY", "api", dependencies=["db"])
    api_exit = finding("F5", "CRASH_EXIT", "api", 4)
    ordered = order_findings([api_exit, api_waits, api_refused, db_exit, db_root], built)

    assert ordered[0].id == "F1"
    assert db_exit.caused_by == "F1"
    assert api_refused.caused_by == "F1"
    assert api_waits.caused_by == "F1"
    # A specific finding on the same service is preferred over a generic refusal.
    assert api_exit.caused_by == "F4"


def test_readiness_finding_explains_refusals_of_a_running_dependency() -> None:
    built = evidence(
        {"db": {}, "api": {"depends_on": ["db"]}},
        [container("p-db-1", "db"), container("p-api-1", "api", state="exited", exit_code=1)],
    )
    waits = finding("F1", "DEPENDENCY_NOT_READY", "api", 1, dependencies=["db"])
    refused = finding("F2", "CONNECTION_REFUSED", "api", 1, peer_service="db", target="db:5432")
    exited = finding("F3", "CRASH_EXIT", "api", 2)
    ordered = order_findings([exited, refused, waits], built)

    assert [f.id for f in ordered] == ["F1", "F2", "F3"]
    assert refused.caused_by == "F1"
    assert exited.caused_by == "F1"


def test_address_finding_explains_refusal_to_same_target() -> None:
    peer = finding(
        "F1", "LOCALHOST_PEER", "web", 2, host="127.0.0.1", port=5432, peer_service="postgres"
    )
    refused = finding(
        "F2", "CONNECTION_REFUSED", "web", 1, target="127.0.0.1:5432", peer_service=None
    )
    order_findings([refused, peer], stack())

    assert refused.caused_by == "F1"


def test_refusal_without_address_follows_the_only_address_finding() -> None:
    peer = finding("F1", "LOCALHOST_PEER", "indexer", 2, host="localhost", port=9092)
    refused = finding("F2", "CONNECTION_REFUSED", "indexer", 1, target=None, peer_service=None)
    order_findings([refused, peer], stack())

    assert refused.caused_by == "F1"


def test_exception_with_same_log_line_follows_specific_finding() -> None:
    config = finding("F1", "CONFIG_FILE_NOT_FOUND", "api", 5)
    exception = finding("F2", "PYTHON_EXCEPTION", "api", 5)
    unrelated = finding("F3", "PYTHON_EXCEPTION", "api", 9)
    unrelated.evidence[0].line = 40
    order_findings([exception, unrelated, config], stack())

    assert exception.caused_by == "F1"
    assert unrelated.caused_by is None


def test_code_fault_of_running_peer_does_not_explain_refusal() -> None:
    built = evidence({"api": {}, "worker": {"depends_on": ["api"]}}, [container("p-api-1", "api")])
    refused = finding("F1", "CONNECTION_REFUSED", "worker", 5, peer_service="api")
    fault = finding("F2", "GO_PANIC", "api", 1)
    order_findings([refused, fault], built)

    assert refused.caused_by is None


def test_code_fault_of_stopped_peer_explains_refusal() -> None:
    built = evidence(
        {"api": {}, "worker": {"depends_on": ["api"]}},
        [container("p-api-1", "api", state="exited", exit_code=2)],
    )
    refused = finding("F1", "CONNECTION_REFUSED", "worker", 5, peer_service="api")
    fault = finding("F2", "GO_PANIC", "api", 1)
    order_findings([refused, fault], built)

    assert refused.caused_by == "F2"


def test_observed_faults_lead_risks_seen_only_in_configuration() -> None:
    risk = Finding(
        "F1",
        "DEPENDENCY_NOT_READY",
        "api",
        "x",
        0.55,
        Category.STARTUP,
        Fixability.COMPOSE,
        evidence=[EvidenceRef("compose", "compose.yaml", "depends_on")],
    )
    fault = finding("F2", "KEY_ERROR", "api", 90)
    uncertain = finding("F3", "MISSING_ENV", "worker", 1, confidence=0.3)
    ordered = order_findings([uncertain, risk, fault], stack())

    assert [f.id for f in ordered] == ["F2", "F1", "F3"]
