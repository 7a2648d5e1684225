"""Table schemas from `CREATE TABLE` and `ALTER TABLE ... ADD COLUMN` statements.

The parser reads SQL text from .sql files and from string literals in code.
It parses enough SQL to split a column list at its top-level commas and to
skip table constraints. It is no validator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NAME = r"(?:`[^`]+`|\"[^\"]+\"|\[[^\]]+\]|[\w$]+)"
_CREATE = re.compile(
    rf"\bCREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:TEMP(?:ORARY)?\s+|UNLOGGED\s+)?TABLE\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME}(?:\s*\.\s*{_NAME})?)\s*\(",
    re.IGNORECASE,
)
_ALTER_ADD = re.compile(
    rf"\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?P<name>{_NAME}(?:\s*\.\s*{_NAME})?)\s+"
    rf"ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?P<column>{_NAME})(?P<type>[^,;]*)",
    re.IGNORECASE,
)
# First words of a table constraint, which names no column of its own.
_CONSTRAINT_WORDS = {
    "PRIMARY",
    "FOREIGN",
    "UNIQUE",
    "CHECK",
    "CONSTRAINT",
    "KEY",
    "INDEX",
    "EXCLUDE",
}
# Words that end a column's type and start its column constraints.
_COLUMN_CONSTRAINT_WORDS = {
    "PRIMARY",
    "NOT",
    "NULL",
    "DEFAULT",
    "UNIQUE",
    "CHECK",
    "REFERENCES",
    "CONSTRAINT",
    "COLLATE",
    "GENERATED",
    "AUTOINCREMENT",
    "AUTO_INCREMENT",
    "AS",
}


@dataclass
class ParsedTable:
    """A table found in SQL text; `offset` is where its statement starts in that text."""

    name: str
    columns: list[str]
    column_types: dict[str, str]
    offset: int
    added_columns: list[tuple[str, str, int]] = field(default_factory=list)


def unquote_identifier(name: str) -> str:
    """Strip SQL identifier quotes and a schema prefix ("main"."workers" -> workers)."""
    last = re.split(r"\s*\.\s*", name.strip())[-1]
    if len(last) >= 2 and last[0] + last[-1] in ("``", '""', "[]"):
        return last[1:-1]
    return last


def parse_create_tables(sql: str) -> list[ParsedTable]:
    """Return every `CREATE TABLE` in the text with its columns, in order."""
    tables = []
    for match in _CREATE.finditer(sql):
        body_end = _closing_paren(sql, match.end())
        if body_end is None:
            continue
        columns: list[str] = []
        types: dict[str, str] = {}
        for item in _split_top_level(_strip_comments(sql[match.end() : body_end])):
            parsed = _column_definition(item)
            if parsed is not None:
                columns.append(parsed[0])
                types[parsed[0]] = parsed[1]
        tables.append(
            ParsedTable(unquote_identifier(match.group("name")), columns, types, match.start())
        )
    return tables


def create_table_items(sql: str) -> list[tuple[str, list[str], int]]:
    """Return (table, column and constraint definitions as written, offset) per `CREATE TABLE`.

    Comments are removed and the items are split at top-level commas, so a
    caller can read each column's constraints (NOT NULL, DEFAULT, PRIMARY KEY).
    """
    found = []
    for match in _CREATE.finditer(sql):
        body_end = _closing_paren(sql, match.end())
        if body_end is None:
            continue
        items = _split_top_level(_strip_comments(sql[match.end() : body_end]))
        found.append((unquote_identifier(match.group("name")), items, match.start()))
    return found


def parse_added_columns(sql: str) -> list[tuple[str, str, str, int]]:
    """Return (table, column, type, offset) for each `ALTER TABLE ... ADD [COLUMN]`."""
    found = []
    for match in _ALTER_ADD.finditer(sql):
        column = unquote_identifier(match.group("column"))
        if column.upper() in _CONSTRAINT_WORDS:
            continue
        found.append(
            (
                unquote_identifier(match.group("name")),
                column,
                _column_type(match.group("type").split()),
                match.start(),
            )
        )
    return found


def _closing_paren(text: str, start: int) -> int | None:
    """Return the index of the `)` closing the `(` just before `start`, skipping quoted text."""
    depth = 1
    position = start
    while position < len(text):
        char = text[position]
        if char in "'\"`":
            end = text.find(char, position + 1)
            if end < 0:
                return None
            position = end + 1
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return position
        position += 1
    return None


def _strip_comments(sql: str) -> str:
    return re.sub(r"/\*.*?\*/", " ", re.sub(r"--[^\n]*", " ", sql), flags=re.DOTALL)


def _split_top_level(body: str) -> list[str]:
    items: list[str] = []
    depth = 0
    current: list[str] = []
    quote: str | None = None
    for char in body:
        if quote:
            current.append(char)
            if char == quote:
                quote = None
            continue
        if char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _column_definition(item: str) -> tuple[str, str] | None:
    words = item.split()
    if not words or words[0].upper() in _CONSTRAINT_WORDS:
        return None
    match = re.match(_NAME, item)
    if match is None:
        return None
    name = unquote_identifier(match.group(0))
    return name, _column_type(item[match.end() :].split())


def _column_type(words: list[str]) -> str:
    kept = []
    for word in words:
        if word.upper() in _COLUMN_CONSTRAINT_WORDS:
            break
        kept.append(word)
    return " ".join(kept)
