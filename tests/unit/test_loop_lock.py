"""The project lock, held by one process and requested by another."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackmedic.errors import ProjectLockedError
from stackmedic.lock import ProjectLock

HOLDER = """
import sys
from pathlib import Path
from stackmedic.lock import ProjectLock

with ProjectLock(Path(sys.argv[1]), "holder-run"):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture()
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Start a process that holds the lock of tmp_path until its stdin closes."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    yield process
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def release(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    assert process.wait(timeout=10) == 0


def test_second_process_rejected_while_lock_held(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(ProjectLockedError) as raised:
        ProjectLock(tmp_path, "second-run").acquire()

    message = raised.value.message
    assert "holder-run" in message
    assert f"pid {holder.pid}" in message
    assert "must not edit the same compose files" in message
    assert raised.value.hint is not None


def test_lock_taken_after_holder_finishes(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    release(holder)

    with ProjectLock(tmp_path, "second-run") as lock:
        assert lock.held


def test_lock_of_killed_holder_taken_over(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    holder.kill()
    holder.wait(timeout=10)

    with ProjectLock(tmp_path, "second-run") as lock:
        assert lock.held
        assert "second-run" in lock.path.read_text()


def test_lock_file_removed_on_release(tmp_path: Path) -> None:
    lock = ProjectLock(tmp_path, "only-run")

    with lock:
        assert lock.path.exists()

    assert not lock.path.exists()
    assert not lock.held


def test_lock_in_same_process_rejects_second_holder(tmp_path: Path) -> None:
    # flock locks belong to open files, so a second open in the same process conflicts too.
    with ProjectLock(tmp_path, "first"), pytest.raises(ProjectLockedError, match="first"):
        ProjectLock(tmp_path, "second").acquire()
