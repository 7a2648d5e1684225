"""Minimal edits of dotenv-style files: `.env` and the files a service lists in `env_file`.

A line is `NAME=value`, optionally indented, prefixed with `export`, with
spaces around `=`, with the value in double or single quotes, and for an
unquoted value followed by ` # comment`. Comment and blank lines are kept as
they are. An edit rewrites only the value part of the lines that define the
variable, keeping the prefix, the quoting style, the inline comment, the
line ends (LF or CRLF) and a missing final newline. Multi-line quoted values
are not parsed; a variable defined that way is reported as not found.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from stackmedic.errors import RepairError
from stackmedic.i18n import message

logger = logging.getLogger(__name__)

_DEFINITION = re.compile(
    r"^(?P<prefix>[ \t]*(?:export[ \t]+)?(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=[ \t]*)"
    r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'[^']*'|.*?)"
    r"(?P<suffix>(?:[ \t]+#.*)?[ \t]*)$"
)
_PLAIN_SAFE = re.compile(r"^[^\s\"'#\\$`]*$")


@dataclass(frozen=True)
class Definition:
    """One `NAME=value` line; `line` counts from 1 and `value` is unquoted."""

    name: str
    line: int
    value: str
    quote: str


class EnvFileDocument:
    """A dotenv-style file loaded for editing; `text` is the current content."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.original_text = text
        self.text = text

    @classmethod
    def load(cls, path: str | Path) -> EnvFileDocument:
        """Read `path`; raise RepairError when it is missing or not UTF-8."""
        file_path = Path(path)
        try:
            return cls(file_path, file_path.read_bytes().decode("utf-8"))
        except OSError as error:
            raise RepairError(
                message(
                    "errors.repair.env_file_unreadable",
                    path=str(file_path),
                    error=str(error.strerror or error),
                )
            ) from error
        except UnicodeDecodeError as error:
            raise RepairError(
                message("errors.repair.env_file_not_utf8", path=str(file_path), byte=error.start)
            ) from error

    def definitions(self, name: str | None = None) -> list[Definition]:
        """Return the lines that define `name` (every definition when None), in file order."""
        found = []
        for number, line in enumerate(_lines(self.text), start=1):
            match = _DEFINITION.match(line.rstrip("\r\n"))
            if match is None or (name is not None and match.group("name") != name):
                continue
            raw = match.group("value")
            quote = raw[0] if raw[:1] in ("'", '"') and len(raw) >= 2 else ""
            value = _unquote(raw, quote)
            found.append(Definition(match.group("name"), number, value, quote))
        return found

    def value_of(self, name: str) -> Definition | None:
        """Return the definition that takes effect: the last one of `name`, or None."""
        definitions = self.definitions(name)
        return definitions[-1] if definitions else None

    def set_value(self, name: str, value: str) -> int:
        """Set every definition of `name` to `value` and return how many lines changed.

        Raise RepairError when the file does not define `name`, or when the
        value cannot be written on one line.
        """
        if "\n" in value or "\r" in value:
            raise RepairError(
                message("errors.repair.env_value_line_break", path=str(self.path), name=name)
            )
        lines = _lines(self.text)
        changed = 0
        for index, line in enumerate(lines):
            body = line.rstrip("\r\n")
            ending = line[len(body) :]
            match = _DEFINITION.match(body)
            if match is None or match.group("name") != name:
                continue
            raw = match.group("value")
            quote = raw[0] if raw[:1] in ("'", '"') and len(raw) >= 2 else ""
            new_line = match.group("prefix") + _quote(value, quote) + match.group("suffix") + ending
            if new_line != line:
                lines[index] = new_line
                changed += 1
        if not self.definitions(name):
            raise RepairError(
                message("errors.repair.env_not_defined", path=str(self.path), name=name)
            )
        self.text = "".join(lines)
        return changed

    @property
    def changed(self) -> bool:
        return self.text != self.original_text


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _unquote(raw: str, quote: str) -> str:
    if quote == "'":
        return raw[1:-1]
    if quote == '"':
        return re.sub(
            r"\\(.)", lambda match: _ESCAPES.get(match.group(1), match.group(1)), raw[1:-1]
        )
    return raw.strip()


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def _quote(value: str, quote: str) -> str:
    """Write `value` in the quoting the replaced value used, switching when that cannot hold it.

    Compose expands `$NAME` in unquoted and double-quoted values, so a value
    with a dollar sign goes in single quotes, which keep it literal.
    """
    if (quote == "'" or "$" in value) and "'" not in value:
        return f"'{value}'"
    if "$" in value:
        raise RepairError(message("errors.repair.env_value_unquotable", value=repr(value)))
    if quote == "" and _PLAIN_SAFE.match(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
