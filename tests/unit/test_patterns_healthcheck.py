"""HEALTHCHECK_MISCONFIGURED: unserved ports and paths, missing programs, vacuous tests."""

from __future__ import annotations

from typing import Any

import pytest
from evidence_builders import PROJECT_DIR, container, endpoint, evidence, logs, probe, run

from stackmedic.evidence.facts import SourceFacts
from stackmedic.evidence.model import SourceFile
from stackmedic.model import Fixability
from stackmedic.patterns.healthcheck import (
    HealthcheckMisconfigured,
    HealthcheckTimeout,
    format_duration,
    vacuous_reason,
)

URLOPEN_8080 = [
    "CMD",
    "python",
    "-c",
    "import urllib.request; urllib.request.urlopen('http://localhost:8080/health', timeout=3)",
]
REFUSED_OUTPUT = (
    "Traceback (most recent call last):\n"
    '  File "/usr/lib/python3.11/urllib/request.py", line 1348, in do_open\n'
    "ConnectionRefusedError: [Errno 111] Connection refused\n\n"
    "During handling of the above exception, another exception occurred:\n"
    "urllib.error.URLError: <urlopen error [Errno 111] Connection refused>\n"
)
WORKER_DOCKERFILE = """ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
WORKDIR /app
COPY requirements.txt .
COPY . .
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 CMD ["python", "-m", "tacore.worker_health"]
CMD ["python", "-m", "tacore.worker"]
"""
API_SOURCE = """from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
"""


def compose_check(test: list[str] | str) -> dict[str, Any]:
    return {"test": test, "interval": "5s", "timeout": "3s", "retries": 3, "start_period": "10s"}


def worker_evidence(
    dockerfile: str = WORKER_DOCKERFILE, output: str = REFUSED_OUTPUT, exit_code: int = 1
) -> Any:
    services = {
        "worker": {
            "build": {"context": PROJECT_DIR, "dockerfile": "Dockerfile.worker"},
            "healthcheck": compose_check(URLOPEN_8080),
        },
    }
    containers = [
        container(
            f"p-worker-{n}",
            "worker",
            health="unhealthy",
            health_log=[probe(exit_code, output, 30 + n)],
            lines=logs("About to call worker.start()"),
        )
        for n in (1, 2)
    ]
    sources = [
        SourceFile("worker", "Dockerfile.worker", dockerfile),
        SourceFile("worker", "tacore/worker.py", "import zmq\n"),
    ]
    return evidence(services, containers, sources)


WORKER_FACTS = SourceFacts(
    endpoints=[
        endpoint("worker", "connect", "tcp", "broker", 5555, "tacore/worker.py", 40),
    ]
)


def test_unserved_port_uses_dockerfile_check() -> None:
    [finding] = run(HealthcheckMisconfigured(), worker_evidence(), WORKER_FACTS)

    assert finding.code == "HEALTHCHECK_MISCONFIGURED"
    assert finding.service == "worker"
    assert finding.facts["kind"] == "unserved_port"
    assert finding.facts["port"] == 8080
    assert finding.facts["failures"] == 2
    assert "Connection refused" in finding.facts["probe_output"]
    assert finding.fixable_by is Fixability.COMPOSE

    [repair] = finding.repairs
    assert repair.edit is not None
    assert repair.edit.action == "set_healthcheck"
    assert repair.edit.params == {
        "test": ["CMD", "python", "-m", "tacore.worker_health"],
        "interval": "5s",
        "timeout": "3s",
        "retries": 3,
        "start_period": "10s",
        "source": "Dockerfile.worker:6 HEALTHCHECK",
    }


def test_probe_outputs_of_each_replica_are_cited() -> None:
    [finding] = run(HealthcheckMisconfigured(), worker_evidence(), WORKER_FACTS)
    health = [ref for ref in finding.evidence if ref.kind == "health"]
    assert [ref.origin for ref in health] == ["p-worker-1", "p-worker-2"]
    assert all(ref.timestamp for ref in health)
    assert finding.evidence[0].kind == "compose"


def test_refused_served_port_not_misconfigured() -> None:
    # The probe is right; the server behind it is down. That is the service's fault.
    services = {"api": {"healthcheck": compose_check(URLOPEN_8080)}}
    built = evidence(
        services,
        [
            container(
                "p-api-1",
                "api",
                health="unhealthy",
                health_log=[probe(1, REFUSED_OUTPUT)],
                lines=logs("2026-12-04 20:31:02,500 - INFO - HTTP API listening on 0.0.0.0:8080"),
            )
        ],
    )
    assert run(HealthcheckMisconfigured(), built) == []


def test_passing_probes_are_not_misconfigured() -> None:
    services = {"api": {"healthcheck": compose_check(URLOPEN_8080)}}
    built = evidence(
        services, [container("p-api-1", "api", health="healthy", health_log=[probe(0, "")])]
    )
    assert run(HealthcheckMisconfigured(), built) == []


def test_functional_probe_failure_is_not_misconfigured() -> None:
    # The probe itself works and reports a real problem of the service.
    built = worker_evidence(output="heartbeat is 41 s old (max 6 s)\n")
    built.services["worker"]["healthcheck"] = compose_check(
        ["CMD", "python", "-m", "tacore.worker_health"]
    )
    assert run(HealthcheckMisconfigured(), built, WORKER_FACTS) == []


@pytest.mark.parametrize(
    ("output", "exit_code", "program"),
    [
        (
            (
                'OCI runtime exec failed: exec failed: unable to start container process: exec: "curl": '
                "executable file not found in $PATH: unknown"
            ),
            -1,
            "curl",
        ),
        ("/bin/sh: 1: curl: not found\n", 127, "curl"),
    ],
)
def test_missing_program_uses_python_probe(output: str, exit_code: int, program: str) -> None:
    services = {
        "api": {
            "image": "python:3.11-slim",
            "healthcheck": compose_check(["CMD", "curl", "-f", "http://localhost:8000/health"]),
        }
    }
    built = evidence(
        services,
        [
            container(
                "p-api-1",
                "api",
                health="unhealthy",
                image="python:3.11-slim",
                health_log=[probe(exit_code, output)],
                lines=logs(
                    "INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)"
                ),
            )
        ],
        [SourceFile("api", "app/main.py", API_SOURCE)],
    )
    [finding] = run(HealthcheckMisconfigured(), built)
    assert finding.facts["kind"] == "missing_program"
    assert finding.facts["program"] == program
    [repair] = finding.repairs
    assert repair.edit.params["test"] == [
        "CMD",
        "python",
        "-c",
        "import urllib.request; urllib.request.urlopen('http://localhost:8000/health', timeout=3)",
    ]
    assert repair.edit.params["interval"] == "5s"
    assert repair.edit.params["source"] == "GET /health on port 8000 served by api"


def test_probe_of_unserved_path_uses_served_health_route() -> None:
    services = {
        "api": {
            "image": "node:20",
            "healthcheck": compose_check(
                ["CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:8000/healthz"]
            ),
        }
    }
    built = evidence(
        services,
        [
            container(
                "p-api-1",
                "api",
                health="unhealthy",
                image="node:20",
                health_log=[probe(1, "wget: server returned error: HTTP/1.1 404 Not Found")],
                lines=logs("Server listening on http://0.0.0.0:8000"),
            )
        ],
        [SourceFile("api", "server.js", "app.get('/health', (req, res) => res.send('ok'))\n")],
    )
    [finding] = run(HealthcheckMisconfigured(), built)
    assert finding.facts["kind"] == "unserved_path"
    assert finding.facts["path"] == "/healthz"
    assert finding.repairs[0].edit.params["test"] == [
        "CMD",
        "wget",
        "-q",
        "-O",
        "/dev/null",
        "http://localhost:8000/health",
    ]


def test_404_on_declared_route_ignored() -> None:
    # The route exists; a 404 there is an application fault, not a probe fault.
    services = {
        "api": {
            "healthcheck": compose_check(["CMD", "wget", "-qO-", "http://localhost:8000/health"])
        }
    }
    built = evidence(
        services,
        [
            container(
                "p-api-1",
                "api",
                health="unhealthy",
                health_log=[probe(1, "HTTP/1.1 404 Not Found")],
            )
        ],
        [SourceFile("api", "app/main.py", API_SOURCE)],
    )
    assert run(HealthcheckMisconfigured(), built) == []


@pytest.mark.parametrize(
    ("test", "reason"),
    [
        (["CMD-SHELL", "exit 0"], "always succeeds"),
        (["CMD", "true"], "always succeeds"),
        ("curl -f http://localhost/ || true", "ignores the probe's failure"),
        (["CMD-SHELL", "test -f /tmp/ready"], "only checks that a file exists"),
        (
            ["CMD", "python", "-c", "import os; assert os.path.exists('/tmp/ok')"],
            "only checks that a file exists",
        ),
        (["CMD-SHELL", "echo ok"], "only prints text"),
        # Real probes.
        (["CMD", "python", "-m", "tacore.worker_health"], None),
        (["CMD-SHELL", "redis-cli ping | grep PONG"], None),
        (["CMD-SHELL", "curl -f http://localhost/ || exit 1"], None),
    ],
)
def test_vacuous_reason_of_health_tests(test: list[str] | str, reason: str | None) -> None:
    normalized = ["CMD-SHELL", test] if isinstance(test, str) else test
    assert vacuous_reason(normalized) == reason


def test_vacuous_healthcheck_is_reported_even_when_healthy() -> None:
    services = {"api": {"healthcheck": compose_check(["CMD-SHELL", "exit 0"])}}
    built = evidence(
        services, [container("p-api-1", "api", health="healthy", health_log=[probe(0, "")])]
    )
    [finding] = run(HealthcheckMisconfigured(), built)
    assert finding.facts["kind"] == "vacuous"
    assert finding.repairs == []
    assert finding.fixable_by is Fixability.HUMAN
    assert "exercises its real function" in finding.recommendation


def test_identical_image_check_not_proposed() -> None:
    # The compose test already is the Dockerfile's; proposing it again changes nothing.
    built = worker_evidence(output="/bin/sh: 1: python: not found\n", exit_code=127)
    built.services["worker"]["healthcheck"] = compose_check(
        ["CMD", "python", "-m", "tacore.worker_health"]
    )
    [finding] = run(HealthcheckMisconfigured(), built, WORKER_FACTS)
    assert finding.facts["kind"] == "missing_program"
    assert finding.repairs == []


def test_inspect_healthcheck_used_without_compose() -> None:
    inspect_check = {"Test": ["CMD-SHELL", "exit 0"], "Interval": 5_000_000_000, "Retries": 3}
    built = evidence(
        {"api": {}}, [container("p-api-1", "api", health="healthy", healthcheck=inspect_check)]
    )
    [finding] = run(HealthcheckMisconfigured(), built)
    assert finding.facts["kind"] == "vacuous"
    assert finding.evidence[0].kind == "state"


def test_service_without_health_check_is_not_reported() -> None:
    built = evidence({"api": {}}, [container("p-api-1", "api")])
    assert run(HealthcheckMisconfigured(), built) == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5.0, "5s"), (90.0, "1m30s"), (120.0, "2m"), (0.5, "500ms"), (None, "30s")],
)
def test_format_duration_writes_compose_durations(seconds: float | None, text: str) -> None:
    assert format_duration(seconds, "30s") == text


# --- probes corrected in place -------------------------------------------------------


def test_wrong_port_probe_keeps_program_and_path() -> None:
    test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/api/health"]
    built = evidence(
        {"web": {"image": "shop-ssr", "healthcheck": compose_check(test)}},
        [
            container(
                "p-web-1",
                "web",
                health="unhealthy",
                lines=logs("Storefront ready: listening on http://0.0.0.0:3000"),
                health_log=[
                    probe(1, "wget: can't connect to remote host (127.0.0.1): Connection refused")
                ],
            )
        ],
    )
    [finding] = run(HealthcheckMisconfigured(), built)

    assert finding.facts["kind"] == "unserved_port"
    assert finding.repairs[0].edit.params["test"] == [
        "CMD",
        "wget",
        "-q",
        "-O",
        "/dev/null",
        "http://127.0.0.1:3000/api/health",
    ]


@pytest.mark.parametrize(
    ("image", "program"),
    [("node:20-slim", "node"), ("alpine-app:1", None)],
)
def test_missing_curl_is_replaced_by_program_of_the_image(image: str, program: str | None) -> None:
    built = evidence(
        {
            "web": {
                "image": image,
                "healthcheck": compose_check("curl -f http://localhost:3000/healthz"),
            }
        },
        [
            container(
                "p-web-1",
                "web",
                image=image,
                health="unhealthy",
                health_log=[probe(127, "/bin/sh: 1: curl: not found")],
            )
        ],
    )
    [finding] = run(HealthcheckMisconfigured(), built)
    test = finding.repairs[0].edit.params["test"]

    assert "http://localhost:3000/healthz" in " ".join(test)
    if program == "node":
        assert test[:3] == ["CMD", "node", "-e"]
    else:
        assert test[:2] == ["CMD", "wget"]


def test_latest_passing_probe_clears_earlier_failures() -> None:
    built = evidence(
        {"web": {"healthcheck": compose_check("curl -f http://localhost:8080/")}},
        [
            container(
                "p-web-1",
                "web",
                health="healthy",
                health_log=[probe(7, "curl: (7) Failed to connect", 10.0), probe(0, "ok", 20.0)],
            )
        ],
    )

    assert run(HealthcheckMisconfigured(), built) == []


# --- HEALTHCHECK_TIMEOUT ---------------------------------------------------------------

TIMED_OUT = "Health check exceeded timeout (1s)"


def timeout_evidence(timeout: str, outputs: list[tuple[int, str]]) -> Any:
    check = {
        "test": ["CMD-SHELL", "curl -fs http://localhost:9000/ready"],
        "interval": "5s",
        "timeout": timeout,
        "retries": 3,
    }
    return evidence(
        {"search": {"healthcheck": check}},
        [
            container(
                "p-search-1",
                "search",
                health="unhealthy",
                health_log=[probe(code, out, 10.0 * n) for n, (code, out) in enumerate(outputs)],
            )
        ],
    )


def test_flapping_timeouts_raise_the_timeout() -> None:
    built = timeout_evidence("1s", [(0, "ok"), (-1, TIMED_OUT), (-1, TIMED_OUT), (0, "ok")])
    [finding] = run(HealthcheckTimeout(), built)

    assert (finding.facts["timed_out"], finding.facts["passed"]) == (2, 2)
    params = finding.repairs[0].edit.params
    assert params["timeout"] == "5s"
    assert params["interval"] == "5s"
    assert params["test"] == ["CMD-SHELL", "curl -fs http://localhost:9000/ready"]


def test_long_timeout_is_tripled_and_interval_follows() -> None:
    built = timeout_evidence("4s", [(0, "ok"), (-1, "Health check exceeded timeout (4s)")])
    params = run(HealthcheckTimeout(), built)[0].repairs[0].edit.params

    assert (params["timeout"], params["interval"]) == ("12s", "12s")


@pytest.mark.parametrize(
    ("timeout", "outputs", "reason"),
    [
        # Every probe times out with a generous timeout: the service does not answer.
        ("10s", [(-1, "Health check exceeded timeout (10s)")] * 3, "unresponsive"),
        # No timeout at all.
        ("1s", [(7, "curl: (7) Failed to connect")], "other failure"),
    ],
)
def test_healthcheck_timeout_must_not_match(
    timeout: str, outputs: list[tuple[int, str]], reason: str
) -> None:
    assert run(HealthcheckTimeout(), timeout_evidence(timeout, outputs)) == [], reason


def test_timed_out_probes_are_not_called_misconfigured() -> None:
    built = timeout_evidence("1s", [(-1, TIMED_OUT)])

    assert run(HealthcheckMisconfigured(), built) == []
