"""Check details, repair reasons and predictions, warnings and repeated evidence in the reports."""

from __future__ import annotations

import json
from pathlib import Path

import run_builders as builders

from stackmedic.i18n import message_text
from stackmedic.model import (
    CheckResult,
    EvidenceRef,
    Finding,
    Message,
    RunRecord,
    english_text,
    join_messages,
    message,
)
from stackmedic.report import summary
from stackmedic.report.render import load_run, render_html, render_json, render_markdown

WORKER = builders.WORKER
PATH = "tacore/worker.py:22"


def check_with_message(name: str, passed: bool, key: str, **params: object) -> CheckResult:
    detail = english_text(key, **params)
    return CheckResult(name, "http", passed, str(detail), builders.at(70),
                       detail_message=detail.message)


def run_with_stored_messages() -> RunRecord:
    """A rolled-back cycle whose checks, repairs and warnings keep their catalogue form."""
    run = builders.rolled_back_run()
    cycle = run.cycles[0]
    url = "http://tacoreservice:8080/api/workers"
    cycle.checks = [
        check_with_message("workers-api", False, "verify.check.http.unexpected_status",
                           method="GET", url=url, status=500, expected=200, body="{}"),
    ]
    run.baseline_checks = [
        check_with_message("workers-api", True, "verify.check.http.passed",
                           method="GET", url=url, status=200),
    ]

    healthcheck, host = cycle.repairs
    worse = message("verify.regression.check_fails", name="workers-api",
                    detail=cycle.checks[0].detail_message)
    healthcheck.set_reason(join_messages([worse], "report.reason.join"))
    healthcheck.prediction_message = message(
        "repair.prediction.env", name="TACORESERVICE_BACKEND_PORT", before="5555", after="5556"
    )
    healthcheck.prediction = healthcheck.prediction_message.text
    host.set_reason(message("report.reason.rolled_back_before", number=1, reasons=worse))

    run.warnings = []
    run.add_warning("report.warning.rollback_failed", number=1, error="permission denied")
    cycle.phases[1].notes.append(str(english_text(
        "report.analysis_warning.pattern_failed", code="RESTART_LOOP", error_type="ValueError",
        error="bad count",
    )))
    cycle.phases[1].note_messages.append(message(
        "report.analysis_warning.pattern_failed", code="RESTART_LOOP", error_type="ValueError",
        error="bad count",
    ))
    return run


# Chinese reports


def test_zh_check_detail_is_chinese_with_url_kept() -> None:
    text = render_markdown(run_with_stored_messages(), "zh-CN")

    assert "GET http://tacoreservice:8080/api/workers 返回 500，预期 200" in text
    assert "answered 500" not in text


def test_zh_rollback_reason_keeps_check_name() -> None:
    text = render_markdown(run_with_stored_messages(), "zh-CN")

    assert "检查 workers-api 之前通过，现在失败：GET http://tacoreservice:8080/api/workers 返回 500" in text
    assert "已在第 1 轮回滚：检查 workers-api 之前通过" in text
    assert "passed before and now fails" not in text


def test_zh_prediction_is_chinese_with_variable_kept() -> None:
    run = run_with_stored_messages()
    expected = message_text(run.cycles[0].repairs[0].prediction_message, "zh-CN")

    text = render_markdown(run, "zh-CN")

    assert "TACORESERVICE_BACKEND_PORT" in expected
    assert expected != run.cycles[0].repairs[0].prediction
    assert expected in text


def test_zh_warning_and_analysis_note_are_chinese() -> None:
    text = render_markdown(run_with_stored_messages(), "zh-CN")

    assert "第 1 轮无法回滚：permission denied" in text
    assert "模式 RESTART_LOOP 运行失败：ValueError: bad count" in text


def test_zh_html_translates_detail_and_reason() -> None:
    page = render_html(run_with_stored_messages(), "zh-CN")

    assert "GET http://tacoreservice:8080/api/workers 返回 500" in page
    assert "已在第 1 轮回滚" in page
    assert "rolled back in cycle" not in page


def test_en_report_shows_english_text_of_messages() -> None:
    text = render_markdown(run_with_stored_messages(), "en")

    assert "GET http://tacoreservice:8080/api/workers answered 500, expected 200" in text
    assert "rolled back in cycle 1: check workers-api passed before and now fails" in text


def test_text_without_message_shown_as_written_in_zh() -> None:
    run = run_with_stored_messages()
    run.cycles[0].checks[0].detail_message = None
    run.cycles[0].checks[0].detail = "custom probe said no"

    text = render_markdown(run, "zh-CN")

    assert "custom probe said no" in text


def test_recommendation_nests_repair_reason_message() -> None:
    run = run_with_stored_messages()
    from stackmedic.report.localize import repair_not_applied_message

    recommendation = repair_not_applied_message(run.cycles[0].repairs[1])

    assert "rolled back in cycle 1" in recommendation.text
    assert "已在第 1 轮回滚" in message_text(recommendation, "zh-CN")


# Records written before the message fields


def old_record_file(tmp_path: Path) -> Path:
    """Write report.json of the stored-messages run with every new message field removed."""
    document = json.loads(render_json(run_with_stored_messages()))
    for check in document["baseline_checks"]:
        del check["detail_message"]
    for cycle in document["cycles"]:
        for check in cycle["checks"] + cycle["rollback_checks"]:
            del check["detail_message"]
        for repair in cycle["repairs"]:
            del repair["reason_message"]
            del repair["prediction_message"]
        for finding in cycle["findings"] + cycle["log_findings"]:
            for repair in finding["repairs"]:
                repair.pop("reason_message", None)
                repair.pop("prediction_message", None)
    for finding in document["fixed"] + document["remaining"]:
        for repair in finding["repairs"]:
            repair.pop("reason_message", None)
            repair.pop("prediction_message", None)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_old_record_without_message_fields_loads(tmp_path: Path) -> None:
    run = load_run(old_record_file(tmp_path))

    assert run.cycles[0].checks[0].detail_message is None
    assert run.cycles[0].repairs[0].reason_message is None
    assert run.cycles[0].repairs[0].prediction_message is None


def test_old_record_renders_details_as_written(tmp_path: Path) -> None:
    run = load_run(old_record_file(tmp_path))

    text = render_markdown(run, "zh-CN")
    page = render_html(run, "zh-CN")

    assert "GET http://tacoreservice:8080/api/workers answered 500, expected 200" in text
    assert "rolled back in cycle 1" in text
    assert "answered 500" in page


def test_message_fields_survive_json_round_trip(tmp_path: Path) -> None:
    run = run_with_stored_messages()
    (tmp_path / "report.json").write_text(render_json(run), encoding="utf-8")

    loaded = load_run(tmp_path)

    assert loaded.cycles[0].checks[0].detail_message == run.cycles[0].checks[0].detail_message
    assert loaded.cycles[0].repairs[1].reason_message == run.cycles[0].repairs[1].reason_message
    assert render_markdown(loaded, "zh-CN") == render_markdown(run, "zh-CN")


# Repeated evidence


def ref(origin: str, text: str, timestamp: str | None, line: int | None = None,
        kind: str = "health") -> EvidenceRef:
    return EvidenceRef(kind, origin, text, line, timestamp)


PROBE = "exit 1: Traceback (most recent call last):\nOSError: [Errno 99] Cannot assign"


def test_repeated_probe_output_grouped_with_count_and_span() -> None:
    refs = [
        ref("w-1", PROBE, "2026-12-04T20:30:20.000+00:00"),
        ref("w-2", PROBE, "2026-12-04T20:30:50.000+00:00"),
        ref("w-1", PROBE, "2026-12-04T20:30:05.000+00:00"),
    ]

    (group,) = summary.group_evidence(refs)

    assert group.count == 3
    assert group.origins == ["w-1", "w-2"]
    assert group.first_timestamp == "2026-12-04T20:30:05.000+00:00"
    assert group.last_timestamp == "2026-12-04T20:30:50.000+00:00"
    assert group.first is refs[0]


def test_different_texts_and_kinds_stay_separate_in_order() -> None:
    refs = [
        ref("w-1", "a", None, kind="log"),
        ref("w-1", "b", None, kind="log"),
        ref("w-1", "a", None, kind="health"),
        ref("w-1", "a", None, kind="log"),
    ]

    groups = summary.group_evidence(refs)

    assert [(g.first.kind, g.first.text, g.count) for g in groups] == [
        ("log", "a", 2),
        ("log", "b", 1),
        ("health", "a", 1),
    ]


def test_log_lines_differing_only_in_leading_time_grouped() -> None:
    refs = [
        ref("api-1", "2026-12-04 23:06:04,753 - ERROR - loop failed", "2026-12-04T23:06:04Z", 9,
            kind="log"),
        ref("api-1", "2026-12-04 23:06:09,758 - ERROR - loop failed", "2026-12-04T23:06:09Z", 10,
            kind="log"),
        ref("api-1", "2026-12-04 23:06:09,758 - ERROR - other", "2026-12-04T23:06:09Z", 11,
            kind="log"),
    ]

    groups = summary.group_evidence(refs)

    assert [g.count for g in groups] == [2, 1]
    assert groups[0].line is None
    assert groups[1].line == 11


def finding_with_repeats() -> Finding:
    finding = builders.vacuous_worker_healthcheck()
    finding.evidence = [
        ref(f"tacore-tacoreservice-worker-{n % 2 + 1}", PROBE, builders.at(10 + n))
        for n in range(12)
    ]
    return finding


def test_markdown_shows_repeated_probe_once_with_count() -> None:
    run = builders.run_without_checks()
    run.cycles[0].findings = [finding_with_repeats()]

    text = render_markdown(run, "en")

    assert text.count("OSError: [Errno 99] Cannot assign") == 1
    assert (
        "[health] tacore-tacoreservice-worker-1, tacore-tacoreservice-worker-2 "
        f"{builders.at(10)} … {builders.at(21)} × 12 | exit 1: Traceback" in text
    )


def test_html_shows_repeated_probe_once_with_count() -> None:
    run = builders.run_without_checks()
    run.cycles[0].findings = [finding_with_repeats()]

    page = render_html(run, "zh-CN")

    assert page.count("OSError: [Errno 99] Cannot assign") == 1
    assert 'data-count="12"' in page
    assert "× 12" in page


def test_json_keeps_every_repeated_item() -> None:
    run = builders.run_without_checks()
    run.cycles[0].findings = [finding_with_repeats()]

    document = json.loads(render_json(run))

    assert len(document["cycles"][0]["findings"][0]["evidence"]) == 12


def test_join_messages_translates_each_part_and_separator() -> None:
    parts = [
        message("verify.regression.service_crashes", service="api", containers="p-api-1"),
        Message("", {}, "free text"),
    ]

    joined = join_messages(parts, "report.reason.join")

    assert joined.text == "service api ran before and now crashes (p-api-1); free text"
    assert message_text(joined, "zh-CN") == "服务 api 之前在运行，现在崩溃（p-api-1）；free text"
