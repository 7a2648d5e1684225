"""A per-project lock, so two runs never edit the same compose files at once."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import Self

from stackmedic.errors import ProjectLockedError
from stackmedic.evidence.model import utc_now


class ProjectLock:
    """An exclusive lock file at `<project>/.stackmedic/lock`.

    Created with O_EXCL, so taking it is atomic. A lock left by a process
    that no longer exists on this host is taken over.
    """

    def __init__(self, project_dir: Path, run_id: str) -> None:
        self.path = project_dir / ".stackmedic" / "lock"
        self.run_id = run_id
        self._held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _attempt in range(2):
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner and _alive(owner):
                    raise ProjectLockedError(
                        f"another stackmedic run ({owner.get('run_id')}, pid {owner.get('pid')}) "
                        f"is working on this project since {owner.get('started_at')}",
                        hint=f"wait for it to finish; if it is gone, delete {self.path}",
                    ) from None
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(descriptor, "w") as handle:
                json.dump(
                    {"pid": os.getpid(), "host": socket.gethostname(), "run_id": self.run_id,
                     "started_at": utc_now()},
                    handle,
                )
            self._held = True
            return
        raise ProjectLockedError(f"cannot take the lock {self.path}")

    def release(self) -> None:
        if self._held:
            self.path.unlink(missing_ok=True)
            self._held = False

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

    def _owner(self) -> dict[str, object] | None:
        try:
            return dict(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None


def _alive(owner: dict[str, object]) -> bool:
    if owner.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(str(owner.get("pid"))), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True
