"""KEY_ERROR patch rule: rename a key to the column the row's query returns, or decline."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from stackmedic.analysis.patch_schema import schema_from_sqlite_file
from stackmedic.analysis.patches import propose_patches
from stackmedic.analysis.source import extract_facts
from stackmedic.evidence.facts import SourceFacts
from stackmedic.evidence.model import Evidence, SourceFile
from stackmedic.model import Category, Finding, Fixability, RepairStatus, SourceLocation

SERVICE = "api"

DATABASE = '''\
import sqlite3


class Store:
    def __init__(self, path):
        self.connection = sqlite3.connect(path)
        self.connection.row_factory = sqlite3.Row
        self.connection.execute(
            """
            CREATE TABLE IF NOT EXISTS workers (
                worker_id TEXT PRIMARY KEY,
                status TEXT NOT NULL,
                last_heartbeat TEXT NOT NULL,
                registered_at TEXT NOT NULL,
                requests_served INTEGER NOT NULL DEFAULT 0
            )
            """
        )
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS sightings (worker_id TEXT, last_seen_at TEXT)"
        )

    def get_workers(self):
        rows = self.connection.execute("SELECT * FROM workers ORDER BY worker_id").fetchall()
        return [dict(row) for row in rows]
'''

API = """\
from store import Store

store = Store("data.db")


def list_workers():
    result = []
    for row in store.get_workers():
        result.append({"id": row["worker_id"], "seen": row['last_seen']})
    return result
"""
API_KEY_LINE = 9


def build(files: dict[str, str]) -> tuple[Evidence, SourceFacts]:
    sources = [SourceFile(SERVICE, path, text) for path, text in files.items()]
    built = Evidence(
        project_name="project",
        project_dir="/srv/project",
        compose_files=["/srv/project/docker-compose.yml"],
        compose_config={"services": {SERVICE: {}}},
        sources=sources,
    )
    return built, extract_facts(built)


def key_error(path: str, line: int, key: str = "last_seen") -> Finding:
    return Finding(
        id="F001",
        code="KEY_ERROR",
        service=SERVICE,
        summary="The code reads a key that the data does not have",
        confidence=0.9,
        category=Category.APPLICATION,
        fixable_by=Fixability.CODE,
        location=SourceLocation(path, line, "list_workers"),
        facts={"key": key, "table": "workers", "closest_column": "last_heartbeat"},
        recommendation="Read the right key.",
    )


def propose(files: dict[str, str], line: int = API_KEY_LINE, **options: object) -> Finding:
    built, facts = build(files)
    finding = key_error("api.py", line)
    propose_patches([finding], built, facts, **options)  # type: ignore[arg-type]
    return finding


def test_key_renamed_to_column_of_queried_table() -> None:
    finding = propose({"store.py": DATABASE, "api.py": API})

    assert len(finding.repairs) == 1
    repair = finding.repairs[0]
    assert repair.status == RepairStatus.PROPOSED
    assert repair.patch is not None
    assert (
        '-        result.append({"id": row["worker_id"], "seen": row[\'last_seen\']})'
        in repair.patch
    )
    assert (
        '+        result.append({"id": row["worker_id"], "seen": row[\'last_heartbeat\']})'
        in repair.patch
    )
    assert repair.patch.startswith("--- a/api.py\n+++ b/api.py\n")
    assert repair.diff == ""
    assert repair.files == ["api.py"]


def test_key_rename_rationale_cites_query_and_schema() -> None:
    finding = propose({"store.py": DATABASE, "api.py": API})
    rationale = finding.repairs[0].rationale

    assert rationale.startswith("Confidence 0.85.")
    assert "SELECT * FROM workers" in rationale
    assert "store.get_workers()" in rationale
    assert "CREATE TABLE at store.py:" in rationale
    assert finding.facts["patch_column"] == "last_heartbeat"


def test_key_rename_from_database_file_has_higher_confidence(tmp_path: Path) -> None:
    database = tmp_path / "live.db"
    with sqlite3.connect(database) as connection:
        connection.execute(
            "CREATE TABLE workers (worker_id TEXT PRIMARY KEY, status TEXT, last_heartbeat TEXT)"
        )
    tables = schema_from_sqlite_file(database)

    finding = propose({"store.py": DATABASE, "api.py": API}, database_tables=tables)

    assert finding.repairs[0].rationale.startswith("Confidence 0.90.")
    assert "database file" in finding.repairs[0].rationale
    assert finding.facts["schema_origin"] == "database"


def test_ambiguous_closest_column_is_not_patched() -> None:
    store = DATABASE.replace(
        "last_heartbeat TEXT NOT NULL,",
        "last_seen_at TEXT NOT NULL,\n                last_seen_ts TEXT,",
    )

    finding = propose({"store.py": store, "api.py": API})

    assert finding.repairs == []
    assert "ambiguous" in finding.facts["patch_declined"]
    assert "No code patch is proposed" in finding.recommendation


def test_close_column_of_another_table_is_not_used() -> None:
    # sightings.last_seen_at is close to the key, but the query reads workers only.
    store = DATABASE.replace("last_heartbeat TEXT NOT NULL,", "heartbeat_count INTEGER,")
    store = store.replace("requests_served INTEGER NOT NULL DEFAULT 0", "load INTEGER")

    finding = propose({"store.py": store, "api.py": API})

    assert finding.repairs == []
    assert "no column the query returns" in finding.facts["patch_declined"]
    assert "last_seen_at" not in finding.facts["patch_declined"]


def test_row_without_query_is_not_patched() -> None:
    api = API.replace("store.get_workers()", "load_json('workers.json')")

    finding = propose({"store.py": DATABASE, "api.py": api})

    assert finding.repairs == []
    assert "query that produced the row" in finding.facts["patch_declined"]


def test_returned_column_key_is_not_patched() -> None:
    api = API.replace("row['last_seen']", "row['status']")
    built, facts = build({"store.py": DATABASE, "api.py": api})
    finding = key_error("api.py", API_KEY_LINE, key="status")

    propose_patches([finding], built, facts)

    assert finding.repairs == []
    assert "does not explain" in finding.facts["patch_declined"]


def test_table_missing_from_schema_is_not_patched() -> None:
    store = DATABASE.replace("SELECT * FROM workers", "SELECT * FROM agents")

    finding = propose({"store.py": store, "api.py": API})

    assert finding.repairs == []
    assert "agents" in finding.facts["patch_declined"]


def test_fetchone_after_explicit_select_is_followed() -> None:
    api = """\
import sqlite3


def last_heartbeat_of(connection, worker_id):
    cursor = connection.execute(
        "SELECT worker_id, last_heartbeat FROM workers WHERE worker_id = ?", (worker_id,)
    )
    row = cursor.fetchone()
    return row["last_seen"]
"""
    built, facts = build({"store.py": DATABASE, "api.py": api})
    finding = key_error("api.py", 9)

    propose_patches([finding], built, facts)

    assert len(finding.repairs) == 1
    assert '+    return row["last_heartbeat"]' in (finding.repairs[0].patch or "")


def test_explicit_select_without_the_column_is_not_patched() -> None:
    api = """\
def status_of(connection, worker_id):
    row = connection.execute("SELECT worker_id, status FROM workers").fetchone()
    return row["last_seen"]
"""
    built, facts = build({"store.py": DATABASE, "api.py": api})
    finding = key_error("api.py", 3)

    propose_patches([finding], built, facts)

    assert finding.repairs == []
    assert "worker_id, status" in finding.facts["patch_declined"]


def test_finding_without_location_is_left_alone() -> None:
    built, facts = build({"store.py": DATABASE, "api.py": API})
    finding = key_error("api.py", API_KEY_LINE)
    finding.location = None

    propose_patches([finding], built, facts)

    assert finding.repairs == []
    assert "no source location" in finding.facts["patch_declined"]


def test_key_inside_f_string_is_renamed() -> None:
    api = API.replace(
        'result.append({"id": row["worker_id"], "seen": row[\'last_seen\']})',
        "result.append(f\"{row['worker_id']} seen {row['last_seen']}\")",
    )

    finding = propose({"store.py": DATABASE, "api.py": api})

    assert len(finding.repairs) == 1
    expected = "+        result.append(f\"{row['worker_id']} seen {row['last_heartbeat']}\")"
    assert expected in (finding.repairs[0].patch or "")
