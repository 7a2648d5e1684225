"""The DIAGNOSE -> REPAIR -> VERIFY loop.

One cycle: collect evidence, analyse it, plan repairs (predicting each one's
effect), apply the planned ones, redeploy, wait on engine events, run the
plan's functional checks and re-scan the logs. A cycle that makes things
worse is rolled back. The loop stops when every check passes, when no repair
is left to try, or after `max_cycles`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackmedic import __version__
from stackmedic.analysis import AnalysisResult, analyse
from stackmedic.engine import ComposeProject, DockerEngine, compose_version
from stackmedic.evidence.collect import collect
from stackmedic.evidence.model import Evidence, utc_now
from stackmedic.lock import ProjectLock
from stackmedic.model import (
    CheckResult,
    ContainerSnapshot,
    CycleRecord,
    Finding,
    Fixability,
    PhaseRecord,
    Recommendation,
    Repair,
    RepairStatus,
    RunRecord,
    Verdict,
)
from stackmedic.plan import Plan
from stackmedic.repair import apply_repairs, plan_repairs, rollback
from stackmedic.verify.checks import CheckRunner
from stackmedic.verify.deploy import redeploy
from stackmedic.verify.verdict import regressions, verdict_of
from stackmedic.verify.wait import wait_until_settled

logger = logging.getLogger(__name__)

Notify = Callable[..., None]


@dataclass
class LoopOptions:
    max_cycles: int = 3
    dry_run: bool = False
    allow_code_changes: bool = False
    run_dir: Path | None = None
    log_tail: int = 500
    lang: str = "en"


@dataclass
class _State:
    """State the loop carries from one cycle to the next."""

    evidence: Evidence | None = None
    analysis: AnalysisResult | None = None
    checks: list[CheckResult] = field(default_factory=list)
    snapshots: list[ContainerSnapshot] = field(default_factory=list)
    checks_since: float = 0.0
    # Repairs rolled back once are not tried again: key -> reason.
    rolled_back: dict[str, str] = field(default_factory=dict)


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def run_loop(
    project: ComposeProject,
    engine: DockerEngine,
    plan: Plan,
    options: LoopOptions,
    notify: Notify | None = None,
) -> RunRecord:
    """Run the loop on a project and return the complete run record."""
    say = notify or (lambda key, **fields: None)
    run_id = options.run_dir.name if options.run_dir else new_run_id()
    run_dir = options.run_dir or project.project_dir / ".stackmedic" / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)

    record = RunRecord(
        run_id=run_id,
        plan_id=plan.id,
        plan_name=plan.name,
        project_dir=str(project.project_dir),
        project_name=project.name,
        target_services=plan.target_services,
        started_at=utc_now(),
        stackmedic_version=__version__,
        engine_version=str(engine.version().get("Version", "")),
        compose_version=compose_version(),
        dry_run=options.dry_run,
        max_cycles=options.max_cycles,
    )
    if not plan.has_functional_checks:
        record.warnings.append("the plan has no functional checks; container state is all that is verified")

    with ProjectLock(project.project_dir, run_id):
        state = _State()
        _baseline(project, engine, plan, record, state, say)
        for number in range(1, options.max_cycles + 1):
            cycle = CycleRecord(number=number)
            record.cycles.append(cycle)
            say("cycle.start", number=number, total=options.max_cycles)
            if not _run_cycle(project, engine, plan, options, record, cycle, state, run_dir, say):
                break
            if cycle.verdict == Verdict.HEALTHY:
                record.stop_reason = "healthy"
                break
        else:
            record.stop_reason = "max_cycles"

    _finish(record, state)
    return record


def _baseline(
    project: ComposeProject,
    engine: DockerEngine,
    plan: Plan,
    record: RunRecord,
    state: _State,
    say: Notify,
) -> None:
    """Deploy when nothing runs, wait for the containers to settle, run the checks once."""
    since = time.time()
    if not engine.project_containers(project.name):
        say("baseline.deploy")
        record.warnings.append("the project had no containers; stackmedic deployed it first")
        project.up(build=True)
    say("baseline.wait", timeout=plan.settle_timeout)
    settle = wait_until_settled(engine, project.name, plan.settle_timeout)
    state.snapshots = settle.snapshots
    # Log checks look back over the window before the run too: an error that
    # repeats every few seconds is part of the state being diagnosed.
    state.checks_since = min(since, time.time() - max(_log_windows(plan), 0))
    say("baseline.checks", count=len(plan.checks))
    record.baseline_checks = CheckRunner(engine, project.name, state.checks_since).run_all(plan.checks)
    state.checks = record.baseline_checks
    for check in record.baseline_checks:
        say("check.result", name=check.name, passed=check.passed, detail=check.detail)


def _run_cycle(
    project: ComposeProject,
    engine: DockerEngine,
    plan: Plan,
    options: LoopOptions,
    record: RunRecord,
    cycle: CycleRecord,
    state: _State,
    run_dir: Path,
    say: Notify,
) -> bool:
    """Run one cycle; return False when the loop should stop after it."""
    # DIAGNOSE-01: evidence. The previous cycle's verification already
    # collected it after its checks; it is reused rather than read twice.
    phase = _phase(cycle, "DIAGNOSE-01")
    if state.evidence is None:
        state.evidence = collect(project, engine, log_tail=options.log_tail)
        phase.notes.append(f"collected {len(state.evidence.containers)} containers")
    else:
        phase.notes.append(f"evidence from the previous cycle's verification, collected {state.evidence.collected_at}")
    evidence = state.evidence
    phase.calls += [f"{p.method}: {p.call}" for p in evidence.provenance]
    for container in evidence.containers:
        phase.calls += [f"{p.method}: {p.call}" for p in container.provenance]
    record.warnings += [w for w in evidence.warnings if w not in record.warnings]
    cycle.snapshots += state.snapshots
    phase.finished_at = utc_now()
    say("phase.evidence", containers=len(evidence.containers), sources=len(evidence.sources))

    # DIAGNOSE-02: analysis.
    phase = _phase(cycle, "DIAGNOSE-02")
    analysis = state.analysis if state.analysis is not None else analyse(evidence)
    state.analysis = None
    cycle.findings = analysis.findings
    phase.notes += analysis.warnings
    phase.calls.append("analysis: pattern library over logs, health probes, compose config and source")
    phase.finished_at = utc_now()
    say("phase.findings", count=len(cycle.findings))
    for finding in cycle.findings:
        say("finding", code=finding.code, service=finding.service, summary=finding.summary)

    # REPAIR-01: predict, then apply. A stack whose checks all pass is
    # diagnosed and reported, but never edited.
    phase = _phase(cycle, "REPAIR-01")
    if state.checks and verdict_of(state.checks) == Verdict.HEALTHY:
        phase.notes.append("every functional check passes; nothing is changed")
        phase.finished_at = utc_now()
        cycle.verdict = Verdict.HEALTHY
        return True
    repairs = plan_repairs(
        cycle.findings,
        evidence,
        analysis.facts,
        program_exists=_program_probe(engine, evidence),
        allow_code_changes=options.allow_code_changes,
        lang=options.lang,
    )
    for repair in repairs:
        key = repair_key(repair)
        if repair.status == RepairStatus.PLANNED and key in state.rolled_back:
            repair.status = RepairStatus.REJECTED
            repair.reason = state.rolled_back[key]
    cycle.repairs = repairs
    planned = [r for r in repairs if r.status == RepairStatus.PLANNED]
    for repair in repairs:
        say("repair", status=repair.status.value, title=repair.title,
            detail=repair.reason or repair.prediction)
    if not planned:
        phase.notes.append("no repair left that can be applied safely")
        phase.finished_at = utc_now()
        cycle.verdict = verdict_of(state.checks)
        record.stop_reason = "no_repairs"
        return False
    changeset = apply_repairs(planned, evidence.compose_files, project.project_dir, run_dir,
                              dry_run=options.dry_run, changeset_id=f"cycle-{cycle.number}",
                              lang=options.lang)
    phase.calls += [f"edit {change.relpath}" for change in changeset.files]
    phase.finished_at = utc_now()
    if options.dry_run:
        phase.notes.append("dry run: repairs planned and shown, nothing written")
        cycle.verdict = verdict_of(state.checks)
        record.stop_reason = "dry_run"
        return False
    applied = [r for r in repairs if r.status == RepairStatus.APPLIED]
    if not applied:
        phase.notes.append("every planned repair was rejected when it was written")
        cycle.verdict = verdict_of(state.checks)
        record.stop_reason = "no_repairs"
        return False

    # VERIFY-01: redeploy, wait, check, re-scan.
    phase = _phase(cycle, "VERIFY-01")
    say("phase.deploy")
    before_calls = len(project.calls)
    deploy = redeploy(project, engine, settle_timeout=plan.settle_timeout)
    cycle.settle_seconds = deploy.settle.seconds
    cycle.settle_timed_out = not deploy.settle.settled
    cycle.snapshots += deploy.settle.snapshots
    if cycle.settle_timed_out:
        phase.notes.append(f"not settled after {plan.settle_timeout:.0f} s: {', '.join(deploy.settle.unsettled)}")
    say("phase.settled", seconds=deploy.settle.seconds, events=deploy.settle.events_seen)
    phase.calls += project.calls[before_calls:]
    phase.calls.append(f"engine-api: GET /events ({deploy.settle.events_seen} events until settled)")

    cycle.checks = CheckRunner(engine, project.name, deploy.started_at).run_all(plan.checks)
    for check in cycle.checks:
        say("check.result", name=check.name, passed=check.passed, detail=check.detail)
    cycle.verdict = verdict_of(cycle.checks)
    cycle.verdict_latency_seconds = round(time.time() - deploy.settle.settled_at, 3)

    evidence_after = collect(project, engine, log_tail=options.log_tail)
    analysis_after = analyse(evidence_after)
    cycle.log_findings = analysis_after.findings
    phase.calls.append("log re-scan: evidence collected again and analysed")

    worse = regressions(state.checks, cycle.checks, state.snapshots, deploy.settle.snapshots)
    if worse:
        say("cycle.rollback", reasons="; ".join(worse))
        rollback(changeset, applied)
        for repair in applied:
            repair.reason = "; ".join(worse)
            state.rolled_back[repair_key(repair)] = f"rolled back in cycle {cycle.number}: {repair.reason}"
        cycle.rolled_back = True
        cycle.verdict = Verdict.WORSE
        phase.notes.append("rolled back: " + "; ".join(worse))
        rollback_deploy = redeploy(project, engine, settle_timeout=plan.settle_timeout)
        cycle.snapshots += rollback_deploy.settle.snapshots
        state.evidence = None
        state.analysis = None
        phase.finished_at = utc_now()
        return True

    state.checks = cycle.checks
    state.snapshots = deploy.settle.snapshots
    state.evidence = evidence_after
    state.analysis = analysis_after
    phase.finished_at = utc_now()
    return True


def _phase(cycle: CycleRecord, name: str) -> PhaseRecord:
    phase = PhaseRecord(name=name, started_at=utc_now())
    cycle.phases.append(phase)
    return phase


def _log_windows(plan: Plan) -> float:
    windows = [float(c.params.get("window", 30)) for c in plan.checks if c.type.startswith("log_")]
    return max(windows, default=0.0)


def _program_probe(engine: DockerEngine, evidence: Evidence) -> Callable[[str, str], bool | None]:
    """Return a callable telling whether a program exists in a service's image.

    It runs `command -v` in a running container of the service: a throwaway
    exec that changes nothing.
    """

    def program_exists(service: str, program: str) -> bool | None:
        for container in evidence.containers_of(service):
            if container.is_running:
                return engine.program_exists(container.id, program)
        return None

    return program_exists


def repair_key(repair: Repair) -> str:
    if repair.edit is not None:
        payload: Any = [repair.edit.action, repair.edit.service, repair.edit.params]
    else:
        payload = ["patch", repair.service, repair.patch]
    return json.dumps(payload, sort_keys=True, default=str)


def _finish(record: RunRecord, state: _State) -> None:
    """Fill the verdict, fixed and remaining problems and the recommendations."""
    record.finished_at = utc_now()
    record.verdict = verdict_of(record.final_checks)

    first = record.cycles[0].findings if record.cycles else []
    last_cycle = record.cycles[-1] if record.cycles else None
    if last_cycle is None:
        final: list[Finding] = []
    elif last_cycle.log_findings and not last_cycle.rolled_back:
        final = last_cycle.log_findings
    else:
        final = last_cycle.findings
    remaining_keys = {(f.code, f.service) for f in final}
    gone = [f for f in first if (f.code, f.service) not in remaining_keys]
    record.fixed = [f for f in gone if _was_repaired(f, gone, record)]
    record.remaining = list(final)
    record.recommendations = recommend(record)


def _was_repaired(finding: Finding, gone: list[Finding], record: RunRecord) -> bool:
    """Tell whether a finding that went away was removed by an applied repair.

    That is an applied repair of its own, or of the finding it was caused by.
    A finding whose only repair was rejected and that went away with another
    fault was never a fault of its own, so it does not count as fixed.
    """
    applied = {
        (repair.code, repair.service)
        for cycle in record.cycles
        for repair in cycle.repairs
        if repair.status == RepairStatus.APPLIED
    }
    if (finding.code, finding.service) in applied:
        return True
    cause = next((f for f in gone if f.id == finding.caused_by), None)
    return cause is not None and (cause.code, cause.service) in applied


def recommend(record: RunRecord) -> list[Recommendation]:
    """Turn remaining findings and rejected repairs into prioritised recommendations."""
    recommendations: list[Recommendation] = []
    for finding in record.remaining:
        if finding.caused_by:
            continue
        priority = "high" if finding.fixable_by in (Fixability.CODE, Fixability.HUMAN) else "medium"
        text = finding.recommendation or finding.summary
        recommendations.append(Recommendation(
            priority=priority,
            text=text,
            location=str(finding.location) if finding.location else None,
            code=finding.code,
            service=finding.service,
        ))
    seen: set[str] = set()
    for cycle in record.cycles:
        for repair in cycle.repairs:
            if repair.status in (RepairStatus.REJECTED, RepairStatus.ROLLED_BACK) and repair.title not in seen:
                seen.add(repair.title)
                recommendations.append(Recommendation(
                    priority="low",
                    text=f"{repair.title}: not applied ({repair.reason})",
                    code=repair.code,
                    service=repair.service,
                ))
    order = {"high": 0, "medium": 1, "low": 2}
    return sorted(recommendations, key=lambda r: order.get(r.priority, 3))
