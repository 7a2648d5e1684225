"""Statically resolved values: text built from literals and environment reads.

A `Value` is a sequence of segments. A segment is literal text, text that
comes from an environment variable (its in-code default, or unknown when
there is none), or unknown text. Each segment keeps its variable, so an
address parser can tell which variable controls the host and which the port
of `f"tcp://{host}:{port}"`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Stands for text that could not be resolved when a value is rendered, so
# parsers can tell "unknown" from an empty string. No source text contains it:
# the collector skips files with NUL bytes.
UNKNOWN_CHAR = "\x00"

# A printf-style conversion: Python's %-format, Go's fmt verbs (%v, %q) and
# Node's util.format (%j, %o) all fit this shape.
PERCENT_SPEC = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[A-Za-z%]"
)


@dataclass(frozen=True)
class Segment:
    """A piece of a value: `text` is None when unknown; `variable` names its env source."""

    text: str | None
    variable: str | None = None


@dataclass(frozen=True)
class Value:
    """A resolved expression.

    `kind` is "str", "number", "bool", "none", "tuple", "list" or "unknown";
    tuples and lists keep their elements in `items`.
    """

    segments: tuple[Segment, ...] = ()
    kind: str = "str"
    items: tuple[Value, ...] = ()

    @staticmethod
    def literal(text: str, kind: str = "str") -> Value:
        return Value((Segment(text),), kind)

    @staticmethod
    def unknown() -> Value:
        return Value((Segment(None),), "unknown")

    @staticmethod
    def from_env(variable: str, default: str | None) -> Value:
        return Value((Segment(default, variable),), "str")

    @staticmethod
    def sequence(items: Iterable[Value], kind: str) -> Value:
        return Value((Segment(None),), kind, tuple(items))

    @staticmethod
    def concat(values: Iterable[Value], kind: str = "str") -> Value:
        segments: list[Segment] = []
        for value in values:
            segments.extend(value.segments)
        return Value(tuple(segments), kind)

    @property
    def text(self) -> str | None:
        """Return the full text, or None when any segment is unknown."""
        if self.kind in ("tuple", "list"):
            return None
        parts = [segment.text for segment in self.segments]
        if any(part is None for part in parts):
            return None
        return "".join(part for part in parts if part is not None)

    @property
    def is_known(self) -> bool:
        return self.text is not None

    @property
    def variables(self) -> list[str]:
        """Return the environment variables this value depends on, in order."""
        found: list[str] = []
        for segment in self.segments:
            if segment.variable and segment.variable not in found:
                found.append(segment.variable)
        return found

    @property
    def sole_variable(self) -> str | None:
        """Return the variable when the whole value is one environment read."""
        if len(self.segments) == 1:
            return self.segments[0].variable
        return None

    def render(self) -> str:
        """Return the text with `UNKNOWN_CHAR` in place of each unknown segment."""
        return "".join(UNKNOWN_CHAR if s.text is None else s.text for s in self.segments)

    def variable_in(self, start: int, end: int) -> str | None:
        """Return the first variable whose segment overlaps `render()[start:end]`."""
        offset = 0
        for segment in self.segments:
            length = 1 if segment.text is None else len(segment.text)
            if segment.variable and offset < end and offset + length > start:
                return segment.variable
            # An empty segment sitting exactly at an empty span still controls it.
            if segment.variable and length == 0 and start == end == offset:
                return segment.variable
            offset += length
        return None

    def map_text(self, change: str) -> Value:
        """Apply a string method without arguments (strip, lower, upper) to known segments."""
        segments = []
        for segment in self.segments:
            if segment.text is None:
                segments.append(segment)
            else:
                segments.append(Segment(getattr(segment.text, change)(), segment.variable))
        return Value(tuple(segments), self.kind, self.items)

    def with_kind(self, kind: str) -> Value:
        return Value(self.segments, kind, self.items)


def format_percent(template: str, args: list[Value], named: dict[str, Value]) -> Value | None:
    """Apply printf-style formatting (`%s`, `%d`, `%(name)s`, Go's `%v`) to a known template.

    Returns None when the template and the arguments do not fit together.
    """
    pieces: list[Value] = []
    position = 0
    next_arg = 0
    for match in PERCENT_SPEC.finditer(template):
        pieces.append(Value.literal(template[position : match.start()]))
        position = match.end()
        spec = match.group(0)
        if spec == "%%":
            pieces.append(Value.literal("%"))
            continue
        name = match.group("name")
        if name is not None:
            if name not in named:
                return None
            pieces.append(named[name])
            continue
        if next_arg >= len(args):
            return None
        pieces.append(args[next_arg])
        next_arg += 1
    pieces.append(Value.literal(template[position:]))
    return Value.concat(pieces)
