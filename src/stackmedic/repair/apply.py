"""Write planned compose repairs to disk, with a backup of every file first.

`apply_repairs` groups the PLANNED compose repairs by the file each belongs
in, as `targets.locate_target` finds it: a compose file, or `.env` or an
env_file for a variable whose value comes from there. It loads each file
once, applies its edits in order, and records a unified diff per repair and
per file. Unless it is a dry run it then copies each file's original bytes
into the change set's directory and replaces the file atomically. Code
patches are left alone.
"""

from __future__ import annotations

import difflib
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stackmedic.errors import ComposeFileError, RepairError
from stackmedic.i18n import message, translate
from stackmedic.model import Repair, RepairStatus
from stackmedic.repair.backup import (
    CHANGESET_FILE,
    ChangeSet,
    FileChange,
    atomic_write,
    backup_path,
    sha256_bytes,
    write_backup,
)
from stackmedic.repair.compose_edit import (
    ComposeDocument,
    EditRejectedError,
    apply_edit,
)
from stackmedic.repair.envfile import EnvFileDocument
from stackmedic.repair.targets import COMPOSE, EditTarget, locate_target

logger = logging.getLogger(__name__)


def new_changeset_id() -> str:
    """Return an id like 20261204T203102Z-3f9a that sorts by creation time."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(2)


def relative_to_project(path: Path, project_dir: Path) -> str:
    """Return `path` relative to the project, or under `_external/` when it lies outside."""
    try:
        return path.resolve().relative_to(project_dir.resolve()).as_posix()
    except ValueError:
        return "_external/" + path.resolve().as_posix().lstrip("/")


def unified_diff(before: str, after: str, relpath: str) -> str:
    """Return a unified diff labelled a/<relpath> and b/<relpath>, empty when nothing changed."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{relpath}",
        tofile=f"b/{relpath}",
    )
    text = ""
    for line in lines:
        text += line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
    return text


@dataclass
class _FilePlan:
    """The repairs that go into one file and the text they produce.

    A compose file has `document`. An env file (`.env` or an env_file) has
    `env_document`, and `variables` maps each repair id to the variable
    whose line it changes there.
    """

    path: Path
    relpath: str
    document: ComposeDocument | None = None
    env_document: EnvFileDocument | None = None
    repairs: list[Repair] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    text: str = ""

    @property
    def original_text(self) -> str:
        if self.env_document is not None:
            return self.env_document.original_text
        assert self.document is not None
        return self.document.original_text


def apply_repairs(
    repairs: Sequence[Repair],
    compose_files: Sequence[str | Path],
    project_dir: str | Path,
    run_dir: Path,
    *,
    dry_run: bool = False,
    changeset_id: str | None = None,
    lang: str = "en",
) -> ChangeSet:
    """Apply the PLANNED compose repairs and return the change set that records them.

    Each applied repair gets `diff` (its own change) and `files` (the
    project-relative path it changed) and becomes APPLIED. A repair that the
    file rejects becomes REJECTED with the reason, for example when the value
    is interpolated from `.env` or the edit changes nothing in the file. Originals
    go to `run_dir/backups/<changeset_id>/<relpath>` before anything is
    written; the change set is saved there as changeset.json. With
    `dry_run=True` diffs are computed but no file, backup or change set is
    written and statuses stay PLANNED. Rejection reasons are written in `lang`.

    Relative `compose_files` are resolved against `project_dir`. Raise
    ComposeFileError when a compose file cannot be read or parsed, and
    RepairError when the change set id was already used.
    """
    project = Path(project_dir)
    files = [_resolve(path, project) for path in compose_files]
    changeset_id = changeset_id or new_changeset_id()
    directory = run_dir / "backups" / changeset_id
    changeset = ChangeSet(
        id=changeset_id, project_dir=str(project), directory=str(directory), dry_run=dry_run
    )
    if not dry_run and (directory / CHANGESET_FILE).exists():
        raise RepairError(
            message("errors.repair.changeset_exists", path=str(directory), changeset=changeset_id),
            hint=message("errors.repair.hint.new_changeset"),
        )

    compose_repairs = [r for r in repairs if r.status == RepairStatus.PLANNED and r.edit]
    plans = _plan_files(compose_repairs, files, project, lang)

    for plan in plans:
        change = _apply_to_file(plan, lang)
        if change is None:
            continue
        changeset.files.append(change)
        changeset.repair_ids.extend(change.repair_ids)
        changeset.repairs.extend(r for r in plan.repairs if r.id in change.repair_ids)

    if dry_run or not changeset.files:
        return changeset

    _write_files(changeset, plans)
    for repair in changeset.repairs:
        repair.status = RepairStatus.APPLIED
    changeset.save()
    return changeset


def _resolve(path: str | Path, project: Path) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else project / candidate


def _plan_files(
    repairs: list[Repair], files: list[Path], project: Path, lang: str
) -> list[_FilePlan]:
    documents = {path: ComposeDocument.load(path) for path in files}
    for document in documents.values():
        document.project_dir = project
    plans: dict[Path, _FilePlan] = {}
    for repair in repairs:
        assert repair.edit is not None
        try:
            target = locate_target(files, repair.edit, documents, project)
        except EditRejectedError as error:
            _reject(repair, error.rejection.text(lang))
            continue
        except RepairError as error:
            _reject(repair, error.message)
            continue
        plan = plans.get(target.path)
        if plan is None:
            plan = _new_plan(target, project, documents)
            plans[target.path] = plan
        plan.repairs.append(repair)
        if target.kind != COMPOSE:
            plan.variables[repair.id] = target.variable
    return list(plans.values())


def _new_plan(target: EditTarget, project: Path, documents: dict[Path, ComposeDocument]) -> _FilePlan:
    relpath = relative_to_project(target.path, project)
    if target.kind == COMPOSE:
        return _FilePlan(target.path, relpath, document=documents[target.path])
    return _FilePlan(target.path, relpath, env_document=EnvFileDocument.load(target.path))


def _apply_to_file(plan: _FilePlan, lang: str) -> FileChange | None:
    """Apply a file's edits in order; return its FileChange, or None when nothing changed.

    A repair whose edit fails is rejected and the document is rebuilt from
    the original with the edits that succeeded, so a half-applied edit never
    reaches the file.
    """
    original = plan.original_text
    text = original
    applied: list[Repair] = []
    for repair in plan.repairs:
        assert repair.edit is not None
        if plan.env_document is not None:
            after = _edit_env_file(plan, repair)
            if after is None:
                continue
        else:
            after = _edit_compose_file(plan, repair, applied, lang)
            if after is None:
                continue
        if after == text:
            _reject(repair, translate("repair.reject.file_unchanged", lang, file=plan.relpath))
            continue
        repair.diff = unified_diff(text, after, plan.relpath)
        repair.files = [plan.relpath]
        applied.append(repair)
        text = after

    plan.text = text
    if not applied:
        return None
    data = text.encode("utf-8")
    before = original.encode("utf-8")
    return FileChange(
        path=str(plan.path),
        relpath=plan.relpath,
        backup="",
        sha256_before=sha256_bytes(before),
        sha256_after=sha256_bytes(data),
        mode=plan.path.stat().st_mode & 0o7777,
        repair_ids=[repair.id for repair in applied],
        diff=unified_diff(original, text, plan.relpath),
    )


def _edit_compose_file(plan: _FilePlan, repair: Repair, applied: list[Repair], lang: str) -> str | None:
    """Apply one edit to the compose document; return the new text, or None when it was rejected."""
    assert plan.document is not None and repair.edit is not None
    try:
        apply_edit(plan.document, repair.edit)
    except EditRejectedError as error:
        _reject(repair, error.rejection.text(lang))
        plan.document = _replay(plan, applied)
        return None
    except RepairError as error:
        _reject(repair, error.message)
        plan.document = _replay(plan, applied)
        return None
    after = plan.document.dump()
    problem = _parse_problem(plan, after, lang)
    if problem is not None:
        _reject(repair, problem)
        plan.document = _replay(plan, applied)
        return None
    return after


def _edit_env_file(plan: _FilePlan, repair: Repair) -> str | None:
    """Set the repair's variable in the env file; return the new text, or None when it was rejected."""
    assert plan.env_document is not None and repair.edit is not None
    variable = plan.variables[repair.id]
    try:
        plan.env_document.set_value(variable, str(repair.edit.params.get("value")))
    except RepairError as error:
        _reject(repair, error.message)
        return None
    return plan.env_document.text


def _replay(plan: _FilePlan, applied: list[Repair]) -> ComposeDocument:
    assert plan.document is not None
    document = ComposeDocument.from_text(plan.document.original_text, plan.path)
    document.project_dir = plan.document.project_dir
    for repair in applied:
        assert repair.edit is not None
        apply_edit(document, repair.edit)
    return document


def _parse_problem(plan: _FilePlan, text: str, lang: str) -> str | None:
    """Return why edited text does not parse (an edit bug: such text is never written), else None."""
    try:
        ComposeDocument.from_text(text, plan.path)
    except ComposeFileError as error:
        logger.warning("edit of %s produced invalid YAML: %s", plan.relpath, error)
        return translate("repair.reject.edit_broke_yaml", lang, file=plan.relpath, detail=error)
    return None


def _reject(repair: Repair, reason: str) -> None:
    logger.info("repair %s rejected while applying: %s", repair.id, reason)
    repair.status = RepairStatus.REJECTED
    repair.reason = reason


def _write_files(changeset: ChangeSet, plans: list[_FilePlan]) -> None:
    """Back up every original, then replace every file; fail before writing if a backup fails."""
    directory = Path(changeset.directory)
    texts = {str(plan.path): plan.text for plan in plans}
    for change in changeset.files:
        path = Path(change.path)
        original = path.read_bytes()
        if sha256_bytes(original) != change.sha256_before:
            raise RepairError(
                message("errors.repair.changed_while_preparing", path=change.relpath),
                hint=message("errors.repair.hint.run_again"),
            )
        destination = backup_path(directory, change.relpath)
        write_backup(path, original, destination)
        change.backup = str(destination)

    for change in changeset.files:
        atomic_write(Path(change.path), texts[change.path].encode("utf-8"), mode=change.mode)
        logger.info("wrote %s (repairs %s)", change.relpath, ", ".join(change.repair_ids))
