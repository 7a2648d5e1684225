"""CLI errors that need a reachable engine: missing and malformed compose files."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.engine


def stackmedic(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from stackmedic.cli import main; main()", *args],
        capture_output=True, text=True, check=False, timeout=120, env=dict(os.environ),
    )


def test_no_compose_file_is_exit_2(tmp_path):
    result = stackmedic("diagnose", str(tmp_path))

    assert result.returncode == 2
    assert "no compose file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_malformed_yaml_is_exit_2_with_file_and_line(tmp_path):
    compose = tmp_path / "docker-compose.yml"
    original = "services:\n  web:\n    image: x\n    environment: [A=1\n"
    compose.write_text(original)

    result = stackmedic("run", str(tmp_path))

    assert result.returncode == 2
    assert "docker-compose.yml:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert compose.read_text() == original, "a failed run loses nothing"


def test_dry_run_on_stopped_project_deploys_nothing(tmp_path):
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  web:\n    image: stackmedic/python-base:bookworm\n")
    name = f"smdry-{tmp_path.name[-8:].lower()}"

    result = stackmedic("run", str(tmp_path), "-p", name, "--dry-run")

    assert result.returncode == 2, result.stdout + result.stderr
    assert "a dry run deploys nothing" in result.stderr
    listed = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={name}"],
                            capture_output=True, text=True, check=True)
    assert listed.stdout.strip() == ""
