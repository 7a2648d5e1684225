"""CLI commands that need no engine: diagnosing a saved evidence bundle."""

import json
import os
import subprocess
import sys
from pathlib import Path

BUNDLE = Path(__file__).resolve().parents[1] / "cases" / "tacoreservice-broken-live"


def stackmedic(*args: str) -> subprocess.CompletedProcess:
    # An unreachable engine proves these commands never contact one.
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    return subprocess.run(
        [sys.executable, "-c", "from stackmedic.cli import main; main()", *args],
        capture_output=True, text=True, check=False, timeout=120, env=env,
    )


def test_diagnose_bundle_leads_with_root_cause():
    result = stackmedic("diagnose", "--evidence", str(BUNDLE))

    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("ENDPOINT_MISMATCH tacoreservice-worker")
    assert lines[2].strip().startswith("↳ STARTUP_HANG tacoreservice-worker")


def test_diagnose_bundle_json_has_locations():
    result = stackmedic("diagnose", "--evidence", str(BUNDLE), "--format", "json")

    assert result.returncode == 1, result.stderr
    payload = json.loads(result.stdout)
    assert payload["schema"] == "stackmedic.diagnosis/v1"
    locations = {f["code"]: f["location"] for f in payload["findings"]}
    assert locations["KEY_ERROR"]["path"] == "tacore/api.py"
    assert locations["MISSING_ATTRIBUTE"]["path"] == "tacore/main.py"


def test_diagnose_bundle_sarif_points_at_files():
    result = stackmedic("diagnose", "--evidence", str(BUNDLE), "--format", "sarif")

    assert result.returncode == 1, result.stderr
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0"
    uris = {
        location["physicalLocation"]["artifactLocation"]["uri"]
        for item in sarif["runs"][0]["results"]
        for location in item["locations"]
    }
    assert "tacore/api.py" in uris


def test_diagnose_chinese_summaries_keep_codes():
    result = stackmedic("diagnose", "--evidence", str(BUNDLE), "--lang", "zh-CN")

    assert result.returncode == 1, result.stderr
    assert "ENDPOINT_MISMATCH tacoreservice-worker" in result.stdout
    assert "连接" in result.stdout


def test_diagnose_without_project_or_bundle_is_usage_error():
    result = stackmedic("diagnose")

    assert result.returncode == 2
    assert "PROJECT_DIR or --evidence" in result.stderr
