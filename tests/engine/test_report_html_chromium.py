"""The HTML report rendered by headless Chromium: it opens from disk and draws its parts.

These tests need the Debian package `chromium`. When it is missing they
install it with apt-get if they run as root, and skip otherwise.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

import run_builders as builders

from stackmedic.report.render import write_reports

logger = logging.getLogger(__name__)

APT_TIMEOUT_S = 1200
CHROMIUM_TIMEOUT_S = 120
WINDOW = (1400, 3000)


@pytest.fixture(scope="module")
def chromium() -> str:
    """Return the chromium executable, installing the Debian package when root may."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip(
            "chromium is not installed and installing it needs root (apt-get install -y chromium)"
        )
    try:
        installed = apt_get("install", "-y", "chromium")
        if installed.returncode != 0:
            # A new machine may have no package lists yet.
            apt_get("update")
            installed = apt_get("install", "-y", "chromium")
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"chromium is not installed and apt-get install -y chromium failed: {error}")
    found = shutil.which("chromium")
    if installed.returncode != 0 or not found:
        pytest.skip(
            "chromium is not installed and apt-get install -y chromium failed "
            f"(exit {installed.returncode}): {installed.stderr.strip()[-300:]}"
        )
    return found


def apt_get(*arguments: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(
        ["apt-get", *arguments],
        capture_output=True,
        text=True,
        timeout=APT_TIMEOUT_S,
        env=environment,
        check=False,
    )


def run_chromium(
    executable: str, profile: Path, *arguments: str
) -> subprocess.CompletedProcess[str]:
    command = [
        executable,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # Any host name fails to resolve, so a page that needed the network would show it.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
        *arguments,
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        logger.warning("chromium exited with %s: %s", result.returncode, result.stderr[-500:])
    return result


def png_size(path: Path) -> tuple[int, int]:
    """Return (width, height) from a PNG file's IHDR chunk."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


@pytest.fixture(scope="module")
def report_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pages = {}
    for lang in ("en", "zh-CN"):
        run_dir = tmp_path_factory.mktemp(f"run-{lang}")
        write_reports(builders.run_with_remaining_problems(), run_dir, lang)
        pages[lang] = run_dir / "report.html"
    return pages


def test_screenshot_of_report_is_drawn(
    chromium: str, report_pages: dict[str, Path], tmp_path: Path
) -> None:
    screenshot = tmp_path / "report.png"

    result = run_chromium(
        chromium,
        tmp_path / "profile",
        f"--screenshot={screenshot}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        report_pages["en"].as_uri(),
    )

    assert result.returncode == 0, result.stderr[-500:]
    assert png_size(screenshot) == WINDOW
    # A blank page compresses to a few kilobytes; the report is far larger.
    assert screenshot.stat().st_size > 100_000


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_rendered_dom_has_timeline_rows_and_diff_lines(
    chromium: str, report_pages: dict[str, Path], tmp_path: Path, lang: str
) -> None:
    result = run_chromium(chromium, tmp_path / "profile", "--dump-dom", report_pages[lang].as_uri())

    assert result.returncode == 0, result.stderr[-500:]
    dom = result.stdout
    for container in (
        "tacore-redis-1",
        "tacore-tacoreservice-1",
        "tacore-tacoreservice-worker-1",
        "tacore-tacoreservice-worker-2",
    ):
        assert f'class="timeline-row" data-container="{container}"' in dom, container
    assert 'data-state="unobserved"' in dom
    assert '<span class="line add">+      - TACORESERVICE_BACKEND_PORT=5556</span>' in dom
    assert '<span class="line del">-      interval: 30s</span>' in dom
    run = builders.run_with_remaining_problems()
    findings = sum(len(cycle.findings) + len(cycle.log_findings) for cycle in run.cycles)
    assert dom.count('<details class="finding"') == findings
    heading = "容器时间线" if lang == "zh-CN" else "Container timeline"
    assert f"<h2>{heading}</h2>" in dom
