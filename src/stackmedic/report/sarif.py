"""Findings as a SARIF 2.1.0 log, for code-scanning tools and editors.

One run, one rule per pattern code that occurs (id = the code, short
description = the pattern's summary, help = its docstring with symptom and
remedy), one result per finding in the order given (root causes first).

A finding without a source location points at the compose file it cites,
at the line that defines its service when the file can be read, because
code-scanning tools such as GitHub's reject a result without a location.
NOTE: a finding that cites neither source nor compose file still gets an
empty `locations` array, which SARIF 2.1.0 (section 3.27.12) allows. Its
service, confidence and causal link are in `properties`, and
`invocations[0].toolExecutionNotifications` contains the analysis' own
warnings.

Levels: "error" for a finding of confidence 0.75 or more that stops or
breaks a service (runtime, startup, application, configuration),
"warning" for health-check findings and for confidence from 0.5, "note"
below 0.5. Secrets are masked with `stackmedic.redact` first.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import urllib.parse
from pathlib import Path, PurePosixPath
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from stackmedic.model import Category, Finding
from stackmedic.redact import redact_record

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
TOOL_NAME = "stackmedic"
SOURCE_ROOT = "%SRCROOT%"
ERROR_CONFIDENCE = 0.75
WARNING_CONFIDENCE = 0.5


def render_sarif(
    findings: list[Finding],
    tool_version: str,
    project_dir: str | None,
    warnings: list[str] | None = None,
) -> str:
    """Return the findings as a SARIF 2.1.0 JSON document (indented, UTF-8 text)."""
    masked: list[Finding] = redact_record(list(findings))
    rules, rule_index = _rules(masked)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": tool_version,
                "semanticVersion": tool_version,
                "rules": rules,
            }
        },
        "invocations": [_invocation(warnings or [])],
        "results": [_result(finding, rule_index, masked, project_dir) for finding in masked],
        "columnKind": "unicodeCodePoints",
    }
    if project_dir:
        run["originalUriBaseIds"] = {SOURCE_ROOT: {"uri": _directory_uri(project_dir)}}
    log = {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def level_of(finding: Finding) -> str:
    """Return the SARIF level of a finding (see the module docstring for the rule)."""
    if finding.confidence < WARNING_CONFIDENCE:
        return "note"
    if finding.category == Category.HEALTHCHECK or finding.confidence < ERROR_CONFIDENCE:
        return "warning"
    return "error"


def _rules(findings: list[Finding]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    from stackmedic.patterns.registry import ALL_PATTERNS

    known = {pattern.code: pattern for pattern in ALL_PATTERNS}
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for finding in findings:
        if finding.code in index:
            continue
        index[finding.code] = len(rules)
        pattern = known.get(finding.code)
        if pattern is None:
            rules.append(
                {
                    "id": finding.code,
                    "shortDescription": {"text": finding.code},
                    "properties": {"category": finding.category.value},
                }
            )
            continue
        doc = inspect.cleandoc(type(pattern).__doc__ or pattern.summary)
        rules.append(
            {
                "id": pattern.code,
                "name": type(pattern).__name__,
                "shortDescription": {"text": pattern.summary},
                "fullDescription": {"text": doc.split("\n\n", 1)[0].replace("\n", " ")},
                "help": {"text": doc},
                "defaultConfiguration": {"level": "error"},
                "properties": {
                    "category": pattern.category.value,
                    "tags": [pattern.category.value, *sorted(pattern.reads)],
                },
            }
        )
    return rules, index


def _result(
    finding: Finding, rule_index: dict[str, int], findings: list[Finding], project_dir: str | None
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "ruleIndex": rule_index[finding.code],
        "level": level_of(finding),
        "message": {"text": finding.summary},
        "partialFingerprints": {"stackmedicFinding/v1": _fingerprint(finding)},
        "properties": {
            "findingId": finding.id,
            "service": finding.service,
            "confidence": finding.confidence,
            "category": finding.category.value,
            "fixableBy": finding.fixable_by.value,
            "recommendation": finding.recommendation,
            "evidence": [
                {
                    k: v
                    for k, v in (
                        ("kind", ref.kind),
                        ("origin", ref.origin),
                        ("line", ref.line),
                        ("timestamp", ref.timestamp),
                        ("text", ref.text),
                    )
                    if v is not None
                }
                for ref in finding.evidence
            ],
            "proposedRepairs": [repair.title for repair in finding.repairs],
        },
    }
    if finding.caused_by:
        result["properties"]["causedBy"] = finding.caused_by
        cause = next((f for f in findings if f.id == finding.caused_by), None)
        if cause is not None:
            result["properties"]["causedByRule"] = cause.code
    result["locations"] = []
    if finding.location is not None:
        location = finding.location
        physical: dict[str, Any] = {
            "artifactLocation": {"uri": _relative_uri(location.path), "uriBaseId": SOURCE_ROOT},
            "region": {"startLine": max(1, int(location.line))},
        }
        entry: dict[str, Any] = {"physicalLocation": physical}
        if location.function:
            entry["logicalLocations"] = [{"name": location.function, "kind": "function"}]
        result["locations"] = [entry]
    else:
        result["locations"] = _compose_location(finding, project_dir)
    return result


def _compose_location(finding: Finding, project_dir: str | None) -> list[dict[str, Any]]:
    """Return the location of the finding's service in the compose file it cites, if any."""
    cited = next((ref.origin for ref in finding.evidence if ref.kind == "compose"), None)
    if not cited or cited == "compose":
        return []
    path = PurePosixPath(cited.replace("\\", "/"))
    if project_dir and path.is_absolute():
        try:
            path = path.relative_to(PurePosixPath(project_dir.replace("\\", "/")))
        except ValueError:
            return []
    readable = Path(project_dir or ".") / path
    if not readable.is_file() and Path(cited).is_file():
        # A loaded evidence bundle cites its copy (compose/<name>) of the
        # project's file with the same name.
        readable, path = Path(cited), PurePosixPath(Path(cited).name)
    line = _service_line(readable, finding.service)
    return [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": _relative_uri(str(path)), "uriBaseId": SOURCE_ROOT},
                "region": {"startLine": line},
            }
        }
    ]


def _service_line(path: Path, service: str) -> int:
    """Return the 1-based line that defines `service` under `services:` in a compose file, or 1."""
    try:
        document = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
        return int(document["services"].lc.key(service)[0]) + 1
    except (OSError, UnicodeDecodeError, YAMLError, AttributeError, KeyError, TypeError):
        return 1


def _invocation(warnings: list[str]) -> dict[str, Any]:
    from stackmedic.redact import redact_text

    return {
        "executionSuccessful": True,
        "toolExecutionNotifications": [
            {"level": "warning", "message": {"text": redact_text(text)}} for text in warnings
        ],
    }


def _fingerprint(finding: Finding) -> str:
    where = str(finding.location) if finding.location is not None else ""
    key = f"{finding.code}\x1f{finding.service}\x1f{where}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _relative_uri(path: str) -> str:
    posix = PurePosixPath(path.replace("\\", "/"))
    parts = [part for part in posix.parts if part not in ("/", ".")]
    return "/".join(urllib.parse.quote(part) for part in parts)


def _directory_uri(project_dir: str) -> str:
    path = project_dir.replace("\\", "/").rstrip("/") + "/"
    if not path.startswith("/"):
        path = "/" + path
    return "file://" + urllib.parse.quote(path)
