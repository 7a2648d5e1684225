"""The HTML report: one self-contained page (templates/report.html.j2).

The page has the same sections as the Markdown report, plus a timeline of
every container's state across the cycles drawn as inline SVG. Its style
sheet (templates/report.css) and its short script (templates/report.js) are
copied into the page, so it opens from disk with no network access. Jinja
autoescaping is on: every value from the record is escaped.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from stackmedic.model import (
    CheckResult,
    CycleRecord,
    Finding,
    Repair,
    RepairStatus,
    RunRecord,
    Verdict,
)
from stackmedic.report import summary, timeline
from stackmedic.report.view import ReportView

_SNIPPET_TARGET = re.compile(r"^\s*>")


def html_report(run: RunRecord, lang: str, run_dir: Path | None = None) -> str:
    """Render an already redacted run as one HTML page in `lang`; `run_dir` is its folder, if known."""
    view = HtmlView(run, lang, run_dir)
    template = _environment().get_template("report.html.j2")
    text = template.render(
        run=view.run,
        view=view,
        t=view.t,
        lang=lang,
        style=Markup(_asset("report.css")),
        script=Markup(_asset("report.js")),
    )
    view.report_missing_keys("html")
    return _drop_blank_lines(text)


def _drop_blank_lines(text: str) -> str:
    """Drop the blank lines the template's tags leave, except inside <pre> elements."""
    lines: list[str] = []
    depth = 0
    for line in text.splitlines():
        if depth == 0 and not line.strip():
            continue
        lines.append(line)
        depth += line.count("<pre") - line.count("</pre>")
    return "\n".join(lines) + "\n"


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("stackmedic.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@functools.cache
def _asset(name: str) -> str:
    """Return a file of templates/ that the page embeds, with `</` made inert."""
    text = resources.files("stackmedic.report").joinpath("templates", name).read_text("utf-8")
    # The text goes inside <style> or <script>; `</` there would end the element early.
    return text.replace("</", "<\\/")


def estimated_width(text: str) -> float:
    """Estimate the width of `text` in SVG units at the timeline's 11 px label size.

    CJK characters are about twice as wide as Latin ones.
    """
    return sum(11.5 if ord(char) >= 0x2E80 else 6.6 for char in text)


@dataclass(frozen=True)
class DiffLine:
    """One line of a unified diff and its role: add, del, hunk, meta or context."""

    kind: str
    text: str


@dataclass(frozen=True)
class SnippetLine:
    text: str
    target: bool


@dataclass(frozen=True)
class BandLabel:
    text: str
    x: float
    anchor: str


@dataclass(frozen=True)
class Outcome:
    """One line of the summary's key outcomes: a mark (ok, warn, bad), a label and a text."""

    mark: str
    label: str
    text: str
    code: str = ""
    service: str = ""
    location: str = ""


class HtmlView(ReportView):
    """`ReportView` plus what the HTML page needs: CSS classes, diff lines, the timeline."""

    def t_html(self, key: str, /, **fields: str | Markup) -> Markup:
        """Translate `key` into escaped HTML whose fields may be markup (a link, a code span).

        The catalogue's text is escaped; each field is escaped unless it is
        already `Markup`.
        """
        slots = {name: f"\x00{index}\x00" for index, name in enumerate(fields)}
        html = escape(self.t(key, **slots))
        for name, slot in slots.items():
            html = html.replace(slot, escape(fields[name]))
        return Markup(html)

    def finding_link(self, cycle: CycleRecord, finding_id: str) -> Markup:
        """Link a finding id to its card in the same cycle, or show the id when it has none."""
        code = Markup("<code>{}</code>").format(finding_id)
        if not any(finding.id == finding_id for finding in cycle.findings):
            return code
        return Markup('<a href="#c{}-f-{}">{}</a>').format(cycle.number, finding_id, code)

    # -- classes --------------------------------------------------------------

    def verdict_class(self, verdict: Verdict) -> str:
        if verdict == Verdict.HEALTHY:
            return "ok"
        if verdict == Verdict.NOT_VERIFIED:
            return "neutral"
        return "bad" if verdict == Verdict.WORSE else "warn"

    def repair_class(self, repair: Repair) -> str:
        if repair.status == RepairStatus.APPLIED:
            return "ok"
        if repair.status in (RepairStatus.REJECTED, RepairStatus.ROLLED_BACK):
            return "bad" if repair.status == RepairStatus.ROLLED_BACK else "warn"
        return "neutral"

    def check_class(self, check: CheckResult) -> str:
        return "ok" if check.passed else "bad"

    # -- text -----------------------------------------------------------------

    def diff_lines(self, text: str) -> list[DiffLine]:
        """Split a unified diff into lines tagged for colouring."""
        lines = []
        for line in text.rstrip("\n").splitlines():
            if line.startswith(("+++", "---")):
                kind = "meta"
            elif line.startswith("@@"):
                kind = "hunk"
            elif line.startswith("+"):
                kind = "add"
            elif line.startswith("-"):
                kind = "del"
            else:
                kind = "context"
            lines.append(DiffLine(kind, line))
        return lines

    def snippet_lines(self, snippet: str) -> list[SnippetLine]:
        """Split a numbered source snippet; the line marked `>` is the located one."""
        return [
            SnippetLine(line, bool(_SNIPPET_TARGET.match(line)))
            for line in snippet.rstrip("\n").splitlines()
        ]

    def first_line(self, text: str) -> str:
        lines = text.strip().splitlines()
        return lines[0] if lines else self.t("report.value.none")

    def key_outcomes(self) -> list[Outcome]:
        """List the summary's outcomes: fixed, passed, not in effect, remaining, failed."""
        outcomes: list[Outcome] = []
        for finding in self.run.fixed:
            outcomes.append(self._finding_outcome("ok", "report.outcome.fixed", finding))
        for check in self.final_checks:
            if check.passed:
                outcomes.append(
                    Outcome("ok", self.t("report.outcome.check_passed"), "", check.name)
                )
        for item in self.not_in_effect:
            cycles = self.t("report.outcome.in_cycles", cycles=self.join(map(str, item.cycles)))
            text = f"{self.repair_title(item.repair)} — {cycles}"
            if item.repair.reason:
                text += f": {self.repair_reason(item.repair)}"
            label = self.repair_outcome_label(item.repair)
            outcomes.append(Outcome("warn", label, text, item.repair.code, item.repair.service))
        for cycle in self.run.cycles:
            title = self.t("report.cycle.title", number=cycle.number)
            if cycle.rolled_back:
                outcomes.append(Outcome("warn", self.t("report.outcome.cycle_rolled_back"), title))
            if cycle.settle_timed_out:
                outcomes.append(Outcome("warn", self.t("report.outcome.settle_timed_out"), title))
        for finding in self.run.remaining:
            outcomes.append(self._finding_outcome("bad", "report.outcome.remaining", finding))
        for check in self.final_checks:
            if not check.passed:
                label = self.t("report.outcome.check_failed")
                detail = self.first_line(self.check_detail(check))
                outcomes.append(Outcome("bad", label, detail, check.name))
        return outcomes

    def _finding_outcome(self, mark: str, label_key: str, finding: Finding) -> Outcome:
        location = str(finding.location) if finding.location else ""
        return Outcome(
            mark,
            self.t(label_key),
            self.finding_summary(finding),
            finding.code,
            finding.service,
            location,
        )

    def anchor(self, cycle: CycleRecord | None, finding: Finding, group: str = "f") -> str:
        """Return a page-unique element id for a finding (ids repeat across cycles)."""
        number = cycle.number if cycle is not None else 0
        return f"c{number}-{group}-{finding.id}"

    # -- timeline -------------------------------------------------------------

    @functools.cached_property
    def timeline_layout(self) -> timeline.Layout | None:
        built = timeline.build_timeline(self.run)
        return timeline.layout_timeline(built) if built is not None else None

    def state_label(self, state: str) -> str:
        return self.t(f"report.timeline.state.{state}")

    def phase_kind_label(self, kind: str) -> str:
        if kind == timeline.BASELINE:
            return self.t("report.timeline.baseline")
        if kind == summary.OTHER:
            return self.t("report.timeline.other_phase")
        return self.t(f"report.phase.{kind}")

    def short_name(self, name: str) -> str:
        """Drop the Compose project prefix from a container name, for the row labels."""
        project = self.run.project_name
        for separator in ("-", "_"):
            prefix = f"{project}{separator}"
            if project and name.startswith(prefix) and len(name) > len(prefix):
                return name[len(prefix) :]
        return name

    def clock_at(self, seconds: float) -> str:
        layout = self.timeline_layout
        if layout is None:
            return ""
        moment = layout.timeline.origin + dt.timedelta(seconds=seconds)
        return moment.strftime("%H:%M:%S")

    def span_text(self, start: float, end: float) -> str:
        return self.t(
            "report.timeline.span",
            start=self.clock_at(start),
            end=self.clock_at(end),
            seconds=f"{end - start:.1f}",
        )

    def segment_title(self, row: timeline.Row, segment: timeline.Segment) -> str:
        """Describe one segment for its tooltip: container, state, times, exit code, restarts."""
        parts = [f"{row.name} ({row.service})", self.state_label(segment.state)]
        snapshot = segment.snapshot
        if snapshot is not None:
            parts.append(
                self.t(
                    "report.timeline.observed",
                    state=snapshot.state,
                    health=snapshot.health or self.t("report.value.none"),
                )
            )
            if snapshot.exit_code is not None and snapshot.state != "running":
                parts.append(f"{self.t('report.container.exit_code')}: {snapshot.exit_code}")
            if snapshot.restart_count:
                parts.append(f"{self.t('report.container.restarts')}: {snapshot.restart_count}")
            if snapshot.oom_killed:
                parts.append(self.t("report.container.oom"))
        parts.append(self.span_text(segment.start, segment.end))
        return " · ".join(parts)

    def segment_label(self, segment: timeline.Segment) -> str:
        """Return the text drawn inside a segment, or "" when it would not fit."""
        label = self.state_label(segment.state)
        snapshot = segment.snapshot
        crashed = snapshot is not None and segment.state == timeline.CRASHED
        if crashed and snapshot is not None and snapshot.exit_code is not None:
            label += f" ({snapshot.exit_code})"
        layout = self.timeline_layout
        if layout is None:
            return ""
        width = layout.x(segment.end) - layout.x(segment.start)
        return label if estimated_width(label) + 12 <= width else ""

    def tick_anchor(self, seconds: float) -> str:
        """Align the last tick label's end with the plot's edge so that it is not cut off."""
        layout = self.timeline_layout
        if layout is not None and layout.x(seconds) > layout.plot_right - 16:
            return "end"
        return "middle"

    def band_label(self, cycle: timeline.CycleSpan) -> BandLabel:
        """Place a cycle's label at its band's start, or right-aligned when it would overflow."""
        text = self.t("report.cycle.title", number=cycle.number)
        if cycle.rolled_back:
            text += " ↺"
        layout = self.timeline_layout
        assert layout is not None
        start = layout.x(cycle.start)
        width = estimated_width(text) + 8
        if start + width > layout.plot_right:
            return BandLabel(text, layout.plot_right - 2, "end")
        return BandLabel(text, start + 4, "start")

    def phase_title_at(self, phase: timeline.PhaseSpan) -> str:
        label = self.phase_kind_label(phase.kind)
        if phase.kind == timeline.BASELINE:
            head = label
        else:
            cycle = self.t("report.cycle.title", number=phase.cycle)
            head = f"{cycle} · {phase.name} · {label}"
        return f"{head} · {self.span_text(phase.start, phase.end)}"

    def cycle_starts(self) -> set[tuple[int, str]]:
        """Return (cycle, phase name) of the first phase of each cycle."""
        layout = self.timeline_layout
        if layout is None:
            return set()
        firsts: dict[int, timeline.PhaseSpan] = {}
        for phase in layout.timeline.phases:
            if phase.kind != timeline.BASELINE and phase.cycle not in firsts:
                firsts[phase.cycle] = phase
        return {(phase.cycle, phase.name) for phase in firsts.values()}

    def legend_states(self) -> list[str]:
        """Return the states the timeline uses, in legend order."""
        layout = self.timeline_layout
        if layout is None:
            return []
        used = {segment.state for row in layout.timeline.rows for segment in row.segments}
        return [state for state in timeline.STATES if state in used]

    def legend_phases(self) -> list[str]:
        layout = self.timeline_layout
        if layout is None:
            return []
        used = {phase.kind for phase in layout.timeline.phases}
        order = (timeline.BASELINE, *summary.PHASE_KIND_ORDER, summary.OTHER)
        return [kind for kind in order if kind in used]

    def tick_label(self, seconds: float) -> str:
        return timeline.tick_label(seconds)

    def timeline_origin(self) -> str:
        layout = self.timeline_layout
        if layout is None:
            return ""
        origin = layout.timeline.origin.astimezone(dt.UTC)
        return origin.strftime("%Y-%m-%d %H:%M:%S UTC")
