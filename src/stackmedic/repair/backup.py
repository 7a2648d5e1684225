"""Backups, atomic writes and rollback of the files a set of repairs changed.

Every applied group of repairs is a `ChangeSet`: for each file it records
where the original bytes were copied and the SHA-256 of the file before and
after the change. It is saved as `<run_dir>/backups/<id>/changeset.json` next
to the copies, so a later process can roll the change back too. Rollback
restores the original bytes only while each file is still exactly what the
repair wrote, unless forced. `rollback_run` undoes every change set of a run,
newest first, as `stackmedic rollback RUN_ID` does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import stat
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

from stackmedic.errors import RepairError
from stackmedic.evidence.model import utc_now
from stackmedic.i18n import Message, message
from stackmedic.lock import ProjectLock
from stackmedic.model import Repair, RepairStatus

logger = logging.getLogger(__name__)

CHANGESET_FILE = "changeset.json"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    return sha256_bytes(path.read_bytes())


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace `path` with `data` so that readers see the old or the new file, never a mix.

    The data goes to a temporary file in the same folder, is flushed and
    fsynced, gets `mode` (default: the current file's permission bits) and
    then replaces `path` with `os.replace`. The temporary file is removed if
    any step fails. Ownership is kept when the process may set it.
    """
    try:
        current = path.stat()
    except FileNotFoundError:
        current = None
    if mode is None and current is not None:
        mode = stat.S_IMODE(current.st_mode)

    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        if current is not None:
            _keep_owner(Path(temporary), current)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _keep_owner(path: Path, original: os.stat_result) -> None:
    info = path.stat()
    if (info.st_uid, info.st_gid) == (original.st_uid, original.st_gid):
        return
    try:
        os.chown(path, original.st_uid, original.st_gid)
    except PermissionError:
        logger.debug("cannot keep owner %s:%s of %s", original.st_uid, original.st_gid, path)


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        logger.debug("fsync of folder %s not supported", folder)
    finally:
        os.close(descriptor)


@dataclass
class FileChange:
    """One file of a change set.

    `path` is absolute, `relpath` relative to the project directory, and
    `backup` the absolute path of the copy of the original bytes (empty in a
    dry run). `mode` is the original permission bits.
    """

    path: str
    relpath: str
    backup: str
    sha256_before: str
    sha256_after: str
    mode: int
    repair_ids: list[str] = field(default_factory=list)
    diff: str = ""


@dataclass
class ChangeSet:
    """The files one apply step changed, with their backups (see the module docstring).

    `repairs` are the Repair objects of this process, so rollback can mark
    them. They are not serialised, but `repair_ids` is.
    """

    id: str
    project_dir: str
    directory: str
    created_at: str = field(default_factory=utc_now)
    dry_run: bool = False
    files: list[FileChange] = field(default_factory=list)
    repair_ids: list[str] = field(default_factory=list)
    rolled_back_at: str = ""
    repairs: list[Repair] = field(default_factory=list, compare=False, repr=False)

    @property
    def diff(self) -> str:
        return "".join(change.diff for change in self.files)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("repairs")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChangeSet:
        files = [FileChange(**entry) for entry in data.get("files", [])]
        fields = {key: value for key, value in data.items() if key not in ("files", "repairs")}
        return cls(files=files, **fields)

    def save(self) -> Path:
        """Write changeset.json into the change set's directory and return its path."""
        path = Path(self.directory) / CHANGESET_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        atomic_write(path, text.encode("utf-8"), mode=0o644)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ChangeSet:
        """Read a change set from its directory or its changeset.json."""
        file_path = Path(path)
        if file_path.is_dir():
            file_path = file_path / CHANGESET_FILE
        try:
            data = json.loads(file_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise RepairError(
                message("errors.repair.changeset_unreadable", path=str(file_path), error=str(error))
            ) from error
        return cls.from_dict(data)


def backup_path(directory: Path, relpath: str) -> Path:
    """Return where the original of `relpath` is kept inside a change set's directory."""
    return directory / relpath


def write_backup(source: Path, data: bytes, destination: Path) -> None:
    """Store the original bytes of `source`; raise RepairError rather than overwrite another backup."""
    if destination.exists():
        if destination.read_bytes() == data:
            return
        raise RepairError(
            message("errors.repair.backup_exists", path=str(destination), source=str(source)),
            hint=message("errors.repair.hint.new_changeset"),
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(destination, data, mode=0o600)


def rollback(
    changeset: ChangeSet, repairs: list[Repair] | None = None, *, force: bool = False
) -> list[Path]:
    """Restore the original bytes of every file in `changeset` and return the restored paths.

    Every file is checked before any is written. A file whose current
    SHA-256 is neither what the repairs wrote nor the original was changed
    since, which raises RepairError unless `force` is set. A backup whose
    bytes do not match the recorded original always raises. Files already
    back to their original are skipped. The repairs in
    `changeset.repairs` and `repairs` whose ids the change set lists are
    marked ROLLED_BACK.
    """
    if changeset.dry_run:
        raise RepairError(message("errors.repair.changeset_dry_run", changeset=changeset.id))

    restores: list[tuple[FileChange, bytes]] = []
    for change in changeset.files:
        path = Path(change.path)
        current = sha256_file(path) if path.exists() else ""
        if current == change.sha256_before:
            logger.debug("%s already has its original content", path)
            continue
        if current != change.sha256_after and not force:
            raise RepairError(
                message(
                    "errors.repair.file_changed",
                    path=change.relpath,
                    changeset=changeset.id,
                    actual=_short_hash(current),
                    expected=change.sha256_after[:12],
                ),
                hint=message("errors.repair.hint.force"),
            )
        original = _read_backup(change)
        restores.append((change, original))

    restored: list[Path] = []
    for change, original in restores:
        atomic_write(Path(change.path), original, mode=change.mode)
        restored.append(Path(change.path))
        logger.info("restored %s from %s", change.relpath, change.backup)

    changeset.rolled_back_at = utc_now()
    ids = set(changeset.repair_ids)
    for repair in [*changeset.repairs, *(repairs or [])]:
        if repair.id in ids:
            repair.status = RepairStatus.ROLLED_BACK
    if Path(changeset.directory).is_dir():
        changeset.save()
    return restored


def _short_hash(digest: str) -> str | Message:
    """Return the first 12 hex digits of a file's sha256, or "missing" when the file is gone."""
    return digest[:12] if digest else message("errors.repair.file_missing")


def _read_backup(change: FileChange) -> bytes:
    try:
        data = Path(change.backup).read_bytes()
    except OSError as error:
        raise RepairError(
            message(
                "errors.repair.backup_unreadable",
                path=change.relpath,
                backup=str(change.backup),
                error=str(error.strerror or error),
            )
        ) from error
    if sha256_bytes(data) != change.sha256_before:
        raise RepairError(
            message(
                "errors.repair.backup_mismatch",
                path=change.relpath,
                backup=str(change.backup),
                expected=change.sha256_before[:12],
            ),
            hint=message("errors.repair.hint.restore_by_hand"),
        )
    return data


class DeferredInterrupt:
    """Hold back Ctrl-C while files are written or restored, then raise it.

    A SIGINT that arrives inside the block is remembered and raised as
    KeyboardInterrupt when the block ends, so a change set is never left
    half written. Outside the main thread, where Python cannot install signal
    handlers, the block runs unprotected.
    """

    def __init__(self) -> None:
        self.received = False
        self._previous: Any = None
        self._active = False

    def __enter__(self) -> Self:
        if threading.current_thread() is not threading.main_thread():
            return self
        self._previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, self._remember)
        self._active = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._active:
            return
        previous = self._previous if self._previous is not None else signal.default_int_handler
        signal.signal(signal.SIGINT, previous)
        self._active = False
        if self.received and exc_type is None:
            raise KeyboardInterrupt

    def _remember(self, signum: int, frame: FrameType | None) -> None:
        logger.info("Ctrl-C received while files are written; it takes effect when they are")
        self.received = True


# Rolling back a whole run


def runs_folder(project_dir: Path) -> Path:
    """Return the default folder of a project's run folders."""
    return project_dir / ".stackmedic" / "runs"


def load_run_changesets(run_dir: Path) -> list[ChangeSet]:
    """Load every change set saved under `run_dir/backups`, newest first."""
    changesets = [ChangeSet.load(path) for path in (run_dir / "backups").glob(f"*/{CHANGESET_FILE}")]
    return sorted(changesets, key=_creation_order, reverse=True)


def _creation_order(changeset: ChangeSet) -> tuple[str, list[Any]]:
    # Ids such as cycle-2 and cycle-10 sort by their numbers when two change
    # sets share a creation time.
    parts = [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", changeset.id)]
    return (changeset.created_at, parts)


def rollback_run(
    project_dir: Path, run_id: str, runs_dir: Path | None = None, *, force: bool = False
) -> list[Path]:
    """Restore every file that run `run_id` changed and return the restored paths.

    The run's folder is `runs_dir/run_id` (default
    `project_dir/.stackmedic/runs/run_id`). Its change sets are undone
    newest first, so a file that several cycles edited gets its bytes from
    before the first one. Every file and backup is checked before anything
    is written: a file changed since the run wrote it raises RepairError
    unless `force` is set. Change sets of a dry run or already rolled back
    are skipped, so a second call returns []. The project's lock is held
    while the files are written, so a rollback never races a run, and Ctrl-C
    takes effect only after the last file is restored.
    """
    project = project_dir.resolve()
    run_dir = (runs_dir if runs_dir is not None else runs_folder(project)) / run_id
    if not run_dir.is_dir():
        known = sorted(path.name for path in run_dir.parent.glob("*") if path.is_dir())
        if known:
            hint = message(
                "errors.repair.hint.known_runs", path=str(run_dir.parent), runs=", ".join(known)
            )
        else:
            hint = message("errors.repair.hint.no_runs", path=str(run_dir.parent))
        raise RepairError(
            message("errors.repair.run_not_found", run_id=run_id, path=str(run_dir)), hint=hint
        )
    changesets = [
        changeset
        for changeset in load_run_changesets(run_dir)
        if not changeset.dry_run and not changeset.rolled_back_at
    ]
    for changeset in changesets:
        if Path(changeset.project_dir).resolve() != project:
            raise RepairError(
                message(
                    "errors.repair.other_project",
                    changeset=changeset.id,
                    run_id=run_id,
                    recorded=changeset.project_dir,
                    project=str(project),
                ),
                hint=message("errors.repair.hint.run_project"),
            )
    if not changesets:
        logger.info("run %s has no change set left to roll back", run_id)
        return []

    with ProjectLock(project, f"rollback-{run_id}"):
        _check_run_rollback(changesets, force=force)
        restored: list[Path] = []
        with DeferredInterrupt():
            for changeset in changesets:
                for path in rollback(changeset, force=force):
                    if path not in restored:
                        restored.append(path)
    return restored


def _check_run_rollback(changesets: list[ChangeSet], *, force: bool) -> None:
    """Raise RepairError, before any file is written, when rolling back the change sets would fail.

    The check replays the rollback on the files' hashes, newest change set
    first, and reads every backup it would restore.
    """
    expected: dict[str, str] = {}
    for changeset in changesets:
        for change in changeset.files:
            if change.path not in expected:
                path = Path(change.path)
                expected[change.path] = sha256_file(path) if path.exists() else ""
            current = expected[change.path]
            if current == change.sha256_before:
                continue
            if current != change.sha256_after and not force:
                raise RepairError(
                    message(
                        "errors.repair.file_changed_nothing_restored",
                        path=change.relpath,
                        changeset=changeset.id,
                        actual=_short_hash(current),
                        expected=change.sha256_after[:12],
                    ),
                    hint=message("errors.repair.hint.force_option"),
                )
            _read_backup(change)
            expected[change.path] = change.sha256_before
