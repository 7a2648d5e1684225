"""Database schemas and queries, as the code patch rules need them.

A patch that renames a key to a column, or adds a method that inserts a row,
needs each column's constraints (NOT NULL, DEFAULT, PRIMARY KEY) and the
tables a query reads. `TableSchema` in the source facts has only names and
types, so this module reads the constraints from two places:

- the SQLite database file itself (`schema_from_sqlite_bytes`,
  `schema_from_sqlite_file`), which is what the running code really uses;
- the `CREATE TABLE` statements in the source (`tables_from_source`).

`sqlite_database_paths` lists where the containers keep their SQLite files,
so that the caller (the loop, which may use the engine) can fetch them.
Nothing here calls the engine.
"""

from __future__ import annotations

import logging
import posixpath
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from stackmedic.analysis.dockerfile import dockerfile_for, parse_dockerfile
from stackmedic.analysis.schema import create_table_items, unquote_identifier
from stackmedic.evidence.facts import SourceFacts, TableSchema
from stackmedic.evidence.model import Evidence

logger = logging.getLogger(__name__)

SQLITE_HEADER = b"SQLite format 3\x00"
# Offsets 18 and 19 of the header are the file format's write and read
# versions: 1 for a rollback journal, 2 for write-ahead logging.
_WAL_VERSION_OFFSETS = (18, 19)
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".db3")
_SQLITE_URL = re.compile(r"^sqlite(?:\+\w+)?:///(?P<path>.+)$")
_NAME = (
    r"(?:`[^`]+`|\"[^\"]+\"|\[[^\]]+\]|[\w$]+)(?:\s*\.\s*(?:`[^`]+`|\"[^\"]+\"|\[[^\]]+\]|[\w$]+))?"
)
_SELECT = re.compile(
    rf"\bSELECT\s+(?:DISTINCT\s+|ALL\s+)?(?P<columns>.+?)\s+FROM\s+(?P<table>{_NAME})",
    re.IGNORECASE | re.DOTALL,
)
_JOIN = re.compile(rf"\bJOIN\s+(?P<table>{_NAME})", re.IGNORECASE)
_ALIAS = re.compile(r"\s+AS\s+(?P<alias>[\w$]+|\"[^\"]+\"|`[^`]+`)\s*$", re.IGNORECASE)
_PLAIN_COLUMN = re.compile(r"^(?:[\w$]+\s*\.\s*)?(?P<name>[\w$]+|\"[^\"]+\"|`[^`]+`)$")
_TABLE_CONSTRAINT_WORDS = {"PRIMARY", "UNIQUE", "CHECK", "CONSTRAINT", "FOREIGN", "KEY", "INDEX"}
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
    "AS",
}


@dataclass
class Column:
    """A table column with the constraints that decide whether an INSERT must give it a value.

    `filled_by_database` is set for a column the database fills itself: the
    rowid alias (a single INTEGER PRIMARY KEY) and a generated column.
    """

    name: str
    type: str = ""
    not_null: bool = False
    default: str | None = None
    primary_key: bool = False
    filled_by_database: bool = False

    @property
    def required(self) -> bool:
        """Tell whether an INSERT that leaves the column out fails (NOT NULL without a default)."""
        if self.filled_by_database:
            return False
        return (self.not_null or self.primary_key) and self.default is None


@dataclass
class TableInfo:
    """A table's columns in order, and where the definition was read.

    `origin` is "database" (the SQLite file) or "source" (a CREATE TABLE);
    `path` and `line` locate the statement in the source when it came from there.
    """

    name: str
    columns: list[Column] = field(default_factory=list)
    origin: str = "source"
    path: str | None = None
    line: int | None = None

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def column(self, name: str) -> Column | None:
        return next((column for column in self.columns if column.name == name), None)

    @property
    def where(self) -> str:
        """The definition's place as text: `path:line`, or "the database file"."""
        if self.path is not None and self.line is not None:
            return f"{self.path}:{self.line}"
        return "the database file" if self.origin == "database" else self.name


@dataclass
class SelectQuery:
    """A SELECT found in SQL text: the tables it reads and the columns it returns.

    `columns` is None when it returns every column (`SELECT *`).
    """

    tables: list[str]
    columns: list[str] | None
    text: str


@dataclass
class DatabaseLocation:
    """A SQLite file a container uses, as an absolute path inside that container."""

    service: str
    container_id: str
    container_name: str
    path: str
    variable: str


# --- the database file ------------------------------------------------------------


def schema_from_sqlite_bytes(data: bytes) -> list[TableInfo]:
    """Read the tables of a SQLite database from the bytes of its file.

    The bytes are loaded into an in-memory database, so nothing touches the
    disk. A file in write-ahead-logging mode is read without its `-wal` file,
    so a table created since the last checkpoint is missing. Raise ValueError
    when the bytes are not a SQLite database.
    """
    if not data.startswith(SQLITE_HEADER):
        raise ValueError("not a SQLite database: the file does not start with the SQLite header")
    image = bytearray(data)
    for offset in _WAL_VERSION_OFFSETS:
        if len(image) > offset and image[offset] == 2:
            image[offset] = 1
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(bytes(image))
        return _read_schema(connection)
    except sqlite3.Error as error:
        raise ValueError(f"not a readable SQLite database: {error}") from error
    finally:
        connection.close()


def schema_from_sqlite_file(path: str | Path) -> list[TableInfo]:
    """Read the tables of a SQLite database file without opening it for writing.

    Raise OSError when the file cannot be read and ValueError when it is not
    a SQLite database.
    """
    return schema_from_sqlite_bytes(Path(path).read_bytes())


def _read_schema(connection: sqlite3.Connection) -> list[TableInfo]:
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " ORDER BY rowid"
    ).fetchall()
    tables = []
    for (name,) in rows:
        quoted = '"' + str(name).replace('"', '""') + '"'
        columns = [
            Column(
                name=str(column_name),
                type=str(column_type or ""),
                not_null=bool(not_null),
                default=None if default is None else str(default),
                primary_key=bool(primary_key),
            )
            for _cid, column_name, column_type, not_null, default, primary_key in connection.execute(
                f"PRAGMA table_info({quoted})"
            )
        ]
        _mark_rowid_alias(columns)
        tables.append(TableInfo(str(name), columns, origin="database"))
    return tables


def sqlite_database_paths(evidence: Evidence) -> list[DatabaseLocation]:
    """List the SQLite files the running containers name in their environment.

    A variable counts when its value ends in .db, .sqlite, .sqlite3 or .db3,
    or is a `sqlite:///` URL. A relative path is taken from the WORKDIR of
    the service's Dockerfile, else from `/`. Each path is listed once per
    container.
    """
    found: list[DatabaseLocation] = []
    for container in evidence.containers:
        if not container.is_running:
            continue
        workdir = _workdir(evidence, container.service)
        for variable, value in sorted(container.env.items()):
            path = _sqlite_path(value)
            if path is None:
                continue
            absolute = posixpath.normpath(posixpath.join(workdir, path))
            if any(item.container_id == container.id and item.path == absolute for item in found):
                continue
            found.append(
                DatabaseLocation(
                    container.service, container.id, container.name, absolute, variable
                )
            )
    return found


def _sqlite_path(value: str) -> str | None:
    text = value.strip()
    url = _SQLITE_URL.match(text)
    if url is not None:
        # sqlite:////abs/path (four slashes) is absolute, sqlite:///rel/path relative.
        return url.group("path")
    if text.lower().endswith(_SQLITE_SUFFIXES) and "://" not in text and " " not in text:
        return text
    return None


def _workdir(evidence: Evidence, service: str) -> str:
    dockerfile = dockerfile_for(evidence, service)
    if dockerfile is None:
        return "/"
    try:
        final = parse_dockerfile(dockerfile.text).final
    except Exception:  # a malformed Dockerfile only loses the WORKDIR
        logger.debug("parsing %s failed", dockerfile.path, exc_info=True)
        return "/"
    return final.workdir if final is not None else "/"


# --- CREATE TABLE in the source ---------------------------------------------------


def tables_from_source(evidence: Evidence, facts: SourceFacts, service: str) -> list[TableInfo]:
    """Return the tables the service's code creates, with each column's constraints.

    The tables are those of `facts` (the service's own, else the project's).
    Constraints are read again from the statement in the file that defines
    the table. A column whose statement cannot be found keeps its name and
    type and counts as nullable.
    """
    schemas = facts.tables_of(service) or facts.tables
    return [_table_from_schema(evidence, service, schema) for schema in schemas.values()]


def _table_from_schema(evidence: Evidence, service: str, schema: TableSchema) -> TableInfo:
    definitions, constraints = _definition_items(evidence, service, schema)
    columns = []
    for name in schema.columns:
        definition = definitions.get(name)
        column = (
            _column_from_definition(name, definition) if definition is not None else Column(name)
        )
        column.type = column.type or schema.column_types.get(name, "")
        columns.append(column)
    for constraint in constraints:
        _apply_primary_key_constraint(columns, constraint)
    _mark_rowid_alias(columns)
    return TableInfo(schema.name, columns, "source", schema.path, schema.line)


def _definition_items(
    evidence: Evidence, service: str, schema: TableSchema
) -> tuple[dict[str, str], list[str]]:
    """Return the table's column definitions (by column, text after the name) and table constraints.

    The statement is the CREATE TABLE of that name at the schema's line,
    else the first of that name in the same file.
    """
    sources = evidence.sources_of(service) or evidence.sources
    source = next((s for s in sources if s.path == schema.path), None)
    if source is None:
        return {}, []
    statements = create_table_items(source.text)
    same_name = [
        (items, offset) for name, items, offset in statements if name.lower() == schema.name.lower()
    ]
    at_line = [
        items
        for items, offset in same_name
        if 1 + source.text.count("\n", 0, offset) == schema.line
    ]
    chosen = at_line or [items for items, _ in same_name]
    if not chosen:
        return {}, []

    definitions: dict[str, str] = {}
    constraints: list[str] = []
    for item in chosen[0]:
        first = item.split(None, 1)[0].upper()
        if first in _TABLE_CONSTRAINT_WORDS:
            constraints.append(item)
            continue
        match = re.match(r"`[^`]+`|\"[^\"]+\"|\[[^\]]+\]|[\w$]+", item)
        if match is not None:
            definitions[unquote_identifier(match.group(0))] = item[match.end() :]
    return definitions, constraints


def _column_from_definition(name: str, definition: str) -> Column:
    """Read the type, NOT NULL, DEFAULT and PRIMARY KEY from a column definition (after the name)."""
    text = " ".join(definition.split())
    type_words = []
    for word in text.split():
        if word.upper() in _COLUMN_CONSTRAINT_WORDS:
            break
        type_words.append(word)
    default_match = re.search(
        r"\bDEFAULT\s+(\([^)]*\)|'[^']*'|\"[^\"]*\"|[^\s,]+)", text, re.IGNORECASE
    )
    return Column(
        name=name,
        type=" ".join(type_words),
        not_null=bool(re.search(r"\bNOT\s+NULL\b", text, re.IGNORECASE)),
        default=default_match.group(1) if default_match is not None else None,
        primary_key=bool(re.search(r"\bPRIMARY\s+KEY\b", text, re.IGNORECASE)),
        filled_by_database=bool(
            re.search(r"\bGENERATED\s+ALWAYS\b|\bAS\s*\(", text, re.IGNORECASE)
        ),
    )


def _apply_primary_key_constraint(columns: list[Column], constraint: str) -> None:
    """Mark the columns named by a table-level `PRIMARY KEY (a, b)`."""
    match = re.match(
        r"(?:CONSTRAINT\s+\S+\s+)?PRIMARY\s+KEY\s*\((?P<names>[^)]*)\)", constraint, re.IGNORECASE
    )
    if match is None:
        return
    names = {
        unquote_identifier(part.split()[0])
        for part in match.group("names").split(",")
        if part.strip()
    }
    for column in columns:
        if column.name in names:
            column.primary_key = True


def _mark_rowid_alias(columns: list[Column]) -> None:
    """Mark the rowid alias: the table's only primary key column, declared INTEGER."""
    keys = [column for column in columns if column.primary_key]
    if len(keys) == 1 and keys[0].type.strip().upper() == "INTEGER":
        keys[0].filled_by_database = True


# --- queries ------------------------------------------------------------------------


def select_queries(sql: str) -> list[SelectQuery]:
    """Return the SELECT statements in SQL text, with the tables they read and columns they return."""
    queries = []
    for match in _SELECT.finditer(sql):
        end = sql.find(";", match.end())
        rest = sql[match.end() : end if end >= 0 else len(sql)]
        tables = [unquote_identifier(match.group("table"))]
        tables += [unquote_identifier(join.group("table")) for join in _JOIN.finditer(rest)]
        queries.append(
            SelectQuery(tables, _returned_columns(match.group("columns")), match.group(0).strip())
        )
    return queries


def _returned_columns(text: str) -> list[str] | None:
    """Return the names a select list gives its columns; None when it has `*` or `t.*`."""
    names = []
    for item in _split_commas(text):
        if item == "*" or item.endswith(".*"):
            return None
        alias = _ALIAS.search(item)
        if alias is not None:
            names.append(unquote_identifier(alias.group("alias")))
            continue
        plain = _PLAIN_COLUMN.match(item)
        names.append(unquote_identifier(plain.group("name")) if plain else item)
    return names


def _split_commas(text: str) -> list[str]:
    items: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    items.append("".join(current).strip())
    return [item for item in items if item]
