"""The loop when a plan has no functional checks, a deploy cannot make its images,
Ctrl-C comes in the middle of a redeploy, or another run holds the lock.

The simulated engine of test_loop_safety replaces collection, deploys and
checks. Planning, applying and rollback are the real code.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_loop_safety import (
    COMPOSE,
    FakeEngine,
    FakeProject,
    World,
    env_repair,
    plan,
    planner_returning,
    simulate_world,
)

from stackmedic import loop
from stackmedic.analysis import AnalysisResult
from stackmedic.errors import ComposeError, ProjectLockedError
from stackmedic.evidence.facts import SourceFacts
from stackmedic.loop import LoopOptions, RunInterrupted, run_loop
from stackmedic.model import (
    Category,
    CheckResult,
    CheckSpec,
    Finding,
    Fixability,
    RepairStatus,
    Verdict,
)
from stackmedic.plan import Plan, default_plan
from stackmedic.verify.deploy import DeployStage, ImagesNotReadyError
from stackmedic.verify.verdict import state_verdict


@pytest.fixture()
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return simulate_world(tmp_path, monkeypatch)


def finding(code: str = "LOG_ERRORS") -> Finding:
    return Finding(
        id="F001",
        code=code,
        service="api",
        summary="api logs errors",
        confidence=0.9,
        category=Category.APPLICATION,
        fixable_by=Fixability.CODE,
    )


def passing(name: str = "containers-running", check_type: str = "containers") -> CheckResult:
    return CheckResult(name, check_type, True, "all containers running")


def run(world: World, tmp_path: Path, the_plan: Plan | None = None,
        notes: list[tuple[str, dict[str, Any]]] | None = None, **options: Any) -> Any:
    def say(key: str, **fields: Any) -> None:
        if notes is not None:
            notes.append((key, fields))

    return run_loop(
        FakeProject(world),  # type: ignore[arg-type]
        FakeEngine(),  # type: ignore[arg-type]
        the_plan or plan(),
        LoopOptions(run_dir=tmp_path / "run", **options),
        notify=say,
    )


# Verdict without functional checks


def test_state_verdict_findings_count_without_functional_checks() -> None:
    verdict = state_verdict([passing()], [finding()], functional_checks=False)

    assert verdict == Verdict.PROBLEMS_REMAIN


def test_state_verdict_checks_decide_with_functional_checks() -> None:
    checks = [passing(), passing("api", "http")]

    assert state_verdict(checks, [finding()], functional_checks=True) == Verdict.HEALTHY


def test_state_verdict_healthy_without_findings() -> None:
    assert state_verdict([passing()], [], functional_checks=False) == Verdict.HEALTHY


def test_state_verdict_failing_check_stays_problems() -> None:
    failing = CheckResult("containers-running", "containers", False, "api exited")

    assert state_verdict([failing], [], functional_checks=False) == Verdict.PROBLEMS_REMAIN


def all_checks_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    class PassingRunner:
        def __init__(self, engine: Any, project: str, since: float) -> None:
            pass

        def run_all(self, specs: list[CheckSpec]) -> list[CheckResult]:
            return [CheckResult(spec.name, spec.type, True, "passed") for spec in specs]

    monkeypatch.setattr(loop, "CheckRunner", PassingRunner)


def test_findings_without_plan_checks_not_healthy(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    all_checks_pass(monkeypatch)
    monkeypatch.setattr(loop, "analyse", lambda evidence: AnalysisResult([finding()], SourceFacts(), []))
    monkeypatch.setattr(loop, "plan_repairs", planner_returning())

    record = run(world, tmp_path, default_plan(world.project_dir))

    assert [check.passed for check in record.final_checks] == [True]
    assert record.verdict == Verdict.PROBLEMS_REMAIN
    assert record.stop_reason == "no_repairs"
    assert [f.code for f in record.remaining] == ["LOG_ERRORS"]
    assert record.cycles[0].verdict == Verdict.PROBLEMS_REMAIN


def test_run_without_plan_checks_tries_repairs_for_findings(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    all_checks_pass(monkeypatch)
    monkeypatch.setattr(loop, "analyse", lambda evidence: AnalysisResult([finding()], SourceFacts(), []))
    monkeypatch.setattr(
        loop, "plan_repairs", planner_returning(lambda: env_repair("R1", "worker", "BACKEND_PORT", "5556"))
    )

    record = run(world, tmp_path, default_plan(world.project_dir), max_cycles=1)

    assert record.cycles[0].repairs[0].status == RepairStatus.APPLIED
    assert world.deploys == 1
    # The re-scan after the deploy still finds the problem.
    assert record.verdict == Verdict.PROBLEMS_REMAIN


def test_run_without_plan_checks_or_findings_is_healthy(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    all_checks_pass(monkeypatch)

    record = run(world, tmp_path, default_plan(world.project_dir))

    assert record.verdict == Verdict.HEALTHY
    assert record.stop_reason == "healthy"


def test_passing_checks_healthy_despite_findings(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    all_checks_pass(monkeypatch)
    monkeypatch.setattr(loop, "analyse", lambda evidence: AnalysisResult([finding()], SourceFacts(), []))

    record = run(world, tmp_path)

    assert record.verdict == Verdict.HEALTHY
    assert record.stop_reason == "healthy"


# Images that cannot be made


def test_images_not_ready_rolls_back_without_redeploy(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        loop, "plan_repairs", planner_returning(lambda: env_repair("R1", "worker", "BACKEND_PORT", "5556"))
    )
    world.fail_deploy = lambda number: (
        ImagesNotReadyError("docker compose build api failed: RUN false exited 1") if number == 1 else None
    )
    world.fail_stage = DeployStage.IMAGES
    original = world.compose.read_bytes()
    notes: list[tuple[str, dict[str, Any]]] = []

    record = run(world, tmp_path, notes=notes, max_cycles=1)

    first = record.cycles[0]
    assert world.compose.read_bytes() == original
    assert world.deploys == 1, "the restored files are not redeployed"
    assert world.deployed == COMPOSE
    assert first.rolled_back is True
    assert first.repairs[0].status == RepairStatus.ROLLED_BACK
    assert "the stack was left running" in first.repairs[0].reason
    assert "RUN false exited 1" in first.repairs[0].reason
    verify = first.phases[-1]
    assert any("stack was left running" in note for note in verify.notes)
    assert not any("redeploying the restored files failed" in w for w in record.warnings)
    rollback_lines = [fields["reasons"] for key, fields in notes if key == "cycle.rollback"]
    assert rollback_lines and "the stack was left running" in rollback_lines[0]
    # The baseline checks still describe the running stack.
    assert record.final_checks == record.baseline_checks


def test_images_not_ready_next_cycle_skips_that_repair(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        loop, "plan_repairs", planner_returning(lambda: env_repair("R1", "worker", "BACKEND_PORT", "5556"))
    )
    world.fail_deploy = lambda number: ImagesNotReadyError("docker compose build api failed")
    world.fail_stage = DeployStage.IMAGES

    record = run(world, tmp_path)

    assert len(record.cycles) == 2
    assert record.cycles[1].repairs[0].status == RepairStatus.REJECTED
    assert record.stop_reason == "no_repairs"
    assert world.deploys == 1


def test_failed_up_after_down_still_redeploys_restored_files(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        loop, "plan_repairs", planner_returning(lambda: env_repair("R1", "worker", "BACKEND_PORT", "5556"))
    )
    world.fail_deploy = lambda number: ComposeError("docker compose up -d failed") if number == 1 else None
    world.fail_stage = DeployStage.UP

    record = run(world, tmp_path, max_cycles=1)

    assert world.deploys == 2
    assert "deploying the edited files failed" in record.cycles[0].repairs[0].reason


# Ctrl-C during a redeploy


@pytest.mark.parametrize("stage", [DeployStage.DOWN, DeployStage.UP])
def test_interrupt_between_down_and_up_says_partly_deployed(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: DeployStage
) -> None:
    monkeypatch.setattr(
        loop, "plan_repairs", planner_returning(lambda: env_repair("R1", "api", "PORT", "9999"))
    )
    world.fail_deploy = lambda number: KeyboardInterrupt()
    world.fail_stage = stage
    original = world.compose.read_bytes()
    notes: list[tuple[str, dict[str, Any]]] = []

    with pytest.raises(RunInterrupted) as raised:
        run(world, tmp_path, notes=notes)

    record = raised.value.record
    assert world.compose.read_bytes() == original
    assert world.deploys == 1, "Ctrl-C does not redeploy"
    warnings = " | ".join(record.warnings)
    assert "may be partly deployed" in warnings
    assert "`docker compose -p fake up -d`" in warnings
    assert str(world.project_dir) in warnings
    assert "containers run the edited configuration" not in warnings
    assert any("may be partly deployed" in note for note in record.cycles[0].phases[-1].notes)
    console = [fields["text"] for key, fields in notes if key == "warning"]
    assert console and "docker compose -p fake up -d" in console[0]


def test_interrupt_after_up_says_edited_configuration_runs(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        loop, "plan_repairs", planner_returning(lambda: env_repair("R1", "api", "PORT", "9999"))
    )
    world.fail_deploy = lambda number: KeyboardInterrupt()
    world.fail_stage = DeployStage.SETTLE

    with pytest.raises(RunInterrupted) as raised:
        run(world, tmp_path)

    warnings = " | ".join(raised.value.record.warnings)
    assert "containers run the edited configuration" in warnings
    assert "partly deployed" not in warnings


def test_interrupt_while_images_build_leaves_stack_unchanged(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        loop, "plan_repairs", planner_returning(lambda: env_repair("R1", "api", "PORT", "9999"))
    )
    world.fail_deploy = lambda number: KeyboardInterrupt()
    world.fail_stage = DeployStage.IMAGES
    original = world.compose.read_bytes()

    with pytest.raises(RunInterrupted) as raised:
        run(world, tmp_path)

    record = raised.value.record
    assert world.compose.read_bytes() == original
    assert record.cycles[0].rolled_back is True
    assert not any("deployed" in warning for warning in record.warnings)


def test_interrupt_during_rollback_redeploy_says_partly_deployed(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cycle 1 breaks the api check; Ctrl-C comes while the restored files are redeployed.
    monkeypatch.setattr(
        loop, "plan_repairs", planner_returning(lambda: env_repair("R1", "api", "PORT", "9999"))
    )
    world.fail_deploy = lambda number: KeyboardInterrupt() if number == 2 else None
    world.fail_stage = DeployStage.UP

    with pytest.raises(RunInterrupted) as raised:
        run(world, tmp_path)

    assert any("may be partly deployed" in w for w in raised.value.record.warnings)


# The lock comes before anything else

HOLDER = """
import sys
from pathlib import Path
from stackmedic.lock import ProjectLock

with ProjectLock(Path(sys.argv[1]), "holder-run", sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
"""


class EmptyEngine(FakeEngine):
    def project_containers(self, project: str) -> list[dict[str, Any]]:
        return []


def hold_lock(folder: Path, project_name: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), project_name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


@pytest.fixture()
def holders() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.stdin is not None:
            process.stdin.close()
        process.wait(timeout=10)


def dry_run(world: World, tmp_path: Path) -> None:
    run_loop(
        FakeProject(world),  # type: ignore[arg-type]
        EmptyEngine(),  # type: ignore[arg-type]
        plan(),
        LoopOptions(run_dir=tmp_path / "run", dry_run=True),
    )


def test_dry_run_on_locked_folder_reports_the_lock(
    world: World, tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    holders.append(hold_lock(world.project_dir, "fake"))

    with pytest.raises(ProjectLockedError, match="holder-run"):
        dry_run(world, tmp_path)

    assert not (tmp_path / "run").exists()


def test_dry_run_reports_name_lock(
    world: World, tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    other_copy = tmp_path / "other-copy"
    other_copy.mkdir()
    holders.append(hold_lock(other_copy, "fake"))

    with pytest.raises(ProjectLockedError) as raised:
        dry_run(world, tmp_path)

    text = raised.value.message
    assert "compose project 'fake' is locked by run holder-run" in text
    assert str(other_copy) in text
    assert not (world.project_dir / ".stackmedic" / "lock").exists(), "the folder lock is released"


def test_dry_run_without_lock_holder_reports_missing_containers(world: World, tmp_path: Path) -> None:
    from stackmedic.errors import StackmedicError

    with pytest.raises(StackmedicError, match="no containers found"):
        dry_run(world, tmp_path)


def test_other_compose_project_name_not_blocked(
    world: World, tmp_path: Path, holders: list[subprocess.Popen[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    other_copy = tmp_path / "other-copy"
    other_copy.mkdir()
    holders.append(hold_lock(other_copy, "another-project"))
    monkeypatch.setattr(loop, "plan_repairs", planner_returning())

    record = run(world, tmp_path)

    assert record.stop_reason == "no_repairs"
