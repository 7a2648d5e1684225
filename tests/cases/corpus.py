"""Load the evidence-bundle cases in this folder and judge stackmedic's diagnosis of each.

Every sub-folder is one bundle (docs/bundle-format.md) with an
`expected.yaml`:

    story: one line on what went wrong
    root_cause: {pattern: CODE, service: NAME}   # pattern NONE: no finding at all
    repair: {action: set_env, service: NAME, name: VAR, value: VALUE}   # or {action: none}
    must_not: [CODE, ...]   # findings the evidence contradicts; {pattern, service} also works

The root cause is the first finding of `analyse()`. A repair matches when
some finding proposes an edit with that action, service and parameters.
Each given parameter must be equal: `conditions` are compared entry by
entry, and health check timings as durations. `action: none` means the root-cause finding proposes
no edit, because none is safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from stackmedic.analysis import analyse
from stackmedic.evidence.bundle import load_bundle
from stackmedic.model import Finding
from stackmedic.patterns.common import duration_seconds

CASES_DIR = Path(__file__).resolve().parent
NO_FINDING = "NONE"
# Health check timings compare as durations: "150s" equals "2m30s".
DURATION_KEYS = ("interval", "timeout", "start_period")


@dataclass
class Expectation:
    story: str
    pattern: str
    service: str | None
    repair: dict[str, Any] | None
    must_not: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass
class CaseResult:
    """How the diagnosis of one case compares with its expectation."""

    name: str
    expected: Expectation
    findings: list[Finding]
    pattern_hit: bool
    service_hit: bool
    repair_hit: bool
    contradicted: list[str]
    warnings: list[str]

    @property
    def passed(self) -> bool:
        return self.pattern_hit and self.service_hit and self.repair_hit and not self.contradicted

    @property
    def first(self) -> str:
        if not self.findings:
            return NO_FINDING
        return f"{self.findings[0].code} {self.findings[0].service}"

    def describe(self) -> str:
        lines = [f"{self.name}: {self.expected.story}"]
        for finding in self.findings:
            marker = "  ↳ " if finding.caused_by else "- "
            repairs = "; ".join(
                f"{r.edit.action} {r.edit.service} {r.edit.params}"
                for r in finding.repairs
                if r.edit
            )
            lines.append(
                f"{marker}{finding.code} {finding.service} ({finding.confidence:.2f})"
                + (f" repairs: {repairs}" if repairs else "")
            )
        return "\n".join(lines)


def case_dirs() -> list[Path]:
    return sorted(path.parent for path in CASES_DIR.glob("*/expected.yaml"))


def load_expectation(path: Path) -> Expectation:
    data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")) or {}
    root = data.get("root_cause") or {}
    must_not = []
    for entry in data.get("must_not") or []:
        if isinstance(entry, dict):
            must_not.append((str(entry["pattern"]), entry.get("service")))
        else:
            must_not.append((str(entry), None))
    repair = data.get("repair")
    return Expectation(
        story=str(data.get("story", "")),
        pattern=str(root.get("pattern", NO_FINDING)),
        service=root.get("service"),
        repair=dict(repair) if isinstance(repair, dict) else None,
        must_not=must_not,
    )


def repair_matches(findings: list[Finding], wanted: dict[str, Any] | None) -> bool:
    if wanted is None:
        return True
    action = wanted.get("action")
    if action == "none":
        return not findings or not any(r.edit for r in findings[0].repairs)
    params = {k: v for k, v in wanted.items() if k not in ("action", "service")}
    for finding in findings:
        for repair in finding.repairs:
            edit = repair.edit
            if edit is None or edit.action != action:
                continue
            if wanted.get("service") is not None and edit.service != wanted["service"]:
                continue
            if all(_param_matches(edit.params, key, value) for key, value in params.items()):
                return True
    return False


def _param_matches(params: dict[str, Any], key: str, value: Any) -> bool:
    if key == "conditions":
        actual = params.get("conditions") or {}
        return all(actual.get(name) == condition for name, condition in value.items())
    if key in DURATION_KEYS:
        return duration_seconds(params.get(key)) == duration_seconds(value)
    return params.get(key) == value


def evaluate(directory: Path) -> CaseResult:
    expected = load_expectation(directory / "expected.yaml")
    evidence = load_bundle(directory)
    result = analyse(evidence)
    findings = result.findings
    if expected.pattern == NO_FINDING:
        pattern_hit = service_hit = not findings
    else:
        first = findings[0] if findings else None
        pattern_hit = first is not None and first.code == expected.pattern
        service_hit = first is not None and (
            expected.service is None or first.service == expected.service
        )
    contradicted = [
        f"{f.code} {f.service}"
        for f in findings
        for code, service in expected.must_not
        if f.code == code and (service is None or f.service == service)
    ]
    return CaseResult(
        name=directory.name,
        expected=expected,
        findings=findings,
        pattern_hit=pattern_hit,
        service_hit=service_hit,
        repair_hit=repair_matches(findings, expected.repair),
        contradicted=contradicted,
        warnings=result.warnings + evidence.warnings,
    )
