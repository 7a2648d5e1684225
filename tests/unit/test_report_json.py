"""The JSON report: schema, computed summary, writing files and loading them back."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import run_builders as builders

from stackmedic.errors import StackmedicError
from stackmedic.model import RepairStatus, RunRecord, Verdict
from stackmedic.report.record_io import RecordFormatError
from stackmedic.report.render import (
    SCHEMA,
    load_run,
    render_html,
    render_json,
    render_markdown,
    write_reports,
)

SCENARIOS = sorted(builders.ALL_SCENARIOS.items())


def test_schema_comes_first_then_record_then_summary() -> None:
    run = builders.run_with_remaining_problems()

    document = json.loads(render_json(run))
    keys = list(document)

    assert keys[0] == "schema"
    assert document["schema"] == SCHEMA == "stackmedic.report/v1"
    assert keys[1:-1] == list(run.to_dict())
    assert keys[-1] == "summary"


def test_summary_counts_final_checks_and_repairs() -> None:
    summary = json.loads(render_json(builders.run_with_remaining_problems()))["summary"]

    assert summary["checks_run"] == 3
    assert summary["checks_passed"] == 1
    assert summary["checks_failed"] == 2
    assert summary["success_rate"] == pytest.approx(1 / 3)
    assert summary["checks_cycle"] == 1
    assert summary["baseline_checks_run"] == 2
    assert summary["baseline_checks_passed"] == 1
    assert summary["cycles_run"] == 2
    assert summary["max_cycles"] == 3
    assert summary["duration_seconds"] == 252.0
    assert summary["findings_fixed"] == 3
    assert summary["findings_remaining"] == 3
    assert summary["remaining_by_fixability"] == {"compose": 1, "code": 2, "human": 0}
    assert summary["repairs_by_status"] == {
        "proposed": 0,
        "planned": 0,
        "applied": 2,
        "rejected": 2,
        "rolled_back": 0,
    }
    assert summary["code_fault_locations"] == ["tacore/api.py:41", "tacore/main.py:88"]
    assert summary["root_cause_ids"] == ["F001", "F002", "F003"]


def test_success_rate_is_null_without_checks() -> None:
    summary = json.loads(render_json(builders.run_without_checks()))["summary"]

    assert summary["checks_run"] == 0
    assert summary["success_rate"] is None
    assert summary["checks_cycle"] is None


def test_success_rate_ignores_container_health() -> None:
    summary = json.loads(render_json(builders.healthy_containers_failing_checks()))["summary"]

    assert summary["success_rate"] == 0.0


def test_unfinished_run_has_null_duration() -> None:
    run = builders.healthy_run()
    run.finished_at = ""

    summary = json.loads(render_json(run))["summary"]

    assert summary["duration_seconds"] is None


@pytest.mark.parametrize(("name", "build"), SCENARIOS)
def test_json_round_trips_to_equal_record(
    name: str, build: Callable[[], RunRecord], tmp_path: Path
) -> None:
    run = build()

    write_reports(run, tmp_path, "en")
    loaded = load_run(tmp_path)

    assert loaded == run, name
    assert isinstance(loaded.verdict, Verdict)
    assert all(
        isinstance(repair.status, RepairStatus)
        for cycle in loaded.cycles
        for repair in cycle.repairs
    )


def test_loaded_run_renders_the_same_report(tmp_path: Path) -> None:
    run = builders.run_with_remaining_problems()
    write_reports(run, tmp_path, "zh-CN")

    loaded = load_run(tmp_path / "report.json")

    # `stackmedic report` passes the run folder, as write_reports does.
    folder = tmp_path.resolve()
    assert render_markdown(loaded, "zh-CN", folder) == (tmp_path / "report.md").read_text(encoding="utf-8")
    assert render_json(loaded) == (tmp_path / "report.json").read_text(encoding="utf-8")
    assert render_html(loaded, "zh-CN", folder) == (tmp_path / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_write_reports_creates_all_three_files(lang: str, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "20261204"

    paths = write_reports(builders.healthy_run(), run_dir, lang)

    assert paths == [run_dir / "report.md", run_dir / "report.json", run_dir / "report.html"]
    assert sorted(os.listdir(run_dir)) == ["report.html", "report.json", "report.md"]
    markdown = paths[0].read_text(encoding="utf-8")
    assert ("执行摘要" in markdown) == (lang == "zh-CN")
    assert json.loads(paths[1].read_text(encoding="utf-8"))["schema"] == SCHEMA
    page = paths[2].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert f'<html lang="{lang}">' in page
    assert ("执行摘要" in page) == (lang == "zh-CN")


def test_write_reports_replaces_previous_files(tmp_path: Path) -> None:
    write_reports(builders.run_with_remaining_problems(), tmp_path, "en")

    write_reports(builders.healthy_run(), tmp_path, "en")

    assert load_run(tmp_path) == builders.healthy_run()
    assert sorted(os.listdir(tmp_path)) == ["report.html", "report.json", "report.md"]


def test_json_keeps_chinese_text_unescaped() -> None:
    run = builders.healthy_run()
    run.plan_name = "工作进程修复"

    assert '"plan_name": "工作进程修复"' in render_json(run)


def test_load_run_reports_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RecordFormatError, match="run record not found") as raised:
        load_run(tmp_path)

    assert isinstance(raised.value, StackmedicError)
    assert raised.value.hint


def test_load_run_reports_invalid_json_with_position(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text('{"schema": "stackmedic.report/v1",\n  oops}')

    with pytest.raises(RecordFormatError, match=r"report\.json:2:3: invalid JSON"):
        load_run(tmp_path)


def test_load_run_rejects_other_documents(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text('{"name": "something else"}')

    with pytest.raises(RecordFormatError, match="not a stackmedic report"):
        load_run(tmp_path)


def test_load_run_rejects_newer_schema_version(tmp_path: Path) -> None:
    document = json.loads(render_json(builders.healthy_run()))
    document["schema"] = "stackmedic.report/v2"
    (tmp_path / "report.json").write_text(json.dumps(document))

    with pytest.raises(RecordFormatError, match="schema stackmedic.report/v2 is not supported"):
        load_run(tmp_path)


def test_load_run_names_path_of_missing_field(tmp_path: Path) -> None:
    document = json.loads(render_json(builders.healthy_run()))
    del document["cycles"][0]["checks"][1]["passed"]
    (tmp_path / "report.json").write_text(json.dumps(document))

    with pytest.raises(RecordFormatError, match=r"run\.cycles\[0\]\.checks\[1\]\.passed: required"):
        load_run(tmp_path)


def test_load_run_ignores_fields_it_does_not_know(tmp_path: Path) -> None:
    document = json.loads(render_json(builders.healthy_run()))
    document["added_in_a_later_version"] = {"x": 1}
    document["cycles"][0]["also_new"] = []
    (tmp_path / "report.json").write_text(json.dumps(document))

    assert load_run(tmp_path) == builders.healthy_run()


def test_report_header_names_run_folder_and_rollback(tmp_path: Path) -> None:
    run = builders.run_with_remaining_problems()
    run_dir = tmp_path / "run"

    write_reports(run, run_dir, "en")

    text = (run_dir / "report.md").read_text(encoding="utf-8")
    assert f"| Run folder | `{run_dir.resolve()}` |" in text
    expected = (
        f"stackmedic rollback run --project-dir {run.project_dir} "
        f"--runs-dir {tmp_path.resolve()}"
    )
    assert f"| Undo this run's file changes | `{expected}` |" in text
    assert str(run_dir.resolve()) in (run_dir / "report.html").read_text(encoding="utf-8")


def test_rollback_command_omits_default_runs_dir(tmp_path: Path) -> None:
    run = builders.run_with_remaining_problems()
    run.project_dir = str(tmp_path)
    run_dir = tmp_path / ".stackmedic" / "runs" / run.run_id

    write_reports(run, run_dir, "en")

    text = (run_dir / "report.md").read_text(encoding="utf-8")
    assert f"`stackmedic rollback {run.run_id} --project-dir {tmp_path}`" in text
    assert "--runs-dir" not in text


def test_dry_run_report_offers_no_rollback(tmp_path: Path) -> None:
    write_reports(builders.dry_run(), tmp_path / "run", "en")

    assert "stackmedic rollback" not in (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
