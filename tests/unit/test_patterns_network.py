"""Network patterns: HOST_NOT_RESOLVED, LOCALHOST_PEER, PORT_NOT_LISTENING, TLS_CERTIFICATE_ERROR."""

from __future__ import annotations

from typing import Any

import pytest
from evidence_builders import container, evidence, logs, run

from stackmedic.patterns.connections import connection_target, env_addresses, failed_connections
from stackmedic.patterns.network import (
    HostNotResolved,
    LocalhostPeer,
    PortNotListening,
    TlsCertificateError,
)

# --- the shared failure detector ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("Error 111 connecting to cache:6380. Connection refused.", ("cache", 6380)),
        (
            "Error -2 connecting to redis-server:6379. Name or service not known.",
            ("redis-server", 6379),
        ),
        ('could not translate host name "postgres" to address', ("postgres", None)),
        ("getaddrinfo ENOTFOUND mongo", ("mongo", None)),
        ("dial tcp: lookup db on 127.0.0.11:53: no such host", ("db", None)),
        ("Error: connect ECONNREFUSED 127.0.0.1:5432", ("127.0.0.1", 5432)),
        (
            "Connection to node -1 (localhost/127.0.0.1:9092) could not be established.",
            ("localhost", 9092),
        ),
        ('connection to server at "db" (172.20.0.2), port 5432 failed', ("db", 5432)),
        ("Can't connect to MySQL server on 'mysql:3306' (111)", ("mysql", 3306)),
        (
            'connect() failed (111: Connection refused) while connecting to upstream, upstream: "http://web:5000/"',
            ("web", 5000),
        ),
    ],
)
def test_connection_target_is_read_from_client_errors(
    text: str, target: tuple[str, int | None]
) -> None:
    assert connection_target(text) == target


def test_one_report_over_several_lines_counts_once() -> None:
    lines = logs(
        "Error: connect ECONNREFUSED 127.0.0.1:5432",
        "    at TCPConnectWrap.afterConnect (node:net:1595:16) {",
        "  code: 'ECONNREFUSED',",
        "}",
    )
    [failure] = failed_connections(container("p-a-1", "a", lines=lines))

    assert (failure.host, failure.port, failure.kind) == ("127.0.0.1", 5432, "refused")


def test_report_without_address_takes_the_containers_only_target() -> None:
    lines = logs(
        "Connecting to amqp://guest:***@rabbitmq:5672/%2F",
        "pika.exceptions.AMQPConnectionError",
        "retrying",
        "retrying",
        "retrying",
        "retrying",
        "retrying",
        "retrying",
        "retrying",
        "retrying",
        "pika.exceptions.AMQPConnectionError",
    )
    failures = failed_connections(container("p-c-1", "c", lines=lines))

    assert [(f.host, f.port, f.protocol) for f in failures] == [
        ("rabbitmq", 5672, "amqp"),
        ("rabbitmq", 5672, "amqp"),
    ]


def test_environment_addresses_cover_urls_pairs_and_host_variables() -> None:
    built = evidence(
        {
            "api": {
                "environment": {
                    "DATABASE_URL": "postgres://u:p@db:5432/app",
                    "KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
                    "REDIS_HOST": "cache",
                    "REDIS_PORT": "6380",
                    "GREETING": "hello world",
                }
            }
        }
    )
    found = [(a.variable, a.host, a.port, a.protocol) for a in env_addresses(built, "api")]

    assert found == [
        ("DATABASE_URL", "db", 5432, "postgresql"),
        ("KAFKA_BOOTSTRAP_SERVERS", "k1", 9092, "kafka"),
        ("KAFKA_BOOTSTRAP_SERVERS", "k2", 9092, "kafka"),
        ("REDIS_HOST", "cache", 6380, None),
    ]


def test_address_rewrites_keep_the_rest_of_the_value() -> None:
    built = evidence({"api": {"environment": {"URL": "postgres://u:p@localhost:5432/app?x=1"}}})
    [address] = env_addresses(built, "api")

    assert address.with_host("db") == "postgres://u:p@db:5432/app?x=1"
    assert address.with_port(6543) == "postgres://u:p@localhost:6543/app?x=1"


# --- HOST_NOT_RESOLVED ---------------------------------------------------------------


def test_unknown_host_points_at_service_of_same_protocol() -> None:
    built = evidence(
        {"db": {"image": "postgres:16"}, "api": {"environment": {"DB_HOST": "postgres"}}},
        [
            container(
                "p-api-1", "api", lines=logs('could not translate host name "postgres" to address')
            )
        ],
    )
    [finding] = run(HostNotResolved(), built)

    assert finding.service == "api"
    assert finding.facts["intended_service"] == "db"
    [repair] = finding.repairs
    assert repair.edit is not None
    assert repair.edit.params == {"name": "DB_HOST", "value": "db"}


def test_unknown_host_in_url_keeps_url_shape() -> None:
    built = evidence(
        {
            "mongodb": {"image": "mongo:7"},
            "app": {"environment": {"MONGO_URL": "mongodb://mongo:27017/inv"}},
        },
        [
            container(
                "p-app-1",
                "app",
                lines=logs("MongoServerSelectionError: getaddrinfo ENOTFOUND mongo"),
            )
        ],
    )
    [finding] = run(HostNotResolved(), built)

    assert finding.repairs[0].edit.params["value"] == "mongodb://mongodb:27017/inv"


def test_host_without_close_service_gets_no_repair() -> None:
    built = evidence(
        {"db": {}, "api": {"environment": {"BACKEND": "zzqx"}}},
        [container("p-api-1", "api", lines=logs("getaddrinfo ENOTFOUND zzqx"))],
    )
    [finding] = run(HostNotResolved(), built)

    assert finding.facts["intended_service"] is None
    assert finding.repairs == []


def test_external_name_is_reported_as_dns_problem() -> None:
    built = evidence(
        {"api": {}},
        [container("p-api-1", "api", lines=logs("getaddrinfo EAI_AGAIN api.stripe.com"))],
    )
    [finding] = run(HostNotResolved(), built)

    assert finding.facts["external"] is True
    assert finding.repairs == []


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        # A service of the project that does not resolve is down, not misnamed.
        ('could not translate host name "db" to address', "service name"),
        # Refused is not unresolved.
        ("Error 111 connecting to cache:6379. Connection refused.", "refused"),
        ("INFO resolved db to 172.18.0.2", "no failure"),
    ],
)
def test_host_not_resolved_must_not_match(line: str, reason: str) -> None:
    built = evidence(
        {"db": {}, "cache": {}, "api": {}}, [container("p-api-1", "api", lines=logs(line))]
    )

    assert run(HostNotResolved(), built) == [], reason


# --- LOCALHOST_PEER ------------------------------------------------------------------


def test_localhost_port_of_known_image_points_at_that_service() -> None:
    built = evidence(
        {
            "postgres": {"image": "postgres:15"},
            "web": {"environment": {"DATABASE_URL": "postgres://u:p@localhost:5432/n"}},
        },
        [container("p-web-1", "web", lines=logs("Error: connect ECONNREFUSED 127.0.0.1:5432"))],
    )
    [finding] = run(LocalhostPeer(), built)

    assert finding.facts["peer_service"] == "postgres"
    assert finding.repairs[0].edit.params == {
        "name": "DATABASE_URL",
        "value": "postgres://u:p@postgres:5432/n",
    }


def test_hostless_broker_error_uses_the_loopback_address_of_the_environment() -> None:
    built = evidence(
        {
            "kafka": {"image": "bitnami/kafka:3.7"},
            "indexer": {"environment": {"KAFKA_BOOTSTRAP_SERVERS": "localhost:9092"}},
        },
        [
            container(
                "p-indexer-1",
                "indexer",
                lines=logs("kafka.errors.NoBrokersAvailable: NoBrokersAvailable"),
            )
        ],
    )
    [finding] = run(LocalhostPeer(), built)

    assert finding.repairs[0].edit.params == {
        "name": "KAFKA_BOOTSTRAP_SERVERS",
        "value": "kafka:9092",
    }


def test_peer_known_from_its_log_bind() -> None:
    built = evidence(
        {"api": {}, "worker": {"environment": {"API": "http://localhost:8000"}}},
        [
            container("p-api-1", "api", lines=logs("Uvicorn running on http://0.0.0.0:8000")),
            container(
                "p-worker-1",
                "worker",
                lines=logs(
                    "ConnectionRefusedError: [Errno 111] Connection refused to localhost:8000"
                ),
            ),
        ],
    )
    [finding] = run(LocalhostPeer(), built)

    assert finding.facts["peer_service"] == "api"


@pytest.mark.parametrize(
    ("services", "line", "reason"),
    [
        # The client itself listens on the port: localhost is right.
        ({"api": {"image": "redis:7"}}, "Error 111 connecting to localhost:6379.", "own port"),
        # Two services serve 5432: which one is meant cannot be told.
        (
            {"api": {}, "a": {"image": "postgres"}, "b": {"image": "postgres"}},
            "connect ECONNREFUSED 127.0.0.1:5432",
            "ambiguous",
        ),
        # Nobody in the project serves 9999.
        (
            {"api": {}, "db": {"image": "postgres"}},
            "connect ECONNREFUSED 127.0.0.1:9999",
            "no peer",
        ),
    ],
)
def test_localhost_peer_must_not_match(services: dict[str, Any], line: str, reason: str) -> None:
    built = evidence(services, [container("p-api-1", "api", lines=logs(line))])

    assert run(LocalhostPeer(), built) == [], reason


# --- PORT_NOT_LISTENING --------------------------------------------------------------


def test_wrong_port_of_running_peer_is_corrected() -> None:
    built = evidence(
        {
            "cache": {"image": "redis:7"},
            "api": {"environment": {"REDIS_URL": "redis://cache:6380/0"}},
        },
        [
            container(
                "p-cache-1",
                "cache",
                lines=logs(
                    "Running mode=standalone, port=6379.", "Ready to accept connections tcp"
                ),
            ),
            container(
                "p-api-1",
                "api",
                lines=logs("Error 111 connecting to cache:6380. Connection refused."),
            ),
        ],
    )
    [finding] = run(PortNotListening(), built)

    assert finding.facts["expected"] == 6379
    assert finding.facts["peer_ports"] == [6379]
    assert finding.repairs[0].edit.params == {"name": "REDIS_URL", "value": "redis://cache:6379/0"}


def test_port_in_sibling_variable_is_set_alone() -> None:
    built = evidence(
        {
            "db": {"image": "postgres:16"},
            "api": {"environment": {"DB_HOST": "db", "DB_PORT": "5433"}},
        },
        [
            container("p-db-1", "db"),
            container(
                "p-api-1",
                "api",
                lines=logs(
                    'connection to server at "db" (172.1.0.2), port 5433 failed: Connection refused'
                ),
            ),
        ],
    )
    [finding] = run(PortNotListening(), built)

    assert finding.repairs[0].edit.params == {"name": "DB_PORT", "value": "5432"}


@pytest.mark.parametrize(
    ("peer_state", "line", "reason"),
    [
        # The peer is down: that is its own failure, not a wrong port.
        ("exited", "Error 111 connecting to cache:6380.", "peer down"),
        # The port is right; refusals are a start-order or crash question.
        ("running", "Error 111 connecting to cache:6379.", "right port"),
    ],
)
def test_port_not_listening_must_not_match(peer_state: str, line: str, reason: str) -> None:
    built = evidence(
        {"cache": {"image": "redis:7"}, "api": {}},
        [
            container("p-cache-1", "cache", state=peer_state),
            container("p-api-1", "api", lines=logs(line)),
        ],
    )

    assert run(PortNotListening(), built) == [], reason


# --- TLS_CERTIFICATE_ERROR -----------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "kind", "host"),
    [
        (
            'Get "https://erp.corp.example:8443/x": x509: certificate signed by unknown authority',
            "unknown_authority",
            "erp.corp.example",
        ),
        (
            "SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain'))",
            "self_signed",
            None,
        ),
        ("Error: certificate has expired", "expired", None),
        (
            "x509: certificate is valid for *.a.test, not api.b.test",
            "hostname_mismatch",
            "api.b.test",
        ),
        (
            "HTTPSConnectionPool(host='pay.example', port=443): certificate verify failed",
            "verify_failed",
            "pay.example",
        ),
    ],
)
def test_tls_errors_are_classified(line: str, kind: str, host: str | None) -> None:
    built = evidence({"a": {}}, [container("p-a-1", "a", lines=logs(line))])
    [finding] = run(TlsCertificateError(), built)

    assert finding.facts["kind"] == kind
    assert finding.facts["host"] == host
    assert finding.repairs == []
    assert "Do not disable verification" in finding.recommendation


def test_tls_word_without_failure_must_not_match() -> None:
    built = evidence(
        {"a": {}}, [container("p-a-1", "a", lines=logs("loaded 140 certificates from /etc/ssl"))]
    )

    assert run(TlsCertificateError(), built) == []
