"""The pattern registry, its message catalogue entries, and failure isolation in run_patterns."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import ClassVar

import pytest
from evidence_builders import (
    PROJECT_DIR,
    container,
    context,
    endpoint,
    env_read,
    evidence,
    logs,
    probe,
)

from stackmedic.evidence.facts import SourceFacts
from stackmedic.evidence.model import Evidence, SourceFile
from stackmedic.i18n import catalogue
from stackmedic.model import Category, Finding
from stackmedic.patterns.base import EVIDENCE_KINDS, AnalysisContext
from stackmedic.patterns.registry import ALL_PATTERNS, pattern_by_code, run_patterns

CODES = [pattern.code for pattern in ALL_PATTERNS]
REQUIRED_CODES = {
    "STARTUP_HANG",
    "ENDPOINT_MISMATCH",
    "MISSING_ENV",
    "HEALTHCHECK_MISCONFIGURED",
    "DEPENDENCY_NOT_READY",
    "PYTHON_EXCEPTION",
    "KEY_ERROR",
    "MISSING_ATTRIBUTE",
    "MODULE_NOT_FOUND",
    "OOM_KILLED",
    "SIGNAL_KILLED",
    "RESTART_LOOP",
    "CRASH_EXIT",
    "CONNECTION_REFUSED",
    "PORT_ALREADY_ALLOCATED",
    "PERMISSION_DENIED",
    "EXEC_FORMAT_ERROR",
    "ENTRYPOINT_CRLF",
    "BIND_LOCALHOST",
}
CHECK = {"test": ["CMD-SHELL", "curl -f http://localhost:8080/ || exit 1"], "interval": "5s"}


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_registry_holds_every_required_code_once() -> None:
    assert len(CODES) == len(set(CODES))
    assert REQUIRED_CODES <= set(CODES)


@pytest.mark.parametrize("pattern", ALL_PATTERNS, ids=CODES)
def test_pattern_declares_code_summary_category_and_docstring(pattern: object) -> None:
    code = pattern.code
    assert re.fullmatch(r"[A-Z][A-Z0-9_]+", code)
    assert pattern.summary
    assert isinstance(pattern.category, Category)
    doc = type(pattern).__doc__ or ""
    assert "Symptom" in doc
    assert "Remedy" in doc


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize("code", CODES)
def test_catalogue_has_title_and_summary_for_each_code(code: str, lang: str) -> None:
    messages = catalogue(lang)
    assert messages.get(f"pattern.{code}.title")
    assert messages.get(f"finding.{code}")


@pytest.mark.parametrize("code", CODES)
def test_chinese_summary_uses_same_fields_as_english(code: str) -> None:
    english = template_fields(catalogue("en")[f"finding.{code}"])
    chinese = template_fields(catalogue("zh-CN")[f"finding.{code}"])
    assert chinese == english
    assert "service" in english


# One evidence (and facts) per code that makes the pattern match, so the test
# can check that the facts a real finding carries fill its message.
def _hang() -> tuple[Evidence, SourceFacts]:
    return evidence(
        {"w": {"healthcheck": CHECK}},
        [container("p-w-1", "w", health="unhealthy", lines=logs("waiting"))],
    ), SourceFacts()


def _dependency() -> tuple[Evidence, SourceFacts]:
    return evidence({"db": {"healthcheck": CHECK}, "api": {"depends_on": ["db"]}}), SourceFacts()


def _exec_format() -> tuple[Evidence, SourceFacts]:
    return evidence(
        {"a": {}}, [container("p-a-1", "a", lines=logs("exec /app/x: exec format error"))]
    ), SourceFacts()


def _crlf() -> tuple[Evidence, SourceFacts]:
    return (
        evidence(
            {"a": {}},
            [container("p-a-1", "a", lines=logs("/bin/sh^M: bad interpreter"))],
            [SourceFile("a", "run.sh", "#!/bin/sh\r\n")],
        ),
        SourceFacts(),
    )


def _endpoint_facts() -> SourceFacts:
    return SourceFacts(
        env_reads=[
            env_read("w", "PORT", "5555", "w.py", 3),
            env_read("b", "PORT", "5556", "b.py", 3),
        ],
        endpoints=[
            endpoint("w", "connect", "tcp", "b", 5555, "w.py", 9, None, "PORT"),
            endpoint("b", "bind", "tcp", "*", 5556, "b.py", 9, None, "PORT"),
        ],
    )


def _mismatch() -> tuple[Evidence, SourceFacts]:
    return evidence({"w": {}, "b": {}}), _endpoint_facts()


def _missing_env() -> tuple[Evidence, SourceFacts]:
    facts = SourceFacts(env_reads=[env_read("a", "TOKEN", None, "a.py", 2, required=True)])
    return evidence({"a": {}}), facts


def _bind_localhost() -> tuple[Evidence, SourceFacts]:
    return (
        evidence(
            {"a": {"ports": ["8000:8000"]}},
            [container("p-a-1", "a", lines=logs("Uvicorn running on http://127.0.0.1:8000"))],
        ),
        SourceFacts(),
    )


def _port() -> tuple[Evidence, SourceFacts]:
    return (
        evidence(
            {"a": {}},
            [
                container(
                    "p-a-1", "a", error="Bind for 0.0.0.0:80 failed: port is already allocated"
                )
            ],
        ),
        SourceFacts(),
    )


def _healthcheck() -> tuple[Evidence, SourceFacts]:
    return (
        evidence(
            {"a": {"healthcheck": CHECK}},
            [
                container(
                    "p-a-1",
                    "a",
                    health="unhealthy",
                    health_log=[probe(7, "curl: (7) Failed to connect")],
                )
            ],
            [SourceFile("a", "a.py", "x = 1\n")],
        ),
        SourceFacts(),
    )


def _traceback(last: str) -> Callable[[], tuple[Evidence, SourceFacts]]:
    def build() -> tuple[Evidence, SourceFacts]:
        lines = logs(
            "Traceback (most recent call last):", '  File "/usr/lib/x.py", line 1, in f', last
        )
        return evidence({"a": {}}, [container("p-a-1", "a", lines=lines)]), SourceFacts()

    return build


def _state(**fields: object) -> Callable[[], tuple[Evidence, SourceFacts]]:
    def build() -> tuple[Evidence, SourceFacts]:
        return evidence(
            {"a": {}}, [container("p-a-1", "a", lines=logs("bye"), **fields)]
        ), SourceFacts()

    return build


def _log(line: str) -> Callable[[], tuple[Evidence, SourceFacts]]:
    """Evidence where service `a` logs `line`; `db` exists beside it."""

    def build() -> tuple[Evidence, SourceFacts]:
        return evidence(
            {"a": {}, "db": {}}, [container("p-a-1", "a", lines=logs(line))]
        ), SourceFacts()

    return build


def _service_log(
    services: dict[str, dict[str, object]], service: str, *lines: str, **fields: object
) -> Callable[[], tuple[Evidence, SourceFacts]]:
    def build() -> tuple[Evidence, SourceFacts]:
        built = evidence(
            services, [container(f"p-{service}-1", service, lines=logs(*lines), **fields)]
        )
        return built, SourceFacts()

    return build


def _compose_unset() -> tuple[Evidence, SourceFacts]:
    built = evidence({"db": {"environment": {"POSTGRES_PASSWORD": ""}}})
    built.compose_texts = {
        f"{PROJECT_DIR}/compose.yaml": "services:\n  db:\n    environment:\n"
        "      POSTGRES_PASSWORD: ${DB_PASSWORD}\n"
    }
    return built, SourceFacts()


def _slow_start() -> tuple[Evidence, SourceFacts]:
    check = {
        "test": ["CMD", "curl", "-f", "http://localhost:8080/"],
        "interval": "5s",
        "retries": 3,
    }
    lines = logs((0.0, "Starting"), (95.0, "Started App in 95.0 seconds"))
    built = evidence(
        {"app": {"healthcheck": check}},
        [
            container(
                "p-app-1",
                "app",
                health="unhealthy",
                lines=lines,
                health_log=[probe(7, "curl: (7) Failed to connect", 20.0)],
            )
        ],
    )
    return built, SourceFacts()


def _timeout() -> tuple[Evidence, SourceFacts]:
    check = {"test": ["CMD", "curl", "-f", "http://localhost:8080/"], "timeout": "1s"}
    built = evidence(
        {"app": {"healthcheck": check}},
        [
            container(
                "p-app-1",
                "app",
                health="unhealthy",
                health_log=[probe(-1, "Health check exceeded timeout (1s)")],
            )
        ],
    )
    return built, SourceFacts()


_DB = {"image": "postgres:16", "environment": {"POSTGRES_USER": "app", "POSTGRES_DB": "app"}}


TRIGGERS: dict[str, Callable[[], tuple[Evidence, SourceFacts]]] = {
    "STARTUP_HANG": _hang,
    "DEPENDENCY_NOT_READY": _dependency,
    "EXEC_FORMAT_ERROR": _exec_format,
    "ENTRYPOINT_CRLF": _crlf,
    "ENDPOINT_MISMATCH": _mismatch,
    "MISSING_ENV": _missing_env,
    "BIND_LOCALHOST": _bind_localhost,
    "PORT_ALREADY_ALLOCATED": _port,
    "HEALTHCHECK_MISCONFIGURED": _healthcheck,
    "PYTHON_EXCEPTION": _traceback("ValueError: bad value"),
    "KEY_ERROR": _traceback("KeyError: 'price'"),
    "MISSING_ATTRIBUTE": _traceback("AttributeError: 'Repo' object has no attribute 'save'"),
    "MODULE_NOT_FOUND": _traceback("ModuleNotFoundError: No module named 'yaml'"),
    "OOM_KILLED": _state(state="exited", exit_code=137, oom_killed=True),
    "SIGNAL_KILLED": _state(state="exited", exit_code=137),
    "RESTART_LOOP": _state(state="restarting", restart_count=4, exit_code=1),
    "CRASH_EXIT": _state(state="exited", exit_code=2),
    "CONNECTION_REFUSED": _log("could not connect to server: Connection refused to db:5432"),
    "PERMISSION_DENIED": _log("PermissionError: [Errno 13] Permission denied: '/data/x'"),
    "COMPOSE_VARIABLE_UNSET": _compose_unset,
    "CONFIG_FILE_NOT_FOUND": _log(
        "FileNotFoundError: [Errno 2] No such file or directory: '/app/config.yaml'"
    ),
    "HOST_NOT_RESOLVED": _service_log(
        {"api": {}, "db": {}}, "api", 'could not translate host name "postgres" to address'
    ),
    "LOCALHOST_PEER": _service_log(
        {"api": {}, "db": {"image": "postgres:16"}}, "api", "connect ECONNREFUSED 127.0.0.1:5432"
    ),
    "PORT_NOT_LISTENING": lambda: (
        evidence(
            {"api": {}, "cache": {"image": "redis:7"}},
            [
                container("p-api-1", "api", lines=logs("Error 111 connecting to cache:6380.")),
                container("p-cache-1", "cache"),
            ],
        ),
        SourceFacts(),
    ),
    "TLS_CERTIFICATE_ERROR": _log("x509: certificate signed by unknown authority"),
    "SLOW_START": _slow_start,
    "HEALTHCHECK_TIMEOUT": _timeout,
    "ENTRYPOINT_NOT_EXECUTABLE": _log("exec /docker-entrypoint.sh: permission denied"),
    "BIND_MOUNT_SOURCE_MISSING": _service_log(
        {"web": {"volumes": ["./nginx.conf:/etc/nginx/nginx.conf:ro"]}},
        "web",
        'pread() "/etc/nginx/nginx.conf" failed (21: Is a directory)',
    ),
    "DISK_FULL": _log("OSError: [Errno 28] No space left on device"),
    "NODE_MODULE_NOT_FOUND": _log("Error: Cannot find module 'express'"),
    "NODE_EXCEPTION": _service_log(
        {"a": {}},
        "a",
        "TypeError: Cannot read properties of undefined (reading 'id')",
        "    at handler (/app/server.js:12:9)",
    ),
    "JAVA_EXCEPTION": _service_log(
        {"a": {}},
        "a",
        'Exception in thread "main" java.lang.IllegalStateException: no config',
        "\tat com.example.App.main(App.java:10)",
    ),
    "GO_PANIC": _service_log(
        {"a": {}},
        "a",
        "panic: runtime error: index out of range [3] with length 3",
        "",
        "goroutine 1 [running]:",
        "main.main()",
        "\t/src/main.go:12 +0x1d",
    ),
    "DB_AUTH_FAILED": _service_log(
        {"api": {}, "db": _DB}, "api", 'FATAL:  password authentication failed for user "app"'
    ),
    "DATABASE_MISSING": _service_log(
        {"api": {}, "db": _DB}, "api", 'FATAL:  database "orders" does not exist'
    ),
    "TABLE_MISSING": _log('psycopg2.errors.UndefinedTable: relation "users" does not exist'),
    "REDIS_AUTH_FAILED": _log(
        "redis.exceptions.AuthenticationError: NOAUTH Authentication required."
    ),
    "DATA_DIR_INCOMPATIBLE": _service_log(
        {"db": _DB},
        "db",
        "FATAL:  database files are incompatible with server",
        "DETAIL:  The data directory was initialized by PostgreSQL version 13, which is not"
        " compatible with this version 16.2.",
    ),
}


def test_every_registered_code_has_a_trigger() -> None:
    assert set(TRIGGERS) == set(CODES)


@pytest.mark.parametrize("code", CODES)
def test_summary_fields_exist_in_facts_the_pattern_produces(code: str) -> None:
    built, facts = TRIGGERS[code]()
    findings = pattern_by_code(code).match(context(built, facts))
    assert findings, f"{code} did not match its trigger"
    for finding in findings:
        assert finding.code == code
        fields = template_fields(catalogue("en")[f"finding.{code}"]) - {"service"}
        assert fields <= set(finding.facts), fields - set(finding.facts)
        assert "{" not in finding.summary
        assert 0.0 <= finding.confidence <= 1.0


class _Broken:
    code: ClassVar[str] = "BROKEN"
    summary: ClassVar[str] = "always raises"
    category: ClassVar[Category] = Category.RUNTIME

    def match(self, context: AnalysisContext) -> list[Finding]:
        raise RuntimeError("boom")


def test_failing_pattern_becomes_warning_and_others_still_run() -> None:
    built, facts = _state(state="exited", exit_code=2)()
    findings, warnings = run_patterns(
        context(built, facts), [_Broken(), pattern_by_code("CRASH_EXIT")]
    )
    assert [f.code for f in findings] == ["CRASH_EXIT"]
    assert warnings == ["pattern BROKEN failed: RuntimeError: boom"]


def test_all_patterns_on_empty_evidence_find_nothing() -> None:
    empty = Evidence("p", PROJECT_DIR, [], {"services": {}})
    findings, warnings = run_patterns(context(empty))
    assert findings == []
    assert warnings == []


@pytest.mark.parametrize("pattern", ALL_PATTERNS, ids=CODES)
def test_pattern_declares_the_evidence_kinds_it_reads(pattern: object) -> None:
    reads = pattern.reads
    assert isinstance(reads, frozenset)
    assert reads
    assert reads <= set(EVIDENCE_KINDS)


def test_registry_covers_every_family_of_faults() -> None:
    families = {
        "configuration": {
            "MISSING_ENV",
            "COMPOSE_VARIABLE_UNSET",
            "CONFIG_FILE_NOT_FOUND",
            "HOST_NOT_RESOLVED",
            "LOCALHOST_PEER",
            "BIND_LOCALHOST",
            "PORT_ALREADY_ALLOCATED",
            "PORT_NOT_LISTENING",
        },
        "startup": {"DEPENDENCY_NOT_READY", "STARTUP_HANG", "SLOW_START", "RESTART_LOOP"},
        "healthcheck": {"HEALTHCHECK_MISCONFIGURED", "HEALTHCHECK_TIMEOUT"},
        "runtime": {
            "OOM_KILLED",
            "SIGNAL_KILLED",
            "EXEC_FORMAT_ERROR",
            "ENTRYPOINT_CRLF",
            "ENTRYPOINT_NOT_EXECUTABLE",
            "PERMISSION_DENIED",
            "BIND_MOUNT_SOURCE_MISSING",
            "DISK_FULL",
            "TLS_CERTIFICATE_ERROR",
        },
        "application": {
            "PYTHON_EXCEPTION",
            "KEY_ERROR",
            "MISSING_ATTRIBUTE",
            "MODULE_NOT_FOUND",
            "NODE_MODULE_NOT_FOUND",
            "NODE_EXCEPTION",
            "JAVA_EXCEPTION",
            "GO_PANIC",
            "DB_AUTH_FAILED",
            "DATABASE_MISSING",
            "DATA_DIR_INCOMPATIBLE",
            "TABLE_MISSING",
            "REDIS_AUTH_FAILED",
            "CONNECTION_REFUSED",
        },
    }
    for family, codes in families.items():
        assert codes <= set(CODES), f"{family}: {codes - set(CODES)}"
