"""The engine room, evidence collection and verification against the real engine.

One small compose project (a web server with a health check, a one-shot job
and a service that logs an error) is deployed once for the module and taken
down with its volumes at the end.
"""

import subprocess
import time
import uuid

import pytest

from stackmedic.engine import ComposeProject, DockerEngine
from stackmedic.errors import ComposeFileError, ContainerGoneError
from stackmedic.evidence.collect import collect
from stackmedic.model import CheckSpec
from stackmedic.verify.checks import CheckRunner
from stackmedic.verify.deploy import redeploy
from stackmedic.verify.wait import wait_until_settled

pytestmark = pytest.mark.engine

BASE_IMAGE = "stackmedic/python-base:bookworm"

COMPOSE = f"""\
# A tiny stack for engine tests.
services:
  web:
    image: {BASE_IMAGE}
    working_dir: /srv
    command: ["sh", "-c", "mkdir -p /srv/data && cat /srv/data/visits 2>/dev/null; echo ok > status.txt && echo 'web listening on 0.0.0.0:8000' && exec python -m http.server 8000"]
    volumes:
      - webdata:/srv/data
    healthcheck:
      test: ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:8000/status.txt', timeout=2)"]
      interval: 1s
      timeout: 2s
      retries: 3
  job:
    image: {BASE_IMAGE}
    command: ["sh", "-c", "echo migration done"]
  noisy:
    image: {BASE_IMAGE}
    command: ["sh", "-c", "echo '2026-12-04 20:00:00,000 - ERROR - boom in noisy'; exec sleep 300"]
volumes:
  webdata: {{}}
"""


@pytest.fixture(scope="module")
def engine() -> DockerEngine:
    return DockerEngine.connect()


@pytest.fixture(scope="module")
def project(tmp_path_factory, engine):
    folder = tmp_path_factory.mktemp("stack")
    (folder / "compose.yaml").write_text(COMPOSE)
    name = f"smtest-{uuid.uuid4().hex[:8]}"
    project = ComposeProject.open(folder, name=name)
    project.up(build=False)
    yield project
    subprocess.run(["docker", "compose", "-p", name, "down", "-v", "--remove-orphans"],
                   capture_output=True, check=False, timeout=120)


@pytest.fixture(scope="module")
def settled(engine, project):
    return wait_until_settled(engine, project.name, timeout=60)


def test_wait_ends_when_every_container_settles(settled):
    assert settled.settled is True
    assert settled.unsettled == []
    assert settled.seconds < 60
    healthy = [s for s in settled.snapshots if s.service == "web" and s.health == "healthy"]
    assert healthy, "the web container's healthy state was observed"


def test_wait_returns_at_once_on_settled_project(engine, project, settled):
    started = time.monotonic()
    again = wait_until_settled(engine, project.name, timeout=60)

    assert again.settled is True
    assert again.events_seen == 0
    assert time.monotonic() - started < 5


def test_collect_reads_state_logs_and_config(engine, project, settled):
    evidence = collect(project, engine)

    by_service = {c.service: c for c in evidence.containers}
    assert set(by_service) == {"web", "job", "noisy"}
    assert by_service["web"].health == "healthy"
    assert by_service["job"].state == "exited"
    assert by_service["job"].exit_code == 0
    assert any("ERROR - boom in noisy" in line.text for line in by_service["noisy"].logs)
    assert all(line.timestamp for line in by_service["noisy"].logs)
    assert evidence.compose_config["services"]["web"]["healthcheck"]["retries"] == 3
    assert any(p.method == "compose-cli" for p in evidence.provenance)
    assert all(c.provenance for c in evidence.containers)


def test_http_check_resolves_service_name(engine, project, settled):
    runner = CheckRunner(engine, project.name, since=time.time() - 60)

    ok = runner.run(CheckSpec("status", "http", {"url": "http://web:8000/status.txt"}))
    missing = runner.run(CheckSpec("missing", "http", {"url": "http://web:8000/nope"}))

    assert ok.passed is True, ok.detail
    assert missing.passed is False
    assert "404" in missing.detail


def test_exec_and_tcp_checks(engine, project, settled):
    runner = CheckRunner(engine, project.name, since=time.time() - 60)

    good = runner.run(CheckSpec("exec", "exec", {"service": "web", "command": ["cat", "status.txt"],
                                                  "expect_output": "ok"}))
    bad = runner.run(CheckSpec("exec-fails", "exec", {"service": "web", "command": ["false"]}))
    tcp = runner.run(CheckSpec("tcp", "tcp", {"host": "web", "port": 8000}))
    closed = runner.run(CheckSpec("tcp-closed", "tcp", {"host": "web", "port": 8001, "timeout": 2}))

    assert good.passed is True, good.detail
    assert bad.passed is False
    assert "exited 1" in bad.detail
    assert tcp.passed is True, tcp.detail
    assert closed.passed is False


def test_log_checks_stop_at_first_match(engine, project, settled):
    runner = CheckRunner(engine, project.name, since=time.time() - 120)

    started = time.monotonic()
    absent = runner.run(CheckSpec("clean", "log_absent", {"service": "noisy", "pattern": "ERROR", "window": 20}))
    present = runner.run(CheckSpec("ready", "log_present", {"service": "web", "pattern": "listening", "window": 20}))
    elapsed = time.monotonic() - started

    assert absent.passed is False
    assert "boom in noisy" in absent.detail
    assert present.passed is True, present.detail
    assert elapsed < 15, "a match ends the window early"


def test_log_absent_passes_over_quiet_window(engine, project, settled):
    runner = CheckRunner(engine, project.name, since=time.time())

    result = runner.run(CheckSpec("quiet", "log_absent", {"service": "web", "pattern": "Traceback", "window": 2}))

    assert result.passed is True, result.detail


def test_inspect_of_removed_container_raises_gone(engine, project):
    container_id = subprocess.run(
        ["docker", "run", "-d", BASE_IMAGE, "true"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["docker", "rm", "-f", container_id], capture_output=True, check=True)

    with pytest.raises(ContainerGoneError):
        engine.inspect_container(container_id)


def test_redeploy_keeps_volume_data(engine, project, settled):
    runner = CheckRunner(engine, project.name, since=time.time())
    marker = f"visit-{uuid.uuid4().hex[:6]}"
    wrote = runner.run(CheckSpec("write", "exec", {"service": "web",
                                                   "command": ["sh", "-c", f"echo {marker} > /srv/data/visits"]}))
    assert wrote.passed is True, wrote.detail

    result = redeploy(project, engine, settle_timeout=60)

    assert result.settle.settled is True
    after = CheckRunner(engine, project.name, since=time.time())
    kept = after.run(CheckSpec("read", "exec", {"service": "web", "command": ["cat", "/srv/data/visits"],
                                                "expect_output": marker}))
    assert kept.passed is True, kept.detail


def test_malformed_compose_file_is_one_line_error(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: x\n   bad: [\n")

    with pytest.raises(ComposeFileError) as raised:
        ComposeProject.open(tmp_path)

    assert "compose.yaml:" in str(raised.value)
    assert "\n" not in str(raised.value)
