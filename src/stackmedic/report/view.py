"""The view of a run that every report format shows, in the report's language.

`ReportView` wraps a redacted `RunRecord` for a template: message lookup,
values formatted as text (times, durations, labels of enums), and the
groupings of `stackmedic.report.summary`. The Markdown and HTML views add
what their markup needs. Nothing here decides a verdict.
"""

from __future__ import annotations

import functools
import json
import logging
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stackmedic.i18n import catalogue, translate
from stackmedic.model import (
    CheckResult,
    CycleRecord,
    Finding,
    PhaseRecord,
    Recommendation,
    Repair,
    RepairStatus,
    RunRecord,
)
from stackmedic.report import localize, summary

logger = logging.getLogger(__name__)


class ReportView:
    """Formatting helpers and groupings the report templates call.

    `run` must already be redacted. `run_dir` is the folder the report is
    written to or read from, None when unknown. `missing_keys` collects the
    catalogue keys the template requested that `lang` lacks.
    """

    def __init__(self, run: RunRecord, lang: str, run_dir: Path | None = None) -> None:
        self.run = run
        self.lang = lang
        self.run_dir = run_dir
        self.missing_keys: set[str] = set()
        self._messages = catalogue(lang)
        self._english = catalogue("en")

    # -- messages -------------------------------------------------------------

    def t(self, key: str, /, **fields: Any) -> str:
        if key not in self._messages:
            self.missing_keys.add(key)
        return translate(key, self.lang, **fields)

    def plural(self, key: str, count: int, /, **fields: Any) -> str:
        """Translate `<key>.one` or `<key>.other` by `count`, passing `count` as a field."""
        return self.t(f"{key}.{'one' if count == 1 else 'other'}", count=count, **fields)

    def t_or(self, key: str, fallback: str, /, **fields: Any) -> str:
        """Translate `key` when the catalogue has it, else return `fallback` unchanged."""
        if key in self._messages or key in self._english:
            return translate(key, self.lang, **fields)
        return fallback

    def join(self, items: Iterable[str]) -> str:
        return self.t("report.list.separator").join(items)

    # -- sentences stored in the record --------------------------------------

    def finding_summary(self, finding: Finding) -> str:
        return localize.finding_summary(finding, self.lang)

    def finding_recommendation(self, finding: Finding) -> str:
        return localize.finding_recommendation(finding, self.lang)

    def repair_title(self, repair: Repair) -> str:
        return localize.repair_title(repair, self.lang)

    def repair_rationale(self, repair: Repair) -> str:
        return localize.repair_rationale(repair, self.lang)

    def repair_reason(self, repair: Repair) -> str:
        return localize.repair_reason(repair, self.lang)

    def repair_prediction(self, repair: Repair) -> str:
        return localize.repair_prediction(repair, self.lang)

    def check_detail(self, check: CheckResult) -> str:
        return localize.check_detail(check, self.lang)

    def note(self, phase: PhaseRecord, note: str) -> str:
        return localize.note_text(phase, note, self.lang)

    def warning(self, warning: str) -> str:
        return localize.warning_text(self.run, warning, self.lang)

    def recommendation(self, recommendation: Recommendation) -> str:
        return localize.recommendation_text(recommendation, self.lang)

    # -- values ---------------------------------------------------------------

    def when(self, timestamp: str | None) -> str:
        """Format an ISO timestamp as `YYYY-MM-DD HH:MM:SS UTC` (or with its offset)."""
        if not timestamp:
            return self.t("report.value.not_recorded")
        parsed = summary.parse_timestamp(timestamp)
        if parsed is None:
            return timestamp
        offset = parsed.utcoffset()
        zone = "UTC" if not offset else parsed.strftime("%z")
        return f"{parsed.strftime('%Y-%m-%d %H:%M:%S')} {zone}"

    def clock(self, timestamp: str | None) -> str:
        """Format an ISO timestamp as `HH:MM:SS`, for places that show the date elsewhere."""
        parsed = summary.parse_timestamp(timestamp)
        if parsed is None:
            return timestamp or self.t("report.value.not_recorded")
        return parsed.strftime("%H:%M:%S")

    def seconds(self, value: float | None) -> str:
        if value is None:
            return self.t("report.value.not_recorded")
        return self.t("report.unit.seconds", value=f"{value:.1f}")

    def duration(self, value: float | None) -> str:
        if value is None:
            return self.t("report.value.not_recorded")
        total = max(0, round(value))
        hours, rest = divmod(total, 3600)
        minutes, seconds = divmod(rest, 60)
        if hours:
            return self.t("report.duration.hours", hours=hours, minutes=minutes)
        if minutes:
            return self.t("report.duration.minutes", minutes=minutes, seconds=seconds)
        return self.t("report.duration.seconds", seconds=seconds)

    def phase_duration(self, phase: PhaseRecord) -> str:
        return self.seconds(summary.seconds_between(phase.started_at, phase.finished_at))

    def percent(self, fraction: float) -> str:
        return f"{round(fraction * 100)}%"

    def yes_no(self, value: bool) -> str:
        return self.t("report.value.yes" if value else "report.value.no")

    def enum_label(self, group: str, value: object) -> str:
        """Translate an enum member (verdict, category, ...) as `report.<group>.<value>`."""
        raw = str(getattr(value, "value", value))
        return self.t_or(f"report.{group}.{raw}", raw)

    def json_inline(self, value: object) -> str:
        return json.dumps(value, ensure_ascii=False)

    # -- evidence -------------------------------------------------------------

    def evidence_groups(self, finding: Finding) -> list[summary.EvidenceGroup]:
        return summary.group_evidence(finding.evidence)

    def evidence_head(self, group: summary.EvidenceGroup) -> str:
        """Return `[kind] origin:line time` of an evidence group.

        A repeated item shows the span from its first to its last time and
        its count (`× 12`); a group from several origins lists them all.
        """
        head = f"[{group.first.kind}] {', '.join(group.origins)}"
        if group.line is not None:
            head += f":{group.line}"
        first, last = group.first_timestamp, group.last_timestamp
        if first and last and first != last:
            head += " " + self.t("report.evidence.span", first=first, last=last)
        elif first:
            head += f" {first}"
        if group.count > 1:
            head += " " + self.t("report.evidence.repeated", count=group.count)
        return head

    # -- run-level groupings -------------------------------------------------

    @functools.cached_property
    def final_checks(self) -> list[CheckResult]:
        return self.run.final_checks

    @functools.cached_property
    def final_tally(self) -> summary.CheckTally:
        return summary.tally_checks(self.final_checks)

    @functools.cached_property
    def final_checks_cycle(self) -> int | None:
        return summary.final_checks_cycle(self.run)

    @functools.cached_property
    def not_in_effect(self) -> list[summary.RepairOutcome]:
        return summary.repairs_not_in_effect(self.run)

    @functools.cached_property
    def causal_tree(self) -> list[summary.CauseNode]:
        return summary.causal_tree(self.run)

    @functools.cached_property
    def recommendation_groups(self) -> list[tuple[str, list[Any]]]:
        return summary.group_recommendations(self.run.recommendations)

    def priority_title(self, priority: str) -> str:
        return self.t_or(
            f"report.priority.{priority}",
            self.t("report.priority.other", priority=priority),
        )

    def success_rate(self) -> str:
        tally = self.final_tally
        if tally.percent is None:
            return self.t("report.summary.success_rate_none")
        return self.t(
            "report.summary.success_rate_value",
            passed=tally.passed,
            total=tally.total,
            percent=tally.percent,
        )

    def checks_source(self) -> str:
        if self.final_checks_cycle is None:
            return self.t("report.summary.checks_from_baseline")
        if summary.final_checks_after_rollback(self.run):
            return self.t("report.summary.checks_after_rollback", number=self.final_checks_cycle)
        return self.t("report.summary.checks_from_cycle", number=self.final_checks_cycle)

    def stop_reason(self) -> str:
        reason = self.run.stop_reason.strip()
        if not reason:
            return self.t("report.value.not_recorded")
        return self.t_or(f"report.stop_reason.{reason}", reason)

    def run_duration(self) -> str:
        return self.duration(summary.seconds_between(self.run.started_at, self.run.finished_at))

    # -- cycle-level groupings -----------------------------------------------

    def sections(self, cycle: CycleRecord) -> list[summary.PhaseSection]:
        return summary.phase_sections(cycle)

    def phase_label(self, section: summary.PhaseSection) -> str:
        """Return what the phase does (`Evidence collection`), or "" for an unknown phase."""
        if section.kind == summary.OTHER:
            return ""
        return self.t("report.phase." + section.kind)

    def phase_title(self, section: summary.PhaseSection) -> str:
        label = self.phase_label(section)
        return f"{section.name}: {label}" if label else section.name

    def cause(self, finding: Finding, cycle: CycleRecord | None) -> Finding | None:
        """Return the finding `finding.caused_by` names, looked up in its cycle first."""
        if not finding.caused_by:
            return None
        candidates = list(self.run.remaining) + list(self.run.fixed)
        if cycle is not None:
            candidates = cycle.findings + cycle.log_findings + candidates
        return next((c for c in candidates if c.id == finding.caused_by), None)

    def is_dry_run_plan(self, repair: Repair) -> bool:
        return repair.status == RepairStatus.PLANNED and self.run.dry_run

    def repair_status_label(self, repair: Repair) -> str:
        """Return the label of a repair's status (dry-run aware), without a marker."""
        if repair.status == RepairStatus.APPLIED:
            return self.t("report.repair.status.applied")
        if self.is_dry_run_plan(repair):
            return self.t("report.repair.status.planned_dry_run")
        return self.enum_label("repair.status", repair.status)

    def repair_status(self, repair: Repair) -> str:
        """Return the marker and label of a repair's status (dry-run aware)."""
        marker = "✅ " if repair.status == RepairStatus.APPLIED else "⚠️ "
        return marker + self.repair_status_label(repair)

    def rollback_command(self) -> str | None:
        """Return the `stackmedic rollback` command that undoes this run's file changes.

        None for a dry run, which changed no file, and when the run folder is
        unknown. Rollback finds a run by its folder's name, which is the run
        ID unless the folder was renamed. `--runs-dir` is given only when
        the run folder is not under the project's default `.stackmedic/runs`.
        """
        if self.run_dir is None or self.run.dry_run:
            return None
        project_dir = Path(self.run.project_dir)
        parts = ["stackmedic", "rollback", self.run_dir.name, "--project-dir", str(project_dir)]
        if self.run_dir.parent != project_dir / ".stackmedic" / "runs":
            parts += ["--runs-dir", str(self.run_dir.parent)]
        return shlex.join(parts)

    def repair_outcome_label(self, repair: Repair) -> str:
        if self.is_dry_run_plan(repair):
            return self.t("report.outcome.repair_planned_dry_run")
        if summary.rejected_for_no_effect(repair):
            return self.t("report.outcome.repair_no_effect")
        return self.t_or(
            f"report.outcome.repair_{repair.status.value}",
            self.enum_label("repair.status", repair.status),
        )

    def conclusion(self) -> str:
        """Compose the closing paragraph from counts of the run record."""
        run = self.run
        sentences: list[str] = []

        tally = self.final_tally
        if tally.total:
            sentences.append(
                self.t("report.conclusion.checks", passed=tally.passed, total=tally.total)
            )
        else:
            sentences.append(self.t("report.conclusion.no_checks"))

        if run.fixed:
            sentences.append(self.plural("report.conclusion.fixed", len(run.fixed)))

        groups = summary.remaining_by_fixability(run)
        code_places = summary.code_fault_places(run)
        if groups["code"]:
            sentences.append(
                self.plural(
                    "report.conclusion.code_faults",
                    len(groups["code"]),
                    places=self.join(code_places),
                )
            )
        for fixability in ("compose", "human"):
            findings = groups.get(fixability) or []
            if findings:
                items = self.join(f"{f.code} ({f.service})" for f in findings)
                sentences.append(
                    self.plural(
                        f"report.conclusion.{fixability}_remaining", len(findings), items=items
                    )
                )
        if not run.remaining:
            sentences.append(self.t("report.conclusion.nothing_remains"))

        without_effect = [
            item for item in self.not_in_effect if summary.rejected_for_no_effect(item.repair)
        ]
        failed = len(self.not_in_effect) - len(without_effect)
        if failed:
            sentences.append(self.plural("report.conclusion.not_in_effect", failed))
        if without_effect:
            sentences.append(self.plural("report.conclusion.no_effect", len(without_effect)))
        sentences.append(
            self.t(
                "report.conclusion.cycles",
                run=len(run.cycles),
                max=run.max_cycles,
                verdict=self.enum_label("verdict", run.verdict),
            )
        )
        if run.stop_reason.strip():
            sentences.append(self.t("report.conclusion.stop_reason", reason=self.stop_reason()))
        if run.dry_run:
            sentences.append(self.t("report.conclusion.dry_run"))
        return self.t("report.conclusion.separator").join(sentences)

    def report_missing_keys(self, format_name: str) -> None:
        if self.missing_keys:
            logger.warning(
                "report messages missing in %s (%s): %s",
                self.lang,
                format_name,
                ", ".join(sorted(self.missing_keys)),
            )
