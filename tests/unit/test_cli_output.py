"""What the CLI prints itself: the run summary lines and which log records reach the console."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import run_builders as builders
from rich.console import Console

from stackmedic import cli


@pytest.fixture
def fresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[cli._Context]:
    """Give each test its own CLI options and console, and restore the root log level after it."""
    state = cli._Context()
    state.console = Console(file=io.StringIO(), highlight=False, soft_wrap=True, width=200)
    monkeypatch.setattr(cli, "state", state)
    root = logging.getLogger()
    level = root.level
    yield state
    root.setLevel(level)


def printed(state: cli._Context) -> str:
    assert isinstance(state.console.file, io.StringIO)
    return state.console.file.getvalue()


@pytest.mark.parametrize(("lang", "word"), [("en", "remaining: "), ("zh-CN", "仍存在：")])
def test_remaining_lines_have_no_markup_escapes(fresh_state: cli._Context, lang: str, word: str) -> None:
    fresh_state.lang = lang
    record = builders.run_with_remaining_problems()

    cli._print_run_summary(record, [])

    lines = [line.strip() for line in printed(fresh_state).splitlines() if word in line]
    assert len(lines) == len(record.remaining)
    assert all("\\" not in line for line in lines)
    assert f"{word}KEY_ERROR [tacoreservice] " in lines[1]


def test_remaining_finding_without_location_prints_no_placeholder(fresh_state: cli._Context) -> None:
    record = builders.run_with_remaining_problems()
    assert record.remaining[0].location is None, "the builder's first remaining finding has no location"

    cli._print_run_summary(record, [])

    first = next(line for line in printed(fresh_state).splitlines() if "remaining:" in line)
    assert first.strip() == "remaining: MISSING_ENV [tacoreservice-worker]"


def test_remaining_finding_with_location_names_it(fresh_state: cli._Context) -> None:
    record = builders.run_with_remaining_problems()
    located = record.remaining[1]
    assert located.location is not None

    cli._print_run_summary(record, [])

    assert f"remaining: KEY_ERROR [tacoreservice] at {located.location}" in printed(fresh_state)


def test_warning_records_hidden_without_verbose(fresh_state: cli._Context) -> None:
    cli.apply_common_options(None, 0, False, False)

    assert not logging.getLogger("stackmedic.evidence.collect").isEnabledFor(logging.WARNING)
    assert logging.getLogger("stackmedic.evidence.collect").isEnabledFor(logging.ERROR)


def test_warning_records_shown_with_verbose(fresh_state: cli._Context) -> None:
    cli.apply_common_options(None, 1, False, False)

    assert logging.getLogger("stackmedic.evidence.collect").isEnabledFor(logging.WARNING)
    assert not logging.getLogger("stackmedic.evidence.collect").isEnabledFor(logging.DEBUG)
