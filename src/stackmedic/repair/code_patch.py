"""Apply planned code patches (unified diffs) to the project, with backups and atomic writes.

`apply_code_patches` is the code counterpart of `apply_repairs`: it takes
the PLANNED repairs that carry a `patch`, applies each one in memory, backs
up every original file into the change set's folder and replaces each file
atomically (`backup.write_backup`, `backup.atomic_write`). The result is a
`ChangeSet`, so the loop's `rollback` restores code and compose files alike.
Given `into`, the code files join the change set the compose edits of the
same cycle wrote.

NOTE: the patches are applied by the small strict applier below rather than
by `git apply` or `patch`. It needs no program in the environment, it
computes the new text in memory so that the write stays atomic and backed
up like every other repair, and it is strict. Every context and removed
line must match the file exactly (whitespace included), with no fuzz. A
hunk may move from its stated line only to the nearest place where it
matches exactly, as `git apply` allows. A match as near on both sides is
rejected as ambiguous. Paths must stay inside the project, files are never
created or deleted, and a patched Python file must still compile.
"""

from __future__ import annotations

import logging
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackmedic.errors import RepairError
from stackmedic.i18n import message, translate
from stackmedic.model import Repair, RepairStatus
from stackmedic.repair.apply import new_changeset_id, unified_diff
from stackmedic.repair.backup import (
    CHANGESET_FILE,
    ChangeSet,
    FileChange,
    atomic_write,
    backup_path,
    sha256_bytes,
    write_backup,
)

logger = logging.getLogger(__name__)

_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_NO_NEWLINE = "\\ No newline at end of file"
_HEADER_PREFIXES = ("diff ", "index ", "new mode", "old mode", "similarity", "Binary")


class PatchRejected(Exception):
    """A patch that cannot be applied; `key` and `fields` form the translated reason."""

    def __init__(self, key: str, **fields: Any) -> None:
        super().__init__(translate(key, "en", **fields))
        self.key = key
        self.fields = fields

    def text(self, lang: str) -> str:
        return translate(self.key, lang, **self.fields)


@dataclass
class Hunk:
    """One `@@ -a,b +c,d @@` block: its stated ranges and its lines as (tag, text).

    The tag is " " (context), "-" (removed) or "+" (added). `old_ends_file`
    and `new_ends_file` are set by a "No newline at end of file" marker
    after the last old or new line.
    """

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    lines: list[tuple[str, str]] = field(default_factory=list)
    old_no_newline: bool = False
    new_no_newline: bool = False

    @property
    def old_lines(self) -> list[str]:
        return [text for tag, text in self.lines if tag in " -"]


@dataclass
class FilePatch:
    """The hunks of one file; `path` is relative to the project, without the a/ b/ prefix."""

    path: str
    hunks: list[Hunk] = field(default_factory=list)


# --- parsing --------------------------------------------------------------------------


def parse_patch(patch: str) -> list[FilePatch]:
    """Parse a unified diff into its files; raise PatchRejected when it is malformed."""
    lines = patch.splitlines()
    files: list[FilePatch] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("--- "):
            file_patch, index = _parse_file(lines, index)
            files.append(file_patch)
            continue
        if line.strip() and not line.startswith(_HEADER_PREFIXES):
            raise PatchRejected(
                "patch.reject.malformed", detail=f"unexpected line {index + 1}: {line[:60]}"
            )
        index += 1
    if not files:
        raise PatchRejected("patch.reject.malformed", detail="no file header (--- / +++)")
    return files


def _parse_file(lines: list[str], index: int) -> tuple[FilePatch, int]:
    if index + 1 >= len(lines) or not lines[index + 1].startswith("+++ "):
        raise PatchRejected(
            "patch.reject.malformed", detail=f"line {index + 2}: +++ header missing"
        )
    old = _header_path(lines[index][4:])
    new = _header_path(lines[index + 1][4:])
    if old == "/dev/null" or new == "/dev/null":
        raise PatchRejected("patch.reject.create_delete", path=new if old == "/dev/null" else old)
    if old != new:
        raise PatchRejected("patch.reject.rename", old=old, new=new)
    file_patch = FilePatch(new)
    index += 2
    while index < len(lines) and lines[index].startswith("@@"):
        hunk, index = _parse_hunk(lines, index)
        file_patch.hunks.append(hunk)
    if not file_patch.hunks:
        raise PatchRejected("patch.reject.malformed", detail=f"{new}: no hunk")
    return file_patch, index


def _header_path(text: str) -> str:
    name = text.split("\t", 1)[0].strip()
    if name.startswith(("a/", "b/")):
        name = name[2:]
    return name


def _parse_hunk(lines: list[str], index: int) -> tuple[Hunk, int]:
    match = _HUNK_HEADER.match(lines[index])
    if match is None:
        raise PatchRejected("patch.reject.malformed", detail=f"line {index + 1}: bad hunk header")
    old_start, old_count, new_start, new_count = (
        int(match.group(1)),
        int(match.group(2) if match.group(2) is not None else 1),
        int(match.group(3)),
        int(match.group(4) if match.group(4) is not None else 1),
    )
    hunk = Hunk(old_start, old_count, new_start, new_count)
    old_seen = new_seen = 0
    index += 1
    last_tag = ""
    while index < len(lines) and (
        old_seen < old_count or new_seen < new_count or lines[index] == _NO_NEWLINE
    ):
        line = lines[index]
        if line == _NO_NEWLINE:
            if last_tag in (" ", "-"):
                hunk.old_no_newline = True
            if last_tag in (" ", "+"):
                hunk.new_no_newline = True
            index += 1
            continue
        # An empty line is a blank context line whose leading space was stripped.
        tag, text = (line[0], line[1:]) if line else (" ", "")
        if tag not in " -+":
            raise PatchRejected("patch.reject.malformed", detail=f"line {index + 1}: bad hunk line")
        if tag in " -":
            old_seen += 1
        if tag in " +":
            new_seen += 1
        hunk.lines.append((tag, text))
        last_tag = tag
        index += 1
    if old_seen != old_count or new_seen != new_count:
        raise PatchRejected(
            "patch.reject.malformed",
            detail=f"hunk at line {old_start}: counts {old_count},{new_count} do not match its lines",
        )
    return hunk, index


# --- applying ---------------------------------------------------------------------------


def apply_file_patch(text: str, file_patch: FilePatch) -> str:
    """Return `text` with the file patch applied; raise PatchRejected when a hunk does not match."""
    original = text.splitlines(keepends=True)
    bodies = [_body(line) for line in original]
    newline = "\r\n" if "\r\n" in text else "\n"
    output: list[str] = []
    position = 0
    drift = 0
    for hunk in file_patch.hunks:
        start = _locate(bodies, hunk, position, drift, file_patch.path)
        drift = start - (hunk.old_start - 1 if hunk.old_count else hunk.old_start)
        output += original[position:start]
        cursor = start
        for tag, line_text in hunk.lines:
            if tag == " ":
                output.append(original[cursor])
                cursor += 1
            elif tag == "-":
                cursor += 1
            else:
                output.append(line_text + newline)
        _fix_last_newline(output, hunk, newline, at_end=cursor == len(original))
        position = cursor
    output += original[position:]
    return "".join(output)


def _body(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith(("\n", "\r")):
        return line[:-1]
    return line


def _locate(bodies: list[str], hunk: Hunk, floor: int, drift: int, path: str) -> int:
    """Return where the hunk's old lines are in the file: the exact match nearest its stated line."""
    old = hunk.old_lines
    stated = (hunk.old_start - 1 if hunk.old_count else hunk.old_start) + drift
    if not old:
        if floor <= stated <= len(bodies):
            return stated
        raise PatchRejected("patch.reject.context", path=path, line=hunk.old_start)
    matches = [
        start
        for start in range(floor, len(bodies) - len(old) + 1)
        if bodies[start : start + len(old)] == old
    ]
    if not matches:
        raise PatchRejected("patch.reject.context", path=path, line=hunk.old_start)
    nearest = min(abs(start - stated) for start in matches)
    closest = [start for start in matches if abs(start - stated) == nearest]
    if len(closest) > 1:
        raise PatchRejected("patch.reject.ambiguous", path=path, line=hunk.old_start)
    return closest[0]


def _fix_last_newline(output: list[str], hunk: Hunk, newline: str, *, at_end: bool) -> None:
    """End the file's last line as the patch's new side marks it, when the hunk reaches the end."""
    if not at_end or not output:
        return
    last = output[-1]
    if hunk.new_no_newline:
        output[-1] = _body(last)
    elif not last.endswith(("\n", "\r")):
        output[-1] = last + newline


# --- the change set ---------------------------------------------------------------------


@dataclass
class _Staged:
    """A file's original bytes and text, and its text after the patches applied so far."""

    path: Path
    relpath: str
    original: bytes
    before: str
    text: str
    repair_ids: list[str] = field(default_factory=list)


def apply_code_patches(
    repairs: Sequence[Repair],
    project_dir: str | Path,
    run_dir: Path,
    changeset_id: str | None = None,
    *,
    dry_run: bool = False,
    into: ChangeSet | None = None,
    lang: str = "en",
) -> ChangeSet:
    """Apply the PLANNED code patches and return the change set that records them.

    Each repair's patch is applied to the project's files as they are now,
    after the patches before it in `repairs`. A repair whose patch does not
    apply cleanly, leaves the project, touches a file the change set
    already changed, or breaks a Python file's syntax becomes REJECTED with
    the reason in `lang`, and none of its files change. An applied repair
    gets `diff` (what it changed) and `files` (project-relative paths) and
    becomes APPLIED. A repair whose patch is identical to one applied
    before in the same call is marked APPLIED with the same files.

    Originals go to `run_dir/backups/<changeset_id>/<relpath>` before any
    file is written, and the change set is saved there as changeset.json.
    With `into`, the files are added to that change set (its id and folder)
    and it is saved again. With `dry_run=True` the diffs are computed and
    nothing is written. Raise RepairError when the change set id was
    already used, or when a file changed while the patches were prepared.
    """
    project = Path(project_dir).resolve()
    changeset = (
        into if into is not None else _new_changeset(project, run_dir, changeset_id, dry_run)
    )
    taken = {Path(change.path).resolve() for change in changeset.files}
    staged: dict[Path, _Staged] = {}
    applied: list[Repair] = []
    by_patch: dict[str, Repair] = {}

    for repair in repairs:
        if repair.status != RepairStatus.PLANNED or repair.edit is not None or not repair.patch:
            continue
        twin = by_patch.get(repair.patch)
        if twin is not None:
            repair.diff, repair.files = twin.diff, list(twin.files)
            for relpath in twin.files:
                next(s for s in staged.values() if s.relpath == relpath).repair_ids.append(
                    repair.id
                )
            applied.append(repair)
            continue
        try:
            _stage(repair, project, staged, taken)
        except PatchRejected as rejected:
            _reject(repair, rejected.text(lang))
            continue
        by_patch[repair.patch] = repair
        applied.append(repair)

    changes = [_file_change(item) for item in staged.values() if item.text != item.before]
    if dry_run or not changes:
        return changeset
    _write(changeset, staged, changes)
    changeset.files.extend(changes)
    for repair in applied:
        repair.status = RepairStatus.APPLIED
        changeset.repair_ids.append(repair.id)
        changeset.repairs.append(repair)
    changeset.save()
    return changeset


def _new_changeset(
    project: Path, run_dir: Path, changeset_id: str | None, dry_run: bool
) -> ChangeSet:
    changeset_id = changeset_id or new_changeset_id()
    directory = run_dir / "backups" / changeset_id
    if not dry_run and (directory / CHANGESET_FILE).exists():
        raise RepairError(
            message("errors.repair.changeset_exists", path=str(directory), changeset=changeset_id),
            hint=message("errors.repair.hint.new_or_shared_changeset"),
        )
    return ChangeSet(
        id=changeset_id, project_dir=str(project), directory=str(directory), dry_run=dry_run
    )


def _stage(repair: Repair, project: Path, staged: dict[Path, _Staged], taken: set[Path]) -> None:
    """Apply one repair's patch to the staged texts; change nothing when any file fails."""
    assert repair.patch is not None
    results: dict[Path, tuple[_Staged, str]] = {}
    for file_patch in parse_patch(repair.patch):
        path = _inside_project(project, file_patch.path)
        if path in taken:
            raise PatchRejected("patch.reject.changed_in_changeset", path=file_patch.path)
        item = (
            results[path][0]
            if path in results
            else staged.get(path) or _read(path, file_patch.path)
        )
        current = results[path][1] if path in results else item.text
        patched = apply_file_patch(current, file_patch)
        if path.suffix == ".py":
            try:
                compile(patched, file_patch.path, "exec")
            except SyntaxError as error:
                raise PatchRejected(
                    "patch.reject.compile", path=file_patch.path, detail=str(error)
                ) from error
        results[path] = (item, patched)

    diffs = []
    for path, (item, patched) in results.items():
        diffs.append(unified_diff(item.text, patched, item.relpath))
        item.text = patched
        item.repair_ids.append(repair.id)
        staged[path] = item
    repair.diff = "".join(diffs)
    repair.files = [item.relpath for item, _ in results.values()]
    logger.info("patch %s applies to %s", repair.id, ", ".join(repair.files))


def _inside_project(project: Path, relpath: str) -> Path:
    """Return the absolute path of a patch's file; reject paths that leave the project."""
    normal = posixpath.normpath(relpath)
    if relpath.startswith("/") or normal.startswith("../") or normal == ".." or "\\" in relpath:
        raise PatchRejected("patch.reject.path", path=relpath)
    path = (project / normal).resolve()
    if path != project and project not in path.parents:
        raise PatchRejected("patch.reject.path", path=relpath)
    if not path.is_file():
        raise PatchRejected("patch.reject.missing", path=relpath)
    return path


def _read(path: Path, relpath: str) -> _Staged:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PatchRejected("patch.reject.not_text", path=relpath) from error
    return _Staged(path, relpath, data, text, text)


def _file_change(item: _Staged) -> FileChange:
    data = item.text.encode("utf-8")
    return FileChange(
        path=str(item.path),
        relpath=item.relpath,
        backup="",
        sha256_before=sha256_bytes(item.original),
        sha256_after=sha256_bytes(data),
        mode=item.path.stat().st_mode & 0o7777,
        repair_ids=list(item.repair_ids),
        diff=unified_diff(item.before, item.text, item.relpath),
    )


def _write(changeset: ChangeSet, staged: dict[Path, _Staged], changes: list[FileChange]) -> None:
    """Back up every original, then replace every file; write nothing if a file changed meanwhile."""
    directory = Path(changeset.directory)
    texts = {str(item.path): item.text for item in staged.values()}
    for change in changes:
        path = Path(change.path)
        current = path.read_bytes()
        if sha256_bytes(current) != change.sha256_before:
            raise RepairError(
                message("errors.repair.changed_while_patching", path=change.relpath),
                hint=message("errors.repair.hint.run_again"),
            )
        destination = backup_path(directory, change.relpath)
        write_backup(path, current, destination)
        change.backup = str(destination)
    for change in changes:
        atomic_write(Path(change.path), texts[change.path].encode("utf-8"), mode=change.mode)
        logger.info("patched %s (repairs %s)", change.relpath, ", ".join(change.repair_ids))


def _reject(repair: Repair, reason: str) -> None:
    logger.info("code patch %s rejected: %s", repair.id, reason)
    repair.status = RepairStatus.REJECTED
    repair.reason = reason
