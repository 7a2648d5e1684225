"""Startup patterns: STARTUP_HANG, DEPENDENCY_NOT_READY, SLOW_START, EXEC_FORMAT_ERROR, ENTRYPOINT_*."""

from __future__ import annotations

from typing import Any

import pytest
from evidence_builders import PROJECT_DIR, container, endpoint, evidence, logs, probe, run

from stackmedic.evidence.facts import BlockingCall, LogCallSite, SourceFacts
from stackmedic.evidence.model import ContainerEvidence, SourceFile
from stackmedic.model import Category, Fixability
from stackmedic.patterns.startup import (
    DependencyNotReady,
    EntrypointCrlf,
    EntrypointNotExecutable,
    ExecFormatError,
    SlowStart,
    StartupHang,
)

WORKER_STARTUP = [
    "2026-12-04 20:31:03,001 - INFO - Initializing Worker instance...",
    "2026-12-04 20:31:03,010 - INFO - Worker instance initialized successfully",
    "2026-12-04 20:31:03,020 - INFO - Worker thread started",
    "2026-12-04 20:31:03,021 - INFO - About to call worker.start()",
]
CHECK = {
    "test": ["CMD", "python", "-m", "check"],
    "interval": "5s",
    "timeout": "3s",
    "retries": 3,
    "start_period": "10s",
}


def worker(name: str, **fields: Any) -> ContainerEvidence:
    fields.setdefault("health", "unhealthy")
    fields.setdefault("lines", logs(*WORKER_STARTUP, start=3.0, step=0.0))
    return container(name, "worker", **fields)


# --- STARTUP_HANG ----------------------------------------------------------------


def test_unhealthy_silent_replicas_give_one_hang_finding() -> None:
    built = evidence(
        {"worker": {"healthcheck": CHECK}},
        [worker("p-worker-1"), worker("p-worker-2")],
        collected_after=120.0,
    )
    [finding] = run(StartupHang(), built)

    assert finding.code == "STARTUP_HANG"
    assert finding.category is Category.STARTUP
    assert finding.service == "worker"
    assert finding.facts["last_line"] == "About to call worker.start()"
    assert finding.facts["silent_seconds"] == 117
    assert finding.facts["containers"] == ["p-worker-1", "p-worker-2"]
    assert finding.facts["health"] == "unhealthy"
    last_lines = [(r.origin, r.line) for r in finding.evidence if r.kind == "log"]
    assert last_lines == [("p-worker-1", 4), ("p-worker-2", 4)]
    assert "About to call worker.start()" in finding.summary
    assert "117" in finding.summary


def test_hang_without_facts_has_advice() -> None:
    built = evidence({"worker": {"healthcheck": CHECK}}, [worker("p-worker-1")])
    [finding] = run(StartupHang(), built)
    assert finding.location is None
    assert finding.fixable_by is Fixability.HUMAN
    assert "About to call worker.start()" in finding.recommendation


def test_hang_cites_failing_health_probe() -> None:
    refused = probe(1, "urllib.error.URLError: <urlopen error [Errno 111] Connection refused>")
    built = evidence(
        {"worker": {"healthcheck": CHECK}}, [worker("p-worker-1", health_log=[refused])]
    )
    [finding] = run(StartupHang(), built)
    assert any(ref.kind == "health" and "Errno 111" in ref.text for ref in finding.evidence)


def test_quiet_unchecked_container_hangs() -> None:
    built = evidence(
        {"worker": {"build": {"context": PROJECT_DIR}}},
        [worker("p-worker-1", health=None)],
        collected_after=120.0,
    )
    [finding] = run(StartupHang(), built)
    assert finding.facts["health"] == "running"


def test_quiet_third_party_container_is_idle() -> None:
    # Without a health check, silence counts only for services built from source.
    built = evidence(
        {"worker": {"image": "etcd"}}, [worker("p-worker-1", health=None)], collected_after=120.0
    )

    assert run(StartupHang(), built) == []


@pytest.mark.parametrize(
    ("fields", "services", "collected_after"),
    [
        # An idle server that passes its health check is waiting for clients.
        ({"health": "healthy"}, {"worker": {"healthcheck": CHECK}}, 600.0),
        # Quiet for 30 s only, no health check: too soon to call it a hang.
        ({"health": None}, {"worker": {}}, 33.0),
        # Still inside a 300 s start period, health "starting".
        (
            {"health": "starting"},
            {"worker": {"healthcheck": CHECK | {"start_period": "300s"}}},
            120.0,
        ),
        # It stopped with an error: a crash, not a silent hang.
        (
            {"lines": logs(*WORKER_STARTUP, "2026-12-04 20:31:04,000 - ERROR - broker refused")},
            {"worker": {"healthcheck": CHECK}},
            120.0,
        ),
        # It logged that it serves requests, so being unhealthy is a health-check matter.
        (
            {"lines": logs("Ready to accept connections tcp")},
            {"worker": {"healthcheck": CHECK}},
            120.0,
        ),
        # Not running.
        ({"state": "exited", "exit_code": 1}, {"worker": {"healthcheck": CHECK}}, 120.0),
        # Unhealthy but still logging: it works, the health check is what fails.
        (
            {"lines": logs(*[(115.0 + n, f"processed job {n}") for n in range(4)])},
            {"worker": {"healthcheck": CHECK}},
            120.0,
        ),
    ],
)
def test_containers_that_are_not_hung(
    fields: dict[str, Any], services: dict[str, Any], collected_after: float
) -> None:
    built = evidence(services, [worker("p-worker-1", **fields)], collected_after=collected_after)
    assert run(StartupHang(), built) == []


# --- DEPENDENCY_NOT_READY --------------------------------------------------------

HEALTHY_REDIS = {"image": "redis", "healthcheck": {"test": ["CMD", "redis-cli", "ping"]}}


@pytest.mark.parametrize(
    "depends_on",
    [
        ["api", "redis"],
        # The resolved config writes the list form like this.
        {
            "api": {"condition": "service_started", "required": True},
            "redis": {"condition": "service_started", "required": True},
        },
    ],
)
def test_dependencies_with_health_checks_need_service_healthy(depends_on: Any) -> None:
    services = {
        "api": {"healthcheck": CHECK},
        "redis": HEALTHY_REDIS,
        "worker": {"depends_on": depends_on},
    }
    [finding] = run(DependencyNotReady(), evidence(services))
    assert finding.service == "worker"
    assert finding.facts["dependencies"] == ["api", "redis"]
    assert finding.fixable_by is Fixability.COMPOSE
    [repair] = finding.repairs
    assert repair.edit is not None
    assert repair.edit.action == "set_depends_on_conditions"
    assert repair.edit.service == "worker"
    assert repair.edit.params == {
        "conditions": {"api": "service_healthy", "redis": "service_healthy"}
    }
    assert finding.confidence < 0.7


def test_connection_errors_at_startup_raise_confidence() -> None:
    services = {"redis": HEALTHY_REDIS, "api": {"depends_on": ["redis"]}}
    built = evidence(
        services,
        [
            container(
                "p-api-1",
                "api",
                lines=logs(
                    "Redis not ready (Error 111 connecting to redis:6379. Connection refused.), retrying...",
                    "Connected to Redis at redis://redis:6379/0",
                ),
            )
        ],
    )
    [finding] = run(DependencyNotReady(), built)
    assert finding.facts["refused_lines"] == 1
    assert finding.confidence >= 0.8
    assert any(ref.kind == "log" and ref.line == 1 for ref in finding.evidence)


def test_conditions_keep_completed_and_start_the_unchecked() -> None:
    services = {
        "db": {"healthcheck": CHECK},
        "cache": {},
        "migrate": {},
        "api": {
            "depends_on": {
                "db": {"condition": "service_started"},
                "cache": {"condition": "service_started"},
                "migrate": {"condition": "service_completed_successfully"},
            }
        },
    }
    [finding] = run(DependencyNotReady(), evidence(services))
    assert finding.facts["dependencies"] == ["db"]
    assert finding.repairs[0].edit.params["conditions"] == {
        "db": "service_healthy",
        "cache": "service_started",
        "migrate": "service_completed_successfully",
    }


def test_image_healthcheck_of_dependency_counts() -> None:
    services = {
        "api": {"build": {"context": PROJECT_DIR, "dockerfile": "Dockerfile"}},
        "worker": {"depends_on": ["api"]},
    }
    dockerfile = "FROM python:3.11\nHEALTHCHECK CMD python -m check\n"
    built = evidence(services, sources=[SourceFile("api", "Dockerfile", dockerfile)])
    [finding] = run(DependencyNotReady(), built)
    assert finding.facts["dependencies"] == ["api"]


def test_container_healthcheck_of_dependency_counts() -> None:
    services = {"db": {"image": "postgres"}, "api": {"depends_on": ["db"]}}
    built = evidence(
        services, [container("p-db-1", "db", healthcheck={"Test": ["CMD-SHELL", "pg_isready"]})]
    )
    [finding] = run(DependencyNotReady(), built)
    assert finding.facts["dependencies"] == ["db"]


@pytest.mark.parametrize(
    "services",
    [
        # Already waits for health.
        {
            "redis": HEALTHY_REDIS,
            "api": {"depends_on": {"redis": {"condition": "service_healthy"}}},
        },
        # The dependency has no health check: service_started is all compose can do.
        {"redis": {"image": "redis"}, "api": {"depends_on": ["redis"]}},
        # Its health check is disabled.
        {"redis": {"healthcheck": {"disable": True}}, "api": {"depends_on": ["redis"]}},
        # No depends_on at all.
        {"redis": HEALTHY_REDIS, "api": {}},
    ],
)
def test_depends_on_already_right_ignored(services: dict[str, Any]) -> None:
    assert run(DependencyNotReady(), evidence(services)) == []


# --- EXEC_FORMAT_ERROR -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "program"),
    [
        ({"lines": logs("exec /usr/local/bin/server: exec format error")}, "/usr/local/bin/server"),
        ({"error": "failed to create task: exec format error"}, None),
    ],
)
def test_exec_format_error_is_reported(fields: dict[str, Any], program: str | None) -> None:
    built = evidence(
        {"api": {}}, [container("p-api-1", "api", state="exited", exit_code=1, **fields)]
    )
    [finding] = run(ExecFormatError(), built)
    assert finding.facts["program"] == program
    assert "--platform" in finding.recommendation


def test_other_exec_errors_are_not_exec_format_errors() -> None:
    built = evidence(
        {"api": {}},
        [
            container(
                "p-api-1",
                "api",
                lines=logs(
                    "exec /app/run.sh: permission denied",
                ),
            )
        ],
    )
    assert run(ExecFormatError(), built) == []


# --- ENTRYPOINT_CRLF ---------------------------------------------------------------

CRLF_SCRIPT = '#!/bin/sh\r\nset -e\r\nexec "$@"\r\n'
LF_SCRIPT = '#!/bin/bash\nset -e\nexec "$@"\n'


def test_missing_entrypoint_that_exists_with_crlf_is_reported() -> None:
    built = evidence(
        {"api": {}},
        [
            container(
                "p-api-1",
                "api",
                state="exited",
                exit_code=127,
                error="exec /docker-entrypoint.sh: no such file or directory",
            )
        ],
        [SourceFile("api", "docker/docker-entrypoint.sh", CRLF_SCRIPT)],
    )
    [finding] = run(EntrypointCrlf(), built)
    assert finding.facts == {"script": "docker/docker-entrypoint.sh", "crlf": True}
    assert finding.location is not None
    assert (finding.location.path, finding.location.line) == ("docker/docker-entrypoint.sh", 1)
    assert finding.fixable_by is Fixability.CODE
    assert finding.confidence >= 0.9


@pytest.mark.parametrize(
    "line",
    [
        "/bin/sh^M: bad interpreter: No such file or directory",
        "/docker-entrypoint.sh: line 2: $'\\r': command not found",
    ],
)
def test_carriage_return_messages_are_reported(line: str) -> None:
    built = evidence(
        {"api": {}},
        [container("p-api-1", "api", lines=logs(line))],
        [SourceFile("api", "entrypoint.sh", CRLF_SCRIPT)],
    )
    [finding] = run(EntrypointCrlf(), built)
    assert finding.facts["script"] == "entrypoint.sh"


@pytest.mark.parametrize(
    "sources",
    [
        # The script has LF endings: its shebang names a missing interpreter instead.
        [SourceFile("api", "docker-entrypoint.sh", LF_SCRIPT)],
        # The script is not in the build context at all: a COPY problem.
        [],
    ],
)
def test_no_such_file_without_crlf_is_not_reported(sources: list[SourceFile]) -> None:
    built = evidence(
        {"api": {}},
        [
            container(
                "p-api-1",
                "api",
                state="exited",
                exit_code=127,
                error="exec /docker-entrypoint.sh: no such file or directory",
            )
        ],
        sources,
    )
    assert run(EntrypointCrlf(), built) == []


def test_hang_facts_are_empty_without_sources() -> None:
    facts = SourceFacts()
    built = evidence({"worker": {"healthcheck": CHECK}}, [worker("p-worker-1")])
    [finding] = run(StartupHang(), built, facts)
    assert finding.facts["blocking_call"] is None
    assert finding.facts["endpoint"] is None


WORKER_SOURCE = """import logging
import zmq

logger = logging.getLogger(__name__)


class Worker:
    def start(self):
        endpoint = "tcp://broker:5555"
        self.socket.connect(endpoint)
        self.socket.send_multipart([b"", b"READY"])
        self.socket.recv_multipart()


def run(worker):
    logger.info("About to call worker.start()")
    worker.start()
"""


def test_hang_located_at_blocking_receive() -> None:
    facts = SourceFacts(
        log_sites=[
            LogCallSite("worker", "info", "About to call worker.start()", "w.py", 16, "run")
        ],
        blocking_calls=[
            BlockingCall(
                "worker",
                "self.socket.recv_multipart()",
                "w.py",
                12,
                "Worker.start",
                "recv_multipart() with no poll timeout or RCVTIMEO",
            ),
        ],
        endpoints=[
            endpoint(
                "worker",
                "connect",
                "tcp",
                "broker",
                5555,
                "w.py",
                10,
                None,
                None,
                "endpoint",
                "Worker.start",
            ),
        ],
    )
    built = evidence(
        {"worker": {"healthcheck": CHECK}, "broker": {}},
        [worker("p-worker-1")],
        [SourceFile("worker", "w.py", WORKER_SOURCE)],
    )
    [finding] = run(StartupHang(), built, facts)

    assert finding.facts["log_site"] == "w.py:16"
    assert finding.facts["call"] == "Worker.start"
    assert finding.facts["blocking_call"] == "self.socket.recv_multipart()"
    assert finding.facts["endpoint"] == "tcp://broker:5555"
    assert finding.facts["peer_service"] == "broker"
    assert finding.location is not None
    assert (finding.location.path, finding.location.line) == ("w.py", 12)
    assert finding.location.function == "Worker.start"
    assert ">12 |         self.socket.recv_multipart()" in (finding.location.snippet or "")
    assert "recv_multipart() after connecting to tcp://broker:5555" in finding.recommendation
    cited = [(ref.origin, ref.line) for ref in finding.evidence if ref.kind == "source"]
    assert cited == [("w.py", 16), ("w.py", 8), ("w.py", 10), ("w.py", 12)]


# --- DEPENDENCY_NOT_READY without a health check -------------------------------------

PG_ONLY = {"image": "postgres:16", "environment": {"POSTGRES_USER": "shop"}}


def refused_before_ready(db_state: str = "running", ready_after: float = 4.0) -> Any:
    return evidence(
        {"db": PG_ONLY, "api": {"depends_on": ["db"]}},
        [
            container(
                "p-api-1",
                "api",
                state="exited",
                exit_code=1,
                lines=logs(
                    (
                        1.0,
                        "psycopg2.OperationalError: could not connect to server: Connection refused",
                    ),
                    '\tIs the server running on host "db" (172.20.0.2) and accepting',
                    "\tTCP/IP connections on port 5432?",
                ),
            ),
            container(
                "p-db-1",
                "db",
                state=db_state,
                lines=logs((ready_after, "database system is ready to accept connections")),
            ),
        ],
    )


def test_refusal_before_dependency_ready_proposes_readiness_check() -> None:
    [finding] = run(DependencyNotReady(), refused_before_ready())

    assert finding.facts["dependencies"] == ["db"]
    assert finding.facts["without_healthcheck"] == ["db"]
    assert finding.confidence >= 0.85
    check, wait = finding.repairs
    assert check.edit is not None and check.edit.action == "set_healthcheck"
    assert check.edit.service == "db"
    assert check.edit.params["test"] == ["CMD", "pg_isready", "-U", "shop", "-d", "shop"]
    assert wait.edit is not None
    assert wait.edit.params == {"conditions": {"db": "service_healthy"}}


def test_dependency_missing_from_depends_on_is_added() -> None:
    built = evidence(
        {"cache": {"image": "redis:7"}, "api": {}},
        [
            container(
                "p-api-1",
                "api",
                lines=logs((0.5, "Error 111 connecting to cache:6379. Connection refused.")),
            ),
            container("p-cache-1", "cache", lines=logs((2.0, "Ready to accept connections tcp"))),
        ],
    )
    [finding] = run(DependencyNotReady(), built)

    assert finding.facts["not_listed"] == ["cache"]
    assert finding.repairs[-1].edit.params == {"conditions": {"cache": "service_healthy"}}


@pytest.mark.parametrize(
    ("db_state", "ready_after", "reason"),
    [
        # Refusals after the database was ready are no start-order problem.
        ("running", 0.5, "after ready"),
        # A database that never came up is its own failure.
        ("exited", None, "dependency down"),
    ],
)
def test_refusals_not_about_start_order_must_not_match(
    db_state: str, ready_after: float | None, reason: str
) -> None:
    built = refused_before_ready(db_state, ready_after if ready_after is not None else 0.0)
    if ready_after is None:
        built.containers[1].logs = []

    assert run(DependencyNotReady(), built) == [], reason


# --- SLOW_START -------------------------------------------------------------------------

SLOW_CHECK = {
    "test": ["CMD", "curl", "-fs", "http://localhost:8080/health"],
    "interval": "10s",
    "retries": 5,
}


def slow_service(*, ready: float, health: str = "healthy", probes: list | None = None) -> Any:
    return evidence(
        {
            "orders": {"healthcheck": SLOW_CHECK},
            "checkout": {"depends_on": {"orders": {"condition": "service_healthy"}}},
        },
        [
            container(
                "p-orders-1",
                "orders",
                health=health,
                started_at=None,
                lines=logs(
                    (1.0, "Starting OrdersApplication"),
                    (ready, "Tomcat started on port 8080 (http)"),
                ),
                health_log=probes
                if probes is not None
                else [probe(7, "curl: (7) Failed to connect", 40.0)],
            ),
            container("p-checkout-1", "checkout", state="created"),
        ],
    )


def test_start_slower_than_health_budget_gets_longer_start_period() -> None:
    [finding] = run(SlowStart(), slow_service(ready=96.0))

    assert finding.facts["needed_seconds"] == 95.0
    assert finding.facts["allowed_seconds"] == 50.0
    [repair] = finding.repairs
    assert repair.edit is not None
    assert repair.edit.params["test"] == SLOW_CHECK["test"]
    assert repair.edit.params["start_period"] == "2m30s"
    assert repair.edit.params["interval"] == "10s"


def test_spring_boot_total_start_time_is_used() -> None:
    built = slow_service(ready=20.0)
    built.containers[0].logs = logs(
        (1.0, "x"), (99.0, "Started App in 94.8 seconds (process running for 97.1)")
    )
    [finding] = run(SlowStart(), built)

    assert finding.facts["needed_seconds"] == 97.1


@pytest.mark.parametrize(
    ("ready", "probes", "reason"),
    [
        # Ready within start_period + interval x retries.
        (30.0, None, "within budget"),
        # Slow, but no probe failed and no dependent is stuck: nothing was harmed.
        (96.0, [], "no harm"),
    ],
)
def test_slow_start_must_not_match(ready: float, probes: list | None, reason: str) -> None:
    built = slow_service(ready=ready, probes=probes)
    if probes == []:
        built.containers[1].state = "running"

    assert run(SlowStart(), built) == [], reason


def test_service_that_never_becomes_ready_is_not_slow() -> None:
    built = slow_service(ready=96.0, health="unhealthy")
    built.containers[0].logs = logs((1.0, "Starting OrdersApplication"))

    assert run(SlowStart(), built) == []


# --- ENTRYPOINT_NOT_EXECUTABLE -------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "text"),
    [
        (
            "error",
            'OCI runtime create failed: runc create failed: unable to start container process: exec: "/app/start.sh": permission denied: unknown',
        ),
        ("log", "exec /app/start.sh: permission denied"),
        ("log", "/bin/sh: 1: /app/start.sh: Permission denied"),
    ],
)
def test_permission_denied_on_program_is_located_in_script(field: str, text: str) -> None:
    fields: dict[str, Any] = {"state": "exited", "exit_code": 126}
    if field == "error":
        fields["error"] = text
    else:
        fields["lines"] = logs(text)
    built = evidence(
        {"api": {"entrypoint": ["/app/start.sh"]}},
        [container("p-api-1", "api", **fields)],
        [SourceFile("api", "start.sh", "#!/bin/sh\nexec node server.js\n", "/app/start.sh")],
    )
    [finding] = run(EntrypointNotExecutable(), built)

    assert finding.facts["program"] == "/app/start.sh"
    assert finding.location is not None
    assert (finding.location.path, finding.location.line) == ("start.sh", 1)
    assert "chmod +x" in finding.recommendation


@pytest.mark.parametrize(
    "line",
    [
        "PermissionError: [Errno 13] Permission denied: '/data/app.db'",
        "/docker-entrypoint.sh: line 3: /run/app.pid: Permission denied",
    ],
)
def test_data_permission_errors_are_not_entrypoint_problems(line: str) -> None:
    built = evidence({"api": {}}, [container("p-api-1", "api", lines=logs(line))])

    assert run(EntrypointNotExecutable(), built) == []


# --- STARTUP_HANG on idle servers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "lines", "reason"),
    [
        ("postgres:16", ["database system is ready to accept connections"], "known database image"),
        (
            "nginx:1.27",
            ["/docker-entrypoint.sh: Configuration complete; ready for start up"],
            "nginx ready",
        ),
        ("app", ["[INFO] Listening at: http://0.0.0.0:8000 (1)"], "gunicorn listening"),
        (
            "app",
            ["sync: poll failed: x509: certificate signed by unknown authority"],
            "reports a failure",
        ),
        ("app", ['172.19.0.1 - - "GET / HTTP/1.1" 200 12'], "serves requests"),
    ],
)
def test_quiet_servers_are_not_hung(image: str, lines: list[str], reason: str) -> None:
    built = evidence(
        {"s": {"image": image}},
        [container("p-s-1", "s", image=image, lines=logs(*lines))],
        collected_after=600.0,
    )

    assert run(StartupHang(), built) == [], reason


def test_bundle_container_without_log_file_is_not_hung() -> None:
    from stackmedic.evidence.model import Provenance

    built = evidence(
        {"s": {}},
        [
            container(
                "p-s-1",
                "s",
                started_at="2026-12-04T20:00:00Z",
                provenance=[Provenance("bundle", "ps.txt:2")],
            )
        ],
        collected_after=600.0,
    )

    assert run(StartupHang(), built) == []


@pytest.mark.parametrize(
    "line",
    [
        "/usr/bin/env: 'bash\\r': No such file or directory",
        "/usr/bin/env: \u2018sh\\r\u2019: No such file or directory",
    ],
)
def test_env_shebang_with_carriage_return_is_crlf(line: str) -> None:
    built = evidence(
        {"app": {}},
        [container("p-app-1", "app", state="exited", exit_code=127, lines=logs(line))],
        [SourceFile("app", "run.sh", "#!/usr/bin/env bash\r\necho hi\r\n")],
    )
    [finding] = run(EntrypointCrlf(), built)

    assert finding.facts["script"] == "run.sh"
    assert finding.facts["crlf"] is True
