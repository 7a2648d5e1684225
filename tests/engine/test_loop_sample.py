"""The whole loop on the broken sample, through the CLI, on the real engine.

The broken stack is brought up from a temporary copy, then `stackmedic run`
must find the compose faults, repair them, verify with the plan's functional
checks, and report the two code faults with their file and line.
"""

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.engine

SAMPLE = REPO_ROOT / "examples" / "tacoreservice"
LOCAL_IMAGES = {
    "BASE_IMAGE": "stackmedic/python-base:bookworm",
    "REDIS_IMAGE": "stackmedic/redis:bookworm",
}


# Filled by the module fixture: the dry run made before the real run.
DRY_RUN: dict = {}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory, request):
    """Run the loop once on a broken copy; yield (exit code, report, project dir, stdout)."""
    request.getfixturevalue("docker_engine")
    work = tmp_path_factory.mktemp("loop")
    project_dir = work / "tacoreservice"
    subprocess.run(["cp", "-r", str(SAMPLE), str(project_dir)], check=True)
    name = f"smloop-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **LOCAL_IMAGES, "TACORESERVICE_HTTP_PORT": str(free_port())}
    run_dir = work / "run"
    try:
        subprocess.run(["docker", "compose", "-p", name, "up", "--build", "-d"], cwd=project_dir,
                       env=env, check=True, capture_output=True, timeout=600)
        compose_before = (project_dir / "docker-compose.yml").read_bytes()
        dry_dir = work / "dry-run"
        dry = subprocess.run(
            [sys.executable, "-c", "from stackmedic.cli import main; main()",
             "run", str(project_dir), "-p", name, "--run-dir", str(dry_dir), "--dry-run"],
            env=env, capture_output=True, text=True, timeout=1200, check=False,
        )
        DRY_RUN.update(result=dry, run_dir=dry_dir, unchanged=(
            (project_dir / "docker-compose.yml").read_bytes() == compose_before))
        result = subprocess.run(
            [sys.executable, "-c", "from stackmedic.cli import main; main()",
             "run", str(project_dir), "-p", name, "--run-dir", str(run_dir)],
            env=env, capture_output=True, text=True, timeout=1200, check=False,
        )
        report = json.loads((run_dir / "report.json").read_text()) if (run_dir / "report.json").exists() else None
        yield result, report, project_dir, run_dir
    finally:
        subprocess.run(["docker", "compose", "-p", name, "down", "-v", "--remove-orphans", "--rmi", "local"],
                       cwd=project_dir, env=env, capture_output=True, timeout=300, check=False)


def findings_of(cycle: dict) -> dict[str, list[dict]]:
    by_code: dict[str, list[dict]] = {}
    for finding in cycle["findings"]:
        by_code.setdefault(finding["code"], []).append(finding)
    return by_code


def test_run_ends_with_problems_remaining(sample_run):
    result, report, _, _ = sample_run

    assert result.returncode == 1, result.stdout + result.stderr
    assert report is not None
    assert report["verdict"] == "problems_remain"


def test_first_cycle_finds_compose_faults(sample_run):
    _, report, _, _ = sample_run
    first = findings_of(report["cycles"][0])

    assert "STARTUP_HANG" in first
    hang = first["STARTUP_HANG"][0]
    assert hang["service"] == "tacoreservice-worker"
    assert hang["location"]["path"] == "tacore/worker.py"
    assert "ENDPOINT_MISMATCH" in first
    assert first["ENDPOINT_MISMATCH"][0]["facts"]["expected"] in (5556, "5556")
    assert "HEALTHCHECK_MISCONFIGURED" in first
    assert "DEPENDENCY_NOT_READY" in first


def test_repairs_applied_and_nil_effect_rejected(sample_run):
    _, report, project_dir, run_dir = sample_run
    repairs = report["cycles"][0]["repairs"]
    by_variable = {r["edit"]["params"].get("name"): r for r in repairs
                   if r["edit"] and r["edit"]["action"] == "set_env"}

    assert by_variable["TACORESERVICE_BACKEND_PORT"]["status"] == "applied"
    assert by_variable["TACORESERVICE_HOST"]["status"] == "rejected"
    assert "tacoreservice" in by_variable["TACORESERVICE_HOST"]["reason"]
    compose = (project_dir / "docker-compose.yml").read_text()
    assert "TACORESERVICE_BACKEND_PORT=5556" in compose
    assert "tacore.worker_health" in compose
    assert "condition: service_healthy" in compose
    assert "# Analysis workers; they register with the broker over ZeroMQ." in compose
    assert "TACORESERVICE_HOST" not in compose
    backups = list((run_dir / "backups").rglob("docker-compose.yml"))
    assert backups, "the original compose file is backed up in the run folder"
    assert "TACORESERVICE_BACKEND_PORT" not in backups[0].read_text()


def test_verification_uses_functional_checks(sample_run):
    _, report, _, _ = sample_run
    first = report["cycles"][0]
    checks = {c["name"]: c for c in first["checks"]}

    assert set(checks) == {"workers-api", "client-round-trip", "main-log-clean"}
    assert checks["client-round-trip"]["passed"] is True, checks["client-round-trip"]["detail"]
    assert checks["workers-api"]["passed"] is False
    assert checks["main-log-clean"]["passed"] is False
    assert first["settle_seconds"] is not None
    baseline = {c["name"]: c["passed"] for c in report["baseline_checks"]}
    assert baseline == {"workers-api": False, "client-round-trip": False, "main-log-clean": False}


def test_code_faults_remain_with_file_and_line(sample_run):
    _, report, _, _ = sample_run
    remaining = {f["code"]: f for f in report["remaining"]}

    assert remaining["KEY_ERROR"]["location"]["path"] == "tacore/api.py"
    assert remaining["KEY_ERROR"]["facts"]["closest_column"] == "last_heartbeat"
    assert remaining["MISSING_ATTRIBUTE"]["location"]["path"] == "tacore/main.py"
    assert remaining["MISSING_ATTRIBUTE"]["facts"]["attribute"] == "record_service_metrics"
    assert "STARTUP_HANG" not in remaining
    assert "ENDPOINT_MISMATCH" not in remaining


def test_report_files_written(sample_run):
    _, _, _, run_dir = sample_run
    markdown = (run_dir / "report.md").read_text()

    assert "tacore/api.py" in markdown
    assert "TACORESERVICE_BACKEND_PORT" in markdown
    assert "```diff" in markdown


def test_dry_run_plans_but_writes_nothing(sample_run):
    result = DRY_RUN["result"]
    report = json.loads((DRY_RUN["run_dir"] / "report.json").read_text())
    statuses = {r["title"]: r["status"] for r in report["cycles"][0]["repairs"]}

    assert result.returncode == 1, result.stdout + result.stderr
    assert DRY_RUN["unchanged"] is True
    assert report["stop_reason"] == "dry_run"
    assert "planned" in statuses.values()
    assert "applied" not in statuses.values()
    assert all(r["diff"] for r in report["cycles"][0]["repairs"] if r["status"] == "planned")
    assert not (DRY_RUN["run_dir"] / "backups" / "cycle-1" / "docker-compose.yml").exists()
