"""propose_patches on the recorded broken sample: ids, idempotence, failures, languages, planning."""

from __future__ import annotations

import json
import logging
import re
import string
from importlib import resources

import pytest
from evidence_builders import load_evidence

from stackmedic.analysis import AnalysisResult, analyse, patches
from stackmedic.analysis.patches import propose_patches
from stackmedic.evidence.model import Evidence
from stackmedic.model import Finding, Repair, RepairStatus
from stackmedic.repair import plan_repairs
from stackmedic.repair.code_patch import apply_file_patch, parse_patch

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def sample() -> tuple[Evidence, AnalysisResult]:
    built = load_evidence("tacoreservice_broken")
    return built, analyse(built)


def patches_by_code(findings: list[Finding]) -> dict[str, list[Repair]]:
    found: dict[str, list[Repair]] = {}
    for finding in findings:
        for repair in finding.repairs:
            if repair.patch:
                found.setdefault(finding.code, []).append(repair)
    return found


def test_sample_gets_one_patch_per_code_fault(sample: tuple[Evidence, AnalysisResult]) -> None:
    built, result = sample

    propose_patches(result.findings, built, result.facts)
    found = patches_by_code(result.findings)

    assert sorted(found) == ["KEY_ERROR", "MISSING_ATTRIBUTE", "STARTUP_HANG"]
    assert [r.files for r in found["KEY_ERROR"]] == [["tacore/api.py"]]
    assert [r.files for r in found["MISSING_ATTRIBUTE"]] == [["tacore/database.py"]]
    assert [r.files for r in found["STARTUP_HANG"]] == [["tacore/worker.py"]]


def test_sample_patches_apply_and_compile(sample: tuple[Evidence, AnalysisResult]) -> None:
    built, result = sample
    propose_patches(result.findings, built, result.facts)
    texts = {source.path: source.text for source in built.sources}

    for repairs in patches_by_code(result.findings).values():
        for file_patch in parse_patch(repairs[0].patch or ""):
            after = apply_file_patch(texts[file_patch.path], file_patch)
            compile(after, file_patch.path, "exec")
            assert after != texts[file_patch.path]


def test_patch_ids_are_unique_and_follow_existing(sample: tuple[Evidence, AnalysisResult]) -> None:
    built, result = sample
    hang = next(f for f in result.findings if f.code == "STARTUP_HANG")
    hang.repairs.append(
        Repair("P007", hang.id, hang.code, hang.service, "earlier patch", patch="x")
    )

    propose_patches(result.findings, built, result.facts)
    ids = [r.id for f in result.findings for r in f.repairs if r.patch and r.patch != "x"]

    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    assert min(ids) == "P008"


def test_second_call_adds_no_duplicate(sample: tuple[Evidence, AnalysisResult]) -> None:
    built, result = sample

    propose_patches(result.findings, built, result.facts)
    first = [(f.id, len(f.repairs), f.recommendation) for f in result.findings]
    propose_patches(result.findings, built, result.facts)

    assert [(f.id, len(f.repairs), f.recommendation) for f in result.findings] == first


def test_failing_rule_is_logged_and_others_go_on(
    sample: tuple[Evidence, AnalysisResult],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    built, result = sample

    def broken(finding: Finding, context: object) -> object:
        raise RuntimeError("rule bug")

    monkeypatch.setitem(patches.RULES, "KEY_ERROR", broken)
    with caplog.at_level(logging.WARNING, logger="stackmedic.analysis.patches"):
        propose_patches(result.findings, built, result.facts)

    assert "patch rule for KEY_ERROR" in caplog.text
    assert "rule bug" in caplog.text
    assert sorted(patches_by_code(result.findings)) == ["MISSING_ATTRIBUTE", "STARTUP_HANG"]


def test_chinese_titles_and_rationales(sample: tuple[Evidence, AnalysisResult]) -> None:
    built, result = sample

    propose_patches(result.findings, built, result.facts, lang="zh-CN")

    for repairs in patches_by_code(result.findings).values():
        assert CJK.search(repairs[0].title)
        assert repairs[0].rationale.startswith("置信度 ")


def test_planner_rejects_patches_unless_code_changes_allowed(
    sample: tuple[Evidence, AnalysisResult],
) -> None:
    built, result = sample
    propose_patches(result.findings, built, result.facts)

    refused = [r for r in plan_repairs(result.findings, built, result.facts) if r.patch]
    allowed = [
        r
        for r in plan_repairs(result.findings, built, result.facts, allow_code_changes=True)
        if r.patch
    ]

    assert {r.status for r in refused} == {RepairStatus.REJECTED}
    assert {r.status for r in allowed} == {RepairStatus.PLANNED}
    assert sorted(f for r in allowed for f in r.files) == [
        "tacore/api.py",
        "tacore/database.py",
        "tacore/worker.py",
    ]


def load_catalogue(lang: str) -> dict[str, str]:
    path = resources.files("stackmedic").joinpath("messages", lang, "patches.json")
    return json.loads(path.read_text(encoding="utf-8"))


def fields_of(template: str) -> set[str]:
    return {name for _text, name, _spec, _conversion in string.Formatter().parse(template) if name}


def test_patch_catalogues_have_same_keys_and_fields() -> None:
    english, chinese = load_catalogue("en"), load_catalogue("zh-CN")

    assert sorted(set(english) ^ set(chinese)) == []
    assert [key for key in english if fields_of(english[key]) != fields_of(chinese[key])] == []
    assert [key for key in english if not key.startswith("patch.")] == []
    assert [key for key in chinese if not CJK.search(chinese[key])] == []


def test_every_used_patch_key_is_in_catalogue() -> None:
    english = load_catalogue("en")
    folder = resources.files("stackmedic")
    used: set[str] = set()
    for name in [
        "analysis/patches.py",
        "analysis/patch_context.py",
        "analysis/patch_keyerror.py",
        "analysis/patch_method.py",
        "analysis/patch_timeout.py",
        "repair/code_patch.py",
    ]:
        used |= set(
            re.findall(r'"(patch\.[a-z_.]+)"', folder.joinpath(name).read_text(encoding="utf-8"))
        )

    assert sorted(used - set(english)) == []
