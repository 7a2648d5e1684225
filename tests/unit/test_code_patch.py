"""Applying code patches: the strict unified-diff applier, backups, change sets and rollback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackmedic.analysis.patch_source import unified_diff
from stackmedic.errors import RepairError
from stackmedic.model import ComposeEdit, Repair, RepairStatus
from stackmedic.repair import apply_repairs, rollback
from stackmedic.repair.code_patch import (
    PatchRejected,
    apply_code_patches,
    apply_file_patch,
    parse_patch,
)

ORIGINAL = "".join(f"line {n}\n" for n in range(1, 21))


def patch_of(before: str, after: str, path: str = "app/module.py") -> str:
    return unified_diff(before, after, path)


def apply_text(text: str, patch: str) -> str:
    (file_patch,) = parse_patch(patch)
    return apply_file_patch(text, file_patch)


def code_repair(
    patch: str, repair_id: str = "P001", status: RepairStatus = RepairStatus.PLANNED
) -> Repair:
    return Repair(repair_id, "F001", "KEY_ERROR", "api", "patch", patch=patch, status=status)


# --- parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ("just text\n", "patch.reject.malformed"),
        ("--- a/x.py\n", "patch.reject.malformed"),
        ("--- a/x.py\n+++ b/x.py\n", "patch.reject.malformed"),
        ("--- a/x.py\n+++ b/x.py\n@@ bad @@\n", "patch.reject.malformed"),
        ("--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n-a\n+b\n", "patch.reject.malformed"),
        ("--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n*a\n", "patch.reject.malformed"),
        ("--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+a\n", "patch.reject.create_delete"),
        ("--- a/old.py\n+++ b/new.py\n@@ -1 +1 @@\n-a\n+b\n", "patch.reject.rename"),
    ],
)
def test_malformed_patches_are_rejected(patch: str, key: str) -> None:
    with pytest.raises(PatchRejected) as raised:
        parse_patch(patch)

    assert raised.value.key == key


def test_git_headers_and_counts_default_to_one() -> None:
    patch = (
        "diff --git a/x.py b/x.py\nindex 1..2 100644\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n"
    )

    (file_patch,) = parse_patch(patch)

    assert file_patch.path == "x.py"
    assert (file_patch.hunks[0].old_count, file_patch.hunks[0].new_count) == (1, 1)


# --- applying ---------------------------------------------------------------------------


def test_exact_context_applies() -> None:
    after = ORIGINAL.replace("line 10\n", "line ten\n")

    assert apply_text(ORIGINAL, patch_of(ORIGINAL, after)) == after


def test_hunk_moves_to_nearest_exact_match() -> None:
    after = ORIGINAL.replace("line 10\n", "line ten\n")
    patch = patch_of(ORIGINAL, after)
    shifted = "header 1\nheader 2\n" + ORIGINAL

    assert apply_text(shifted, patch) == "header 1\nheader 2\n" + after


def test_changed_context_is_rejected_without_fuzz() -> None:
    patch = patch_of(ORIGINAL, ORIGINAL.replace("line 10\n", "line ten\n"))
    changed = ORIGINAL.replace("line 9\n", "line 9 \n")

    with pytest.raises(PatchRejected) as raised:
        apply_text(changed, patch)

    assert raised.value.key == "patch.reject.context"


def test_equally_near_matches_are_ambiguous() -> None:
    # The hunk states line 5; its lines are found at lines 3 and 7, both two lines away.
    patch = "--- a/x.py\n+++ b/x.py\n@@ -5,3 +5,3 @@\n a\n-b\n+B\n c\n"
    text = "q\nq\na\nb\nc\nq\na\nb\nc\n"

    with pytest.raises(PatchRejected) as raised:
        apply_text(text, patch)

    assert raised.value.key == "patch.reject.ambiguous"


def test_several_hunks_keep_their_drift() -> None:
    after = ORIGINAL.replace("line 2\n", "line 2\nextra\n").replace("line 18\n", "line eighteen\n")
    patch = patch_of(ORIGINAL, after)
    assert patch.count("@@ -") == 2

    assert apply_text(ORIGINAL, patch) == after


def test_crlf_file_keeps_its_line_endings() -> None:
    before = ORIGINAL.replace("\n", "\r\n")
    patch = "--- a/x.py\n+++ b/x.py\n@@ -9,3 +9,4 @@\n line 9\n line 10\n+inserted\n line 11\n"

    after = apply_text(before, patch)

    assert "line 10\r\ninserted\r\nline 11\r\n" in after
    assert after.count("\r\n") == 21


def test_missing_final_newline_is_kept_and_added() -> None:
    before = "a\nb\nc"
    changed = "a\nb\nC"
    assert apply_text(before, patch_of(before, changed)) == changed

    with_newline = "a\nb\nc\n"
    assert apply_text(before, patch_of(before, with_newline)) == with_newline


# --- the change set ---------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "app").mkdir(parents=True)
    (root / "app" / "module.py").write_text("def value():\n    return {'key': 1}['key']\n")
    (root / "app" / "other.py").write_text("NAME = 'old'\n")
    (root / "docker-compose.yml").write_text("services:\n  api:\n    image: x\n")
    return root


def module_patch(project: Path, old: str = "['key']", new: str = "['key']  # checked") -> str:
    before = (project / "app" / "module.py").read_text()
    return patch_of(before, before.replace(old, new, 1))


def test_applied_patch_is_written_backed_up_and_recorded(project: Path, tmp_path: Path) -> None:
    repair = code_repair(module_patch(project))

    changeset = apply_code_patches([repair], project, tmp_path / "run", "cycle-1")

    assert repair.status == RepairStatus.APPLIED
    assert repair.files == ["app/module.py"]
    assert "+    return {'key': 1}['key']  # checked" in repair.diff
    assert (project / "app" / "module.py").read_text().endswith("# checked\n")
    backup = tmp_path / "run" / "backups" / "cycle-1" / "app" / "module.py"
    assert backup.read_text() == "def value():\n    return {'key': 1}['key']\n"
    saved = json.loads((tmp_path / "run" / "backups" / "cycle-1" / "changeset.json").read_text())
    assert saved["repair_ids"] == ["P001"]
    assert [f["relpath"] for f in saved["files"]] == ["app/module.py"]
    assert changeset.files[0].backup == str(backup)


def test_rollback_restores_patched_files(project: Path, tmp_path: Path) -> None:
    original = (project / "app" / "module.py").read_bytes()
    repair = code_repair(module_patch(project))
    changeset = apply_code_patches([repair], project, tmp_path / "run", "cycle-1")

    rollback(changeset, [repair])

    assert (project / "app" / "module.py").read_bytes() == original
    assert repair.status == RepairStatus.ROLLED_BACK


def test_code_files_join_compose_change_set(project: Path, tmp_path: Path) -> None:
    compose = Repair(
        "R001",
        "F009",
        "MISSING_ENV",
        "api",
        "set env",
        edit=ComposeEdit("set_env", "api", {"name": "MODE", "value": "prod"}),
        status=RepairStatus.PLANNED,
    )
    code = code_repair(module_patch(project))
    run_dir = tmp_path / "run"

    changeset = apply_repairs(
        [compose, code], ["docker-compose.yml"], project, run_dir, changeset_id="cycle-1"
    )
    changeset = apply_code_patches([compose, code], project, run_dir, into=changeset)

    assert [f.relpath for f in changeset.files] == ["docker-compose.yml", "app/module.py"]
    assert changeset.repair_ids == ["R001", "P001"]
    saved = json.loads((run_dir / "backups" / "cycle-1" / "changeset.json").read_text())
    assert [f["relpath"] for f in saved["files"]] == ["docker-compose.yml", "app/module.py"]

    rollback(changeset, [compose, code])

    assert "MODE" not in (project / "docker-compose.yml").read_text()
    assert "# checked" not in (project / "app" / "module.py").read_text()


def test_dry_run_writes_nothing(project: Path, tmp_path: Path) -> None:
    repair = code_repair(module_patch(project))

    changeset = apply_code_patches([repair], project, tmp_path / "run", "cycle-1", dry_run=True)

    assert repair.status == RepairStatus.PLANNED
    assert "# checked" in repair.diff
    assert "# checked" not in (project / "app" / "module.py").read_text()
    assert not (tmp_path / "run").exists()
    assert changeset.dry_run


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("a/../outside.py", "b/../outside.py"),
        ("/etc/hostname", "/etc/hostname"),
        ("a/app/../../outside.py", "b/app/../../outside.py"),
    ],
)
def test_paths_outside_project_are_rejected(
    project: Path, tmp_path: Path, old: str, new: str
) -> None:
    (tmp_path / "outside.py").write_text("a\n")
    repair = code_repair(f"--- {old}\n+++ {new}\n@@ -1 +1 @@\n-a\n+b\n")

    apply_code_patches([repair], project, tmp_path / "run", "cycle-1")

    assert repair.status == RepairStatus.REJECTED
    assert "outside the project" in repair.reason
    assert (tmp_path / "outside.py").read_text() == "a\n"


def test_symlink_leaving_project_is_rejected(project: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.py").write_text("a\n")
    (project / "app" / "link.py").symlink_to(tmp_path / "secret.py")
    repair = code_repair("--- a/app/link.py\n+++ b/app/link.py\n@@ -1 +1 @@\n-a\n+b\n")

    apply_code_patches([repair], project, tmp_path / "run", "cycle-1")

    assert repair.status == RepairStatus.REJECTED
    assert (tmp_path / "secret.py").read_text() == "a\n"


def test_missing_file_is_rejected(project: Path, tmp_path: Path) -> None:
    repair = code_repair("--- a/app/gone.py\n+++ b/app/gone.py\n@@ -1 +1 @@\n-a\n+b\n")

    apply_code_patches([repair], project, tmp_path / "run", "cycle-1")

    assert repair.status == RepairStatus.REJECTED
    assert "does not exist" in repair.reason


def test_patch_breaking_python_syntax_is_rejected(project: Path, tmp_path: Path) -> None:
    repair = code_repair(module_patch(project, "return", "return ("))

    apply_code_patches([repair], project, tmp_path / "run", "cycle-1")

    assert repair.status == RepairStatus.REJECTED
    assert "does not compile" in repair.reason
    assert "(" not in (project / "app" / "module.py").read_text().split("return")[1].split("{")[0]


def test_stale_context_is_rejected_and_file_untouched(project: Path, tmp_path: Path) -> None:
    repair = code_repair(module_patch(project))
    (project / "app" / "module.py").write_text("def value():\n    return 2\n")

    apply_code_patches([repair], project, tmp_path / "run", "cycle-1", lang="zh-CN")

    assert repair.status == RepairStatus.REJECTED
    assert "上下文" in repair.reason
    assert (project / "app" / "module.py").read_text() == "def value():\n    return 2\n"


def test_failed_file_keeps_sibling_files_unchanged(project: Path, tmp_path: Path) -> None:
    good = module_patch(project)
    bad = "--- a/app/other.py\n+++ b/app/other.py\n@@ -1 +1 @@\n-NAME = 'older'\n+NAME = 'new'\n"
    repair = code_repair(good + bad)

    changeset = apply_code_patches([repair], project, tmp_path / "run", "cycle-1")

    assert repair.status == RepairStatus.REJECTED
    assert changeset.files == []
    assert "# checked" not in (project / "app" / "module.py").read_text()


def test_two_patches_to_one_file_apply_in_order(project: Path, tmp_path: Path) -> None:
    before = (project / "app" / "module.py").read_text()
    first = code_repair(patch_of(before, "# header\n" + before), "P001")
    second = code_repair(module_patch(project), "P002")

    changeset = apply_code_patches([first, second], project, tmp_path / "run", "cycle-1")

    assert [first.status, second.status] == [RepairStatus.APPLIED, RepairStatus.APPLIED]
    text = (project / "app" / "module.py").read_text()
    assert text.startswith("# header\n")
    assert text.endswith("# checked\n")
    assert changeset.files[0].repair_ids == ["P001", "P002"]


def test_identical_patch_twice_is_applied_once(project: Path, tmp_path: Path) -> None:
    patch = module_patch(project)
    first, twin = code_repair(patch, "P001"), code_repair(patch, "P002")

    apply_code_patches([first, twin], project, tmp_path / "run", "cycle-1")

    assert [first.status, twin.status] == [RepairStatus.APPLIED, RepairStatus.APPLIED]
    assert twin.files == ["app/module.py"]
    assert (project / "app" / "module.py").read_text().count("# checked") == 1


def test_only_planned_code_repairs_are_applied(project: Path, tmp_path: Path) -> None:
    rejected = code_repair(module_patch(project), status=RepairStatus.REJECTED)

    changeset = apply_code_patches([rejected], project, tmp_path / "run", "cycle-1")

    assert changeset.files == []
    assert rejected.status == RepairStatus.REJECTED
    assert "# checked" not in (project / "app" / "module.py").read_text()


def test_used_change_set_id_raises(project: Path, tmp_path: Path) -> None:
    apply_code_patches([code_repair(module_patch(project))], project, tmp_path / "run", "cycle-1")

    with pytest.raises(RepairError, match="already exists"):
        apply_code_patches(
            [code_repair(module_patch(project), "P002")], project, tmp_path / "run", "cycle-1"
        )


def test_file_already_in_change_set_is_rejected(project: Path, tmp_path: Path) -> None:
    first = code_repair(module_patch(project), "P001")
    changeset = apply_code_patches([first], project, tmp_path / "run", "cycle-1")
    after = (project / "app" / "module.py").read_text()
    second = code_repair(patch_of(after, "# more\n" + after), "P002")

    apply_code_patches([second], project, tmp_path / "run", into=changeset)

    assert second.status == RepairStatus.REJECTED
    assert "already changed by another repair" in second.reason


def test_non_utf8_file_is_rejected(project: Path, tmp_path: Path) -> None:
    (project / "app" / "latin.py").write_bytes(b"NAME = '\xe9'\n")
    repair = code_repair("--- a/app/latin.py\n+++ b/app/latin.py\n@@ -1 +1 @@\n-x\n+y\n")

    apply_code_patches([repair], project, tmp_path / "run", "cycle-1")

    assert repair.status == RepairStatus.REJECTED
    assert "not UTF-8" in repair.reason
