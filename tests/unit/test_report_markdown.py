"""The Markdown report: section order, language, formatting and counts."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest
import run_builders as builders

from stackmedic.errors import StackmedicError
from stackmedic.i18n import LANGUAGES, catalogue, translate
from stackmedic.model import Recommendation, RunRecord, Verdict
from stackmedic.report import localize, render
from stackmedic.report.render import render_markdown

SCENARIOS = sorted(builders.ALL_SCENARIOS.items())

# A raw catalogue key: `report.` followed by at least two more dotted parts.
RAW_KEY = re.compile(r"\breport\.[a-z_]+\.[a-z_.]+")

SECTION_KEYS = [
    "report.section.summary",
    "report.section.baseline",
    "report.section.log",
    "report.section.final",
    "report.final.fixed",
    "report.final.remaining",
    "report.final.root_causes",
    "report.section.recommendations",
    "report.section.conclusion",
]


def heading_positions(text: str, lang: str) -> list[int]:
    """Return the offset of each required section heading, in SECTION_KEYS order."""
    positions = []
    for key in SECTION_KEYS:
        match = re.search(rf"^#+ .*{re.escape(translate(key, lang))}$", text, re.MULTILINE)
        assert match is not None, f"heading {key} missing in {lang}"
        positions.append(match.start())
    return positions


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Return (info string, body) of every fenced code block in `text`."""
    blocks = []
    for match in re.finditer(r"^(`{3,})([\w-]*)\n(.*?)\n\1$", text, re.MULTILINE | re.DOTALL):
        blocks.append((match.group(2), match.group(3)))
    return blocks


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("name", "build"), SCENARIOS)
def test_sections_appear_in_required_order(
    name: str, build: Callable[[], RunRecord], lang: str
) -> None:
    text = render_markdown(build(), lang)

    assert text.startswith("# "), name
    positions = heading_positions(text, lang)
    assert positions == sorted(positions), name


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("name", "build"), SCENARIOS)
def test_output_has_no_raw_catalogue_keys(
    name: str, build: Callable[[], RunRecord], lang: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="stackmedic.report"):
        text = render_markdown(build(), lang)

    assert RAW_KEY.findall(text) == [], name
    assert not [r for r in caplog.records if "missing" in r.getMessage()], name


@pytest.mark.parametrize("lang", LANGUAGES)
def test_header_lists_run_metadata(lang: str) -> None:
    run = builders.run_with_remaining_problems()

    text = render_markdown(run, lang)
    header = text.split("\n## ", 1)[0]

    for value in (
        run.plan_id,
        run.plan_name,
        run.project_dir,
        run.run_id,
        run.engine_version,
        run.compose_version,
        "2026-12-04 20:30:00 UTC",
        "2026-12-04 20:34:12 UTC",
        "tacoreservice-worker",
    ):
        assert value in header, value


def test_zh_output_keeps_codes_services_and_paths_verbatim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pattern messages may mention a service once more in one language than
    # in the other, so this comparison uses the stored English summaries.
    def without_pattern_messages(lang: str) -> dict[str, str]:
        return {k: v for k, v in catalogue(lang).items() if not k.startswith("finding.")}

    monkeypatch.setattr(localize, "catalogue", without_pattern_messages)
    run = builders.run_with_remaining_problems()

    english = render_markdown(run, "en")
    chinese = render_markdown(run, "zh-CN")

    identifiers = {
        "ENDPOINT_MISMATCH",
        "STARTUP_HANG",
        "KEY_ERROR",
        "MISSING_ATTRIBUTE",
        "MISSING_ENV",
        "tacoreservice-worker",
        "tacore-tacoreservice-worker-2",
        "tacore/api.py:41",
        "tacore/main.py:88",
        "/app/tacore/api.py",
        "docker-compose.yml",
        "docker compose -p tacore up -d --build",
    }
    for identifier in identifiers:
        assert english.count(identifier) == chinese.count(identifier), identifier
        assert identifier in chinese, identifier
    assert "执行摘要" in chinese
    assert "诊断与修复日志" in chinese
    assert "Executive summary" not in chinese


@pytest.mark.parametrize("lang", LANGUAGES)
def test_diffs_are_inside_diff_fences(lang: str) -> None:
    run = builders.run_with_remaining_problems()

    text = render_markdown(run, lang)
    diff_bodies = [body for info, body in fenced_blocks(text) if info == "diff"]

    assert builders.BACKEND_PORT_DIFF.rstrip("\n") in diff_bodies
    assert builders.HEALTHCHECK_DIFF.rstrip("\n") in diff_bodies
    outside = re.sub(r"^(`{3,})[\w-]*\n.*?\n\1$", "", text, flags=re.MULTILINE | re.DOTALL)
    assert "+      - TACORESERVICE_BACKEND_PORT=5556" not in outside


def test_success_rate_counts_functional_checks_only() -> None:
    run = builders.healthy_containers_failing_checks()
    assert all(s.health == "healthy" for s in run.cycles[0].snapshots)

    text = render_markdown(run, "en")
    summary = text.split("### Key outcomes", 1)[0]

    assert "0/2 (0%)" in summary
    assert "100%" not in summary


def test_success_rate_shows_fraction_of_final_checks() -> None:
    text = render_markdown(builders.run_with_remaining_problems(), "en")

    assert "1/3 (33%) — from the functional checks of cycle 1" in text
    assert "1 of 3 functional checks pass." in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_zero_checks_show_not_applicable_rate(lang: str) -> None:
    run = builders.run_without_checks()

    text = render_markdown(run, lang)

    assert translate("report.summary.success_rate_none", lang) in text
    assert translate("report.conclusion.no_checks", lang) in text
    assert "%)" not in text


def test_rejected_repair_shows_its_reason_and_no_diff() -> None:
    text = render_markdown(builders.run_with_remaining_problems(), "en")

    assert (
        "##### R002 · Set TACORESERVICE_HOST=tacoreservice on tacoreservice-worker — ⚠️ rejected"
        in text
    )
    assert "- **Reason**: no effect: TACORESERVICE_HOST is already tacoreservice" in text
    # A repair rejected because it would change nothing is a correct
    # prediction, labelled apart from repairs that failed.
    assert "⚠️ **Rejected before applying: no effect**" in text
    assert "⚠️ **Repair rejected**" not in text
    # The same rejection in cycles 1 and 2 is one outcome naming both cycles.
    assert text.count("⚠️ **Rejected before applying: no effect**") == 1
    assert "— cycle 1, 2: no effect" in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_rolled_back_cycle_and_repair_are_flagged(lang: str) -> None:
    text = render_markdown(builders.rolled_back_run(), lang)

    assert f"⚠️ {translate('report.repair.status.rolled_back', lang)}" in text
    assert translate("report.outcome.repair_rolled_back", lang) in text
    assert translate("report.cycle.rolled_back", lang) in text
    assert translate("report.outcome.settle_timed_out", lang) in text
    waited = translate("report.unit.seconds", lang, value="60.0")
    assert translate("report.verify.settle_timed_out", lang, seconds=waited) in text
    assert translate("report.verdict.worse", lang) in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_dry_run_marks_planned_repairs_as_not_applied(lang: str) -> None:
    run = builders.dry_run()

    text = render_markdown(run, lang)

    assert translate("report.header.dry_run", lang) in text
    assert translate("report.repair.status.planned_dry_run", lang) in text
    assert translate("report.outcome.repair_planned_dry_run", lang) in text
    assert translate("report.conclusion.dry_run", lang) in text
    assert "✅ " + translate("report.repair.status.applied", lang) not in text
    assert builders.BACKEND_PORT_DIFF.rstrip("\n") in [b for _i, b in fenced_blocks(text)]


def test_finding_with_location_shows_path_line_and_snippet() -> None:
    text = render_markdown(builders.run_with_remaining_problems(), "en")

    assert "- **Source location**: `tacore/api.py:41` (in `list_workers`)" in text
    assert "path in the container: `/app/tacore/api.py`" in text
    assert ("python", builders.API_SNIPPET) in fenced_blocks(text)


def test_finding_without_location_says_not_located() -> None:
    text = render_markdown(builders.run_without_checks(), "en")

    finding = text.split("##### F004", 1)[1].split("\n## ", 1)[0]
    assert "- **Source location**: not located in the source" in finding


def test_evidence_lines_name_container_and_line_number() -> None:
    text = render_markdown(builders.run_with_remaining_problems(), "en")

    expected = (
        "[log] tacore-tacoreservice-1:7 2026-12-04T20:30:02.000+00:00 "
        "| ZMQ backend bound to tcp://*:5556 (workers)"
    )
    assert any(expected in body for info, body in fenced_blocks(text) if info == "")


def test_replica_lines_grouped_with_count() -> None:
    text = render_markdown(builders.run_with_remaining_problems(), "en")

    expected = (
        "[log] tacore-tacoreservice-worker-1, tacore-tacoreservice-worker-2:12 "
        "2026-12-04T20:30:03.000+00:00 × 2 | About to call worker.start()"
    )
    assert any(expected in body for info, body in fenced_blocks(text) if info == "")


def test_consequence_is_indented_under_its_cause() -> None:
    text = render_markdown(builders.run_with_remaining_problems(), "en")
    section = text.split("Root causes, in causal order", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.strip().startswith("- ")]

    cause = next(i for i, line in enumerate(lines) if "`ENDPOINT_MISMATCH`" in line)
    assert lines[cause].startswith("- ✅ ")
    assert lines[cause + 1].startswith("  - ✅ consequence: `STARTUP_HANG`")
    # MISSING_ENV shares the id F001 with ENDPOINT_MISMATCH but is not the cause.
    missing_env = next(i for i, line in enumerate(lines) if "`MISSING_ENV`" in line)
    assert not lines[missing_env + 1].startswith("  ")


def test_recommendations_are_grouped_high_medium_low() -> None:
    text = render_markdown(builders.run_with_remaining_problems(), "zh-CN")

    high = text.index("### 高优先级修复项")
    medium = text.index("### 中优先级改进项")
    low = text.index("### 低优先级事项")
    assert high < medium < low
    assert text.index("`tacore/api.py:41`", high) < medium


def test_conclusion_names_code_fault_locations() -> None:
    text = render_markdown(builders.run_with_remaining_problems(), "en")
    conclusion = text.split("## Conclusion", 1)[1]

    assert "2 code faults need a human: tacore/api.py:41, tacore/main.py:88." in conclusion
    assert "3 problems were fixed." in conclusion
    assert "The run used 2 of 3 cycles" in conclusion


def test_healthy_run_reports_everything_fixed() -> None:
    text = render_markdown(builders.healthy_run(), "en")

    assert "2/2 (100%)" in text
    assert "No problem remains." in text
    assert "❌" not in text.split("## Baseline checks", 1)[0]


def test_stop_reason_code_is_translated() -> None:
    run = builders.healthy_run()
    coded = render_markdown(run, "zh-CN")
    run.stop_reason = "cycle budget spent (3)"
    free = render_markdown(run, "zh-CN")

    assert "**停止原因**: 所有功能检查均已通过" in coded
    assert "**停止原因**: cycle budget spent (3)" in free


def test_phase_without_record_still_shows_its_content() -> None:
    run = builders.healthy_run()
    run.cycles[0].phases = [p for p in run.cycles[0].phases if p.name != "REPAIR-01"]

    text = render_markdown(run, "en")

    repair = text.index("#### REPAIR-01: Targeted repair")
    assert text.index("#### DIAGNOSE-02") < repair < text.index("#### VERIFY-01")
    assert "No phase record was kept" in text[repair:]
    assert "##### R001" in text[repair:]


def test_snapshots_grouped_by_phase() -> None:
    text = render_markdown(builders.healthy_run(), "en")
    cycle = text.split("### Cycle 1", 1)[1]
    evidence = cycle.split("#### DIAGNOSE-02", 1)[0]
    verify = cycle.split("#### VERIFY-01", 1)[1]

    assert (
        "| `tacore-tacoreservice-worker-1` | `tacoreservice-worker` | running | unhealthy |"
        in evidence
    )
    assert (
        "| `tacore-tacoreservice-worker-1` | `tacoreservice-worker` | running | healthy |" in verify
    )


def test_oom_killed_container_is_marked() -> None:
    run = builders.run_without_checks()
    run.cycles[0].snapshots[1].oom_killed = True
    run.cycles[0].snapshots[1].exit_code = 137

    text = render_markdown(run, "en")

    assert "| 137 | 0 | ❌ yes |" in text


def test_backticks_in_evidence_do_not_break_the_fence() -> None:
    run = builders.run_without_checks()
    run.cycles[0].findings[0].evidence[0].text = "```\nnot a fence\n```"

    text = render_markdown(run, "en")

    blocks = [body for _info, body in fenced_blocks(text) if "not a fence" in body]
    assert len(blocks) == 1
    assert blocks[0].count("```") == 2


def test_table_cells_escape_pipes_and_newlines() -> None:
    run = builders.healthy_containers_failing_checks()
    run.cycles[0].checks[0].detail = "a | b\nc"

    text = render_markdown(run, "en")

    assert "| a \\| b<br>c |" in text


def test_long_check_detail_is_cut_in_the_table() -> None:
    run = builders.healthy_containers_failing_checks()
    run.cycles[0].checks[0].detail = "x" * (render.MAX_CELL_CHARS + 50)

    text = render_markdown(run, "en")

    assert "x" * render.MAX_CELL_CHARS + " … (50 more characters in report.json)" in text
    assert "x" * (render.MAX_CELL_CHARS + 1) not in text


def test_pattern_message_fills_summary_in_report_language(monkeypatch: pytest.MonkeyPatch) -> None:
    messages = dict(catalogue("zh-CN"))
    messages["finding.KEY_ERROR"] = "{service} 读取键 {key}，但表 {table} 没有该列"
    monkeypatch.setattr(
        localize, "catalogue", lambda lang: messages if lang == "zh-CN" else catalogue(lang)
    )

    text = render_markdown(builders.run_with_remaining_problems(), "zh-CN")

    assert "tacoreservice 读取键 last_seen，但表 workers 没有该列" in text
    assert "tacore/api.py reads row['last_seen']" not in text


def test_unknown_message_field_uses_summary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    messages = dict(catalogue("zh-CN"))
    messages["finding.KEY_ERROR"] = "{service} 缺少 {not_a_fact}"
    monkeypatch.setattr(
        localize, "catalogue", lambda lang: messages if lang == "zh-CN" else catalogue(lang)
    )

    text = render_markdown(builders.run_with_remaining_problems(), "zh-CN")

    assert "{not_a_fact}" not in text
    assert "tacore/api.py reads row['last_seen']" in text


def test_verdicts_all_have_labels_in_both_languages() -> None:
    for lang in LANGUAGES:
        for verdict in Verdict:
            run = builders.healthy_run()
            run.verdict = verdict
            text = render_markdown(run, lang)
            assert translate(f"report.verdict.{verdict.value}", lang) in text


def test_unknown_language_is_rejected() -> None:
    with pytest.raises(StackmedicError, match="unknown report language 'fr'"):
        render_markdown(builders.healthy_run(), "fr")


def test_run_without_cycles_renders() -> None:
    run = builders.base_run()

    text = render_markdown(run, "en")

    assert "No cycle was run." in text
    assert "No functional check was run." in text
    assert "Nothing to report" in text


def test_warnings_are_part_of_the_summary() -> None:
    text = render_markdown(builders.run_with_remaining_problems(), "en")
    summary = text.split("## Executive summary", 1)[1].split("\n## ", 1)[0]

    assert "### ⚠️ Warnings" in summary
    assert "- pattern PORT_ALREADY_ALLOCATED failed: ValueError: bad port" in summary
    assert text.index("## Conclusion") > text.index("### ⚠️ Warnings")


def test_conclusion_is_the_last_section() -> None:
    text = render_markdown(builders.run_with_remaining_problems(), "en")

    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)

    assert headings[-1] == "Conclusion"


def test_rollback_checks_are_listed_and_counted() -> None:
    text = render_markdown(builders.crash_loop_run(), "en")

    assert "**Functional checks after the rollback**" in text
    assert "| 200 after the rollback |" in text
    assert "1/1 (100%) — from the functional checks run after cycle 1 was rolled back" in text
    assert (
        "- **Detection delay (from the engine's settle event until the wait noticed it)**: 0.2 s"
        in text
    )


def test_phase_lists_start_finish_and_duration() -> None:
    text = render_markdown(builders.healthy_run(), "en")

    assert "- **Started**: 2026-12-04 20:30:01 UTC" in text
    assert "- **Finished**: 2026-12-04 20:30:03 UTC (2.0 s)" in text


def test_recommendation_says_where_to_act() -> None:
    text = render_markdown(builders.run_with_remaining_problems(), "en")

    assert (
        "1. `KEY_ERROR` · `tacoreservice` · Read row['last_heartbeat'] in tacore/api.py:41. "
        "— where to act: `tacore/api.py:41`"
    ) in text


def test_chinese_repair_titles_come_from_the_edit() -> None:
    text = render_markdown(builders.run_with_remaining_problems(), "zh-CN")

    assert (
        "##### R001 · 为 tacoreservice-worker 设置 TACORESERVICE_BACKEND_PORT=5556 — ✅ 已应用"
        in text
    )
    assert "Set TACORESERVICE_BACKEND_PORT=5556 on tacoreservice-worker" not in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_effect_rejection_counted_apart_from_failed_repairs(lang: str) -> None:
    text = render_markdown(builders.run_with_remaining_problems(), lang)

    assert translate("report.conclusion.no_effect.one", lang, count=1) in text
    assert translate("report.conclusion.not_in_effect.one", lang, count=1) not in text


def test_finding_recommended_once_at_highest_priority() -> None:
    run = builders.run_with_remaining_problems()
    high = [r for r in run.recommendations if r.priority == "high" and r.code]
    assert high, "the builder must recommend at least one finding at high priority"
    run.recommendations.append(
        Recommendation(priority="low", text="Repair of the same finding: not applied",
                       code=high[0].code, service=high[0].service)
    )

    text = render_markdown(run, "en")

    assert "Repair of the same finding: not applied" not in text
