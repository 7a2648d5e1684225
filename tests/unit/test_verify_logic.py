"""Verdicts, regressions and JSON expectations, without an engine."""

import pytest

from stackmedic.model import CheckResult, ContainerSnapshot, Verdict
from stackmedic.verify.checks import evaluate_json_expectation
from stackmedic.verify.verdict import regressions, success_rate, verdict_of
from stackmedic.verify.wait import is_settled


def check(name: str, passed: bool) -> CheckResult:
    return CheckResult(name=name, type="http", passed=passed, detail="")


def container(service: str, state: str, exit_code: int = 0) -> ContainerSnapshot:
    return ContainerSnapshot(at="t", name=f"p-{service}-1", service=service, state=state,
                             health=None, exit_code=exit_code)


def test_verdict_needs_every_check_passing():
    assert verdict_of([check("a", True), check("b", True)]) == Verdict.HEALTHY
    assert verdict_of([check("a", True), check("b", False)]) == Verdict.PROBLEMS_REMAIN
    assert verdict_of([]) == Verdict.NOT_VERIFIED


def test_success_rate_counts_checks_only():
    assert success_rate([check("a", True), check("b", False), check("c", False)]) == pytest.approx(1 / 3)
    assert success_rate([]) is None


def test_regression_when_passing_check_fails():
    reasons = regressions([check("a", True), check("b", False)], [check("a", False), check("b", True)], [], [])

    assert len(reasons) == 1
    assert "check a passed before" in reasons[0]


def test_regression_when_running_service_crashes():
    reasons = regressions([], [], [container("web", "running")], [container("web", "exited", 1)])

    assert reasons == ["service web ran before and now crashes (p-web-1)"]


def test_no_regression_when_exit_zero_or_still_failing():
    assert regressions([check("a", False)], [check("a", False)],
                       [container("job", "running")], [container("job", "exited", 0)]) == []


WORKERS = {"workers": [{"id": 1, "status": "alive"}, {"id": 2, "status": "alive"},
                       {"id": 3, "status": "stale"}], "alive": 2}


@pytest.mark.parametrize(
    ("expectation", "ok"),
    [
        ({"path": "workers", "where": {"status": "alive"}, "min_count": 2}, True),
        ({"path": "workers", "where": {"status": "alive"}, "min_count": 3}, False),
        ({"path": "workers", "min_count": 3}, True),
        ({"path": "alive", "equals": 2}, True),
        ({"path": "alive", "equals": 3}, False),
        ({"path": "workers.0.status", "equals": "alive"}, True),
        ({"path": "missing", "min_count": 1}, False),
        ({"path": "alive", "where": {"status": "alive"}, "min_count": 1}, False),
    ],
)
def test_json_expectations(expectation, ok):
    passed, detail = evaluate_json_expectation(WORKERS, expectation)

    assert passed is ok, detail


@pytest.mark.parametrize(
    ("state", "restarts", "settled"),
    [
        ({"Status": "running"}, 0, True),
        ({"Status": "running", "Health": {"Status": "starting"}}, 0, False),
        ({"Status": "running", "Health": {"Status": "unhealthy"}}, 0, True),
        ({"Status": "running", "Health": {"Status": "healthy"}}, 0, True),
        ({"Status": "exited"}, 0, True),
        ({"Status": "created"}, 0, False),
        ({"Status": "restarting"}, 1, False),
        ({"Status": "restarting"}, 3, True),
    ],
)
def test_settled_states(state, restarts, settled):
    assert is_settled({"State": state, "RestartCount": restarts}) is settled
