"""Error messages and evidence warnings in the user's language.

Every error stackmedic raises on purpose, and every warning that evidence
collection or bundle loading records, is a catalogue message
(messages/<lang>/errors.json). These tests check that the Chinese text is
Chinese, that paths and names pass through untranslated, that the CLI prints
one translated line, and that the catalogues match the keys the source uses.
"""

from __future__ import annotations

import ast
import json
import os
import re
import string
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from stackmedic import cli
from stackmedic.analysis.pyindex import PythonSyntaxError, parse_module
from stackmedic.engine import ComposeProject, DockerEngine
from stackmedic.engine.compose import find_compose_files, validate_yaml
from stackmedic.errors import (
    ComposeFileError,
    EngineUnavailableError,
    PlanError,
    ProjectLockedError,
    RepairError,
    StackmedicError,
)
from stackmedic.evidence.bundle import BundleError, load_bundle, save_bundle
from stackmedic.evidence.compose_raw import UNSET_WARNING_PATTERN
from stackmedic.i18n import message, message_text
from stackmedic.lock import ProjectLock
from stackmedic.model import RunRecord
from stackmedic.plan import load_plan, parse_plan
from stackmedic.repair.backup import rollback_run
from stackmedic.repair.compose_edit import EditRejectedError, EditRejection
from stackmedic.repair.document import ComposeDocument
from stackmedic.repair.envfile import EnvFileDocument
from stackmedic.report.record_io import RecordFormatError, from_dict
from stackmedic.report.render import load_run

CJK = re.compile(r"[\u4e00-\u9fff]")
SOURCE = Path(cli.__file__).resolve().parent
KEY = re.compile(r"^(?:errors|warnings)\.[a-z0-9_]+(?:\.[a-z0-9_]+)+$")


def catalogue_file(lang: str) -> dict[str, str]:
    path = resources.files("stackmedic").joinpath("messages", lang, "errors.json")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def fields_of(template: str) -> set[str]:
    return {name for _text, name, _spec, _conversion in string.Formatter().parse(template) if name}


def chinese(error: StackmedicError) -> str:
    text, hint = error.localized("zh-CN")
    return text if hint is None else f"{text} ({hint})"


def assert_chinese_with(text: str, *kept: str) -> None:
    assert CJK.search(text), text
    for value in kept:
        assert value in text, f"{value!r} missing from {text!r}"


# --- a representative error of each room ---------------------------------------------


def test_engine_unreachable_in_chinese(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no.sock")

    with pytest.raises(EngineUnavailableError) as caught:
        DockerEngine.connect(timeout=5)

    assert caught.value.message.startswith(f"cannot reach the Docker Engine at unix://{tmp_path}/no.sock: ")
    assert_chinese_with(chinese(caught.value), "Docker Engine", "DOCKER_HOST")


def test_missing_project_dir_keeps_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-project"

    with pytest.raises(ComposeFileError) as caught:
        find_compose_files(missing)

    assert caught.value.message == f"project directory not found: {missing}"
    assert_chinese_with(chinese(caught.value), str(missing))


def test_malformed_compose_yaml_keeps_location(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  web: [oops\n", encoding="utf-8")

    with pytest.raises(ComposeFileError) as caught:
        validate_yaml(path)

    assert caught.value.message.startswith(f"invalid YAML in {path}:")
    assert_chinese_with(chinese(caught.value), str(path), "YAML")


def test_plan_missing_field_keeps_names(tmp_path: Path) -> None:
    data = {"checks": [{"name": "api-up", "type": "http"}]}

    with pytest.raises(PlanError) as caught:
        parse_plan(data, tmp_path, source="stackmedic.yaml")

    assert caught.value.message == "stackmedic.yaml: check 'api-up' (http) is missing url"
    assert_chinese_with(chinese(caught.value), "stackmedic.yaml", "api-up", "url")


def test_plan_file_not_found_keeps_path(tmp_path: Path) -> None:
    missing = tmp_path / "plan.yaml"

    with pytest.raises(PlanError) as caught:
        load_plan(tmp_path, missing)

    assert_chinese_with(chinese(caught.value), str(missing))


def test_held_lock_names_the_holding_run(tmp_path: Path) -> None:
    with ProjectLock(tmp_path, "run-first"), pytest.raises(ProjectLockedError) as caught:
        ProjectLock(tmp_path, "run-second").acquire()

    assert "is locked by run run-first" in caught.value.message
    assert_chinese_with(chinese(caught.value), str(tmp_path), "run-first", "Ctrl-C")


def test_missing_bundle_keeps_path(tmp_path: Path) -> None:
    missing = tmp_path / "bundle"

    with pytest.raises(BundleError) as caught:
        load_bundle(missing)

    assert caught.value.message == f"evidence bundle not found: {missing}"
    assert_chinese_with(chinese(caught.value), str(missing))


def test_undefined_env_variable_keeps_path_and_name(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("OTHER=1\n", encoding="utf-8")
    document = EnvFileDocument.load(path)

    with pytest.raises(RepairError) as caught:
        document.set_value("REDIS_URL", "redis://cache:6379")

    assert caught.value.message == f"{path}: REDIS_URL is not defined in this env file"
    assert_chinese_with(chinese(caught.value), str(path), "REDIS_URL")


def test_service_not_in_compose_file_keeps_names() -> None:
    document = ComposeDocument.from_text("services:\n  api:\n    image: x\n", "compose.yaml")

    with pytest.raises(RepairError) as caught:
        document.service("worker")

    assert caught.value.message == (
        "compose.yaml: service 'worker' is not defined in this file (services defined here: api)"
    )
    assert_chinese_with(chinese(caught.value), "compose.yaml", "'worker'", "api")


def test_rejected_edit_translates_its_reason() -> None:
    rejection = EditRejection(
        "repair.reject.dependency_unknown", {"dependency": "cache", "service": "api"}
    )

    error = EditRejectedError(Path("/srv/app/compose.yaml"), rejection)

    assert error.message == f"/srv/app/compose.yaml: {rejection.text()}"
    assert_chinese_with(chinese(error), "/srv/app/compose.yaml", "cache")


def test_unknown_run_hint_lists_known_runs(tmp_path: Path) -> None:
    runs = tmp_path / ".stackmedic" / "runs"
    (runs / "20250301-100000").mkdir(parents=True)

    with pytest.raises(RepairError) as caught:
        rollback_run(tmp_path, "missing-run")

    assert caught.value.hint == f"runs in {runs}: 20250301-100000"
    assert_chinese_with(chinese(caught.value), "missing-run", "20250301-100000")


def test_deleted_file_hash_is_translated() -> None:
    # The "missing" of a deleted file is itself a message, nested in the error.
    error = RepairError(
        message(
            "errors.repair.file_changed",
            path="compose.yaml",
            changeset="c1",
            actual=message("errors.repair.file_missing"),
            expected="0123456789ab",
        )
    )

    assert "(sha256 missing, expected 0123456789ab)" in error.message
    assert_chinese_with(chinese(error), "compose.yaml", "文件不存在")


def test_record_missing_field_keeps_path() -> None:
    with pytest.raises(RecordFormatError) as caught:
        from_dict(RunRecord, {}, path="run")

    assert caught.value.message.endswith(": required field is missing")
    path = caught.value.message.split(":")[0]
    assert path.startswith("run.")
    assert_chinese_with(chinese(caught.value), path)


def test_missing_run_record_keeps_path(tmp_path: Path) -> None:
    with pytest.raises(RecordFormatError) as caught:
        load_run(tmp_path / "missing")

    assert_chinese_with(chinese(caught.value), str(tmp_path / "missing"), "report.json")


def test_invalid_run_record_nests_the_field_error(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text(
        json.dumps({"schema": "stackmedic.report/v1", "run_id": 5}), encoding="utf-8"
    )

    with pytest.raises(RecordFormatError) as caught:
        load_run(tmp_path)

    assert caught.value.message.startswith(f"{tmp_path / 'report.json'}: run.")
    assert_chinese_with(chinese(caught.value), str(tmp_path / "report.json"), "run.")


def test_python_syntax_error_keeps_path_and_line() -> None:
    with pytest.raises(PythonSyntaxError) as caught:
        parse_module("app/broken_i18n.py", "def f(:\n    pass\n")

    assert str(caught.value).startswith("app/broken_i18n.py: not valid Python at line 1")
    text = message_text(caught.value.translatable, "zh-CN")
    assert_chinese_with(text, "app/broken_i18n.py")


def test_english_localized_is_the_stored_text(tmp_path: Path) -> None:
    with pytest.raises(ComposeFileError) as caught:
        find_compose_files(tmp_path)

    text, hint = caught.value.localized("en")
    assert text == caught.value.message
    assert hint == "pass the file with -f"


# --- evidence warnings ---------------------------------------------------------------


def bare_bundle(folder: Path) -> Path:
    """Write a hand-made bundle with only a ps table, so most kinds of evidence are missing."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ps.txt").write_text(
        "CONTAINER ID   IMAGE   COMMAND   CREATED   STATUS   PORTS   NAMES\n"
        'abc123   app:1   "python"   1 min ago   Exited (1) 5 seconds ago      demo-api-1\n',
        encoding="utf-8",
    )
    return folder


def test_bundle_warnings_have_catalogue_forms(tmp_path: Path) -> None:
    evidence = load_bundle(bare_bundle(tmp_path / "bundle"))

    by_text = {warning.text: warning for warning in evidence.warning_messages}
    assert "bundle has no logs/: findings cannot cite log lines or tracebacks" in by_text
    for warning in evidence.warnings:
        assert warning in by_text, warning
        assert CJK.search(message_text(by_text[warning], "zh-CN")), warning


def test_unset_warning_keeps_compose_wording(tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "compose.yaml").write_text(
        "services:\n  api:\n    image: app\n    environment:\n      PASSWORD: ${PG_PASSWORD}\n",
        encoding="utf-8",
    )

    evidence = load_bundle(folder)

    unset = [w for w in evidence.warning_messages if w.key == "warnings.compose.variable_unset"]
    assert len(unset) == 1
    assert UNSET_WARNING_PATTERN.search(unset[0].text)
    assert unset[0].text in evidence.warnings
    assert_chinese_with(message_text(unset[0], "zh-CN"), "PG_PASSWORD")


def test_warning_messages_survive_round_trip(tmp_path: Path) -> None:
    loaded = load_bundle(bare_bundle(tmp_path / "hand"))
    save_bundle(loaded, tmp_path / "saved")

    again = load_bundle(tmp_path / "saved")

    original = {(w.key, w.text) for w in loaded.warning_messages}
    assert original
    assert original <= {(w.key, w.text) for w in again.warning_messages}
    assert {w.text for w in loaded.warning_messages} <= set(again.warnings)


def test_bundle_without_warning_messages_still_loads(tmp_path: Path) -> None:
    save_bundle(load_bundle(bare_bundle(tmp_path / "hand")), tmp_path / "saved")
    manifest_path = tmp_path / "saved" / "bundle.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    del manifest["warning_messages"]
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")

    loaded = load_bundle(tmp_path / "saved")

    assert "bundle has no logs/: findings cannot cite log lines or tracebacks" in loaded.warnings
    assert len(loaded.containers) == 1


def test_saved_warning_message_masks_secrets(tmp_path: Path) -> None:
    evidence = load_bundle(bare_bundle(tmp_path / "hand"))
    evidence.add_warning(
        "warnings.bundle.manifest_invalid_json",
        manifest="bundle.json",
        error="line 1: password=hunter2-planted-i18n",
    )
    save_bundle(evidence, tmp_path / "saved")

    manifest = (tmp_path / "saved" / "bundle.json").read_text(encoding="utf-8")
    loaded = load_bundle(tmp_path / "saved")

    assert "hunter2-planted-i18n" not in manifest
    masked = [w for w in loaded.warning_messages if "password=" in w.text]
    assert len(masked) == 1
    assert "hunter2-planted-i18n" not in message_text(masked[0], "zh-CN")


# --- the CLI, as a user runs it --------------------------------------------------------


def stackmedic(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from stackmedic.cli import main; main()", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    """Run `cli.main()` in this process with `args`; return its exit code and stderr."""
    monkeypatch.setattr(sys, "argv", ["stackmedic", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


def assert_one_chinese_error_line(stderr: str, *kept: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("stackmedic: 错误: "), lines[0]
    assert "Traceback" not in stderr
    assert_chinese_with(lines[0].removeprefix("stackmedic: 错误: "), *kept)


def test_cli_unreachable_engine_in_chinese(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: x\n", encoding="utf-8")

    result = stackmedic(
        "--lang",
        "zh-CN",
        "diagnose",
        str(tmp_path),
        env={"DOCKER_HOST": f"unix://{tmp_path}/nonexistent.sock"},
    )

    assert result.returncode == 2
    assert_one_chinese_error_line(result.stderr, "Docker Engine", "(提示: ")


def test_cli_missing_run_folder_in_chinese(tmp_path: Path) -> None:
    missing = tmp_path / "missing-run"

    result = stackmedic("report", str(missing), "--lang", "zh-CN")

    assert result.returncode == 2
    assert_one_chinese_error_line(result.stderr, str(missing), "report.json")


def test_cli_rollback_unknown_run_in_chinese(tmp_path: Path) -> None:
    result = stackmedic(
        "--lang", "zh-CN", "rollback", "no-such-run", "--project-dir", str(tmp_path)
    )

    assert result.returncode == 2
    assert_one_chinese_error_line(result.stderr, "no-such-run")


def test_cli_malformed_yaml_in_chinese(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The engine connection is replaced, so the YAML check is what fails.
    monkeypatch.setattr(DockerEngine, "connect", classmethod(lambda cls: object()))
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  web: [oops\n", encoding="utf-8")

    code, stderr = run_main(monkeypatch, capsys, "--lang", "zh-CN", "diagnose", str(tmp_path))

    assert code == 2
    assert_one_chinese_error_line(stderr, str(compose), "YAML")


def test_cli_plan_missing_field_in_chinese(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Engine and Compose are replaced, so loading the plan is what fails.
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  web:\n    image: x\n", encoding="utf-8")
    plan = tmp_path / "stackmedic.yaml"
    plan.write_text("checks:\n  - name: web-port\n    type: tcp\n    host: web\n", encoding="utf-8")
    monkeypatch.setattr(DockerEngine, "connect", classmethod(lambda cls: object()))

    def open_project(cls: type[ComposeProject], project_dir: Path, *_: object) -> ComposeProject:
        return cls(project_dir.resolve(), [compose], name="i18n-plan-test")

    monkeypatch.setattr(ComposeProject, "open", classmethod(open_project))

    code, stderr = run_main(
        monkeypatch, capsys, "run", str(tmp_path), "--plan", str(plan), "--lang", "zh-CN"
    )

    assert code == 2
    assert_one_chinese_error_line(stderr, str(plan), "web-port", "port")


def test_cli_diagnose_without_input_in_chinese() -> None:
    result = stackmedic("diagnose", "--lang", "zh-CN")

    assert result.returncode == 2
    assert_one_chinese_error_line(result.stderr, "PROJECT_DIR", "--evidence")


def test_cli_bundle_warnings_in_chinese(tmp_path: Path) -> None:
    bundle = bare_bundle(tmp_path / "bundle")

    result = stackmedic("diagnose", "--evidence", str(bundle), "--lang", "zh-CN")

    assert result.returncode in (0, 1)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("警告：")]
    assert warnings, result.stderr
    assert "警告：证据包中没有 logs/：发现无法引用日志行或回溯" in warnings
    assert not any("bundle has no" in line for line in warnings)


def test_cli_bundle_warnings_in_english(tmp_path: Path) -> None:
    bundle = bare_bundle(tmp_path / "bundle")

    result = stackmedic("diagnose", "--evidence", str(bundle), "--lang", "en")

    assert "warning: bundle has no logs/: findings cannot cite log lines or tracebacks" in (
        result.stderr
    )


# --- the catalogues --------------------------------------------------------------------


def keys_used_in_source() -> dict[str, list[str]]:
    """Return every errors.* and warnings.* key that a string literal under src/ names."""
    used: dict[str, list[str]] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and KEY.match(node.value)
            ):
                used.setdefault(node.value, []).append(path.relative_to(SOURCE).as_posix())
    return used


USED = keys_used_in_source()
EN = catalogue_file("en")
ZH = catalogue_file("zh-CN")


def test_source_uses_error_keys() -> None:
    assert len(USED) > 100
    assert "errors.plan.check_missing_fields" in USED
    assert "warnings.bundle.missing_logs" in USED


@pytest.mark.parametrize("key", sorted(USED))
def test_used_key_is_in_both_catalogues(key: str) -> None:
    assert key in EN, f"{key} (used in {', '.join(USED[key])}) missing in en/errors.json"
    assert key in ZH, f"{key} (used in {', '.join(USED[key])}) missing in zh-CN/errors.json"


def test_catalogues_have_the_same_keys() -> None:
    assert sorted(set(EN) ^ set(ZH)) == []


def test_every_catalogue_key_is_used() -> None:
    assert sorted(set(EN) - set(USED)) == []


@pytest.mark.parametrize("key", sorted(EN))
def test_both_languages_use_the_same_fields(key: str) -> None:
    assert fields_of(EN[key]) == fields_of(ZH[key])


@pytest.mark.parametrize("key", sorted(ZH))
def test_chinese_template_has_no_english_sentence(key: str) -> None:
    # Templates that only join fields ("{path}：{reason}") have no words to translate,
    # and a hint that is a command line stays as it is.
    if key == "errors.cli.hint.diagnose_help":
        assert ZH[key] == EN[key]
        return
    words = re.sub(r"\{[^}]*\}", "", ZH[key])
    assert CJK.search(words) or not re.search(r"[A-Za-z]", words), ZH[key]


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def test_message_params_match_catalogue_fields() -> None:
    # Each call with a literal key passes exactly the fields its template names.
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and _called_name(node) in ("message", "_warn", "add_warning")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and KEY.match(node.args[0].value)
            ):
                continue
            if any(keyword.arg is None for keyword in node.keywords):
                continue
            key = node.args[0].value
            given = {keyword.arg for keyword in node.keywords}
            where = f"{path.relative_to(SOURCE)}:{node.lineno}"
            assert fields_of(EN[key]) == given, f"{where}: {key} gets {sorted(given)}"
