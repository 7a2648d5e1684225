"""Rules that find the endpoints Python code binds or connects to.

Each rule matches a family of calls (ZeroMQ and BSD sockets, uvicorn and
other servers, Redis, HTTP clients, database drivers) and resolves the
address arguments with `Resolver`. A call yields an endpoint only when its
argument has the shape of an address: a `(host, port)` tuple, a URL with a
literal scheme, or host/port keywords. So `signal.connect(handler)`,
`sqlite3.connect(path)` and a connect on a list yield nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass

from stackmedic.analysis.endpoints import (
    Address,
    looks_like_url,
    parse_dsn,
    parse_host_port,
    parse_host_port_string,
    parse_url,
    scheme_default_port,
)
from stackmedic.analysis.pyindex import ModuleIndex
from stackmedic.analysis.pyvalues import Resolver, Where

HTTP_VERBS = {"get", "post", "put", "patch", "delete", "head", "options", "request", "stream"}
# Library defaults for a server started without host or port (uvicorn 0.x,
# Flask's app.run, aiohttp's web.run_app).
UVICORN_DEFAULT = ("127.0.0.1", 8000)
FLASK_DEFAULT = ("127.0.0.1", 5000)
AIOHTTP_DEFAULT = ("0.0.0.0", 8080)
REDIS_DEFAULT = ("localhost", 6379)

_SERVER_CLASSES = {
    "HTTPServer": "http",
    "ThreadingHTTPServer": "http",
    "TCPServer": "tcp",
    "ThreadingTCPServer": "tcp",
    "ForkingTCPServer": "tcp",
    "UDPServer": "udp",
    "ThreadingUDPServer": "udp",
}
_DB_DRIVERS = {
    "psycopg2.connect": "postgresql",
    "psycopg.connect": "postgresql",
    "psycopg.AsyncConnection.connect": "postgresql",
    "asyncpg.connect": "postgresql",
    "asyncpg.create_pool": "postgresql",
    "pymysql.connect": "mysql",
    "mysql.connector.connect": "mysql",
    "MySQLdb.connect": "mysql",
    "aiomysql.connect": "mysql",
    "aiomysql.create_pool": "mysql",
}
_URL_FACTORIES = {
    "create_engine",
    "create_async_engine",
    "MongoClient",
    "AsyncIOMotorClient",
    "URLParameters",
    "connect_robust",
}
# Modules whose connect() opens a file, not a network peer.
_LOCAL_MODULES = ("sqlite3", "aiosqlite", "shelve", "dbm", "duckdb")


@dataclass(frozen=True)
class EndpointDraft:
    role: str
    address: Address
    expression: str


class EndpointRules:
    """Find the endpoint of one call, if it has one."""

    def __init__(self, module: ModuleIndex, resolver: Resolver) -> None:
        self.module = module
        self.resolver = resolver

    def endpoint(self, call: ast.Call, where: Where) -> EndpointDraft | None:
        name = self.module.canonical(call.func) or ""
        method = call.func.attr if isinstance(call.func, ast.Attribute) else ""
        if name.startswith(_LOCAL_MODULES):
            return None
        rules = (
            self._servers,
            self._redis,
            self._databases,
            self._http,
            self._url_factories,
            self._sockets,
        )
        for rule in rules:
            found = rule(call, name, method, where)
            if found is not None:
                return found
        return None

    # --- servers -------------------------------------------------------------

    def _servers(
        self, call: ast.Call, name: str, method: str, where: Where
    ) -> EndpointDraft | None:
        last = name.rsplit(".", 1)[-1]
        if name in ("uvicorn.run", "uvicorn.Config"):
            if self._listens_elsewhere(call):
                return None
            return self._host_port_keywords(call, where, "bind", "http", UVICORN_DEFAULT)
        if name.endswith("web.run_app"):
            return self._host_port_keywords(call, where, "bind", "http", AIOHTTP_DEFAULT)
        if method == "run" and (_keyword(call, "host") or _keyword(call, "port")):
            return self._host_port_keywords(call, where, "bind", "http", FLASK_DEFAULT)
        if last in _SERVER_CLASSES and call.args:
            return self._tuple_address(call.args[0], where, "bind", _SERVER_CLASSES[last])
        if name == "wsgiref.simple_server.make_server" and len(call.args) >= 2:
            return self._positional(call, where, "bind", "http", 0, 1)
        if name == "asyncio.start_server":
            return self._positional(call, where, "bind", "tcp", 1, 2)
        if name == "asyncio.open_connection":
            return self._positional(call, where, "connect", "tcp", 0, 1)
        if name == "socket.create_connection" and call.args:
            return self._tuple_address(call.args[0], where, "connect", "tcp")
        return None

    def _listens_elsewhere(self, call: ast.Call) -> bool:
        """Tell whether uvicorn gets its listening socket another way than host and port.

        That is `fd=` or `uds=` on the call, or `sockets=` on any call in the
        same function, as in `uvicorn.Server(config).run(sockets=[listener])`.
        """
        if _keyword(call, "host") is not None or _keyword(call, "port") is not None:
            return False
        if _keyword(call, "fd") is not None or _keyword(call, "uds") is not None:
            return True
        region: ast.AST | None = self.module.parent(call)
        while region is not None and not isinstance(
            region, (ast.FunctionDef, ast.AsyncFunctionDef)
        ):
            region = self.module.parent(region)
        for node in ast.walk(region if region is not None else self.module.tree):
            if isinstance(node, ast.Call) and _keyword(node, "sockets") is not None:
                return True
        return False

    # --- Redis and databases ---------------------------------------------------

    def _redis(self, call: ast.Call, name: str, method: str, where: Where) -> EndpointDraft | None:
        last = name.rsplit(".", 1)[-1]
        uses_redis = "redis" in name.lower() or "redis" in self.module.imported_modules
        if method == "from_url" or last == "from_url":
            url = _argument(call, 0, "url")
            if url is None:
                return None
            value = self.resolver.value(url, where)
            address = parse_url(value, "redis" if uses_redis else None)
            return self._draft("connect", address, url)
        configured_elsewhere = _keyword(call, "unix_socket_path") or _keyword(
            call, "connection_pool"
        )
        if last in ("Redis", "StrictRedis") and uses_redis and configured_elsewhere is None:
            return self._positional(call, where, "connect", "redis", 0, 1, REDIS_DEFAULT)
        return None

    def _databases(
        self, call: ast.Call, name: str, method: str, where: Where
    ) -> EndpointDraft | None:
        scheme = _DB_DRIVERS.get(name)
        if scheme is None:
            return None
        dsn = _argument(call, 0, "dsn") or _keyword(call, "conninfo")
        if dsn is not None:
            value = self.resolver.value(dsn, where)
            address = parse_dsn(value, scheme)
            variable = value.sole_variable
            if address is None and variable is not None and value.text is None:
                address = Address(scheme, None, None, variable, variable)
            return self._draft("connect", address, dsn)
        return self._host_port_keywords(
            call, where, "connect", scheme, (None, scheme_default_port(scheme))
        )

    # --- HTTP ------------------------------------------------------------------

    def _http(self, call: ast.Call, name: str, method: str, where: Where) -> EndpointDraft | None:
        if name in ("urllib.request.urlopen", "urllib.request.Request", "urllib2.urlopen"):
            url = _argument(call, 0, "url")
            if isinstance(url, ast.Call) and (self.module.canonical(url.func) or "").endswith(
                "Request"
            ):
                url = _argument(url, 0, "url")
            return self._url(url, where, "connect", require_scheme=True)
        if name in ("http.client.HTTPConnection", "http.client.HTTPSConnection"):
            scheme = "https" if name.endswith("HTTPSConnection") else "http"
            return self._positional(
                call, where, "connect", scheme, 0, 1, (None, scheme_default_port(scheme))
            )
        last = name.rsplit(".", 1)[-1] or method
        if method in HTTP_VERBS or last in HTTP_VERBS:
            # request() and stream() take the HTTP method first and the URL second.
            position = 1 if (method or last) in ("request", "stream") else 0
            return self._url(
                _argument(call, position, "url"), where, "connect", require_scheme=True
            )
        if name.rsplit(".", 1)[-1] in ("Client", "AsyncClient", "ClientSession"):
            return self._url(_keyword(call, "base_url"), where, "connect", require_scheme=True)
        return None

    def _url_factories(
        self, call: ast.Call, name: str, method: str, where: Where
    ) -> EndpointDraft | None:
        last = name.rsplit(".", 1)[-1]
        if last in ("insecure_channel", "secure_channel") and call.args:
            value = self.resolver.value(call.args[0], where)
            return self._draft("connect", parse_host_port_string(value, "grpc"), call.args[0])
        if last == "ConnectionParameters":
            return self._host_port_keywords(call, where, "connect", "amqp", ("localhost", 5672))
        if last in _URL_FACTORIES:
            return self._url(_argument(call, 0, "url"), where, "connect", require_scheme=True)
        return None

    # --- ZeroMQ and BSD sockets ------------------------------------------------

    def _sockets(
        self, call: ast.Call, name: str, method: str, where: Where
    ) -> EndpointDraft | None:
        if method not in ("bind", "connect", "connect_ex", "bind_to_random_port"):
            return None
        role = "bind" if method.startswith("bind") else "connect"
        if not call.args and (_keyword(call, "host") or _keyword(call, "port")):
            return self._host_port_keywords(call, where, role, "tcp", (None, None))
        target = _argument(call, 0, "addr")
        if target is None:
            return None
        value = self.resolver.value(target, where)
        if value.kind == "tuple":
            return self._tuple_address(target, where, role, "tcp")
        if value.kind == "str" and looks_like_url(value):
            return self._draft(role, parse_url(value), target)
        return None

    # --- argument shapes -------------------------------------------------------

    def _tuple_address(
        self, node: ast.expr, where: Where, role: str, scheme: str
    ) -> EndpointDraft | None:
        value = self.resolver.value(node, where)
        if value.kind != "tuple" or len(value.items) < 2:
            return None
        address = parse_host_port(scheme, value.items[0], value.items[1])
        return self._draft(role, address, node)

    def _positional(
        self,
        call: ast.Call,
        where: Where,
        role: str,
        scheme: str,
        host_position: int,
        port_position: int,
        default: tuple[str | None, int | None] = (None, None),
    ) -> EndpointDraft | None:
        host = _argument(call, host_position, "host")
        port = _argument(call, port_position, "port")
        if host is None and port is None and default == (None, None):
            return None
        address = parse_host_port(
            scheme,
            self.resolver.value(host, where) if host is not None else None,
            self.resolver.value(port, where) if port is not None else None,
            default[0],
            default[1],
        )
        shown = [node for node in (host, port) if node is not None]
        return EndpointDraft(role, address, _expression(self.module, shown, call))

    def _host_port_keywords(
        self,
        call: ast.Call,
        where: Where,
        role: str,
        scheme: str,
        default: tuple[str | None, int | None],
    ) -> EndpointDraft | None:
        host = _keyword(call, "host")
        port = _keyword(call, "port")
        if host is None and port is None and default == (None, None):
            return None
        address = parse_host_port(
            scheme,
            self.resolver.value(host, where) if host is not None else None,
            self.resolver.value(port, where) if port is not None else None,
            default[0],
            default[1],
        )
        keywords = [k for k in call.keywords if k.arg in ("host", "port")]
        return EndpointDraft(role, address, _expression(self.module, keywords, call))

    def _url(
        self, node: ast.expr | None, where: Where, role: str, require_scheme: bool
    ) -> EndpointDraft | None:
        if node is None:
            return None
        value = self.resolver.value(node, where)
        if require_scheme and not looks_like_url(value):
            return None
        return self._draft(role, parse_url(value), node)

    def _draft(self, role: str, address: Address | None, node: ast.expr) -> EndpointDraft | None:
        if address is None:
            return None
        return EndpointDraft(role, address, self.module.source_of(node))


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    if len(call.args) > position and not isinstance(call.args[position], ast.Starred):
        return call.args[position]
    return _keyword(call, keyword)


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    for item in call.keywords:
        if item.arg == name:
            return item.value
    return None


def _expression(module: ModuleIndex, nodes: Sequence[ast.AST], call: ast.Call) -> str:
    """Return the address arguments as written, or the call when none was given."""
    if not nodes:
        return module.source_of(call) + "  # library defaults"
    return ", ".join(module.source_of(node) for node in nodes)
