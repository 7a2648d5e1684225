"""Pattern recommendations, repair rationales and code patch texts in the report's language.

Patterns and the code patch rules store each sentence twice: the English text
(unchanged, so older readers of the record see what they always saw) and its
catalogue form, a `Message`. These tests check the catalogue keys the code
uses, the Chinese each pattern produces on the recorded cases, and that a
record written before the messages existed still renders.
"""

from __future__ import annotations

import ast
import json
import re
import string
import sys
from collections.abc import Iterator
from dataclasses import asdict
from importlib import resources
from pathlib import Path

import pytest

from stackmedic.analysis import analyse
from stackmedic.analysis.patches import propose_patches
from stackmedic.evidence.bundle import load_bundle
from stackmedic.i18n import Message, as_message, message_text, translate
from stackmedic.model import CycleRecord, Finding, RunRecord
from stackmedic.report import localize
from stackmedic.report.record_io import from_dict
from stackmedic.report.render import render

SOURCE = Path(__file__).resolve().parents[2] / "src" / "stackmedic"
CASES = Path(__file__).resolve().parents[1] / "cases"
LIVE = CASES / "tacoreservice-broken-live"
sys.path.insert(0, str(CASES))

import corpus

CJK = re.compile(r"[\u4e00-\u9fff]")
# Five or more lowercase English words in a row: an untranslated sentence.
ENGLISH_RUN = re.compile(r"\b[a-z]{2,}(?:[ ,]+[a-z]{2,}){4,}\b")
REPRESENTATIVE = (
    "ENDPOINT_MISMATCH",
    "STARTUP_HANG",
    "KEY_ERROR",
    "MISSING_ATTRIBUTE",
    "HEALTHCHECK_MISCONFIGURED",
    "DEPENDENCY_NOT_READY",
    "MISSING_ENV",
    "HOST_NOT_RESOLVED",
    "OOM_KILLED",
    "PORT_ALREADY_ALLOCATED",
    "TABLE_MISSING",
)


def load_catalogue(lang: str, name: str) -> dict[str, str]:
    path = resources.files("stackmedic").joinpath("messages", lang, name)
    return json.loads(path.read_text(encoding="utf-8"))


def fields_of(template: str) -> set[str]:
    return {name for _text, name, _spec, _conversion in string.Formatter().parse(template) if name}


def string_literals(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value


def used_pattern_keys() -> set[str]:
    """Return the `patterns.` keys named by string literals in the pattern and patch modules.

    A literal that ends with a dot is the start of a key completed at run
    time (`"...recommendation.image." + variant`) and is kept as a prefix.
    """
    shape = re.compile(r"^(?:patterns\.)?[A-Z][A-Z_]+\.[a-z_.]*$|^common\.[a-z_.]+$")
    files = [*SOURCE.glob("patterns/*.py"), SOURCE / "analysis" / "patches.py"]
    files += SOURCE.glob("analysis/patch_*.py")
    used: set[str] = set()
    for path in files:
        for literal in string_literals(path):
            if shape.match(literal):
                used.add(literal if literal.startswith("patterns.") else f"patterns.{literal}")
    used.add("patterns.sentences")
    return used


def used_patch_keys() -> set[str]:
    used: set[str] = set()
    for path in [SOURCE / "analysis" / "patches.py", *SOURCE.glob("analysis/patch_*.py")]:
        used.update(
            literal
            for literal in string_literals(path)
            if re.fullmatch(r"patch\.[a-z_.]+[a-z_]", literal)
        )
    return used


def untranslated_english(text: str, fields: list[str]) -> list[str]:
    """Return the runs of five or more lowercase English words in `text`.

    Field values (names, paths, log lines, commands), code in backticks and
    quoted text are removed first: they are never translated.
    """
    for value in sorted(fields, key=len, reverse=True):
        if value:
            text = text.replace(value, " ")
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\"[^\"]*\"|'[^']*'", " ", text)
    return ENGLISH_RUN.findall(text)


def field_values(form: Message | None) -> list[str]:
    """Return every plain field value of `form` and of the messages nested in it, as text."""
    if form is None:
        return []
    values: list[str] = []
    for value in form.params.values():
        nested = as_message(value)
        if nested is not None:
            values.extend(field_values(nested))
        elif value is not None and not isinstance(value, (dict, list)):
            values.append(str(value))
    return values


def analysed(directory: Path) -> list[Finding]:
    evidence = load_bundle(directory)
    result = analyse(evidence)
    propose_patches(result.findings, evidence, result.facts, "en")
    return result.findings


def record_of(findings: list[Finding]) -> RunRecord:
    record = RunRecord(
        run_id="run-1",
        plan_id="plan-1",
        plan_name="sample",
        project_dir="/work/project",
        project_name="sample",
        target_services=[],
        started_at="2026-01-01T00:00:00Z",
        stackmedic_version="0.0.0",
    )
    repairs = [repair for finding in findings for repair in finding.repairs]
    record.cycles.append(CycleRecord(number=1, findings=findings, repairs=repairs))
    record.remaining = list(findings)
    return record


@pytest.fixture(scope="module")
def corpus_findings() -> dict[str, list[Finding]]:
    return {directory.name: analysed(directory) for directory in corpus.case_dirs()}


# --- catalogues ---------------------------------------------------------------------


def test_pattern_catalogues_have_same_keys_and_fields() -> None:
    english = load_catalogue("en", "patterns.json")
    chinese = load_catalogue("zh-CN", "patterns.json")

    assert sorted(set(english) ^ set(chinese)) == []
    assert [key for key in english if fields_of(english[key]) != fields_of(chinese[key])] == []


def test_chinese_pattern_sentences_are_chinese() -> None:
    chinese = load_catalogue("zh-CN", "patterns.json")
    # A template that is only fields and punctuation has nothing to translate.
    worded = {
        key: template
        for key, template in chinese.items()
        if key.startswith("patterns.") and re.search(r"[A-Za-z]{3,}", _without_fields(template))
    }

    assert [key for key, template in worded.items() if not CJK.search(template)] == []


def _without_fields(template: str) -> str:
    return re.sub(r"\{[a-z_]+\}", "", template)


def test_used_pattern_keys_exist() -> None:
    english = load_catalogue("en", "patterns.json")
    chinese = load_catalogue("zh-CN", "patterns.json")

    for catalogue in (english, chinese):
        missing = [
            key
            for key in used_pattern_keys()
            if key not in catalogue
            and not (key.endswith(".") and any(name.startswith(key) for name in catalogue))
        ]
        assert missing == []


def test_catalogue_pattern_keys_are_used() -> None:
    used = used_pattern_keys()
    prefixes = tuple(key for key in used if key.endswith("."))
    sentences = [
        key for key in load_catalogue("en", "patterns.json") if key.startswith("patterns.")
    ]

    assert [key for key in sentences if key not in used and not key.startswith(prefixes)] == []


def test_used_patch_keys_exist() -> None:
    english = load_catalogue("en", "patches.json")
    chinese = load_catalogue("zh-CN", "patches.json")

    assert sorted(used_patch_keys() - set(english)) == []
    assert sorted(used_patch_keys() - set(chinese)) == []


# --- the sentences patterns write ---------------------------------------------------


def test_advice_keeps_its_message(
    corpus_findings: dict[str, list[Finding]],
) -> None:
    without: list[str] = []
    for case, findings in corpus_findings.items():
        for finding in findings:
            if finding.recommendation and finding.recommendation_message is None:
                without.append(f"{case}: {finding.code} recommendation")
            for repair in finding.repairs:
                if repair.rationale and repair.rationale_message is None:
                    without.append(f"{case}: {repair.id} rationale")

    assert without == []


def test_english_text_is_the_message_text(corpus_findings: dict[str, list[Finding]]) -> None:
    for findings in corpus_findings.values():
        for finding in findings:
            if finding.recommendation_message is not None:
                assert finding.recommendation == finding.recommendation_message.text
            for repair in finding.repairs:
                if repair.rationale_message is not None:
                    assert repair.rationale == repair.rationale_message.text


def test_chinese_advice_keeps_names(
    corpus_findings: dict[str, list[Finding]],
) -> None:
    seen: set[str] = set()
    for findings in corpus_findings.values():
        for finding in findings:
            if finding.code not in REPRESENTATIVE:
                continue
            seen.add(finding.code)
            chinese = localize.finding_recommendation(finding, "zh-CN")

            assert CJK.search(chinese), f"{finding.code}: {chinese}"
            if finding.service in finding.recommendation:
                assert finding.service in chinese, f"{finding.code}: {chinese}"
            for value in field_values(finding.recommendation_message):
                if value in finding.recommendation:
                    assert value in chinese, f"{finding.code}: {value!r} missing in {chinese}"
            for repair in finding.repairs:
                rationale = localize.repair_rationale(repair, "zh-CN")
                assert CJK.search(rationale), f"{repair.code}: {rationale}"
                for value in field_values(repair.rationale_message):
                    if value in repair.rationale:
                        assert value in rationale, f"{repair.code}: {value!r} missing"

    assert sorted(set(REPRESENTATIVE) - seen) == []


def test_chinese_corpus_advice_has_no_english(
    corpus_findings: dict[str, list[Finding]],
) -> None:
    leftovers: list[str] = []
    for case, findings in corpus_findings.items():
        for finding in findings:
            chinese = localize.finding_recommendation(finding, "zh-CN")
            fields = field_values(finding.recommendation_message)
            leftovers += [
                f"{case} {finding.code}: {run}" for run in untranslated_english(chinese, fields)
            ]
            for repair in finding.repairs:
                rationale = localize.repair_rationale(repair, "zh-CN")
                fields = field_values(repair.rationale_message)
                leftovers += [
                    f"{case} {repair.id}: {run}" for run in untranslated_english(rationale, fields)
                ]

    assert leftovers == []


def test_detector_flags_an_english_sentence() -> None:
    assert untranslated_english("请修改 services.api.environment：make the api wait for it", [])
    assert not untranslated_english("请设置 `make the api wait for it`", [])
    assert not untranslated_english('日志 "the api did not start in time" 之后', [])


# --- the recorded sample, rendered -------------------------------------------------


@pytest.fixture(scope="module")
def live_record() -> RunRecord:
    return record_of(analysed(LIVE))


def rendered_sentences(report: str, lang: str) -> list[str]:
    """Return the recommendation and rationale lines of a Markdown report."""
    labels = (
        f"**{translate('report.finding.recommendation', lang)}**:",
        f"- **{translate('report.repair.rationale', lang)}**:",
    )
    return [line for line in report.splitlines() if line.startswith(labels)]


def test_live_sample_chinese_report_no_english(live_record: RunRecord) -> None:
    report = render(live_record, "md", "zh-CN")
    fields: list[str] = []
    for finding in live_record.remaining:
        fields += field_values(finding.recommendation_message)
        fields += [
            value for repair in finding.repairs for value in field_values(repair.rationale_message)
        ]
    lines = rendered_sentences(report, "zh-CN")

    assert len(lines) >= len(live_record.remaining)
    assert [line for line in lines if not CJK.search(line.split(":", 1)[1])] == []
    assert [run for line in lines for run in untranslated_english(line, fields)] == []


def test_live_sample_english_report_unchanged(live_record: RunRecord) -> None:
    report = render(live_record, "md", "en")

    for finding in live_record.remaining:
        first_words = " ".join(finding.recommendation.split()[:4])
        assert first_words in report


def test_live_sample_chinese_html_translated(live_record: RunRecord) -> None:
    report = render(live_record, "html", "zh-CN")
    hang = next(f for f in live_record.remaining if f.code == "STARTUP_HANG")
    assert hang.recommendation_message is not None

    assert message_text(hang.recommendation_message, "zh-CN").split("：")[0] in report
    assert "never returns" not in report


def test_patch_title_rationale_follow_language(live_record: RunRecord) -> None:
    patches = [r for f in live_record.remaining for r in f.repairs if r.patch]
    assert patches

    for repair in patches:
        assert repair.title_message is not None
        assert CJK.search(localize.repair_title(repair, "zh-CN"))
        assert localize.repair_title(repair, "en") == repair.title
        assert CJK.search(localize.repair_rationale(repair, "zh-CN"))


def test_old_record_renders_as_written(live_record: RunRecord) -> None:
    data = live_record.to_dict()
    for finding in [*data["remaining"], *data["cycles"][0]["findings"]]:
        del finding["recommendation_message"]
        for repair in finding["repairs"]:
            del repair["rationale_message"]
            del repair["title_message"]
    for repair in data["cycles"][0]["repairs"]:
        del repair["rationale_message"]
        del repair["title_message"]

    old = from_dict(RunRecord, data)
    report = render(old, "md", "zh-CN")
    hang = next(f for f in old.remaining if f.code == "STARTUP_HANG")

    assert hang.recommendation_message is None
    assert hang.recommendation in report
    assert "never returns" in report


def test_record_round_trip_keeps_messages(live_record: RunRecord) -> None:
    loaded = from_dict(RunRecord, json.loads(json.dumps(live_record.to_dict())))

    for before, after in zip(live_record.remaining, loaded.remaining, strict=True):
        assert after.recommendation_message == before.recommendation_message
        assert localize.finding_recommendation(after, "zh-CN") == localize.finding_recommendation(
            before, "zh-CN"
        )


def test_recommendations_section_uses_pattern_advice(live_record: RunRecord) -> None:
    hang = next(f for f in live_record.remaining if f.code == "STARTUP_HANG")
    form = localize.finding_recommendation_message(hang)

    assert form == hang.recommendation_message
    assert asdict(form)["key"].startswith("patterns.")
