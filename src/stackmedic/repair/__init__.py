"""Repairs: effect prediction, round-trip compose edits, backups and rollback.

The loop calls, in order: `plan_repairs` (predict and reject before anything
is written), `apply_repairs` (write the PLANNED compose edits with backups;
`dry_run=True` only computes the diffs) and, when verification finds the
stack worse, `rollback` with the returned `ChangeSet`. `rollback_run` undoes
every change set of a finished run.
"""

from stackmedic.repair.apply import apply_repairs
from stackmedic.repair.backup import (
    ChangeSet,
    DeferredInterrupt,
    FileChange,
    rollback,
    rollback_run,
)
from stackmedic.repair.compose_edit import (
    ComposeDocument,
    EditRejectedError,
    EditRejection,
    apply_edit,
    choose_file,
    edit_rejection,
)
from stackmedic.repair.planner import plan_repairs

__all__ = [
    "ChangeSet",
    "ComposeDocument",
    "DeferredInterrupt",
    "EditRejectedError",
    "EditRejection",
    "FileChange",
    "apply_edit",
    "apply_repairs",
    "choose_file",
    "edit_rejection",
    "plan_repairs",
    "rollback",
    "rollback_run",
]
