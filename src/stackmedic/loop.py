"""The DIAGNOSE -> REPAIR -> VERIFY loop.

One cycle: collect evidence, analyse it, plan repairs (predicting each one's
effect), apply the planned ones, redeploy, wait on engine events, run the
plan's functional checks and re-scan the logs. A cycle that makes things
worse is rolled back. The loop stops when every check passes, when no repair
is left to try, or after `max_cycles`.
"""

from __future__ import annotations

import copy
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
from stackmedic.analysis.patch_schema import (
    TableInfo,
    schema_from_sqlite_bytes,
    sqlite_database_paths,
)
from stackmedic.analysis.patches import propose_patches
from stackmedic.engine import ComposeProject, DockerEngine, compose_version
from stackmedic.errors import ComposeError, EngineError, RepairError, StackmedicError
from stackmedic.evidence.collect import collect
from stackmedic.evidence.model import Evidence, utc_now
from stackmedic.i18n import Message, message, message_text
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
    join_messages,
    message_of,
)
from stackmedic.plan import Plan
from stackmedic.repair import ChangeSet, DeferredInterrupt, apply_repairs, plan_repairs, rollback
from stackmedic.repair.code_patch import apply_code_patches
from stackmedic.report.localize import (
    finding_recommendation_message,
    finding_summary,
    repair_not_applied_message,
    repair_title,
)
from stackmedic.verify.checks import CheckRunner
from stackmedic.verify.deploy import (
    DeployProgress,
    DeployResult,
    DeployStage,
    ImagesNotReadyError,
    redeploy,
)
from stackmedic.verify.verdict import regressions, state_verdict
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


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) ended a run; `record` is complete, with stop_reason "interrupted".

    The loop raises it after rolling back a change set that was applied but
    not yet verified, so the caller can still write the report.
    """

    def __init__(self, record: RunRecord) -> None:
        super().__init__("interrupted")
        self.record = record


@dataclass
class _Pending:
    """A change set written in this cycle whose verdict is not decided yet."""

    changeset: ChangeSet
    applied: list[Repair]
    cycle: CycleRecord


@dataclass
class _State:
    """State the loop carries from one cycle to the next."""

    evidence: Evidence | None = None
    analysis: AnalysisResult | None = None
    checks: list[CheckResult] = field(default_factory=list)
    snapshots: list[ContainerSnapshot] = field(default_factory=list)
    checks_since: float = 0.0
    # Repairs rolled back once are not tried again: key -> reason.
    rolled_back: dict[str, Message] = field(default_factory=dict)
    # The latest deploy of the run, so that Ctrl-C can report how far it got.
    deploy: DeployProgress | None = None
    pending: _Pending | None = None


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
    # The lock comes first, so a second run (a dry run too) gets the lock's
    # message rather than one about containers the first run is replacing,
    # and leaves no empty run folder behind.
    with ProjectLock(project.project_dir, run_id, project.name):
        return _run_locked(project, engine, plan, options, run_id, run_dir, say)


def _run_locked(
    project: ComposeProject,
    engine: DockerEngine,
    plan: Plan,
    options: LoopOptions,
    run_id: str,
    run_dir: Path,
    say: Notify,
) -> RunRecord:
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
        record.add_warning("report.warning.no_functional_checks")

    state = _State()
    try:
        _baseline(project, engine, plan, record, state, say, dry_run=options.dry_run,
                  lang=options.lang)
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
    except KeyboardInterrupt:
        _interrupted(record, state, say, options.lang)
        _finish(record, plan)
        raise RunInterrupted(record) from None

    _finish(record, plan)
    return record


def _interrupted(record: RunRecord, state: _State, say: Notify, lang: str) -> None:
    """Roll back the change set that was applied but not verified, and note the interruption.

    Nothing is redeployed, so that Ctrl-C ends the run at once. A warning
    states what the containers run now: the edited configuration when the
    deploy had finished, or maybe only part of the stack when Ctrl-C came
    between the start of `down` and the end of `up`.
    """
    record.stop_reason = "interrupted"
    deploy = state.deploy
    pending = state.pending
    state.pending = None
    if pending is not None:
        _restore_interrupted(record, pending, say, lang)

    if deploy is not None and deploy.partly_deployed:
        record.add_warning("report.warning.interrupted_partly_deployed",
                           project=record.project_name, project_dir=record.project_dir)
        if pending is not None and pending.cycle.phases:
            pending.cycle.phases[-1].add_note("report.note.interrupted_partly_deployed",
                                              project=record.project_name)
        say("warning", text=message_text(record.warning_messages[-1], lang))
    elif pending is not None and deploy is not None and deploy.stage >= DeployStage.SETTLE:
        record.add_warning("report.warning.interrupted_after_deploy", number=pending.cycle.number)


def _restore_interrupted(record: RunRecord, pending: _Pending, say: Notify, lang: str) -> None:
    """Restore the files of an interrupted cycle, or warn that they could not be restored."""
    cycle = pending.cycle
    phase = cycle.phases[-1] if cycle.phases else _phase(cycle, "REPAIR-01")
    try:
        with DeferredInterrupt():
            rollback(pending.changeset, pending.applied)
    except KeyboardInterrupt:
        # A second Ctrl-C while the files were restored; they are restored now.
        logger.info("Ctrl-C received again while change set %s was rolled back", pending.changeset.id)
    except RepairError as error:
        logger.error("interrupted; rolling back change set %s failed: %s", pending.changeset.id, error)
        record.add_warning("report.warning.interrupted_rollback_failed", number=cycle.number,
                           error=error.translatable)
        phase.add_note("report.note.interrupted_rollback_failed", error=error.translatable)
        return
    reason = message("report.reason.interrupted")
    for repair in pending.applied:
        repair.set_reason(reason, lang)
    cycle.rolled_back = True
    phase.add_note("report.note.interrupted_restored")
    say("cycle.rollback", reasons=message_text(reason, lang))


def _baseline(
    project: ComposeProject,
    engine: DockerEngine,
    plan: Plan,
    record: RunRecord,
    state: _State,
    say: Notify,
    *,
    dry_run: bool = False,
    lang: str = "en",
) -> None:
    """Deploy when nothing runs, wait for the containers to settle, run the checks once.

    A dry run never deploys: with no containers it raises StackmedicError.
    """
    since = time.time()
    if not engine.project_containers(project.name):
        if dry_run:
            raise StackmedicError(
                message("errors.loop.dry_run_no_containers", project=project.name),
                hint=message("errors.loop.hint.bring_up"),
            )
        say("baseline.deploy")
        record.add_warning("report.warning.deployed_first")
        state.deploy = DeployProgress(DeployStage.UP)
        project.up(build=True)
        state.deploy.stage = DeployStage.DONE
    say("baseline.wait", timeout=plan.settle_timeout)
    settle = wait_until_settled(engine, project.name, plan.settle_timeout)
    state.snapshots = settle.snapshots
    # Log checks look back over the window before the run too: an error that
    # repeats every few seconds is part of the state being diagnosed.
    state.checks_since = min(since, time.time() - max(_log_windows(plan), 0))
    say("baseline.checks", count=len(plan.checks))
    record.baseline_checks = CheckRunner(engine, project.name, state.checks_since).run_all(plan.checks)
    state.checks = record.baseline_checks
    _say_checks(record.baseline_checks, lang, say)


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
        phase.add_note("report.note.collected", count=len(state.evidence.containers))
    else:
        phase.add_note("report.note.evidence_reused", collected_at=state.evidence.collected_at)
    evidence = state.evidence
    phase.calls += [f"{p.method}: {p.call}" for p in evidence.provenance]
    for container in evidence.containers:
        phase.calls += [f"{p.method}: {p.call}" for p in container.provenance]
    _copy_warnings(record, evidence.warnings, evidence.warning_messages)
    cycle.snapshots += state.snapshots
    phase.finished_at = utc_now()
    say("phase.evidence", containers=len(evidence.containers), sources=len(evidence.sources))

    # DIAGNOSE-02: analysis.
    phase = _phase(cycle, "DIAGNOSE-02")
    analysis = state.analysis if state.analysis is not None else analyse(evidence)
    state.analysis = None
    cycle.findings = number_findings(analysis.findings, f"C{cycle.number}-")
    phase.notes += analysis.warnings
    phase.note_messages += analysis.warning_messages
    phase.calls.append("analysis: pattern library over logs, health probes, compose config and source")
    phase.finished_at = utc_now()
    say("phase.findings", count=len(cycle.findings))
    for finding in cycle.findings:
        say("finding", code=finding.code, service=finding.service,
            summary=finding_summary(finding, options.lang))

    # REPAIR-01: predict, then apply. A healthy stack (see state_verdict) is
    # diagnosed and reported, but never edited.
    phase = _phase(cycle, "REPAIR-01")
    functional = plan.has_functional_checks
    if state.checks and state_verdict(state.checks, cycle.findings,
                                      functional_checks=functional) == Verdict.HEALTHY:
        phase.add_note("report.note.all_checks_pass")
        phase.finished_at = utc_now()
        cycle.verdict = Verdict.HEALTHY
        return True
    # Code patches are always proposed, so the report shows them even when
    # --allow-code-changes is off and the planner rejects them.
    propose_patches(cycle.findings, evidence, analysis.facts, options.lang,
                    database_tables=_database_tables(engine, evidence))
    # The code patches just proposed are numbered from P001, so they get the prefix too.
    number_findings(cycle.findings, f"C{cycle.number}-")
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
            repair.set_reason(state.rolled_back[key], options.lang)
    cycle.repairs = repairs
    planned = [r for r in repairs if r.status == RepairStatus.PLANNED]
    if not planned:
        _say_repairs(repairs, options.lang, say)
        phase.add_note("report.note.no_safe_repair")
        phase.finished_at = utc_now()
        cycle.verdict = state_verdict(state.checks, cycle.findings, functional_checks=functional)
        record.stop_reason = "no_repairs"
        return False
    with DeferredInterrupt():
        changeset = apply_repairs(planned, evidence.compose_files, project.project_dir, run_dir,
                                  dry_run=options.dry_run, changeset_id=f"cycle-{cycle.number}",
                                  lang=options.lang)
        changeset = apply_code_patches(planned, project.project_dir, run_dir, dry_run=options.dry_run,
                                       into=changeset, lang=options.lang)
        applied = [r for r in repairs if r.status == RepairStatus.APPLIED]
        if applied and not options.dry_run:
            state.pending = _Pending(changeset, applied, cycle)
    # Reported after writing, so each line gives the final status (applied,
    # or rejected when the file refused the edit).
    _say_repairs(repairs, options.lang, say)
    phase.calls += [f"edit {change.relpath}" for change in changeset.files]
    phase.finished_at = utc_now()
    if options.dry_run:
        phase.add_note("report.note.dry_run")
        cycle.verdict = state_verdict(state.checks, cycle.findings, functional_checks=functional)
        record.stop_reason = "dry_run"
        return False
    if not applied:
        phase.add_note("report.note.rejected_on_write")
        cycle.verdict = state_verdict(state.checks, cycle.findings, functional_checks=functional)
        record.stop_reason = "no_repairs"
        return False

    return _verify(project, engine, plan, options, record, cycle, state, say)


def _say_repairs(repairs: list[Repair], lang: str, say: Notify) -> None:
    for repair in repairs:
        say("repair", status=repair.status.value, title=repair_title(repair, lang),
            detail=repair.reason or repair.prediction)


def _say_checks(checks: list[CheckResult], lang: str, say: Notify) -> None:
    for check in checks:
        detail = message_text(check.detail_message, lang) if check.detail_message else check.detail
        say("check.result", name=check.name, passed=check.passed, detail=detail)


def _copy_warnings(record: RunRecord, warnings: list[str], messages: list[Message]) -> None:
    """Append the warnings the record lacks, each with its catalogue form when `messages` has one."""
    for warning in warnings:
        if warning in record.warnings:
            continue
        record.warnings.append(warning)
        form = next((candidate for candidate in messages if candidate.text == warning), None)
        if form is not None:
            record.warning_messages.append(form)


def number_findings(findings: list[Finding], prefix: str) -> list[Finding]:
    """Prefix the ids of `findings` and of their repairs with `prefix`, in place; return `findings`.

    Patterns number findings and repairs from F001 and R001 in every
    analysis. The loop prefixes the cycle (`C2-F001`, `C1-V-F003` for the
    re-scan after VERIFY-01), so an id names one finding in the whole run
    record. `caused_by` and each repair's `finding_id` are prefixed with
    them. Ids that already start with `prefix` are left unchanged.
    """

    def prefixed(identifier: str) -> str:
        return identifier if identifier.startswith(prefix) else prefix + identifier

    for finding in findings:
        finding.id = prefixed(finding.id)
        if finding.caused_by:
            finding.caused_by = prefixed(finding.caused_by)
        for repair in finding.repairs:
            repair.id = prefixed(repair.id)
            repair.finding_id = prefixed(repair.finding_id)
    return findings


def _verify(
    project: ComposeProject,
    engine: DockerEngine,
    plan: Plan,
    options: LoopOptions,
    record: RunRecord,
    cycle: CycleRecord,
    state: _State,
    say: Notify,
) -> bool:
    """VERIFY-01: redeploy, wait, check, re-scan; roll the cycle back when it made things worse."""
    pending = state.pending
    assert pending is not None
    phase = _phase(cycle, "VERIFY-01")
    say("phase.deploy")
    before_calls = len(project.calls)
    state.deploy = DeployProgress()
    try:
        deploy = redeploy(project, engine, settle_timeout=plan.settle_timeout, progress=state.deploy)
    except ImagesNotReadyError as error:
        # Nothing was stopped: the running containers still have the
        # configuration that the rollback restores, so it is not redeployed.
        phase.calls += project.calls[before_calls:]
        reason = message("report.reason.images_not_ready", error=error.translatable)
        return _roll_back_cycle(project, engine, plan, record, cycle, phase, state, [reason], say,
                                options.lang, stack_untouched=True)
    except ComposeError as error:
        phase.calls += project.calls[before_calls:]
        reason = message("report.reason.deploy_failed", error=error.translatable)
        return _roll_back_cycle(project, engine, plan, record, cycle, phase, state, [reason], say,
                                options.lang)
    _record_settle(cycle, phase, plan, deploy)
    say("phase.settled", seconds=deploy.settle.seconds, events=deploy.settle.events_seen)
    phase.calls += project.calls[before_calls:]
    phase.calls.append(f"engine-api: GET /events ({deploy.settle.events_seen} events until settled)")

    say("phase.checks", count=len(plan.checks))
    cycle.checks = CheckRunner(engine, project.name, deploy.started_at).run_all(plan.checks)
    _say_checks(cycle.checks, options.lang, say)
    cycle.verdict_latency_seconds = round(time.time() - deploy.settle.settled_at, 3)

    evidence_after = collect(project, engine, log_tail=options.log_tail)
    analysis_after = analyse(evidence_after)
    # Copies: the next cycle numbers the re-scan's own findings as its diagnosis.
    cycle.log_findings = number_findings(copy.deepcopy(analysis_after.findings), f"C{cycle.number}-V-")
    phase.calls.append("log re-scan: evidence collected again and analysed")
    cycle.verdict = state_verdict(cycle.checks, cycle.log_findings,
                                  functional_checks=plan.has_functional_checks)

    worse = [
        message_of(reason) or Message(key="", text=reason)
        for reason in regressions(state.checks, cycle.checks, state.snapshots, deploy.settle.snapshots)
    ]
    if worse:
        return _roll_back_cycle(project, engine, plan, record, cycle, phase, state, worse, say,
                                options.lang)

    state.pending = None
    state.checks = cycle.checks
    state.snapshots = deploy.settle.snapshots
    state.evidence = evidence_after
    state.analysis = analysis_after
    phase.finished_at = utc_now()
    return True


def _record_settle(cycle: CycleRecord, phase: PhaseRecord, plan: Plan, deploy: DeployResult) -> None:
    cycle.settle_seconds = deploy.settle.seconds
    cycle.settle_detect_seconds = deploy.settle.detect_seconds
    cycle.settle_timed_out = not deploy.settle.settled
    cycle.snapshots += deploy.settle.snapshots
    if cycle.settle_timed_out:
        phase.add_note("report.note.not_settled", timeout=f"{plan.settle_timeout:.0f}",
                       containers=", ".join(deploy.settle.unsettled))


def _roll_back_cycle(
    project: ComposeProject,
    engine: DockerEngine,
    plan: Plan,
    record: RunRecord,
    cycle: CycleRecord,
    phase: PhaseRecord,
    state: _State,
    worse: list[Message],
    say: Notify,
    lang: str,
    *,
    stack_untouched: bool = False,
) -> bool:
    """Restore the cycle's files, redeploy them and check again; return False when the loop must stop.

    `worse` lists why the cycle made things worse. The rolled-back repairs
    are remembered so no later cycle tries them again. With
    `stack_untouched` (the deploy failed before it stopped anything) the
    restored files are not redeployed, and the checks from before the cycle
    stay the current ones.
    """
    pending = state.pending
    assert pending is not None
    reasons = join_messages(worse, "report.reason.join")
    say("cycle.rollback", reasons=message_text(reasons, lang))
    cycle.verdict = Verdict.WORSE
    try:
        with DeferredInterrupt():
            rollback(pending.changeset, pending.applied)
            state.pending = None
    except RepairError as error:
        logger.error("rolling back cycle %s failed: %s", cycle.number, error)
        phase.add_note("report.note.rollback_failed", reasons=reasons, error=error.translatable)
        record.add_warning("report.warning.rollback_failed", number=cycle.number,
                           error=error.translatable)
        record.stop_reason = "rollback_failed"
        phase.finished_at = utc_now()
        return False
    for repair in pending.applied:
        repair.set_reason(reasons, lang)
        state.rolled_back[repair_key(repair)] = message(
            "report.reason.rolled_back_before", number=cycle.number, reasons=reasons
        )
    cycle.rolled_back = True
    phase.add_note("report.note.rolled_back", reasons=reasons)
    if stack_untouched:
        phase.add_note("report.note.stack_left_running")
        state.evidence = None
        state.analysis = None
        phase.finished_at = utc_now()
        return True

    before_calls = len(project.calls)
    state.deploy = DeployProgress()
    try:
        restored = redeploy(project, engine, settle_timeout=plan.settle_timeout, progress=state.deploy)
    except ComposeError as error:
        phase.calls += project.calls[before_calls:]
        phase.add_note("report.note.redeploy_restored_failed", error=error.translatable)
        record.add_warning("report.warning.redeploy_restored_failed", number=cycle.number,
                           error=error.translatable)
        record.stop_reason = "worse"
        phase.finished_at = utc_now()
        return False
    phase.calls += project.calls[before_calls:]
    cycle.snapshots += restored.settle.snapshots
    cycle.rollback_checks = CheckRunner(engine, project.name, restored.started_at).run_all(plan.checks)
    _say_checks(cycle.rollback_checks, lang, say)
    phase.add_note("report.note.checks_after_rollback",
                   passed=sum(c.passed for c in cycle.rollback_checks), total=len(cycle.rollback_checks))
    state.checks = cycle.rollback_checks
    state.snapshots = restored.settle.snapshots
    state.evidence = None
    state.analysis = None
    phase.finished_at = utc_now()
    return True


def _database_tables(engine: DockerEngine, evidence: Evidence) -> list[TableInfo] | None:
    """Read the schema of the first SQLite database a container keeps, if any can be read."""
    for location in sqlite_database_paths(evidence):
        try:
            return schema_from_sqlite_bytes(engine.read_file(location.container_id, location.path))
        except (EngineError, ValueError) as error:
            logger.debug("schema of %s not read: %s", location.path, error)
    return None


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


def _finish(record: RunRecord, plan: Plan) -> None:
    """Fill the verdict, fixed and remaining problems and the recommendations."""
    record.finished_at = utc_now()

    first = record.cycles[0].findings if record.cycles else []
    last_cycle = record.cycles[-1] if record.cycles else None
    if last_cycle is None:
        final: list[Finding] = []
    elif last_cycle.checks and not last_cycle.rolled_back:
        # The cycle was verified: its log re-scan is the final state, and an
        # empty re-scan means every finding is gone.
        final = last_cycle.log_findings
    else:
        final = last_cycle.findings
    remaining_keys = {(f.code, f.service) for f in final}
    gone = [f for f in first if (f.code, f.service) not in remaining_keys]
    record.fixed = [f for f in gone if _was_repaired(f, gone, record)]
    record.remaining = list(final)
    record.verdict = state_verdict(record.final_checks, record.remaining,
                                   functional_checks=plan.has_functional_checks)
    _record_proposal_outcomes(record)
    record.recommendations = recommend(record)


def _record_proposal_outcomes(record: RunRecord) -> None:
    """Give each finding's proposed repairs the outcome the run reached for them.

    A finding keeps the repairs its pattern proposed with status PROPOSED,
    because the planner works on copies. A proposal's outcome comes from the
    planned repairs of the same edit or patch in all cycles. It is APPLIED
    when a cycle applied it and kept it, else ROLLED_BACK when a cycle rolled
    it back, else the status of the last cycle that planned it. A proposal
    that no cycle planned stays PROPOSED.
    """
    outcomes: dict[str, Repair] = {}
    for cycle in record.cycles:
        planned_by_id = {repair.id: repair for repair in cycle.repairs}
        for finding in cycle.findings:
            for proposal in finding.repairs:
                planned = planned_by_id.get(proposal.id)
                if planned is None:
                    continue
                key = _proposal_key(proposal)
                known = outcomes.get(key)
                if known is None or _outcome_rank(planned.status) >= _outcome_rank(known.status):
                    outcomes[key] = planned

    findings = [f for cycle in record.cycles for f in cycle.findings + cycle.log_findings]
    for finding in findings + record.fixed + record.remaining:
        for proposal in finding.repairs:
            outcome = outcomes.get(_proposal_key(proposal))
            if outcome is None:
                continue
            proposal.status = outcome.status
            proposal.reason = outcome.reason
            proposal.reason_message = outcome.reason_message
            proposal.prediction = outcome.prediction
            proposal.prediction_message = outcome.prediction_message


def _proposal_key(repair: Repair) -> str:
    """Return `repair_key` without the report-only `source` param, as the planner merges them."""
    if repair.edit is None:
        return repair_key(repair)
    params = {key: value for key, value in repair.edit.params.items() if key != "source"}
    return json.dumps([repair.edit.action, repair.edit.service, params], sort_keys=True, default=str)


def _outcome_rank(status: RepairStatus) -> int:
    return {RepairStatus.APPLIED: 2, RepairStatus.ROLLED_BACK: 1}.get(status, 0)


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
        note = finding_recommendation_message(finding)
        recommendations.append(Recommendation(
            priority=priority,
            text=note.text,
            message=note,
            location=str(finding.location) if finding.location else None,
            code=finding.code,
            service=finding.service,
        ))
    seen: set[str] = set()
    for cycle in record.cycles:
        for repair in cycle.repairs:
            if repair.status in (RepairStatus.REJECTED, RepairStatus.ROLLED_BACK) and repair.title not in seen:
                seen.add(repair.title)
                note = repair_not_applied_message(repair)
                recommendations.append(Recommendation(
                    priority="low",
                    text=note.text,
                    message=note,
                    code=repair.code,
                    service=repair.service,
                ))
    order = {"high": 0, "medium": 1, "low": 2}
    return sorted(recommendations, key=lambda r: order.get(r.priority, 3))
