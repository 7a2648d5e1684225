"""The CLI's exit codes and one-line errors, run as a user runs it."""

import os
import subprocess
import sys

import pytest

COMMANDS = ["run", "diagnose", "report", "rollback"]


def stackmedic(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from stackmedic.cli import main; main()", *args],
        capture_output=True, text=True, check=False, timeout=60, env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command_exits_zero(command):
    result = stackmedic(command, "--help")

    assert result.returncode == 0
    assert "Usage" in result.stdout


def test_unreachable_engine_is_exit_2_one_line(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: x\n")

    result = stackmedic("diagnose", str(tmp_path), env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})

    assert result.returncode == 2
    assert "cannot reach the Docker Engine" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_unknown_option_is_usage_error():
    result = stackmedic("run", "--no-such-option")

    assert result.returncode == 2


def test_report_of_missing_run_dir_is_exit_2(tmp_path):
    result = stackmedic("report", str(tmp_path / "missing"))

    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_chinese_messages_with_lang_option(tmp_path):
    result = stackmedic("--lang", "zh-CN", "diagnose", str(tmp_path),
                        env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})

    assert result.returncode == 2
    assert "错误" in result.stderr


def test_invalid_option_value_one_line():
    result = stackmedic("diagnose", "--format", "xml")

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("stackmedic: error: Invalid value for '--format'")
    assert lines[0].endswith("(hint: run stackmedic diagnose --help)")


def test_option_before_command_top_help():
    result = stackmedic("-p", "demo", "diagnose")

    assert result.returncode == 2
    assert result.stderr.strip() == "stackmedic: error: No such option: -p (hint: run stackmedic --help)"


@pytest.mark.parametrize("position", ["before", "after"])
def test_usage_error_prefix_and_hint_follow_lang(position):
    arguments = ["diagnose", "--format", "xml"]
    if position == "before":
        arguments = ["--lang", "zh-CN", *arguments]
    else:
        arguments = [*arguments, "--lang=zh-CN"]

    result = stackmedic(*arguments)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("stackmedic: 错误: ")
    assert "提示: 运行 stackmedic diagnose --help 查看用法" in lines[0]


def test_unknown_language_is_one_line_usage_error():
    result = stackmedic("--lang", "fr", "diagnose")

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "unknown language 'fr'" in lines[0]


def test_no_arguments_prints_help():
    result = stackmedic()

    assert result.returncode == 2
    assert "Usage" in result.stdout + result.stderr
