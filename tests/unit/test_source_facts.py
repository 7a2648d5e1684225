"""Source facts: table-driven snippets in, expected facts out.

Each table has cases that must produce a fact and cases that must not, with
a comment saying why. The sample stack under fixtures/source/tacoreservice
is checked end to end at the bottom.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stackmedic.analysis.logsites import (
    HOLE,
    best_log_site,
    brace_template,
    log_site_matches,
    percent_template,
)
from stackmedic.analysis.source import (
    blocking_calls_in,
    env_default,
    extract_facts,
    find_attribute_calls,
    find_call_target,
    find_subscripts,
    log_sites_for_line,
    next_call_after,
)
from stackmedic.evidence.facts import LogCallSite, SourceFacts
from stackmedic.evidence.model import Evidence, SourceFile

FIXTURE = Path(__file__).parent / "fixtures" / "source" / "tacoreservice"


def evidence_of(
    files: dict[str, str], service: str = "app", config: dict | None = None
) -> Evidence:
    sources = [SourceFile(service, path, textwrap.dedent(text)) for path, text in files.items()]
    compose = config if config is not None else {"services": {service: {}}}
    return Evidence("demo", "/demo", ["/demo/compose.yaml"], compose, sources=sources)


def facts_of(code: str, path: str = "app/main.py") -> SourceFacts:
    return extract_facts(evidence_of({path: code}))


# --- environment reads ----------------------------------------------------------------

ENV_READ_CASES = [
    ("getenv_without_default", 'import os\nos.getenv("A")', [("A", None, False)]),
    ("getenv_with_default", 'import os\nos.getenv("A", "x")', [("A", "x", False)]),
    ("getenv_keyword_default", 'import os\nos.getenv("A", default="x")', [("A", "x", False)]),
    ("environ_get", 'import os\nos.environ.get("A", "x")', [("A", "x", False)]),
    ("environ_subscript_is_required", 'import os\nos.environ["A"]', [("A", None, True)]),
    ("environ_setdefault", 'import os\nos.environ.setdefault("A", "x")', [("A", "x", False)]),
    (
        "number_default_as_text",
        'import os\nint(os.getenv("PORT", 5555))',
        [("PORT", "5555", False)],
    ),
    ("float_default_as_text", 'import os\nfloat(os.getenv("T", 0.5))', [("T", "0.5", False)]),
    ("wrapped_in_int", 'import os\nint(os.getenv("PORT", "5555"))', [("PORT", "5555", False)]),
    ("wrapped_in_bool", 'import os\nbool(os.getenv("DEBUG", ""))', [("DEBUG", "", False)]),
    # int(None) raises TypeError, so an unset variable stops the program.
    (
        "int_without_default_is_required",
        'import os\nint(os.getenv("PORT"))',
        [("PORT", None, True)],
    ),
    ("or_fallback_is_default", 'import os\nos.getenv("A") or "x"', [("A", "x", False)]),
    ("from_import_getenv", 'from os import getenv\ngetenv("A", "x")', [("A", "x", False)]),
    ("from_import_environ", 'from os import environ\nenviron["A"]', [("A", None, True)]),
    ("aliased_os", 'import os as _os\n_os.getenv("A")', [("A", None, False)]),
    ("constant_key", 'import os\nKEY = "A"\nos.getenv(KEY, "x")', [("A", "x", False)]),
    ("constant_default", 'import os\nD = "x"\nos.getenv("A", D)', [("A", "x", False)]),
    (
        "project_wrapper",
        'import os\ndef env(name, default=None):\n    return os.getenv(name, default)\nenv("A", "x")',
        [("A", "x", False)],
    ),
    (
        "project_wrapper_parameter_default",
        'import os\ndef env(name, default="d"):\n    return os.getenv(name, default)\nenv("A")',
        [("A", "d", False)],
    ),
    # The text of a comment or a string is not code.
    ("in_comment", 'import os\n# os.getenv("A")\nx = 1', []),
    ("in_string", "x = 'os.getenv(\"A\")'", []),
    # The variable name is only known at run time.
    ("dynamic_key", "import os\ndef f(name):\n    return os.getenv(name)", []),
    # Writing a variable is not a read.
    ("environ_store", 'import os\nos.environ["A"] = "1"', []),
    # A dict's get is no environment read.
    ("plain_dict_get", 'settings = {}\nsettings.get("A", "x")', []),
    ("environ_copy", "import os\nos.environ.copy()", []),
]


@pytest.mark.parametrize(
    ("code", "expected"),
    [case[1:] for case in ENV_READ_CASES],
    ids=[case[0] for case in ENV_READ_CASES],
)
def test_env_reads_table(code: str, expected: list[tuple[str, str | None, bool]]) -> None:
    reads = facts_of(code).env_reads
    found = [(r.variable, r.default, r.required) for r in reads if r.path.endswith(".py")]
    assert found == expected


def test_env_read_records_function_and_line() -> None:
    code = """\
    import os

    class Worker:
        def __init__(self):
            self.host = os.getenv("HOST", "broker")
    """
    (read,) = facts_of(code).env_reads
    assert read.function == "Worker.__init__"
    assert read.line == 5
    assert read.service == "app"


def test_env_read_through_imported_wrapper() -> None:
    files = {
        "app/config.py": """\
            import os

            def setting(name, fallback):
                return os.environ.get(name, fallback)
        """,
        "app/main.py": """\
            from app.config import setting

            PORT = setting("PORT", 8080)
        """,
    }
    reads = extract_facts(evidence_of(files)).env_reads
    assert [(r.variable, r.default, r.path) for r in reads] == [("PORT", "8080", "app/main.py")]


# --- endpoints -------------------------------------------------------------------------

TACORE_WORKER = """\
import os
import zmq

class Worker:
    def __init__(self):
        self.broker_host = os.getenv("TACORESERVICE_HOST", "tacoreservice")
        self.broker_port = int(os.getenv("TACORESERVICE_BACKEND_PORT", "5555"))
        self.context = zmq.Context()

    def start(self):
        self.socket = self.context.socket(zmq.DEALER)
        endpoint = f"tcp://{self.broker_host}:{self.broker_port}"
        self.socket.connect(endpoint)
"""

TACORE_BROKER = """\
import os
import zmq

class Broker:
    def __init__(self):
        self.backend_port = int(os.getenv("TACORESERVICE_BACKEND_PORT", "5556"))

    def bind(self):
        backend = zmq.Context().socket(zmq.ROUTER)
        backend.bind(f"tcp://*:{self.backend_port}")
"""

Row = tuple[str, str, str | None, int | None, str | None, str | None]

ENDPOINT_CASES: list[tuple[str, str, list[Row]]] = [
    (
        "tacore_worker_connect",
        TACORE_WORKER,
        [
            (
                "connect",
                "tcp",
                "tacoreservice",
                5555,
                "TACORESERVICE_HOST",
                "TACORESERVICE_BACKEND_PORT",
            )
        ],
    ),
    (
        "tacore_broker_bind",
        TACORE_BROKER,
        [("bind", "tcp", "*", 5556, None, "TACORESERVICE_BACKEND_PORT")],
    ),
    ("zmq_literal_bind", 'sock.bind("tcp://*:5555")', [("bind", "tcp", "*", 5555, None, None)]),
    (
        "zmq_locals_from_env",
        (
            'import os\ndef f(sock):\n    host = os.getenv("H", "broker")\n    port = 5555\n'
            '    sock.connect(f"tcp://{host}:{port}")'
        ),
        [("connect", "tcp", "broker", 5555, "H", None)],
    ),
    (
        "zmq_env_without_default",
        'import os\nsock.connect("tcp://%s:%d" % (os.environ["H"], 5555))',
        [("connect", "tcp", None, 5555, "H", None)],
    ),
    (
        "format_method",
        'HOST = "db"\nsock.connect("tcp://{}:{}".format(HOST, 7000))',
        [("connect", "tcp", "db", 7000, None, None)],
    ),
    (
        "concatenation",
        'import os\nP = os.getenv("P", "6000")\nsock.bind("tcp://" + "0.0.0.0" + ":" + str(P))',
        [("bind", "tcp", "0.0.0.0", 6000, None, "P")],
    ),
    (
        "socket_tuple_bind",
        'import socket\ns = socket.socket()\ns.bind(("0.0.0.0", 9000))',
        [("bind", "tcp", "0.0.0.0", 9000, None, None)],
    ),
    (
        "socket_tuple_from_constant",
        'import socket\nADDR = ("cache", 11211)\nsocket.socket().connect(ADDR)',
        [("connect", "tcp", "cache", 11211, None, None)],
    ),
    (
        "create_connection",
        'import socket\nsocket.create_connection(("db", 5432), timeout=3)',
        [("connect", "tcp", "db", 5432, None, None)],
    ),
    (
        "uvicorn_run",
        'import uvicorn\nuvicorn.run(app, host="0.0.0.0", port=8000)',
        [("bind", "http", "0.0.0.0", 8000, None, None)],
    ),
    # uvicorn listens on 127.0.0.1:8000 when given neither host nor port.
    (
        "uvicorn_defaults",
        "import uvicorn\nuvicorn.run(app)",
        [("bind", "http", "127.0.0.1", 8000, None, None)],
    ),
    (
        "uvicorn_config_port_from_env",
        'import os, uvicorn\nuvicorn.Config(app, host="0.0.0.0", port=int(os.getenv("API_PORT", "8080")))',
        [("bind", "http", "0.0.0.0", 8080, None, "API_PORT")],
    ),
    (
        "flask_run",
        'app.run(host="0.0.0.0", port=5000)',
        [("bind", "http", "0.0.0.0", 5000, None, None)],
    ),
    # uvicorn serves a socket bound beforehand, so its own defaults do not apply.
    (
        "uvicorn_with_prebound_socket",
        (
            'import socket, uvicorn\ndef serve(app):\n    s = socket.socket()\n    s.bind(("0.0.0.0", 8080))\n'
            "    uvicorn.Server(uvicorn.Config(app)).run(sockets=[s])"
        ),
        [("bind", "tcp", "0.0.0.0", 8080, None, None)],
    ),
    ("uvicorn_unix_socket", 'import uvicorn\nuvicorn.run(app, uds="/tmp/app.sock")', []),
    (
        "redis_keywords",
        'import redis\nredis.Redis(host="redis", port=6380)',
        [("connect", "redis", "redis", 6380, None, None)],
    ),
    (
        "redis_defaults",
        "import redis\nredis.Redis()",
        [("connect", "redis", "localhost", 6379, None, None)],
    ),
    (
        "redis_from_url_env_default",
        'import os, redis\nredis.from_url(os.getenv("REDIS_URL", "redis://redis:6379/0"))',
        [("connect", "redis", "redis", 6379, "REDIS_URL", "REDIS_URL")],
    ),
    (
        "redis_class_from_url_required_env",
        'import os\nfrom redis import Redis\nRedis.from_url(os.environ["REDIS_URL"])',
        [("connect", "redis", None, None, "REDIS_URL", "REDIS_URL")],
    ),
    (
        "requests_get",
        'import requests\nrequests.get("http://api:8080/health", timeout=2)',
        [("connect", "http", "api", 8080, None, None)],
    ),
    (
        "requests_post_base_from_env",
        'import os, requests\nBASE = os.getenv("API", "http://api:9000")\nrequests.post(f"{BASE}/jobs")',
        [("connect", "http", "api", 9000, "API", "API")],
    ),
    (
        "urlopen",
        "import urllib.request\nurllib.request.urlopen('http://localhost:8080/health', timeout=3)",
        [("connect", "http", "localhost", 8080, None, None)],
    ),
    (
        "httpx_https_default_port",
        'import httpx\nhttpx.get("https://example.org/")',
        [("connect", "https", "example.org", 443, None, None)],
    ),
    (
        "psycopg2_keywords",
        'import psycopg2\npsycopg2.connect(host="db", port=5433, dbname="app")',
        [("connect", "postgresql", "db", 5433, None, None)],
    ),
    (
        "psycopg2_dsn",
        'import psycopg2\npsycopg2.connect("host=db port=5434 dbname=app")',
        [("connect", "postgresql", "db", 5434, None, None)],
    ),
    (
        "psycopg2_url",
        'import psycopg2\npsycopg2.connect("postgresql://u:p@db/app")',
        [("connect", "postgresql", "db", 5432, None, None)],
    ),
    # A list is no address: pyzmq's connect takes one endpoint string.
    ("connect_on_a_list", 'sock.connect(["tcp://a:1", "tcp://b:2"])', []),
    # A signal's connect takes a handler, not an address.
    ("signal_connect", "def handler(): pass\nsignal.connect(handler)", []),
    # sqlite3 opens a file.
    ("sqlite_connect", 'import sqlite3\nsqlite3.connect("app.db")', []),
    # The URL is a parameter: nothing shows it is an address.
    ("requests_unknown_url", "import requests\ndef f(url):\n    requests.get(url, timeout=1)", []),
    # A URL in a message is no connection.
    ("url_in_print", 'print("listening on tcp://*:5555")', []),
    # A dict lookup with a URL-less key.
    ("dict_get", 'd = {}\nd.get("key")', []),
]


@pytest.mark.parametrize(
    ("code", "expected"),
    [case[1:] for case in ENDPOINT_CASES],
    ids=[case[0] for case in ENDPOINT_CASES],
)
def test_endpoints_table(code: str, expected: list[Row]) -> None:
    endpoints = facts_of(code).endpoints
    found = [
        (e.role, e.scheme, e.host, e.port, e.host_variable, e.port_variable) for e in endpoints
    ]
    assert found == expected


def test_tacore_worker_endpoint_keeps_expression_and_function() -> None:
    (endpoint,) = facts_of(TACORE_WORKER).endpoints
    assert endpoint.expression == "endpoint"
    assert endpoint.function == "Worker.start"
    assert endpoint.line == 13


def test_endpoint_from_imported_config_module() -> None:
    files = {
        "app/config.py": 'import os\nBROKER = os.getenv("BROKER_HOST", "broker")\nPORT = 5555\n',
        "app/worker.py": (
            "from . import config\nfrom .config import PORT\n"
            'def run(sock):\n    sock.connect(f"tcp://{config.BROKER}:{PORT}")\n'
        ),
    }
    (endpoint,) = extract_facts(evidence_of(files)).endpoints
    assert (endpoint.host, endpoint.port, endpoint.host_variable) == ("broker", 5555, "BROKER_HOST")


def test_endpoint_attribute_assigned_in_base_class() -> None:
    code = """\
    import os

    class Base:
        def __init__(self):
            self.port = int(os.getenv("PORT", "7000"))

    class Server(Base):
        def serve(self, sock):
            sock.bind(f"tcp://*:{self.port}")
    """
    (endpoint,) = facts_of(code).endpoints
    assert (endpoint.port, endpoint.port_variable) == (7000, "PORT")


def test_endpoint_from_settings_instance() -> None:
    code = """\
    import os

    class Settings:
        host = os.getenv("DB_HOST", "db")

    settings = Settings()
    socket.create_connection((settings.host, 5432))
    """
    (endpoint,) = facts_of(code).endpoints
    assert (endpoint.host, endpoint.host_variable, endpoint.port) == ("db", "DB_HOST", 5432)


# --- log call sites ---------------------------------------------------------------------

LOG_SITE_CASES = [
    ("literal", 'logger.info("Worker started")', ("info", "Worker started")),
    (
        "fstring_hole",
        'logger.error(f"Error getting workers status: {e}")',
        ("error", f"Error getting workers status: {HOLE}"),
    ),
    (
        "lazy_percent_args",
        'log.warning("retry %d of %s", n, m)',
        ("warning", f"retry {HOLE} of {HOLE}"),
    ),
    # Without arguments logging does not apply % formatting, so the text stays.
    ("percent_without_args", 'logger.info("100%s done")', ("info", "100%s done")),
    ("percent_operator", 'logger.debug("got %s" % x)', ("debug", f"got {HOLE}")),
    (
        "format_method",
        'logger.info("bound to {}:{}".format(h, p))',
        ("info", f"bound to {HOLE}:{HOLE}"),
    ),
    ("logging_module", 'import logging\nlogging.warning("low disk")', ("warning", "low disk")),
    ("exception_is_error", 'logger.exception("crashed")', ("error", "crashed")),
    ("warn_alias", 'logger.warn("old")', ("warning", "old")),
    ("self_logger", 'self.logger.critical("halt")', ("critical", "halt")),
    (
        "log_with_level",
        'import logging\nlogger.log(logging.INFO, "n=%d", n)',
        ("info", f"n={HOLE}"),
    ),
    ("print_args", 'print("queue size", n)', ("print", f"queue size {HOLE}")),
    ("print_sep", 'print("a", "b", sep="-")', ("print", "a-b")),
    ("constant_message", 'MSG = "ready"\nlogger.info(MSG)', ("info", "ready")),
    ("concatenation", 'logger.info("worker " + name + " up")', ("info", f"worker {HOLE} up")),
    ("escaped_braces", 'logger.info(f"{{literal}} {x}")', ("info", f"{{literal}} {HOLE}")),
]


@pytest.mark.parametrize(
    ("code", "expected"),
    [case[1:] for case in LOG_SITE_CASES],
    ids=[case[0] for case in LOG_SITE_CASES],
)
def test_log_sites_table(code: str, expected: tuple[str, str]) -> None:
    sites = facts_of(code).log_sites
    assert [(s.level, s.message) for s in sites] == [expected]


@pytest.mark.parametrize(
    "code",
    [
        "import math\nmath.log(2)",  # math.log computes a logarithm
        'reporter.info("x")',  # the receiver is not named like a logger
        'self.log("x")',  # a method named log on an object that is no logger
    ],
)
def test_log_sites_not_recorded(code: str) -> None:
    assert facts_of(code).log_sites == []


def site(message: str, level: str = "info") -> LogCallSite:
    return LogCallSite("app", level, message, "app/main.py", 1)


MATCH_CASES = [
    (
        "prefix_format",
        f"Error getting workers status: {HOLE}",
        "2026-12-04 20:31:40,551 - ERROR - Error getting workers status: 'last_seen'",
        True,
    ),
    (
        "hole_in_middle",
        f"ZMQ backend bound to tcp://*:{HOLE} (workers)",
        "2026-12-04 20:31:02,118 - INFO - ZMQ backend bound to tcp://*:5556 (workers)",
        True,
    ),
    ("json_log_format", f"worker {HOLE} up", '{"level": "info", "msg": "worker w-1 up"}', True),
    (
        "literal_with_regex_chars",
        "About to call worker.start()",
        "2026-12-04 20:31:02,118 - INFO - About to call worker.start()",
        True,
    ),
    ("blank_runs_match_any_blanks", "alpha  beta", "x alpha\tbeta", True),
    # The literal text differs.
    (
        "other_message",
        f"Error in metrics collection loop: {HOLE}",
        "2026-12-04 20:31:40,551 - ERROR - Error getting workers status: 'last_seen'",
        False,
    ),
    # A dot in the template is literal, not "any character".
    ("dot_is_literal", "About to call worker.start()", "About to call workerXstart()", False),
    # A template that is only a hole would match every line.
    ("only_hole", HOLE, "anything at all", False),
    # Two literal characters are too few to identify a call.
    ("too_short", f"ok {HOLE}", "ok fine", False),
]


@pytest.mark.parametrize(
    ("template", "line", "expected"),
    [case[1:] for case in MATCH_CASES],
    ids=[case[0] for case in MATCH_CASES],
)
def test_log_site_matches_table(template: str, line: str, expected: bool) -> None:
    assert log_site_matches(site(template), line) is expected


def test_best_log_site_prefers_most_literal_text() -> None:
    generic = site(f"Error {HOLE}")
    specific = site(f"Error getting workers status: {HOLE}")
    line = "2026-12-04 20:31:40,551 - ERROR - Error getting workers status: 'last_seen'"
    assert best_log_site([generic, specific], line) is specific


def test_multiline_template_matches_any_of_its_lines() -> None:
    assert log_site_matches(site(f"first line\nsecond {HOLE} line"), "x second 2 line")


def test_percent_and_brace_templates() -> None:
    assert percent_template("a %(name)s b %5.2f c %% d") == f"a {HOLE} b {HOLE} c % d"
    assert brace_template("x {} y {name!r:>4} z {{w}}") == f"x {HOLE} y {HOLE} z {{w}}"


# --- blocking calls ---------------------------------------------------------------------

BLOCKING_CASES = [
    (
        "zmq_recv_multipart_without_poll",
        "import zmq\nclass W:\n    def run(self):\n        self.sock.recv_multipart()",
        ["recv_multipart() with no poll timeout or RCVTIMEO"],
    ),
    (
        "zmq_recv_string",
        "import zmq\ndef run(sock):\n    return sock.recv_string()",
        ["recv_string() with no poll timeout or RCVTIMEO"],
    ),
    # A poll in the same function bounds the wait.
    (
        "zmq_recv_after_poll",
        "import zmq\ndef run(sock, poller):\n    if poller.poll(500):\n        sock.recv()",
        [],
    ),
    # The Poller was made elsewhere, but this function polls before receiving.
    (
        "zmq_poller_attribute_polled_here",
        (
            "import zmq\nclass B:\n    def setup(self):\n        self.poller = zmq.Poller()\n"
            "    def run(self):\n        if self.poller.poll(100):\n            self.sock.recv_multipart()"
        ),
        [],
    ),
    # A poll in another method does not bound this receive.
    (
        "zmq_poll_in_other_method",
        (
            "import zmq\nclass W:\n    def start(self):\n        self.sock.recv_multipart()\n"
            "    def serve(self, poller):\n        poller.poll(100)\n        self.sock.recv_multipart()"
        ),
        ["recv_multipart() with no poll timeout or RCVTIMEO"],
    ),
    (
        "zmq_rcvtimeo_set",
        (
            "import zmq\nclass W:\n    def __init__(self):\n        self.sock.setsockopt(zmq.RCVTIMEO, 1000)\n"
            "    def run(self):\n        self.sock.recv_json()"
        ),
        [],
    ),
    (
        "zmq_rcvtimeo_attribute",
        "import zmq\ndef run(sock):\n    sock.rcvtimeo = 1000\n    sock.recv()",
        [],
    ),
    # RCVTIMEO -1 means wait forever.
    (
        "zmq_rcvtimeo_minus_one",
        "import zmq\ndef run(sock):\n    sock.setsockopt(zmq.RCVTIMEO, -1)\n    sock.recv()",
        ["recv() with no poll timeout or RCVTIMEO"],
    ),
    # NOBLOCK returns at once (raising zmq.Again).
    ("zmq_noblock", "import zmq\ndef run(sock):\n    sock.recv(zmq.NOBLOCK)", []),
    (
        "zmq_poll_without_timeout",
        "import zmq\ndef run(poller):\n    poller.poll()",
        ["poll() with no timeout"],
    ),
    (
        "socket_accept",
        "import socket\ndef serve(s):\n    conn, _ = s.accept()",
        ["accept() on a socket with no timeout (settimeout or setdefaulttimeout)"],
    ),
    (
        "socket_recv_bufsize",
        "import socket\ndef read(s):\n    return s.recv(1024)",
        ["recv() on a socket with no timeout (settimeout or setdefaulttimeout)"],
    ),
    (
        "socket_with_settimeout",
        "import socket\ndef read(s):\n    s.settimeout(5)\n    return s.recv(1024)",
        [],
    ),
    (
        "socket_default_timeout",
        "import socket\nsocket.setdefaulttimeout(5)\ndef read(s):\n    return s.recv(1024)",
        [],
    ),
    (
        "requests_without_timeout",
        'import requests\nrequests.get("http://api/health")',
        ["get() without timeout= (requests has no default timeout)"],
    ),
    ("requests_with_timeout", 'import requests\nrequests.get("http://api/health", timeout=3)', []),
    (
        "requests_session_without_timeout",
        'import requests\ns = requests.Session()\ns.post("http://api/x")',
        ["post() without timeout= (requests has no default timeout)"],
    ),
    (
        "urlopen_without_timeout",
        'from urllib.request import urlopen\nurlopen("http://api/health")',
        ["urlopen() without timeout= (waits as long as the socket default, forever)"],
    ),
    (
        "urlopen_with_timeout",
        'from urllib.request import urlopen\nurlopen("http://api/h", timeout=3)',
        [],
    ),
    ("queue_get", "import queue\nq = queue.Queue()\nq.get()", ["get() with no timeout"]),
    (
        "queue_get_block_true",
        "import queue\nq = queue.Queue()\nq.get(True)",
        ["get() with no timeout"],
    ),
    ("queue_get_timeout", "import queue\nq = queue.Queue()\nq.get(timeout=1)", []),
    (
        "queue_named_attribute",
        "class W:\n    def run(self):\n        self.jobs_queue.get()",
        ["get() with no timeout"],
    ),
    # ContextVar.get() returns at once.
    ("context_var_get", "import contextvars\nv = contextvars.ContextVar('v')\nv.get()", []),
    # A bare get() on something not known or named as a queue is left alone.
    ("unknown_receiver_get", "def f(result):\n    return result.get()", []),
    ("queue_get_nowait", "import queue\nq = queue.Queue()\nq.get_nowait()", []),
    # dict.get always takes a key.
    ("dict_get_key", 'd = {}\nd.get("k")', []),
    (
        "lock_acquire",
        "import threading\nlock = threading.Lock()\nlock.acquire()",
        ["acquire() with no timeout"],
    ),
    (
        "lock_acquire_timeout",
        "import threading\nlock = threading.Lock()\nlock.acquire(timeout=1)",
        [],
    ),
    (
        "lock_acquire_nonblocking",
        "import threading\nlock = threading.Lock()\nlock.acquire(False)",
        [],
    ),
    # A computed flag may be False.
    ("lock_acquire_computed_flag", "def f(lock, urgent):\n    lock.acquire(urgent)", []),
    (
        "thread_join",
        "import threading\nt = threading.Thread()\nt.join()",
        ["join() with no timeout"],
    ),
    ("thread_join_timeout", "import threading\nt = threading.Thread()\nt.join(5)", []),
    ("str_join", '",".join(["a", "b"])', []),
    ("event_wait", "import threading\ne = threading.Event()\ne.wait()", ["wait() with no timeout"]),
    ("event_wait_timeout", "import threading\ne = threading.Event()\ne.wait(1)", []),
    # A sleep ends, even in an endless loop.
    ("sleep_in_loop", "import time\nwhile True:\n    time.sleep(1)", []),
    (
        "asyncio_wait_for",
        "import asyncio, zmq\nasync def run(sock):\n    await asyncio.wait_for(sock.recv(), 5)",
        [],
    ),
    (
        "redis_blpop_forever",
        "import redis\nr = redis.Redis()\nr.blpop(['jobs'])",
        ["blpop() with timeout 0 (waits forever)"],
    ),
    ("redis_blpop_timeout", "import redis\nr = redis.Redis()\nr.blpop(['jobs'], timeout=5)", []),
    (
        "select_without_timeout",
        "import select\nselect.select([s], [], [])",
        ["select() with no timeout"],
    ),
    # select.poll() makes a poll object; only its poll() waits.
    ("select_poll_factory", "import select\np = select.poll()\np.poll(100)", []),
]


@pytest.mark.parametrize(
    ("code", "expected"),
    [case[1:] for case in BLOCKING_CASES],
    ids=[case[0] for case in BLOCKING_CASES],
)
def test_blocking_calls_table(code: str, expected: list[str]) -> None:
    assert [call.reason for call in facts_of(code).blocking_calls] == expected


def test_blocking_calls_in_self_call_order() -> None:
    code = """\
    import zmq

    class Worker:
        def start(self):
            self.connect()
            self.wait_for_work()
            self.sock.recv_json()

        def connect(self):
            self.sock.send(b"READY")

        def wait_for_work(self):
            self.sock.recv_multipart()
            self.helper()

        def helper(self):
            self.sock.recv_string()
    """
    facts = facts_of(code, "app/worker.py")
    calls = blocking_calls_in(facts, "app", "app/worker.py", "Worker.start")
    assert [(c.function, c.line) for c in calls] == [
        ("Worker.wait_for_work", 13),
        ("Worker.start", 7),
    ]


def test_blocking_calls_in_other_function_are_excluded() -> None:
    code = "import zmq\ndef a(s):\n    s.recv()\ndef b(s):\n    s.send(b'')\n"
    facts = facts_of(code)
    assert blocking_calls_in(facts, "app", "app/main.py", "b") == []
    assert len(blocking_calls_in(facts, "app", "app/main.py", "a")) == 1


# --- the call after a log line ---------------------------------------------------------

CALL_TARGET_CASES = [
    (
        "local_instance",
        """\
        class Worker:
            def start(self):
                pass

        def main():
            worker = Worker()
            logger.info("About to call worker.start()")
            worker.start()
        """,
        7,
        ("Worker.start", 2),
    ),
    (
        "attribute_assigned_in_init",
        """\
        class Worker:
            def start(self):
                pass

        class App:
            def __init__(self):
                self.worker = Worker()

            def run(self):
                logger.info("About to call worker.start()")
                self.worker.start()
        """,
        10,
        ("Worker.start", 2),
    ),
    (
        "receiver_name_matches_class",
        """\
        class Pool:
            def start(self):
                pass

        class Worker:
            def start(self):
                pass

        def main(worker):
            logger.info("About to call worker.start()")
            worker.start()
        """,
        10,
        ("Worker.start", 6),
    ),
    (
        "skips_non_call_statements",
        """\
        def serve():
            pass

        def main():
            logger.info("starting")
            retries = 3
            serve()
        """,
        5,
        ("serve", 1),
    ),
    (
        "skips_further_logging",
        """\
        def serve():
            pass

        def main():
            logger.info("starting")
            logger.debug("really")
            serve()
        """,
        5,
        ("serve", 1),
    ),
    (
        "continues_after_if_block",
        """\
        def serve():
            pass

        def main(flag):
            if flag:
                logger.info("flag set")
            serve()
        """,
        6,
        ("serve", 1),
    ),
    (
        "enters_try_body",
        """\
        def serve():
            pass

        def main():
            logger.info("serving")
            try:
                serve()
            except Exception:
                pass
        """,
        5,
        ("serve", 1),
    ),
    (
        "constructor_call",
        """\
        class Broker:
            def __init__(self):
                pass

        def main():
            logger.info("creating broker")
            broker = Broker()
        """,
        6,
        ("Broker.__init__", 2),
    ),
    (
        "self_method",
        """\
        class Service:
            def run(self):
                logger.info("binding")
                self.bind()

            def bind(self):
                pass
        """,
        3,
        ("Service.bind", 6),
    ),
]


@pytest.mark.parametrize(
    ("code", "line", "expected"),
    [case[1:] for case in CALL_TARGET_CASES],
    ids=[case[0] for case in CALL_TARGET_CASES],
)
def test_find_call_target_table(code: str, line: int, expected: tuple[str, int]) -> None:
    evidence = evidence_of({"app/main.py": code})
    target = find_call_target(evidence, "app", "app/main.py", line)
    assert target is not None
    assert (target.function, target.line) == expected
    assert target.path == "app/main.py"


@pytest.mark.parametrize(
    ("code", "line"),
    [
        # A loop comes next, so which call runs first is unknown statically.
        ('def main():\n    logger.info("x")\n    for i in range(3):\n        go()\n', 2),
        # The block ends and the function returns.
        ('def main():\n    logger.info("x")\n', 2),
        # No definition of `start` exists in the project.
        ('def main(w):\n    logger.info("x")\n    w.start()\n', 2),
    ],
    ids=["loop_next", "end_of_function", "unknown_callee"],
)
def test_find_call_target_returns_none(code: str, line: int) -> None:
    evidence = evidence_of({"app/main.py": code})
    assert find_call_target(evidence, "app", "app/main.py", line) is None


def test_find_call_target_follows_import_into_other_module() -> None:
    files = {
        "app/runner.py": "def run_worker():\n    pass\n",
        "app/main.py": 'from app.runner import run_worker\n\nlogger.info("go")\nrun_worker()\n',
    }
    target = find_call_target(evidence_of(files), "app", "app/main.py", 3)
    assert target == ("run_worker", "app/runner.py", 1)


def test_next_call_after_reports_call_text() -> None:
    evidence = evidence_of({"app/main.py": 'logger.info("x")\nresult = client.fetch(1)\n'})
    call = next_call_after(evidence, "app", "app/main.py", 1)
    assert call is not None
    assert (call.expression, call.line, call.receiver, call.name) == (
        "client.fetch(1)",
        2,
        "client",
        "fetch",
    )


# --- schema, classes, key and attribute uses --------------------------------------------


def test_tables_from_python_string_and_sql_file() -> None:
    files = {
        "app/db.py": '''\
            SCHEMA = """
            CREATE TABLE IF NOT EXISTS workers (
                worker_id TEXT PRIMARY KEY,  -- id, with a comma in the comment
                status TEXT NOT NULL DEFAULT 'idle',
                score NUMERIC(10, 2),
                PRIMARY KEY (worker_id),
                FOREIGN KEY (status) REFERENCES statuses(name)
            );
            """
        ''',
        "migrations/001.sql": 'CREATE TABLE "jobs" (`id` INTEGER, payload TEXT);\nALTER TABLE jobs ADD COLUMN done BOOLEAN;\n',
    }
    facts = extract_facts(evidence_of(files))
    workers = facts.tables["workers"]
    assert workers.columns == ["worker_id", "status", "score"]
    assert workers.column_types["score"] == "NUMERIC(10, 2)"
    assert (workers.path, workers.line) == ("app/db.py", 2)
    jobs = facts.tables["jobs"]
    assert jobs.columns == ["id", "payload", "done"]
    assert (jobs.path, jobs.line) == ("migrations/001.sql", 1)


def test_table_in_fstring_keeps_literal_columns() -> None:
    # A column named by an f-string field is unknown statically and left out.
    facts = facts_of(
        'NAME = "x"\nsql = f"CREATE TABLE metrics (id INTEGER, {NAME} TEXT, value REAL)"'
    )
    assert facts.tables["metrics"].columns == ["id", "value"]


def test_class_info_lists_methods_attributes_and_bases() -> None:
    code = """\
    class Base:
        pass

    class DatabaseManager(Base):
        table = "workers"

        def __init__(self, path: str) -> None:
            self.path = path

        async def fetch(self, key, *, limit: int = 10) -> list:
            return []
    """
    info = facts_of(code).classes["DatabaseManager"]
    assert info.bases == ["Base"]
    assert info.methods["__init__"] == ("__init__(self, path: str) -> None", 7)
    assert info.methods["fetch"].signature == "async fetch(self, key, *, limit: int=10) -> list"
    assert info.attributes == {"table": 5, "path": 8}
    assert (info.line, info.end_line) == (4, 11)


def test_find_subscripts_and_gets() -> None:
    code = """\
    import os

    def show(row):
        a = row["last_seen"]
        b = row.get('last_seen')
        row["last_seen"] = 1
        c = os.environ["last_seen"]
    """
    uses = find_subscripts(facts_of(code), "app", "last_seen")
    # The assignment target and the environment read are no key lookups.
    assert [(u.line, u.function, u.expression) for u in uses] == [
        (4, "show", 'row["last_seen"]'),
        (5, "show", "row.get('last_seen')"),
    ]


def test_find_attribute_calls_accepts_evidence() -> None:
    evidence = evidence_of(
        {"app/main.py": "class S:\n    def run(self):\n        self.db.record_service_metrics(1)\n"}
    )
    (use,) = find_attribute_calls(evidence, "app", "record_service_metrics")
    assert (use.path, use.line, use.function) == ("app/main.py", 3, "S.run")
    assert use.expression == "self.db.record_service_metrics(1)"


# --- other languages --------------------------------------------------------------------

JS_SOURCE = """\
const express = require('express');
// process.env.COMMENTED must not count
const note = "process.env.IN_STRING";
const PORT = process.env.PORT || 3000;
const host = process.env.HOST ?? 'localhost';
const level = process.env['LOG_LEVEL'];
const { REDIS_URL = 'redis://redis:6379', TOKEN } = process.env;
const timeout = Number(process.env.TIMEOUT_MS) || 500;
app.listen(PORT, () => console.log(`listening on ${PORT}`));
sock.connect(`tcp://${host}:5555`);
fetch('http://api:8080/health');
console.error('failed to start', err);
"""


def test_javascript_env_reads() -> None:
    reads = facts_of(JS_SOURCE, "web/server.js").env_reads
    assert [(r.variable, r.default, r.line) for r in reads] == [
        ("PORT", "3000", 4),
        ("HOST", "localhost", 5),
        ("LOG_LEVEL", None, 6),
        ("TIMEOUT_MS", "500", 8),
        ("REDIS_URL", "redis://redis:6379", 7),
        ("TOKEN", None, 7),
    ]


def test_javascript_endpoints_and_log_sites() -> None:
    facts = facts_of(JS_SOURCE, "web/server.js")
    assert [
        (e.role, e.scheme, e.host, e.port, e.port_variable, e.host_variable)
        for e in facts.endpoints
    ] == [
        ("bind", "http", "0.0.0.0", 3000, "PORT", None),
        ("connect", "tcp", "localhost", 5555, None, "HOST"),
        ("connect", "http", "api", 8080, None, None),
    ]
    assert [(s.level, s.message, s.line) for s in facts.log_sites] == [
        ("info", f"listening on {HOLE}", 9),
        ("error", f"failed to start {HOLE}", 12),
    ]


GO_SOURCE = """\
package main

import (
    "log"
    "net/http"
    "os"
)

// os.Getenv("COMMENTED") must not count
func main() {
    port := os.Getenv("PORT")
    if port == "" {
        port = "8080"
    }
    dsn := os.Getenv("DATABASE_URL")
    addr := getEnv("LISTEN_ADDR", ":9090")
    conn, _ := net.Dial("tcp", "cache:11211")
    log.Printf("listening on :%s", port)
    http.ListenAndServe(":"+port, nil)
}
"""


def test_go_env_reads_with_if_empty_default() -> None:
    reads = facts_of(GO_SOURCE, "cmd/server/main.go").env_reads
    assert [(r.variable, r.default, r.line) for r in reads] == [
        ("PORT", "8080", 11),
        ("DATABASE_URL", None, 15),
        ("LISTEN_ADDR", ":9090", 16),
    ]


def test_go_endpoints_and_log_sites() -> None:
    facts = facts_of(GO_SOURCE, "cmd/server/main.go")
    assert [(e.role, e.host, e.port, e.port_variable) for e in facts.endpoints] == [
        ("bind", "0.0.0.0", 8080, "PORT"),
        ("connect", "cache", 11211, None),
    ]
    assert [(s.level, s.message) for s in facts.log_sites] == [("print", f"listening on :{HOLE}")]


SHELL_SOURCE = """\
#!/bin/sh
set -e
# $COMMENTED is not read
echo 'single quotes keep $LITERAL'
: "${DB_HOST:?DB_HOST must be set}"
export PORT="${PORT:-8000}"
WORKERS=4
echo "$WORKERS workers on $PORT, level ${LOG_LEVEL-info}"
cat <<'EOF'
$QUOTED_HEREDOC
EOF
cat <<EOF
${UNQUOTED_HEREDOC}
EOF
for item in a b; do echo "$item"; done
exec gunicorn -b "0.0.0.0:${PORT:-8000}" app:app
"""


def test_shell_env_reads() -> None:
    reads = facts_of(SHELL_SOURCE, "docker/entrypoint.sh").env_reads
    assert [(r.variable, r.default, r.required, r.line) for r in reads] == [
        ("DB_HOST", None, True, 5),
        ("PORT", "8000", False, 6),
        ("LOG_LEVEL", "info", False, 8),
        ("UNQUOTED_HEREDOC", None, False, 13),
    ]


def test_shell_server_bind_with_variable_default() -> None:
    (endpoint,) = facts_of(SHELL_SOURCE, "docker/entrypoint.sh").endpoints
    assert (endpoint.role, endpoint.host, endpoint.port, endpoint.port_variable, endpoint.line) == (
        "bind",
        "0.0.0.0",
        8000,
        "PORT",
        16,
    )


def test_shell_nounset_makes_plain_reads_required() -> None:
    reads = facts_of("#!/bin/bash\nset -eu\necho $API_KEY\n", "run").env_reads
    assert [(r.variable, r.required) for r in reads] == [("API_KEY", True)]


@pytest.mark.parametrize(
    "script",
    [
        # Lower-case names are shell variables by convention, not environment.
        "#!/bin/sh\necho $version ${name:-x}\n",
        # The function runs after the assignment further down.
        "#!/bin/sh\nshow() { echo $LATER; }\nLATER=1\nshow\n",
    ],
    ids=["lower_case_names", "assigned_after_use_in_function"],
)
def test_shell_locals_are_not_env_reads(script: str) -> None:
    assert facts_of(script, "bin/run").env_reads == []


def test_file_without_shell_shebang_is_not_scanned() -> None:
    # A README mentioning ${HOME_DIR} is no script.
    assert facts_of("Set ${HOME_DIR:-/srv} first", "docs/notes.txt").env_reads == []


# --- Dockerfile ENV and commands --------------------------------------------------------


def dockerfile_evidence(dockerfile: str, code: str = "") -> Evidence:
    files = {"Dockerfile": dockerfile, "app/main.py": code or "x = 1\n"}
    config = {"services": {"app": {"build": {"context": "/demo", "dockerfile": "Dockerfile"}}}}
    return evidence_of(files, config=config)


def test_dockerfile_env_and_arg_become_image_env() -> None:
    dockerfile = """\
    ARG BASE=python:3.11
    FROM $BASE
    ARG APP_PORT=8080
    ENV PORT=$APP_PORT MODE="fast lane"
    ENV LEGACY value with spaces
    """
    facts = extract_facts(dockerfile_evidence(dockerfile))
    assert [(e.variable, e.value, e.line, e.instruction) for e in facts.image_env] == [
        ("PORT", "8080", 4, "ENV"),
        ("MODE", "fast lane", 4, "ENV"),
        ("LEGACY", "value with spaces", 5, "ENV"),
        ("APP_PORT", "8080", 3, "ARG"),
    ]


def test_env_default_prefers_dockerfile_env_over_code() -> None:
    code = 'import os\nPORT = os.getenv("PORT", "5000")\nHOST = os.getenv("HOST", "0.0.0.0")\n'
    facts = extract_facts(dockerfile_evidence("FROM python\nENV PORT=8080\n", code))
    assert env_default(facts, "app", "PORT") == ("8080", "dockerfile", "Dockerfile", 2)
    assert env_default(facts, "app", "HOST") == ("0.0.0.0", "code", "app/main.py", 3)
    assert env_default(facts, "app", "MISSING") is None


def test_dockerfile_shell_cmd_gives_env_reads_and_binds() -> None:
    dockerfile = "FROM python\nCMD uvicorn app.main:app --host 0.0.0.0 --port ${PORT:-8000}\n"
    facts = extract_facts(dockerfile_evidence(dockerfile))
    assert [(r.variable, r.default, r.path, r.line) for r in facts.env_reads] == [
        ("PORT", "8000", "Dockerfile", 2)
    ]
    (endpoint,) = facts.endpoints
    assert (endpoint.host, endpoint.port, endpoint.port_variable) == ("0.0.0.0", 8000, "PORT")


def test_dockerfile_exec_entrypoint_and_cmd_combine() -> None:
    dockerfile = 'FROM python\nENTRYPOINT ["uvicorn"]\nCMD ["app:app", "--port", "9000"]\n'
    (endpoint,) = extract_facts(dockerfile_evidence(dockerfile)).endpoints
    # uvicorn's default host is 127.0.0.1 when --host is not given.
    assert (endpoint.host, endpoint.port, endpoint.line) == ("127.0.0.1", 9000, 2)


# --- robustness -------------------------------------------------------------------------


def test_unparsable_file_becomes_warning_and_others_still_scanned() -> None:
    files = {
        "app/broken.py": "def broken(:\n    pass\n",
        "app/ok.py": 'import os\nos.getenv("A")\n',
    }
    facts = extract_facts(evidence_of(files))
    assert facts.warnings == [
        "app/broken.py: not valid Python at line 1 (invalid syntax); its facts are missing"
    ]
    assert [r.variable for r in facts.env_reads] == ["A"]


def test_shared_build_context_is_stamped_per_service() -> None:
    sources = [
        SourceFile(service, "app/main.py", 'import os\nos.getenv("A")\n')
        for service in ("api", "worker")
    ]
    evidence = Evidence(
        "demo", "/demo", [], {"services": {"api": {}, "worker": {}}}, sources=sources
    )
    facts = extract_facts(evidence)
    assert [(r.service, r.variable) for r in facts.env_reads] == [("api", "A"), ("worker", "A")]


def test_deeply_nested_expression_does_not_raise() -> None:
    code = "x = " + "(" * 150 + "1" + ")" * 150 + "\n" + 'import os\nos.getenv("A")\n'
    facts = facts_of(code)
    assert [r.variable for r in facts.env_reads] == ["A"]


def test_self_referencing_assignments_do_not_loop() -> None:
    code = 'a = b\nb = a\nsock.connect(f"tcp://{a}:1")\n'
    (endpoint,) = facts_of(code).endpoints
    assert (endpoint.host, endpoint.port) == (None, 1)


# --- the sample stack ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> tuple[Evidence, SourceFacts]:
    files = sorted(path for path in FIXTURE.rglob("*") if path.is_file())
    services = ("tacoreservice", "tacoreservice-worker")
    sources = [
        SourceFile(service, path.relative_to(FIXTURE).as_posix(), path.read_text())
        for service in services
        for path in files
    ]
    config = {
        "services": {
            "redis": {"image": "stackmedic/redis:bookworm"},
            "tacoreservice": {"build": {"context": "/demo", "dockerfile": "Dockerfile"}},
            "tacoreservice-worker": {
                "build": {"context": "/demo", "dockerfile": "Dockerfile.worker"},
                "depends_on": ["tacoreservice", "redis"],
            },
        }
    }
    evidence = Evidence("demo", "/demo", ["/demo/docker-compose.yml"], config, sources=sources)
    return evidence, extract_facts(evidence)


def test_sample_worker_connect_endpoint(sample: tuple[Evidence, SourceFacts]) -> None:
    _, facts = sample
    connects = facts.endpoints_of("tacoreservice-worker", "connect")
    assert [
        (e.scheme, e.host, e.port, e.host_variable, e.port_variable, e.path) for e in connects
    ] == [
        (
            "tcp",
            "tacoreservice",
            5555,
            "TACORESERVICE_HOST",
            "TACORESERVICE_BACKEND_PORT",
            "tacore/worker.py",
        )
    ]


def test_sample_broker_binds(sample: tuple[Evidence, SourceFacts]) -> None:
    _, facts = sample
    binds = facts.endpoints_of("tacoreservice", "bind")
    assert [(e.scheme, e.host, e.port, e.port_variable) for e in binds] == [
        ("tcp", "*", 5555, "TACORESERVICE_FRONTEND_PORT"),
        ("tcp", "*", 5556, "TACORESERVICE_BACKEND_PORT"),
        ("http", "0.0.0.0", 8080, "TACORESERVICE_API_PORT"),
    ]


def test_sample_log_lines_find_their_sites(sample: tuple[Evidence, SourceFacts]) -> None:
    _, facts = sample
    lines = {
        "2026-12-04 20:31:02,118 - INFO - ZMQ backend bound to tcp://*:5556 (workers)": (
            "tacore/broker.py",
            33,
        ),
        "2026-12-04 20:31:02,117 - INFO - ZMQ frontend bound to tcp://*:5555 (clients)": (
            "tacore/broker.py",
            30,
        ),
        "2026-12-04 20:31:02,120 - INFO - HTTP API listening on 0.0.0.0:8080": (
            "tacore/main.py",
            40,
        ),
        "2026-12-04 20:31:40,551 - ERROR - Error getting workers status: 'last_seen'": (
            "tacore/api.py",
            28,
        ),
        "2026-12-04 20:31:45,002 - ERROR - Error in metrics collection loop: 'DatabaseManager' object "
        "has no attribute 'record_service_metrics'": ("tacore/main.py", 32),
    }
    for line, expected in lines.items():
        found = log_sites_for_line(facts, "tacoreservice", line)
        assert [(s.path, s.line) for s in found[:1]] == [expected], line


def test_sample_hang_after_last_log_line_is_located(sample: tuple[Evidence, SourceFacts]) -> None:
    evidence, facts = sample
    service = "tacoreservice-worker"
    (site,) = log_sites_for_line(
        facts, service, "2026-12-04 20:31:03,001 - INFO - About to call worker.start()"
    )
    target = find_call_target(evidence, service, site.path, site.line)
    assert target == ("Worker.start", "tacore/worker.py", 28)
    calls = blocking_calls_in(facts, service, target.path, target.function)
    # The receive in _serve() comes after a poll with a timeout, so only start()'s counts.
    assert [(c.call, c.line, c.reason) for c in calls] == [
        ("self.socket.recv_multipart()", 36, "recv_multipart() with no poll timeout or RCVTIMEO")
    ]


def test_sample_broker_receives_are_not_blocking(sample: tuple[Evidence, SourceFacts]) -> None:
    _, facts = sample
    # The broker polls with a 500 ms timeout before each receive.
    assert [c.path for c in facts.blocking_calls if c.service == "tacoreservice"] == [
        "tacore/worker.py"
    ]


def test_sample_key_error_and_missing_method_are_located(
    sample: tuple[Evidence, SourceFacts],
) -> None:
    _, facts = sample
    assert find_subscripts(facts, "tacoreservice", "last_seen") == [
        ("tacore/api.py", 24, "create_app.workers", "row['last_seen']")
    ]
    (call,) = find_attribute_calls(facts, "tacoreservice", "record_service_metrics")
    assert (call.path, call.line, call.function) == (
        "tacore/main.py",
        30,
        "TacoreService._metrics_loop",
    )
    methods = facts.classes_of("tacoreservice")["DatabaseManager"].methods
    assert "record_service_metrics" not in methods
    assert methods["record_worker_heartbeat"].signature == (
        "record_worker_heartbeat(self, worker_id: str, status: str='idle') -> None"
    )


def test_sample_workers_table_has_no_last_seen(sample: tuple[Evidence, SourceFacts]) -> None:
    _, facts = sample
    workers = facts.tables_of("tacoreservice")["workers"]
    assert workers.columns == [
        "worker_id",
        "status",
        "last_heartbeat",
        "registered_at",
        "requests_served",
    ]
    assert (workers.path, workers.line) == ("tacore/database.py", 8)
    assert "service_metrics" not in facts.tables


def test_sample_env_reads_of_worker(sample: tuple[Evidence, SourceFacts]) -> None:
    _, facts = sample
    reads = {
        (r.variable, r.default)
        for r in facts.env_reads_of("tacoreservice-worker")
        if r.path == "tacore/worker.py"
    }
    assert reads == {
        ("TACORESERVICE_HOST", "tacoreservice"),
        ("TACORESERVICE_BACKEND_PORT", "5555"),
    }
    assert (
        facts.image_env_of("tacoreservice-worker")["PYTHONUNBUFFERED"].path == "Dockerfile.worker"
    )
    assert facts.warnings == []
