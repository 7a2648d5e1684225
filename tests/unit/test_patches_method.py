"""MISSING_ATTRIBUTE patch rule: exact recommendations, an INSERT method or a rename, or nothing."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from stackmedic.analysis.patch_source import PythonSource, apply_edits
from stackmedic.analysis.patches import propose_patches
from stackmedic.analysis.source import extract_facts
from stackmedic.evidence.facts import SourceFacts
from stackmedic.evidence.model import Evidence, SourceFile
from stackmedic.model import Category, Finding, Fixability, SourceLocation
from stackmedic.repair.code_patch import apply_file_patch, parse_patch

SERVICE = "main"

DATABASE = '''\
import sqlite3
import threading
from datetime import UTC, datetime


def utc_now():
    return datetime.now(UTC)


def to_timestamp(moment):
    return moment.isoformat(timespec="milliseconds")


class DatabaseManager:
    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(path, isolation_level=None)
        self.init_tables()

    def init_tables(self) -> None:
        with self._lock:
            self._connection.execute(
                """
                CREATE TABLE IF NOT EXISTS workers (
                    worker_id TEXT PRIMARY KEY,
                    last_heartbeat TEXT NOT NULL
                )
                """
            )
            self._connection.execute(
                """
                CREATE TABLE IF NOT EXISTS service_metrics (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    recorded_at TEXT NOT NULL,
                    active_workers INTEGER NOT NULL,
                    requests_total INTEGER NOT NULL,
                    requests_failed INTEGER NOT NULL,
                    note TEXT
                )
                """
            )

    def upsert_worker(self, worker_id: str) -> None:
        now = to_timestamp(utc_now())
        with self._lock:
            self._connection.execute(
                "INSERT INTO workers (worker_id, last_heartbeat) VALUES (?, ?)",
                (worker_id, now),
            )

    def get_service_metrics(self, limit: int) -> list:
        with self._lock:
            return self._connection.execute(
                "SELECT * FROM service_metrics ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()

    def close(self) -> None:
        self._connection.close()
'''

MAIN = """\
from database import DatabaseManager


class Service:
    def __init__(self) -> None:
        self.db = DatabaseManager("data.db")

    def collect(self, counters: dict) -> None:
        self.db.record_service_metrics(
            active_workers=2,
            requests_total=counters["total"],
            requests_failed=counters["failed"],
        )
"""
CALL_LINE = 9


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


def missing(
    attribute: str = "record_service_metrics",
    line: int = CALL_LINE,
    closest: str | None = None,
    class_name: str = "DatabaseManager",
) -> Finding:
    return Finding(
        id="F002",
        code="MISSING_ATTRIBUTE",
        service=SERVICE,
        summary="The code uses an attribute that the class does not define",
        confidence=0.9,
        category=Category.APPLICATION,
        fixable_by=Fixability.CODE,
        location=SourceLocation("main.py", line, "Service.collect"),
        facts={"class_name": class_name, "attribute": attribute, "closest_method": closest},
        recommendation="Add the method.",
    )


def propose(files: dict[str, str], finding: Finding | None = None) -> Finding:
    built, facts = build(files)
    finding = finding or missing()
    propose_patches([finding], built, facts)
    return finding


def patched(files: dict[str, str], finding: Finding, path: str) -> str:
    """Apply the finding's only patch to `path` with the strict applier."""
    (file_patch,) = parse_patch(finding.repairs[0].patch or "")
    assert file_patch.path == path
    return apply_file_patch(files[path], file_patch)


def test_insert_method_proposed_from_matching_table() -> None:
    finding = propose({"database.py": DATABASE, "main.py": MAIN})

    assert len(finding.repairs) == 1
    patch = finding.repairs[0].patch or ""
    assert patch.startswith("--- a/database.py\n+++ b/database.py\n")
    assert "+    def record_service_metrics(" in patch
    assert "+        self, active_workers: int, requests_total: int, requests_failed: int" in patch
    assert "+        now = to_timestamp(utc_now())" in patch
    assert "+        with self._lock:" in patch
    assert '+                "INSERT INTO service_metrics"' in patch
    assert (
        '+                " (recorded_at, active_workers, requests_total, requests_failed)"'
        in patch
    )
    assert '+                " VALUES (?, ?, ?, ?)",' in patch
    assert "+                (now, active_workers, requests_total, requests_failed)," in patch


def test_insert_method_goes_before_method_reading_table() -> None:
    files = {"database.py": DATABASE, "main.py": MAIN}
    finding = propose(files)
    text = patched(files, finding, "database.py")

    klass = next(n for n in ast.parse(text).body if isinstance(n, ast.ClassDef))
    names = [n.name for n in klass.body if isinstance(n, ast.FunctionDef)]
    assert names.index("record_service_metrics") == names.index("get_service_metrics") - 1
    assert finding.facts["insert_at"].startswith("database.py:")


def test_inserted_method_writes_a_row(tmp_path: Path) -> None:
    files = {"database.py": DATABASE, "main.py": MAIN}
    finding = propose(files)
    module_path = tmp_path / "patched_database.py"
    module_path.write_text(patched(files, finding, "database.py"))
    spec = importlib.util.spec_from_file_location("patched_database", module_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    manager = module.DatabaseManager(":memory:")
    manager.record_service_metrics(active_workers=2, requests_total=5, requests_failed=1)
    rows = manager.get_service_metrics(10)

    assert len(rows) == 1
    assert tuple(rows[0])[2:5] == (2, 5, 1)
    assert rows[0][1].endswith("+00:00")


def test_insert_rationale_states_lower_confidence_and_model() -> None:
    finding = propose({"database.py": DATABASE, "main.py": MAIN})
    rationale = finding.repairs[0].rationale

    assert rationale.startswith("Confidence 0.60.")
    assert "DatabaseManager.upsert_worker" in rationale
    assert "recorded_at = to_timestamp(utc_now())" in rationale
    assert "not that storing one row is all it must do" in rationale


def test_recommendation_names_class_insertion_point_arguments_and_table() -> None:
    finding = propose({"database.py": DATABASE, "main.py": MAIN})
    text = finding.recommendation

    assert "record_service_metrics(self, active_workers, requests_total, requests_failed)" in text
    assert "class DatabaseManager (database.py:14)" in text
    assert "before get_service_metrics" in text
    assert "main.py:9" in text
    assert 'requests_total=counters["total"]' in text
    assert "table service_metrics" in text
    assert finding.facts["writes_table"] == "service_metrics"


def test_method_defined_on_another_class_is_not_added() -> None:
    other = """\
class MetricsRecorder:
    def record_service_metrics(self, active_workers, requests_total, requests_failed):
        pass
"""
    finding = propose({"database.py": DATABASE, "main.py": MAIN, "metrics.py": other})

    assert finding.repairs == []
    assert "MetricsRecorder (metrics.py:2)" in finding.recommendation
    assert "self.db" in finding.recommendation
    assert finding.facts["defined_in"] == ["MetricsRecorder"]


def test_read_verb_method_gets_no_insert() -> None:
    main = MAIN.replace("record_service_metrics", "get_recent_metrics")

    finding = propose({"database.py": DATABASE, "main.py": main}, missing("get_recent_metrics"))

    assert finding.repairs == []
    assert "read verb 'get'" in finding.facts["patch_declined"]
    assert "Write a method get_recent_metrics(" in finding.recommendation


def test_used_result_gets_no_insert() -> None:
    main = MAIN.replace(
        "        self.db.record_service_metrics(", "        saved = self.db.record_service_metrics("
    )

    finding = propose({"database.py": DATABASE, "main.py": main})

    assert finding.repairs == []
    assert "uses the result" in finding.facts["patch_declined"]


def test_positional_arguments_get_no_insert() -> None:
    main = (
        MAIN.replace("active_workers=2,", "2,")
        .replace('requests_total=counters["total"],', 'counters["total"],')
        .replace('requests_failed=counters["failed"],', 'counters["failed"],')
    )

    finding = propose({"database.py": DATABASE, "main.py": main})

    assert finding.repairs == []
    assert "only keyword arguments" in finding.facts["patch_declined"]


def test_arguments_matching_two_tables_get_no_insert() -> None:
    database = DATABASE.replace(
        "                    last_heartbeat TEXT NOT NULL\n",
        "                    last_heartbeat TEXT NOT NULL,\n                    active_workers INTEGER,\n"
        "                    requests_total INTEGER,\n                    requests_failed INTEGER\n",
    )

    finding = propose({"database.py": database, "main.py": MAIN})

    assert finding.repairs == []
    assert "several tables (workers, service_metrics)" in finding.facts["patch_declined"]
    assert "table service_metrics" not in finding.recommendation


def test_arguments_matching_no_table_get_no_insert() -> None:
    main = MAIN.replace("active_workers=2,", "active=2,")

    finding = propose({"database.py": DATABASE, "main.py": main})

    assert finding.repairs == []
    assert "no table has all the columns active, requests_total" in finding.facts["patch_declined"]
    assert "Write a method record_service_metrics(self, active," in finding.recommendation


def test_required_column_not_passed_gets_no_insert() -> None:
    database = DATABASE.replace("note TEXT", "note TEXT NOT NULL")

    finding = propose({"database.py": database, "main.py": MAIN})

    assert finding.repairs == []
    assert "requires values for note" in finding.facts["patch_declined"]


def test_class_without_write_statement_gets_no_insert() -> None:
    database = DATABASE.replace(
        '                "INSERT INTO workers (worker_id, last_heartbeat) VALUES (?, ?)",',
        '                "SELECT worker_id FROM workers WHERE worker_id = ? AND last_heartbeat = ?",',
    )

    finding = propose({"database.py": database, "main.py": MAIN})

    assert finding.repairs == []
    assert "no write statement" in finding.facts["patch_declined"]


def test_time_column_without_class_expression_uses_utc_isoformat() -> None:
    database = DATABASE.replace("        now = to_timestamp(utc_now())\n", "").replace(
        "(worker_id, now)", "(worker_id, to_timestamp(utc_now()))"
    )
    files = {"database.py": database, "main.py": MAIN}
    finding = propose(files)
    patch = finding.repairs[0].patch or ""

    assert "+        from datetime import datetime, timezone" in patch
    assert "+        now = datetime.now(timezone.utc).isoformat()" in patch
    compile(patched(files, finding, "database.py"), "database.py", "exec")


def test_template_commit_is_repeated() -> None:
    database = DATABASE.replace(
        "                (worker_id, now),\n            )\n",
        "                (worker_id, now),\n            )\n            self._connection.commit()\n",
    )

    finding = propose({"database.py": database, "main.py": MAIN})

    assert "+            self._connection.commit()" in (finding.repairs[0].patch or "")


def test_near_spelling_with_compatible_signature_renames_call() -> None:
    database = DATABASE.replace(
        "    def close(self) -> None:",
        "    def record_service_metric(self, active_workers, requests_total, requests_failed):\n"
        "        pass\n\n    def close(self) -> None:",
    )

    finding = propose(
        {"database.py": database, "main.py": MAIN}, missing(closest="record_service_metric")
    )

    assert len(finding.repairs) == 1
    patch = finding.repairs[0].patch or ""
    assert "-        self.db.record_service_metrics(" in patch
    assert "+        self.db.record_service_metric(" in patch
    assert finding.repairs[0].rationale.startswith("Confidence 0.75.")


def test_near_spelling_with_other_parameters_is_not_renamed() -> None:
    database = DATABASE.replace(
        "    def close(self) -> None:",
        "    def record_service_metric(self, sample):\n        pass\n\n    def close(self) -> None:",
    )

    finding = propose(
        {"database.py": database, "main.py": MAIN}, missing(closest="record_service_metric")
    )

    assert finding.repairs == []
    assert "does not accept" in finding.recommendation


def test_class_outside_project_is_not_patched() -> None:
    finding = propose({"database.py": DATABASE, "main.py": MAIN}, missing(class_name="Redis"))

    assert finding.repairs == []
    assert "class Redis is not defined" in finding.facts["patch_declined"]


def test_method_appended_after_last_method_without_table_neighbour() -> None:
    database = DATABASE.replace(
        "    def get_service_metrics(self, limit: int) -> list:\n"
        "        with self._lock:\n"
        "            return self._connection.execute(\n"
        '                "SELECT * FROM service_metrics ORDER BY id DESC LIMIT ?", (limit,)\n'
        "            ).fetchall()\n\n",
        "",
    )
    files = {"database.py": database, "main.py": MAIN}

    finding = propose(files)
    source = PythonSource("database.py", patched(files, finding, "database.py"))

    klass = source.classes_named("DatabaseManager")[0]
    assert [m.name for m in PythonSource.methods(klass)][-1] == "record_service_metrics"
    assert "after close" in finding.recommendation


def test_apply_edits_rejects_overlapping_edits() -> None:
    from stackmedic.analysis.patch_source import TextEdit

    try:
        apply_edits("abc\n", [TextEdit(1, 0, 1, 2, "x"), TextEdit(1, 1, 1, 3, "y")])
    except ValueError as error:
        assert "overlapping" in str(error)
    else:
        raise AssertionError("overlapping edits were accepted")
