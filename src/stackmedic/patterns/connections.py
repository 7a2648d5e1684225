"""Failed connections in logs, and the addresses a service's environment points at.

Client libraries report a failed connection in many ways: "Connection
refused", `ECONNREFUSED 127.0.0.1:5432`, `Error 111 connecting to redis:6379`,
`getaddrinfo ENOTFOUND mongo`, `could not translate host name "db"`, pika's
AMQPConnectionError, kafka's NoBrokersAvailable. `failed_connections` finds
them with the host and port when the line (or the next one) names them, and
sorts them into refused, unresolved and unavailable.

`env_addresses` reads the other side: the host and port each compose
`environment` value names (a URL, `host:port`, or a `*_HOST` variable with
its `*_PORT` sibling), so a pattern can propose changing exactly that value.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from dataclasses import dataclass

from stackmedic.evidence.model import ContainerEvidence, Evidence, LogLine
from stackmedic.patterns.common import candidate_lines, compose_environment, line_time, parse_time
from stackmedic.patterns.images import kind_of_port, kind_of_scheme

REFUSED = "refused"
UNRESOLVED = "unresolved"
UNAVAILABLE = "unavailable"

_REFUSED = re.compile(
    r"connection refused|ECONNREFUSED|Errno 111\b|Error 111 connecting|\(111[:)]|"
    r"could not connect to server|Can't connect to (?:MySQL|MariaDB) server|"
    r"ConnectException: Connection refused",
    re.IGNORECASE,
)
_UNRESOLVED = re.compile(
    r"Name or service not known|Temporary failure in name resolution|"
    r"getaddrinfo (?:ENOTFOUND|EAI_AGAIN)|could not translate host name|no such host|"
    r"UnknownHostException|Unknown (?:MySQL|MariaDB) server host|nodename nor servname|"
    r"Name does not resolve|Error -[23] connecting to|socket\.gaierror",
    re.IGNORECASE,
)
# Failures that name no cause: the library reports only that the peer is unavailable.
_UNAVAILABLE = re.compile(
    r"AMQPConnectionError|NoBrokersAvailable|Broker may not be available|"
    r"MongoServerSelectionError|ServerSelectionTimeoutError|"
    r"Connection to node -?\d+ .* could not be established|"
    r"connect ETIMEDOUT|i/o timeout|Connection timed out",
    re.IGNORECASE,
)
_RECOVERED = re.compile(
    r"\bconnected\b|connection established|\bconnection ok\b|successfully connected|"
    r"ready to accept|listening on|started server|application startup complete",
    re.IGNORECASE,
)
_HOST = r"[A-Za-z0-9][\w.-]*|\[[0-9a-fA-F:.]+\]"
_TARGETS = [
    re.compile(rf"Error -?\d+ connecting to (?P<host>{_HOST}):(?P<port>\d+)"),
    re.compile(rf"Connection to node -?\d+ \((?P<host>{_HOST})/[\d.]+:(?P<port>\d+)\)"),
    re.compile(r'connection to server at "(?P<host>[^"]+)"[^,]*, port (?P<port>\d+)'),
    re.compile(r'running on host "(?P<host>[^"]+)".*?port (?P<port>\d+)'),
    re.compile(r'could not translate host name "(?P<host>[^"]+)"'),
    re.compile(rf"getaddrinfo (?:ENOTFOUND|EAI_AGAIN) (?P<host>{_HOST})(?::(?P<port>\d+))?"),
    re.compile(
        rf"lookup (?P<host>{_HOST})(?: on [\d.:\[\]]+)?: (?:no such host|server misbehaving)"
    ),
    re.compile(rf"UnknownHostException: (?P<host>{_HOST})"),
    re.compile(r"Unknown (?:MySQL|MariaDB) server host '(?P<host>[^']+)'"),
    re.compile(
        r"Can't connect to (?:MySQL|MariaDB) server on '(?P<host>[^':]+)(?::(?P<port>\d+))?'"
    ),
    re.compile(rf"dial tcp (?P<host>{_HOST}):(?P<port>\d+)"),
    re.compile(rf"(?:ECONNREFUSED|ETIMEDOUT) (?P<host>{_HOST}):(?P<port>\d+)"),
    re.compile(r'upstream: "[a-z]+://(?P<host>[\w.-]+):(?P<port>\d+)'),
    re.compile(
        rf"(?:connect(?:ing)? to|connection to|failed to connect to|at|to) "
        rf"(?:[a-z][\w+.-]*://)?(?:[^@\s/]+@)?(?P<host>{_HOST}):(?P<port>\d{{2,5}})\b",
        re.IGNORECASE,
    ),
    re.compile(rf"(?P<host>{_HOST}):(?P<port>\d{{2,5}})\b.*(?:refused|not known|unreachable)"),
]
_PROTOCOL_WORDS = [
    (re.compile(r"redis", re.IGNORECASE), "redis"),
    (re.compile(r"AMQP|pika|rabbit|kombu", re.IGNORECASE), "amqp"),
    (re.compile(r"kafka|NoBrokersAvailable|Broker may not be available", re.IGNORECASE), "kafka"),
    (re.compile(r"psycopg|postgres|libpq|pg_hba|SQLSTATE|\bpg\b", re.IGNORECASE), "postgresql"),
    (re.compile(r"MySQL|MariaDB|pymysql", re.IGNORECASE), "mysql"),
    (re.compile(r"mongo", re.IGNORECASE), "mongodb"),
]


@dataclass
class FailedConnection:
    """A log line that reports a connection that did not happen."""

    container: ContainerEvidence
    line: LogLine
    index: int
    kind: str
    host: str | None
    port: int | None
    protocol: str | None

    @property
    def target(self) -> str | None:
        if self.host is None:
            return None
        return f"{self.host}:{self.port}" if self.port is not None else self.host


def connection_target(text: str) -> tuple[str, int | None] | None:
    """Return the (host, port) a connection error line names, if it names one."""
    for pattern in _TARGETS:
        match = pattern.search(text)
        if match is None:
            continue
        host = match.group("host").strip("[]")
        port_text = match.groupdict().get("port")
        if host.lower() in ("port", "host", "server", "the"):
            continue
        return host, int(port_text) if port_text else None
    return None


def failure_kind(text: str) -> str | None:
    if _UNRESOLVED.search(text):
        return UNRESOLVED
    if _REFUSED.search(text):
        return REFUSED
    if _UNAVAILABLE.search(text):
        return UNAVAILABLE
    return None


def protocol_of(text: str, port: int | None) -> str | None:
    by_port = kind_of_port(port)
    if by_port is not None:
        return by_port
    for pattern, kind in _PROTOCOL_WORDS:
        if pattern.search(text):
            return kind
    return None


def failed_connections(container: ContainerEvidence) -> list[FailedConnection]:
    """Return the log lines of a container that report a failed connection, one per report.

    A report often spans lines, such as a traceback's exception and its hint
    or a Node.js error object. So a line within a few lines of the previous
    report that names no other address belongs to that report. A report that names no
    address takes it from the lines around it ("Connecting to ..."), else
    from the container's other reports when they all name the same one.
    """
    found: list[FailedConnection] = []
    logs = container.logs
    for index in candidate_lines(container, _UNRESOLVED, _REFUSED, _UNAVAILABLE):
        line = logs[index]
        kind = failure_kind(line.text)
        if kind is None:
            continue
        target = connection_target(line.text)
        if found and target is None and index - found[-1].index <= SAME_REPORT_LINES:
            continue
        if target is None:
            before = [l.text for l in logs[max(0, index - 3) : index]]
            after = [l.text for l in logs[index + 1 : index + 3]]
            target = connection_target(" ".join(after)) or next(
                (t for t in (connection_target(text) for text in reversed(before)) if t), None
            )
        host, port = target if target is not None else (None, None)
        context = " ".join(l.text for l in logs[max(0, index - 2) : index + 3])
        protocol = protocol_of(context, port)
        found.append(FailedConnection(container, line, index, kind, host, port, protocol))

    named = {(f.host, f.port) for f in found if f.host is not None}
    if len(named) == 1:
        host, port = next(iter(named))
        for failure in found:
            if failure.host is None:
                failure.host, failure.port = host, port
    return found


# Lines after a failure report that still belong to it (hints, error object fields).
SAME_REPORT_LINES = 8


def recovered_after(failure: FailedConnection) -> bool:
    """Tell whether a later line of the same container reports a working connection."""
    later = failure.container.logs[failure.index + 1 :]
    return any(_RECOVERED.search(line.text) and failure_kind(line.text) is None for line in later)


def failures_of(evidence: Evidence, service: str) -> list[FailedConnection]:
    found = []
    for container in sorted(evidence.containers_of(service), key=lambda c: c.name):
        found.extend(failed_connections(container))
    return found


_READY = re.compile(
    r"ready to accept|listening on|"
    r"Server startup complete|started server|Started \w+ in [\d.]+ seconds|"
    r"Application startup complete|Server started|server is ready|mysqld: ready for connections|"
    r"Waiting for connections|started on port|accepting connections|Uvicorn running on|"
    r"Running on https?://|Started TCP listener|Server startup complete",
    re.IGNORECASE,
)


def ready_pattern() -> re.Pattern[str]:
    """Return the regex of log lines that announce a server accepts connections."""
    return _READY


def first_log_time(evidence: Evidence, service: str) -> dt.datetime | None:
    """Return when a service's containers started: the earliest start time or first log line."""
    times = []
    for container in evidence.containers_of(service):
        started = parse_time(container.started_at)
        if started is not None:
            times.append(started)
        for line in container.logs:
            moment = line_time(line)
            if moment is not None:
                times.append(moment)
                break
    return min(times) if times else None


def first_ready_time(evidence: Evidence, service: str) -> dt.datetime | None:
    """Return when a service first logged that it accepts connections, if it did."""
    times = []
    for container in evidence.containers_of(service):
        for line in container.logs:
            if _READY.search(line.text):
                moment = line_time(line)
                if moment is not None:
                    times.append(moment)
                break
    return min(times) if times else None


# --- addresses in the environment -------------------------------------------------


@dataclass
class EnvAddress:
    """A host (and port) that one compose environment value names.

    `port_variable` is set when the port lives in a sibling variable
    (DB_HOST and DB_PORT); `url` when the value is a whole URL.
    """

    variable: str
    value: str
    host: str
    port: int | None
    protocol: str | None
    url: bool = False
    port_variable: str | None = None

    def with_host(self, host: str) -> str:
        """Return the value with its host replaced, keeping everything else."""
        return _replace_host(self.value, self.host, host, self.url)

    def with_port(self, port: int) -> str:
        if self.port_variable is not None:
            return str(port)
        return _replace_port(self.value, self.host, self.port, port, self.url)


_HOST_PORT_ITEM = re.compile(r"^(?P<host>[A-Za-z0-9][\w.-]*):(?P<port>\d{2,5})$")
_HOST_NAME_VARIABLE = re.compile(
    r"(?:^|_)(?:HOST|HOSTNAME|SERVER|ADDR|ADDRESS)$|_HOST_?NAME$", re.IGNORECASE
)
_PORT_VARIABLE = re.compile(r"(?:^|_)PORT$", re.IGNORECASE)
_PLAIN_HOST = re.compile(r"^[A-Za-z0-9][\w.-]*$")


def env_addresses(evidence: Evidence, service: str) -> list[EnvAddress]:
    """Return every address the service's compose environment names, in variable order."""
    environment = compose_environment(evidence, service)
    found: list[EnvAddress] = []
    for variable, value in environment.items():
        if not value:
            continue
        found.extend(_addresses_in(variable, value, environment))
    return found


def _addresses_in(
    variable: str, value: str, environment: dict[str, str | None]
) -> list[EnvAddress]:
    text = value.strip()
    if "://" in text:
        return _url_addresses(variable, text)
    items = [item.strip() for item in text.split(",") if item.strip()]
    pairs = [_HOST_PORT_ITEM.match(item) for item in items]
    if items and all(pairs):
        return [
            EnvAddress(
                variable,
                value,
                match.group("host"),
                int(match.group("port")),
                kind_of_port(int(match.group("port"))),
            )
            for match in pairs
            if match is not None
        ]
    if _HOST_NAME_VARIABLE.search(variable) and _PLAIN_HOST.match(text):
        port_variable, port = _sibling_port(variable, environment)
        return [EnvAddress(variable, value, text, port, kind_of_port(port), False, port_variable)]
    return []


def _url_addresses(variable: str, text: str) -> list[EnvAddress]:
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError:
        return []
    protocol = kind_of_scheme(parts.scheme)
    netloc = parts.netloc.rpartition("@")[2]
    found = []
    # Several hosts in one URL: mongodb://a:27017,b:27017/db
    for item in netloc.split(","):
        host, _, port_text = item.rpartition(":") if ":" in item else (item, "", "")
        host = host.strip("[]")
        if not host:
            continue
        port = int(port_text) if port_text.isdigit() else None
        found.append(EnvAddress(variable, text, host, port, protocol or kind_of_port(port), True))
    return found


def _sibling_port(
    variable: str, environment: dict[str, str | None]
) -> tuple[str | None, int | None]:
    stem = re.sub(r"_?(?:HOST|HOSTNAME|SERVER|ADDR|ADDRESS)$", "", variable, flags=re.IGNORECASE)
    for candidate in (f"{stem}_PORT", f"{stem}PORT", "PORT"):
        value = environment.get(candidate)
        if value is not None and value.strip().isdigit():
            return candidate, int(value.strip())
    return None, None


def _replace_host(value: str, old: str, new: str, url: bool) -> str:
    if not url:
        return re.sub(rf"(?<![\w.-]){re.escape(old)}(?![\w.-])", new, value, count=1)
    scheme, rest = value.split("://", 1)
    authority, slash, tail = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    hosts = re.sub(rf"(?<![\w.-]){re.escape(old)}(?![\w.-])", new, hosts, count=1)
    return f"{scheme}://{userinfo}{at}{hosts}{slash}{tail}"


def _replace_port(value: str, host: str, old: int | None, new: int, url: bool) -> str:
    if old is None:
        return _replace_host(value, host, f"{host}:{new}", url)
    return re.sub(rf"(?<![\w.-]){re.escape(host)}:{old}(?!\d)", f"{host}:{new}", value, count=1)
