"""A per-project lock, so two runs never edit the same compose files at once.

The lock is an advisory `flock` on `<project>/.stackmedic/lock`. The kernel
drops it when the holding process ends, however it ends, so a crashed run
never leaves a lock that blocks the next one. The file also stores who holds
the lock (pid, host, run id, start time) for the message a second run prints.

Given a compose project name, the lock also takes a second file named after
it in a per-user folder, because two copies of a project in two folders can
share one compose project name and so the same containers.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from stackmedic.errors import ProjectLockedError
from stackmedic.evidence.model import utc_now
from stackmedic.i18n import message

logger = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux or macOS
    fcntl = None  # type: ignore[assignment]

# Attempts to lock the lock file. An attempt is lost when the holder unlinks
# the file between our open and our flock, because it released the lock then.
_MAX_ATTEMPTS = 5


def name_lock_folder() -> Path:
    """Return the per-user folder, under the runtime or temp folder, for the locks named after compose projects."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"stackmedic-{os.getuid()}" / "projects"


class ProjectLock:
    """An exclusive lock on a compose project, taken with `with ProjectLock(...)`.

    `acquire` raises ProjectLockedError at once, without waiting, when
    another process holds the lock; the message names that process and run.
    With `project_name`, another process that holds the lock of the same
    compose project name in another folder counts too.

    NOTE: the name lock is per user and per machine. Two users, or two
    machines sharing one remote engine, are not kept apart by it.
    """

    def __init__(self, project_dir: Path, run_id: str, project_name: str | None = None) -> None:
        self.path = project_dir / ".stackmedic" / "lock"
        self.run_id = run_id
        self.project_dir = project_dir
        self.project_name = project_name
        self._handle: IO[str] | None = None
        # True for the inner lock on the file named after the compose project.
        self._is_name_lock = False
        self._name_lock: ProjectLock | None = None
        if project_name:
            self._name_lock = ProjectLock(project_dir, run_id, None)
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", project_name)
            self._name_lock.path = name_lock_folder() / f"{safe}.lock"
            self._name_lock.project_name = project_name
            self._name_lock._is_name_lock = True

    @property
    def held(self) -> bool:
        return self._handle is not None

    def acquire(self) -> None:
        self._acquire_own()
        if self._name_lock is None:
            return
        try:
            self._name_lock.acquire()
        except BaseException:
            self.release()
            raise

    def _acquire_own(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            self._acquire_exclusive_create()
            return
        for _attempt in range(_MAX_ATTEMPTS):
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open while held
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _read_owner(handle)
                handle.close()
                raise self._locked_error(owner) from None
            # The holder may have unlinked the file between our open and our
            # flock; then this lock is on an orphaned inode and is retried.
            if _same_file(handle, self.path):
                self._handle = handle
                self._write_owner()
                return
            handle.close()
        raise ProjectLockedError(
            message("errors.lock.replaced", path=str(self.path), attempts=_MAX_ATTEMPTS),
            hint=message("errors.lock.hint.run_again"),
        )

    def release(self) -> None:
        if self._name_lock is not None:
            self._name_lock.release()
        handle = self._handle
        if handle is None:
            return
        self._handle = None
        if fcntl is None:
            handle.close()
            self.path.unlink(missing_ok=True)
            return
        # Unlink before unlocking. A process that opened the old file and
        # locks it after this finds its inode gone from the path and retries.
        self.path.unlink(missing_ok=True)
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def _write_owner(self) -> None:
        assert self._handle is not None
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "run_id": self.run_id,
            "started_at": utc_now(),
            "project_dir": str(self.project_dir),
        }
        self._handle.seek(0)
        self._handle.truncate()
        json.dump(owner, self._handle)
        self._handle.flush()

    def _locked_error(self, owner: dict[str, object] | None) -> ProjectLockedError:
        project = str(self.path.parent.parent)
        if self._is_name_lock:
            text = message(
                "errors.lock.name_held_by_run",
                project=self.project_name,
                path=str((owner or {}).get("project_dir", "?")),
                run_id=str((owner or {}).get("run_id", "?")),
                pid=str((owner or {}).get("pid", "?")),
            )
            return ProjectLockedError(text, hint=message("errors.lock.hint.wait"))
        if owner:
            text = message(
                "errors.lock.held_by_run",
                path=project,
                run_id=str(owner.get("run_id")),
                pid=str(owner.get("pid")),
                host=str(owner.get("host")),
                started_at=str(owner.get("started_at")),
            )
        else:
            text = message("errors.lock.held", path=project)
        return ProjectLockedError(text, hint=message("errors.lock.hint.wait"))

    def _acquire_exclusive_create(self) -> None:
        """Take the lock by creating the file with O_EXCL, where flock does not exist.

        NOTE: without flock a lock left by a crashed run stays until its file
        is deleted by hand; the error message names the file.
        """
        try:
            descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        except FileExistsError:
            owner = None
            try:
                owner = dict(json.loads(self.path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                logger.debug("lock file %s has no readable owner", self.path)
            error = self._locked_error(owner)
            error.hint = f"wait for that run to finish; if it is gone, delete {self.path}"
            raise error from None
        self._handle = os.fdopen(descriptor, "w+", encoding="utf-8")
        self._write_owner()


def _read_owner(handle: IO[str]) -> dict[str, object] | None:
    try:
        handle.seek(0)
        return dict(json.loads(handle.read()))
    except (OSError, ValueError, TypeError):
        return None


def _same_file(handle: IO[str], path: Path) -> bool:
    try:
        on_disk = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(handle.fileno())
    return (opened.st_dev, opened.st_ino) == (on_disk.st_dev, on_disk.st_ino)
