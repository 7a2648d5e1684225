"""The container timeline of the HTML report: every container's state over the run.

`build_timeline` turns the snapshots of all cycles into one row per container
with a segment per observed state, and the phase records into spans the page
marks as cycle and phase boundaries. `layout_timeline` places both on the
fixed coordinate grid of the page's inline SVG. Times are seconds since the
timeline's origin, the earliest moment the run recorded.

A snapshot is taken when a container's state changes, so each state lasts
until the container's next snapshot. The exception is a redeploy: VERIFY
phases start with `docker compose down`, which removes the containers, so a
state ends where a VERIFY phase starts and the row shows "not observed" until
the recreated container's first snapshot.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from stackmedic.model import ContainerSnapshot, RunRecord, Verdict
from stackmedic.report import summary

# Display states, in the order the legend lists them.
RUNNING = "running"
HEALTHY = "healthy"
STARTING = "starting"
UNHEALTHY = "unhealthy"
RESTARTING = "restarting"
EXITED = "exited"
CRASHED = "crashed"
OTHER = "other"
UNOBSERVED = "unobserved"
STATES = (RUNNING, HEALTHY, STARTING, UNHEALTHY, RESTARTING, EXITED, CRASHED, OTHER, UNOBSERVED)

BASELINE = "baseline"

# Turns a moment into seconds since the timeline's origin.
_Offset = Callable[[dt.datetime], float]

_TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)
_MAX_TICKS = 10


def display_state(snapshot: ContainerSnapshot) -> str:
    """Map an engine state and health to the state the timeline colours.

    A running container with a health check shows its health; one without
    shows `running`. An exit with code 0 is `exited`; a non-zero exit, a
    dead container or an OOM kill is `crashed`. Created, paused and removing
    containers are `other`.
    """
    state = snapshot.state.lower()
    if state == "running":
        health = (snapshot.health or "").lower()
        return health if health in (HEALTHY, UNHEALTHY, STARTING) else RUNNING
    if state == "restarting":
        return RESTARTING
    if state in ("exited", "dead"):
        if state == "dead" or snapshot.oom_killed or snapshot.exit_code not in (0, None):
            return CRASHED
        return EXITED
    return OTHER


@dataclass(frozen=True)
class Segment:
    """One state of one container from `start` to `end` (seconds since the origin).

    `snapshot` is the observation the state comes from; None for `unobserved`.
    """

    start: float
    end: float
    state: str
    snapshot: ContainerSnapshot | None = None


@dataclass
class Row:
    name: str
    service: str
    segments: list[Segment] = field(default_factory=list)


@dataclass(frozen=True)
class PhaseSpan:
    """A phase of a cycle, or the baseline before the first cycle (`cycle` 0)."""

    cycle: int
    name: str
    kind: str
    start: float
    end: float


@dataclass(frozen=True)
class CycleSpan:
    number: int
    start: float
    end: float
    verdict: Verdict
    rolled_back: bool


@dataclass
class Timeline:
    """Rows of container states and the run's phases on one time axis."""

    origin: dt.datetime
    span: float
    rows: list[Row]
    phases: list[PhaseSpan]
    cycles: list[CycleSpan]
    ticks: list[float]


def build_timeline(run: RunRecord) -> Timeline | None:
    """Return the run's timeline, or None when no snapshot has a readable time."""
    observations = _observations(run)
    if not observations:
        return None

    moments = [observed_at for observed_at, _snapshot in observations]
    moments += [
        parsed
        for cycle in run.cycles
        for phase in cycle.phases
        for parsed in (
            summary.parse_timestamp(phase.started_at),
            summary.parse_timestamp(phase.finished_at),
        )
        if parsed is not None
    ]
    for value in (run.started_at, run.finished_at):
        parsed = summary.parse_timestamp(value)
        if parsed is not None:
            moments.append(parsed)
    origin = min(moments)
    span = max((max(moments) - origin).total_seconds(), 1.0)

    def offset(moment: dt.datetime) -> float:
        return (moment - origin).total_seconds()

    phases, cycles = _phase_spans(run, offset, span)
    redeploys = sorted(phase.start for phase in phases if phase.kind == summary.VERIFY)
    rows = _rows(observations, offset, span, redeploys)
    return Timeline(origin, span, rows, phases, cycles, tick_positions(span))


def _observations(run: RunRecord) -> list[tuple[dt.datetime, ContainerSnapshot]]:
    """Return every snapshot once with its parsed time, oldest first.

    A cycle repeats the last snapshots of the cycle before it, so identical
    snapshots are merged.
    """
    seen: set[tuple[object, ...]] = set()
    observations: list[tuple[dt.datetime, ContainerSnapshot]] = []
    for cycle in run.cycles:
        for snapshot in cycle.snapshots:
            identity = (
                snapshot.at,
                snapshot.name,
                snapshot.state,
                snapshot.health,
                snapshot.exit_code,
                snapshot.restart_count,
                snapshot.oom_killed,
            )
            observed_at = summary.parse_timestamp(snapshot.at)
            if identity in seen or observed_at is None:
                continue
            seen.add(identity)
            observations.append((observed_at, snapshot))
    observations.sort(key=lambda item: item[0])
    return observations


def _phase_spans(
    run: RunRecord, offset: _Offset, span: float
) -> tuple[list[PhaseSpan], list[CycleSpan]]:
    phases: list[PhaseSpan] = []
    cycles: list[CycleSpan] = []
    for cycle in run.cycles:
        spans = []
        for phase in cycle.phases:
            started = summary.parse_timestamp(phase.started_at)
            if started is None:
                continue
            finished = summary.parse_timestamp(phase.finished_at)
            start = offset(started)
            end = offset(finished) if finished is not None else start
            spans.append(
                PhaseSpan(cycle.number, phase.name, summary.phase_kind(phase.name), start, end)
            )
        if not spans:
            continue
        phases.extend(spans)
        cycles.append(
            CycleSpan(
                number=cycle.number,
                start=min(item.start for item in spans),
                end=max(item.end for item in spans),
                verdict=cycle.verdict,
                rolled_back=cycle.rolled_back,
            )
        )

    # Everything before the first cycle is the baseline: the wait for the
    # containers to settle and the checks before any change.
    first = cycles[0].start if cycles else span
    if first > 0:
        phases.insert(0, PhaseSpan(0, BASELINE, BASELINE, 0.0, first))
    return phases, cycles


def _rows(
    observations: list[tuple[dt.datetime, ContainerSnapshot]],
    offset: _Offset,
    span: float,
    redeploys: list[float],
) -> list[Row]:
    by_name: dict[str, Row] = {}
    points: dict[str, list[tuple[float, ContainerSnapshot]]] = {}
    for observed_at, snapshot in observations:
        row = by_name.setdefault(snapshot.name, Row(snapshot.name, snapshot.service))
        row.service = row.service or snapshot.service
        points.setdefault(snapshot.name, []).append((offset(observed_at), snapshot))

    for name, row in by_name.items():
        series = points[name]
        for index, (start, snapshot) in enumerate(series):
            end = series[index + 1][0] if index + 1 < len(series) else span
            cut = next((moment for moment in redeploys if start < moment < end), None)
            if cut is None:
                _append(row, Segment(start, end, display_state(snapshot), snapshot))
            else:
                _append(row, Segment(start, cut, display_state(snapshot), snapshot))
                _append(row, Segment(cut, end, UNOBSERVED))
    return sorted(by_name.values(), key=lambda row: (row.service, row.name))


def _append(row: Row, segment: Segment) -> None:
    """Add `segment`, merging it into the previous one when nothing observable changed."""
    if segment.end <= segment.start:
        return
    if row.segments:
        last = row.segments[-1]
        if last.state == segment.state and _same_observation(last.snapshot, segment.snapshot):
            row.segments[-1] = Segment(last.start, segment.end, last.state, last.snapshot)
            return
    row.segments.append(segment)


def _same_observation(first: ContainerSnapshot | None, second: ContainerSnapshot | None) -> bool:
    if first is None or second is None:
        return first is second
    return (first.exit_code, first.restart_count, first.oom_killed) == (
        second.exit_code,
        second.restart_count,
        second.oom_killed,
    )


def tick_positions(span: float) -> list[float]:
    """Return axis ticks from 0 at a round step, at most `_MAX_TICKS` + 1 of them."""
    step = next((s for s in _TICK_STEPS if span / s <= _MAX_TICKS), None)
    if step is None:
        step = math.ceil(span / _MAX_TICKS / 3600) * 3600
    count = int(span // step)
    return [float(index * step) for index in range(count + 1)]


def tick_label(seconds: float) -> str:
    """Format seconds since the origin as `m:ss`, or `h:mm:ss` from one hour on."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


# -- layout on the SVG grid ---------------------------------------------------

WIDTH = 1000.0
LABEL_WIDTH = 230.0
RIGHT_MARGIN = 14.0
BAND_LABEL_HEIGHT = 18.0
PHASE_LANE_TOP = 22.0
PHASE_LANE_HEIGHT = 14.0
ROWS_TOP = 46.0
ROW_HEIGHT = 26.0
BAR_HEIGHT = 18.0
AXIS_HEIGHT = 30.0
# Segments narrower than this get no text label inside them.
MIN_LABELLED_WIDTH = 70.0
# A sliver of a very short phase or state stays visible at this width.
MIN_WIDTH = 1.5


@dataclass(frozen=True)
class Box:
    x: float
    width: float


@dataclass
class Layout:
    """Coordinates, in SVG user units, of everything the timeline draws."""

    timeline: Timeline
    height: float
    plot_left: float
    plot_right: float
    rows_bottom: float

    def x(self, seconds: float) -> float:
        fraction = min(max(seconds / self.timeline.span, 0.0), 1.0)
        return round(self.plot_left + fraction * (self.plot_right - self.plot_left), 2)

    def box(self, start: float, end: float) -> Box:
        left = self.x(start)
        width = max(self.x(end) - left, MIN_WIDTH)
        return Box(left, round(width, 2))

    def row_top(self, index: int) -> float:
        return ROWS_TOP + index * ROW_HEIGHT

    def bar_top(self, index: int) -> float:
        return self.row_top(index) + (ROW_HEIGHT - BAR_HEIGHT) / 2

    def labelled(self, start: float, end: float) -> bool:
        return self.x(end) - self.x(start) >= MIN_LABELLED_WIDTH


def layout_timeline(timeline: Timeline) -> Layout:
    rows_bottom = ROWS_TOP + len(timeline.rows) * ROW_HEIGHT
    return Layout(
        timeline=timeline,
        height=rows_bottom + AXIS_HEIGHT,
        plot_left=LABEL_WIDTH,
        plot_right=WIDTH - RIGHT_MARGIN,
        rows_bottom=rows_bottom,
    )
