"""Record the evidence bundle tests/cases/tacoreservice-broken-live from a real engine.

Run by hand (`python tests/cases/record_sample_bundle.py`) on a machine with
the Docker Engine and the local base images of scripts/engine.sh. The script
starts a copy of the bundled broken sample under a unique project name and
waits until both workers report unhealthy. One GET /api/workers to the main
service makes it log its KeyError. Then it collects the evidence as
`stackmedic diagnose` would, saves it as a bundle, and removes the stack with
its volumes and built images.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from stackmedic.engine import ComposeProject, DockerEngine
from stackmedic.evidence.bundle import save_bundle
from stackmedic.evidence.collect import collect

logger = logging.getLogger("record_sample_bundle")

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "tacoreservice"
TARGET = Path(__file__).resolve().parent / "tacoreservice-broken-live"
LOCAL_IMAGES = {
    "BASE_IMAGE": "stackmedic/python-base:bookworm",
    "REDIS_IMAGE": "stackmedic/redis:bookworm",
}
UNHEALTHY_DEADLINE_S = 120.0
POLL_INTERVAL_S = 1.0


def _compose(project_dir: Path, name: str, env: dict[str, str], *arguments: str) -> None:
    subprocess.run(
        ["docker", "compose", "-p", name, *arguments],
        cwd=project_dir,
        env=env,
        check=True,
        capture_output=True,
        timeout=900,
    )


def _health(container: str) -> str:
    result = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Health.Status}}", container],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return result.stdout.strip()


def _wait_unhealthy(containers: list[str]) -> None:
    deadline = time.monotonic() + UNHEALTHY_DEADLINE_S
    while time.monotonic() < deadline:
        states = {name: _health(name) for name in containers}
        if all(state == "unhealthy" for state in states.values()):
            return
        time.sleep(POLL_INTERVAL_S)
    raise TimeoutError(f"workers not unhealthy after {UNHEALTHY_DEADLINE_S:.0f} s: {states}")


def _wait_for_log(container: str, text: str) -> None:
    """Poll the container's log until `text` appears, so the saved log holds it."""
    deadline = time.monotonic() + UNHEALTHY_DEADLINE_S
    while time.monotonic() < deadline:
        result = subprocess.run(
            ["docker", "logs", container], capture_output=True, text=True, check=False, timeout=30
        )
        if text in result.stdout + result.stderr:
            return
        time.sleep(POLL_INTERVAL_S)
    raise TimeoutError(f"{text!r} not in the log of {container}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _request_workers(address: str) -> None:
    connection = http.client.HTTPConnection(address, 8080, timeout=10)
    try:
        connection.request("GET", "/api/workers")
        response = connection.getresponse()
        logger.info("GET /api/workers -> %s %s", response.status, response.read()[:200])
    finally:
        connection.close()


def record() -> Path:
    work = Path(tempfile.mkdtemp(prefix="smrecord-"))
    project_dir = work / "tacoreservice"
    shutil.copytree(SAMPLE, project_dir, ignore=shutil.ignore_patterns("__pycache__"))
    name = f"smrec-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **LOCAL_IMAGES, "TACORESERVICE_HTTP_PORT": str(_free_port())}
    try:
        _compose(project_dir, name, env, "up", "--build", "-d")
        workers = [f"{name}-tacoreservice-worker-1", f"{name}-tacoreservice-worker-2"]
        _wait_unhealthy(workers)

        engine = DockerEngine.connect()
        main = engine.inspect_container(f"{name}-tacoreservice-1")
        networks = main["NetworkSettings"]["Networks"]
        address = next(iter(networks.values()))["IPAddress"]
        _request_workers(address)
        _wait_for_log(f"{name}-tacoreservice-1", "Error getting workers status")

        project = ComposeProject.open(project_dir, None, name, env=LOCAL_IMAGES)
        evidence = collect(project, engine)
        if TARGET.exists():
            shutil.rmtree(TARGET)
        save_bundle(evidence, TARGET)
        logger.info("saved %d containers to %s", len(evidence.containers), TARGET)
        return TARGET
    finally:
        subprocess.run(
            ["docker", "compose", "-p", name, "down", "-v", "--remove-orphans", "--rmi", "local"],
            cwd=project_dir,
            env=env,
            capture_output=True,
            check=False,
            timeout=300,
        )
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = record()
    manifest = json.loads((path / "bundle.json").read_text(encoding="utf-8"))
    sys.stdout.write(f"{path}: {len(manifest['containers'])} containers\n")
