"""Sentences stored in the run record, shown in the report's language."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import run_builders as builders

from stackmedic import i18n
from stackmedic.model import ComposeEdit, Message, PhaseRecord, Repair, message
from stackmedic.report import localize
from stackmedic.report.render import load_run, render_html, render_markdown, write_reports


def test_message_helper_stores_english_text() -> None:
    note = message("report.note.collected", count=4)

    assert note == Message("report.note.collected", {"count": 4}, "collected 4 containers")


def test_message_helper_stores_nested_message_as_object() -> None:
    title = Message(
        "report.repair.title.set_env", {"service": "w", "name": "A", "value": "1"}, "Set A=1 for w"
    )

    outer = message("report.recommendation.repair_not_applied", title=title, reason="no effect")

    assert outer.params["title"] == asdict(title)
    assert outer.text == "Set A=1 for w: not applied (no effect)"


def test_add_note_keeps_text_and_message_together() -> None:
    phase = PhaseRecord("REPAIR-01", builders.at(0))

    phase.add_note("report.note.not_settled", timeout="120", containers="a, b")

    assert phase.notes == ["not settled after 120 s: a, b"]
    assert phase.note_messages[0].key == "report.note.not_settled"


def test_english_shows_the_stored_text() -> None:
    stored = Message("report.note.collected", {"count": 4}, "collected 4 containers (as written)")

    assert i18n.message_text(stored, "en") == "collected 4 containers (as written)"


def test_chinese_translates_key_with_params() -> None:
    assert (
        i18n.message_text(message("report.note.collected", count=4), "zh-CN")
        == "收集了 4 个容器"
    )


def test_nested_message_is_translated_first() -> None:
    rejected = builders.host_repair()
    recommendation = localize.repair_not_applied_message(rejected)

    text = i18n.message_text(recommendation, "zh-CN")

    assert text.startswith(
        "为 tacoreservice-worker 设置 TACORESERVICE_HOST=tacoreservice：未应用（"
    )
    assert recommendation.text == f"{rejected.title}: not applied ({rejected.reason})"


@pytest.mark.parametrize(
    "stored",
    [
        Message("report.no.such.key", {}, "kept as written"),
        Message("report.note.not_settled", {"timeout": "9"}, "kept as written"),
        Message("", {}, "kept as written"),
    ],
    ids=["unknown key", "missing field", "free text"],
)
def test_untranslatable_message_falls_back_to_text(stored: Message) -> None:
    assert i18n.message_text(stored, "zh-CN") == "kept as written"


def test_dict_shaped_param_is_read_as_message() -> None:
    loaded = {
        "key": "report.note.collected",
        "params": {"count": 2},
        "text": "collected 2 containers",
    }

    assert i18n.as_message(loaded) == Message(
        "report.note.collected", {"count": 2}, "collected 2 containers"
    )
    assert i18n.as_message({"key": "x"}) is None
    assert i18n.as_message("text") is None


def test_repair_titles_follow_the_compose_edit_in_chinese() -> None:
    port = builders.port_repair()
    depends = Repair(
        "R4",
        "F4",
        "DEPENDENCY_NOT_READY",
        "w",
        "Wait for redis to be healthy before starting w",
        edit=ComposeEdit(
            "set_depends_on_conditions", "w", {"conditions": {"redis": "service_healthy"}}
        ),
    )
    healthcheck = builders.healthcheck_repair()
    patch = Repair("R5", "F5", "KEY_ERROR", "api", "Patch tacore/api.py", patch="--- a\n+++ b\n")

    assert localize.repair_title(port, "zh-CN") == (
        "为 tacoreservice-worker 设置 TACORESERVICE_BACKEND_PORT=5556"
    )
    assert (
        localize.repair_title(depends, "zh-CN")
        == "让 w 在依赖满足条件后再启动：redis (service_healthy)"
    )
    assert localize.repair_title(healthcheck, "zh-CN") == (
        "将 tacoreservice-worker 的健康检查替换为 `python -m tacore.worker_health`"
    )
    assert localize.repair_title(patch, "zh-CN") == "Patch tacore/api.py"
    assert localize.repair_title(port, "en") == port.title


@pytest.mark.parametrize(
    ("test", "shown"),
    [
        (["CMD", "redis-cli", "ping"], "redis-cli ping"),
        (
            ["CMD", "python", "-c", "import urllib.request; print(1)"],
            "python -c 'import urllib.request; print(1)'",
        ),
        (
            ["CMD", "python", "-c", "open('/tmp/ready')"],
            "python -c \"open('/tmp/ready')\"",
        ),
        (
            ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
            "curl -f http://localhost/ || exit 1",
        ),
        ("pg_isready -U app", "pg_isready -U app"),
        (["NONE"], "NONE"),
        (None, "-"),
    ],
)
def test_healthcheck_test_shown_as_command(test: object, shown: str) -> None:
    assert localize.healthcheck_test_text(test) == shown


def test_finding_recommendation_quotes_the_translated_summary() -> None:
    finding = builders.key_error()

    recommendation = localize.finding_recommendation_message(finding)

    assert recommendation.text == finding.recommendation
    chinese = i18n.message_text(recommendation, "zh-CN")
    assert chinese.startswith("修复：")
    assert "last_seen" in chinese
    assert "workers" in chinese


def test_markdown_translates_notes_warnings_and_recommendations() -> None:
    run = builders.run_with_messages()

    chinese = render_markdown(run, "zh-CN")
    english = render_markdown(run, "en")

    assert "- 没有可以安全应用的修复了" in chinese
    assert "- 收集了 4 个容器" in chinese
    assert "- 计划中没有功能检查，只能验证容器状态" in chinese
    assert "修复：" in chinese
    assert "为 tacoreservice-worker 设置 TACORESERVICE_HOST=tacoreservice：未应用（" in chinese
    # A plain-text note has no catalogue form and stays as written.
    assert "- pattern RESTART_LOOP failed: ValueError: bad count" in chinese
    assert "- no repair left that can be applied safely" in english
    assert "Read row['last_heartbeat'] in tacore/api.py:41." in english
    assert "no repair left that can be applied safely" not in chinese


def test_html_translates_notes_warnings_and_recommendations() -> None:
    page = render_html(builders.run_with_messages(), "zh-CN")

    assert "<li>没有可以安全应用的修复了</li>" in page
    assert "<li>计划中没有功能检查，只能验证容器状态</li>" in page
    assert "no repair left that can be applied safely" not in page


def test_messages_survive_report_json(tmp_path: Path) -> None:
    run = builders.run_with_messages()
    write_reports(run, tmp_path, "en")

    loaded = load_run(tmp_path)

    assert loaded == run
    document = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert document["warning_messages"][0]["key"] == "report.warning.no_functional_checks"
    assert render_markdown(loaded, "zh-CN") == render_markdown(run, "zh-CN")


def test_record_without_message_fields_still_loads(tmp_path: Path) -> None:
    run = builders.run_with_remaining_problems()
    write_reports(run, tmp_path, "en")
    document = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    # A report.json written before the catalogue fields existed.
    del document["warning_messages"]
    for cycle in document["cycles"]:
        for phase in cycle["phases"]:
            del phase["note_messages"]
    for recommendation in document["recommendations"]:
        del recommendation["message"]
    (tmp_path / "report.json").write_text(json.dumps(document), encoding="utf-8")

    loaded = load_run(tmp_path)

    assert loaded == run
    assert "no repair left that can be applied safely" in render_markdown(loaded, "zh-CN")
