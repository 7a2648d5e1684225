"""Runtime patterns: OOM, signals, restart loops, crashes, refused connections, permissions."""

from __future__ import annotations

import pytest
from evidence_builders import container, evidence, logs, run

from stackmedic.model import Category
from stackmedic.patterns.runtime import (
    ConnectionRefused,
    CrashExit,
    OomKilled,
    PermissionDenied,
    RestartLoop,
    SignalKilled,
    connection_target,
    denied_path,
)

# --- OOM_KILLED / SIGNAL_KILLED ------------------------------------------------


def test_oom_flag_gives_oom_killed_with_memory_limit() -> None:
    built = evidence(
        {"api": {"deploy": {"resources": {"limits": {"memory": "64M"}}}}},
        [
            container(
                "p-api-1",
                "api",
                state="exited",
                exit_code=137,
                oom_killed=True,
                lines=logs("loading model", "allocating 2 GiB"),
            )
        ],
    )
    findings = run(OomKilled(), built)
    assert [f.code for f in findings] == ["OOM_KILLED"]
    assert findings[0].facts["memory_limit"] == "64M"
    assert findings[0].facts["exit_code"] == 137
    assert findings[0].category is Category.RUNTIME
    assert "64M" in findings[0].summary


@pytest.mark.parametrize(
    ("state", "exit_code", "oom", "expected"),
    [
        ("exited", 137, False, ["SIGNAL_KILLED"]),
        # The OOM flag makes it OOM_KILLED, not a plain signal.
        ("exited", 137, True, []),
        # 143 is SIGTERM from `docker stop`: a stop on purpose.
        ("exited", 143, False, []),
        # A running container has no final exit code to judge.
        ("running", 137, False, []),
    ],
)
def test_signal_killed_only_for_sigkill_without_oom(
    state: str, exit_code: int, oom: bool, expected: list[str]
) -> None:
    built = evidence(
        {"api": {}}, [container("p-api-1", "api", state=state, exit_code=exit_code, oom_killed=oom)]
    )
    assert [f.code for f in run(SignalKilled(), built)] == expected


def test_exit_137_without_oom_flag() -> None:
    built = evidence({"api": {}}, [container("p-api-1", "api", state="exited", exit_code=137)])
    assert run(OomKilled(), built) == []


# --- RESTART_LOOP / CRASH_EXIT -------------------------------------------------


@pytest.mark.parametrize(
    ("state", "restarts", "matches"),
    [
        ("restarting", 1, True),
        ("running", 3, True),
        ("running", 5, True),
        # Two restarts can be a deploy and an engine restart, not a loop.
        ("running", 2, False),
        ("exited", 0, False),
    ],
)
def test_restart_loop_needs_three_restarts_or_restarting_state(
    state: str, restarts: int, matches: bool
) -> None:
    built = evidence(
        {"api": {}},
        [
            container(
                "p-api-1",
                "api",
                state=state,
                restart_count=restarts,
                exit_code=1,
                lines=logs("boom: config invalid"),
            )
        ],
    )
    findings = run(RestartLoop(), built)
    assert bool(findings) is matches
    if matches:
        assert findings[0].facts["restart_count"] == restarts
        assert findings[0].facts["last_line"] == "boom: config invalid"


@pytest.mark.parametrize(
    ("state", "exit_code", "restarts", "matches"),
    [
        ("exited", 1, 0, True),
        ("dead", 2, 0, True),
        # A one-shot job that finished: exit 0 is success.
        ("exited", 0, 0, False),
        # SIGTERM / SIGINT stops on purpose.
        ("exited", 143, 0, False),
        ("exited", 130, 0, False),
        # 137 belongs to OOM_KILLED / SIGNAL_KILLED.
        ("exited", 137, 0, False),
        # Still running: not exited at all.
        ("running", None, 0, False),
        # A restart loop is reported as RESTART_LOOP instead.
        ("exited", 1, 4, False),
    ],
)
def test_crash_exit_only_for_nonzero_unplanned_exits(
    state: str, exit_code: int | None, restarts: int, matches: bool
) -> None:
    built = evidence(
        {"job": {}},
        [
            container(
                "p-job-1",
                "job",
                state=state,
                exit_code=exit_code,
                restart_count=restarts,
                lines=logs("starting", "ERROR - cannot open db"),
            )
        ],
    )
    findings = run(CrashExit(), built)
    assert bool(findings) is matches
    if matches:
        assert findings[0].facts["exit_code"] == exit_code
        assert "cannot open db" in findings[0].facts["last_line"]


def test_crash_exit_cites_every_replica() -> None:
    built = evidence(
        {"job": {}},
        [
            container("p-job-1", "job", state="exited", exit_code=1, lines=logs("ERROR - a")),
            container("p-job-2", "job", state="exited", exit_code=1, lines=logs("ERROR - b")),
        ],
    )
    [finding] = run(CrashExit(), built)
    assert finding.facts["containers"] == ["p-job-1", "p-job-2"]
    assert {ref.origin for ref in finding.evidence if ref.kind == "log"} == {"p-job-1", "p-job-2"}


# --- CONNECTION_REFUSED --------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "target"),
    [
        (
            "Redis not ready (Error 111 connecting to redis:6379. Connection refused.)",
            ("redis", 6379),
        ),
        ("Error: connect ECONNREFUSED 172.18.0.3:5432", ("172.18.0.3", 5432)),
        (
            'connection to server at "db" (172.18.0.2), port 5432 failed: Connection refused',
            ("db", 5432),
        ),
        ("dial tcp api:8080: connect: connection refused", ("api", 8080)),
        ("Failed to connect to broker at tcp://broker:5555: Connection refused", ("broker", 5555)),
        # No host:port in the line.
        ("Connection refused", None),
    ],
)
def test_connection_target_is_read_from_common_client_messages(
    line: str, target: tuple[str, int] | None
) -> None:
    assert connection_target(line) == target


def test_refused_connection_names_peer_service() -> None:
    built = evidence(
        {"app": {}, "db": {}},
        [
            container(
                "p-app-1",
                "app",
                lines=logs(
                    "starting",
                    'psycopg2.OperationalError: connection to server at "db" (172.18.0.2), port 5432 '
                    "failed: Connection refused",
                ),
            ),
            container("p-db-1", "db", state="exited", exit_code=1),
        ],
    )
    [finding] = run(ConnectionRefused(), built)
    assert finding.service == "app"
    assert finding.facts["target"] == "db:5432"
    assert finding.facts["peer_service"] == "db"
    assert finding.evidence[0].line == 2
    assert finding.evidence[0].timestamp is not None


def test_refused_then_connected_is_not_reported() -> None:
    # The client retried and got through: a transient refusal at startup.
    built = evidence(
        {"app": {}, "redis": {}},
        [
            container(
                "p-app-1",
                "app",
                lines=logs(
                    "Redis not ready (Error 111 connecting to redis:6379. Connection refused.), retrying...",
                    "Connected to Redis at redis://redis:6379/0",
                ),
            )
        ],
    )
    assert run(ConnectionRefused(), built) == []


def test_refused_to_localhost_advises_service_name() -> None:
    built = evidence(
        {"app": {}, "redis": {}},
        [
            container(
                "p-app-1",
                "app",
                lines=logs(
                    "Error 111 connecting to localhost:6379. Connection refused.",
                ),
            )
        ],
    )
    [finding] = run(ConnectionRefused(), built)
    assert finding.facts["peer_service"] is None
    assert "container itself" in finding.recommendation


# --- PERMISSION_DENIED ---------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ("PermissionError: [Errno 13] Permission denied: '/app/data/app.db'", "/app/data/app.db"),
        ("Error: EACCES: permission denied, open '/data/log.txt'", "/data/log.txt"),
        ("open /var/lib/app/state: permission denied", "/var/lib/app/state"),
        ("/docker-entrypoint.sh: line 3: /run/app.pid: Permission denied", "/run/app.pid"),
        # ssh's "Permission denied (publickey)" names no path.
        ("git@github.com: Permission denied (publickey).", None),
    ],
)
def test_denied_path_is_read_from_common_messages(line: str, path: str | None) -> None:
    assert denied_path(line) == path


def test_permission_denied_on_volume_names_mount_and_user() -> None:
    built = evidence(
        {
            "api": {
                "user": "1000",
                "volumes": [
                    {"type": "volume", "source": "data", "target": "/app/data"},
                ],
            }
        },
        [
            container(
                "p-api-1",
                "api",
                lines=logs(
                    "PermissionError: [Errno 13] Permission denied: '/app/data/app.db'",
                ),
            )
        ],
    )
    [finding] = run(PermissionDenied(), built)
    assert finding.facts["path"] == "/app/data/app.db"
    assert finding.facts["volume"] == "data"
    assert finding.facts["mount_target"] == "/app/data"
    assert finding.facts["user"] == "1000"
    assert "user 1000" in finding.recommendation


def test_permission_denied_without_path_is_not_reported() -> None:
    # No path: nothing a user could chown.
    built = evidence(
        {"api": {}},
        [
            container(
                "p-api-1",
                "api",
                lines=logs(
                    "ssh: Permission denied (publickey).",
                ),
            )
        ],
    )
    assert run(PermissionDenied(), built) == []


# --- signals other than SIGKILL ---------------------------------------------------------


@pytest.mark.parametrize(
    ("exit_code", "signal"),
    [(139, "SIGSEGV"), (134, "SIGABRT"), (135, "SIGBUS"), (132, "SIGILL")],
)
def test_signal_exit_codes_are_signal_kills_not_crashes(exit_code: int, signal: str) -> None:
    built = evidence(
        {"ocr": {}},
        [
            container(
                "p-ocr-1",
                "ocr",
                state="exited",
                exit_code=exit_code,
                lines=logs("Fatal Python error: Segmentation fault"),
            )
        ],
    )
    [finding] = run(SignalKilled(), built)

    assert finding.facts["signal"] == signal
    assert finding.confidence >= 0.8
    assert run(CrashExit(), built) == []


def test_heap_exhaustion_is_named_in_the_advice() -> None:
    built = evidence(
        {"web": {}},
        [
            container(
                "p-web-1",
                "web",
                state="exited",
                exit_code=134,
                lines=logs(
                    "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"
                ),
            )
        ],
    )
    [finding] = run(SignalKilled(), built)

    assert finding.facts["heap_exhausted"] is True
    assert "max-old-space-size" in finding.recommendation


@pytest.mark.parametrize("exit_code", [143, 130, 0])
def test_stops_and_clean_exits_are_no_failure(exit_code: int) -> None:
    built = evidence({"w": {}}, [container("p-w-1", "w", state="exited", exit_code=exit_code)])

    assert run(SignalKilled(), built) == []
    assert run(CrashExit(), built) == []


# --- failed connections of every kind -----------------------------------------------------


@pytest.mark.parametrize(
    ("line", "target"),
    [
        (
            "pika.exceptions.AMQPConnectionError: Connection to rabbitmq:5672 failed",
            "rabbitmq:5672",
        ),
        (
            "redis.exceptions.ConnectionError: Error 111 connecting to redis:6379. Connection refused.",
            "redis:6379",
        ),
        # The engine's DNS answers only for running containers: the db service is down.
        ('could not translate host name "db" to address: Name or service not known', "db"),
    ],
)
def test_broker_cache_and_down_service_failures_are_refusals(line: str, target: str) -> None:
    built = evidence(
        {"api": {}, "db": {}, "redis": {}, "rabbitmq": {}},
        [container("p-api-1", "api", lines=logs(line))],
    )
    [finding] = run(ConnectionRefused(), built)

    assert finding.facts["target"] == target


def test_unresolved_name_outside_the_project_is_not_a_refusal() -> None:
    built = evidence(
        {"api": {}}, [container("p-api-1", "api", lines=logs("getaddrinfo ENOTFOUND mongo"))]
    )

    assert run(ConnectionRefused(), built) == []


# --- permission problems on data directories -----------------------------------------------


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ("mkdir: cannot create directory '/data/uploads': Permission denied", "/data/uploads"),
        (
            "chown: changing ownership of '/var/lib/mysql': Operation not permitted",
            "/var/lib/mysql",
        ),
        (
            'initdb: error: could not change permissions of directory "/var/lib/postgresql/data": Operation not permitted',
            "/var/lib/postgresql/data",
        ),
    ],
)
def test_data_directory_permission_messages(line: str, path: str) -> None:
    assert denied_path(line) == path


def test_program_permission_is_left_to_entrypoint_pattern() -> None:
    assert denied_path("exec /docker-entrypoint.sh: permission denied") is None
