"""Application patterns: PYTHON_EXCEPTION, KEY_ERROR, MISSING_ATTRIBUTE, MODULE_NOT_FOUND."""

from __future__ import annotations

import pytest
from evidence_builders import container, evidence, logs, run

from stackmedic.evidence.facts import (
    AttributeCall,
    ClassInfo,
    KeyUse,
    LogCallSite,
    MethodSignature,
    SourceFacts,
    TableSchema,
)
from stackmedic.evidence.model import SourceFile
from stackmedic.model import Category, Fixability
from stackmedic.patterns.application import (
    KeyErrorPattern,
    MissingAttribute,
    ModuleNotFound,
    PythonException,
    closest_method,
    column_similarity,
)
from stackmedic.patterns.tracebacks import tracebacks_in

API = "tacore/api.py"
DATABASE = "tacore/database.py"
MAIN = "tacore/main.py"
WORKERS_COLUMNS = ["worker_id", "status", "last_heartbeat", "registered_at", "requests_served"]
METRICS_COLUMNS = ["id", "recorded_at", "active_workers", "requests_total", "requests_failed"]

INDICATORS_SOURCE = "\n".join(f"# line {n}" for n in range(1, 40)) + "\n"


def sample_tables(service: str = "main") -> SourceFacts:
    workers = TableSchema("workers", WORKERS_COLUMNS, DATABASE, 31, service)
    metrics = TableSchema("service_metrics", METRICS_COLUMNS, DATABASE, 40, service)
    return SourceFacts(
        tables={"workers": workers, "service_metrics": metrics},
        table_definitions=[workers, metrics],
    )


def key_error_facts() -> SourceFacts:
    facts = sample_tables()
    facts.log_sites = [
        LogCallSite("main", "error", "Error getting workers status: {*}", API, 58, "get_workers"),
        LogCallSite(
            "main",
            "error",
            "Error in metrics collection loop: {*}",
            MAIN,
            96,
            "TACoreService._metrics_loop",
        ),
    ]
    facts.key_uses = [
        KeyUse("main", API, 49, "get_workers", "worker_id", "row['worker_id']"),
        KeyUse("main", API, 52, "get_workers", "last_seen", "row['last_seen']"),
        KeyUse("main", "tacore/report.py", 12, "render", "last_seen", "item['last_seen']"),
    ]
    return facts


def workers_error_lines(count: int = 3) -> list[str]:
    return [
        f"2026-12-04 20:31:{40 + n},551 - ERROR - Error getting workers status: 'last_seen'"
        for n in range(count)
    ]


# --- KEY_ERROR -------------------------------------------------------------------


def test_error_line_key_located_at_subscript() -> None:
    built = evidence(
        {"main": {}},
        [
            container(
                "p-main-1",
                "main",
                lines=logs(
                    "2026-12-04 20:31:02,118 - INFO - ZMQ backend bound to tcp://*:5556 (workers)",
                    *workers_error_lines(),
                ),
            )
        ],
    )
    [finding] = run(KeyErrorPattern(), built, key_error_facts())

    assert finding.code == "KEY_ERROR"
    assert finding.category is Category.APPLICATION
    assert finding.fixable_by is Fixability.CODE
    assert finding.facts["key"] == "last_seen"
    assert finding.facts["table"] == "workers"
    assert finding.facts["columns"] == WORKERS_COLUMNS
    assert finding.facts["closest_column"] == "last_heartbeat"
    assert finding.facts["function"] == "get_workers"
    assert finding.facts["occurrences"] == 3
    assert finding.location is not None
    assert (finding.location.path, finding.location.line) == (API, 52)
    assert finding.repairs == []
    assert "last_heartbeat" in finding.recommendation
    assert f"{API}:52" in finding.recommendation


def test_key_error_cites_log_lines_and_source_lines() -> None:
    built = evidence(
        {"main": {}}, [container("p-main-1", "main", lines=logs(*workers_error_lines()))]
    )
    [finding] = run(KeyErrorPattern(), built, key_error_facts())
    logged = [ref for ref in finding.evidence if ref.kind == "log"]
    assert [ref.line for ref in logged] == [1, 2, 3]
    assert logged[0].origin == "p-main-1"
    assert logged[0].text.endswith("'last_seen'")
    cited_sources = {(ref.origin, ref.line) for ref in finding.evidence if ref.kind == "source"}
    assert (API, 52) in cited_sources
    assert (DATABASE, 31) in cited_sources


@pytest.mark.parametrize(
    "line",
    [
        # No subscript of 'default' in the code: a quoted word is not proof of a KeyError.
        "2026-12-04 20:31:40,551 - ERROR - Failed to load profile: 'default'",
        # Not an error line.
        "2026-12-04 20:31:40,551 - INFO - Using column: 'last_seen'",
    ],
)
def test_quoted_words_without_key_error_evidence_are_ignored(line: str) -> None:
    built = evidence({"main": {}}, [container("p-main-1", "main", lines=logs(line))])
    assert run(KeyErrorPattern(), built, key_error_facts()) == []


def test_table_named_in_message_is_preferred() -> None:
    orders = TableSchema("orders", ["id", "amount", "placed_at"], "db.py", 5, "shop")
    refunds = TableSchema("refunds", ["id", "amount_cents", "order_id"], "db.py", 15, "shop")
    facts = SourceFacts(
        tables={"orders": orders, "refunds": refunds},
        table_definitions=[orders, refunds],
        key_uses=[KeyUse("shop", "shop.py", 9, "list_orders", "amount_usd", "row['amount_usd']")],
    )
    built = evidence(
        {"shop": {}},
        [
            container(
                "p-shop-1",
                "shop",
                lines=logs(
                    "ERROR - Error listing orders: 'amount_usd'",
                ),
            )
        ],
    )
    [finding] = run(KeyErrorPattern(), built, facts)
    assert finding.facts["table"] == "orders"
    assert finding.facts["closest_column"] == "amount"


def test_environment_key_error_left_to_missing_env() -> None:
    built = evidence(
        {"main": {}},
        [
            container(
                "p-main-1",
                "main",
                lines=logs(
                    "Traceback (most recent call last):",
                    '  File "/app/main.py", line 3, in <module>',
                    '  File "<frozen os>", line 679, in __getitem__',
                    "KeyError: 'API_TOKEN'",
                ),
            )
        ],
    )
    assert run(KeyErrorPattern(), built, SourceFacts()) == []


def test_key_error_traceback_is_located_at_project_frame() -> None:
    built = evidence(
        {"main": {}},
        [
            container(
                "p-main-1",
                "main",
                lines=logs(
                    "Traceback (most recent call last):",
                    '  File "/usr/lib/python3/dist-packages/starlette/routing.py", line 74, in app',
                    '  File "/app/tacore/api.py", line 52, in get_workers',
                    "    \"last_heartbeat\": row['last_seen'],",
                    "KeyError: 'last_seen'",
                ),
            )
        ],
        [SourceFile("main", API, INDICATORS_SOURCE, "/app/tacore/api.py")],
    )
    [finding] = run(KeyErrorPattern(), built, key_error_facts())
    assert finding.location is not None
    assert (finding.location.path, finding.location.line) == (API, 52)
    assert finding.facts["closest_column"] == "last_heartbeat"


@pytest.mark.parametrize(
    ("key", "better", "worse"),
    [
        ("last_seen", "last_heartbeat", "requests_served"),
        ("last_seen", "last_heartbeat", "status"),
        ("registerd_at", "registered_at", "recorded_at"),
    ],
)
def test_column_similarity_prefers_shared_words_and_spelling(
    key: str, better: str, worse: str
) -> None:
    assert column_similarity(key, better) > column_similarity(key, worse)


# --- MISSING_ATTRIBUTE -----------------------------------------------------------

DATABASE_METHODS = {
    "__init__": MethodSignature("__init__(self, db_path: str)", 14),
    "init_tables": MethodSignature("init_tables(self) -> None", 22),
    "upsert_worker": MethodSignature(
        "upsert_worker(self, worker_id: str, status: str) -> None", 50
    ),
    "touch_worker": MethodSignature("touch_worker(self, worker_id: str) -> None", 60),
    "get_workers": MethodSignature("get_workers(self) -> list[dict]", 70),
    "get_service_metrics": MethodSignature(
        "get_service_metrics(self, limit: int = 10) -> list[dict]", 80
    ),
}


def attribute_facts() -> SourceFacts:
    info = ClassInfo(DATABASE, 12, dict(DATABASE_METHODS), "main", "DatabaseManager")
    return SourceFacts(
        classes={"DatabaseManager": info},
        class_definitions=[info],
        log_sites=[
            LogCallSite(
                "main",
                "error",
                "Error in metrics collection loop: {*}",
                MAIN,
                96,
                "TACoreService._metrics_loop",
            )
        ],
        attribute_calls=[
            AttributeCall(
                "main",
                MAIN,
                88,
                "TACoreService._metrics_loop",
                "self.db",
                "record_service_metrics",
                "self.db.record_service_metrics(...)",
            ),
        ],
    )


def metrics_error_lines(count: int) -> list[tuple[float, str]]:
    text = (
        "ERROR - Error in metrics collection loop: 'DatabaseManager' object has no attribute"
        " 'record_service_metrics'"
    )
    return [(5.0 * n, f"2026-12-04 20:31:{5 * n:02d},000 - {text}") for n in range(count)]


def test_missing_method_located_at_call() -> None:
    built = evidence(
        {"main": {}}, [container("p-main-1", "main", lines=logs(*metrics_error_lines(4)))]
    )
    [finding] = run(MissingAttribute(), built, attribute_facts())

    assert finding.code == "MISSING_ATTRIBUTE"
    assert finding.facts["class_name"] == "DatabaseManager"
    assert finding.facts["attribute"] == "record_service_metrics"
    assert finding.facts["closest_method"] is None
    assert finding.facts["class_location"] == f"{DATABASE}:12"
    assert "get_service_metrics(self, limit: int = 10) -> list[dict]" in finding.facts["methods"]
    assert finding.facts["occurrences"] == 4
    assert finding.location is not None
    assert (finding.location.path, finding.location.line) == (MAIN, 88)
    assert finding.location.function == "TACoreService._metrics_loop"
    assert "Add a method record_service_metrics to DatabaseManager" in finding.recommendation
    assert f"{MAIN}:88" in finding.recommendation


def test_repeated_error_lines_give_one_finding_citing_a_few() -> None:
    built = evidence(
        {"main": {}}, [container("p-main-1", "main", lines=logs(*metrics_error_lines(12)))]
    )
    [finding] = run(MissingAttribute(), built, attribute_facts())
    assert len([ref for ref in finding.evidence if ref.kind == "log"]) == 3


def test_misspelled_method_names_closest_method() -> None:
    info = ClassInfo(
        "repo.py", 3, {"get_user": MethodSignature("get_user(self, user_id)", 5)}, "api", "Repo"
    )
    facts = SourceFacts(classes={"Repo": info}, class_definitions=[info])
    built = evidence(
        {"api": {}},
        [
            container(
                "p-api-1",
                "api",
                lines=logs(
                    "AttributeError: 'Repo' object has no attribute 'get_usr'",
                ),
            )
        ],
    )
    [finding] = run(MissingAttribute(), built, facts)
    assert finding.facts["closest_method"] == "get_user"
    assert "probably means get_user" in finding.recommendation


def test_attribute_of_unknown_class_is_reported_without_methods() -> None:
    built = evidence(
        {"api": {}},
        [
            container(
                "p-api-1",
                "api",
                lines=logs(
                    "ERROR - send failed: 'NoneType' object has no attribute 'send'",
                ),
            )
        ],
    )
    [finding] = run(MissingAttribute(), built, SourceFacts())
    assert finding.facts["class_name"] == "NoneType"
    assert finding.facts["methods"] == []
    assert finding.facts["class_location"] is None
    assert finding.confidence < 0.8


@pytest.mark.parametrize(
    ("attribute", "methods", "expected"),
    [
        # Reading metrics is no stand-in for recording them.
        ("record_service_metrics", ["get_service_metrics", "init_tables"], None),
        ("record_metric", ["record_metrics", "get_metrics"], "record_metrics"),
        ("get_usr", ["get_user", "set_user"], "get_user"),
        ("close", ["open", "read"], None),
    ],
)
def test_closest_method_needs_typo_or_same_verb(
    attribute: str, methods: list[str], expected: str | None
) -> None:
    assert closest_method(attribute, methods) == expected


# --- MODULE_NOT_FOUND ------------------------------------------------------------


def test_missing_third_party_module_advises_install() -> None:
    built = evidence(
        {"api": {}},
        [
            container(
                "p-api-1",
                "api",
                state="exited",
                exit_code=1,
                lines=logs(
                    "Traceback (most recent call last):",
                    '  File "/usr/local/lib/python3.11/runpy.py", line 198, in _run_module_as_main',
                    "ModuleNotFoundError: No module named 'yaml'",
                ),
            )
        ],
    )
    [finding] = run(ModuleNotFound(), built)
    assert finding.facts["module"] == "yaml"
    assert finding.facts["local"] is False
    assert "requirements.txt" in finding.recommendation


def test_missing_project_package_advises_copy_and_workdir() -> None:
    built = evidence(
        {"api": {}},
        [
            container(
                "p-api-1",
                "api",
                lines=logs(
                    "/usr/local/bin/python: Error while finding module specification for 'tacore.main'"
                    " (ModuleNotFoundError: No module named 'tacore')",
                ),
            )
        ],
        [SourceFile("api", "tacore/main.py", "print('x')\n")],
    )
    [finding] = run(ModuleNotFound(), built)
    assert finding.facts["module"] == "tacore"
    assert finding.facts["local"] is True
    assert "COPY" in finding.recommendation


def test_cannot_import_name_is_not_a_missing_module() -> None:
    # The module exists; a name in it does not. PYTHON_EXCEPTION covers that.
    built = evidence(
        {"api": {}},
        [
            container(
                "p-api-1",
                "api",
                lines=logs(
                    "ImportError: cannot import name 'Thing' from 'lib' (/app/lib.py)",
                ),
            )
        ],
    )
    assert run(ModuleNotFound(), built) == []


# --- PYTHON_EXCEPTION and traceback blocks -----------------------------------------

VALUE_ERROR = [
    "Traceback (most recent call last):",
    '  File "/app/tacore/worker.py", line 120, in handle',
    "    result = compute(symbol)",
    '  File "/app/tacore/indicators.py", line 31, in rsi',
    '    raise ValueError(f"need {period} rows")',
    "ValueError: need 14 rows",
]


def test_exception_in_project_code_is_located_and_replicas_merged() -> None:
    built = evidence(
        {"worker": {}},
        [
            container("p-worker-1", "worker", lines=logs(*VALUE_ERROR)),
            container("p-worker-2", "worker", lines=logs("starting", *VALUE_ERROR)),
        ],
        [
            SourceFile(
                "worker", "tacore/indicators.py", INDICATORS_SOURCE, "/app/tacore/indicators.py"
            ),
            SourceFile(
                "worker", "tacore/worker.py", INDICATORS_SOURCE * 4, "/app/tacore/worker.py"
            ),
        ],
    )
    [finding] = run(PythonException(), built)
    assert finding.facts["exception_type"] == "ValueError"
    assert finding.facts["message"] == "need 14 rows"
    assert finding.facts["occurrences"] == 2
    assert finding.location is not None
    assert (finding.location.path, finding.location.line) == ("tacore/indicators.py", 31)
    assert {ref.origin for ref in finding.evidence} == {"p-worker-1", "p-worker-2"}


def test_exception_only_in_library_frames_has_no_location() -> None:
    built = evidence(
        {"api": {}},
        [
            container(
                "p-api-1",
                "api",
                lines=logs(
                    "Traceback (most recent call last):",
                    '  File "/usr/lib/python3.11/json/decoder.py", line 355, in raw_decode',
                    "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
                ),
            )
        ],
    )
    [finding] = run(PythonException(), built)
    assert finding.location is None
    assert finding.facts["exception_type"] == "json.decoder.JSONDecodeError"
    assert finding.confidence < 0.8


@pytest.mark.parametrize(
    "last_line",
    [
        # Each has its own pattern.
        "KeyError: 'price'",
        "AttributeError: 'Repo' object has no attribute 'get_usr'",
        "ModuleNotFoundError: No module named 'yaml'",
    ],
)
def test_exceptions_with_own_pattern_are_not_python_exception(last_line: str) -> None:
    built = evidence(
        {"api": {}},
        [
            container(
                "p-api-1",
                "api",
                lines=logs(
                    "Traceback (most recent call last):",
                    '  File "/app/x.py", line 3, in f',
                    last_line,
                ),
            )
        ],
    )
    assert run(PythonException(), built) == []


def test_traceback_cut_off_by_log_tail_is_ignored() -> None:
    # No exception line was collected: nothing to report yet.
    built = evidence(
        {"api": {}},
        [
            container(
                "p-api-1",
                "api",
                lines=logs(
                    "Traceback (most recent call last):",
                    '  File "/app/x.py", line 3, in f',
                ),
            )
        ],
    )
    assert run(PythonException(), built) == []


def test_chained_exceptions_are_separate_blocks() -> None:
    lines = logs(
        "Traceback (most recent call last):",
        '  File "/app/a.py", line 1, in f',
        "KeyError: 'x'",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "/app/a.py", line 3, in f',
        "RuntimeError: lookup failed",
    )
    blocks = tracebacks_in(container("c", "s", lines=lines))
    assert [(b.exception_type, b.message) for b in blocks] == [
        ("KeyError", "'x'"),
        ("RuntimeError", "lookup failed"),
    ]
    assert [len(b.frames) for b in blocks] == [1, 1]
    assert blocks[1].frames[0].line == 3
