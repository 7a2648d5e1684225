"""Finding summaries leave out clauses whose value is unknown or zero, and count in the singular."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
from evidence_builders import container, evidence, logs, run

from stackmedic.model import Category, Finding, Fixability
from stackmedic.patterns.common import (
    HealthcheckSpec,
    last_record_line,
    no_summary_part,
    summary_for,
    summary_part,
    times_part,
)
from stackmedic.patterns.configuration import _env_values_part
from stackmedic.patterns.runtime import ConnectionRefused, CrashExit
from stackmedic.patterns.startup import _refused_part
from stackmedic.report.localize import finding_summary
from stackmedic.shell import shell_join


def finding_with(code: str, facts: dict[str, Any], service: str = "api") -> Finding:
    return Finding(
        id="F001", code=code, service=service, summary=summary_for(code, service, facts),
        confidence=0.9, category=Category.RUNTIME, fixable_by=Fixability.CODE, facts=facts,
    )


def missing_attribute_facts(closest: str | None) -> dict[str, Any]:
    return {
        "class_name": "DatabaseManager",
        "attribute": "record_metrics",
        "closest_method": closest,
        "closest_method_part": (
            summary_part("MISSING_ATTRIBUTE.summary.closest", method=closest)
            if closest is not None
            else no_summary_part()
        ),
    }


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_missing_attribute_omits_absent_closest(lang: str) -> None:
    finding = finding_with("MISSING_ATTRIBUTE", missing_attribute_facts(None))

    text = finding_summary(finding, lang)

    assert "-" not in text
    assert "closest" not in text
    assert "最接近" not in text
    assert text.endswith("define" if lang == "en" else "没有定义它")


@pytest.mark.parametrize(("lang", "clause"), [("en", " (closest method: record_metric)"),
                                              ("zh-CN", "（最接近的方法：record_metric）")])
def test_missing_attribute_names_closest_method(lang: str, clause: str) -> None:
    finding = finding_with("MISSING_ATTRIBUTE", missing_attribute_facts("record_metric"))

    assert finding_summary(finding, lang).endswith(clause)


def test_times_clause_singular_and_zero() -> None:
    assert times_part(1)["text"] == " (once)"
    assert times_part(3)["text"] == " (3 times)"
    assert times_part(0)["text"] == ""


def test_refused_clause_singular_and_zero() -> None:
    assert _refused_part(1)["text"] == " (1 connection error meanwhile)"
    assert _refused_part(2)["text"] == " (2 connection errors meanwhile)"
    assert _refused_part(0)["text"] == ""


def test_dependency_summary_without_refusals_ends_at_the_sentence() -> None:
    facts = {"dependencies": ["db"], "refused_lines": 0, "refused_part": _refused_part(0)}

    finding = finding_with("DEPENDENCY_NOT_READY", facts)

    assert finding.summary == "api does not wait for db to be ready before it starts"
    assert finding_summary(finding, "zh-CN") == "api 启动前没有等待 db 就绪"


def test_single_refused_connection_is_counted_once() -> None:
    built = evidence(
        {"app": {}, "db": {}},
        [
            container(
                "p-app-1",
                "app",
                lines=logs(
                    'psycopg2.OperationalError: connection to server at "db" (172.18.0.2), port 5432 '
                    "failed: Connection refused",
                ),
            ),
            container("p-db-1", "db", state="exited", exit_code=1),
        ],
    )

    [finding] = run(ConnectionRefused(), built)

    assert finding.summary == "app: connections to db:5432 (db) are refused (once)"
    assert finding_summary(finding, "zh-CN") == "app：到 db:5432（db）的连接被拒绝（1 次）"


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"code_default": "localhost", "proposed": "redis"}, " (code default: localhost; proposed: redis)"),
        ({"code_default": "localhost", "proposed": None}, " (code default: localhost)"),
        ({"code_default": None, "proposed": "redis"}, " (proposed: redis)"),
        ({"code_default": None, "proposed": None}, ""),
    ],
)
def test_missing_env_summary_names_only_known_values(facts: dict[str, Any], expected: str) -> None:
    facts = {"variable": "REDIS_HOST", **facts,
             "values_part": _env_values_part(facts["code_default"], facts["proposed"])}

    finding = finding_with("MISSING_ENV", facts)

    assert finding.summary == f"api: the environment variable REDIS_HOST is not set in compose{expected}"
    assert "-" not in finding_summary(finding, "zh-CN")


def test_crash_exit_last_line_skips_continuation_lines() -> None:
    built = evidence(
        {"job": {}},
        [
            container(
                "p-job-1",
                "job",
                state="exited",
                exit_code=1,
                lines=logs(
                    "2026-12-04 10:00:00 INFO starting",
                    "psycopg2.OperationalError: could not connect to server: Connection refused",
                    '\tIs the server running on host "db" (172.18.0.2) and accepting',
                    "\tTCP/IP connections on port 5432?",
                ),
            )
        ],
    )

    [finding] = run(CrashExit(), built)

    assert finding.facts["last_line"] == (
        "psycopg2.OperationalError: could not connect to server: Connection refused"
    )


def test_last_record_line_falls_back_to_last_line() -> None:
    only_continuations = container("p-job-1", "job", lines=logs("  first", "  second"))

    line = last_record_line(only_continuations)

    assert line is not None
    assert line.text == "  second"


def test_healthcheck_cmd_list_is_shell_quoted() -> None:
    spec = HealthcheckSpec(test=["CMD", "python", "-c", "import urllib.request; print(1)"])

    assert spec.quoted_command == "python -c 'import urllib.request; print(1)'"


def test_healthcheck_cmd_shell_is_shown_as_written() -> None:
    spec = HealthcheckSpec(test=["CMD-SHELL", "curl -f http://localhost/ || exit 1"])

    assert spec.quoted_command == "curl -f http://localhost/ || exit 1"


def test_healthcheck_argument_with_single_quotes_uses_double_quotes() -> None:
    code = "import urllib.request; urllib.request.urlopen('http://localhost:8080/health', timeout=3)"
    spec = HealthcheckSpec(test=["CMD", "python", "-c", code])

    assert spec.quoted_command == f'python -c "{code}"'
    assert shlex.split(spec.quoted_command) == ["python", "-c", code]


@pytest.mark.parametrize("argument", ["it's $HOME", "it's \\n", 'say "it\'s"', "plain", "two words"])
def test_shell_join_reads_back_as_the_same_arguments(argument: str) -> None:
    assert shlex.split(shell_join(["echo", argument])) == ["echo", argument]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_permission_denied_omits_unknown_user_and_volume(lang: str) -> None:
    facts = {"path": "/data/app.db", "user_part": no_summary_part(), "volume_part": no_summary_part()}
    finding = finding_with("PERMISSION_DENIED", facts)

    text = finding_summary(finding, lang)

    assert text.endswith("/data/app.db" if lang == "en" else "权限被拒绝")
    assert "-" not in text.replace("/data/app.db", "")


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_host_not_resolved_names_only_what_is_known(lang: str) -> None:
    facts = {
        "host": "postgress",
        "intended_part": summary_part("HOST_NOT_RESOLVED.summary.intended", intended_service="postgres"),
        "variable_part": no_summary_part(),
    }
    finding = finding_with("HOST_NOT_RESOLVED", facts)

    text = finding_summary(finding, lang)

    assert text.endswith(" (meant: postgres)" if lang == "en" else "（应为：postgres）")
    assert ("set in" not in text) if lang == "en" else ("设置于" not in text)


@pytest.mark.parametrize(
    ("kind", "english", "chinese"),
    [
        ("unserved_port", "nothing in the container listens on port 8080", "容器内没有进程监听端口 8080"),
        ("unserved_path", "the service does not serve /health", "服务不提供 /health"),
        ("missing_program", "curl is not in the image", "镜像中没有 curl"),
        ("vacuous", "it passes whether or not the service works", "无论服务是否正常都会通过"),
    ],
)
def test_healthcheck_fault_kind_is_a_sentence(kind: str, english: str, chinese: str) -> None:
    part = summary_part(
        f"HEALTHCHECK_MISCONFIGURED.summary.{kind}", port=8080, path="/health", program="curl"
    )
    facts = {"probe": "curl -f http://localhost:8080/health", "probe_output": "x", "kind_part": part}
    finding = finding_with("HEALTHCHECK_MISCONFIGURED", facts)

    assert f"({english})" in finding_summary(finding, "en")
    assert f"（{chinese}）" in finding_summary(finding, "zh-CN")
    assert kind not in finding_summary(finding, "zh-CN")
