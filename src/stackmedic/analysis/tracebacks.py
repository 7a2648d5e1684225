"""Parse stack traces from log lines: Python, Node.js, Java and Go.

Every parser returns `ParsedTraceback`s whose `frames` run from the
outermost call to the innermost, as Python prints them, so `frames[-1]` is
where the error was raised whatever the language. Lines may carry a
constant prefix (such as compose's `svc-1  | `) before the trace.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol


class _HasText(Protocol):
    text: str


@dataclass
class Frame:
    """One stack frame: file as printed, 1-based line, function, and the code line if shown."""

    file: str
    line: int
    function: str | None = None
    code: str | None = None


@dataclass
class ParsedTraceback:
    """A stack trace: `first_line` and `last_line` are indexes into the parsed lines."""

    language: str
    exception_type: str
    message: str
    frames: list[Frame] = field(default_factory=list)
    first_line: int = 0
    last_line: int = 0

    @property
    def innermost(self) -> Frame | None:
        return self.frames[-1] if self.frames else None


_PY_HEADER = re.compile(r"Traceback \(most recent call last\):")
_PY_FRAME = re.compile(
    r'^\s+File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<function>.+?))?\s*$'
)
_PY_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")
_NODE_AT = re.compile(
    r"^\s*at (?:(?:async )?(?P<function>[^()]+?) \()?(?:file://)?(?P<file>[^()\s]+?):(?P<line>\d+):\d+\)?\s*$"
)
_NODE_ERROR = re.compile(
    r"(?:Uncaught )?(?P<type>[\w$.]*(?:Error|Exception)|Error)(?: \[[\w_]+\])?(?::\s?(?P<message>.*))?$"
)
_JAVA_HEADER = re.compile(
    r"^(?:Exception in thread \"[^\"]*\" )?(?P<caused>Caused by: )?"
    r"(?P<type>[\w$.]+(?:Exception|Error|Throwable))(?::\s?(?P<message>.*))?$"
)
_JAVA_AT = re.compile(
    r"^\s*at (?P<function>[\w$.<>/]+)\((?P<file>[^:()]+)(?::(?P<line>\d+))?\)\s*$"
)
_GO_HEADER = re.compile(r"^(?P<type>panic|fatal error): (?P<message>.*?)(?: \[recovered\])?\s*$")
_GO_GOROUTINE = re.compile(r"^goroutine \d+ \[[^\]]*\]:\s*$")
_GO_LOCATION = re.compile(r"^\s+(?P<file>\S+\.go):(?P<line>\d+)(?: \+0x[0-9a-f]+)?\s*$")


def _texts(lines: Iterable[str | _HasText]) -> list[str]:
    return [line if isinstance(line, str) else line.text for line in lines]


def _strip(line: str, prefix: str) -> str:
    return line[len(prefix) :] if prefix and line.startswith(prefix) else line


# --- Python ----------------------------------------------------------------------


def parse_python_tracebacks(lines: Iterable[str | _HasText]) -> list[ParsedTraceback]:
    """Return every Python traceback in the lines, in order (chained ones separately)."""
    texts = _texts(lines)
    found = []
    index = 0
    while index < len(texts):
        header = _PY_HEADER.search(texts[index])
        if header is None:
            index += 1
            continue
        traceback, index = _python_traceback(texts, index, texts[index][: header.start()])
        found.append(traceback)
    return found


def parse_python_traceback(lines: Iterable[str | _HasText]) -> ParsedTraceback | None:
    """Return the last Python traceback in the lines: the exception that was raised last."""
    tracebacks = parse_python_tracebacks(lines)
    return tracebacks[-1] if tracebacks else None


def _python_traceback(texts: list[str], start: int, prefix: str) -> tuple[ParsedTraceback, int]:
    traceback = ParsedTraceback("python", "", "", first_line=start, last_line=start)
    index = start + 1
    while index < len(texts):
        text = _strip(texts[index], prefix)
        frame = _PY_FRAME.match(text)
        if frame is not None:
            traceback.frames.append(
                Frame(frame.group("file"), int(frame.group("line")), frame.group("function"))
            )
        elif text.startswith("    ") or text.lstrip().startswith("[Previous line repeated"):
            code = text.strip()
            if (
                traceback.frames
                and traceback.frames[-1].code is None
                and not set(code) <= set("^~ ")
            ):
                traceback.frames[-1].code = code
        elif _PY_HEADER.search(text):
            break
        else:
            exception = _PY_EXCEPTION.match(text.strip()) if text[:1] not in (" ", "\t") else None
            if exception is not None and traceback.frames:
                traceback.exception_type = exception.group("type")
                traceback.message = (exception.group("message") or "").strip()
                traceback.last_line = index
                index += 1
            break
        traceback.last_line = index
        index += 1
    return traceback, index


# --- Node.js -------------------------------------------------------------------------


def parse_node_stacks(lines: Iterable[str | _HasText]) -> list[ParsedTraceback]:
    """Return each Node.js stack (a run of `at ...` lines) with the error line above it."""
    texts = _texts(lines)
    found = []
    index = 0
    while index < len(texts):
        if _NODE_AT.match(texts[index]) is None:
            index += 1
            continue
        start = index
        frames = []
        while index < len(texts) and (match := _NODE_AT.match(texts[index])) is not None:
            function = (match.group("function") or "").strip() or None
            frames.append(Frame(match.group("file"), int(match.group("line")), function))
            index += 1
        error_type, message, first = _node_error_above(texts, start)
        frames.reverse()
        found.append(ParsedTraceback("node", error_type, message, frames, first, index - 1))
    return found


def _node_error_above(texts: list[str], start: int) -> tuple[str, str, int]:
    for offset in range(1, 4):
        position = start - offset
        if position < 0:
            break
        match = _NODE_ERROR.search(texts[position].strip())
        if match is not None:
            return match.group("type"), (match.group("message") or "").strip(), position
    return "", "", start


# --- Java --------------------------------------------------------------------------


def parse_java_stacks(lines: Iterable[str | _HasText]) -> list[ParsedTraceback]:
    """Return each Java exception, and each `Caused by:` in its chain, with its frames.

    Java prints a file name only; a frame's `file` becomes the package path
    ("com/example/Y.java") when the class name matches the file name.
    """
    texts = _texts(lines)
    found: list[ParsedTraceback] = []
    current: ParsedTraceback | None = None
    for index, text in enumerate(texts):
        header = _JAVA_HEADER.match(text.strip())
        frame = _JAVA_AT.match(text)
        if header is not None and frame is None:
            current = ParsedTraceback(
                "java",
                header.group("type"),
                (header.group("message") or "").strip(),
                first_line=index,
                last_line=index,
            )
            found.append(current)
        elif frame is not None and current is not None:
            if frame.group("line"):
                current.frames.insert(
                    0,
                    Frame(
                        _java_file(frame.group("function"), frame.group("file")),
                        int(frame.group("line")),
                        frame.group("function"),
                    ),
                )
            current.last_line = index
        elif current is not None and not re.match(r"^\s*\.\.\. \d+ more", text):
            current = None
    # A line like "urllib.error.URLError: ..." has a Java header's shape; only frames tell.
    return [traceback for traceback in found if traceback.frames]


def _java_file(function: str, file: str) -> str:
    class_name = function.rsplit(".", 1)[0]
    package, _, simple = class_name.rpartition(".")
    if simple.split("$", 1)[0] + ".java" == file and package:
        return package.replace(".", "/") + "/" + file
    return file


# --- Go ----------------------------------------------------------------------------


def parse_go_panics(lines: Iterable[str | _HasText]) -> list[ParsedTraceback]:
    """Return each Go `panic:` or `fatal error:` with the frames of the first goroutine shown."""
    texts = _texts(lines)
    found = []
    index = 0
    while index < len(texts):
        header = _GO_HEADER.match(texts[index].strip())
        if header is None:
            index += 1
            continue
        traceback = ParsedTraceback(
            "go", header.group("type"), header.group("message"), first_line=index, last_line=index
        )
        index = _go_frames(texts, index + 1, traceback)
        traceback.frames.reverse()
        found.append(traceback)
    return found


def _go_frames(texts: list[str], index: int, traceback: ParsedTraceback) -> int:
    while index < len(texts) and not _GO_GOROUTINE.match(texts[index].strip()):
        if _GO_HEADER.match(texts[index].strip()):
            return index
        index += 1
    index += 1
    function: str | None = None
    while index < len(texts):
        text = texts[index]
        location = _GO_LOCATION.match(text)
        if location is not None:
            traceback.frames.append(
                Frame(location.group("file"), int(location.group("line")), function)
            )
            function = None
        elif text.strip() and not text[:1].isspace():
            if _GO_GOROUTINE.match(text.strip()) or _GO_HEADER.match(text.strip()):
                break
            function = text.strip()
        elif not text.strip():
            break
        traceback.last_line = index
        index += 1
    return index


# --- all languages -------------------------------------------------------------------


def parse_tracebacks(lines: Iterable[str | _HasText]) -> list[ParsedTraceback]:
    """Return the stack traces of every supported language, in the order they appear."""
    texts = _texts(lines)
    found = (
        parse_python_tracebacks(texts)
        + parse_node_stacks(texts)
        + parse_java_stacks(texts)
        + parse_go_panics(texts)
    )
    return sorted(found, key=lambda traceback: traceback.first_line)
