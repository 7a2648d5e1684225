"""Python tracebacks in container logs, cut into blocks and mapped to project files."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stackmedic.evidence.model import ContainerEvidence, Evidence, LogLine
from stackmedic.model import SourceLocation
from stackmedic.patterns import lookup

_HEADER = re.compile(r"Traceback \(most recent call last\):")
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<function>.+))?$')
_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")


@dataclass
class Frame:
    file: str
    line: int
    function: str | None
    log_line: LogLine


@dataclass
class LoggedTraceback:
    """One traceback as the container printed it; frames are outermost first."""

    container: ContainerEvidence
    header: LogLine
    exception_line: LogLine
    exception_type: str
    message: str
    frames: list[Frame] = field(default_factory=list)

    @property
    def short_type(self) -> str:
        """Return the class name without its module: urllib.error.URLError -> URLError."""
        return self.exception_type.rsplit(".", 1)[-1]


def tracebacks_in(container: ContainerEvidence) -> list[LoggedTraceback]:
    """Cut a container's log into traceback blocks; each chained exception is its own block.

    A block starts at "Traceback (most recent call last):" and ends at the
    first non-indented line, which names the exception. A block cut off by
    the end of the collected tail has no exception line and is skipped.
    """
    found = []
    logs = container.logs
    index = 0
    while index < len(logs):
        if not _HEADER.search(logs[index].text):
            index += 1
            continue
        header = logs[index]
        frames: list[Frame] = []
        index += 1
        while index < len(logs):
            text = logs[index].text
            frame = _FRAME.match(text)
            if frame is not None:
                frames.append(
                    Frame(
                        frame.group("file"),
                        int(frame.group("line")),
                        frame.group("function"),
                        logs[index],
                    )
                )
            elif text and not text[0].isspace():
                break
            index += 1
        if index >= len(logs):
            break
        exception = _EXCEPTION.match(logs[index].text.strip())
        if exception is not None:
            found.append(
                LoggedTraceback(
                    container=container,
                    header=header,
                    exception_line=logs[index],
                    exception_type=exception.group("type"),
                    message=(exception.group("message") or "").strip(),
                    frames=frames,
                )
            )
        index += 1
    return found


def project_frame(
    evidence: Evidence, service: str, traceback: LoggedTraceback
) -> tuple[Frame, SourceLocation] | None:
    """Return the innermost frame that lies in the project's own files, with its location."""
    for frame in reversed(traceback.frames):
        location = lookup.location_for_frame(
            evidence, service, frame.file, frame.line, frame.function
        )
        if location is not None:
            return frame, location
    return None


def traceback_lines(container: ContainerEvidence) -> set[int]:
    """Return the numbers of the log lines that belong to a traceback block."""
    numbers: set[int] = set()
    for traceback in tracebacks_in(container):
        numbers.update(range(traceback.header.number, traceback.exception_line.number + 1))
    return numbers
