"""Progress output: spinner lines on a terminal, plain timed lines elsewhere, nothing when quiet."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from stackmedic.progress import Progress

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    stream = io.StringIO()
    return (
        Console(
            file=stream,
            force_terminal=terminal,
            width=120,
            highlight=False,
            soft_wrap=True,
            color_system="standard" if terminal else None,
        ),
        stream,
    )


def run_sample(progress: Progress, clock: FakeClock) -> None:
    """Report what the loop reports at its start: a plain line, two activities, results."""
    progress.notify("run.start", project="demo", plan="PLAN-1", checks=2)
    progress.notify("baseline.wait", timeout=120)
    clock.now += 19.8
    progress.notify("baseline.checks", count=2)
    clock.now += 10.2
    progress.notify("check.result", name="workers-api", passed=False, detail="answered 500")
    progress.notify("check.result", name="round-trip", passed=True, detail="exited 0")
    progress.close()


def test_plain_output_is_one_timed_line_per_message() -> None:
    out, stream = console(terminal=False)
    clock = FakeClock()

    run_sample(Progress(out, "en", clock=clock), clock)

    assert stream.getvalue().splitlines() == [
        "[   0.0s] Project demo: plan PLAN-1, 2 functional check(s)",
        "[   0.0s] Waiting for containers to settle (engine events, timeout 120 s)",
        "[  19.8s] Baseline: running 2 check(s) before any change",
        "[  30.0s] ❌ check workers-api: answered 500",
        "[  30.0s] ✅ check round-trip: exited 0",
    ]


def test_terminal_activity_ends_with_duration() -> None:
    out, stream = console(terminal=True)
    clock = FakeClock()

    run_sample(Progress(out, "en", clock=clock), clock)

    text = stream.getvalue()
    assert "\x1b[?25l" in text  # the spinner hid the cursor while it ran
    assert "\x1b[2K" in text  # and its line was erased when it stopped
    lines = [ANSI.sub("", line).strip() for line in text.replace("\r", "\n").splitlines()]
    final = [line for line in lines if "done in" in line]
    assert final == [
        "[  19.8s] Waiting for containers to settle (engine events, timeout 120 s) — done in 19.8 s",
        "[  30.0s] Baseline: running 2 check(s) before any change — done in 10.2 s",
    ]
    assert "[  30.0s] ❌ check workers-api: answered 500" in lines
    assert lines.index(final[1]) < lines.index("[  30.0s] ❌ check workers-api: answered 500")


def test_terminal_spinner_line_shows_running_time() -> None:
    out, _stream = console(terminal=True)
    clock = FakeClock()
    progress = Progress(out, "en", clock=clock)

    progress.notify("phase.deploy")
    clock.now += 4.25
    assert progress._activity is not None
    shown = progress._activity.renderable()
    progress.close()

    rendered = ANSI.sub("", "".join(segment.text for segment in out.render(shown)))
    assert "[   0.0s] VERIFY-01: redeploying" in rendered
    assert rendered.rstrip().endswith("4.2 s")


def test_close_without_activity_prints_nothing() -> None:
    out, stream = console(terminal=True)
    progress = Progress(out, "en", clock=FakeClock())

    progress.close()
    progress.close()

    assert stream.getvalue() == ""


@pytest.mark.parametrize("terminal", [True, False])
def test_quiet_prints_only_the_result(terminal: bool) -> None:
    out, stream = console(terminal)
    clock = FakeClock()
    progress = Progress(out, "en", quiet=True, clock=clock)

    run_sample(progress, clock)
    progress.result("Verdict: problems remain after 2 cycle(s)")

    assert ANSI.sub("", stream.getvalue()) == "Verdict: problems remain after 2 cycle(s)\n"


def test_result_ends_a_running_activity_first() -> None:
    out, stream = console(terminal=True)
    clock = FakeClock()
    progress = Progress(out, "en", clock=clock)

    progress.notify("baseline.wait", timeout=60)
    clock.now += 2.0
    progress.result("Report: /tmp/run/report.html")

    lines = [
        ANSI.sub("", line).strip() for line in stream.getvalue().replace("\r", "\n").splitlines()
    ]
    lines = [line for line in lines if line]
    assert lines[-2:] == [
        "[   2.0s] Waiting for containers to settle (engine events, timeout 60 s) — done in 2.0 s",
        "Report: /tmp/run/report.html",
    ]


def test_context_manager_closes_the_activity() -> None:
    out, stream = console(terminal=True)
    clock = FakeClock()

    with Progress(out, "en", clock=clock) as progress:
        progress.notify("phase.deploy")
        clock.now += 1.5

    assert "— done in 1.5 s" in ANSI.sub("", stream.getvalue())


def test_chinese_messages_and_translated_repair_status() -> None:
    out, stream = console(terminal=False)
    clock = FakeClock()
    progress = Progress(out, "zh-CN", clock=clock)

    progress.notify("repair", status="rejected", title="T", detail="无效")
    progress.notify("cycle.start", number=1, total=3)

    assert stream.getvalue().splitlines() == [
        "[   0.0s] REPAIR-01：已拒绝：T — 无效",
        "[   0.0s] 第 1/3 轮循环",
    ]


def test_chinese_final_line_says_how_long() -> None:
    out, stream = console(terminal=True)
    clock = FakeClock()

    with Progress(out, "zh-CN", clock=clock) as progress:
        progress.notify("phase.deploy")
        clock.now += 3.0

    assert "VERIFY-01：重新部署（先构建或拉取镜像，再 down 保留数据卷，up -d）（用时 3.0 秒）" in ANSI.sub(
        "", stream.getvalue()
    )


def test_markup_in_messages_is_printed_literally() -> None:
    out, stream = console(terminal=False)
    progress = Progress(out, "en", clock=FakeClock())

    progress.notify("check.result", name="[bold]x[/bold]", passed=True, detail="[red]ok")

    assert stream.getvalue() == "[   0.0s] ✅ check [bold]x[/bold]: [red]ok\n"
