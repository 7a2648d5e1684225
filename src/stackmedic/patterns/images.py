"""What stackmedic knows about widely used server images: protocol, port, readiness probe.

A bundle from a bug report rarely has the source of `postgres:16` or
`rabbitmq:3-management`, but their behaviour is public and stable: the port
they listen on, the environment variables that configure them, and a
command inside the image that tells whether the server accepts work. The
patterns use this to name a peer's port when its logs do not print it and
to propose a readiness health check.
"""

from __future__ import annotations

import re
from typing import Any

from stackmedic.evidence.model import Evidence
from stackmedic.patterns.common import compose_value

# Image repository name (without registry or tag) -> protocol the server speaks.
_IMAGE_KINDS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?:^|/)(?:postgres|postgis|timescaledb[\w-]*|pgvector)$"), "postgresql"),
    (re.compile(r"(?:^|/)(?:mysql|mariadb|percona(?:-server)?)$"), "mysql"),
    (re.compile(r"(?:^|/)(?:redis|redis-stack(?:-server)?|valkey|keydb)$"), "redis"),
    (re.compile(r"(?:^|/)rabbitmq$"), "amqp"),
    (re.compile(r"(?:^|/)(?:cp-kafka|kafka)$"), "kafka"),
    (re.compile(r"(?:^|/)(?:mongo|mongodb-community-server)$"), "mongodb"),
    (re.compile(r"(?:^|/)elasticsearch$"), "elasticsearch"),
    (re.compile(r"(?:^|/)(?:cp-zookeeper|zookeeper)$"), "zookeeper"),
    (re.compile(r"(?:^|/)(?:nginx|httpd|caddy|traefik)$"), "http"),
]

DEFAULT_PORTS = {
    "postgresql": 5432,
    "mysql": 3306,
    "redis": 6379,
    "amqp": 5672,
    "kafka": 9092,
    "mongodb": 27017,
    "elasticsearch": 9200,
    "zookeeper": 2181,
    "http": 80,
}
# URL schemes and the protocol they name.
SCHEME_KINDS = {
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "postgresql+psycopg2": "postgresql",
    "postgresql+asyncpg": "postgresql",
    "postgresql+psycopg": "postgresql",
    "mysql": "mysql",
    "mysql+pymysql": "mysql",
    "mysql+mysqldb": "mysql",
    "mariadb": "mysql",
    "redis": "redis",
    "rediss": "redis",
    "amqp": "amqp",
    "amqps": "amqp",
    "mongodb": "mongodb",
    "mongodb+srv": "mongodb",
    "kafka": "kafka",
    "http": "http",
    "https": "http",
}
PORT_KINDS = {port: kind for kind, port in DEFAULT_PORTS.items() if kind != "http"}

# Readiness probes: servers that accept connections only after their own
# initialisation, checked with a client program their image ships.
READINESS_INTERVAL = "5s"
READINESS_TIMEOUT = "5s"
READINESS_RETRIES = 12
READINESS_START_PERIOD = "10s"


def image_repository(image: str) -> str:
    """Return an image reference without registry, tag and digest: `docker.io/library/redis:7` -> `library/redis`."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: name.rfind(":")]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    return "/".join(parts).lower()


def image_kind(image: str | None) -> str | None:
    if not image:
        return None
    repository = image_repository(image)
    for pattern, kind in _IMAGE_KINDS:
        if pattern.search(repository):
            return kind
    return None


def service_image(evidence: Evidence, service: str) -> str:
    declared = evidence.services.get(service, {}).get("image")
    if declared:
        return str(declared)
    for container in evidence.containers_of(service):
        if container.image:
            return container.image
    return ""


def service_kind(evidence: Evidence, service: str) -> str | None:
    """Return the protocol a service's server speaks, from its image."""
    return image_kind(service_image(evidence, service))


def service_port(evidence: Evidence, service: str) -> int | None:
    """Return the port a well-known server image listens on, honouring its port settings."""
    kind = service_kind(evidence, service)
    if kind is None:
        return None
    if kind == "postgresql":
        command = " ".join(str(part) for part in _argv(evidence, service))
        match = re.search(r"(?:-p\s*|port=)(\d+)", command)
        if match:
            return int(match.group(1))
        configured = compose_value(evidence, service, "PGPORT")
        if configured and configured.isdigit():
            return int(configured)
    if kind == "mysql":
        configured = compose_value(evidence, service, "MYSQL_TCP_PORT")
        if configured and configured.isdigit():
            return int(configured)
    if kind == "redis":
        match = re.search(r"--port\s+(\d+)", " ".join(_argv(evidence, service)))
        if match:
            return int(match.group(1))
    return DEFAULT_PORTS[kind]


def _argv(evidence: Evidence, service: str) -> list[str]:
    command = evidence.services.get(service, {}).get("command")
    if isinstance(command, list):
        return [str(part) for part in command]
    return str(command or "").split()


def readiness_healthcheck(evidence: Evidence, service: str) -> dict[str, Any] | None:
    """Return set_healthcheck parameters that test whether a known server accepts work.

    None for images whose readiness command differs between distributions
    (Kafka) or is unknown.
    """
    kind = service_kind(evidence, service)
    test: list[str] | None = None
    if kind == "postgresql":
        user = compose_value(evidence, service, "POSTGRES_USER") or "postgres"
        database = compose_value(evidence, service, "POSTGRES_DB") or user
        test = ["CMD", "pg_isready", "-U", user, "-d", database]
    elif kind == "mysql":
        # TCP to 127.0.0.1: the image's first-run server listens on the socket only.
        test = ["CMD", "mysqladmin", "ping", "-h", "127.0.0.1", "--silent"]
    elif kind == "redis":
        test = ["CMD", "redis-cli", "ping"]
    elif kind == "amqp":
        test = ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    elif kind == "mongodb":
        # NOTE: mongosh ships with mongo 5 and later; older images have `mongo`.
        test = ["CMD", "mongosh", "--quiet", "--eval", "db.adminCommand('ping')"]
    elif kind == "elasticsearch":
        test = ["CMD-SHELL", "curl -fs http://localhost:9200/_cluster/health || exit 1"]
    if test is None:
        return None
    return {
        "test": test,
        "interval": READINESS_INTERVAL,
        "timeout": READINESS_TIMEOUT,
        "retries": READINESS_RETRIES,
        "start_period": READINESS_START_PERIOD,
        "source": f"readiness command of the {kind} image",
    }


def kind_of_scheme(scheme: str | None) -> str | None:
    if not scheme:
        return None
    return SCHEME_KINDS.get(scheme.lower())


def kind_of_port(port: int | None) -> str | None:
    return PORT_KINDS.get(port) if port is not None else None
