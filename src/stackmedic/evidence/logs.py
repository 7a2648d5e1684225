"""Turning raw container log bytes into bounded, timestamped `LogLine`s."""

from __future__ import annotations

import re

from stackmedic.evidence.model import LogLine

# Longer lines are cut; binary output and minified payloads make lines of
# megabytes that no pattern needs in full.
MAX_LINE_CHARS = 4000
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})) ?")
# C0 control characters except tab; a NUL or escape sequence in a log would
# otherwise reach the report and the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def parse_log_bytes(raw: bytes, *, first_number: int = 1) -> list[LogLine]:
    """Split engine log output (read with timestamps=True) into lines.

    Undecodable bytes become U+FFFD, control characters are dropped and very
    long lines are cut at MAX_LINE_CHARS with a marker, so binary output
    cannot break analysis or rendering.
    """
    text = raw.decode("utf-8", errors="replace")
    lines: list[LogLine] = []
    number = first_number
    for raw_line in text.splitlines():
        timestamp = None
        match = _TIMESTAMP.match(raw_line)
        if match:
            timestamp = match.group(1)
            raw_line = raw_line[match.end():]
        clean = _CONTROL.sub("", raw_line.rstrip("\r"))
        if len(clean) > MAX_LINE_CHARS:
            clean = clean[:MAX_LINE_CHARS] + f" …[cut {len(clean) - MAX_LINE_CHARS} chars]"
        lines.append(LogLine(number=number, text=clean, timestamp=timestamp))
        number += 1
    return lines
