"""What the loop stores in the run record: translatable reasons, run-wide ids, final statuses.

Uses the simulated engine of test_loop_safety: the compose file on disk
decides whether the `api` and `worker` checks pass. Planning, applying and
rollback are the real code.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_loop_safety import (
    FakeEngine,
    FakeProject,
    World,
    env_repair,
    plan,
    planner_returning,
    run,
    simulate_world,
)

from stackmedic import loop
from stackmedic.analysis import AnalysisResult
from stackmedic.errors import ComposeError
from stackmedic.evidence.facts import SourceFacts
from stackmedic.evidence.model import Evidence
from stackmedic.i18n import message_text
from stackmedic.loop import LoopOptions, RunInterrupted, run_loop
from stackmedic.model import (
    Category,
    CheckResult,
    CheckSpec,
    ComposeEdit,
    Finding,
    Fixability,
    Repair,
    RepairStatus,
    RunRecord,
    english_text,
    message,
)
from stackmedic.report.render import render_markdown


@pytest.fixture()
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return simulate_world(tmp_path, monkeypatch)


def proposal(repair_id: str, finding_id: str, service: str, name: str, value: str) -> Repair:
    return Repair(
        id=repair_id,
        finding_id=finding_id,
        code="TEST",
        service=service,
        title=f"set {name}={value} for {service}",
        edit=ComposeEdit("set_env", service, {"name": name, "value": value}),
    )


def finding(finding_id: str, service: str, *repairs: Repair, caused_by: str | None = None) -> Finding:
    return Finding(
        id=finding_id,
        code="TEST",
        service=service,
        summary=f"{service} is misconfigured",
        confidence=0.9,
        category=Category.CONFIGURATION,
        fixable_by=Fixability.COMPOSE,
        repairs=list(repairs),
        caused_by=caused_by,
    )


def analyses(*make: Callable[[], list[Finding]]) -> Callable[[Evidence], AnalysisResult]:
    """Return a stand-in for analyse that returns fresh findings of `make[i]` on the i-th call.

    Calls past the last factory repeat it.
    """
    calls = iter(range(10_000))

    def analyse(evidence: Evidence) -> AnalysisResult:
        index = min(next(calls), len(make) - 1)
        return AnalysisResult(make[index](), SourceFacts(), [])

    return analyse


def harmful_findings() -> list[Finding]:
    """Return F001, which proposes PORT=9999 for api and so breaks the api check, and F003, its consequence."""
    return [
        finding("F001", "api", proposal("R002", "F001", "api", "PORT", "9999")),
        finding("F003", "worker", caused_by="F001"),
    ]


def fixable_findings() -> list[Finding]:
    return [finding("F001", "worker", proposal("R002", "F001", "worker", "BACKEND_PORT", "5556"))]


def all_ids(record: RunRecord) -> list[str]:
    ids = []
    for cycle in record.cycles:
        ids += [f.id for f in cycle.findings + cycle.log_findings]
    return ids


# Reasons the loop writes


def test_rollback_reason_kept_as_message(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        loop, "plan_repairs", planner_returning(lambda: env_repair("R1", "api", "PORT", "9999"))
    )

    record = run(world, tmp_path)

    first, second = record.cycles
    reason = first.repairs[0].reason_message
    assert reason is not None
    assert reason.key == "verify.regression.check_fails"
    assert reason.text == first.repairs[0].reason
    retried = second.repairs[0].reason_message
    assert retried is not None
    assert retried.key == "report.reason.rolled_back_before"


def test_rollback_reasons_in_chinese_report(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        loop, "plan_repairs", planner_returning(lambda: env_repair("R1", "api", "PORT", "9999"))
    )

    text = render_markdown(run(world, tmp_path), "zh-CN")

    assert "已回滚：检查 api 之前通过，现在失败" in text
    assert "已在第 1 轮回滚：检查 api 之前通过，现在失败" in text
    assert "passed before and now fails" not in text


def test_zh_run_writes_reason_in_chinese(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        loop, "plan_repairs", planner_returning(lambda: env_repair("R1", "api", "PORT", "9999"))
    )

    record = run(world, tmp_path, lang="zh-CN")

    assert record.cycles[0].repairs[0].reason.startswith("检查 api 之前通过")
    assert "rolled back in cycle 1" in render_markdown(record, "en")


def test_failed_deploy_reason_in_chinese_report(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        loop,
        "plan_repairs",
        planner_returning(lambda: env_repair("R1", "worker", "BACKEND_PORT", "5556")),
    )
    world.fail_deploy = lambda number: (
        ComposeError("docker compose up -d failed: dependency failed") if number == 1 else None
    )

    record = run(world, tmp_path)
    text = render_markdown(record, "zh-CN")

    assert "deploying the edited files failed" in record.cycles[0].repairs[0].reason
    assert "部署修改后的文件失败：docker compose up -d failed: dependency failed" in text


def test_interrupted_reason_in_chinese_report(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        loop, "plan_repairs", planner_returning(lambda: env_repair("R1", "api", "PORT", "9999"))
    )
    world.fail_deploy = lambda number: KeyboardInterrupt()

    with pytest.raises(RunInterrupted) as interrupted:
        run(world, tmp_path)
    text = render_markdown(interrupted.value.record, "zh-CN")

    assert "已回滚：运行在修复得到验证之前被中断" in text


def test_check_details_reach_progress_in_run_language(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class TranslatedRunner:
        def __init__(self, engine: FakeEngine, project: str, since: float) -> None:
            pass

        def run_all(self, specs: list[CheckSpec]) -> list[CheckResult]:
            detail = english_text("verify.check.tcp.passed", host="api", port=8000)
            return [CheckResult(spec.name, spec.type, True, str(detail),
                                detail_message=detail.message) for spec in specs]

    monkeypatch.setattr(loop, "CheckRunner", TranslatedRunner)
    progress: list[dict[str, Any]] = []

    def notify(key: str, **fields: Any) -> None:
        if key == "check.result":
            progress.append(fields)

    run_loop(
        FakeProject(world),  # type: ignore[arg-type]
        FakeEngine(),  # type: ignore[arg-type]
        plan(),
        LoopOptions(run_dir=tmp_path / "run", lang="zh-CN"),
        notify=notify,
    )

    assert progress
    assert progress[0]["detail"] == "tcp api:8000 接受了连接"


# Warnings


def test_evidence_warnings_copied_with_messages(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def collect_with_warning(project: FakeProject, engine: FakeEngine, log_tail: int = 500) -> Evidence:
        evidence = Evidence(
            "fake", str(world.project_dir), ["compose.yml"], {"services": {"api": {}, "worker": {}}}
        )
        evidence.add_warning("report.analysis_warning.scan_failed", path="app/main.py",
                             error_type="SyntaxError", error="invalid syntax")
        evidence.warnings.append("a warning without catalogue form")
        return evidence

    monkeypatch.setattr(loop, "collect", collect_with_warning)
    monkeypatch.setattr(loop, "plan_repairs", planner_returning())

    record = run(world, tmp_path)
    text = render_markdown(record, "zh-CN")

    assert record.warnings[-2:] == [
        "app/main.py: source scan failed (SyntaxError: invalid syntax)",
        "a warning without catalogue form",
    ]
    assert [m.key for m in record.warning_messages] == ["report.analysis_warning.scan_failed"]
    assert "app/main.py：源码扫描失败（SyntaxError: invalid syntax）" in text
    assert "a warning without catalogue form" in text


def test_analysis_warnings_become_translated_notes(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warning = english_text("report.analysis_warning.pattern_failed", code="RESTART_LOOP",
                           error_type="ValueError", error="bad count")
    monkeypatch.setattr(
        loop, "analyse",
        lambda evidence: AnalysisResult([], SourceFacts(), [warning], [warning.message]),
    )
    monkeypatch.setattr(loop, "plan_repairs", planner_returning())

    record = run(world, tmp_path)
    analysis = record.cycles[0].phases[1]

    assert analysis.notes == ["pattern RESTART_LOOP failed: ValueError: bad count"]
    assert "模式 RESTART_LOOP 运行失败：ValueError: bad count" in render_markdown(record, "zh-CN")


# Finding ids and final statuses


def test_finding_ids_unique_across_cycles(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop, "analyse", analyses(harmful_findings))

    record = run(world, tmp_path)

    first, second = record.cycles
    assert [f.id for f in first.findings] == ["C1-F001", "C1-F003"]
    assert [f.id for f in first.log_findings] == ["C1-V-F001", "C1-V-F003"]
    assert [f.id for f in second.findings] == ["C2-F001", "C2-F003"]
    ids = all_ids(record)
    assert len(ids) == len(set(ids))


def test_healthy_stack_findings_get_prefixed_ids(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy = world.compose.read_text().replace("BACKEND_PORT=5555", "BACKEND_PORT=5556")
    world.compose.write_text(healthy)
    world.deployed = healthy
    monkeypatch.setattr(loop, "analyse", analyses(harmful_findings))

    record = run(world, tmp_path)

    assert record.stop_reason == "healthy"
    assert [f.id for f in record.cycles[0].findings] == ["C1-F001", "C1-F003"]
    assert record.cycles[0].repairs == []


def test_references_follow_prefixed_ids(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop, "analyse", analyses(harmful_findings))

    record = run(world, tmp_path)

    first, second = record.cycles
    assert first.findings[1].caused_by == "C1-F001"
    assert first.log_findings[1].caused_by == "C1-V-F001"
    assert second.findings[1].caused_by == "C2-F001"
    assert [(r.id, r.finding_id) for r in first.repairs] == [("C1-R002", "C1-F001")]
    assert [(r.id, r.finding_id) for r in second.repairs] == [("C2-R002", "C2-F001")]
    assert [f.id for f in record.remaining] == ["C2-F001", "C2-F003"]


def test_rolled_back_proposal_shows_final_status(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop, "analyse", analyses(harmful_findings))

    record = run(world, tmp_path)

    first, second = record.cycles
    assert first.repairs[0].status == RepairStatus.ROLLED_BACK
    assert second.repairs[0].status == RepairStatus.REJECTED
    assert first.findings[0].repairs[0].status == RepairStatus.ROLLED_BACK
    assert record.remaining[0].repairs[0].status == RepairStatus.ROLLED_BACK
    assert record.remaining[0].repairs[0].reason == first.repairs[0].reason


def test_fixed_finding_shows_applied_repair(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop, "analyse", analyses(fixable_findings, list))

    record = run(world, tmp_path)

    assert record.stop_reason == "healthy"
    assert [f.id for f in record.fixed] == ["C1-F001"]
    repair = record.fixed[0].repairs[0]
    assert repair.status == RepairStatus.APPLIED
    assert repair.id == "C1-R002"
    assert repair.prediction == record.cycles[0].repairs[0].prediction
    assert repair.prediction_message is not None


def test_unplanned_proposal_stays_proposed(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop, "analyse", analyses(fixable_findings))
    monkeypatch.setattr(loop, "plan_repairs", planner_returning())

    record = run(world, tmp_path)

    assert record.remaining[0].repairs[0].status == RepairStatus.PROPOSED


def test_number_findings_leaves_prefixed_ids() -> None:
    findings = [finding("C1-F001", "api"), finding("F002", "api", caused_by="C1-F001")]

    loop.number_findings(findings, "C1-")

    assert [f.id for f in findings] == ["C1-F001", "C1-F002"]
    assert findings[1].caused_by == "C1-F001"


def test_planner_prediction_translates_in_report(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop, "analyse", analyses(fixable_findings, list))

    record = run(world, tmp_path)
    planned = record.cycles[0].repairs[0]
    assert planned.prediction_message is not None
    chinese = message_text(planned.prediction_message, "zh-CN")

    assert "BACKEND_PORT" in chinese
    assert chinese != planned.prediction
    assert chinese in render_markdown(record, "zh-CN")
    assert planned.prediction in render_markdown(record, "en")


def test_message_of_nested_error_keeps_compose_output() -> None:
    error = ComposeError("docker compose up -d failed: exit 1")
    reason = message("report.reason.deploy_failed", error=error.translatable)

    assert reason.text == "deploying the edited files failed: docker compose up -d failed: exit 1"
    assert message_text(reason, "zh-CN") == "部署修改后的文件失败：docker compose up -d failed: exit 1"

