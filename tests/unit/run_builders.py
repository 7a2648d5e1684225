"""Builders of `RunRecord` objects for the report tests.

The scenarios follow a broken stack shaped like the bundled sample: a main
service `tacoreservice`, a worker service `tacoreservice-worker` with two
replicas, and `redis`. Each scenario function returns a fresh record.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from stackmedic.model import (
    Category,
    CheckResult,
    ComposeEdit,
    ContainerSnapshot,
    CycleRecord,
    EvidenceRef,
    Finding,
    Fixability,
    Message,
    PhaseRecord,
    Recommendation,
    Repair,
    RepairStatus,
    RunRecord,
    SourceLocation,
    Verdict,
    message,
)

START = dt.datetime(2026, 12, 4, 20, 30, 0, tzinfo=dt.UTC)

MAIN = "tacoreservice"
WORKER = "tacoreservice-worker"
PROJECT = "tacore"

BACKEND_PORT_DIFF = """\
--- a/docker-compose.yml
+++ b/docker-compose.yml
@@ -24,6 +24,7 @@
       - TACORESERVICE_LOG_LEVEL=INFO
       - REDIS_URL=redis://redis:6379/0
       - DATABASE_PATH=data/tacoreservice.db
+      - TACORESERVICE_BACKEND_PORT=5556
     depends_on:
       - tacoreservice
       - redis
"""

HEALTHCHECK_DIFF = """\
--- a/docker-compose.yml
+++ b/docker-compose.yml
@@ -31,7 +31,7 @@
     healthcheck:
-      test: ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:8080/health', timeout=3)"]
-      interval: 30s
+      test: ["CMD", "python", "-m", "tacore.worker_health"]
+      interval: 5s
       timeout: 3s
"""

API_SNIPPET = """\
  39 |         for row in rows:
  40 |             workers.append({
> 41 |                 "last_seen": row["last_seen"],
  42 |                 "status": row["status"],
  43 |             })"""

MAIN_SNIPPET = """\
  86 |     async def _collect_metrics(self) -> None:
  87 |         while True:
> 88 |             self.db.record_service_metrics(snapshot)
  89 |             await asyncio.sleep(5)"""

WORKER_SNIPPET = """\
  21 |         self.broker_host = os.getenv("TACORESERVICE_HOST", "tacoreservice")
> 22 |         self.broker_port = int(os.getenv("TACORESERVICE_BACKEND_PORT", "5555"))"""


def at(seconds: float) -> str:
    """Return the ISO timestamp `seconds` after the scenarios' start time."""
    return (START + dt.timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def make_finding(
    id: str,
    code: str,
    service: str,
    summary: str,
    *,
    fixable_by: Fixability = Fixability.COMPOSE,
    category: Category = Category.CONFIGURATION,
    confidence: float = 0.9,
    location: SourceLocation | None = None,
    evidence: list[EvidenceRef] | None = None,
    facts: dict[str, Any] | None = None,
    caused_by: str | None = None,
    recommendation: str = "",
) -> Finding:
    return Finding(
        id=id,
        code=code,
        service=service,
        summary=summary,
        confidence=confidence,
        category=category,
        fixable_by=fixable_by,
        evidence=evidence or [],
        location=location,
        facts=facts or {},
        caused_by=caused_by,
        recommendation=recommendation,
    )


def log_ref(container: str, line: int, text: str, seconds: float = 0.0) -> EvidenceRef:
    return EvidenceRef(kind="log", origin=container, text=text, line=line, timestamp=at(seconds))


def make_check(name: str, passed: bool, detail: str, seconds: float = 0.0) -> CheckResult:
    return CheckResult(
        name=name,
        type="http",
        passed=passed,
        detail=detail,
        started_at=at(seconds),
        duration_s=0.25,
        observed={"status": 200 if passed else 500},
    )


def make_snapshot(
    name: str, service: str, seconds: float, health: str | None, **extra: Any
) -> ContainerSnapshot:
    return ContainerSnapshot(
        at=at(seconds), name=name, service=service, state="running", health=health, **extra
    )


def make_phase(name: str, start: float, end: float, *calls: str) -> PhaseRecord:
    return PhaseRecord(name=name, started_at=at(start), finished_at=at(end), calls=list(calls))


def backend_port_mismatch(id: str = "F001") -> Finding:
    return make_finding(
        id,
        "ENDPOINT_MISMATCH",
        WORKER,
        "tacoreservice-worker connects to tacoreservice:5555, but the broker's backend binds 5556",
        location=SourceLocation(
            path="tacore/worker.py", line=22, function="Worker.__init__", snippet=WORKER_SNIPPET
        ),
        evidence=[
            log_ref("tacore-tacoreservice-1", 7, "ZMQ backend bound to tcp://*:5556 (workers)", 2),
        ],
        facts={
            "variable": "TACORESERVICE_BACKEND_PORT",
            "code_default": "5555",
            "expected": "5556",
            "peer_service": MAIN,
        },
    )


def startup_hang(caused_by: str | None = "F001", id: str = "F002") -> Finding:
    return make_finding(
        id,
        "STARTUP_HANG",
        WORKER,
        "tacoreservice-worker stopped logging after 'About to call worker.start()'",
        category=Category.STARTUP,
        fixable_by=Fixability.CODE,
        confidence=0.8,
        location=SourceLocation(path="tacore/worker.py", line=58, function="Worker.start"),
        evidence=[
            log_ref("tacore-tacoreservice-worker-1", 12, "About to call worker.start()", 3),
            log_ref("tacore-tacoreservice-worker-2", 12, "About to call worker.start()", 3),
        ],
        facts={"last_line": "About to call worker.start()", "silent_seconds": 95},
        caused_by=caused_by,
    )


def host_variable(id: str = "F003") -> Finding:
    return make_finding(
        id,
        "MISSING_ENV",
        WORKER,
        "TACORESERVICE_HOST is not set in compose",
        confidence=0.2,
        facts={
            "variable": "TACORESERVICE_HOST",
            "code_default": "tacoreservice",
            "proposed": "tacoreservice",
        },
    )


def vacuous_worker_healthcheck(id: str = "F004") -> Finding:
    return make_finding(
        id,
        "HEALTHCHECK_MISCONFIGURED",
        WORKER,
        "the worker's health check probes http://localhost:8080/health, which it does not serve",
        category=Category.HEALTHCHECK,
        evidence=[
            EvidenceRef(
                kind="health",
                origin="tacore-tacoreservice-worker-1",
                text="Traceback (most recent call last):\n"
                "urllib.error.URLError: <urlopen error [Errno 111] Connection refused>",
                timestamp=at(20),
            )
        ],
    )


def key_error(id: str = "F005") -> Finding:
    return make_finding(
        id,
        "KEY_ERROR",
        MAIN,
        "tacore/api.py reads row['last_seen'], but table workers has no column last_seen",
        category=Category.APPLICATION,
        fixable_by=Fixability.CODE,
        location=SourceLocation(
            path="tacore/api.py",
            line=41,
            function="list_workers",
            snippet=API_SNIPPET,
            container_path="/app/tacore/api.py",
        ),
        evidence=[
            log_ref(
                "tacore-tacoreservice-1",
                31,
                "2026-12-04 20:31:40,551 - ERROR - Error getting workers status: 'last_seen'",
                100,
            )
        ],
        facts={"key": "last_seen", "table": "workers", "closest_column": "last_heartbeat"},
        recommendation="Read row['last_heartbeat'] in tacore/api.py:41.",
    )


def missing_method(id: str = "F006") -> Finding:
    return make_finding(
        id,
        "MISSING_ATTRIBUTE",
        MAIN,
        "DatabaseManager has no method record_service_metrics",
        category=Category.APPLICATION,
        fixable_by=Fixability.CODE,
        location=SourceLocation(
            path="tacore/main.py", line=88, function="_collect_metrics", snippet=MAIN_SNIPPET
        ),
        evidence=[
            log_ref(
                "tacore-tacoreservice-1",
                40,
                "Error in metrics collection loop: 'DatabaseManager' object has no attribute "
                "'record_service_metrics'",
                105,
            )
        ],
        facts={"class_name": "DatabaseManager", "attribute": "record_service_metrics"},
        recommendation="Add DatabaseManager.record_service_metrics or remove the call.",
    )


def port_repair(
    status: RepairStatus = RepairStatus.APPLIED, diff: str = BACKEND_PORT_DIFF
) -> Repair:
    return Repair(
        id="R001",
        finding_id="F001",
        code="ENDPOINT_MISMATCH",
        service=WORKER,
        title="Set TACORESERVICE_BACKEND_PORT=5556 on tacoreservice-worker",
        edit=ComposeEdit(
            "set_env", WORKER, {"name": "TACORESERVICE_BACKEND_PORT", "value": "5556"}
        ),
        prediction="TACORESERVICE_BACKEND_PORT: 5555 (code default in tacore/worker.py:22) -> 5556",
        status=status,
        diff=diff,
        files=["docker-compose.yml"] if diff else [],
    )


def host_repair() -> Repair:
    return Repair(
        id="R002",
        finding_id="F003",
        code="MISSING_ENV",
        service=WORKER,
        title="Set TACORESERVICE_HOST=tacoreservice on tacoreservice-worker",
        edit=ComposeEdit(
            "set_env", WORKER, {"name": "TACORESERVICE_HOST", "value": "tacoreservice"}
        ),
        status=RepairStatus.REJECTED,
        reason="no effect: TACORESERVICE_HOST is already tacoreservice "
        "(code default in tacore/worker.py:21)",
    )


def healthcheck_repair(status: RepairStatus = RepairStatus.APPLIED) -> Repair:
    return Repair(
        id="R003",
        finding_id="F004",
        code="HEALTHCHECK_MISCONFIGURED",
        service=WORKER,
        title="Use the image's own health check on tacoreservice-worker",
        edit=ComposeEdit(
            "set_healthcheck",
            WORKER,
            {"test": ["CMD", "python", "-m", "tacore.worker_health"], "interval": "5s"},
        ),
        prediction="the probe checks the worker's last broker heartbeat",
        status=status,
        diff=HEALTHCHECK_DIFF,
        files=["docker-compose.yml"],
    )


def workers_checks(workers_pass: bool) -> list[CheckResult]:
    return [
        make_check("health-endpoint", True, "GET http://127.0.0.1:8080/health -> 200", 90),
        make_check(
            "workers-listed",
            workers_pass,
            "GET /api/workers -> 200, 2 workers"
            if workers_pass
            else 'GET /api/workers -> 500 {"detail":"Internal server error"}',
            91,
        ),
        make_check(
            "metrics-recorded",
            False,
            "log_absent: 'record_service_metrics' found 3 times in tacoreservice",
            92,
        ),
    ]


def diagnose_phases(offset: float) -> list[PhaseRecord]:
    return [
        make_phase(
            "DIAGNOSE-01",
            offset,
            offset + 2,
            "GET /containers/json?all=1&filters={label=com.docker.compose.project=tacore}",
            "GET /containers/tacore-tacoreservice-worker-1/logs?tail=500&timestamps=1",
        ),
        make_phase("DIAGNOSE-02", offset + 2, offset + 3),
    ]


def snapshots(offset: float, worker_health: str) -> list[ContainerSnapshot]:
    return [
        make_snapshot("tacore-tacoreservice-1", MAIN, offset + 1, "healthy"),
        make_snapshot("tacore-tacoreservice-worker-1", WORKER, offset + 1, worker_health),
        make_snapshot("tacore-tacoreservice-worker-2", WORKER, offset + 1, worker_health),
        make_snapshot("tacore-redis-1", "redis", offset + 1, "healthy"),
    ]


def base_run(**overrides: Any) -> RunRecord:
    fields: dict[str, Any] = {
        "run_id": "20261204-203000-ab12",
        "plan_id": "AUTO-DIAGNOSE-REPAIR-TACORE-V1",
        "plan_name": "TACoreService worker repair",
        "project_dir": "/srv/tacore",
        "project_name": PROJECT,
        "target_services": [WORKER, MAIN],
        "started_at": at(0),
        "finished_at": at(252),
        "stackmedic_version": "0.1.0",
        "engine_version": "20.10.24",
        "compose_version": "2.20.2",
        "max_cycles": 3,
    }
    fields.update(overrides)
    return RunRecord(**fields)


def run_with_remaining_problems() -> RunRecord:
    """Two cycles: compose faults fixed in cycle 1, two code faults remain.

    Covers an applied and a rejected repair, a finding with and one without
    a source location, a cause and its consequence, and 1 of 3 checks passing.
    """
    run = base_run(stop_reason="no_repairs", verdict=Verdict.PROBLEMS_REMAIN)
    run.baseline_checks = [
        make_check("health-endpoint", True, "200", 5),
        make_check("workers-listed", False, "GET /api/workers -> 500", 6),
    ]

    first = CycleRecord(number=1)
    first.phases = diagnose_phases(10) + [
        make_phase("REPAIR-01", 13, 14, "edit docker-compose.yml"),
        make_phase(
            "VERIFY-01",
            14,
            95,
            "docker compose -p tacore up -d --build",
            "GET /events?filters={type=container}",
        ),
    ]
    first.snapshots = snapshots(10, "unhealthy") + snapshots(80, "healthy")
    first.findings = [
        backend_port_mismatch(),
        startup_hang(),
        host_variable(),
        vacuous_worker_healthcheck(),
        key_error(),
        missing_method(),
    ]
    first.repairs = [port_repair(), host_repair(), healthcheck_repair()]
    first.checks = workers_checks(workers_pass=False)
    first.log_findings = [key_error(), missing_method()]
    first.verdict = Verdict.PROBLEMS_REMAIN
    first.settle_seconds = 18.4
    first.verdict_latency_seconds = 24.9

    second = CycleRecord(number=2)
    second.phases = diagnose_phases(100) + [make_phase("REPAIR-01", 103, 104)]
    second.phases[-1].notes.append("no repair left that can be applied safely")
    second.snapshots = snapshots(100, "healthy")
    second.findings = [host_variable("F001"), key_error("F002"), missing_method("F003")]
    second.repairs = [host_repair()]
    second.verdict = Verdict.PROBLEMS_REMAIN

    run.cycles = [first, second]
    run.fixed = [backend_port_mismatch(), startup_hang(), vacuous_worker_healthcheck()]
    # As the loop does: remaining findings are the last analysis' own, so
    # their ids (F001..F003) overlap those of the fixed ones from cycle 1.
    run.remaining = [host_variable("F001"), key_error("F002"), missing_method("F003")]
    run.recommendations = [
        Recommendation(
            "low", "Set TACORESERVICE_HOST: not applied (no effect)", None, "MISSING_ENV", WORKER
        ),
        Recommendation(
            "high",
            "Read row['last_heartbeat'] in tacore/api.py:41.",
            "tacore/api.py:41",
            "KEY_ERROR",
            MAIN,
        ),
        Recommendation(
            "high",
            "Add DatabaseManager.record_service_metrics or remove the call.",
            "tacore/main.py:88",
            "MISSING_ATTRIBUTE",
            MAIN,
        ),
        Recommendation("medium", "Add a functional probe to redis.", None, None, "redis"),
    ]
    run.warnings = ["pattern PORT_ALREADY_ALLOCATED failed: ValueError: bad port"]
    return run


def healthy_run() -> RunRecord:
    """One cycle that fixes the port mismatch; every check passes."""
    run = base_run(stop_reason="healthy", verdict=Verdict.HEALTHY, finished_at=at(61))
    run.baseline_checks = workers_checks(workers_pass=False)

    cycle = CycleRecord(number=1, verdict=Verdict.HEALTHY, settle_seconds=9.0)
    cycle.verdict_latency_seconds = 12.5
    cycle.phases = diagnose_phases(1) + [
        make_phase("REPAIR-01", 4, 5, "edit docker-compose.yml"),
        make_phase("VERIFY-01", 5, 60, "docker compose -p tacore up -d"),
    ]
    cycle.snapshots = snapshots(1, "unhealthy") + snapshots(40, "healthy")
    cycle.findings = [backend_port_mismatch(), startup_hang()]
    cycle.repairs = [port_repair()]
    cycle.checks = [
        make_check("health-endpoint", True, "200", 50),
        make_check("workers-listed", True, "2 workers", 51),
    ]
    run.cycles = [cycle]
    run.fixed = [backend_port_mismatch(), startup_hang()]
    return run


def rolled_back_run() -> RunRecord:
    """One cycle whose applied repair made things worse and was rolled back."""
    run = base_run(stop_reason="worse", verdict=Verdict.WORSE, max_cycles=2)
    run.baseline_checks = [make_check("health-endpoint", True, "200", 5)]

    cycle = CycleRecord(number=1, verdict=Verdict.WORSE, rolled_back=True)
    cycle.phases = diagnose_phases(10) + [
        make_phase("REPAIR-01", 13, 14),
        make_phase("VERIFY-01", 14, 80),
    ]
    cycle.snapshots = snapshots(10, "unhealthy")
    cycle.findings = [vacuous_worker_healthcheck(), host_variable()]
    cycle.repairs = [healthcheck_repair(RepairStatus.ROLLED_BACK), host_repair()]
    cycle.checks = [make_check("health-endpoint", False, "connection refused", 70)]
    cycle.settle_seconds = 60.0
    cycle.settle_timed_out = True
    run.cycles = [cycle]
    run.remaining = [vacuous_worker_healthcheck(), host_variable()]
    return run


def dry_run() -> RunRecord:
    """A dry run: repairs planned with diffs, nothing written or verified."""
    run = base_run(stop_reason="dry_run", dry_run=True, verdict=Verdict.NOT_VERIFIED)
    cycle = CycleRecord(number=1)
    cycle.phases = diagnose_phases(1) + [make_phase("REPAIR-01", 4, 5)]
    cycle.phases[-1].notes.append("dry run: repairs planned and shown, nothing written")
    cycle.snapshots = snapshots(1, "unhealthy")
    cycle.findings = [backend_port_mismatch(), startup_hang()]
    cycle.repairs = [port_repair(RepairStatus.PLANNED)]
    run.cycles = [cycle]
    run.remaining = [backend_port_mismatch(), startup_hang()]
    return run


def run_without_checks() -> RunRecord:
    """No baseline and no cycle ran a functional check."""
    run = base_run(stop_reason="max_cycles", verdict=Verdict.NOT_VERIFIED, max_cycles=1)
    cycle = CycleRecord(number=1)
    cycle.phases = diagnose_phases(1)
    cycle.snapshots = snapshots(1, "unhealthy")
    cycle.findings = [vacuous_worker_healthcheck()]
    run.cycles = [cycle]
    run.remaining = [vacuous_worker_healthcheck()]
    run.warnings = ["the plan has no functional checks; container state is all that is verified"]
    return run


def healthy_containers_failing_checks() -> RunRecord:
    """Every container reports healthy, yet both functional checks fail."""
    run = base_run(stop_reason="max_cycles", verdict=Verdict.PROBLEMS_REMAIN, max_cycles=1)
    cycle = CycleRecord(number=1, verdict=Verdict.PROBLEMS_REMAIN)
    cycle.phases = diagnose_phases(1) + [make_phase("VERIFY-01", 5, 30)]
    cycle.snapshots = snapshots(1, "healthy") + snapshots(20, "healthy")
    cycle.checks = [
        make_check("workers-listed", False, "GET /api/workers -> 500", 25),
        make_check("metrics-recorded", False, "record_service_metrics error", 26),
    ]
    run.cycles = [cycle]
    return run


def run_with_messages() -> RunRecord:
    """The remaining-problems run with notes, warnings and recommendations in catalogue form.

    This is how the loop records them: English text plus the message key
    and fields, so reports in other languages translate them.
    """
    run = run_with_remaining_problems()
    second = run.cycles[1]
    second.phases[-1].notes.clear()
    second.phases[-1].add_note("report.note.no_safe_repair")
    run.cycles[0].phases[0].add_note("report.note.collected", count=4)
    # A note the loop stores as plain text (an analysis warning) stays as written.
    run.cycles[0].phases[1].notes.append("pattern RESTART_LOOP failed: ValueError: bad count")
    run.warnings = []
    run.add_warning("report.warning.no_functional_checks")
    key_error_finding = run.remaining[1]
    rejected = host_repair()
    run.recommendations = [
        Recommendation(
            "high",
            key_error_finding.recommendation,
            "tacore/api.py:41",
            "KEY_ERROR",
            MAIN,
            message=Message(
                "report.recommendation.finding",
                {
                    "summary": {
                        "key": "finding.KEY_ERROR",
                        "params": {"service": MAIN, **key_error_finding.facts},
                        "text": key_error_finding.summary,
                    }
                },
                key_error_finding.recommendation,
            ),
        ),
        Recommendation(
            "low",
            f"{rejected.title}: not applied ({rejected.reason})",
            None,
            "MISSING_ENV",
            WORKER,
            message=message(
                "report.recommendation.repair_not_applied",
                title=Message(
                    "report.repair.title.set_env",
                    {"service": WORKER, "name": "TACORESERVICE_HOST", "value": "tacoreservice"},
                    rejected.title,
                ),
                reason=rejected.reason,
            ),
        ),
    ]
    return run


def crash_loop_run() -> RunRecord:
    """A worker that crashes, restarts and is OOM-killed; the rollback checks decide the end.

    The single cycle is rolled back, and the checks run after the rollback
    are the final ones.
    """
    run = base_run(stop_reason="worse", verdict=Verdict.PROBLEMS_REMAIN, max_cycles=1)
    run.finished_at = at(120)
    run.baseline_checks = [make_check("health-endpoint", True, "200", 20)]

    cycle = CycleRecord(number=1, verdict=Verdict.WORSE, rolled_back=True)
    cycle.phases = diagnose_phases(25) + [
        make_phase("REPAIR-01", 28, 29, "edit docker-compose.yml"),
        make_phase(
            "VERIFY-01", 30, 118, "docker compose -p tacore down", "docker compose -p tacore up -d"
        ),
    ]
    worker = "tacore-tacoreservice-worker-1"
    cycle.snapshots = [
        make_snapshot("tacore-tacoreservice-1", MAIN, 1, None),
        make_snapshot(worker, WORKER, 1, "starting"),
        ContainerSnapshot(at(8), worker, WORKER, "exited", None, exit_code=1, restart_count=0),
        ContainerSnapshot(at(9), worker, WORKER, "restarting", None, exit_code=1, restart_count=1),
        make_snapshot(worker, WORKER, 10, "starting", restart_count=1),
        ContainerSnapshot(
            at(20), worker, WORKER, "exited", None, exit_code=137, restart_count=1, oom_killed=True
        ),
        # After the redeploy of VERIFY-01.
        make_snapshot("tacore-tacoreservice-1", MAIN, 45, None),
        ContainerSnapshot(at(60), worker, WORKER, "exited", None, exit_code=0),
    ]
    cycle.findings = [vacuous_worker_healthcheck()]
    cycle.repairs = [healthcheck_repair(RepairStatus.ROLLED_BACK)]
    cycle.repairs[0].reason = "check health-endpoint passed before and fails now"
    cycle.checks = [make_check("health-endpoint", False, "connection refused", 70)]
    cycle.rollback_checks = [make_check("health-endpoint", True, "200 after the rollback", 110)]
    cycle.settle_seconds = 14.0
    cycle.settle_detect_seconds = 0.2
    cycle.verdict_latency_seconds = 3.5
    run.cycles = [cycle]
    run.remaining = [vacuous_worker_healthcheck()]
    return run


ALL_SCENARIOS = {
    "remaining": run_with_remaining_problems,
    "healthy": healthy_run,
    "rolled_back": rolled_back_run,
    "dry_run": dry_run,
    "no_checks": run_without_checks,
    "healthy_containers_failing_checks": healthy_containers_failing_checks,
    "messages": run_with_messages,
    "crash_loop": crash_loop_run,
}
