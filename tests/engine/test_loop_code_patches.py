"""The whole loop on the broken sample with --allow-code-changes, through the CLI.

With code changes allowed, the compose repairs and the three code patches
(the KeyError column, the missing metrics method, the unbounded receive) must
take the sample to every functional check passing within three cycles.
"""

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.engine

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = REPO_ROOT / "examples" / "tacoreservice"
LOCAL_IMAGES = {
    "BASE_IMAGE": "stackmedic/python-base:bookworm",
    "REDIS_IMAGE": "stackmedic/redis:bookworm",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def patched_run(tmp_path_factory, request):
    request.getfixturevalue("docker_engine")
    work = tmp_path_factory.mktemp("patched")
    project_dir = work / "tacoreservice"
    subprocess.run(["cp", "-r", str(SAMPLE), str(project_dir)], check=True)
    originals = {path: (project_dir / path).read_bytes()
                 for path in ("tacore/api.py", "tacore/database.py", "tacore/worker.py")}
    name = f"smpatch-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **LOCAL_IMAGES, "TACORESERVICE_HTTP_PORT": str(free_port())}
    run_dir = work / "run"
    try:
        subprocess.run(["docker", "compose", "-p", name, "up", "--build", "-d"], cwd=project_dir,
                       env=env, check=True, capture_output=True, timeout=600)
        result = subprocess.run(
            [sys.executable, "-c", "from stackmedic.cli import main; main()",
             "run", str(project_dir), "-p", name, "--run-dir", str(run_dir), "--allow-code-changes"],
            env=env, capture_output=True, text=True, timeout=1200, check=False,
        )
        report = json.loads((run_dir / "report.json").read_text())
        yield result, report, project_dir, run_dir, originals
    finally:
        subprocess.run(["docker", "compose", "-p", name, "down", "-v", "--remove-orphans", "--rmi", "local"],
                       cwd=project_dir, env=env, capture_output=True, timeout=300, check=False)


def test_code_patches_make_sample_healthy(patched_run):
    result, report, _, _, _ = patched_run

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert report["verdict"] == "healthy"
    assert len(report["cycles"]) <= 3
    final = report["cycles"][-1]["checks"]
    assert [c["passed"] for c in final] == [True, True, True]
    assert report["remaining"] == []


def test_code_patches_applied_with_backups(patched_run):
    _, report, project_dir, run_dir, originals = patched_run
    patches = [r for r in report["cycles"][0]["repairs"] if r["patch"]]

    assert {r["code"] for r in patches if r["status"] == "applied"} >= {"KEY_ERROR", "MISSING_ATTRIBUTE"}
    assert all(r["diff"] for r in patches if r["status"] == "applied")
    assert "row['last_heartbeat']" in (project_dir / "tacore" / "api.py").read_text()
    assert "def record_service_metrics" in (project_dir / "tacore" / "database.py").read_text()
    for path, original in originals.items():
        backup = run_dir / "backups" / "cycle-1" / path
        if backup.exists():
            assert backup.read_bytes() == original
    assert (run_dir / "backups" / "cycle-1" / "tacore" / "api.py").exists()
