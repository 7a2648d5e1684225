"""The whole analysis on recorded-style evidence of the broken bundled sample.

The fixture `fixtures/evidence/tacoreservice_broken` contains the resolved
compose config, four containers (redis, the main service and two worker
replicas) with their logs and health probes, and the build context's files.
Source facts are extracted from those files, as in a real run.
"""

from __future__ import annotations

import pytest
from evidence_builders import load_evidence

from stackmedic.analysis import AnalysisResult, analyse
from stackmedic.model import Finding

WORKER = "tacoreservice-worker"
MAIN = "tacoreservice"


@pytest.fixture(scope="module")
def result() -> AnalysisResult:
    return analyse(load_evidence("tacoreservice_broken"))


def only(result: AnalysisResult, code: str, service: str) -> Finding:
    matches = [f for f in result.findings if f.code == code and f.service == service]
    assert len(matches) == 1, [(f.code, f.service) for f in result.findings]
    return matches[0]


def test_sample_analysis_has_no_warnings(result: AnalysisResult) -> None:
    assert result.warnings == []


def test_sample_hang_followed_into_worker_start(result: AnalysisResult) -> None:
    hang = only(result, "STARTUP_HANG", WORKER)
    assert hang.facts["last_line"] == "About to call worker.start()"
    assert hang.facts["containers"] == [
        "tacore-tacoreservice-worker-1",
        "tacore-tacoreservice-worker-2",
    ]
    assert hang.facts["log_site"] == "tacore/worker.py:83"
    assert hang.facts["call"] == "Worker.start"
    assert hang.facts["endpoint"] == "tcp://tacoreservice:5555"
    assert hang.facts["peer_service"] == MAIN
    assert "tcp://tacoreservice:5555" in hang.recommendation


# NOTE: source analysis counts a zmq.Poller anywhere in a class as bounding
# every receive of that class. Worker._serve polls, so the plain
# recv_multipart() in Worker.start is not reported as blocking. Remove this
# mark when a poll only counts in the receive's own function.
def test_sample_hang_located_at_recv(result: AnalysisResult) -> None:
    hang = only(result, "STARTUP_HANG", WORKER)
    assert hang.facts["blocking_call"] == "self.socket.recv_multipart()"
    assert hang.location is not None
    assert (hang.location.path, hang.location.line) == ("tacore/worker.py", 37)
    assert "recv_multipart" in (hang.location.snippet or "")
    assert "recv_multipart() after connecting to tcp://tacoreservice:5555" in hang.recommendation


def test_sample_endpoint_mismatch_proposes_backend_port(result: AnalysisResult) -> None:
    mismatch = only(result, "ENDPOINT_MISMATCH", WORKER)
    assert mismatch.facts["variable"] == "TACORESERVICE_BACKEND_PORT"
    assert mismatch.facts["code_default"] == "5555"
    assert mismatch.facts["expected"] == "5556"
    assert mismatch.facts["peer_service"] == MAIN
    assert mismatch.facts["peer_bind_line"].endswith("ZMQ backend bound to tcp://*:5556 (workers)")
    [repair] = mismatch.repairs
    assert repair.edit is not None
    assert (repair.edit.action, repair.edit.service) == ("set_env", WORKER)
    assert repair.edit.params == {"name": "TACORESERVICE_BACKEND_PORT", "value": "5556"}


def test_sample_missing_env_proposes_host_with_low_confidence(result: AnalysisResult) -> None:
    missing = only(result, "MISSING_ENV", WORKER)
    assert missing.facts["variable"] == "TACORESERVICE_HOST"
    assert missing.facts["code_default"] == "tacoreservice"
    assert missing.facts["proposed"] == "tacoreservice"
    assert missing.confidence <= 0.3
    assert missing.repairs[0].edit is not None
    assert missing.repairs[0].edit.params == {
        "name": "TACORESERVICE_HOST",
        "value": "tacoreservice",
    }


def test_sample_worker_healthcheck_is_replaced_by_dockerfile_one(result: AnalysisResult) -> None:
    health = only(result, "HEALTHCHECK_MISCONFIGURED", WORKER)
    assert health.facts["kind"] == "unserved_port"
    [repair] = health.repairs
    assert repair.edit is not None
    assert repair.edit.action == "set_healthcheck"
    assert repair.edit.params["test"] == ["CMD", "python", "-m", "tacore.worker_health"]
    assert repair.edit.params["source"] == "Dockerfile.worker:7 HEALTHCHECK"
    assert repair.edit.params["start_period"] == "10s"


def test_sample_dependencies_need_service_healthy(result: AnalysisResult) -> None:
    ready = only(result, "DEPENDENCY_NOT_READY", WORKER)
    assert ready.repairs[0].edit is not None
    assert ready.repairs[0].edit.params == {
        "conditions": {"tacoreservice": "service_healthy", "redis": "service_healthy"},
    }


def test_sample_key_error_closest_column(result: AnalysisResult) -> None:
    key_error = only(result, "KEY_ERROR", MAIN)
    assert key_error.facts["key"] == "last_seen"
    assert key_error.facts["table"] == "workers"
    assert key_error.facts["closest_column"] == "last_heartbeat"
    assert key_error.location is not None
    assert (key_error.location.path, key_error.location.line) == ("tacore/api.py", 33)


def test_sample_missing_attribute_location(
    result: AnalysisResult,
) -> None:
    missing = only(result, "MISSING_ATTRIBUTE", MAIN)
    assert missing.facts["class_name"] == "DatabaseManager"
    assert missing.facts["attribute"] == "record_service_metrics"
    assert missing.facts["closest_method"] is None
    assert missing.facts["class_location"] == "tacore/database.py:35"
    assert missing.location is not None
    assert (missing.location.path, missing.location.line) == ("tacore/main.py", 48)


def test_sample_findings_have_no_false_alarms(result: AnalysisResult) -> None:
    codes = {(f.code, f.service) for f in result.findings}
    # Redis and the main service are healthy and reachable; the main service
    # reconnected to Redis, so nothing about them beyond their code faults.
    assert not any(service == "redis" for _, service in codes)
    assert ("STARTUP_HANG", MAIN) not in codes
    assert ("HEALTHCHECK_MISCONFIGURED", MAIN) not in codes
    assert ("CONNECTION_REFUSED", MAIN) not in codes


def test_sample_mismatch_causes_hang(result: AnalysisResult) -> None:
    order = [f.code for f in result.findings if f.service == WORKER]
    mismatch = only(result, "ENDPOINT_MISMATCH", WORKER)
    hang = only(result, "STARTUP_HANG", WORKER)
    assert hang.caused_by == mismatch.id
    assert mismatch.caused_by is None
    assert order.index("ENDPOINT_MISMATCH") < order.index("STARTUP_HANG")
    position = [f.id for f in result.findings]
    assert position.index(hang.id) == position.index(mismatch.id) + 1


def test_sample_summaries_are_filled_from_facts(result: AnalysisResult) -> None:
    for finding in result.findings:
        assert finding.summary and not finding.summary.startswith("finding.")
        assert "{" not in finding.summary, finding.summary
