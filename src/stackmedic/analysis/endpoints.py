"""Turn resolved address values (URLs, host/port pairs, libpq DSNs) into addresses.

Every parser keeps track of which environment variable produced the host and
which the port, using the segments of the `Value` it was given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stackmedic.analysis.values import UNKNOWN_CHAR, Value

# The port a client uses when a URL names none, per scheme. Each is the
# protocol's registered default (HTTP 80, Redis 6379, PostgreSQL 5432, ...).
DEFAULT_PORTS = {
    "http": 80,
    "https": 443,
    "ws": 80,
    "wss": 443,
    "redis": 6379,
    "rediss": 6379,
    "postgres": 5432,
    "postgresql": 5432,
    "mysql": 3306,
    "mariadb": 3306,
    "amqp": 5672,
    "amqps": 5671,
    "mongodb": 27017,
    "nats": 4222,
}
# Schemes that name a file or an in-process store, not a network peer.
LOCAL_SCHEMES = {"sqlite", "file", "memory", "duckdb"}

_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://"
    r"(?:(?P<userinfo>[^@/?#]*)@)?"
    r"(?P<host>\[[^\]]*\]|[^:/?#]*)"
    r"(?::(?P<port>[^/?#]*))?"
)
_DSN_PAIR = re.compile(r"(?P<key>\w+)\s*=\s*(?P<value>'(?:[^'\\]|\\.)*'|[^\s]*)")


@dataclass(frozen=True)
class Address:
    """A network address as far as it could be resolved."""

    scheme: str
    host: str | None
    port: int | None
    host_variable: str | None = None
    port_variable: str | None = None


def scheme_default_port(scheme: str) -> int | None:
    """Return the default port of a scheme; "postgresql+psycopg2" counts as "postgresql"."""
    base = scheme.lower().split("+", 1)[0]
    return DEFAULT_PORTS.get(base)


def looks_like_url(value: Value) -> bool:
    """Tell whether a value starts with a literal `scheme://` prefix."""
    return _URL.match(value.render()) is not None


def parse_url(value: Value, fallback_scheme: str | None = None) -> Address | None:
    """Parse `scheme://[user@]host[:port]/...` from a resolved value.

    When the whole value is one environment variable with no default and a
    `fallback_scheme` is given (the call implies the protocol, as
    `redis.from_url` does), the address has unknown host and port, both
    controlled by that variable. Returns None for values that are no URL and
    for local schemes such as sqlite://.
    """
    text = value.render()
    match = _URL.match(text)
    if match is None:
        variable = value.sole_variable
        if fallback_scheme and variable and value.text is None:
            return Address(fallback_scheme, None, None, variable, variable)
        return None

    scheme = match.group("scheme")
    if UNKNOWN_CHAR in scheme or scheme.lower() in LOCAL_SCHEMES:
        return None

    host = _clean_host(match.group("host"))
    host_variable = value.variable_in(match.start("host"), match.end("host"))
    if match.group("port") is not None:
        port = _parse_port(match.group("port"))
        port_variable = value.variable_in(match.start("port"), match.end("port"))
    else:
        port = scheme_default_port(scheme)
        port_variable = None
    return Address(scheme, host, port, host_variable, port_variable)


def parse_host_port(
    scheme: str,
    host: Value | None,
    port: Value | None,
    default_host: str | None = None,
    default_port: int | None = None,
) -> Address:
    """Build an address from separate host and port values, with library defaults."""
    host_text = default_host
    host_variable = None
    if host is not None:
        host_text = _clean_host(host.render())
        host_variable = host.variables[0] if host.variables else None

    port_number = default_port
    port_variable = None
    if port is not None:
        port_number = _parse_port(port.render())
        port_variable = port.variables[0] if port.variables else None
    return Address(scheme, host_text, port_number, host_variable, port_variable)


def parse_host_port_string(value: Value, scheme: str) -> Address | None:
    """Parse "host:port", ":port" (all interfaces) or "[::1]:port".

    Go's net.Listen and http.ListenAndServe take this form. An empty host
    listens on every interface and comes back as "0.0.0.0".
    """
    text = value.render()
    if "://" in text or ":" not in text:
        return None
    host_part, _, port_part = text.rpartition(":")
    port = _parse_port(port_part)
    if port is None and UNKNOWN_CHAR not in port_part:
        return None
    host_end = len(host_part)
    host = _clean_host(host_part) if host_part else "0.0.0.0"
    return Address(
        scheme,
        host,
        port,
        value.variable_in(0, host_end),
        value.variable_in(host_end + 1, len(text)),
    )


def parse_dsn(value: Value, scheme: str = "postgresql") -> Address | None:
    """Parse a libpq key=value DSN ("host=db port=5432 dbname=app"), or a URL."""
    if looks_like_url(value):
        return parse_url(value)
    text = value.render()
    pairs = {m.group("key").lower(): m for m in _DSN_PAIR.finditer(text)}
    if "host" not in pairs and "port" not in pairs:
        return None

    host = port = None
    host_variable = port_variable = None
    if "host" in pairs:
        found = pairs["host"]
        host = _clean_host(found.group("value").strip("'"))
        host_variable = value.variable_in(found.start("value"), found.end("value"))
    if "port" in pairs:
        found = pairs["port"]
        port = _parse_port(found.group("value").strip("'"))
        port_variable = value.variable_in(found.start("value"), found.end("value"))
    else:
        port = scheme_default_port(scheme)
    return Address(scheme, host, port, host_variable, port_variable)


def _clean_host(text: str) -> str | None:
    if UNKNOWN_CHAR in text or text == "":
        return None
    if text.startswith("[") and text.endswith("]"):
        return text[1:-1]
    return text


def _parse_port(text: str) -> int | None:
    text = text.strip()
    if text.isdigit() and 0 < int(text) < 65536:
        return int(text)
    return None
