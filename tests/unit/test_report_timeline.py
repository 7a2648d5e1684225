"""The container timeline of the HTML report: rows, segments, phases and layout."""

from __future__ import annotations

import pytest
import run_builders as builders

from stackmedic.model import ContainerSnapshot
from stackmedic.report import timeline
from stackmedic.report.timeline import (
    build_timeline,
    display_state,
    layout_timeline,
    tick_label,
    tick_positions,
)


def snapshot(state: str, health: str | None = None, **extra: object) -> ContainerSnapshot:
    return ContainerSnapshot(
        at=builders.at(0), name="c", service="s", state=state, health=health, **extra
    )


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        (snapshot("running", "healthy"), "healthy"),
        (snapshot("running", "unhealthy"), "unhealthy"),
        (snapshot("running", "starting"), "starting"),
        (snapshot("running", None), "running"),
        (snapshot("running", "none"), "running"),
        (snapshot("restarting", None, exit_code=1), "restarting"),
        (snapshot("exited", None, exit_code=0), "exited"),
        (snapshot("exited", None, exit_code=None), "exited"),
        (snapshot("exited", None, exit_code=1), "crashed"),
        (snapshot("exited", None, exit_code=0, oom_killed=True), "crashed"),
        (snapshot("dead", None, exit_code=0), "crashed"),
        (snapshot("created", None), "other"),
        (snapshot("paused", None), "other"),
    ],
)
def test_display_state_maps_engine_state_and_health(
    observed: ContainerSnapshot, expected: str
) -> None:
    assert display_state(observed) == expected


def test_run_without_snapshots_has_no_timeline() -> None:
    assert build_timeline(builders.base_run()) is None


def test_one_row_per_container_sorted_by_service() -> None:
    built = build_timeline(builders.healthy_run())
    assert built is not None

    names = [row.name for row in built.rows]

    assert names == [
        "tacore-redis-1",
        "tacore-tacoreservice-1",
        "tacore-tacoreservice-worker-1",
        "tacore-tacoreservice-worker-2",
    ]
    assert [row.service for row in built.rows] == [
        "redis",
        "tacoreservice",
        "tacoreservice-worker",
        "tacoreservice-worker",
    ]


def test_state_lasts_until_redeploy_then_unobserved() -> None:
    # Snapshots at 2 s (unhealthy) and 41 s (healthy); VERIFY-01 starts at 5 s.
    built = build_timeline(builders.healthy_run())
    assert built is not None
    worker = next(row for row in built.rows if row.name == "tacore-tacoreservice-worker-1")

    states = [(segment.state, segment.start, segment.end) for segment in worker.segments]

    assert states == [
        ("unhealthy", 2.0, 5.0),
        ("unobserved", 5.0, 41.0),
        ("healthy", 41.0, 61.0),
    ]


def test_last_state_runs_to_the_end_of_the_run() -> None:
    built = build_timeline(builders.healthy_run())
    assert built is not None

    assert built.span == 61.0
    assert all(row.segments[-1].end == built.span for row in built.rows)


def test_snapshots_repeated_by_the_next_cycle_are_merged() -> None:
    run = builders.run_with_remaining_problems()
    # Cycle 2 starts with the same snapshots cycle 1 ended with, as the loop records them.
    run.cycles[1].snapshots = list(run.cycles[0].snapshots[4:]) + run.cycles[1].snapshots
    built = build_timeline(run)
    assert built is not None
    redis = next(row for row in built.rows if row.name == "tacore-redis-1")

    healthy_from_81 = [s for s in redis.segments if s.start == 81.0]

    assert len(healthy_from_81) == 1


def test_equal_states_in_a_row_become_one_segment() -> None:
    run = builders.run_without_checks()
    run.cycles[0].snapshots.append(builders.make_snapshot("tacore-redis-1", "redis", 30, "healthy"))
    built = build_timeline(run)
    assert built is not None
    redis = next(row for row in built.rows if row.name == "tacore-redis-1")

    assert [(s.state, s.start) for s in redis.segments] == [("healthy", 2.0)]


def test_crash_restart_and_oom_segments_in_order() -> None:
    built = build_timeline(builders.crash_loop_run())
    assert built is not None
    worker = next(row for row in built.rows if row.name == "tacore-tacoreservice-worker-1")

    states = [segment.state for segment in worker.segments]

    assert states == [
        "starting",
        "crashed",
        "restarting",
        "starting",
        "crashed",
        "unobserved",
        "exited",
    ]
    oom = worker.segments[4].snapshot
    assert oom is not None
    assert oom.oom_killed
    assert oom.exit_code == 137


def test_phases_start_with_the_baseline() -> None:
    built = build_timeline(builders.run_with_remaining_problems())
    assert built is not None

    first = built.phases[0]
    names = [(phase.cycle, phase.name) for phase in built.phases[1:]]

    assert (first.kind, first.start, first.end) == ("baseline", 0.0, 10.0)
    assert names == [
        (1, "DIAGNOSE-01"),
        (1, "DIAGNOSE-02"),
        (1, "REPAIR-01"),
        (1, "VERIFY-01"),
        (2, "DIAGNOSE-01"),
        (2, "DIAGNOSE-02"),
        (2, "REPAIR-01"),
    ]


def test_cycle_spans_cover_their_phases() -> None:
    built = build_timeline(builders.run_with_remaining_problems())
    assert built is not None

    spans = [(cycle.number, cycle.start, cycle.end) for cycle in built.cycles]

    assert spans == [(1, 10.0, 95.0), (2, 100.0, 104.0)]


def test_unreadable_snapshot_time_is_skipped() -> None:
    run = builders.healthy_run()
    run.cycles[0].snapshots[0].at = "not a time"

    built = build_timeline(run)
    assert built is not None

    main = next(row for row in built.rows if row.name == "tacore-tacoreservice-1")
    assert [(s.state, s.start) for s in main.segments] == [("healthy", 41.0)]


@pytest.mark.parametrize(
    ("span", "expected_step"),
    [(8.0, 1.0), (52.0, 10.0), (252.0, 30.0), (3000.0, 300.0), (40000.0, 7200.0)],
)
def test_ticks_use_a_round_step(span: float, expected_step: float) -> None:
    ticks = tick_positions(span)

    assert ticks[0] == 0.0
    assert ticks[1] - ticks[0] == expected_step
    assert len(ticks) <= 11
    assert ticks[-1] <= span


def test_ticks_of_a_very_long_run_stay_few() -> None:
    ticks = tick_positions(10 * 24 * 3600.0)

    assert 2 <= len(ticks) <= 11


@pytest.mark.parametrize(("seconds", "label"), [(0.0, "0:00"), (65.0, "1:05"), (3725.0, "1:02:05")])
def test_tick_labels_read_as_clock_offsets(seconds: float, label: str) -> None:
    assert tick_label(seconds) == label


def test_layout_keeps_every_segment_inside_the_plot() -> None:
    built = build_timeline(builders.run_with_remaining_problems())
    assert built is not None
    layout = layout_timeline(built)

    for row in built.rows:
        for segment in row.segments:
            box = layout.box(segment.start, segment.end)
            assert layout.plot_left <= box.x <= layout.plot_right
            assert box.x + box.width <= layout.plot_right + timeline.MIN_WIDTH
            assert box.width >= timeline.MIN_WIDTH


def test_layout_height_grows_with_rows() -> None:
    built = build_timeline(builders.healthy_run())
    assert built is not None

    layout = layout_timeline(built)

    assert layout.rows_bottom == timeline.ROWS_TOP + 4 * timeline.ROW_HEIGHT
    assert layout.height == layout.rows_bottom + timeline.AXIS_HEIGHT
    assert layout.row_top(1) - layout.row_top(0) == timeline.ROW_HEIGHT
