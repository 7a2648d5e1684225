"""Schemas for code patches: the SQLite file, CREATE TABLE constraints, queries, database paths."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from stackmedic.analysis.patch_schema import (
    schema_from_sqlite_bytes,
    schema_from_sqlite_file,
    select_queries,
    sqlite_database_paths,
    tables_from_source,
)
from stackmedic.analysis.source import extract_facts
from stackmedic.evidence.model import ContainerEvidence, Evidence, SourceFile


def make_database(path: Path, *, wal: bool = False) -> None:
    connection = sqlite3.connect(path)
    if wal:
        connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(
        "CREATE TABLE metrics (id INTEGER PRIMARY KEY AUTOINCREMENT, recorded_at TEXT NOT NULL,"
        " active INTEGER NOT NULL DEFAULT 0, note TEXT)"
    )
    connection.execute("CREATE TABLE pairs (a TEXT, b TEXT, PRIMARY KEY (a, b))")
    connection.commit()
    if wal:
        connection.execute("PRAGMA wal_checkpoint(FULL)")
    connection.close()


def test_sqlite_file_schema_lists_tables_and_constraints(tmp_path: Path) -> None:
    database = tmp_path / "data.db"
    make_database(database)

    tables = {table.name: table for table in schema_from_sqlite_file(database)}

    assert list(tables) == ["metrics", "pairs"]
    metrics = tables["metrics"]
    assert metrics.column_names == ["id", "recorded_at", "active", "note"]
    assert metrics.origin == "database"
    assert metrics.column("id").filled_by_database
    assert metrics.column("recorded_at").required
    assert not metrics.column("active").required
    assert not metrics.column("note").required


def test_composite_primary_key_is_required_not_rowid(tmp_path: Path) -> None:
    database = tmp_path / "data.db"
    make_database(database)

    pairs = {t.name: t for t in schema_from_sqlite_file(database)}["pairs"]

    assert [c.primary_key for c in pairs.columns] == [True, True]
    assert not any(c.filled_by_database for c in pairs.columns)
    assert all(c.required for c in pairs.columns)


def test_wal_database_bytes_are_read(tmp_path: Path) -> None:
    database = tmp_path / "wal.db"
    make_database(database, wal=True)
    data = database.read_bytes()
    assert data[18] == 2

    tables = schema_from_sqlite_bytes(data)

    assert [t.name for t in tables] == ["metrics", "pairs"]


def test_non_database_bytes_raise_value_error() -> None:
    with pytest.raises(ValueError, match="not a SQLite database"):
        schema_from_sqlite_bytes(b"PK\x03\x04 not sqlite")


def test_truncated_database_raises_value_error(tmp_path: Path) -> None:
    database = tmp_path / "data.db"
    make_database(database)

    with pytest.raises(ValueError):
        schema_from_sqlite_bytes(database.read_bytes()[:120])


def test_source_tables_carry_constraints() -> None:
    code = '''\
def init(connection):
    connection.execute("""
        CREATE TABLE IF NOT EXISTS jobs (
            id INTEGER PRIMARY KEY,  -- the rowid
            name TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'new',
            created_at TEXT NOT NULL,
            payload BLOB
        )
    """)
'''
    built = Evidence(
        "p", "/srv/p", [], {"services": {"app": {}}}, sources=[SourceFile("app", "db.py", code)]
    )

    (jobs,) = tables_from_source(built, extract_facts(built), "app")

    assert jobs.where == "db.py:3"
    assert [c.name for c in jobs.columns if c.required] == ["name", "created_at"]
    assert jobs.column("id").filled_by_database
    assert jobs.column("state").default == "'new'"
    assert jobs.column("payload").type == "BLOB"


@pytest.mark.parametrize(
    ("sql", "tables", "columns"),
    [
        ("SELECT * FROM workers ORDER BY id", ["workers"], None),
        ("select w.* from workers w", ["workers"], None),
        ("SELECT id, status AS state, count(*) AS n FROM jobs", ["jobs"], ["id", "state", "n"]),
        (
            "SELECT j.id, w.name FROM jobs j JOIN workers w ON w.id = j.worker",
            ["jobs", "workers"],
            ["id", "name"],
        ),
        ('SELECT "last heartbeat" FROM "workers"', ["workers"], ["last heartbeat"]),
    ],
)
def test_select_queries_read_tables_and_columns(
    sql: str, tables: list[str], columns: list[str] | None
) -> None:
    (query,) = select_queries(sql)

    assert query.tables == tables
    assert query.columns == columns


def test_insert_is_no_select() -> None:
    assert select_queries("INSERT INTO workers (id) VALUES (?)") == []


def test_database_paths_from_container_environment() -> None:
    dockerfile = "FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\n"
    built = Evidence(
        "p",
        "/srv/p",
        [],
        {
            "services": {
                "main": {"build": {"context": "/srv/p", "dockerfile": "Dockerfile"}},
                "worker": {},
            }
        },
        containers=[
            ContainerEvidence(
                "c1",
                "p-main-1",
                "main",
                "img",
                "running",
                env={"DATABASE_PATH": "data/app.db", "REDIS_URL": "redis://redis:6379/0"},
            ),
            ContainerEvidence(
                "c2",
                "p-worker-1",
                "worker",
                "img",
                "running",
                env={"DB_URL": "sqlite:////var/lib/w.sqlite3"},
            ),
            ContainerEvidence("c3", "p-worker-2", "worker", "img", "exited", env={"DB": "x.db"}),
        ],
        sources=[SourceFile("main", "Dockerfile", dockerfile)],
    )

    found = [
        (item.container_name, item.path, item.variable) for item in sqlite_database_paths(built)
    ]

    assert found == [
        ("p-main-1", "/app/data/app.db", "DATABASE_PATH"),
        ("p-worker-1", "/var/lib/w.sqlite3", "DB_URL"),
    ]
