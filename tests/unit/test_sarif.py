"""SARIF 2.1.0 output: the required structure, rules, levels, locations and masking."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stackmedic.analysis import analyse
from stackmedic.evidence.bundle import load_bundle
from stackmedic.model import (
    Category,
    ComposeEdit,
    EvidenceRef,
    Finding,
    Fixability,
    Repair,
    SourceLocation,
)
from stackmedic.patterns.registry import pattern_by_code
from stackmedic.report.sarif import SARIF_VERSION, level_of, render_sarif

LIVE = Path(__file__).resolve().parents[1] / "cases" / "tacoreservice-broken-live"


def finding(
    id: str,
    code: str,
    *,
    confidence: float = 0.9,
    category: Category = Category.APPLICATION,
    location: SourceLocation | None = None,
    caused_by: str | None = None,
    summary: str = "something failed",
) -> Finding:
    return Finding(
        id=id,
        code=code,
        service="api",
        summary=summary,
        confidence=confidence,
        category=category,
        fixable_by=Fixability.CODE,
        evidence=[EvidenceRef("log", "p-api-1", "line text", 3, "2025-01-01T00:00:00Z")],
        location=location,
        caused_by=caused_by,
    )


def sarif(findings: list[Finding], project_dir: str | None = "/srv/my project") -> dict[str, Any]:
    return json.loads(render_sarif(findings, "1.2.3", project_dir, ["a warning"]))


def test_log_has_required_top_level_fields() -> None:
    log = sarif([finding("F001", "KEY_ERROR")])

    assert log["version"] == SARIF_VERSION
    assert log["$schema"].endswith("sarif-schema-2.1.0.json")
    assert isinstance(log["runs"], list)
    assert len(log["runs"]) == 1
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "stackmedic"
    assert driver["version"] == "1.2.3"


def test_every_result_has_rule_message_and_locations_array() -> None:
    findings = [finding("F001", "KEY_ERROR"), finding("F002", "CRASH_EXIT", caused_by="F001")]
    run = sarif(findings)["runs"][0]

    for result in run["results"]:
        assert result["ruleId"]
        assert isinstance(result["message"]["text"], str) and result["message"]["text"]
        assert isinstance(result["locations"], list)
        assert result["level"] in ("error", "warning", "note")
        rule = run["tool"]["driver"]["rules"][result["ruleIndex"]]
        assert rule["id"] == result["ruleId"]


def test_one_rule_per_code_with_summary_and_docstring() -> None:
    findings = [
        finding("F001", "KEY_ERROR"),
        finding("F002", "KEY_ERROR"),
        finding("F003", "OOM_KILLED"),
    ]
    rules = sarif(findings)["runs"][0]["tool"]["driver"]["rules"]

    assert [rule["id"] for rule in rules] == ["KEY_ERROR", "OOM_KILLED"]
    key_error = pattern_by_code("KEY_ERROR")
    assert rules[0]["shortDescription"]["text"] == key_error.summary
    assert "Symptom" in rules[0]["help"]["text"]
    assert "Remedy" in rules[0]["help"]["text"]
    assert rules[0]["properties"]["category"] == "application"


def test_location_becomes_relative_uri_and_start_line() -> None:
    location = SourceLocation("tacore/my api.py", 33, "list_workers")
    result = sarif([finding("F001", "KEY_ERROR", location=location)])["runs"][0]["results"][0]

    [entry] = result["locations"]
    physical = entry["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "tacore/my%20api.py", "uriBaseId": "%SRCROOT%"}
    assert physical["region"] == {"startLine": 33}
    assert entry["logicalLocations"][0]["name"] == "list_workers"


def test_project_dir_becomes_the_base_uri() -> None:
    run = sarif([finding("F001", "KEY_ERROR")])["runs"][0]

    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == "file:///srv/my%20project/"


def test_no_project_dir_no_base_uri() -> None:
    run = sarif([finding("F001", "KEY_ERROR")], project_dir=None)["runs"][0]

    assert "originalUriBaseIds" not in run


def test_finding_without_location_is_result_with_empty_locations() -> None:
    result = sarif([finding("F001", "OOM_KILLED", category=Category.RUNTIME)])["runs"][0][
        "results"
    ][0]

    assert result["locations"] == []
    assert result["properties"]["service"] == "api"


def test_finding_citing_compose_points_at_its_service_line(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        "# the stack\nservices:\n  web:\n    depends_on:\n      api:\n"
        "        condition: service_started\n\n  api:\n    image: app\n"
    )
    cited = finding("F001", "MISSING_ENV", category=Category.CONFIGURATION)
    cited.evidence.append(EvidenceRef("compose", str(compose), "services:\n  api: {}"))

    [location] = sarif([cited], str(tmp_path))["runs"][0]["results"][0]["locations"]

    physical = location["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "compose.yaml", "uriBaseId": "%SRCROOT%"}
    # Line 5 is `api:` under web's depends_on; the service itself is defined on line 8.
    assert physical["region"] == {"startLine": 8}


def test_unreadable_compose_location_line_one(tmp_path: Path) -> None:
    cited = finding("F001", "MISSING_ENV", category=Category.CONFIGURATION)
    cited.evidence.append(EvidenceRef("compose", str(tmp_path / "gone.yaml"), "x"))

    [location] = sarif([cited], str(tmp_path))["runs"][0]["results"][0]["locations"]

    assert location["physicalLocation"]["region"] == {"startLine": 1}


def test_bundle_compose_copy_located(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "bundle" / "compose" / "docker-compose.yml"
    copy.parent.mkdir(parents=True)
    copy.write_text("services:\n  db:\n    image: pg\n  api:\n    image: app\n")
    monkeypatch.chdir(tmp_path)
    cited = finding("F001", "MISSING_ENV", category=Category.CONFIGURATION)
    cited.evidence.append(EvidenceRef("compose", "bundle/compose/docker-compose.yml", "x"))

    [location] = sarif([cited], "/srv/recorded")["runs"][0]["results"][0]["locations"]

    assert location["physicalLocation"]["artifactLocation"]["uri"] == "docker-compose.yml"
    assert location["physicalLocation"]["region"] == {"startLine": 4}


def test_compose_file_outside_project_gives_no_location(tmp_path: Path) -> None:
    cited = finding("F001", "MISSING_ENV", category=Category.CONFIGURATION)
    cited.evidence.append(EvidenceRef("compose", "/elsewhere/compose.yaml", "x"))

    result = sarif([cited], str(tmp_path / "project"))["runs"][0]["results"][0]

    assert result["locations"] == []


def test_analysis_warnings_become_notifications() -> None:
    invocation = sarif([])["runs"][0]["invocations"][0]

    assert invocation["executionSuccessful"] is True
    assert invocation["toolExecutionNotifications"] == [
        {"level": "warning", "message": {"text": "a warning"}}
    ]


@pytest.mark.parametrize(
    ("confidence", "category", "level"),
    [
        (0.9, Category.RUNTIME, "error"),
        (0.75, Category.CONFIGURATION, "error"),
        (0.7, Category.APPLICATION, "warning"),
        (0.95, Category.HEALTHCHECK, "warning"),
        (0.5, Category.STARTUP, "warning"),
        (0.3, Category.CONFIGURATION, "note"),
    ],
)
def test_level_follows_confidence_and_category(
    confidence: float, category: Category, level: str
) -> None:
    assert level_of(finding("F1", "X", confidence=confidence, category=category)) == level


def test_consequence_names_its_cause() -> None:
    findings = [finding("F001", "KEY_ERROR"), finding("F002", "CRASH_EXIT", caused_by="F001")]
    results = sarif(findings)["runs"][0]["results"]

    assert results[1]["properties"]["causedBy"] == "F001"
    assert results[1]["properties"]["causedByRule"] == "KEY_ERROR"
    assert "causedBy" not in results[0]["properties"]


def test_fingerprint_is_stable_and_distinct() -> None:
    first = sarif([finding("F001", "KEY_ERROR")])["runs"][0]["results"][0]
    again = sarif([finding("F009", "KEY_ERROR")])["runs"][0]["results"][0]
    other = sarif([finding("F001", "OOM_KILLED")])["runs"][0]["results"][0]

    assert first["partialFingerprints"] == again["partialFingerprints"]
    assert first["partialFingerprints"] != other["partialFingerprints"]


def test_secrets_are_masked() -> None:
    leaky = finding("F001", "MISSING_ENV", summary="DB_PASSWORD=hunter2 is wrong")
    leaky.evidence.append(EvidenceRef("log", "p-api-1", "postgres://app:pw-planted@db/app"))
    leaky.repairs.append(
        Repair(
            "R1",
            "F001",
            "MISSING_ENV",
            "api",
            "Set DB_PASSWORD",
            edit=ComposeEdit("set_env", "api", {"name": "DB_PASSWORD", "value": "hunter2"}),
        )
    )
    text = render_sarif([leaky], "1", None)

    assert "hunter2" not in text
    assert "pw-planted" not in text


def test_sample_recording_renders_valid_json_with_located_code_faults() -> None:
    findings = analyse(load_bundle(LIVE)).findings
    run = json.loads(render_sarif(findings, "0.1.0", "/work/project"))["runs"][0]

    assert len(run["results"]) == len(findings)
    located = {
        r["ruleId"]: r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in run["results"]
        if r["locations"]
    }
    assert located["KEY_ERROR"] == "tacore/api.py"
    assert located["MISSING_ATTRIBUTE"] == "tacore/main.py"
