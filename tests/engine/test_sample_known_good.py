"""The bundled TACoreService sample shows its faults, and the known-good patch removes them.

Both tests deploy a copy of examples/tacoreservice under a unique compose
project name with the local base images, and remove everything they created.
"""

import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from stackmedic.model import CheckSpec
from stackmedic.plan import load_plan

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = REPO_ROOT / "examples" / "tacoreservice"
KNOWN_GOOD_PATCH = Path(__file__).parent / "fixes" / "tacoreservice-known-good.patch"
LOCAL_IMAGES = {
    "BASE_IMAGE": "stackmedic/python-base:bookworm",
    "REDIS_IMAGE": "stackmedic/redis:bookworm",
}
WAIT_TIMEOUT_S = 120
WORKER_REPLICAS = 2
# The main service's metrics loop runs every 5 s; 6 recorded rows cover the
# 30 s log window of the plan's main-log-clean check.
METRICS_ROWS_FOR_LOG_WINDOW = 6
HANG_LOG_LINE = "About to call worker.start()"
METRICS_ERROR = (
    "Error in metrics collection loop: "
    "'DatabaseManager' object has no attribute 'record_service_metrics'"
)
WORKERS_API_ERROR = "Error getting workers status: 'last_seen'"

pytestmark = pytest.mark.engine


@dataclass
class Deployment:
    """A compose project deployed from a folder, with helpers to look at it."""

    project_dir: Path
    name: str
    env: dict[str, str] = field(default_factory=dict)

    def compose(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "compose", "-p", self.name, *args],
            cwd=self.project_dir,
            env={**os.environ, **self.env},
            capture_output=True,
            check=False,
            text=True,
            timeout=timeout,
        )

    def container(self, service: str, index: int = 1) -> str:
        return f"{self.name}-{service}-{index}"

    def inspect(self, container: str) -> dict[str, Any]:
        result = subprocess.run(
            ["docker", "inspect", container],
            capture_output=True,
            check=False,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, f"docker inspect {container}: {result.stderr}"
        return json.loads(result.stdout)[0]

    def health(self, container: str) -> str:
        return self.inspect(container)["State"]["Health"]["Status"]

    def wait_for_health(self, container: str, status: str, timeout_s: float) -> None:
        wait_for(
            lambda: self.health(container) == status,
            timeout_s,
            f"{container} to turn {status}",
        )

    def ip_address(self, container: str) -> str:
        networks = self.inspect(container)["NetworkSettings"]["Networks"]
        return networks[f"{self.name}_default"]["IPAddress"]

    def logs(self, container: str, since: str | None = None) -> list[str]:
        command = ["docker", "logs", container]
        if since is not None:
            command += ["--since", since]
        result = subprocess.run(command, capture_output=True, check=False, text=True, timeout=30)
        assert result.returncode == 0, f"docker logs {container}: {result.stderr}"
        return (result.stdout + result.stderr).splitlines()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(
    condition: Callable[[], Any], timeout_s: float, description: str, interval_s: float = 1.0
) -> Any:
    """Poll condition() until it returns a truthy value; fail naming `description` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {description}")
        time.sleep(interval_s)


def http_get(url: str, timeout_s: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8")


@pytest.fixture
def deploy(
    docker_engine: None,
    copy_to_tmp: Callable[[Path], Path],
    compose_cleanup: Callable[..., None],
) -> Callable[[bool], tuple[Deployment, subprocess.CompletedProcess[str]]]:
    """Return a function that deploys a copy of the sample, patched or not, and waits for it."""

    def deploy_copy(patched: bool) -> tuple[Deployment, subprocess.CompletedProcess[str]]:
        project_dir = copy_to_tmp(SAMPLE_DIR)
        if patched:
            applied = subprocess.run(
                ["patch", "-p1", "--batch", "--forward", "-i", str(KNOWN_GOOD_PATCH)],
                cwd=project_dir,
                capture_output=True,
                check=False,
                text=True,
                timeout=30,
            )
            assert applied.returncode == 0, f"patch failed: {applied.stdout}{applied.stderr}"

        env = {**LOCAL_IMAGES, "TACORESERVICE_HTTP_PORT": str(free_port())}
        deployment = Deployment(project_dir, f"smtest-{uuid.uuid4().hex[:8]}", env)
        compose_cleanup(project_dir, deployment.name, env)
        up = deployment.compose(
            "up",
            "--build",
            "-d",
            "--wait",
            "--wait-timeout",
            str(WAIT_TIMEOUT_S),
            timeout=WAIT_TIMEOUT_S + 120,
        )
        return deployment, up

    return deploy_copy


def test_broken_sample_shows_its_faults(deploy: Callable[..., Any]) -> None:
    stack, up = deploy(False)
    workers = [stack.container("tacoreservice-worker", i) for i in range(1, WORKER_REPLICAS + 1)]
    main = stack.container("tacoreservice")

    # The workers' health check probes an HTTP port they do not serve.
    assert up.returncode != 0, f"up --wait succeeded on the broken sample:\n{up.stderr}"
    assert "is unhealthy" in up.stderr, up.stderr
    for worker in workers:
        stack.wait_for_health(worker, "unhealthy", timeout_s=60)
        state = stack.inspect(worker)["State"]
        assert state["Status"] == "running"
        last_probe = state["Health"]["Log"][-1]
        assert last_probe["ExitCode"] == 1
        # NOTE: the errno depends on the engine: 111 (connection refused) where
        # containers have IPv6, 99 (cannot assign requested address) where
        # ::1 is unusable and Python reports the last address tried.
        assert "urllib.error.URLError" in last_probe["Output"], last_probe["Output"]
        assert re.search(
            r"Connection refused|Cannot assign requested address", last_probe["Output"]
        ), last_probe["Output"]

    # Each worker connected to the frontend port and hangs waiting for the ACK.
    for worker in workers:
        lines = stack.logs(worker)
        assert lines, f"{worker} logged nothing"
        assert lines[-1].endswith(f" - INFO - {HANG_LOG_LINE}"), lines[-3:]
    client = stack.compose(
        "exec",
        "-T",
        "tacoreservice",
        "python",
        "-m",
        "tacore.client",
        "scan.market",
        "BTCUSDT",
        "--timeout",
        "3",
        timeout=30,
    )
    assert client.returncode == 1
    assert "timed out after 3 s waiting for a reply from tcp://localhost:5555" in client.stderr

    # The main service is healthy but its workers API and metrics loop fail.
    assert stack.health(main) == "healthy"
    status, body = http_get(f"http://{stack.ip_address(main)}:8080/api/workers")
    assert status == 500
    assert json.loads(body) == {"detail": "Internal server error"}
    main_log = wait_for(
        lambda: [line for line in stack.logs(main) if WORKERS_API_ERROR in line],
        15,
        "the workers API error in the main log",
    )
    assert main_log[-1].endswith(f" - ERROR - {WORKERS_API_ERROR}")
    metrics_errors = [line for line in stack.logs(main) if METRICS_ERROR in line]
    assert metrics_errors, "no metrics loop error in the main log"
    assert metrics_errors[-1].endswith(f" - ERROR - {METRICS_ERROR}")


def test_known_good_patch_passes_every_plan_check(deploy: Callable[..., Any]) -> None:
    stack, up = deploy(True)
    assert up.returncode == 0, f"up --wait failed:\n{up.stderr[-2000:]}"

    plan = load_plan(stack.project_dir)
    checks = {check.name: check for check in plan.checks}
    assert set(checks) == {"workers-api", "client-round-trip", "main-log-clean"}

    run_http_check(stack, checks["workers-api"])
    run_exec_check(stack, checks["client-round-trip"])
    run_log_absent_check(stack, checks["main-log-clean"])


def run_http_check(stack: Deployment, check: CheckSpec) -> None:
    """GET the check's URL with the service name replaced by the container's address."""
    url = urlsplit(check.params["url"])
    service = url.hostname
    assert service is not None
    address = stack.ip_address(stack.container(service))
    target = urlunsplit(url._replace(netloc=f"{address}:{url.port or 80}"))

    def matching_workers() -> list[dict[str, Any]] | None:
        status, body = http_get(target)
        if status != check.params["expect_status"]:
            return None
        document = json.loads(body)
        for expectation in check.params["expect_json"]:
            items = document[expectation["path"]]
            where = expectation["where"]
            matches = [item for item in items if all(item.get(k) == v for k, v in where.items())]
            if len(matches) < expectation["min_count"]:
                return None
        return document[check.params["expect_json"][0]["path"]]

    workers = wait_for(matching_workers, 30, f"{target} to pass check {check.name}")
    assert {worker["status"] for worker in workers} == {"alive"}
    assert len({worker["worker_id"] for worker in workers}) == WORKER_REPLICAS


def run_exec_check(stack: Deployment, check: CheckSpec) -> None:
    result = stack.compose(
        "exec",
        "-T",
        check.params["service"],
        *check.params["command"],
        timeout=check.params["timeout"],
    )
    assert result.returncode == check.params["expect_exit"], result.stderr
    assert check.params["expect_output"] in result.stdout, result.stdout
    reply = json.loads(result.stdout)
    assert reply["result"]["symbol"] == "BTCUSDT"
    assert 0 <= reply["result"]["rsi_14"] <= 100


def run_log_absent_check(stack: Deployment, check: CheckSpec) -> None:
    """Wait until the metrics loop has recorded a full window, then scan the whole main log."""
    main = stack.container(check.params["service"])
    metrics_url = f"http://{stack.ip_address(main)}:8080/api/metrics?limit=100"

    def recorded_rows() -> int:
        status, body = http_get(metrics_url)
        assert status == 200, body
        rows = len(json.loads(body)["recorded"])
        return rows if rows >= METRICS_ROWS_FOR_LOG_WINDOW else 0

    window_s = check.params["window"]
    wait_for(recorded_rows, window_s + 30, f"{METRICS_ROWS_FOR_LOG_WINDOW} recorded metrics rows")

    # The whole log since start contains the plan's window and more.
    pattern = re.compile(check.params["pattern"])
    assert [line for line in stack.logs(main) if pattern.search(line)] == []
