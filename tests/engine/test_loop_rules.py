"""The loop's safety rules against the real engine.

A small stack of our own (one HTTP server on a named volume) runs the loop
in-process with a planner substituted by the test, so the one repair is
known to be harmful: the loop must find the cycle worse, roll it back,
redeploy and never try the repair again, and the volume's data must
survive. A second `stackmedic run` while the project is locked is
rejected, and Ctrl-C in the middle of a run on the sample leaves the
compose file as it was.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackmedic import loop
from stackmedic.engine import ComposeProject, DockerEngine
from stackmedic.loop import LoopOptions, run_loop
from stackmedic.model import CheckSpec, ComposeEdit, Repair, RepairStatus, Verdict
from stackmedic.plan import Plan
from stackmedic.verify.checks import CheckRunner

pytestmark = pytest.mark.engine

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = REPO_ROOT / "examples" / "tacoreservice"
BASE_IMAGE = "stackmedic/python-base:bookworm"
LOCAL_IMAGES = {"BASE_IMAGE": BASE_IMAGE, "REDIS_IMAGE": "stackmedic/redis:bookworm"}

COMPOSE = f"""\
# An HTTP server on the port PORT names, with its files on a named volume.
services:
  api:
    image: {BASE_IMAGE}
    init: true
    working_dir: /srv/data
    command: ["sh", "-c", "exec python -m http.server \\"$$PORT\\""]
    environment:
      - PORT=8000
    volumes:
      - apidata:/srv/data
    healthcheck:
      test: ["CMD", "python", "-c", "import os, urllib.request; urllib.request.urlopen('http://localhost:' + os.environ['PORT'] + '/', timeout=2)"]
      interval: 1s
      timeout: 2s
      retries: 5

volumes:
  apidata: {{}}
"""


def stack_plan() -> Plan:
    return Plan(
        id="LOOP-RULES",
        name="loop rules",
        target="api",
        checks=[
            CheckSpec("api-http", "http", {"url": "http://api:8000/", "timeout": 5}),
            # Fails at baseline, so the loop has something to repair.
            CheckSpec(
                "api-ready",
                "exec",
                {"service": "api", "command": ["test", "-f", "/srv/data/ready"]},
            ),
        ],
        settle_timeout=90,
    )


def harmful_repair() -> Repair:
    return Repair(
        id="R1",
        finding_id="F1",
        code="TEST_HARMFUL",
        service="api",
        title="Set PORT=8001 for api",
        edit=ComposeEdit("set_env", "api", {"name": "PORT", "value": "8001"}),
        status=RepairStatus.PLANNED,
        prediction="PORT: 8000 -> 8001",
    )


@pytest.fixture()
def stack(tmp_path: Path, docker_engine: None) -> Iterator[ComposeProject]:
    folder = tmp_path / "stack"
    folder.mkdir()
    (folder / "compose.yaml").write_text(COMPOSE)
    name = f"smrules-{uuid.uuid4().hex[:8]}"
    project = ComposeProject.open(folder, name=name)
    try:
        project.up(build=False)
        yield project
    finally:
        subprocess.run(
            ["docker", "compose", "-p", name, "down", "-v", "--remove-orphans"],
            cwd=folder,
            capture_output=True,
            check=False,
            timeout=180,
        )


def exec_in_api(engine: DockerEngine, project: ComposeProject, command: list[str]) -> Any:
    runner = CheckRunner(engine, project.name, since=time.time())
    return runner.run(CheckSpec("exec", "exec", {"service": "api", "command": command}))


def test_harmful_cycle_rolled_back_and_data_kept(
    stack: ComposeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = DockerEngine.connect()
    compose = stack.project_dir / "compose.yaml"
    original = compose.read_bytes()
    marker = f"marker-{uuid.uuid4().hex}"
    wrote = exec_in_api(engine, stack, ["sh", "-c", f"echo {marker} > /srv/data/marker"])
    assert wrote.passed, wrote.detail
    calls: list[int] = []

    def substituted_planner(*args: Any, **kwargs: Any) -> list[Repair]:
        calls.append(1)
        return [harmful_repair()]

    monkeypatch.setattr(loop, "plan_repairs", substituted_planner)

    record = run_loop(
        stack, engine, stack_plan(), LoopOptions(max_cycles=3, run_dir=tmp_path / "run")
    )

    baseline = {check.name: check.passed for check in record.baseline_checks}
    first = record.cycles[0]
    assert baseline == {"api-http": True, "api-ready": False}
    assert first.verdict == Verdict.WORSE
    assert first.rolled_back is True
    assert first.repairs[0].status == RepairStatus.ROLLED_BACK
    assert "check api-http passed before and now fails" in first.repairs[0].reason
    assert {check.name: check.passed for check in first.checks}["api-http"] is False
    assert {check.name: check.passed for check in first.rollback_checks}["api-http"] is True
    assert compose.read_bytes() == original

    second = record.cycles[1]
    assert second.repairs[0].status == RepairStatus.REJECTED
    assert second.repairs[0].reason.startswith("rolled back in cycle 1")
    assert len(record.cycles) == 2
    assert record.stop_reason == "no_repairs"
    assert len(calls) == 2

    assert first.settle_seconds is not None
    assert first.settle_detect_seconds is not None
    assert 0 <= first.settle_detect_seconds < 5
    assert first.verdict_latency_seconds is not None
    assert [check.passed for check in record.final_checks] == [True, False]

    kept = exec_in_api(engine, stack, ["cat", "/srv/data/marker"])
    assert kept.passed, kept.detail
    assert marker in kept.observed["output"]


HOLDER = """
import sys
from pathlib import Path
from stackmedic.lock import ProjectLock

with ProjectLock(Path(sys.argv[1]), "first-run"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_second_run_rejected_while_project_locked(stack: ComposeProject, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(stack.project_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        compose_before = (stack.project_dir / "compose.yaml").read_bytes()

        second = subprocess.run(
            [
                sys.executable,
                "-c",
                "from stackmedic.cli import main; main()",
                "run",
                str(stack.project_dir),
                "-p",
                stack.name,
                "--run-dir",
                str(tmp_path / "second"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)

    assert second.returncode == 2, second.stdout + second.stderr
    assert "is locked by run first-run" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert (stack.project_dir / "compose.yaml").read_bytes() == compose_before


# Ctrl-C on the sample


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_file(path: Path, process: subprocess.Popen[str], timeout_s: float) -> bool:
    """Poll for `path` until it exists, the process ends or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            return True
        if process.poll() is not None:
            return False
        # Polling the file system is the test's only way to see the run's progress.
        time.sleep(0.2)
    return False


def test_sigint_during_run_restores_compose_file(tmp_path: Path, docker_engine: None) -> None:
    project_dir = tmp_path / "tacoreservice"
    subprocess.run(["cp", "-r", str(SAMPLE), str(project_dir)], check=True)
    name = f"smsigint-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **LOCAL_IMAGES, "TACORESERVICE_HTTP_PORT": str(free_port())}
    compose = project_dir / "docker-compose.yml"
    original = compose.read_bytes()
    run_dir = tmp_path / "run"
    try:
        subprocess.run(
            ["docker", "compose", "-p", name, "up", "--build", "-d"],
            cwd=project_dir,
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        )
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from stackmedic.cli import main; main()",
                "run",
                str(project_dir),
                "-p",
                name,
                "--run-dir",
                str(run_dir),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            applied = wait_for_file(
                run_dir / "backups" / "cycle-1" / "changeset.json", process, 600
            )
            edited = compose.read_bytes() != original
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=300)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)

        assert applied, "the run wrote no change set"
        assert edited, "the change set was written to the compose file"
        assert process.returncode == 130, stdout + stderr
        assert compose.read_bytes() == original
        assert not (project_dir / ".stackmedic" / "lock").exists()
    finally:
        subprocess.run(
            ["docker", "compose", "-p", name, "down", "-v", "--remove-orphans", "--rmi", "local"],
            cwd=project_dir,
            env=env,
            capture_output=True,
            timeout=300,
            check=False,
        )


def volume_command(volume: str, script: str) -> subprocess.CompletedProcess[str]:
    """Run a shell script in a throwaway container with `volume` mounted at /data."""
    return subprocess.run(
        ["docker", "run", "--rm", "-v", f"{volume}:/data", BASE_IMAGE, "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_full_run_on_sample_keeps_volume_data(tmp_path: Path, docker_engine: None) -> None:
    project_dir = tmp_path / "tacoreservice"
    subprocess.run(["cp", "-r", str(SAMPLE), str(project_dir)], check=True)
    name = f"smdata-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **LOCAL_IMAGES, "TACORESERVICE_HTTP_PORT": str(free_port())}
    volume = f"{name}_tacore-data"
    marker = f"marker-{uuid.uuid4().hex}"
    run_dir = tmp_path / "run"
    try:
        subprocess.run(
            ["docker", "compose", "-p", name, "up", "--build", "-d"],
            cwd=project_dir,
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        )
        wrote = volume_command(volume, f"echo {marker} > /data/stackmedic-marker")
        assert wrote.returncode == 0, wrote.stderr

        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "from stackmedic.cli import main; main()",
                "run",
                str(project_dir),
                "-p",
                name,
                "--run-dir",
                str(run_dir),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )

        assert result.returncode in (0, 1), result.stdout + result.stderr
        assert (run_dir / "backups" / "cycle-1" / "changeset.json").exists(), (
            "the run deployed repairs"
        )
        read = volume_command(volume, "cat /data/stackmedic-marker && ls /data")
        assert read.returncode == 0, read.stderr
        assert marker in read.stdout
        assert "tacoreservice.db" in read.stdout
    finally:
        subprocess.run(
            ["docker", "compose", "-p", name, "down", "-v", "--remove-orphans", "--rmi", "local"],
            cwd=project_dir,
            env=env,
            capture_output=True,
            timeout=300,
            check=False,
        )
