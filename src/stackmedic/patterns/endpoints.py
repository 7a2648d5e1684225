"""Binds and connects of each service, shared by the endpoint patterns.

Binds come from two places: the source (`Endpoint` facts with role "bind") and
the services' own log lines ("bound to tcp://*:5556", "Uvicorn running on
http://0.0.0.0:8000", redis' "Ready to accept connections tcp", ...). A
connect endpoint's effective host and port are the compose `environment`
value of its variable when set, else the in-code default.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import urllib.parse
from dataclasses import dataclass, field

from stackmedic.evidence.facts import Endpoint
from stackmedic.evidence.model import Evidence
from stackmedic.patterns.base import AnalysisContext
from stackmedic.patterns.common import candidate_lines, compose_value, runtime_value

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "ip6-localhost"}
WILDCARD_HOSTS = {"*", "0.0.0.0", "::", "[::]", ""}

# Schemes that speak the same protocol on the wire.
_SCHEME_FAMILY = {
    "https": "http",
    "ws": "http",
    "wss": "http",
    "rediss": "redis",
    "postgres": "postgresql",
    "mysql+pymysql": "mysql",
    "amqps": "amqp",
}


def scheme_family(scheme: str | None) -> str | None:
    if scheme is None:
        return None
    lowered = scheme.lower()
    return _SCHEME_FAMILY.get(lowered, lowered)


def schemes_compatible(connect_scheme: str | None, bind_scheme: str | None) -> bool:
    """Tell whether a bind can serve a connect; an unknown scheme on either side is compatible."""
    if connect_scheme is None or bind_scheme is None:
        return True
    return scheme_family(connect_scheme) == scheme_family(bind_scheme)


# --- host names ----------------------------------------------------------------


def service_hosts(evidence: Evidence) -> dict[str, str]:
    """Map every name that reaches a service on the project network to that service.

    Names are the service name, its `hostname`, `container_name`, network
    aliases, `links` aliases, and its containers' names.
    """
    hosts: dict[str, str] = {}
    for service, config in evidence.services.items():
        hosts[service] = service
        for key in ("hostname", "container_name"):
            if config.get(key):
                hosts[str(config[key])] = service
        networks = config.get("networks") or {}
        if isinstance(networks, dict):
            for options in networks.values():
                for alias in (options or {}).get("aliases") or []:
                    hosts[str(alias)] = service
    for service, config in evidence.services.items():
        for link in config.get("links") or []:
            target, _, alias = str(link).partition(":")
            if alias and target in evidence.services:
                hosts.setdefault(alias, target)
    for container in evidence.containers:
        hosts.setdefault(container.name, container.service)
    return hosts


def service_for_host(evidence: Evidence, host: str | None) -> str | None:
    """Return the service a host name or container IP address reaches, if any."""
    if not host:
        return None
    named = service_hosts(evidence).get(host)
    if named is not None:
        return named
    for container in evidence.containers:
        if host in container.networks.values():
            return container.service
    return None


def is_loopback(host: str | None) -> bool:
    return host is not None and host.lower() in LOOPBACK_HOSTS


def looks_like_service_name(host: str) -> bool:
    """Tell whether a host could only be resolved by the compose network (no dot, not an IP)."""
    if "." in host or ":" in host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def closest_service(evidence: Evidence, host: str) -> str | None:
    names = sorted(service_hosts(evidence))
    matches = difflib.get_close_matches(host, names, n=1, cutoff=0.6)
    return service_hosts(evidence)[matches[0]] if matches else None


# --- binds ---------------------------------------------------------------------


@dataclass
class Bind:
    """A port a service listens on, from its source or from a log line."""

    service: str
    port: int
    scheme: str | None
    host: str | None
    origin: str
    variable: str | None = None
    path: str | None = None
    line: int | None = None
    expression: str = ""
    log_text: str | None = None
    log_container: str | None = None
    log_line: int | None = None
    log_timestamp: str | None = None

    @property
    def description(self) -> str:
        """Return the log line that shows the bind, else its source expression with path:line."""
        if self.log_text:
            return self.log_text
        return f"{self.path}:{self.line} {self.expression}".strip()


_LOG_BIND_PATTERNS: list[tuple[re.Pattern[str], str | None]] = [
    (
        re.compile(
            r"\bbound to (?P<scheme>[a-z][a-z0-9+.-]*)://"
            r"(?P<host>\[[^\]]*\]|[^\s:/]+):(?P<port>\d+)",
            re.IGNORECASE,
        ),
        None,
    ),
    (
        re.compile(
            r"\b(?:running|listening|serving|started)(?: server)? (?:on|at):? "
            r"(?P<scheme>https?|tcp|grpc|ws)://(?P<host>\[[^\]]*\]|[^\s:/]+):(?P<port>\d+)",
            re.IGNORECASE,
        ),
        None,
    ),
    (
        re.compile(r'listening on IPv[46] address "(?P<host>[^"]+)", port (?P<port>\d+)'),
        "postgresql",
    ),
    (
        re.compile(r"\blistening on (?P<host>\[[^\]]*\]|[\w.*-]+):(?P<port>\d+)\b", re.IGNORECASE),
        None,
    ),
    (re.compile(r"\blistening on port (?P<port>\d+)\b", re.IGNORECASE), None),
    # Go's net/http and many frameworks: "listening on :8080".
    (re.compile(r"\b(?:listening|serving|started) on :(?P<port>\d+)\b", re.IGNORECASE), None),
    # Spring Boot's embedded servers: "Tomcat started on port(s): 8080 (http)".
    (
        re.compile(
            r"\b(?:Tomcat|Jetty|Netty|Undertow) started on port(?:\(s\))?:? (?P<port>\d+)"
            r"(?: \((?P<scheme>https?)\))?",
            re.IGNORECASE,
        ),
        "http",
    ),
    # ASP.NET Core: "Now listening on: http://[::]:80".
    (
        re.compile(
            r"Now listening on: (?P<scheme>https?)://(?P<host>\[[^\]]*\]|[^\s:/]+):(?P<port>\d+)"
        ),
        None,
    ),
    (re.compile(r"ready for connections\..*\bport: (?P<port>\d+)"), "mysql"),
    (re.compile(r'Waiting for connections.*"port":\s*(?P<port>\d+)'), "mongodb"),
    (
        re.compile(r"started TCP listener on (?P<host>\[[^\]]*\]|[\w.]+):(?P<port>\d+)"),
        "amqp",
    ),
]
_REDIS_READY = re.compile(r"Ready to accept connections(?! unix)")
_REDIS_PORT = re.compile(r"Running mode=\w+, port=(?P<port>\d+)")
REDIS_DEFAULT_PORT = 6379


_LOG_BIND_REGEXES = (*(regex for regex, _ in _LOG_BIND_PATTERNS), _REDIS_READY, _REDIS_PORT)


def log_binds(evidence: Evidence, service: str) -> list[Bind]:
    """Return the binds a service's containers announced in their logs, one per port."""
    found: dict[int, Bind] = {}
    for container in sorted(evidence.containers_of(service), key=lambda c: c.name):
        redis_port = REDIS_DEFAULT_PORT
        for index in candidate_lines(container, *_LOG_BIND_REGEXES):
            line = container.logs[index]
            port_match = _REDIS_PORT.search(line.text)
            if port_match:
                redis_port = int(port_match.group("port"))
            bind = _bind_in_line(service, line.text, redis_port)
            if bind is None or bind.port in found:
                continue
            bind.log_container = container.name
            bind.log_line = line.number
            bind.log_timestamp = line.timestamp
            found[bind.port] = bind
    return list(found.values())


def _bind_in_line(service: str, text: str, redis_port: int) -> Bind | None:
    for pattern, fixed_scheme in _LOG_BIND_PATTERNS:
        match = pattern.search(text)
        if match is None:
            continue
        groups = match.groupdict()
        scheme = groups.get("scheme") or fixed_scheme
        if scheme is None and re.search(
            r"\bhttp\b|uvicorn|gunicorn|fastapi|flask", text, re.IGNORECASE
        ):
            scheme = "http"
        return Bind(service, int(groups["port"]), scheme, groups.get("host"), "log", log_text=text)
    if _REDIS_READY.search(text):
        return Bind(service, redis_port, "redis", None, "log", log_text=text)
    return None


def source_binds(context: AnalysisContext, service: str) -> list[Bind]:
    """Return the binds in a service's source, with each port's compose override applied."""
    binds = []
    for endpoint in context.facts.endpoints_of(service, "bind"):
        port = effective_port(context.evidence, service, endpoint)
        if port is None:
            continue
        binds.append(
            Bind(
                service=service,
                port=port,
                scheme=endpoint.scheme,
                host=effective_host(context.evidence, service, endpoint),
                origin="source",
                variable=endpoint.port_variable,
                path=endpoint.path,
                line=endpoint.line,
                expression=endpoint.expression,
            )
        )
    return binds


def binds_of(context: AnalysisContext, service: str) -> list[Bind]:
    """Return every known bind of a service, one per port.

    A log line that confirms a source bind is merged into it.
    """
    merged: list[Bind] = []
    logged = {bind.port: bind for bind in log_binds(context.evidence, service)}
    for bind in source_binds(context, service):
        confirmation = logged.pop(bind.port, None)
        if confirmation is not None:
            bind.log_text = confirmation.log_text
            bind.log_container = confirmation.log_container
            bind.log_line = confirmation.log_line
            bind.log_timestamp = confirmation.log_timestamp
        if all(existing.port != bind.port for existing in merged):
            merged.append(bind)
    merged.extend(logged.values())
    return merged


# --- connects ------------------------------------------------------------------


def _as_port(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _url_parts(value: str) -> urllib.parse.SplitResult | None:
    if "://" not in value:
        return None
    try:
        parts = urllib.parse.urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    return parts


def effective_port(evidence: Evidence, service: str, endpoint: Endpoint) -> int | None:
    """Return an endpoint's port: its variable's value (a port or a URL), else the default."""
    if endpoint.port_variable:
        value = runtime_value(evidence, service, endpoint.port_variable)
        if value is not None:
            url = _url_parts(value)
            override = url.port if url is not None else _as_port(value)
            if override is not None:
                return override
    return endpoint.port


def effective_host(evidence: Evidence, service: str, endpoint: Endpoint) -> str | None:
    """Return an endpoint's host: its variable's value (a host or a URL), else the default."""
    if endpoint.host_variable:
        value = runtime_value(evidence, service, endpoint.host_variable)
        if value:
            url = _url_parts(value)
            if url is None:
                return value.strip()
            if url.hostname:
                return url.hostname
    return endpoint.host


def value_for_variable(
    context: AnalysisContext,
    service: str,
    variable: str,
    *,
    host: str | None = None,
    port: int | None = None,
    near: str | None = None,
) -> str:
    """Return the value to give `variable` so it names `host` or `port`.

    A variable that contains a whole URL (REDIS_URL=redis://localhost:6379/0)
    keeps its URL with only the host or port replaced.
    """
    current = runtime_value(context.evidence, service, variable) or code_default(
        context, service, variable, near
    )
    url = _url_parts(current) if current else None
    if url is None:
        return str(host if host is not None else port)
    hostname = host if host is not None else (url.hostname or "")
    number = port if port is not None else url.port
    userinfo = url.netloc.rpartition("@")[0]
    netloc = hostname
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    if number:
        netloc = f"{netloc}:{number}"
    return urllib.parse.urlunsplit(url._replace(netloc=netloc))


@dataclass
class Connection:
    """A connect endpoint with its effective host and port and the service it reaches."""

    service: str
    endpoint: Endpoint
    host: str | None
    port: int | None
    peer: str | None
    host_overridden: bool = False
    port_overridden: bool = False

    @property
    def url(self) -> str:
        scheme = self.endpoint.scheme or "tcp"
        return f"{scheme}://{self.host}:{self.port}"


def connections_of(context: AnalysisContext, service: str) -> list[Connection]:
    evidence = context.evidence
    connections = []
    for endpoint in context.facts.endpoints_of(service, "connect"):
        host = effective_host(evidence, service, endpoint)
        port = effective_port(evidence, service, endpoint)
        peer = None if is_loopback(host) else service_for_host(evidence, host)
        connections.append(
            Connection(
                service=service,
                endpoint=endpoint,
                host=host,
                port=port,
                peer=peer,
                host_overridden=host != endpoint.host,
                port_overridden=port != endpoint.port,
            )
        )
    return connections


def code_default(
    context: AnalysisContext, service: str, variable: str | None, near: str | None = None
) -> str | None:
    """Return the in-code default of an environment variable the service reads.

    With `near` (a path), a read in that file is preferred: two modules may
    read the same variable with different defaults.
    """
    if variable is None:
        return None
    reads = [
        read
        for read in context.facts.env_reads_of(service)
        if read.variable == variable and read.default is not None
    ]
    reads.sort(key=lambda read: (read.path != near, read.path, read.line))
    return reads[0].default if reads else None


# --- mismatches ----------------------------------------------------------------


@dataclass
class PortMismatch:
    """A connect whose port the peer does not serve for it, and the bind it should use."""

    connection: Connection
    expected: Bind
    same_variable: bool
    occupied_by: Bind | None = None


@dataclass
class HostMismatch:
    """A connect whose host cannot reach the intended peer service."""

    connection: Connection
    kind: str
    expected: str | None
    expected_bind: Bind | None = None
    candidates: list[str] = field(default_factory=list)


def port_mismatch(context: AnalysisContext, connection: Connection) -> PortMismatch | None:
    """Compare a connect's port with the binds of the service it reaches.

    A bind on the peer that takes its port from the same variable name and
    listens on another port is strong evidence, even when the connect's port
    is open on the peer (a different socket). Otherwise a connect to a port
    the peer does not bind is matched to the peer's only bind of the same
    scheme.
    """
    if connection.peer is None or connection.port is None:
        return None
    binds = binds_of(context, connection.peer)
    if not binds:
        return None
    scheme = connection.endpoint.scheme
    compatible = [b for b in binds if schemes_compatible(scheme, b.scheme)]
    occupied_by = next((b for b in binds if b.port == connection.port), None)

    variable = connection.endpoint.port_variable
    if variable is not None:
        for bind in compatible:
            if bind.variable == variable and bind.port != connection.port:
                return PortMismatch(connection, bind, True, occupied_by)

    if occupied_by is not None:
        return None
    others = [b for b in compatible if b.port != connection.port]
    if len(others) == 1:
        return PortMismatch(connection, others[0], False, None)
    return None


def host_mismatch(context: AnalysisContext, connection: Connection) -> HostMismatch | None:
    """Find a connect to localhost that is meant for another service, or to an unknown name."""
    host = connection.host
    if host is None or connection.port is None:
        return None
    if is_loopback(host):
        return _loopback_mismatch(context, connection)
    if connection.peer is not None or not looks_like_service_name(host):
        return None
    suggestion = closest_service(context.evidence, host)
    return HostMismatch(
        connection, "unknown_host", suggestion, None, sorted(context.evidence.services)
    )


def _loopback_mismatch(context: AnalysisContext, connection: Connection) -> HostMismatch | None:
    own_ports = {b.port for b in binds_of(context, connection.service)}
    if connection.port in own_ports:
        return None
    servers = []
    for other in sorted(context.evidence.services):
        if other == connection.service:
            continue
        for bind in binds_of(context, other):
            if bind.port == connection.port and schemes_compatible(
                connection.endpoint.scheme, bind.scheme
            ):
                servers.append(bind)
    if len(servers) != 1:
        return None
    return HostMismatch(
        connection, "loopback", servers[0].service, servers[0], [servers[0].service]
    )


def compose_sets(evidence: Evidence, service: str, variable: str | None) -> bool:
    return variable is not None and compose_value(evidence, service, variable) is not None
