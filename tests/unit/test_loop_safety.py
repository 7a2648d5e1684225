"""The loop's safety rules, on a simulated engine.

The compose file on disk decides what the simulated deployment does: the
`api` check passes only while the deployed file sets PORT=8000, so an edit
that changes PORT really breaks it. Collection, analysis, deploys, waits and
checks are replaced; planning, applying, backups and rollback are the real code.
"""

from __future__ import annotations

import ast
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from stackmedic import loop
from stackmedic.analysis import AnalysisResult
from stackmedic.errors import ComposeError
from stackmedic.evidence.facts import SourceFacts
from stackmedic.evidence.model import Evidence
from stackmedic.loop import LoopOptions, RunInterrupted, run_loop
from stackmedic.model import (
    CheckResult,
    CheckSpec,
    ComposeEdit,
    ContainerSnapshot,
    Repair,
    RepairStatus,
    Verdict,
)
from stackmedic.plan import Plan
from stackmedic.repair import DeferredInterrupt
from stackmedic.verify.deploy import DeployProgress, DeployResult, DeployStage
from stackmedic.verify.wait import SettleResult

SOURCE = Path(__file__).parents[2] / "src" / "stackmedic"
COMPOSE = """\
# Two services; the plan checks api's HTTP answer and worker's log.
services:
  api:
    image: example/api:1
    environment:
      - PORT=8000
  worker:
    image: example/worker:1
    environment:
      - BACKEND_PORT=5555
"""


@dataclass
class World:
    """The simulated engine: what is deployed and what happened."""

    project_dir: Path
    deployed: str = ""
    deploys: int = 0
    events: list[str] = field(default_factory=list)
    fail_deploy: Callable[[int], BaseException | None] = lambda number: None
    # The step a failing deploy has reached when it raises.
    fail_stage: DeployStage = DeployStage.SETTLE

    @property
    def compose(self) -> Path:
        return self.project_dir / "compose.yml"


class FakeProject:
    def __init__(self, world: World) -> None:
        self.world = world
        self.project_dir = world.project_dir
        self.name = "fake"
        self.files = [world.compose]
        self.env: dict[str, str] = {}
        self.calls: list[str] = []

    def up(self, *, build: bool = True) -> None:
        self.world.deployed = self.world.compose.read_text()


class FakeEngine:
    def version(self) -> dict[str, Any]:
        return {"Version": "test"}

    def project_containers(self, project: str) -> list[dict[str, Any]]:
        return [{"Id": "api1"}]


def check_results(world: World, specs: list[CheckSpec]) -> list[CheckResult]:
    results = []
    for spec in specs:
        if spec.name == "api":
            passed = "PORT=8000" in world.deployed
            detail = (
                "GET http://api:8000/ answered 200"
                if passed
                else "GET http://api:8000/: no response"
            )
        else:
            passed = "BACKEND_PORT=5556" in world.deployed
            detail = "worker registered" if passed else "no line matched 'registered'"
        results.append(CheckResult(spec.name, spec.type, passed, detail))
    return results


def snapshots() -> list[ContainerSnapshot]:
    return [
        ContainerSnapshot(at="t", name="fake-api-1", service="api", state="running", health=None)
    ]


@pytest.fixture()
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return simulate_world(tmp_path, monkeypatch)


def simulate_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    """Replace the loop's engine-facing steps with the simulated engine; return its state."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "compose.yml").write_text(COMPOSE)
    state = World(project, deployed=COMPOSE)

    def fake_collect(project: FakeProject, engine: FakeEngine, log_tail: int = 500) -> Evidence:
        return Evidence(
            "fake", str(state.project_dir), ["compose.yml"], {"services": {"api": {}, "worker": {}}}
        )

    def fake_redeploy(
        project: FakeProject,
        engine: FakeEngine,
        *,
        settle_timeout: float,
        progress: DeployProgress | None = None,
    ) -> DeployResult:
        state.deploys += 1
        failure = state.fail_deploy(state.deploys)
        if failure is not None:
            if progress is not None:
                progress.stage = state.fail_stage
            raise failure
        if progress is not None:
            progress.stage = DeployStage.DONE
        state.deployed = state.compose.read_text()
        state.events.append(f"deploy {state.deploys}")
        now = time.time()
        settle = SettleResult(
            True, 0.5, now, 3, snapshots(), [], settle_event_at=now - 0.02, detect_seconds=0.02
        )
        return DeployResult(started_at=now - 1, up_seconds=0.5, settle=settle)

    class FakeRunner:
        def __init__(self, engine: FakeEngine, project: str, since: float) -> None:
            pass

        def run_all(self, specs: list[CheckSpec]) -> list[CheckResult]:
            state.events.append("checks")
            return check_results(state, specs)

    monkeypatch.setattr(loop, "collect", fake_collect)
    monkeypatch.setattr(loop, "analyse", lambda evidence: AnalysisResult([], SourceFacts(), []))
    monkeypatch.setattr(loop, "redeploy", fake_redeploy)
    monkeypatch.setattr(loop, "CheckRunner", FakeRunner)
    monkeypatch.setattr(loop, "compose_version", lambda: "test")
    monkeypatch.setattr(
        loop,
        "wait_until_settled",
        lambda engine, project, timeout: SettleResult(True, 0.0, time.time(), 0, snapshots()),
    )
    return state


def plan() -> Plan:
    return Plan(
        id="TEST",
        name="test plan",
        target="fake",
        checks=[
            CheckSpec("api", "http", {"url": "http://api:8000/"}),
            CheckSpec("worker", "log_present", {"service": "worker", "pattern": "registered"}),
        ],
        settle_timeout=30,
    )


def env_repair(repair_id: str, service: str, name: str, value: str) -> Repair:
    return Repair(
        id=repair_id,
        finding_id="F" + repair_id,
        code="TEST",
        service=service,
        title=f"set {name}={value} for {service}",
        edit=ComposeEdit("set_env", service, {"name": name, "value": value}),
        status=RepairStatus.PLANNED,
        prediction=f"{name}: old -> {value}",
    )


def planner_returning(*make: Callable[[], Repair]) -> Callable[..., list[Repair]]:
    """Return a stand-in for plan_repairs that proposes fresh copies of the same repairs each cycle."""
    return lambda *args, **kwargs: [factory() for factory in make]


def run(world: World, tmp_path: Path, **options: Any) -> Any:
    return run_loop(
        FakeProject(world),  # type: ignore[arg-type]
        FakeEngine(),  # type: ignore[arg-type]
        plan(),
        LoopOptions(run_dir=tmp_path / "run", **options),
    )


# A cycle that makes things worse


def test_harmful_repair_rolled_back_and_not_retried(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        loop, "plan_repairs", planner_returning(lambda: env_repair("R1", "api", "PORT", "9999"))
    )
    original = world.compose.read_bytes()

    record = run(world, tmp_path)

    first, second = record.cycles
    assert first.verdict == Verdict.WORSE
    assert first.rolled_back is True
    assert first.repairs[0].status == RepairStatus.ROLLED_BACK
    assert "check api passed before and now fails" in first.repairs[0].reason
    assert [check.passed for check in first.checks] == [False, False]
    assert [check.passed for check in first.rollback_checks] == [True, False]
    assert world.compose.read_bytes() == original
    assert world.deployed == COMPOSE
    assert second.repairs[0].status == RepairStatus.REJECTED
    assert second.repairs[0].reason.startswith("rolled back in cycle 1")
    assert record.stop_reason == "no_repairs"
    assert world.deploys == 2


def test_final_checks_are_those_after_rollback(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        loop, "plan_repairs", planner_returning(lambda: env_repair("R1", "api", "PORT", "9999"))
    )

    record = run(world, tmp_path)

    assert [check.passed for check in record.final_checks] == [True, False]
    assert record.verdict == Verdict.PROBLEMS_REMAIN


def test_good_repair_kept_and_cycle_healthy(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        loop,
        "plan_repairs",
        planner_returning(lambda: env_repair("R1", "worker", "BACKEND_PORT", "5556")),
    )

    record = run(world, tmp_path)

    assert len(record.cycles) == 1
    assert record.cycles[0].verdict == Verdict.HEALTHY
    assert record.cycles[0].repairs[0].status == RepairStatus.APPLIED
    assert record.cycles[0].settle_detect_seconds == 0.02
    assert record.cycles[0].verdict_latency_seconds is not None
    assert record.stop_reason == "healthy"
    assert "BACKEND_PORT=5556" in world.compose.read_text()


def test_failed_deploy_rolled_back(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        loop,
        "plan_repairs",
        planner_returning(lambda: env_repair("R1", "worker", "BACKEND_PORT", "5556")),
    )
    world.fail_deploy = lambda number: (
        ComposeError("docker compose up -d failed: dependency failed to start")
        if number == 1
        else None
    )
    original = world.compose.read_bytes()

    record = run(world, tmp_path)

    first = record.cycles[0]
    assert first.verdict == Verdict.WORSE
    assert first.rolled_back is True
    assert "deploying the edited files failed" in first.repairs[0].reason
    assert world.compose.read_bytes() == original


# Ctrl-C


def test_interrupt_during_deploy_restores_files(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        loop, "plan_repairs", planner_returning(lambda: env_repair("R1", "api", "PORT", "9999"))
    )
    world.fail_deploy = lambda number: KeyboardInterrupt()
    original = world.compose.read_bytes()

    with pytest.raises(RunInterrupted) as raised:
        run(world, tmp_path)

    record = raised.value.record
    assert world.compose.read_bytes() == original
    assert record.stop_reason == "interrupted"
    assert record.finished_at
    assert record.cycles[0].rolled_back is True
    assert record.cycles[0].repairs[0].status == RepairStatus.ROLLED_BACK
    assert any("containers run the edited configuration" in warning for warning in record.warnings)
    assert not (world.project_dir / ".stackmedic" / "lock").exists()


def test_interrupt_during_baseline_changes_nothing(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> SettleResult:
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "wait_until_settled", interrupted)
    original = world.compose.read_bytes()

    with pytest.raises(RunInterrupted) as raised:
        run(world, tmp_path)

    assert raised.value.record.stop_reason == "interrupted"
    assert raised.value.record.cycles == []
    assert world.compose.read_bytes() == original


def test_interrupt_is_a_keyboard_interrupt() -> None:
    assert issubclass(RunInterrupted, KeyboardInterrupt)


def test_sigint_deferred_until_block_ends() -> None:
    finished = []

    with pytest.raises(KeyboardInterrupt), DeferredInterrupt():
        os.kill(os.getpid(), signal.SIGINT)
        finished.append("block ran to its end")

    assert finished == ["block ran to its end"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_deferred_interrupt_without_signal_raises_nothing() -> None:
    with DeferredInterrupt() as deferred:
        pass

    assert deferred.received is False


# No fixed sleeps


def sleep_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            name = (
                function.attr
                if isinstance(function, ast.Attribute)
                else getattr(function, "id", "")
            )
            if name == "sleep":
                found.append(f"{path.relative_to(SOURCE)}:{node.lineno}")
    return found


def test_no_fixed_sleep_anywhere_in_the_package() -> None:
    calls = [call for path in sorted(SOURCE.rglob("*.py")) for call in sleep_calls(path)]

    assert calls == []


# Data


def test_compose_down_never_removes_volumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stackmedic.engine import compose as compose_module

    commands: list[list[str]] = []

    def record(command: list[str], **kwargs: Any) -> Any:
        commands.append(command)
        return None

    monkeypatch.setattr(compose_module, "_run", record)
    project = compose_module.ComposeProject(tmp_path, [tmp_path / "compose.yml"], name="data")

    project.down()

    assert commands, "down ran docker compose"
    down = commands[0][commands[0].index("down") :]
    assert "-v" not in down
    assert "--volumes" not in down
    assert not any(argument.startswith("--rmi") for argument in down)


# Verdicts


def test_healthy_containers_do_not_make_the_verdict() -> None:
    from stackmedic.verify.verdict import success_rate, verdict_of

    checks = [
        CheckResult("containers", "containers", True, "all 3 containers running and healthy"),
        CheckResult("workers-api", "http", False, "GET /api/workers answered 500"),
    ]

    assert verdict_of(checks) == Verdict.PROBLEMS_REMAIN
    assert success_rate(checks) == 0.5


def test_second_sigint_during_rollback_still_restores(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        loop, "plan_repairs", planner_returning(lambda: env_repair("R1", "api", "PORT", "9999"))
    )
    world.fail_deploy = lambda number: KeyboardInterrupt()
    real_rollback = loop.rollback

    def rollback_with_second_sigint(*args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGINT)
        return real_rollback(*args, **kwargs)

    monkeypatch.setattr(loop, "rollback", rollback_with_second_sigint)
    original = world.compose.read_bytes()

    with pytest.raises(RunInterrupted) as raised:
        run(world, tmp_path)

    assert world.compose.read_bytes() == original
    assert raised.value.record.stop_reason == "interrupted"
