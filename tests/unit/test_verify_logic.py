"""Verdicts, regressions, JSON expectations and check details, without an engine."""

import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from stackmedic.engine.docker_api import SERVICE_LABEL, ExecResult
from stackmedic.errors import EngineError
from stackmedic.i18n import message_text
from stackmedic.model import CheckResult, CheckSpec, ContainerSnapshot, Verdict, message, message_of
from stackmedic.verify.checks import (
    OUTPUT_CUT,
    OUTPUT_SHOWN_CHARS,
    CheckRunner,
    evaluate_json_expectation,
    output_excerpt,
)
from stackmedic.verify.verdict import regressions, success_rate, verdict_of
from stackmedic.verify.wait import is_settled

SOURCE = Path(__file__).parents[2] / "src" / "stackmedic"
MESSAGES = SOURCE / "messages"


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


# Check details in catalogue form


class FakeCheckEngine:
    """Containers of one project, as the list and inspect endpoints return them."""

    def __init__(self, states: dict[str, tuple[str, str | None]], exec_error: Exception | None = None,
                 exec_result: ExecResult | None = None) -> None:
        self.states = states
        self.exec_error = exec_error
        self.exec_result = exec_result

    def project_containers(self, project: str) -> list[dict[str, Any]]:
        return [
            {"Id": name, "Names": [f"/{name}"], "State": state,
             "Labels": {SERVICE_LABEL: name.split("-")[1]}}
            for name, (state, _health) in self.states.items()
        ]

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        state, health = self.states[container_id]
        payload: dict[str, Any] = {"Status": state, "ExitCode": 0 if state == "running" else 3}
        if health:
            payload["Health"] = {"Status": health}
        return {"Name": f"/{container_id}", "State": payload}

    def exec(self, container_id: str, command: list[str], *, timeout: float) -> ExecResult:
        if self.exec_error is not None:
            raise self.exec_error
        assert self.exec_result is not None
        return self.exec_result


def run_check(engine: FakeCheckEngine, spec: CheckSpec) -> CheckResult:
    return CheckRunner(engine, "p", since=0.0).run(spec)  # type: ignore[arg-type]


def test_containers_check_detail_translates_each_problem() -> None:
    engine = FakeCheckEngine({"p-api-1": ("exited", None), "p-worker-1": ("running", "unhealthy")})

    result = run_check(engine, CheckSpec("containers", "containers"))

    assert result.detail == "p-api-1 is exited (exit 3); p-worker-1 is unhealthy"
    assert result.detail_message is not None
    assert message_text(result.detail_message, "zh-CN") == (
        "p-api-1 处于 exited 状态（退出码 3）；p-worker-1 的健康状态为 unhealthy"
    )


def test_passing_containers_check_has_message() -> None:
    engine = FakeCheckEngine({"p-api-1": ("running", "healthy")})

    result = run_check(engine, CheckSpec("containers", "containers"))

    assert result.passed
    assert result.detail == "all 1 containers running and healthy where checked"
    assert result.detail_message is not None
    assert message_text(result.detail_message, "zh-CN") == "全部 1 个容器都在运行，有健康检查的均为健康"


def test_exec_failure_detail_keeps_command_and_container() -> None:
    engine = FakeCheckEngine({"p-api-1": ("running", None)},
                             exec_result=ExecResult(exit_code=2, output="boom\n"))

    result = run_check(engine, CheckSpec("cli", "exec", {"service": "api", "command": ["tacore", "ping"]}))

    assert result.detail == "`tacore ping` in p-api-1 exited 2: boom"
    assert result.detail_message is not None
    assert message_text(result.detail_message, "zh-CN") == "在 p-api-1 中运行 `tacore ping`，退出码 2：boom"


def test_exec_without_output_translates_placeholder() -> None:
    engine = FakeCheckEngine({"p-api-1": ("running", None)},
                             exec_result=ExecResult(exit_code=1, output=""))

    result = run_check(engine, CheckSpec("cli", "exec", {"service": "api", "command": ["true"]}))

    assert result.detail.endswith("exited 1: (no output)")
    assert result.detail_message is not None
    assert message_text(result.detail_message, "zh-CN").endswith("退出码 1：（没有输出）")


def test_long_exec_output_shows_head_and_tail() -> None:
    output = '{"workers": [' + ", ".join(f'"worker-{n}"' for n in range(60)) + '], "result": "done"}\n'
    engine = FakeCheckEngine({"p-api-1": ("running", None)},
                             exec_result=ExecResult(exit_code=0, output=output))

    result = run_check(engine, CheckSpec("cli", "exec", {"service": "api", "command": ["tacore", "list"]}))

    excerpt = result.detail.removeprefix("`tacore list` in p-api-1 exited 0: ")
    assert excerpt.startswith('{"workers": ["worker-0", ')
    assert excerpt.endswith('"result": "done"}')
    assert OUTPUT_CUT in excerpt
    assert len(excerpt) <= OUTPUT_SHOWN_CHARS


def test_short_exec_output_is_shown_whole() -> None:
    assert output_excerpt("line one\n  line two\n") == "line one line two"
    assert OUTPUT_CUT not in output_excerpt("x" * OUTPUT_SHOWN_CHARS)


def test_check_that_cannot_run_nests_the_error() -> None:
    engine = FakeCheckEngine({"p-api-1": ("running", None)},
                             exec_error=EngineError("exec in p-api-1 failed: conflict"))

    result = run_check(engine, CheckSpec("cli", "exec", {"service": "api", "command": ["x"]}))

    assert not result.passed
    assert result.detail == "could not run: exec in p-api-1 failed: conflict"
    assert result.detail_message is not None
    assert message_text(result.detail_message, "zh-CN") == "无法运行：exec in p-api-1 failed: conflict"


def test_refused_tcp_check_translates_with_os_error_kept() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()

    result = run_check(FakeCheckEngine({}), CheckSpec("tcp", "tcp", {"host": "127.0.0.1", "port": port,
                                                                     "timeout": 2}))

    assert not result.passed
    assert result.detail.startswith(f"tcp 127.0.0.1:{port}: ")
    assert result.detail_message is not None
    assert message_text(result.detail_message, "zh-CN").startswith(f"tcp 127.0.0.1:{port}：")


def test_json_expectation_text_carries_message() -> None:
    ok, detail = evaluate_json_expectation(WORKERS, {"path": "workers", "where": {"status": "alive"},
                                                     "min_count": 3})

    assert not ok
    assert detail == "workers with {'status': 'alive'}: 2 item(s), expected at least 3"
    form = message_of(detail)
    assert form is not None
    assert message_text(form, "zh-CN") == "workers（满足 {'status': 'alive'}）：2 项，预期至少 3 项"


def test_regression_reason_translates_nested_check_detail() -> None:
    detail = message("verify.check.http.not_json", method="GET", url="http://api/", status=200)
    failing = CheckResult("a", "http", False, detail.text, detail_message=detail)

    (reason,) = regressions([check("a", True)], [failing], [], [])

    form = message_of(reason)
    assert form is not None
    assert reason == "check a passed before and now fails: GET http://api/ answered 200 but the body is not JSON"
    assert message_text(form, "zh-CN") == "检查 a 之前通过，现在失败：GET http://api/ 返回 200，但响应体不是 JSON"


def test_verify_catalogues_have_the_same_keys_and_fields() -> None:
    english = json.loads((MESSAGES / "en" / "verify.json").read_text(encoding="utf-8"))
    chinese = json.loads((MESSAGES / "zh-CN" / "verify.json").read_text(encoding="utf-8"))

    assert set(english) == set(chinese)
    for key, template in english.items():
        assert set(re.findall(r"\{(\w+)\}", template)) == set(re.findall(r"\{(\w+)\}", chinese[key])), key


def test_every_verify_key_used_in_code_exists() -> None:
    english = json.loads((MESSAGES / "en" / "verify.json").read_text(encoding="utf-8"))
    code = "".join(path.read_text(encoding="utf-8") for path in (SOURCE / "verify").glob("*.py"))
    used = set(re.findall(r'"(verify\.[a-z_.]+[a-z_])"', code))

    assert used
    assert used - set(english) == set()
