"""Round-trip compose editing: byte identity, each action in each form, minimal diffs."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from stackmedic.errors import ComposeFileError, RepairError
from stackmedic.model import ComposeEdit
from stackmedic.repair.compose_edit import (
    ComposeDocument,
    EditRejectedError,
    apply_edit,
    choose_file,
    edit_rejection,
    find_interpolations,
)
from stackmedic.repair.envfile import Definition, EnvFileDocument
from stackmedic.repair.textmerge import merge_edit

FIXTURES = Path(__file__).parent / "fixtures" / "compose"
REGULAR = sorted(FIXTURES.glob("*.yml"))
IRREGULAR = sorted((FIXTURES / "irregular").glob("*.yml"))
WORKER = "tacoreservice-worker"


def diff_lines(before: str, after: str) -> list[str]:
    """Return the changed lines of a diff (+/- prefixed), without headers and context."""
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in lines if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def load_data(text: str) -> object:
    return YAML(typ="safe").load(text)


def edited(path: Path, *edits: ComposeEdit) -> tuple[str, str]:
    document = ComposeDocument.load(path)
    for edit in edits:
        apply_edit(document, edit)
    return document.original_text, document.dump()


def edited_text(text: str, *edits: ComposeEdit) -> str:
    document = ComposeDocument.from_text(text)
    for edit in edits:
        apply_edit(document, edit)
    return document.dump()


def set_env(service: str, name: str, value: str) -> ComposeEdit:
    return ComposeEdit("set_env", service, {"name": name, "value": value})


def set_conditions(service: str, **conditions: str) -> ComposeEdit:
    return ComposeEdit("set_depends_on_conditions", service, {"conditions": conditions})


def set_healthcheck(service: str, test: object, **timings: object) -> ComposeEdit:
    return ComposeEdit("set_healthcheck", service, {"test": test, **timings})


# Round trip


def test_fixture_set_is_varied_enough() -> None:
    assert len(REGULAR) >= 15
    assert len(IRREGULAR) >= 3


@pytest.mark.parametrize("path", REGULAR, ids=lambda path: path.name)
def test_render_reproduces_fixture_bytes(path: Path) -> None:
    document = ComposeDocument.load(path)

    assert document.render().encode("utf-8") == path.read_bytes()


@pytest.mark.parametrize("path", REGULAR + IRREGULAR, ids=lambda path: path.name)
def test_unedited_dump_reproduces_fixture_bytes(path: Path) -> None:
    document = ComposeDocument.load(path)

    assert document.dump().encode("utf-8") == path.read_bytes()
    assert not document.changed


@pytest.mark.parametrize("path", IRREGULAR, ids=lambda path: path.name)
def test_irregular_layout_is_one_ruamel_cannot_reproduce(path: Path) -> None:
    # These fixtures exist to exercise the merge back onto the original
    # layout; if ruamel learns to reproduce them they belong in the main set.
    document = ComposeDocument.load(path)

    assert document.render() != document.original_text


@pytest.mark.parametrize(
    ("name", "mapping", "sequence", "offset"),
    [
        ("tacoreservice.yml", 2, 4, 2),
        ("indent4.yml", 4, 6, 4),
        ("dash-flush.yml", 2, 2, 0),
    ],
)
def test_layout_detection_measures_indentation(
    name: str, mapping: int, sequence: int, offset: int
) -> None:
    layout = ComposeDocument.load(FIXTURES / name).layout

    assert (layout.mapping, layout.sequence, layout.offset) == (mapping, sequence, offset)


def test_layout_detection_notes_crlf_and_bom() -> None:
    assert ComposeDocument.load(FIXTURES / "crlf.yml").layout.crlf
    assert ComposeDocument.load(FIXTURES / "bom.yml").layout.bom


@pytest.mark.parametrize("path", REGULAR + IRREGULAR, ids=lambda path: path.name)
def test_set_env_on_every_fixture_service(path: Path) -> None:
    document = ComposeDocument.load(path)
    for service in document.service_names():
        single = ComposeDocument.load(path)
        apply_edit(single, set_env(service, "STACKMEDIC_PROBE", "on"))
        text = single.dump()

        data = load_data(text)
        environment = data["services"][service]["environment"]
        if isinstance(environment, dict):
            assert environment["STACKMEDIC_PROBE"] == "on", service
        else:
            assert "STACKMEDIC_PROBE=on" in environment, service
        removed = [line for line in diff_lines(single.original_text, text) if line[0] == "-"]
        assert len(removed) <= 1, (service, removed)


def fixture_services(paths: list[Path]) -> list[tuple[Path, str]]:
    return [(path, service) for path in paths for service in ComposeDocument.load(path).service_names()]


FIXTURE_SERVICES = fixture_services(REGULAR + IRREGULAR)
EDITS = {
    "set_env": lambda service: set_env(service, "STACKMEDIC_PROBE", "on"),
    "set_healthcheck": lambda service: set_healthcheck(
        service, ["CMD", "probe", "--quick"], interval="7s", retries=4
    ),
    "set_depends_on": lambda service: set_conditions(service, stackmedic_dep="service_started"),
}
EDITED_KEY = {"set_env": "environment", "set_healthcheck": "healthcheck", "set_depends_on": "depends_on"}


def test_fixture_set_has_forty_files() -> None:
    assert len(REGULAR) + len(IRREGULAR) >= 40


@pytest.mark.parametrize("action", sorted(EDITS))
@pytest.mark.parametrize(
    ("path", "service"), FIXTURE_SERVICES, ids=[f"{p.name}:{s}" for p, s in FIXTURE_SERVICES]
)
def test_edit_changes_only_the_edited_key(path: Path, service: str, action: str) -> None:
    document = ComposeDocument.load(path)
    key = EDITED_KEY[action]
    definition = document.services.get(service) if document.services is not None else None
    old_value = definition.get(key) if definition is not None else None

    apply_edit(document, EDITS[action](service))
    text = document.dump()

    before, after = load_data(document.original_text), load_data(text)
    edited_service = after["services"][service]
    original_service = before["services"][service] or {}
    assert {k: v for k, v in edited_service.items() if k != key} == {
        k: v for k, v in original_service.items() if k != key
    }
    assert {k: v for k, v in after["services"].items() if k != service} == {
        k: v for k, v in before["services"].items() if k != service
    }
    assert {k: v for k, v in after.items() if k != "services"} == {
        k: v for k, v in before.items() if k != "services"
    }
    removed = [line for line in diff_lines(document.original_text, text) if line[0] == "-"]
    old_lines = len(str(old_value).splitlines()) if old_value is not None else 0
    assert len(removed) <= max(old_lines, len(list(old_value or [])) + 1, 2), removed


@pytest.mark.parametrize("path", REGULAR + IRREGULAR, ids=lambda path: path.name)
def test_edit_keeps_every_comment_line(path: Path) -> None:
    def comment_lines(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]

    for name in ComposeDocument.load(path).service_names():
        document = ComposeDocument.load(path)
        apply_edit(document, set_env(name, "STACKMEDIC_PROBE", "on"))

        assert comment_lines(document.dump()) == comment_lines(document.original_text), name


def test_plain_scalar_tab_is_file_error(tmp_path: Path) -> None:
    # Compose (Go YAML) accepts a tab inside a plain scalar; ruamel.yaml does
    # not, so such a file is reported with its position instead of edited.
    path = tmp_path / "compose.yml"
    path.write_text("services:\n  a:\n    environment:\n      PLAIN: left\tright\n")

    with pytest.raises(ComposeFileError, match=r"compose.yml:4:18: invalid YAML"):
        ComposeDocument.load(path)


# set_env


def test_set_env_appends_list_entry() -> None:
    before, after = edited(
        FIXTURES / "tacoreservice.yml", set_env(WORKER, "TACORESERVICE_BACKEND_PORT", "5556")
    )

    assert diff_lines(before, after) == ["+      - TACORESERVICE_BACKEND_PORT=5556"]
    assert after.index("TACORESERVICE_BACKEND_PORT=5556") > after.index(
        "DATABASE_PATH=data/tacoreservice.db"
    )


def test_set_env_replaces_quoted_list_entry() -> None:
    before, after = edited(
        FIXTURES / "quotes.yml", set_env("quoted-service", "GREETING", "hi there")
    )

    assert diff_lines(before, after) == [
        '-      - "GREETING=hello world"',
        '+      - "GREETING=hi there"',
    ]


def test_set_env_new_list_entry_follows_neighbour_quoting() -> None:
    text = 'services:\n  a:\n    environment:\n      - "A=1"\n      - "B=2"\n'

    after = edited_text(text, set_env("a", "C", "3"))

    assert diff_lines(text, after) == ['+      - "C=3"']


def test_set_env_keeps_comment_lines_around_list_entries() -> None:
    text = (
        "services:\n"
        "  a:\n"
        "    environment:\n"
        "      - A=1   # first\n"
        "      # about B\n"
        "      - B=2\n"
        "    # the volumes below hold the cache\n"
        "    volumes:\n"
        "      - cache:/cache\n"
    )

    after = edited_text(text, set_env("a", "C", "3"))

    assert diff_lines(text, after) == ["+      - C=3"]
    assert after.splitlines()[6] == "      - C=3"
    assert after.splitlines()[7] == "    # the volumes below hold the cache"


def test_set_env_replaces_map_value_keeping_integer_type() -> None:
    before, after = edited(FIXTURES / "basic-2space.yml", set_env("web", "WORKERS", "8"))

    assert diff_lines(before, after) == ["-      WORKERS: 4", "+      WORKERS: 8"]


def test_set_env_adds_map_key_after_last_entry() -> None:
    before, after = edited(
        FIXTURES / "basic-2space.yml", set_env("db", "POSTGRES_PASSWORD", "s3cret")
    )

    assert diff_lines(before, after) == ["+      POSTGRES_PASSWORD: s3cret"]
    lines = after.splitlines()
    assert lines[lines.index("      POSTGRES_PASSWORD: s3cret") - 1] == "      POSTGRES_DB: app"


def test_set_env_quotes_numeric_map_value() -> None:
    before, after = edited(FIXTURES / "basic-2space.yml", set_env("db", "POSTGRES_PORT", "5432"))

    assert diff_lines(before, after) == ['+      POSTGRES_PORT: "5432"']


def test_set_env_creates_list_environment_by_default() -> None:
    before, after = edited(
        FIXTURES / "tacoreservice.yml", set_env("redis", "REDIS_ARGS", "--save 60 1")
    )

    assert diff_lines(before, after) == ["+    environment:", "+      - REDIS_ARGS=--save 60 1"]
    lines = after.splitlines()
    assert lines[lines.index("      - REDIS_ARGS=--save 60 1") + 1] == ""


def test_set_env_creates_map_like_siblings() -> None:
    text = "services:\n  a:\n    environment:\n      A: one\n  b:\n    image: busybox\n"

    after = edited_text(text, set_env("b", "B", "two"))

    assert diff_lines(text, after) == ["+    environment:", "+      B: two"]


def test_set_env_on_flow_environment_stays_flow() -> None:
    before, after = edited(FIXTURES / "flow-style.yml", set_env("app", "APP_PORT", "3001"))

    assert diff_lines(before, after) == [
        '-    environment: {APP_ENV: production, APP_PORT: "3000"}',
        '+    environment: {APP_ENV: production, APP_PORT: "3001"}',
    ]


def test_set_env_handles_crlf_file() -> None:
    path = FIXTURES / "crlf.yml"
    _, after = edited(path, set_env("windows", "NEW", "1"))

    assert "      - NEW=1\r\n" in after
    assert after.count("\n") == after.count("\r\n")


def test_set_env_keeps_byte_order_mark() -> None:
    _, after = edited(FIXTURES / "bom.yml", set_env("bom", "NEW", "x"))

    assert after.startswith("\ufeff# starts with a byte order mark")
    assert "      NEW: x\n" in after


def test_set_env_keeps_comment_before_document_start() -> None:
    before, after = edited(FIXTURES / "document-start.yml", set_env("one", "NEW", "1"))

    assert after.startswith("# Comment before the document start marker.\n---\n")
    assert diff_lines(before, after) == ["+    environment:", "+      - NEW=1"]


def test_set_env_overrides_merged_key_in_service_only() -> None:
    before, after = edited(
        FIXTURES / "anchors-merge.yml", set_env("frontend", "TZ", "Asia/Shanghai")
    )

    assert diff_lines(before, after) == ["+      TZ: Asia/Shanghai"]
    data = load_data(after)
    assert data["services"]["frontend"]["environment"]["TZ"] == "Asia/Shanghai"
    assert data["services"]["scheduler"]["environment"]["TZ"] == "UTC"
    assert data["x-env"]["TZ"] == "UTC"


def test_set_env_copies_aliased_environment() -> None:
    _, after = edited(FIXTURES / "anchors-merge.yml", set_env("backend", "EXTRA", "1"))

    data = load_data(after)
    assert data["services"]["backend"]["environment"] == {
        "TZ": "UTC",
        "LANG": "C.UTF-8",
        "EXTRA": "1",
    }
    assert "EXTRA" not in data["services"]["frontend"]["environment"]
    assert "EXTRA" not in data["x-env"]


def test_set_env_rejects_anchor_shared_with_another_service() -> None:
    text = (
        "services:\n  a:\n    environment: &shared\n      - A=1\n  b:\n    environment: *shared\n"
    )
    document = ComposeDocument.from_text(text)

    with pytest.raises(RepairError, match="anchor"):
        apply_edit(document, set_env("a", "B", "2"))


def test_set_env_creates_mapping_for_empty_service() -> None:
    before, after = edited(FIXTURES / "empty-values.yml", set_env("bare", "X", "1"))

    assert diff_lines(before, after) == ["+    environment:", "+      - X=1"]


def test_set_env_fills_empty_environment_key_in_place() -> None:
    text = (
        "services:\n"
        "  a:\n"
        "    environment:\n"
        "    image: busybox  # base image\n"
        "\n"
        "  # second service\n"
        "  b:\n"
        "    image: busybox\n"
    )

    after = edited_text(text, set_env("a", "A", "1"))

    assert diff_lines(text, after) == ["+      - A=1"]
    assert after.splitlines()[3] == "      - A=1"


def test_set_env_turns_empty_flow_service_into_block() -> None:
    text = "services:\n  a: {}\n  b:\n    image: busybox\n"

    after = edited_text(text, set_env("a", "A", "1"))

    assert after == "services:\n  a:\n    environment:\n      - A=1\n  b:\n    image: busybox\n"


# Interpolation


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${PORT}", ["PORT"]),
        ("${PORT:-5555}", ["PORT"]),
        ("${HOST?missing}:${PORT-1}", ["HOST", "PORT"]),
        ("$HOME/data", ["HOME"]),
        ("price$$5", []),  # $$ is an escaped dollar sign
        ("$${NOT_A_VARIABLE}", []),
        ("plain", []),
    ],
)
def test_find_interpolations(value: str, expected: list[str]) -> None:
    assert find_interpolations(value) == expected


def test_set_env_rejects_overwriting_interpolation_from_shell() -> None:
    document = ComposeDocument.load(FIXTURES / "env-forms.yml")

    with pytest.raises(EditRejectedError) as raised:
        apply_edit(document, set_env("listform", "WITH_DEFAULT", "5556"))

    text = raised.value.rejection.text()
    assert "env-forms.yml:7" in text
    assert "${PORT:-5555}" in text
    assert "variable PORT" in text
    assert not document.changed


def test_set_env_rejection_names_dotenv(tmp_path: Path) -> None:
    (tmp_path / "compose.yml").write_text(
        "services:\n  a:\n    environment:\n      BACKEND_PORT: ${BACKEND_PORT:-5555}\n"
    )
    (tmp_path / ".env").write_text("BACKEND_PORT=5555\n")
    document = ComposeDocument.load(tmp_path / "compose.yml")

    rejection = edit_rejection(document, set_env("a", "BACKEND_PORT", "5556"))

    assert rejection is not None
    assert "comes from .env variable BACKEND_PORT" in rejection.text()
    assert "compose.yml:4" in rejection.text()


@pytest.mark.parametrize("service", ["listform", "mapform"])
def test_set_env_rejects_pass_through_variable(service: str) -> None:
    document = ComposeDocument.load(FIXTURES / "env-forms.yml")

    rejection = edit_rejection(document, set_env(service, "PASSTHROUGH", "x"))

    assert rejection is not None
    assert "passes it through" in rejection.text()


def test_set_env_allows_escaped_dollar_value() -> None:
    before, after = edited(FIXTURES / "env-forms.yml", set_env("listform", "DOLLARS", "free"))

    assert diff_lines(before, after) == ["-      - DOLLARS=price$$5", "+      - DOLLARS=free"]


# set_depends_on_conditions


def test_depends_on_list_becomes_map_with_conditions() -> None:
    before, after = edited(
        FIXTURES / "tacoreservice.yml",
        set_conditions(WORKER, tacoreservice="service_healthy", redis="service_healthy"),
    )

    assert diff_lines(before, after) == [
        "-      - tacoreservice",
        "-      - redis",
        "+      tacoreservice:",
        "+        condition: service_healthy",
        "+      redis:",
        "+        condition: service_healthy",
    ]


def test_depends_on_conversion_keeps_order_and_comments() -> None:
    text = (
        "services:\n"
        "  w:\n"
        "    depends_on:   # start order\n"
        "      - broker  # the ZeroMQ broker\n"
        "      # cache below\n"
        "      - cache\n"
        "    # health check follows\n"
        "    healthcheck:\n"
        '      test: ["CMD", "true"]\n'
    )

    after = edited_text(text, set_conditions("w", cache="service_healthy"))

    assert after == (
        "services:\n"
        "  w:\n"
        "    depends_on:   # start order\n"
        "      broker:  # the ZeroMQ broker\n"
        "        condition: service_started\n"
        "      # cache below\n"
        "      cache:\n"
        "        condition: service_healthy\n"
        "    # health check follows\n"
        "    healthcheck:\n"
        '      test: ["CMD", "true"]\n'
    )


def test_depends_on_flow_list_becomes_block_map() -> None:
    before, after = edited(FIXTURES / "depends-forms.yml", set_conditions("b", c="service_healthy"))

    assert diff_lines(before, after) == [
        "-    depends_on: [c]",
        "+    depends_on:",
        "+      c:",
        "+        condition: service_healthy",
    ]


def test_depends_on_map_condition_replaced() -> None:
    before, after = edited(FIXTURES / "depends-forms.yml", set_conditions("c", d="service_started"))

    assert diff_lines(before, after) == [
        "-        condition: service_healthy",
        "+        condition: service_started",
    ]
    assert "        restart: true" in after


def test_depends_on_map_gets_missing_dependency_appended() -> None:
    before, after = edited(
        FIXTURES / "profiles-extensions.yml", set_conditions("tests", debug="service_started")
    )

    assert diff_lines(before, after) == ["+      debug:", "+        condition: service_started"]


def test_depends_on_created_when_absent() -> None:
    before, after = edited(
        FIXTURES / "tacoreservice.yml", set_conditions("redis", tacoreservice="service_started")
    )

    assert diff_lines(before, after) == [
        "+    depends_on:",
        "+      tacoreservice:",
        "+        condition: service_started",
    ]


def test_depends_on_rejects_unknown_condition() -> None:
    document = ComposeDocument.load(FIXTURES / "tacoreservice.yml")

    with pytest.raises(RepairError, match="service_ready"):
        apply_edit(document, set_conditions(WORKER, redis="service_ready"))


# set_healthcheck


def test_healthcheck_flow_test_replaced_as_flow_line() -> None:
    before, after = edited(
        FIXTURES / "tacoreservice.yml",
        set_healthcheck(
            WORKER,
            ["CMD", "python", "-m", "tacore.worker_health"],
            interval="5s",
            timeout="3s",
            retries=3,
            start_period="10s",
            source="Dockerfile.worker:14 HEALTHCHECK",
        ),
    )

    removed = (
        '-      test: ["CMD", "python", "-c", "import urllib.request; '
        "urllib.request.urlopen('http://localhost:8080/health', timeout=3)\"]"
    )
    assert diff_lines(before, after) == [
        removed,
        '+      test: ["CMD", "python", "-m", "tacore.worker_health"]',
    ]
    assert "Dockerfile.worker:14" not in after


def test_healthcheck_block_test_replaced_as_block_keeping_comment() -> None:
    before, after = edited(
        FIXTURES / "healthcheck-forms.yml",
        set_healthcheck("block-list", ["CMD", "/app/healthcheck"]),
    )

    assert diff_lines(before, after) == ["-        - --quiet"]
    assert "      # The probe runs the binary directly.\n      test:\n        - CMD\n" in after


def test_healthcheck_string_test_replaced_and_timing_changed() -> None:
    before, after = edited(
        FIXTURES / "healthcheck-forms.yml",
        set_healthcheck("string-test", ["CMD", "/app/healthcheck"], interval="10s"),
    )

    assert diff_lines(before, after) == [
        "-      test: curl -fsS http://localhost/health || exit 1",
        "-      interval: 30s",
        '+      test: ["CMD", "/app/healthcheck"]',
        "+      interval: 10s",
    ]


def test_healthcheck_created_when_missing() -> None:
    before, after = edited(
        FIXTURES / "indent4.yml",
        set_healthcheck(
            "cache", ["CMD-SHELL", "echo stats | nc localhost 11211"], interval="5s", retries=3
        ),
    )

    assert diff_lines(before, after) == [
        "+        healthcheck:",
        '+            test: ["CMD-SHELL", "echo stats | nc localhost 11211"]',
        "+            interval: 5s",
        "+            retries: 3",
    ]


def test_healthcheck_disable_removed() -> None:
    before, after = edited(
        FIXTURES / "healthcheck-forms.yml", set_healthcheck("disabled", ["CMD", "/hc"])
    )

    assert diff_lines(before, after) == ["-      disable: true", '+      test: ["CMD", "/hc"]']


def test_healthcheck_inherited_through_merge_key_copied() -> None:
    text = (
        "x-defaults: &defaults\n"
        "  healthcheck:\n"
        '    test: ["CMD", "true"]\n'
        "    interval: 30s\n"
        "services:\n"
        "  a:\n"
        "    <<: *defaults\n"
        "    image: busybox\n"
        "  b:\n"
        "    <<: *defaults\n"
        "    image: busybox\n"
    )

    after = edited_text(text, set_healthcheck("a", ["CMD", "/hc"]))

    data = load_data(after)
    assert data["services"]["a"]["healthcheck"] == {"test": ["CMD", "/hc"], "interval": "30s"}
    assert data["services"]["b"]["healthcheck"] == {"test": ["CMD", "true"], "interval": "30s"}
    assert data["x-defaults"]["healthcheck"]["test"] == ["CMD", "true"]


def test_healthcheck_literal_block_test_stays_literal() -> None:
    before, after = edited(
        FIXTURES / "block-scalars.yml",
        set_healthcheck("scripted", "wget -q -O /dev/null http://localhost:8080/live || exit 1"),
    )

    assert diff_lines(before, after) == [
        "-        wget -q -O /dev/null http://localhost:8080/ready || exit 1",
        "+        wget -q -O /dev/null http://localhost:8080/live || exit 1",
    ]


# Dispatcher and errors


def test_apply_edit_rejects_unknown_action() -> None:
    document = ComposeDocument.load(FIXTURES / "tacoreservice.yml")

    with pytest.raises(RepairError, match="unknown compose edit action 'set_ports'"):
        apply_edit(document, ComposeEdit("set_ports", WORKER, {}))


def test_apply_edit_rejects_service_not_in_file() -> None:
    document = ComposeDocument.load(FIXTURES / "tacoreservice.yml")

    with pytest.raises(RepairError, match="'nginx' is not defined in this file"):
        apply_edit(document, set_env("nginx", "A", "1"))


def test_apply_edit_rejects_missing_params() -> None:
    document = ComposeDocument.load(FIXTURES / "tacoreservice.yml")

    with pytest.raises(RepairError, match="name and value"):
        apply_edit(document, ComposeEdit("set_env", WORKER, {"name": "A"}))


def test_malformed_yaml_reports_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "docker-compose.yml"
    path.write_text("services:\n  web:\n    image: nginx\n    ports: [80:80\n  db:\n")

    with pytest.raises(ComposeFileError) as raised:
        ComposeDocument.load(path)

    message = str(raised.value)
    assert message.startswith(f"{path}:5:")
    assert "invalid YAML" in message
    assert "\n" not in message


def test_duplicate_key_is_a_compose_file_error(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    path.write_text("services:\n  a:\n    image: x\n    image: y\n")

    with pytest.raises(ComposeFileError, match=r"compose.yml:4:5: invalid YAML: .*duplicate key"):
        ComposeDocument.load(path)


def test_error_line_counts_lines_before_document_start(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    path.write_text("# header\n---\nservices:\n  a: [\n")

    with pytest.raises(ComposeFileError, match=r"compose.yml:5:"):
        ComposeDocument.load(path)


def test_top_level_list_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    path.write_text("- services\n")

    with pytest.raises(ComposeFileError, match="mapping at the top level"):
        ComposeDocument.load(path)


def test_missing_file_is_a_compose_file_error(tmp_path: Path) -> None:
    with pytest.raises(ComposeFileError, match="cannot read compose file"):
        ComposeDocument.load(tmp_path / "absent.yml")


# Layouts ruamel does not reproduce


def test_irregular_indentation_kept_and_new_item_aligned() -> None:
    before, after = edited(FIXTURES / "irregular" / "mixed-indent.yml", set_env("api", "NEW", "2"))

    assert diff_lines(before, after) == ["+        - NEW=2"]
    assert load_data(after)["services"]["api"]["environment"] == ["MODE=api", "NEW=2"]


def test_irregular_indentation_new_key_aligned_with_siblings() -> None:
    before, after = edited(
        FIXTURES / "irregular" / "mixed-indent.yml", set_healthcheck("web", ["CMD", "nginx", "-t"])
    )

    assert diff_lines(before, after) == ["+    healthcheck:", '+      test: ["CMD", "nginx", "-t"]']
    assert load_data(after)["services"]["web"]["healthcheck"] == {"test": ["CMD", "nginx", "-t"]}


def test_merge_edit_keeps_layout_outside_edited_lines() -> None:
    original = "a:  [ 1, 2 ]\nb: 1\nc:   3\n"
    base = "a: [1, 2]\nb: 1\nc: 3\n"
    edited_base = "a: [1, 2]\nb: 2\nc: 3\n"

    assert merge_edit(original, base, edited_base) == "a:  [ 1, 2 ]\nb: 2\nc:   3\n"


def test_merge_edit_overlap_takes_edit() -> None:
    original = "a:  [ 1, 2 ]\nb: 1\n"
    base = "a: [1, 2]\nb: 1\n"
    edited_base = "a: [1, 3]\nb: 1\n"

    assert merge_edit(original, base, edited_base) == "a: [1, 3]\nb: 1\n"


def test_padded_flow_untouched_beside_edit() -> None:
    before, after = edited(FIXTURES / "irregular" / "padded-flow.yml", set_env("db", "A", "1"))

    assert '    ports: [ "3000:3000" ]' in after
    assert '    command: [ "postgres", "-c", "log_statement=all" ]' in after
    assert diff_lines(before, after) == ["+    environment:", '+      A: "1"']


def test_missing_final_newline_kept_apart_from_edit() -> None:
    before, after = edited(
        FIXTURES / "irregular" / "no-final-newline.yml", set_env("app", "B", "2")
    )

    assert diff_lines(before, after) == ["+      - B=2"]
    assert not after.endswith("\n")


def test_edit_after_unterminated_last_line_adds_line_break() -> None:
    _, after = edited(FIXTURES / "irregular" / "no-final-newline.yml", set_env("last", "B", "2"))

    assert "    image: example/last\n    environment:\n      - B=2\n" in after
    assert load_data(after)["services"]["last"]["environment"] == ["B=2"]


# Several compose files


@pytest.fixture()
def base_and_override(tmp_path: Path) -> list[Path]:
    base = tmp_path / "compose.yml"
    base.write_text(
        "services:\n"
        "  app:\n"
        "    image: example/app\n"
        "    environment:\n"
        "      - FROM_BASE=1\n"
        "    depends_on:\n"
        "      - db\n"
        "  db:\n"
        "    image: postgres\n"
    )
    override = tmp_path / "compose.override.yml"
    override.write_text("services:\n  app:\n    environment:\n      - FROM_OVERRIDE=1\n")
    return [base, override]


def test_choose_file_picks_file_defining_variable(base_and_override: list[Path]) -> None:
    base, override = base_and_override

    assert choose_file(base_and_override, set_env("app", "FROM_BASE", "2")) == base
    assert choose_file(base_and_override, set_env("app", "FROM_OVERRIDE", "2")) == override


def test_choose_file_picks_last_file_defining_key(base_and_override: list[Path]) -> None:
    base, _ = base_and_override

    assert choose_file(base_and_override, set_conditions("app", db="service_healthy")) == base


def test_choose_file_falls_back_to_service(
    base_and_override: list[Path],
) -> None:
    base, override = base_and_override

    assert choose_file(base_and_override, set_env("app", "NEW", "1")) == override
    assert choose_file(base_and_override, set_healthcheck("app", ["CMD", "true"])) == override
    assert choose_file(base_and_override, set_env("db", "NEW", "1")) == base


def test_choose_file_rejects_unknown_service(base_and_override: list[Path]) -> None:
    with pytest.raises(RepairError, match="'cache' is not defined in any compose file"):
        choose_file(base_and_override, set_env("cache", "A", "1"))


# Env files (.env and env_file)


ENV_TEXT = (
    "# Worker settings\r\n"
    "export BACKEND_PORT=5555 # the broker's frontend, by mistake\r\n"
    'GREETING="hello world"\r\n'
    "TOKEN='abc'\r\n"
    "\r\n"
    "EMPTY="
)


def test_env_file_definitions_parsed_with_lines() -> None:
    document = EnvFileDocument(Path("worker.env"), ENV_TEXT)

    found = {item.name: (item.line, item.value, item.quote) for item in document.definitions()}

    assert found == {
        "BACKEND_PORT": (2, "5555", ""),
        "GREETING": (3, "hello world", '"'),
        "TOKEN": (4, "abc", "'"),
        "EMPTY": (6, "", ""),
    }


def test_env_file_edit_changes_only_the_value() -> None:
    document = EnvFileDocument(Path("worker.env"), ENV_TEXT)

    changed = document.set_value("BACKEND_PORT", "5556")

    assert changed == 1
    assert document.text == ENV_TEXT.replace("BACKEND_PORT=5555 #", "BACKEND_PORT=5556 #")


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        ("GREETING", "hi there", 'GREETING="hi there"\r\n'),
        ("GREETING", 'say "hi"', 'GREETING="say \\"hi\\""\r\n'),
        ("TOKEN", "x y", "TOKEN='x y'\r\n"),
        ("TOKEN", "it's", 'TOKEN="it\'s"\r\n'),
        ("BACKEND_PORT", "$HOME", "export BACKEND_PORT='$HOME' # the broker's frontend, by mistake\r\n"),
    ],
)
def test_env_file_edit_keeps_or_adapts_quoting(name: str, value: str, line: str) -> None:
    document = EnvFileDocument(Path("worker.env"), ENV_TEXT)

    document.set_value(name, value)

    assert line in document.text
    assert document.value_of(name) is not None
    assert document.value_of(name).value == value  # type: ignore[union-attr]


def test_env_file_edit_keeps_missing_final_newline() -> None:
    document = EnvFileDocument(Path("worker.env"), ENV_TEXT)

    document.set_value("EMPTY", "1")

    assert document.text.endswith("\r\nEMPTY=1")


def test_env_file_edit_of_undefined_variable_raises() -> None:
    document = EnvFileDocument(Path("worker.env"), ENV_TEXT)

    with pytest.raises(RepairError, match="MISSING is not defined"):
        document.set_value("MISSING", "1")
    assert document.text == ENV_TEXT


def test_env_file_last_definition_takes_effect() -> None:
    document = EnvFileDocument(Path(".env"), "A=1\nA=2\n")

    assert document.value_of("A") == Definition("A", 2, "2", "")
    document.set_value("A", "3")
    assert document.text == "A=3\nA=3\n"
