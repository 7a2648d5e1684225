"""Event-driven waits and functional verdicts against the real engine.

The wait must end as soon as the last container settles (measured against
the engine's own time of that health transition), end at its timeout when a
container never settles, and a container that is healthy must not make a
failing functional check pass.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackmedic.engine import ComposeProject, DockerEngine
from stackmedic.model import CheckSpec, Verdict
from stackmedic.verify.checks import CheckRunner
from stackmedic.verify.deploy import redeploy
from stackmedic.verify.verdict import success_rate, verdict_of
from stackmedic.verify.wait import parse_engine_time, wait_until_settled

pytestmark = pytest.mark.engine

BASE_IMAGE = "stackmedic/python-base:bookworm"

# `slow` turns healthy about 3 s after it starts; `idle` has no health check.
SETTLING = f"""\
services:
  slow:
    image: {BASE_IMAGE}
    init: true
    command: ["sh", "-c", "sleep 3 && touch /tmp/ready && exec sleep 600"]
    healthcheck:
      test: ["CMD", "python", "-c", "import os, sys; sys.exit(0 if os.path.exists('/tmp/ready') else 1)"]
      interval: 1s
      timeout: 2s
      retries: 30
  idle:
    image: {BASE_IMAGE}
    init: true
    command: ["sleep", "600"]
"""

# A health check that has not produced a verdict within the test's timeout.
NEVER_SETTLES = f"""\
services:
  pending:
    image: {BASE_IMAGE}
    init: true
    command: ["sleep", "600"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 120s
      start_period: 120s
"""

# Healthy by its health check, but serving nothing on the checked path.
HEALTHY_BUT_BROKEN = f"""\
services:
  web:
    image: {BASE_IMAGE}
    init: true
    working_dir: /srv
    command: ["python", "-m", "http.server", "8000"]
    healthcheck:
      test: ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:8000/', timeout=2)"]
      interval: 1s
      retries: 5
"""


def open_stack(folder: Path, text: str) -> ComposeProject:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "compose.yaml").write_text(text)
    return ComposeProject.open(folder, name=f"smverify-{uuid.uuid4().hex[:8]}")


@pytest.fixture()
def stacks(docker_engine: None) -> Iterator[list[ComposeProject]]:
    created: list[ComposeProject] = []
    yield created
    for project in created:
        subprocess.run(
            ["docker", "compose", "-p", project.name, "down", "-v", "--remove-orphans", "-t", "1"],
            cwd=project.project_dir,
            capture_output=True,
            check=False,
            timeout=180,
        )


def test_wait_ends_right_after_last_container_settles(
    tmp_path: Path, stacks: list[ComposeProject]
) -> None:
    engine = DockerEngine.connect()
    project = open_stack(tmp_path / "settling", SETTLING)
    stacks.append(project)

    deploy = redeploy(project, engine, settle_timeout=60, recreate=False)

    settle = deploy.settle
    assert settle.settled is True
    assert settle.events_seen > 0
    assert settle.detect_seconds is not None
    assert settle.detect_seconds < 2.0
    assert settle.settle_event_at is not None
    # The health transition the wait ended on is the engine's own record.
    slow = next(c for c in engine.project_containers(project.name) if "slow" in c["Names"][0])
    health_log = engine.inspect_container(slow["Id"])["State"]["Health"]["Log"]
    first_pass = next(entry for entry in health_log if entry["ExitCode"] == 0)
    assert parse_engine_time(first_pass["End"]) is not None
    assert abs(settle.settle_event_at - parse_engine_time(first_pass["End"])) < 1.5  # type: ignore[operator]
    assert settle.seconds < 15
    states = {(s.service, s.health) for s in settle.snapshots}
    assert ("slow", "healthy") in states
    assert ("idle", None) in states


def test_wait_times_out_naming_unsettled(
    tmp_path: Path, stacks: list[ComposeProject]
) -> None:
    engine = DockerEngine.connect()
    project = open_stack(tmp_path / "pending", NEVER_SETTLES)
    stacks.append(project)
    project.up(build=False)

    started = time.monotonic()
    settle = wait_until_settled(engine, project.name, timeout=3)
    elapsed = time.monotonic() - started

    assert settle.settled is False
    assert settle.detect_seconds is None
    assert [name.split("-")[-2] for name in settle.unsettled] == ["pending"]
    assert 2.5 <= elapsed < 10


def test_healthy_container_does_not_pass_failing_check(
    tmp_path: Path, stacks: list[ComposeProject]
) -> None:
    engine = DockerEngine.connect()
    project = open_stack(tmp_path / "web", HEALTHY_BUT_BROKEN)
    stacks.append(project)
    deploy = redeploy(project, engine, settle_timeout=60, recreate=False)
    assert deploy.settle.settled

    checks = CheckRunner(engine, project.name, deploy.started_at).run_all(
        [
            CheckSpec("containers", "containers", {}),
            CheckSpec("api", "http", {"url": "http://web:8000/api/items", "timeout": 5}),
        ]
    )

    assert [check.passed for check in checks] == [True, False]
    assert "answered 404" in checks[1].detail
    assert verdict_of(checks) == Verdict.PROBLEMS_REMAIN
    assert success_rate(checks) == 0.5
