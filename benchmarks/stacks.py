"""Throw-away compose stacks for the benchmarks, and the plain-CLI evidence baseline.

Every stack is a compose project named `smbench-<uuid>` in a temporary
folder, built from the local image stackmedic/python-base:bookworm, so
nothing is pulled. `BenchStack` is a context manager: leaving it runs
`docker compose down -v --remove-orphans` and then removes any container
still labelled with the project, also after an error.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Self

logger = logging.getLogger(__name__)

IMAGE = "stackmedic/python-base:bookworm"
PROJECT_LABEL = "com.docker.compose.project"
LOG_LINES = 10_000
# awk prints the lines in one process; then the container idles like a quiet server.
_WRITE_LOG = (
    "awk 'BEGIN { for (i = 1; i <= {lines}; i++)"
    ' printf "2026-12-04 10:00:00,%03d - INFO - worker processed job %d of batch %d\\n",'
    " i % 1000, i, i / 100 }'; echo log-complete; exec sleep 86400"
)


def new_project_name() -> str:
    return f"smbench-{uuid.uuid4().hex[:12]}"


def _run(
    command: list[str], *, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed: {result.stderr.strip()[-400:]}")
    return result


class BenchStack:
    """N containers of one service, each of which logged `log_lines` lines, or with health checks.

    `health_intervals` gives one service per interval (seconds) whose health
    check is `true`; those containers settle as healthy one after another.
    """

    def __init__(
        self,
        replicas: int = 0,
        *,
        log_lines: int = LOG_LINES,
        health_intervals: tuple[float, ...] = (),
    ) -> None:
        self.name = new_project_name()
        self.replicas = replicas
        self.log_lines = log_lines
        self.health_intervals = health_intervals
        self.directory = Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
        self.compose_file = self.directory / "compose.yaml"

    def __enter__(self) -> Self:
        self.compose_file.write_text(self._compose_text(), encoding="utf-8")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.remove()

    def command(self, *arguments: str) -> list[str]:
        return [
            "docker",
            "compose",
            "--project-directory",
            str(self.directory),
            "-p",
            self.name,
            *arguments,
        ]

    def up(self, *, wait_for_logs: bool = True, timeout: float = 600) -> float:
        """Start the stack and return how long `up` took; optionally wait until every log is written."""
        started = time.perf_counter()
        _run(self.command("up", "-d", "--quiet-pull"), timeout=timeout)
        took = time.perf_counter() - started
        if wait_for_logs and self.replicas:
            self._wait_for_logs(timeout)
        return took

    def down(self) -> None:
        _run(self.command("down", "-v", "--remove-orphans", "-t", "1"), timeout=600, check=False)

    def remove(self) -> None:
        self.down()
        leftover = _run(
            ["docker", "ps", "-aq", "--filter", f"label={PROJECT_LABEL}={self.name}"], check=False
        ).stdout.split()
        if leftover:
            _run(["docker", "rm", "-f", "-v", *leftover], check=False)
        shutil.rmtree(self.directory, ignore_errors=True)

    def container_ids(self) -> list[str]:
        listed = _run(["docker", "ps", "-aq", "--filter", f"label={PROJECT_LABEL}={self.name}"])
        return listed.stdout.split()

    def _compose_text(self) -> str:
        lines = ["services:"]
        if self.replicas:
            script = _WRITE_LOG.replace("{lines}", str(self.log_lines))
            lines += [
                "  logger:",
                f"    image: {IMAGE}",
                f'    command: ["sh", "-c", {json.dumps(script)}]',
                "    stop_grace_period: 1s",
                "    deploy:",
                f"      replicas: {self.replicas}",
            ]
        for index, interval in enumerate(self.health_intervals):
            lines += [
                f"  checked-{index}:",
                f"    image: {IMAGE}",
                '    command: ["sleep", "86400"]',
                "    stop_grace_period: 1s",
                "    healthcheck:",
                '      test: ["CMD", "true"]',
                f"      interval: {interval}s",
                "      timeout: 5s",
                "      retries: 3",
            ]
        return "\n".join(lines) + "\n"

    def _wait_for_logs(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = set(self.container_ids())
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{len(pending)} containers did not finish their logs in {timeout:.0f} s"
                )
            for container in list(pending):
                tail = _run(["docker", "logs", "--tail", "1", container], check=False).stdout
                if "log-complete" in tail:
                    pending.discard(container)
            if pending:
                time.sleep(0.5)


def collect_with_cli(project: str, tail: int = 500) -> dict[str, int]:
    """Gather the evidence `collect` gathers with the plain CLI, one process per call.

    `docker ps -a` lists the project's containers; `docker inspect` and
    `docker logs --tail` run once per container, as a person at a terminal
    (or the reference run) would. Returns counts, so the work is not optimised away.
    """
    listed = _run(
        [
            "docker",
            "ps",
            "-a",
            "--no-trunc",
            "--format",
            "{{.ID}}",
            "--filter",
            f"label={PROJECT_LABEL}={project}",
        ]
    )
    containers = listed.stdout.split()
    inspected = 0
    logged_bytes = 0
    for container in containers:
        payload = json.loads(_run(["docker", "inspect", container]).stdout)
        inspected += len(payload)
        logs = subprocess.run(
            ["docker", "logs", "--timestamps", "--tail", str(tail), container],
            capture_output=True,
            timeout=120,
            check=True,
        )
        logged_bytes += len(logs.stdout) + len(logs.stderr)
    return {"containers": len(containers), "inspected": inspected, "log_bytes": logged_bytes}
