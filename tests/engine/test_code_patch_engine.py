"""Code patches on the real engine: the broken sample repaired to healthy, code included.

The test deploys a broken copy of the sample and runs the loop's steps by
hand, with code changes allowed: collect evidence, analyse it, read the
schema from the SQLite file in the volume, propose code patches, plan every
repair, apply the compose edits and the code patches as one change set,
redeploy (which rebuilds the patched images) and run the plan's functional
checks. It repeats for at most 3 cycles and needs every check passing.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from stackmedic.analysis import analyse
from stackmedic.analysis.patch_schema import (
    TableInfo,
    schema_from_sqlite_file,
    sqlite_database_paths,
)
from stackmedic.analysis.patches import propose_patches
from stackmedic.engine import ComposeProject, DockerEngine
from stackmedic.evidence.collect import collect
from stackmedic.evidence.model import Evidence
from stackmedic.model import CheckResult, Repair, RepairStatus
from stackmedic.plan import load_plan
from stackmedic.repair import apply_repairs, plan_repairs, rollback
from stackmedic.repair.code_patch import apply_code_patches
from stackmedic.verify.checks import CheckRunner
from stackmedic.verify.deploy import redeploy
from stackmedic.verify.verdict import regressions
from stackmedic.verify.wait import wait_until_settled

pytestmark = pytest.mark.engine
logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = REPO_ROOT / "examples" / "tacoreservice"
LOCAL_IMAGES = {
    "BASE_IMAGE": "stackmedic/python-base:bookworm",
    "REDIS_IMAGE": "stackmedic/redis:bookworm",
}
MAX_CYCLES = 3
CODE_FAULTS = {"KEY_ERROR", "MISSING_ATTRIBUTE", "STARTUP_HANG"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def copy_database(evidence: Evidence, target: Path) -> Path | None:
    """Copy the SQLite file a running container names in its environment; None when none can be."""
    for location in sqlite_database_paths(evidence):
        result = subprocess.run(
            ["docker", "cp", f"{location.container_id}:{location.path}", str(target)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode == 0:
            return target
        logger.warning("docker cp of %s failed: %s", location.path, result.stderr.strip())
    return None


def database_schema(evidence: Evidence, folder: Path) -> list[TableInfo] | None:
    copied = copy_database(evidence, folder / f"schema-{time.monotonic_ns()}.db")
    return schema_from_sqlite_file(copied) if copied is not None else None


def program_probe(engine: DockerEngine, evidence: Evidence) -> Callable[[str, str], bool | None]:
    def program_exists(service: str, program: str) -> bool | None:
        for container in evidence.containers_of(service):
            if container.is_running:
                return engine.program_exists(container.id, program)
        return None

    return program_exists


def summary(checks: list[CheckResult]) -> str:
    return ", ".join(f"{c.name}={'pass' if c.passed else 'FAIL'}" for c in checks)


@pytest.fixture
def broken_sample(docker_engine: None, tmp_path: Path, compose_cleanup: Callable[..., None]):
    project_dir = tmp_path / "tacoreservice"
    subprocess.run(["cp", "-r", str(SAMPLE), str(project_dir)], check=True)
    name = f"smpatch-{uuid.uuid4().hex[:8]}"
    env = {**LOCAL_IMAGES, "TACORESERVICE_HTTP_PORT": str(free_port())}
    compose_cleanup(project_dir, name, env)
    subprocess.run(
        ["docker", "compose", "-p", name, "up", "--build", "-d"],
        cwd=project_dir,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=600,
    )
    project = ComposeProject.open(project_dir, name=name, env=env)
    return project, DockerEngine.connect()


def test_sample_reaches_healthy_with_code_patches(broken_sample, tmp_path: Path) -> None:
    project, engine = broken_sample
    plan = load_plan(project.project_dir)
    run_dir = tmp_path / "run"
    started = time.monotonic()

    since = time.time()
    settle = wait_until_settled(engine, project.name, plan.settle_timeout)
    checks = CheckRunner(engine, project.name, since).run_all(plan.checks)
    snapshots = settle.snapshots
    logger.info("baseline: %s", summary(checks))
    assert not all(c.passed for c in checks), "the broken sample must fail its checks first"

    cycles: list[dict[str, object]] = []
    applied: list[Repair] = []
    first_codes: set[str] = set()
    for number in range(1, MAX_CYCLES + 1):
        evidence = collect(project, engine)
        analysis = analyse(evidence)
        if number == 1:
            first_codes = {f.code for f in analysis.findings}
        tables = database_schema(evidence, tmp_path)
        propose_patches(analysis.findings, evidence, analysis.facts, database_tables=tables)
        repairs = plan_repairs(
            analysis.findings,
            evidence,
            analysis.facts,
            program_exists=program_probe(engine, evidence),
            allow_code_changes=True,
        )
        planned = [r for r in repairs if r.status == RepairStatus.PLANNED]
        assert planned, f"cycle {number} has nothing left to try: {summary(checks)}"

        changeset = apply_repairs(
            planned,
            evidence.compose_files,
            project.project_dir,
            run_dir,
            changeset_id=f"cycle-{number}",
        )
        changeset = apply_code_patches(planned, project.project_dir, run_dir, into=changeset)
        cycle_applied = [r for r in repairs if r.status == RepairStatus.APPLIED]
        applied += cycle_applied

        deploy = redeploy(project, engine, settle_timeout=plan.settle_timeout)
        after = CheckRunner(engine, project.name, deploy.started_at).run_all(plan.checks)
        worse = regressions(checks, after, snapshots, deploy.settle.snapshots)
        cycles.append(
            {
                "cycle": number,
                "findings": sorted(f.code for f in analysis.findings),
                "applied": [f"{r.id} {r.code}" for r in cycle_applied],
                "checks": summary(after),
                "worse": worse,
            }
        )
        logger.info("cycle %d: %s", number, cycles[-1])
        if worse:
            rollback(changeset, cycle_applied)
            deploy = redeploy(project, engine, settle_timeout=plan.settle_timeout)
            after = CheckRunner(engine, project.name, deploy.started_at).run_all(plan.checks)
        checks, snapshots = after, deploy.settle.snapshots
        if all(c.passed for c in checks):
            break

    elapsed = time.monotonic() - started
    logger.info("healthy after %d cycles in %.0f s: %s", len(cycles), elapsed, summary(checks))

    assert CODE_FAULTS <= first_codes
    assert all(c.passed for c in checks), f"after {len(cycles)} cycles: {cycles}"
    patched = {r.code: r for r in applied if r.patch}
    assert set(patched) == CODE_FAULTS, cycles
    assert patched["KEY_ERROR"].files == ["tacore/api.py"]
    assert patched["MISSING_ATTRIBUTE"].files == ["tacore/database.py"]
    assert patched["STARTUP_HANG"].files == ["tacore/worker.py"]
    assert "row['last_heartbeat']" in (project.project_dir / "tacore" / "api.py").read_text()
    assert (run_dir / "backups" / "cycle-1" / "tacore" / "api.py").is_file()

    evidence = collect(project, engine)
    remaining = {f.code for f in analyse(evidence).findings}
    assert not (CODE_FAULTS & remaining), remaining
    copied = copy_database(evidence, tmp_path / "final.db")
    assert copied is not None
    with sqlite3.connect(copied) as connection:
        (rows,) = connection.execute("SELECT COUNT(*) FROM service_metrics").fetchone()
    assert rows > 0, "the added record_service_metrics method stores the metrics"


def worker_states(engine: DockerEngine, project: str) -> list[str]:
    return [
        entry.get("State", "")
        for entry in engine.project_containers(project)
        if entry.get("Labels", {}).get("com.docker.compose.service") == "tacoreservice-worker"
    ]


def test_hang_patch_alone_turns_hang_into_logged_error(broken_sample) -> None:
    project, engine = broken_sample
    plan = load_plan(project.project_dir)
    wait_until_settled(engine, project.name, plan.settle_timeout)
    evidence = collect(project, engine)
    analysis = analyse(evidence)
    propose_patches(analysis.findings, evidence, analysis.facts)
    hang = next(f for f in analysis.findings if f.code == "STARTUP_HANG")
    (repair,) = [r for r in hang.repairs if r.patch]
    repair.status = RepairStatus.PLANNED

    apply_code_patches(
        [repair], project.project_dir, project.project_dir / ".stackmedic" / "run", "hang"
    )
    redeploy(project, engine, settle_timeout=plan.settle_timeout)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "running" in worker_states(engine, project.name):
        time.sleep(1)

    after = collect(project, engine)
    worker_logs = "\n".join(
        line.text
        for container in after.containers_of("tacoreservice-worker")
        for line in container.logs
    )
    assert repair.status == RepairStatus.APPLIED
    assert set(worker_states(engine, project.name)) == {"exited"}
    assert "No reply from tcp://tacoreservice:5555 after 1 s (attempt 1 of 5)" in worker_logs
    assert (
        "TimeoutError: no reply from tcp://tacoreservice:5555 after 5 attempts (23 s)"
        in worker_logs
    )
    assert "STARTUP_HANG" not in {f.code for f in analyse(after).findings}
