"""Counts and groupings of a `RunRecord` that both report formats show.

Nothing here decides a verdict: verdicts, fixed and remaining problems come
from the run record as the loop wrote them. These functions only count
(checks passed, repairs by status), group (snapshots by phase, findings by
cause, recommendations by priority) and measure durations from timestamps.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from stackmedic.model import (
    CheckResult,
    ContainerSnapshot,
    CycleRecord,
    EvidenceRef,
    Finding,
    Fixability,
    PhaseRecord,
    Recommendation,
    Repair,
    RepairStatus,
    RunRecord,
)

logger = logging.getLogger(__name__)

PRIORITY_ORDER = ("high", "medium", "low")

# Phase kinds, in the order a cycle runs them.
EVIDENCE = "evidence"
ANALYSIS = "analysis"
REPAIR = "repair"
VERIFY = "verify"
OTHER = "other"
PHASE_KIND_ORDER = (EVIDENCE, ANALYSIS, REPAIR, VERIFY)
_PHASE_KINDS = {
    "DIAGNOSE-01": EVIDENCE,
    "DIAGNOSE-02": ANALYSIS,
    "REPAIR-01": REPAIR,
    "VERIFY-01": VERIFY,
}


def parse_timestamp(value: str | None) -> dt.datetime | None:
    """Parse an ISO-8601 timestamp; return None for an empty or invalid one.

    A timestamp without an offset is taken as UTC, as the engine writes UTC.
    """
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        logger.debug("timestamp %r is not ISO-8601", value)
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def seconds_between(start: str | None, end: str | None) -> float | None:
    started = parse_timestamp(start)
    finished = parse_timestamp(end)
    if started is None or finished is None:
        return None
    return (finished - started).total_seconds()


@dataclass(frozen=True)
class CheckTally:
    """How many functional checks ran and passed."""

    passed: int
    total: int

    @property
    def failed(self) -> int:
        return self.total - self.passed

    @property
    def rate(self) -> float | None:
        """Passed / run, or None when no check ran."""
        return self.passed / self.total if self.total else None

    @property
    def percent(self) -> int | None:
        rate = self.rate
        return None if rate is None else round(rate * 100)


def tally_checks(checks: list[CheckResult]) -> CheckTally:
    return CheckTally(passed=sum(1 for check in checks if check.passed), total=len(checks))


def final_checks_cycle(run: RunRecord) -> int | None:
    """Return the number of the cycle whose checks are `run.final_checks`.

    None means the final checks are the baseline checks, because no cycle
    ran any check.
    """
    for cycle in reversed(run.cycles):
        if cycle.checks or (cycle.rolled_back and cycle.rollback_checks):
            return cycle.number
    return None


def final_checks_after_rollback(run: RunRecord) -> bool:
    """Tell whether `run.final_checks` are the checks run after a cycle was rolled back."""
    for cycle in reversed(run.cycles):
        if cycle.rolled_back and cycle.rollback_checks:
            return True
        if cycle.checks:
            return False
    return False


def phase_kind(name: str) -> str:
    """Map a phase name (DIAGNOSE-01, REPAIR-01, ...) to its kind."""
    if name in _PHASE_KINDS:
        return _PHASE_KINDS[name]
    upper = name.upper()
    if upper.startswith("REPAIR"):
        return REPAIR
    if upper.startswith("VERIFY"):
        return VERIFY
    return OTHER


@dataclass
class PhaseSection:
    """The content of one phase of a cycle, as the report shows it.

    `phase` is None when the cycle has content of this kind (findings,
    repairs, checks) but no phase record for it. `primary` is True for the
    first section of its kind, which shows the kind's content.
    """

    kind: str
    name: str
    phase: PhaseRecord | None
    snapshots: list[ContainerSnapshot] = field(default_factory=list)
    primary: bool = True


def phase_sections(cycle: CycleRecord) -> list[PhaseSection]:
    """Group a cycle's content under its phases, in the order they ran.

    Each snapshot goes to the last phase that started at or before it (to
    the first phase when its time is unknown). A kind that has content but no
    phase record gets a section of its own, placed in the usual phase order.
    """
    sections = [PhaseSection(phase_kind(phase.name), phase.name, phase) for phase in cycle.phases]
    seen: set[str] = set()
    for section in sections:
        section.primary = section.kind not in seen
        seen.add(section.kind)

    content = {
        EVIDENCE: bool(cycle.snapshots) and not sections,
        ANALYSIS: bool(cycle.findings),
        REPAIR: bool(cycle.repairs),
        VERIFY: bool(cycle.checks or cycle.log_findings)
        or cycle.settle_seconds is not None
        or cycle.verdict_latency_seconds is not None,
    }
    default_names = {kind: name for name, kind in _PHASE_KINDS.items()}
    for kind in PHASE_KIND_ORDER:
        if content[kind] and kind not in seen:
            _insert_in_kind_order(sections, PhaseSection(kind, default_names[kind], None))

    _assign_snapshots(sections, cycle.snapshots)
    return sections


def _insert_in_kind_order(sections: list[PhaseSection], new: PhaseSection) -> None:
    rank = PHASE_KIND_ORDER.index(new.kind)
    for index, section in enumerate(sections):
        if section.kind in PHASE_KIND_ORDER and PHASE_KIND_ORDER.index(section.kind) > rank:
            sections.insert(index, new)
            return
    sections.append(new)


def _assign_snapshots(sections: list[PhaseSection], snapshots: list[ContainerSnapshot]) -> None:
    if not sections:
        return
    starts = [
        parse_timestamp(section.phase.started_at) if section.phase else None for section in sections
    ]
    for snapshot in snapshots:
        taken_at = parse_timestamp(snapshot.at)
        target = 0
        if taken_at is not None:
            for index, started in enumerate(starts):
                if started is not None and started <= taken_at:
                    target = index
        sections[target].snapshots.append(snapshot)


# A timestamp at the start of a log line, as logging libraries write it
# (2026-12-04 23:06:04,753 or 2026-12-04T23:06:04.753Z, optionally bracketed).
_LEADING_TIMESTAMP = re.compile(
    r"^\s*\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\]?\s*"
)


@dataclass
class EvidenceGroup:
    """Evidence items of one finding that repeat the same text, shown once.

    `first` is the first item as recorded. `origins` lists each origin once
    in order, `line` is the line number when every item has the same one,
    and `first_timestamp` and `last_timestamp` are the earliest and latest
    item times (None when no item has one).
    """

    first: EvidenceRef
    origins: list[str]
    count: int
    line: int | None
    first_timestamp: str | None
    last_timestamp: str | None


def group_evidence(refs: list[EvidenceRef]) -> list[EvidenceGroup]:
    """Merge evidence items of the same kind and text, in the order of their first item.

    Log lines also count as the same when they differ only in a timestamp
    at their start, as a message logged every few seconds does. Health
    probe output repeated by every failing probe, and by every replica,
    becomes one group. report.json keeps every item.
    """
    members: dict[tuple[str, str], list[EvidenceRef]] = {}
    for ref in refs:
        members.setdefault((ref.kind, _comparable_text(ref)), []).append(ref)

    groups = []
    for items in members.values():
        times = sorted(
            (item.timestamp for item in items if item.timestamp), key=_timestamp_order
        )
        lines = {item.line for item in items}
        groups.append(
            EvidenceGroup(
                first=items[0],
                origins=list(dict.fromkeys(item.origin for item in items)),
                count=len(items),
                line=items[0].line if len(lines) == 1 else None,
                first_timestamp=times[0] if times else None,
                last_timestamp=times[-1] if times else None,
            )
        )
    return groups


def _comparable_text(ref: EvidenceRef) -> str:
    if ref.kind == "log":
        return _LEADING_TIMESTAMP.sub("", ref.text, count=1)
    return ref.text


def _timestamp_order(value: str) -> tuple[int, dt.datetime | str]:
    # Parsed times sort before the rare value that is not ISO-8601.
    parsed = parse_timestamp(value)
    return (0, parsed) if parsed is not None else (1, value)


@dataclass
class CauseNode:
    """A finding in the causal tree, with the findings it caused."""

    finding: Finding
    fixed: bool
    consequences: list[CauseNode] = field(default_factory=list)


def causal_tree(run: RunRecord) -> list[CauseNode]:
    """Arrange the run's remaining and fixed findings by `caused_by`.

    Roots are findings with no cause, or whose cause is not among these
    findings; consequences follow their cause. Input order is kept within
    each level, so the analysis' root-cause-first ordering is preserved.
    """
    # NOTE: the loop makes finding ids unique within a run (C1-F001), but in
    # records written before that they are unique within one analysis only,
    # and the same id can name a remaining and a fixed finding. A cause is
    # therefore looked up among the findings of the same list (remaining or
    # fixed) first, then in the other list.
    entries: list[tuple[Finding, bool]] = []
    seen: set[tuple[str, str, str]] = set()
    for finding, fixed in [(f, False) for f in run.remaining] + [(f, True) for f in run.fixed]:
        identity = (finding.id, finding.code, finding.service)
        if identity not in seen:
            seen.add(identity)
            entries.append((finding, fixed))

    index_by_id: dict[bool, dict[str, int]] = {False: {}, True: {}}
    for index, (finding, fixed) in enumerate(entries):
        index_by_id[fixed].setdefault(finding.id, index)

    children: dict[int, list[int]] = {index: [] for index in range(len(entries))}
    roots: list[int] = []
    for index, (finding, fixed) in enumerate(entries):
        parent = None
        if finding.caused_by:
            parent = index_by_id[fixed].get(finding.caused_by)
            if parent is None:
                parent = index_by_id[not fixed].get(finding.caused_by)
        if parent is None or parent == index:
            roots.append(index)
        else:
            children[parent].append(index)

    placed: set[int] = set()

    def build(index: int) -> CauseNode:
        placed.add(index)
        finding, fixed = entries[index]
        node = CauseNode(finding, fixed)
        node.consequences = [build(child) for child in children[index] if child not in placed]
        return node

    tree = [build(index) for index in roots]

    # Findings in a caused_by loop have no root; show each loop from its first member.
    for index in range(len(entries)):
        if index not in placed:
            tree.append(build(index))
    return tree


def group_recommendations(
    recommendations: list[Recommendation],
) -> list[tuple[str, list[Recommendation]]]:
    """Group recommendations by priority: high, medium, low, then any other value.

    A finding is recommended once, at its highest priority: a recommendation
    whose pattern code and service already appear at a higher priority is
    left out. The run record adds, for instance, a low-priority "repair not
    applied" note for a code fault that a high-priority item already names.
    """
    groups: dict[str, list[Recommendation]] = {}
    for recommendation in recommendations:
        groups.setdefault(recommendation.priority.strip().lower(), []).append(recommendation)
    ordered = [
        (priority, groups.pop(priority)) for priority in PRIORITY_ORDER if priority in groups
    ]
    ordered += list(groups.items())

    seen: set[tuple[str, str]] = set()
    result: list[tuple[str, list[Recommendation]]] = []
    for priority, items in ordered:
        kept = [item for item in items if _finding_key(item) not in seen]
        seen.update(key for key in map(_finding_key, kept) if key is not None)
        if kept:
            result.append((priority, kept))
    return result


def _finding_key(recommendation: Recommendation) -> tuple[str, str] | None:
    if recommendation.code is None or recommendation.service is None:
        return None
    return recommendation.code, recommendation.service


@dataclass
class RepairOutcome:
    """A repair that did not take effect, with every cycle it appeared in."""

    repair: Repair
    cycles: list[int]


NO_EFFECT_REASONS = frozenset(
    {
        "repair.reject.no_effect_env",
        "repair.reject.no_effect_depends_on",
        "repair.reject.same_healthcheck",
        "repair.reject.file_unchanged",
    }
)
"""Catalogue keys of the planner's reasons for rejecting a repair that would change nothing."""


def rejected_for_no_effect(repair: Repair) -> bool:
    """Tell whether the planner rejected `repair` because applying it would change nothing.

    Such a rejection is a correct prediction, not a repair that failed. A
    record without the reason's catalogue form is recognised by its English
    reason.
    """
    if repair.status != RepairStatus.REJECTED:
        return False
    if repair.reason_message is not None and repair.reason_message.key:
        return repair.reason_message.key in NO_EFFECT_REASONS
    return repair.reason.startswith("no effect")


def repairs_not_in_effect(run: RunRecord) -> list[RepairOutcome]:
    """Return the rejected, rolled-back and never-applied repairs of all cycles.

    The same proposal often comes back in every cycle; such repeats are
    merged (same code, service, title and status) and list their cycles.
    """
    merged: dict[tuple[str, str, str, RepairStatus], RepairOutcome] = {}
    for cycle in run.cycles:
        for repair in cycle.repairs:
            if repair.status == RepairStatus.APPLIED:
                continue
            key = (repair.code, repair.service, repair.title, repair.status)
            if key in merged:
                if cycle.number not in merged[key].cycles:
                    merged[key].cycles.append(cycle.number)
            else:
                merged[key] = RepairOutcome(repair, [cycle.number])
    return list(merged.values())


def repair_counts(run: RunRecord) -> dict[str, int]:
    """Count every cycle's repairs by status (each status present, zero or more)."""
    counts = Counter(repair.status.value for cycle in run.cycles for repair in cycle.repairs)
    return {status.value: counts.get(status.value, 0) for status in RepairStatus}


def remaining_by_fixability(run: RunRecord) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = {item.value: [] for item in Fixability}
    for finding in run.remaining:
        groups.setdefault(finding.fixable_by.value, []).append(finding)
    return groups


def finding_place(finding: Finding) -> str:
    """Return `path:line` of a finding, or its service when it has no location."""
    return str(finding.location) if finding.location else finding.service


def code_fault_places(run: RunRecord) -> list[str]:
    """Return where each remaining code fault sits, without repeats, in run order."""
    places: list[str] = []
    for finding in remaining_by_fixability(run)[Fixability.CODE.value]:
        place = finding_place(finding)
        if place not in places:
            places.append(place)
    return places


def summary_dict(run: RunRecord) -> dict[str, Any]:
    """Return the computed summary the JSON report carries next to the record."""
    final = tally_checks(run.final_checks)
    baseline = tally_checks(run.baseline_checks)
    root_ids = [node.finding.id for node in causal_tree(run) if not node.fixed]
    return {
        "cycles_run": len(run.cycles),
        "max_cycles": run.max_cycles,
        "duration_seconds": seconds_between(run.started_at, run.finished_at),
        "checks_run": final.total,
        "checks_passed": final.passed,
        "checks_failed": final.failed,
        "success_rate": final.rate,
        "checks_cycle": final_checks_cycle(run),
        "baseline_checks_run": baseline.total,
        "baseline_checks_passed": baseline.passed,
        "findings_fixed": len(run.fixed),
        "findings_remaining": len(run.remaining),
        "remaining_by_fixability": {
            fixability: len(findings)
            for fixability, findings in remaining_by_fixability(run).items()
        },
        "repairs_by_status": repair_counts(run),
        "root_cause_ids": root_ids,
        "code_fault_locations": code_fault_places(run),
    }
