"""The log scanner (both engines) and the pattern library's log signatures."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from stackmedic.analysis import logscan
from stackmedic.analysis.logscan import (
    ContainerLogIndex,
    LogMatch,
    LogScanner,
    hyperscan_expression,
    line_bound,
    required_literals,
)
from stackmedic.evidence.model import ContainerEvidence, LogLine
from stackmedic.patterns import application, connections
from stackmedic.patterns import tracebacks as python_tracebacks
from stackmedic.patterns.base import LOG
from stackmedic.patterns.registry import ALL_PATTERNS
from stackmedic.patterns.signatures import (
    LOG_SIGNATURES,
    WITHOUT_LOG_SIGNATURE,
    candidate_lines,
    distinct_signatures,
)

try:
    import hyperscan  # noqa: F401

    HAVE_HYPERSCAN = True
except ImportError:
    HAVE_HYPERSCAN = False

needs_hyperscan = pytest.mark.skipif(
    not HAVE_HYPERSCAN, reason="the hyperscan package is not installed"
)
ENGINES = [
    "python",
    pytest.param("hyperscan", marks=needs_hyperscan),
]

# A log in many formats; a comment names what a line is there to test.
MIXED_LOG = "\n".join(  # noqa: FLY002 - one list item per log line reads best
    [
        "2026-12-04 08:09:23,079 - INFO - Initializing Worker instance...",
        "INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)",  # bind
        "Traceback (most recent call last):",  # python traceback
        '  File "/app/tacore/worker.py", line 88, in run',
        "    self.db.record_service_metrics(metrics)",
        "AttributeError: 'DatabaseManager' object has no attribute 'record_service_metrics'",
        "",
        "2026-12-04 08:09:24,001 - ERROR - Error getting workers status: 'last_seen'",
        "redis.exceptions.ConnectionError: Error 111 connecting to redis:6379. Connection refused.",
        'level=info msg="queue depth" queue=orders depth=3',
        "ERROR: DATABASE_URL environment variable is not set\r",  # CRLF line end
        "panic: runtime error: invalid memory address or nil pointer dereference",
        "goroutine 1 [running]:",
        "    at Object.<anonymous> (/app/src/index.js:12:9)",
        "Überprüfung fehlgeschlagen: OSError: [Errno 28] No space left on device",  # non-ASCII
        'FATAL:  password authentication failed for user "app"',
        "ModuleNotFoundError: No module named 'zmq'",
        "1:M 04 Dec 2026 08:09:23.100 * Ready to accept connections tcp",
        "1:M 04 Dec 2026 08:09:23.100 * Ready to accept connections unix",  # lookahead rejects
        "exec /usr/local/bin/entrypoint.sh: exec format error",
        "nothing to see here",
        "OSError: [Errno 98] Address already in use",  # no newline at the end
    ]
)


@functools.cache
def library_scanner(engine: str) -> LogScanner:
    """One scanner of the whole library per engine: compiling it takes a while."""
    return LogScanner(LOG_SIGNATURES, engine=engine)


def reference(signatures: Mapping[str, Sequence[re.Pattern[str]]], text: str) -> list[LogMatch]:
    """The result a scan must equal: every line against every regex, in a plain loop."""
    found = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        for code, regexes in signatures.items():
            for index, regex in enumerate(regexes):
                if regex.search(line):
                    found.append(LogMatch(code, f"{code}/{index}", number, line, "ref"))
    return found


# --- the pattern library's signatures ----------------------------------------------------


def test_signatures_cover_every_pattern_that_reads_logs() -> None:
    reading = {pattern.code for pattern in ALL_PATTERNS if LOG in pattern.reads}
    listed = set(LOG_SIGNATURES) | set(WITHOUT_LOG_SIGNATURE)

    assert reading - listed == set(), "patterns that read logs but are in neither table"
    assert listed - reading == set(), "codes in the tables that no log-reading pattern has"
    assert set(LOG_SIGNATURES) & set(WITHOUT_LOG_SIGNATURE) == set()


def test_signatures_are_the_pattern_modules_own_objects() -> None:
    assert application._NO_ATTRIBUTE in LOG_SIGNATURES["MISSING_ATTRIBUTE"]
    assert python_tracebacks._HEADER in LOG_SIGNATURES["PYTHON_EXCEPTION"]
    assert all(
        any(regex is connections._REFUSED for regex in LOG_SIGNATURES[code])
        for code in ("CONNECTION_REFUSED", "DEPENDENCY_NOT_READY", "PORT_NOT_LISTENING")
    )


def test_every_signature_is_a_compiled_str_regex() -> None:
    for code, regexes in LOG_SIGNATURES.items():
        assert regexes, f"{code} has an empty signature list"
        for regex in regexes:
            assert isinstance(regex, re.Pattern) and isinstance(regex.pattern, str), code


def test_distinct_signatures_lists_each_regex_once() -> None:
    regexes = distinct_signatures()

    assert len({id(regex) for regex in regexes}) == len(regexes)
    assert {id(r) for rs in LOG_SIGNATURES.values() for r in rs} == {id(r) for r in regexes}


# One line per code, the kind of line the pattern's docstring names as its symptom.
SYMPTOMS = {
    "STARTUP_HANG": "INFO:     Application startup complete.",
    "DEPENDENCY_NOT_READY": "pika.exceptions.AMQPConnectionError: Connection refused",
    "SLOW_START": "Started OrdersApplication in 95.2 seconds (process running for 97.1)",
    "EXEC_FORMAT_ERROR": "exec /usr/local/bin/app: exec format error",
    "ENTRYPOINT_CRLF": "/docker-entrypoint.sh: line 2: $'\\r': command not found",
    "ENTRYPOINT_NOT_EXECUTABLE": 'exec: "/docker-entrypoint.sh": permission denied',
    "ENDPOINT_MISMATCH": "INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)",
    "MISSING_ENV": "ERROR: DATABASE_URL environment variable is not set",
    "CONFIG_FILE_NOT_FOUND": "open /etc/app/config.yml: no such file or directory",
    "HOST_NOT_RESOLVED": "getaddrinfo ENOTFOUND mongo",
    "LOCALHOST_PEER": "Error: connect ECONNREFUSED 127.0.0.1:5432",
    "PORT_NOT_LISTENING": "Error 111 connecting to cache:6380. Connection refused.",
    "BIND_LOCALHOST": "Listening on 127.0.0.1:8080",
    "PORT_ALREADY_ALLOCATED": "OSError: [Errno 98] Address already in use",
    "HEALTHCHECK_MISCONFIGURED": "Now listening on: http://[::]:80",
    "PYTHON_EXCEPTION": "Traceback (most recent call last):",
    "KEY_ERROR": "2026-12-04 08:09:24,001 - ERROR - Error getting workers status: 'last_seen'",
    "MISSING_ATTRIBUTE": "'DatabaseManager' object has no attribute 'record_service_metrics'",
    "MODULE_NOT_FOUND": "ModuleNotFoundError: No module named 'zmq'",
    "NODE_MODULE_NOT_FOUND": "Error: Cannot find module 'express'",
    "NODE_EXCEPTION": "    at Object.<anonymous> (/app/src/index.js:12:9)",
    "JAVA_EXCEPTION": 'Exception in thread "main" java.lang.IllegalStateException: no config',
    "GO_PANIC": "panic: runtime error: invalid memory address or nil pointer dereference",
    "DB_AUTH_FAILED": 'FATAL:  password authentication failed for user "app"',
    "DATABASE_MISSING": 'FATAL:  database "orders" does not exist',
    "TABLE_MISSING": "sqlite3.OperationalError: no such table: service_metrics",
    "REDIS_AUTH_FAILED": "redis.exceptions.AuthenticationError: NOAUTH Authentication required.",
    "DATA_DIR_INCOMPATIBLE": "FATAL:  database files are incompatible with server",
    "SIGNAL_KILLED": "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
    "CONNECTION_REFUSED": "could not connect to server: Connection refused",
    "PERMISSION_DENIED": "PermissionError: [Errno 13] Permission denied: '/data/app.db'",
    "BIND_MOUNT_SOURCE_MISSING": "IsADirectoryError: [Errno 21] Is a directory: '/app/config.yml'",
    "DISK_FULL": "OSError: [Errno 28] No space left on device",
    "TLS_CERTIFICATE_ERROR": "x509: certificate signed by unknown authority",
}


def test_every_code_with_signatures_has_a_symptom_case() -> None:
    assert set(SYMPTOMS) == set(LOG_SIGNATURES)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("code", sorted(SYMPTOMS))
def test_symptom_line_is_found_for_its_code(engine: str, code: str) -> None:
    scanner = library_scanner(engine)

    matches = scanner.scan("an unrelated line\n" + SYMPTOMS[code] + "\n", "svc")

    assert code in {match.code for match in matches}
    assert {match.line_number for match in matches if match.code == code} == {2}


# --- the scanner -------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_scan_equals_line_by_line_loop(engine: str) -> None:
    scanner = library_scanner(engine)

    matches = scanner.scan(MIXED_LOG, "ref")

    assert matches == reference(LOG_SIGNATURES, MIXED_LOG)
    assert len(matches) > 20


@pytest.mark.parametrize("engine", ENGINES)
def test_scan_of_bytes_equals_scan_of_text(engine: str) -> None:
    scanner = library_scanner(engine)

    assert scanner.scan(MIXED_LOG.encode("utf-8"), "ref") == scanner.scan(MIXED_LOG, "ref")


@pytest.mark.parametrize("engine", ENGINES)
def test_scan_equals_loop_on_generated_mix(engine: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        import logmix
    finally:
        sys.path.pop(0)
    text = "\n".join(logmix.generate_lines(1000, seed=7))
    scanner = library_scanner(engine)

    matches = scanner.scan(text, "ref")

    assert matches == reference(LOG_SIGNATURES, text)
    assert 3 < len({match.line_number for match in matches}) < 100


@pytest.mark.parametrize("engine", ENGINES)
def test_match_carries_number_text_and_origin(engine: str) -> None:
    scanner = LogScanner({"DISK_FULL": LOG_SIGNATURES["DISK_FULL"]}, engine=engine)

    matches = scanner.scan(
        "ok\nwrite failed: No space left on device\r\nok\n", "db-1", first_line=41
    )

    assert matches == [
        LogMatch("DISK_FULL", "DISK_FULL/0", 42, "write failed: No space left on device", "db-1")
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_matches_are_in_line_order_then_table_order(engine: str) -> None:
    signatures = {
        "SECOND": [re.compile(r"beta")],
        "FIRST": [re.compile(r"alpha"), re.compile(r"beta")],
    }
    scanner = LogScanner(signatures, engine=engine)

    matches = scanner.scan("beta alpha\nalpha\n", "x")

    assert [(m.line_number, m.signature_id) for m in matches] == [
        (1, "SECOND/0"),
        (1, "FIRST/0"),
        (1, "FIRST/1"),
        (2, "FIRST/0"),
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_line_is_reported_once_per_signature(engine: str) -> None:
    scanner = LogScanner({"REPEAT": [re.compile(r"refused")]}, engine=engine)

    matches = scanner.scan("refused refused refused\n", "x")

    assert len(matches) == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_match_cannot_span_two_lines(engine: str) -> None:
    # \s* could take the newline in a whole-buffer search; per line it cannot.
    scanner = LogScanner({"SPAN": [re.compile(r"name:\s*'key'")]}, engine=engine)

    matches = scanner.scan("name:\n'key' and name: 'key'\n", "x")

    assert [m.line_number for m in matches] == [2]


@pytest.mark.parametrize("engine", ENGINES)
def test_anchors_work_per_line(engine: str) -> None:
    scanner = LogScanner({"ANCHOR": [re.compile(r"^panic: (.*?)\s*$")]}, engine=engine)

    matches = scanner.scan("x panic: no\npanic: yes\n  panic: indented\n", "x")

    assert [m.line_text for m in matches] == ["panic: yes"]


@pytest.mark.parametrize("engine", ENGINES)
def test_unicode_classes_match_like_python(engine: str) -> None:
    signatures = {"WORD": [re.compile(r"'(\w+)' object has no attribute")]}
    scanner = LogScanner(signatures, engine=engine)
    text = "'Überwachung' object has no attribute 'x'\n'ok' object has no attribute 'y'\n"

    matches = scanner.scan(text, "ref")

    assert matches == reference(signatures, text.rstrip("\n"))
    assert [m.line_number for m in matches] == [1, 2]


@pytest.mark.parametrize("engine", ENGINES)
def test_file_separator_counts_as_space_like_python(engine: str) -> None:
    # Python's \s matches \x1c-\x1f; Hyperscan's does not, so the scanner must bridge it.
    scanner = LogScanner({"SPACE": [re.compile(r"is\snot set")]}, engine=engine)

    matches = scanner.scan("TOKEN is\x1cnot set\n", "x")

    assert [m.line_number for m in matches] == [1]


@pytest.mark.parametrize("engine", ENGINES)
def test_invalid_utf8_becomes_replacement_character(engine: str) -> None:
    scanner = LogScanner({"DISK_FULL": LOG_SIGNATURES["DISK_FULL"]}, engine=engine)

    matches = scanner.scan(b"ok\n\xff\xfe No space left on device\n", "x")

    assert [(m.line_number, m.line_text) for m in matches] == [
        (2, "\ufffd\ufffd No space left on device")
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_caseless_signature_finds_other_case(engine: str) -> None:
    scanner = LogScanner(
        {"CASE": [re.compile(r"connection refused", re.IGNORECASE)]}, engine=engine
    )

    matches = scanner.scan("a\nCONNECTION REFUSED by peer\nConnection Refused\n", "x")

    assert [m.line_number for m in matches] == [2, 3]


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_input_has_no_matches(engine: str) -> None:
    scanner = library_scanner(engine)

    assert scanner.scan("", "x") == []
    assert scanner.scan(b"\n\n\n", "x") == []


@pytest.mark.parametrize("engine", ENGINES)
def test_scan_file_in_small_chunks_equals_whole_scan(engine: str, tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text(MIXED_LOG + "\n", encoding="utf-8")
    scanner = library_scanner(engine)

    chunked = list(scanner.scan_file(path, "app", chunk_bytes=64))
    whole = list(scanner.scan_file(path, "app"))

    assert chunked == scanner.scan(MIXED_LOG, "app")
    assert whole == chunked


@pytest.mark.parametrize("engine", ENGINES)
def test_scan_with_threads_equals_single_thread(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logscan, "PARALLEL_MIN_BYTES", 0)
    scanner = library_scanner(engine)
    text = MIXED_LOG * 20

    assert scanner.scan(text, "x", threads=3) == scanner.scan(text, "x", threads=1)


@pytest.mark.parametrize(
    "pattern",
    [
        r"connection refused|ECONNREFUSED",
        r"^panic: (?P<what>.+)$",
        r"\bport (\d+)\b",
        r"Started \S+ in [\d.]+ seconds",
        r"(?i)ready to accept",
        r"[A-Z_]{3,} is not set",
    ],
)
def test_line_bound_regexes(pattern: str) -> None:
    assert line_bound(re.compile(pattern))


@pytest.mark.parametrize(
    "pattern, flags",
    [
        (r"name:\s*'key'", 0),  # \s takes a newline
        (r"[^:]+: failed", 0),  # a negated class takes a newline
        (r"\W+end", 0),
        (r"a\nb", 0),
        (r"a.b", re.DOTALL),
        (r"Ready(?! unix)", 0),  # lookahead
        (r"(a)\1", 0),  # back reference
        (r"x[\x00-\x7f]y", 0),  # a range over the newline
    ],
)
def test_multiline_regexes_not_line_bound(pattern: str, flags: int) -> None:
    assert not line_bound(re.compile(pattern, flags))


@needs_hyperscan
def test_exact_matches_skip_the_confirming_search(monkeypatch: pytest.MonkeyPatch) -> None:
    regex = re.compile(r"connection refused")
    scanner = LogScanner({"REFUSED": [regex]}, engine="hyperscan")
    assert scanner._hyperscan is not None and scanner._hyperscan.ascii_exact == {0}
    searched: list[str] = []
    spy = re.compile(regex.pattern)
    monkeypatch.setattr(scanner, "_regexes", [_Recording(spy, searched)])

    clean = scanner.scan("ok\nconnection refused\n", "x")
    with_return = scanner.scan("ok\r\nconnection refused\r\n", "x")

    assert [m.line_number for m in clean] == [m.line_number for m in with_return] == [2]
    # Trusted in the clean buffer; searched again where a carriage return could differ.
    assert searched == ["connection refused"]


class _Recording:
    """A regex stand-in that records the texts it is asked to search."""

    def __init__(self, regex: re.Pattern[str], texts: list[str]) -> None:
        self.regex, self.texts, self.pattern = regex, texts, regex.pattern

    def search(self, text: str) -> re.Match[str] | None:
        self.texts.append(text)
        return self.regex.search(text)


@needs_hyperscan
def test_hyperscan_and_python_engines_agree_on_generated_mix() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        import logmix
    finally:
        sys.path.pop(0)
    text = "\n".join(logmix.generate_lines(20_000, seed=11))
    fast = library_scanner("hyperscan").scan(text, "mix")
    plain = library_scanner("python").scan(text, "mix")

    assert fast == plain
    assert len(fast) > 100


def test_python_engine_is_used_when_forced() -> None:
    assert LogScanner(LOG_SIGNATURES, engine="python").engine == "python"


def test_auto_engine_falls_back_without_hyperscan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hyperscan", None)

    scanner = LogScanner(LOG_SIGNATURES)

    assert scanner.engine == "python"
    assert scanner.scan(MIXED_LOG, "ref") == reference(LOG_SIGNATURES, MIXED_LOG)


def test_forced_hyperscan_without_package_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hyperscan", None)

    with pytest.raises(ImportError):
        LogScanner(LOG_SIGNATURES, engine="hyperscan")


@needs_hyperscan
def test_auto_engine_prefers_hyperscan() -> None:
    assert LogScanner(LOG_SIGNATURES).engine == "hyperscan"


@needs_hyperscan
def test_regex_hyperscan_cannot_compile_is_scanned_by_python() -> None:
    # A named character has no Hyperscan form; the scanner still finds the line.
    signatures = {"NAMED": [re.compile(r"\N{EM DASH} failed"), re.compile(r"ok")]}
    scanner = LogScanner(signatures, engine="hyperscan")
    text = "start \u2014 failed\nok\n"

    matches = scanner.scan(text, "ref")

    assert matches == reference(signatures, text.rstrip("\n"))
    assert [m.signature_id for m in matches] == ["NAMED/0", "NAMED/1"]


def test_unknown_engine_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown log scan engine"):
        LogScanner(LOG_SIGNATURES, engine="grep")


# --- container logs -------------------------------------------------------------------------


def container_with(*texts: str) -> ContainerEvidence:
    container = ContainerEvidence(
        id="c" * 64, name="app-1", service="app", image="app", state="running"
    )
    container.logs = [LogLine(number, text) for number, text in enumerate(texts, start=1)]
    return container


REFUSED = re.compile(r"connection refused", re.IGNORECASE)
MISSING = re.compile(r"No such file or directory")


@pytest.mark.parametrize("engine", ENGINES)
def test_line_indexes_point_into_logs(engine: str) -> None:
    index = ContainerLogIndex(LogScanner({"A": [REFUSED], "B": [MISSING]}, engine=engine))
    container = container_with("ok", "Connection refused", "No such file or directory", "ok")

    assert index.line_indexes(container, REFUSED) == [1]
    assert index.line_indexes(container, MISSING, REFUSED) == [1, 2]


def test_line_indexes_reject_unknown_regex() -> None:
    index = ContainerLogIndex(LogScanner({"A": [REFUSED]}, engine="python"))

    with pytest.raises(ValueError, match="not a signature"):
        index.line_indexes(container_with("x"), re.compile("x"))


def test_line_indexes_follow_replaced_logs() -> None:
    index = ContainerLogIndex(LogScanner({"A": [REFUSED]}, engine="python"))
    container = container_with("connection refused", "ok")
    assert index.line_indexes(container, REFUSED) == [0]

    container.logs = [LogLine(1, "ok"), LogLine(2, "ok"), LogLine(3, "connection refused")]

    assert index.line_indexes(container, REFUSED) == [2]


def test_line_with_own_newline_makes_every_line_candidate() -> None:
    index = ContainerLogIndex(LogScanner({"A": [REFUSED]}, engine="python"))
    container = container_with("first\nsecond", "ok", "connection refused")

    assert index.line_indexes(container, REFUSED) == [0, 1, 2]


def test_candidate_lines_cover_every_matching_line() -> None:
    container = container_with(*MIXED_LOG.replace("\r", "").split("\n"))
    for regex in distinct_signatures():
        expected = [i for i, line in enumerate(container.logs) if regex.search(line.text)]

        assert set(expected) <= set(candidate_lines(container, regex)), regex.pattern
    assert len(candidate_lines(container, *distinct_signatures())) < len(container.logs)


# --- required literals and expressions -----------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "flags", "expected"),
    [
        (r"Traceback \(most recent call last\):", 0, {"Traceback (most recent call last):"}),
        (r"ENOSPC|No space left on device", 0, {"ENOSPC", "No space left on device"}),
        (r"connection refused", re.IGNORECASE, {"connection refused"}),
        (r"exec (?P<path>/\S+?):? exec format error", 0, {" exec format error"}),
        (
            r"Error (?:111|-2) connecting to \w+",
            0,
            {"Error 111 connecting to ", "Error -2 connecting to "},
        ),
    ],
)
def test_required_literals_of_regex(pattern: str, flags: int, expected: set[str]) -> None:
    literals = required_literals(re.compile(pattern, flags))

    assert literals is not None
    assert set(literals) == expected


@pytest.mark.parametrize("pattern", [r"\d+", r"(?:a|\w+)b?", r".*"])
def test_required_literals_none_without_literal(pattern: str) -> None:
    # "(?:a|\w+)b?": the second branch needs no literal, so none is required.
    assert required_literals(re.compile(pattern)) is None


def test_every_match_contains_a_required_literal() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        import logmix
    finally:
        sys.path.pop(0)
    lines = logmix.generate_lines(3000, seed=11)
    for regex in distinct_signatures():
        literals = required_literals(regex)
        if literals is None:
            continue
        caseless = bool(regex.flags & re.IGNORECASE)
        for line in lines:
            if regex.search(line):
                haystack = line.lower() if caseless else line
                assert any(literal in haystack for literal in literals), (regex.pattern, line)


def test_hyperscan_expression_rewrites_unicode_escapes() -> None:
    assert hyperscan_expression(r"\\r['\u2019]") == r"\\r['\x{2019}]"
    assert hyperscan_expression(r"\\u2019") == r"\\u2019"
    assert hyperscan_expression(r"\N{EM DASH}") is None
