"""Progress output of the command line: what the loop is doing and for how long.

The loop reports progress as message keys with fields (`notify("baseline.wait",
timeout=120)`); `Progress` prints them in the CLI's language from the
`cli.*` messages of the catalogue.

- On a terminal, a message that starts slow work shows as a spinner line
  with a running clock. Slow work is a deploy, a wait for the containers to
  settle or a run of checks (see `ACTIVITY_KEYS`). The next message ends
  that work, and a final line that gives its duration replaces the spinner.
- Off a terminal (a pipe, a CI log), every message is one plain line with
  the seconds since the start: `[  12.3s] message`.
- Quiet mode prints no progress at all, only what `result` is given.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from rich.console import Console, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.text import Text

from stackmedic.i18n import catalogue, translate

logger = logging.getLogger(__name__)

# Messages that announce work which usually takes more than a second. Each
# lasts until the next message.
ACTIVITY_KEYS = frozenset(
    {
        "baseline.deploy",
        "baseline.wait",
        "baseline.checks",
        "phase.deploy",
        "phase.checks",
        "cycle.rollback",
    }
)

Clock = Callable[[], float]


class Progress:
    """Prints progress messages to `console` in `lang`.

    Use it as a context manager, or call `close` before printing anything
    else (an error, the final summary), so that a running spinner line is
    finished first.
    """

    def __init__(
        self,
        console: Console,
        lang: str,
        *,
        quiet: bool = False,
        clock: Clock = time.monotonic,
        activity_keys: frozenset[str] = ACTIVITY_KEYS,
    ) -> None:
        self.console = console
        self.lang = lang
        self.quiet = quiet
        self._clock = clock
        self._started = clock()
        self._activity_keys = activity_keys
        self._activity: _Activity | None = None

    @property
    def elapsed(self) -> float:
        """Seconds since this object was created."""
        return self._clock() - self._started

    def notify(self, key: str, /, **fields: Any) -> None:
        """Print the message `cli.<key>` filled with `fields`, unless quiet."""
        if self.quiet:
            return
        self._finish_activity()
        text = self.message(key, **fields)
        if key in self._activity_keys and self.console.is_terminal:
            self._activity = _Activity(self, text)
            self._activity.start()
        else:
            self._print_line(self.elapsed, text)

    def message(self, key: str, /, **fields: Any) -> str:
        """Return the text of `cli.<key>` in the CLI's language.

        A check result gets its pass or fail mark, and a repair's status its
        translated label.
        """
        if key == "check.result":
            fields["mark"] = "✅" if fields.get("passed") else "❌"
        if key == "repair" and "status" in fields:
            label = f"report.repair.status.{fields['status']}"
            if label in catalogue(self.lang):
                fields["status"] = translate(label, self.lang)
        return translate(f"cli.{key}", self.lang, **fields)

    def result(self, text: str) -> None:
        """Print a line of the final result; quiet mode prints it too."""
        self._finish_activity()
        self.console.print(escape(text))

    def close(self) -> None:
        """End the running activity, if any, with its final line."""
        self._finish_activity()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _finish_activity(self) -> None:
        activity, self._activity = self._activity, None
        if activity is None:
            return
        seconds = activity.stop()
        done = translate(
            "progress.done", self.lang, message=activity.text, seconds=f"{seconds:.1f}"
        )
        self._print_line(self.elapsed, done)

    def _print_line(self, elapsed: float, text: str) -> None:
        self.console.print(f"[dim][{elapsed:6.1f}s][/dim] {escape(text)}")


class _Activity:
    """A spinner line with a running clock, shown while slow work runs."""

    def __init__(self, progress: Progress, text: str) -> None:
        self.progress = progress
        self.text = text
        self._clock = progress._clock
        self._started = self._clock()
        self._spinner = Spinner("dots", style="cyan")
        self._live = Live(
            _ActivityLine(self),
            console=progress.console,
            transient=True,
            refresh_per_second=8,
        )

    def start(self) -> None:
        self._live.start()

    def stop(self) -> float:
        """Remove the spinner line; return how many seconds the activity ran."""
        self._live.stop()
        return self._clock() - self._started

    def renderable(self) -> RenderableType:
        started = self._started - self.progress._started
        running = self._clock() - self._started
        self._spinner.update(
            text=Text.assemble(
                (f"[{started:6.1f}s] ", "dim"), self.text, (f"  {running:.1f} s", "dim")
            )
        )
        return self._spinner


class _ActivityLine:
    """The renderable that `Live` redraws. Each redraw gets a fresh line from the activity."""

    def __init__(self, activity: _Activity) -> None:
        self.activity = activity

    def __rich__(self) -> RenderableType:
        return self.activity.renderable()
