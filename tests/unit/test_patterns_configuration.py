"""ENDPOINT_MISMATCH, MISSING_ENV, BIND_LOCALHOST and PORT_ALREADY_ALLOCATED."""

from __future__ import annotations

from typing import Any

import pytest
from evidence_builders import container, endpoint, env_read, evidence, logs, run

from stackmedic.evidence.facts import SourceFacts
from stackmedic.evidence.model import ContainerEvidence
from stackmedic.model import Fixability
from stackmedic.patterns.configuration import (
    BindLocalhost,
    EndpointMismatch,
    MissingEnv,
    PortAlreadyAllocated,
)

WORKER = "tacore/worker.py"
BROKER = "tacore/broker.py"


def broker_facts(worker_port_default: str = "5555") -> SourceFacts:
    """Facts shaped like the sample: the worker's default port is the broker's frontend."""
    return SourceFacts(
        env_reads=[
            env_read("worker", "BROKER_HOST", "broker", WORKER, 20),
            env_read("worker", "BACKEND_PORT", worker_port_default, WORKER, 21),
            env_read("broker", "FRONTEND_PORT", "5555", BROKER, 10),
            env_read("broker", "BACKEND_PORT", "5556", BROKER, 11),
        ],
        endpoints=[
            endpoint(
                "worker",
                "connect",
                "tcp",
                "broker",
                int(worker_port_default),
                WORKER,
                40,
                "BROKER_HOST",
                "BACKEND_PORT",
                "endpoint",
            ),
            endpoint(
                "broker",
                "bind",
                "tcp",
                "*",
                5555,
                BROKER,
                30,
                None,
                "FRONTEND_PORT",
                'f"tcp://*:{self.frontend_port}"',
            ),
            endpoint(
                "broker",
                "bind",
                "tcp",
                "*",
                5556,
                BROKER,
                33,
                None,
                "BACKEND_PORT",
                'f"tcp://*:{self.backend_port}"',
            ),
        ],
    )


def broker_containers() -> list[ContainerEvidence]:
    return [
        container(
            "p-broker-1",
            "broker",
            health="healthy",
            lines=logs(
                "2026-12-04 20:31:02,100 - INFO - ZMQ frontend bound to tcp://*:5555 (clients)",
                "2026-12-04 20:31:02,118 - INFO - ZMQ backend bound to tcp://*:5556 (workers)",
            ),
        ),
        container("p-worker-1", "worker", lines=logs("About to call worker.start()")),
    ]


def broker_services(
    worker_env: dict[str, str] | None = None, broker_env: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    return {
        "broker": {"environment": broker_env or {}},
        "worker": {
            "environment": worker_env or {"LOG_LEVEL": "INFO"},
            "depends_on": {"broker": {"condition": "service_started"}},
        },
    }


# --- ENDPOINT_MISMATCH ---------------------------------------------------------


def test_same_variable_other_port_is_mismatch() -> None:
    built = evidence(broker_services(), broker_containers())
    [finding] = run(EndpointMismatch(), built, broker_facts())

    assert finding.code == "ENDPOINT_MISMATCH"
    assert finding.service == "worker"
    assert finding.fixable_by is Fixability.COMPOSE
    assert finding.facts["variable"] == "BACKEND_PORT"
    assert finding.facts["code_default"] == "5555"
    assert finding.facts["expected"] == "5556"
    assert finding.facts["peer_service"] == "broker"
    assert finding.facts["peer_bind_line"].endswith("ZMQ backend bound to tcp://*:5556 (workers)")
    assert finding.facts["same_variable"] is True
    assert "frontend" in finding.facts["occupied_by"]
    assert finding.location is not None
    assert (finding.location.path, finding.location.line) == (WORKER, 21)

    [repair] = finding.repairs
    assert repair.edit is not None
    assert repair.edit.action == "set_env"
    assert repair.edit.service == "worker"
    assert repair.edit.params == {"name": "BACKEND_PORT", "value": "5556"}
    assert repair.finding_id == finding.id
    assert "5556" in finding.summary


def test_mismatch_cites_peer_bind_line() -> None:
    built = evidence(broker_services(), broker_containers())
    [finding] = run(EndpointMismatch(), built, broker_facts())
    logged = [ref for ref in finding.evidence if ref.kind == "log"]
    assert ("p-broker-1", 2) in {(ref.origin, ref.line) for ref in logged}
    assert all(ref.timestamp for ref in logged)


def test_compose_override_fixes_mismatch() -> None:
    # The compose environment overrides the wrong code default.
    built = evidence(broker_services({"BACKEND_PORT": "5556"}), broker_containers())
    assert run(EndpointMismatch(), built, broker_facts()) == []


def test_expected_port_follows_peer_compose_override() -> None:
    built = evidence(broker_services(broker_env={"BACKEND_PORT": "6000"}), broker_containers()[1:])
    [finding] = run(EndpointMismatch(), built, broker_facts())
    assert finding.facts["expected"] == "6000"


def test_open_port_other_variable_not_mismatch() -> None:
    # The worker's variable is named differently from every bind. It reaches
    # an open socket, and nothing shows that it is the wrong one.
    facts = broker_facts()
    facts.endpoints[0].port_variable = "WORKER_PORT"
    built = evidence(broker_services(), broker_containers())
    assert run(EndpointMismatch(), built, facts) == []


def test_single_candidate_is_weaker_mismatch() -> None:
    facts = SourceFacts(
        endpoints=[
            endpoint("app", "connect", "http", "api", 8000, "app.py", 5, None, "API_PORT"),
        ]
    )
    built = evidence(
        {"app": {}, "api": {}},
        [container("p-api-1", "api", lines=logs("Uvicorn running on http://0.0.0.0:8080"))],
    )
    [finding] = run(EndpointMismatch(), built, facts)
    assert finding.facts["expected"] == "8080"
    assert finding.facts["same_variable"] is False
    assert finding.confidence < 0.8
    assert finding.repairs[0].edit.params == {"name": "API_PORT", "value": "8080"}


def test_unbound_port_with_two_candidates_is_not_guessed() -> None:
    # Two sockets of the same scheme and no shared variable: no safe choice.
    facts = SourceFacts(
        endpoints=[
            endpoint("app", "connect", "tcp", "broker", 7000, "app.py", 5, None, "PORT"),
        ]
    )
    built = evidence(broker_services() | {"app": {}}, broker_containers())
    assert run(EndpointMismatch(), built, facts) == []


def test_literal_port_mismatch_is_left_to_code_change() -> None:
    facts = SourceFacts(
        endpoints=[
            endpoint(
                "app", "connect", "http", "api", 8000, "app.py", 5, expression='"http://api:8000"'
            ),
        ]
    )
    built = evidence(
        {"app": {}, "api": {}},
        [
            container("p-api-1", "api", lines=logs("Uvicorn running on http://0.0.0.0:8080")),
        ],
    )
    [finding] = run(EndpointMismatch(), built, facts)
    assert finding.fixable_by is Fixability.CODE
    assert finding.repairs == []
    assert "app.py:5" in finding.recommendation


def test_peer_without_known_binds_is_not_judged() -> None:
    # Nothing shows where the peer listens, so nothing shows the port is wrong.
    facts = SourceFacts(endpoints=[endpoint("app", "connect", "tcp", "db", 5432, "app.py", 5)])
    built = evidence({"app": {}, "db": {}}, [container("p-db-1", "db")])
    assert run(EndpointMismatch(), built, facts) == []


def test_localhost_peer_proposes_service_name() -> None:
    facts = SourceFacts(
        env_reads=[env_read("app", "REDIS_HOST", "localhost", "app.py", 3)],
        endpoints=[
            endpoint("app", "connect", "redis", "localhost", 6379, "app.py", 9, "REDIS_HOST", None)
        ],
    )
    built = evidence(
        {"app": {}, "cache": {}},
        [
            container(
                "p-cache-1",
                "cache",
                lines=logs(
                    "1:M 04 Dec 2026 20:31:00.001 * Running mode=standalone, port=6379.",
                    "1:M 04 Dec 2026 20:31:00.002 * Ready to accept connections tcp",
                ),
            ),
        ],
    )
    [finding] = run(EndpointMismatch(), built, facts)
    assert finding.facts["kind"] == "host_loopback"
    assert finding.facts["expected"] == "cache"
    assert finding.repairs[0].edit.params == {"name": "REDIS_HOST", "value": "cache"}


def test_localhost_for_own_port_is_not_a_mismatch() -> None:
    # A service talking to its own server through localhost is fine.
    facts = SourceFacts(
        endpoints=[
            endpoint("app", "connect", "http", "localhost", 8080, "app.py", 9),
            endpoint("app", "bind", "http", "0.0.0.0", 8080, "app.py", 3),
        ]
    )
    built = evidence(
        {"app": {}, "other": {}},
        [
            container("p-other-1", "other", lines=logs("listening on 0.0.0.0:8080")),
        ],
    )
    assert run(EndpointMismatch(), built, facts) == []


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("brokr", "broker"),
        # Far from every service name: reported without a guess.
        ("queue", None),
    ],
)
def test_host_that_is_no_service_is_reported(host: str, expected: str | None) -> None:
    facts = SourceFacts(
        endpoints=[
            endpoint("worker", "connect", "tcp", host, 5556, WORKER, 40, "BROKER_HOST", None),
        ]
    )
    built = evidence(broker_services(), broker_containers())
    [finding] = run(EndpointMismatch(), built, facts)
    assert finding.facts["kind"] == "host_unknown_host"
    assert finding.facts["expected"] == expected
    assert bool(finding.repairs) is (expected is not None)


def test_external_host_name_is_not_a_mismatch() -> None:
    # A dotted name is resolved by DNS outside the project.
    facts = SourceFacts(
        endpoints=[
            endpoint("worker", "connect", "http", "api.example.com", 443, WORKER, 40),
        ]
    )
    built = evidence(broker_services(), broker_containers())
    assert run(EndpointMismatch(), built, facts) == []


def test_network_alias_counts_as_service_host() -> None:
    facts = SourceFacts(
        endpoints=[
            endpoint("worker", "connect", "tcp", "mq", 5556, WORKER, 40),
        ]
    )
    services = broker_services()
    services["broker"]["networks"] = {"default": {"aliases": ["mq"]}}
    built = evidence(services, broker_containers())
    assert run(EndpointMismatch(), built, facts) == []


# --- MISSING_ENV ---------------------------------------------------------------


def test_required_variable_not_set_is_missing() -> None:
    facts = SourceFacts(env_reads=[env_read("api", "DATABASE_URL", None, "app/db.py", 7, True)])
    built = evidence({"api": {"environment": {"LOG_LEVEL": "INFO"}}}, [container("p-api-1", "api")])
    [finding] = run(MissingEnv(), built, facts)
    assert finding.facts == {
        "variable": "DATABASE_URL",
        "code_default": None,
        "proposed": None,
        "reason": "required",
        "values_part": {"key": "", "params": {}, "text": ""},
    }
    # Neither a code default nor a proposed value is known, so the summary names none.
    assert finding.summary == "api: the environment variable DATABASE_URL is not set in compose"
    assert finding.repairs == []
    assert finding.fixable_by is Fixability.HUMAN
    assert "app/db.py:7" in finding.recommendation


@pytest.mark.parametrize(
    ("compose_env", "container_env"),
    [
        ({"DATABASE_URL": "postgres://db/app"}, {}),
        # The image's ENV line sets it, so the process gets a value.
        ({}, {"DATABASE_URL": "postgres://db/app"}),
    ],
)
def test_required_variable_set_somewhere_is_not_missing(
    compose_env: dict[str, str], container_env: dict[str, str]
) -> None:
    facts = SourceFacts(env_reads=[env_read("api", "DATABASE_URL", None, "app/db.py", 7, True)])
    built = evidence(
        {"api": {"environment": compose_env}}, [container("p-api-1", "api", env=container_env)]
    )
    assert run(MissingEnv(), built, facts) == []


@pytest.mark.parametrize(
    "lines",
    [
        [
            "Traceback (most recent call last):",
            '  File "/app/main.py", line 3, in <module>',
            '    SECRET = os.environ["SECRET_KEY"]',
            '  File "<frozen os>", line 679, in __getitem__',
            "KeyError: 'SECRET_KEY'",
        ],
        ["2026-12-04 20:31:00,001 - ERROR - SECRET_KEY is not set"],
        ["FATAL: environment variable SECRET_KEY must be provided"],
    ],
)
def test_variable_reported_missing_in_log_is_missing(lines: list[str]) -> None:
    built = evidence({"api": {}}, [container("p-api-1", "api", lines=logs(*lines))])
    [finding] = run(MissingEnv(), built, SourceFacts())
    assert finding.facts["variable"] == "SECRET_KEY"
    assert finding.facts["reason"] == "log"
    assert finding.evidence[0].kind == "log"


@pytest.mark.parametrize(
    "line",
    [
        # A dictionary key, not an environment variable.
        "KeyError: 'user_id'",
        # Upper case, but nothing shows an os.environ lookup and the code does not read it.
        "KeyError: 'LIMIT'",
        "INFO - environment variable SECRET_KEY is set",
    ],
)
def test_non_environment_key_errors_ignored(line: str) -> None:
    built = evidence({"api": {}}, [container("p-api-1", "api", lines=logs(line))])
    assert run(MissingEnv(), built, SourceFacts()) == []


def test_unset_host_variable_low_confidence() -> None:
    built = evidence(broker_services(), broker_containers())
    findings = run(MissingEnv(), built, broker_facts())
    assert [f.facts["variable"] for f in findings] == ["BROKER_HOST"]
    [finding] = findings
    assert finding.confidence <= 0.3
    assert finding.facts["code_default"] == "broker"
    assert finding.facts["proposed"] == "broker"
    assert finding.repairs[0].edit.params == {"name": "BROKER_HOST", "value": "broker"}


def test_host_variable_set_in_compose_gets_no_proposal() -> None:
    built = evidence(broker_services({"BROKER_HOST": "broker"}), broker_containers())
    findings = run(MissingEnv(), built, broker_facts())
    assert findings == []


def test_endpoint_without_mismatch_or_hang_gets_no_proposal() -> None:
    # The worker connects to the right port and is healthy: nothing to pin.
    containers = broker_containers()
    containers[1].health = "healthy"
    built = evidence(broker_services(), containers)
    assert run(MissingEnv(), built, broker_facts(worker_port_default="5556")) == []


# --- BIND_LOCALHOST ------------------------------------------------------------


def test_loopback_bind_with_clients_reported() -> None:
    facts = SourceFacts(endpoints=[endpoint("web", "connect", "http", "api", 8000, "web.py", 4)])
    built = evidence(
        {"api": {}, "web": {}},
        [
            container(
                "p-api-1",
                "api",
                lines=logs(
                    "INFO:     Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)",
                ),
            ),
        ],
    )
    [finding] = run(BindLocalhost(), built, facts)
    assert finding.service == "api"
    assert finding.facts["bind_address"] == "127.0.0.1"
    assert finding.facts["port"] == 8000
    assert finding.facts["clients"] == ["web"]
    assert finding.repairs == []
    assert finding.fixable_by is Fixability.CODE


def test_loopback_bind_from_variable_proposes_wildcard_address() -> None:
    facts = SourceFacts(
        env_reads=[env_read("api", "HOST", "127.0.0.1", "api.py", 2)],
        endpoints=[endpoint("api", "bind", "http", "127.0.0.1", 8000, "api.py", 30, "HOST", None)],
    )
    built = evidence({"api": {"ports": [{"target": 8000, "published": "8000"}]}})
    [finding] = run(BindLocalhost(), built, facts)
    assert finding.facts["published"] is True
    assert finding.repairs[0].edit.params == {"name": "HOST", "value": "0.0.0.0"}


@pytest.mark.parametrize(
    ("line", "services"),
    [
        # No service connects and no port is published: an internal admin port.
        ("Uvicorn running on http://127.0.0.1:9000", {"api": {}, "web": {}}),
        # A wildcard bind is reachable.
        ("Uvicorn running on http://0.0.0.0:8000", {"api": {"ports": ["8000:8000"]}}),
    ],
)
def test_unused_or_wildcard_binds_are_not_reported(
    line: str, services: dict[str, dict[str, Any]]
) -> None:
    facts = SourceFacts(endpoints=[endpoint("web", "connect", "http", "api", 8000, "web.py", 4)])
    built = evidence(services, [container("p-api-1", "api", lines=logs(line))])
    assert run(BindLocalhost(), built, facts) == []


# --- PORT_ALREADY_ALLOCATED ----------------------------------------------------


def test_port_allocated_on_host() -> None:
    error = (
        "driver failed programming external connectivity on endpoint p-api-1 (3f2a): "
        "Bind for 0.0.0.0:8080 failed: port is already allocated"
    )
    built = evidence(
        {"api": {"ports": ["8080:8080"]}},
        [container("p-api-1", "api", state="created", error=error)],
    )
    [finding] = run(PortAlreadyAllocated(), built)
    assert finding.facts["port"] == "8080"
    assert finding.facts["scope"] == "host"
    assert "services.api.ports" in finding.recommendation


def test_address_in_use_in_container() -> None:
    built = evidence(
        {"api": {}},
        [
            container(
                "p-api-1",
                "api",
                state="exited",
                exit_code=1,
                lines=logs(
                    "OSError: [Errno 98] Address already in use", "could not bind port 5000"
                ),
            )
        ],
    )
    [finding] = run(PortAlreadyAllocated(), built)
    assert finding.facts["scope"] == "container"


def test_compose_warning_names_container_of_allocation_error() -> None:
    built = evidence({"api": {}}, [container("p-api-1", "api", state="created")])
    built.warnings.append(
        "Error response from daemon: driver failed programming external connectivity on endpoint"
        " p-api-1 (9c1): Bind for 0.0.0.0:8080 failed: port is already allocated"
    )
    [finding] = run(PortAlreadyAllocated(), built)
    assert finding.service == "api"


def test_listening_line_is_not_a_port_conflict() -> None:
    built = evidence(
        {"api": {}}, [container("p-api-1", "api", lines=logs("Listening on port 8080"))]
    )
    assert run(PortAlreadyAllocated(), built) == []


# --- variables guarded by the shell --------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "/entrypoint.sh: line 4: API_TOKEN: parameter null or not set",
        "/entrypoint.sh: 4: API_TOKEN: parameter not set",
    ],
)
def test_shell_parameter_check_reports_missing_variable(line: str) -> None:
    built = evidence({"exporter": {}}, [container("p-exporter-1", "exporter", lines=logs(line))])
    [finding] = run(MissingEnv(), built)

    assert finding.facts["variable"] == "API_TOKEN"
    assert finding.repairs == []


def test_shell_check_of_a_set_variable_is_ignored() -> None:
    built = evidence(
        {"exporter": {"environment": {"API_TOKEN": "x"}}},
        [container("p-exporter-1", "exporter", lines=logs("API_TOKEN: parameter null or not set"))],
    )

    assert run(MissingEnv(), built) == []


# --- BIND_LOCALHOST from the compose environment --------------------------------------------


def test_loopback_bind_variable_in_compose_is_set_to_all_interfaces() -> None:
    built = evidence(
        {"web": {"environment": {"FLASK_RUN_HOST": "127.0.0.1"}, "ports": ["5000:5000"]}},
        [container("p-web-1", "web", lines=logs(" * Running on http://127.0.0.1:5000"))],
    )
    [finding] = run(BindLocalhost(), built)

    assert finding.repairs[0].edit.params == {"name": "FLASK_RUN_HOST", "value": "0.0.0.0"}


def test_host_port_variable_keeps_its_port() -> None:
    built = evidence(
        {"api": {"environment": {"BIND_ADDRESS": "localhost:8000"}, "ports": ["8000:8000"]}},
        [container("p-api-1", "api", lines=logs("Listening on localhost:8000"))],
    )
    [finding] = run(BindLocalhost(), built)

    assert finding.repairs[0].edit.params == {"name": "BIND_ADDRESS", "value": "0.0.0.0:8000"}


def test_client_refused_in_logs_counts_as_client() -> None:
    built = evidence(
        {"api": {}, "proxy": {}},
        [
            container("p-api-1", "api", lines=logs("Uvicorn running on http://127.0.0.1:8000")),
            container(
                "p-proxy-1",
                "proxy",
                lines=logs(
                    'connect() failed (111: Connection refused), upstream: "http://api:8000/"'
                ),
            ),
        ],
    )
    [finding] = run(BindLocalhost(), built)

    assert finding.facts["clients"] == ["proxy"]


# --- ports published twice ------------------------------------------------------------------


def test_two_services_publishing_one_port_blames_the_one_that_did_not_start() -> None:
    built = evidence(
        {
            "admin": {"ports": [{"target": 80, "published": "8080", "protocol": "tcp"}]},
            "api": {"ports": ["8080:8080"]},
        },
        [container("p-admin-1", "admin", state="created"), container("p-api-1", "api")],
    )
    [finding] = run(PortAlreadyAllocated(), built)

    assert finding.service == "admin"
    assert finding.facts["scope"] == "compose"
    assert finding.facts["other_service"] == "api"
    assert finding.facts["port"] == "8080"


@pytest.mark.parametrize(
    "ports",
    [
        # Different host ports.
        ({"a": {"ports": ["8080:80"]}, "b": {"ports": ["8081:80"]}}),
        # Same container port, nothing published.
        ({"a": {"ports": ["80"]}, "b": {"ports": ["80"]}}),
        # One TCP, one UDP.
        ({"a": {"ports": ["53:53/udp"]}, "b": {"ports": ["53:53/tcp"]}}),
    ],
)
def test_distinct_publications_must_not_match(ports: dict[str, Any]) -> None:
    assert run(PortAlreadyAllocated(), evidence(ports)) == []


def test_privileged_port_bind_is_not_a_taken_port() -> None:
    # errno 13: an unprivileged user may not bind port 80; nothing else holds it.
    built = evidence(
        {"web": {}},
        [
            container(
                "p-web-1",
                "web",
                lines=logs("nginx: [emerg] bind() to 0.0.0.0:80 failed (13: Permission denied)"),
            )
        ],
    )

    assert run(PortAlreadyAllocated(), built) == []


def test_nginx_address_in_use_is_a_taken_port() -> None:
    built = evidence(
        {"web": {}},
        [
            container(
                "p-web-1",
                "web",
                lines=logs(
                    "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)"
                ),
            )
        ],
    )
    [finding] = run(PortAlreadyAllocated(), built)

    assert finding.facts["scope"] == "container"
