"""Rules for Python calls that can wait forever.

Each rule looks at one call and the code around it. A ZeroMQ receive is
blocking unless the same function polls, or RCVTIMEO is set in the same
class (in the same module, for code outside classes), since a socket option
holds for every later receive. A plain socket receive is blocking unless the
same function selects or polls, or a timeout is set in the class or module.
`time.sleep` is never reported, because a sleep ends.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from stackmedic.analysis.pyindex import ModuleIndex
from stackmedic.analysis.pyvalues import Resolver, Where

ZMQ_ONLY_RECEIVES = {"recv_multipart", "recv_string", "recv_json", "recv_pyobj", "recv_serialized"}
SOCKET_WAITS = {"accept", "recvfrom", "recv_into", "recvfrom_into"}
REQUESTS_VERBS = {"get", "post", "put", "patch", "delete", "head", "options", "request"}
REDIS_BLOCKING_POPS = {"blpop", "brpop", "brpoplpush", "blmove", "bzpopmin", "bzpopmax", "blmpop"}
_POLL_CALLS = {
    "zmq.Poller",
    "zmq.asyncio.Poller",
    "zmq.select",
    "select.select",
    "select.poll",
    "select.epoll",
    "selectors.DefaultSelector",
}
_NONBLOCKING_FLAGS = ("NOBLOCK", "DONTWAIT")
_QUEUE_NAME = re.compile(r"(?i)queue|^_*q$|_q$|^q_")


@dataclass
class Markers:
    """Calls in a region of code that bound how long a receive can wait."""

    poll: bool = False
    rcvtimeo: bool = False
    socket_timeout: bool = False


class BlockingRules:
    """Decide whether a call can wait forever, with the reason."""

    def __init__(self, module: ModuleIndex, resolver: Resolver) -> None:
        self.module = module
        self.resolver = resolver
        self._markers: dict[int, Markers] = {}
        self._default_timeout = any(
            isinstance(node, ast.Call) and module.canonical(node.func) == "socket.setdefaulttimeout"
            for node in ast.walk(module.tree)
        )

    def reason(self, call: ast.Call, where: Where) -> str | None:
        """Return why `call` can block forever, or None when it cannot (or is not known to)."""
        if self._under_asyncio_timeout(call):
            return None
        method = call.func.attr if isinstance(call.func, ast.Attribute) else None
        name = self.module.canonical(call.func) or ""
        checks = (
            self._receive,
            self._poll,
            self._http,
            self._synchronisation,
            self._redis_pop,
        )
        for check in checks:
            found = check(call, method, name, where)
            if found is not None:
                return found
        return None

    # --- sockets -------------------------------------------------------------

    def _receive(self, call: ast.Call, method: str | None, name: str, where: Where) -> str | None:
        if method is None or not (method == "recv" or method in ZMQ_ONLY_RECEIVES | SOCKET_WAITS):
            return None
        kind = "zmq" if method in ZMQ_ONLY_RECEIVES else self._receiver_kind(call, where)
        if method in SOCKET_WAITS:
            kind = "socket" if kind is not None else None
        markers = self._region_markers(where)
        polled = self._function_markers(where).poll

        if kind == "zmq":
            if self._has_nonblocking_flag(call) or polled or markers.rcvtimeo:
                return None
            return f"{method}() with no poll timeout or RCVTIMEO"
        if kind == "socket":
            if markers.socket_timeout or polled or self._default_timeout:
                return None
            return f"{method}() on a socket with no timeout (settimeout or setdefaulttimeout)"
        return None

    def _receiver_kind(self, call: ast.Call, where: Where) -> str | None:
        """Tell a ZeroMQ socket ("zmq") from a BSD socket ("socket") by how it was made."""
        assert isinstance(call.func, ast.Attribute)
        found = self.resolver.binding_for(call.func.value, where)
        if found is not None and isinstance(found[1].value, ast.Call):
            made_by = found[1].value
            factory = found[0].module.canonical(made_by.func) or ""
            if factory.startswith("socket."):
                return "socket"
            if any(_mentions(arg, "zmq", found[0].module) for arg in made_by.args):
                return "zmq"

        # zmq's recv takes flags first; socket.recv needs a buffer size.
        if call.args and _mentions(call.args[0], "zmq", self.module):
            return "zmq"
        imported = self.module.imported_modules
        if call.args and isinstance(call.args[0], ast.Constant):
            return "socket" if "socket" in imported else None
        if "zmq" in imported:
            return "zmq"
        if "socket" in imported:
            return "socket"
        return None

    def _has_nonblocking_flag(self, call: ast.Call) -> bool:
        values = list(call.args) + [k.value for k in call.keywords if k.arg == "flags"]
        for value in values:
            for node in ast.walk(value):
                name = (
                    self.module.canonical(node)
                    if isinstance(node, (ast.Name, ast.Attribute))
                    else None
                )
                if name and name.rsplit(".", 1)[-1] in _NONBLOCKING_FLAGS:
                    return True
        return False

    def _poll(self, call: ast.Call, method: str | None, name: str, where: Where) -> str | None:
        if name == "select.select":
            has_timeout = len(call.args) >= 4 or _keyword(call, "timeout") is not None
            return None if has_timeout else "select() with no timeout"
        if method != "poll" or not ({"zmq", "select"} & self.module.imported_modules):
            return None
        if name in ("select.poll", "select.epoll"):
            return None  # these make a poll object; its own poll() is what waits
        timeout = call.args[0] if call.args else _keyword(call, "timeout")
        if timeout is None or _is_literal(timeout, None) or _is_literal(timeout, -1):
            return "poll() with no timeout"
        return None

    # --- HTTP ------------------------------------------------------------------

    def _http(self, call: ast.Call, method: str | None, name: str, where: Where) -> str | None:
        if name in ("urllib.request.urlopen", "urllib2.urlopen"):
            if (
                len(call.args) >= 3
                or _keyword(call, "timeout") is not None
                or self._default_timeout
            ):
                return None
            return "urlopen() without timeout= (waits as long as the socket default, forever)"

        is_requests = name in {f"requests.{verb}" for verb in REQUESTS_VERBS}
        if not is_requests and method in REQUESTS_VERBS and isinstance(call.func, ast.Attribute):
            is_requests = self._made_by(
                call.func.value, where, ("requests.Session", "requests.session")
            )
        if is_requests and _keyword(call, "timeout") is None:
            return f"{method}() without timeout= (requests has no default timeout)"
        return None

    # --- queues, locks, threads ----------------------------------------------

    def _synchronisation(
        self, call: ast.Call, method: str | None, name: str, where: Where
    ) -> str | None:
        if method is None or name.startswith(("requests.", "httpx.", "os.environ")):
            return None
        bare = not call.args and not call.keywords
        if method in ("join", "wait") and bare:
            return f"{method}() with no timeout"
        if method == "get" and self._blocking_queue_get(call, where):
            return "get() with no timeout"
        if method == "acquire":
            blocking = call.args[0] if call.args else _keyword(call, "blocking")
            timeout = call.args[1] if len(call.args) > 1 else _keyword(call, "timeout")
            # acquire(flag) with a computed flag may or may not block.
            if blocking is not None and not _is_literal(blocking, True):
                return None
            if timeout is None or _is_literal(timeout, -1) or _is_literal(timeout, None):
                return "acquire() with no timeout"
        return None

    def _blocking_queue_get(self, call: ast.Call, where: Where) -> bool:
        """Tell whether `q.get()`, `q.get(True)` or `q.get(block=True)` on a queue has no timeout.

        The receiver must be a queue: made by a Queue class, or named like one
        (`queue`, `jobs_queue`, `q`). A bare `get()` on anything else may be a
        ContextVar or a result object that does not wait.
        """
        assert isinstance(call.func, ast.Attribute)
        block = call.args[0] if call.args else _keyword(call, "block")
        if block is not None and not _is_literal(block, True):
            return False
        if len(call.args) > 1 or _keyword(call, "timeout") is not None:
            return False
        receiver = call.func.value
        if self._made_by(
            receiver, where, ("Queue", "SimpleQueue", "JoinableQueue", "LifoQueue", "PriorityQueue")
        ):
            return True
        found = self.resolver.binding_for(receiver, where)
        if found is not None and isinstance(found[1].value, ast.Call):
            return False  # made by something that is not a queue
        name = receiver.attr if isinstance(receiver, ast.Attribute) else getattr(receiver, "id", "")
        return bool(_QUEUE_NAME.search(name))

    def _redis_pop(self, call: ast.Call, method: str | None, name: str, where: Where) -> str | None:
        if method in REDIS_BLOCKING_POPS:
            timeout = call.args[1] if len(call.args) > 1 else _keyword(call, "timeout")
            if timeout is None or _is_literal(timeout, 0):
                return f"{method}() with timeout 0 (waits forever)"
        if method in ("xread", "xreadgroup"):
            block = _keyword(call, "block")
            if block is not None and _is_literal(block, 0):
                return f"{method}(block=0) (waits forever)"
        return None

    # --- helpers -------------------------------------------------------------

    def _made_by(self, receiver: ast.expr, where: Where, factories: tuple[str, ...]) -> bool:
        """Tell whether the receiver was assigned from a call to one of `factories`."""
        found = self.resolver.binding_for(receiver, where)
        if found is None or not isinstance(found[1].value, ast.Call):
            return False
        factory = found[0].module.canonical(found[1].value.func) or ""
        return any(factory == f or factory.endswith("." + f) for f in factories)

    def _region_markers(self, where: Where) -> Markers:
        """Return the markers of the enclosing class, else of the whole module."""
        region: ast.AST = self.module.tree
        if where.scope is not None:
            klass = self.module.classes.get(where.scope.class_name or "")
            if klass is not None:
                region = klass.node
        return self._markers_of(region)

    def _function_markers(self, where: Where) -> Markers:
        """Return the markers of the enclosing function (module-level code: the module)."""
        region = where.scope.node if where.scope is not None else self.module.tree
        return self._markers_of(region)

    def _markers_of(self, region: ast.AST) -> Markers:
        cached = self._markers.get(id(region))
        if cached is None:
            cached = self._scan_markers(region)
            self._markers[id(region)] = cached
        return cached

    def _scan_markers(self, region: ast.AST) -> Markers:
        markers = Markers()
        for node in ast.walk(region):
            if isinstance(node, ast.Call):
                self._mark_call(node, markers)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and target.attr.upper() == "RCVTIMEO":
                        markers.rcvtimeo = markers.rcvtimeo or not _is_literal(node.value, -1)
        return markers

    def _mark_call(self, node: ast.Call, markers: Markers) -> None:
        name = self.module.canonical(node.func) or ""
        method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if method in ("poll", "select") or name in _POLL_CALLS or name.endswith(".Poller"):
            markers.poll = True
        if method == "setsockopt" and len(node.args) >= 2:
            option = self.module.canonical(node.args[0]) or ""
            if option.endswith("RCVTIMEO") and not _is_literal(node.args[1], -1):
                markers.rcvtimeo = True
        if method == "settimeout" and node.args and not _is_literal(node.args[0], None):
            markers.socket_timeout = True
        if (
            method == "setblocking"
            and node.args
            and (_is_literal(node.args[0], False) or _is_literal(node.args[0], 0))
        ):
            markers.socket_timeout = True

    def _under_asyncio_timeout(self, call: ast.Call) -> bool:
        """Tell whether the call runs inside `asyncio.wait_for(...)` or `async with timeout(...)`."""
        node: ast.AST | None = self.module.parent(call)
        while node is not None and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if (
                isinstance(node, ast.Call)
                and self.module.canonical(node.func) == "asyncio.wait_for"
            ):
                return True
            if isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    expr = item.context_expr
                    if isinstance(expr, ast.Call):
                        called = self.module.canonical(expr.func) or ""
                        if called.rsplit(".", 1)[-1] in (
                            "timeout",
                            "timeout_at",
                            "move_on_after",
                            "fail_after",
                        ):
                            return True
            node = self.module.parent(node)
        return False


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    for item in call.keywords:
        if item.arg == name:
            return item.value
    return None


def _is_literal(node: ast.expr, value: object) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = node.operand
        if not isinstance(inner, ast.Constant) or isinstance(inner.value, bool):
            return False
        return isinstance(inner.value, int) and isinstance(value, int) and -inner.value == value
    if not isinstance(node, ast.Constant):
        return False
    if isinstance(value, bool) or value is None:
        return node.value is value
    return type(node.value) is type(value) and node.value == value


def _mentions(node: ast.expr, package: str, module: ModuleIndex) -> bool:
    """Tell whether an expression names something from `package` (e.g. `zmq.DEALER`)."""
    for child in ast.walk(node):
        if isinstance(child, (ast.Name, ast.Attribute)):
            name = module.canonical(child) or ""
            if name == package or name.startswith(package + "."):
                return True
    return False
