"""Applying compose repairs: backups, atomic writes, change sets, rollback and dry runs."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from stackmedic.errors import RepairError
from stackmedic.evidence.facts import EnvRead, SourceFacts
from stackmedic.evidence.model import Evidence
from stackmedic.model import Category, ComposeEdit, Finding, Fixability, Repair, RepairStatus
from stackmedic.repair import backup
from stackmedic.repair.apply import apply_repairs
from stackmedic.repair.backup import ChangeSet, atomic_write, rollback, sha256_file
from stackmedic.repair.planner import plan_repairs

FIXTURES = Path(__file__).parent / "fixtures" / "compose"
WORKER = "tacoreservice-worker"


def planned(repair_id: str, action: str, service: str = WORKER, **params: object) -> Repair:
    return Repair(
        id=repair_id,
        finding_id="F" + repair_id[1:],
        code="TEST",
        service=service,
        title=action,
        edit=ComposeEdit(action, service, dict(params)),
        status=RepairStatus.PLANNED,
    )


def port_repair() -> Repair:
    return planned("R1", "set_env", name="TACORESERVICE_BACKEND_PORT", value="5556")


def healthcheck_repair() -> Repair:
    return planned("R2", "set_healthcheck", test=["CMD", "python", "-m", "tacore.worker_health"])


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(FIXTURES / "tacoreservice.yml", folder / "docker-compose.yml")
    return folder


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"


def test_apply_writes_edit_and_fills_repair(project: Path, run_dir: Path) -> None:
    compose = project / "docker-compose.yml"
    repair = port_repair()

    changeset = apply_repairs(
        [repair], ["docker-compose.yml"], project, run_dir, changeset_id="cycle-01"
    )

    assert repair.status == RepairStatus.APPLIED
    assert repair.files == ["docker-compose.yml"]
    assert repair.diff.startswith("--- a/docker-compose.yml\n+++ b/docker-compose.yml\n")
    assert "+      - TACORESERVICE_BACKEND_PORT=5556\n" in repair.diff
    assert "      - TACORESERVICE_BACKEND_PORT=5556\n" in compose.read_text()
    assert changeset.repair_ids == ["R1"]
    assert changeset.files[0].sha256_after == sha256_file(compose)


def test_apply_backs_up_original_bytes_first(project: Path, run_dir: Path) -> None:
    original = (project / "docker-compose.yml").read_bytes()

    changeset = apply_repairs(
        [port_repair()], ["docker-compose.yml"], project, run_dir, changeset_id="cycle-01"
    )

    copy = run_dir / "backups" / "cycle-01" / "docker-compose.yml"
    assert changeset.files[0].backup == str(copy)
    assert copy.read_bytes() == original
    assert changeset.files[0].sha256_before == backup.sha256_bytes(original)


def test_each_repair_gets_its_own_diff(project: Path, run_dir: Path) -> None:
    port, probe = port_repair(), healthcheck_repair()

    changeset = apply_repairs([port, probe], ["docker-compose.yml"], project, run_dir)

    assert "TACORESERVICE_BACKEND_PORT" in port.diff
    assert "worker_health" not in port.diff
    assert "worker_health" in probe.diff
    assert "TACORESERVICE_BACKEND_PORT" not in probe.diff
    assert "TACORESERVICE_BACKEND_PORT" in changeset.diff
    assert "worker_health" in changeset.diff
    assert changeset.files[0].repair_ids == ["R1", "R2"]


def test_changeset_saved_and_round_trips(project: Path, run_dir: Path) -> None:
    changeset = apply_repairs(
        [port_repair()], ["docker-compose.yml"], project, run_dir, changeset_id="cycle-01"
    )

    saved = run_dir / "backups" / "cycle-01" / "changeset.json"
    data = json.loads(saved.read_text())
    loaded = ChangeSet.load(saved.parent)

    assert data["id"] == "cycle-01"
    assert "repairs" not in data
    assert loaded == changeset
    assert ChangeSet.from_dict(changeset.to_dict()) == changeset


def test_rollback_restores_identical_bytes_and_marks_repairs(project: Path, run_dir: Path) -> None:
    compose = project / "docker-compose.yml"
    original = compose.read_bytes()
    port, probe = port_repair(), healthcheck_repair()
    changeset = apply_repairs([port, probe], ["docker-compose.yml"], project, run_dir)

    restored = rollback(changeset)

    assert restored == [compose]
    assert compose.read_bytes() == original
    assert port.status == RepairStatus.ROLLED_BACK
    assert probe.status == RepairStatus.ROLLED_BACK
    assert ChangeSet.load(changeset.directory).rolled_back_at


def test_rollback_from_saved_changeset_marks_given_repairs(project: Path, run_dir: Path) -> None:
    compose = project / "docker-compose.yml"
    original = compose.read_bytes()
    port = port_repair()
    changeset = apply_repairs([port], ["docker-compose.yml"], project, run_dir, changeset_id="c1")

    rollback(ChangeSet.load(changeset.directory), [port])

    assert compose.read_bytes() == original
    assert port.status == RepairStatus.ROLLED_BACK


def test_rollback_rejects_file_changed_since(project: Path, run_dir: Path) -> None:
    compose = project / "docker-compose.yml"
    original = compose.read_bytes()
    changeset = apply_repairs([port_repair()], ["docker-compose.yml"], project, run_dir)
    compose.write_text(compose.read_text() + "# edited by hand\n")

    with pytest.raises(RepairError, match="changed after change set"):
        rollback(changeset)
    assert compose.read_text().endswith("# edited by hand\n")

    rollback(changeset, force=True)
    assert compose.read_bytes() == original


def test_rollback_rejects_corrupt_backup_even_when_forced(project: Path, run_dir: Path) -> None:
    changeset = apply_repairs([port_repair()], ["docker-compose.yml"], project, run_dir)
    Path(changeset.files[0].backup).write_text("services: {}\n")

    with pytest.raises(RepairError, match="does not match the recorded original"):
        rollback(changeset, force=True)


def test_rollback_of_restored_file_is_a_no_op(project: Path, run_dir: Path) -> None:
    changeset = apply_repairs([port_repair()], ["docker-compose.yml"], project, run_dir)
    rollback(changeset)

    assert rollback(changeset) == []


def test_file_mode_kept_through_apply_and_rollback(project: Path, run_dir: Path) -> None:
    compose = project / "docker-compose.yml"
    compose.chmod(0o640)
    changeset = apply_repairs([port_repair()], ["docker-compose.yml"], project, run_dir)

    assert stat.S_IMODE(compose.stat().st_mode) == 0o640

    rollback(changeset)
    assert stat.S_IMODE(compose.stat().st_mode) == 0o640


def test_apply_leaves_no_temporary_files(project: Path, run_dir: Path) -> None:
    before = sorted(path.name for path in project.iterdir())

    changeset = apply_repairs([port_repair()], ["docker-compose.yml"], project, run_dir)
    assert sorted(path.name for path in project.iterdir()) == before

    rollback(changeset)
    assert sorted(path.name for path in project.iterdir()) == before
    assert not list(Path(changeset.directory).glob(".*.tmp"))


def test_failed_atomic_write_keeps_original_and_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "compose.yml"
    target.write_text("services: {}\n")

    def fail_replace(source: str, destination: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(backup.os, "replace", fail_replace)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, b"services:\n  new: {}\n")

    assert target.read_text() == "services: {}\n"
    assert [path.name for path in tmp_path.iterdir()] == ["compose.yml"]


def test_dry_run_writes_nothing_but_fills_diffs(project: Path, run_dir: Path) -> None:
    compose = project / "docker-compose.yml"
    original = compose.read_bytes()
    mtime = compose.stat().st_mtime_ns
    port = port_repair()

    changeset = apply_repairs([port], ["docker-compose.yml"], project, run_dir, dry_run=True)

    assert compose.read_bytes() == original
    assert compose.stat().st_mtime_ns == mtime
    assert not run_dir.exists()
    assert port.status == RepairStatus.PLANNED
    assert "+      - TACORESERVICE_BACKEND_PORT=5556\n" in port.diff
    assert changeset.dry_run
    assert changeset.files[0].backup == ""
    with pytest.raises(RepairError, match="dry run"):
        rollback(changeset)


def test_only_planned_compose_repairs_are_applied(project: Path, run_dir: Path) -> None:
    rejected = port_repair()
    rejected.status = RepairStatus.REJECTED
    patch = Repair(
        "R5",
        "F5",
        "KEY_ERROR",
        "tacoreservice",
        "patch",
        patch="--- a/x\n+++ b/x\n",
        status=RepairStatus.PLANNED,
    )
    compose = project / "docker-compose.yml"
    original = compose.read_bytes()

    changeset = apply_repairs([rejected, patch], ["docker-compose.yml"], project, run_dir)

    assert changeset.files == []
    assert compose.read_bytes() == original
    assert rejected.status == RepairStatus.REJECTED
    assert patch.status == RepairStatus.PLANNED


def test_repair_rejected_by_file_does_not_block_others(project: Path, run_dir: Path) -> None:
    compose = project / "docker-compose.yml"
    compose.write_text(
        compose.read_text().replace(
            "      - DATABASE_PATH=data/tacoreservice.db\n",
            "      - DATABASE_PATH=${DB_PATH:-data/tacoreservice.db}\n",
        )
    )
    database = planned("R3", "set_env", name="DATABASE_PATH", value="/data/db.sqlite")
    port = port_repair()

    apply_repairs([database, port], ["docker-compose.yml"], project, run_dir)

    assert database.status == RepairStatus.REJECTED
    assert "variable DB_PATH" in database.reason
    assert port.status == RepairStatus.APPLIED
    text = compose.read_text()
    assert "DATABASE_PATH=${DB_PATH:-data/tacoreservice.db}" in text
    assert "TACORESERVICE_BACKEND_PORT=5556" in text


def test_failing_edit_is_rejected_and_rest_applied(project: Path, run_dir: Path) -> None:
    bad = planned("R4", "set_depends_on_conditions", conditions={"redis": "service_ready"})
    port = port_repair()

    apply_repairs([bad, port], ["docker-compose.yml"], project, run_dir)

    assert bad.status == RepairStatus.REJECTED
    assert "service_ready" in bad.reason
    assert port.status == RepairStatus.APPLIED


def test_repair_that_changes_nothing_is_rejected(project: Path, run_dir: Path) -> None:
    same = planned("R6", "set_env", name="TACORESERVICE_ENV", value="production")

    changeset = apply_repairs([same], ["docker-compose.yml"], project, run_dir)

    assert same.status == RepairStatus.REJECTED
    assert same.reason.startswith("no effect")
    assert changeset.files == []


def test_dotenv_read_from_project_directory(tmp_path: Path, run_dir: Path) -> None:
    project = tmp_path / "multi"
    (project / "deploy").mkdir(parents=True)
    (project / ".env").write_text("API_PORT=8080\n")
    override = project / "deploy" / "prod.yml"
    override.write_text("services:\n  app:\n    environment:\n      - PORT=${API_PORT}\n")
    override_bytes = override.read_bytes()
    repair = planned("R1", "set_env", service="app", name="PORT", value="9090")

    changeset = apply_repairs([repair], [str(override)], project, run_dir, changeset_id="c1")

    assert repair.status == RepairStatus.APPLIED
    assert (project / ".env").read_text() == "API_PORT=9090\n"
    assert override.read_bytes() == override_bytes
    assert repair.files == [".env"]
    assert (run_dir / "backups" / "c1" / ".env").read_text() == "API_PORT=8080\n"
    rollback(changeset)
    assert (project / ".env").read_text() == "API_PORT=8080\n"


def test_override_file_edited_and_base_untouched(tmp_path: Path, run_dir: Path) -> None:
    project = tmp_path / "multi"
    (project / "deploy").mkdir(parents=True)
    base = project / "compose.yml"
    base.write_text("services:\n  app:\n    image: example/app\n")
    override = project / "deploy" / "prod.yml"
    override.write_text("services:\n  app:\n    environment:\n      - MODE=prod\n")
    base_bytes = base.read_bytes()
    repair = planned("R1", "set_env", service="app", name="WORKERS", value="4")

    apply_repairs([repair], ["compose.yml", str(override)], project, run_dir, changeset_id="c1")

    assert base.read_bytes() == base_bytes
    assert "      - WORKERS=4\n" in override.read_text()
    assert repair.files == ["deploy/prod.yml"]
    assert repair.diff.startswith("--- a/deploy/prod.yml\n+++ b/deploy/prod.yml\n")
    assert (run_dir / "backups" / "c1" / "deploy" / "prod.yml").exists()


def test_compose_file_outside_project_backed_up_under_external(
    tmp_path: Path, run_dir: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    outside = tmp_path / "shared" / "compose.yml"
    outside.parent.mkdir()
    outside.write_text("services:\n  app:\n    image: example/app\n")
    repair = planned("R1", "set_env", service="app", name="A", value="1")

    changeset = apply_repairs([repair], [str(outside)], project, run_dir)

    assert changeset.files[0].relpath.startswith("_external/")
    assert (
        Path(changeset.files[0].backup).read_text() == "services:\n  app:\n    image: example/app\n"
    )


def test_reused_changeset_id_rejected(project: Path, run_dir: Path) -> None:
    apply_repairs(
        [port_repair()], ["docker-compose.yml"], project, run_dir, changeset_id="cycle-01"
    )

    with pytest.raises(RepairError, match="already exists"):
        apply_repairs(
            [healthcheck_repair()],
            ["docker-compose.yml"],
            project,
            run_dir,
            changeset_id="cycle-01",
        )


def test_backup_copy_readable_by_owner_only(project: Path, run_dir: Path) -> None:
    changeset = apply_repairs([port_repair()], ["docker-compose.yml"], project, run_dir)

    assert stat.S_IMODE(os.stat(changeset.files[0].backup).st_mode) == 0o600


def test_sample_plan_then_apply_then_rollback(project: Path, run_dir: Path) -> None:
    compose = project / "docker-compose.yml"
    original = compose.read_bytes()
    probe_test = ["CMD", "python", "-c", "import urllib.request"]
    config = {
        "services": {
            "redis": {"healthcheck": {"test": ["CMD", "redis-cli", "ping"]}},
            "tacoreservice": {"healthcheck": {"test": probe_test}},
            WORKER: {
                "environment": {"TACORESERVICE_ENV": "production"},
                "depends_on": {
                    "tacoreservice": {"condition": "service_started"},
                    "redis": {"condition": "service_started"},
                },
                "healthcheck": {"test": probe_test},
            },
        }
    }
    evidence = Evidence("tacore", str(project), ["docker-compose.yml"], config)
    facts = SourceFacts(
        env_reads=[
            EnvRead(WORKER, "TACORESERVICE_HOST", "tacoreservice", "tacore/worker.py", 22),
            EnvRead(WORKER, "TACORESERVICE_BACKEND_PORT", "5555", "tacore/worker.py", 23),
        ]
    )
    proposals = [
        planned("R1", "set_env", name="TACORESERVICE_BACKEND_PORT", value="5556"),
        planned("R3", "set_env", name="TACORESERVICE_HOST", value="tacoreservice"),
        healthcheck_repair(),
        planned(
            "R4",
            "set_depends_on_conditions",
            conditions={"tacoreservice": "service_healthy", "redis": "service_healthy"},
        ),
    ]
    finding = Finding(
        "F1", "TEST", WORKER, "", 1.0, Category.CONFIGURATION, Fixability.COMPOSE, repairs=proposals
    )

    repairs = plan_repairs([finding], evidence, facts)
    changeset = apply_repairs(repairs, evidence.compose_files, project, run_dir)

    statuses = {repair.id: repair.status for repair in repairs}
    assert statuses == {
        "R1": RepairStatus.APPLIED,
        "R3": RepairStatus.REJECTED,
        "R2": RepairStatus.APPLIED,
        "R4": RepairStatus.APPLIED,
    }
    worker = YAML(typ="safe").load(compose.read_text())["services"][WORKER]
    assert "TACORESERVICE_BACKEND_PORT=5556" in worker["environment"]
    assert not any(item.startswith("TACORESERVICE_HOST") for item in worker["environment"])
    assert worker["healthcheck"]["test"] == ["CMD", "python", "-m", "tacore.worker_health"]
    assert worker["depends_on"] == {
        "tacoreservice": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }

    rollback(changeset)
    assert compose.read_bytes() == original


# Rolling back a whole run


RUN_ID = "20261204T101500Z"


@pytest.fixture()
def two_file_project(tmp_path: Path) -> Path:
    folder = tmp_path / "two-files"
    folder.mkdir()
    shutil.copy(FIXTURES / "tacoreservice.yml", folder / "docker-compose.yml")
    (folder / "docker-compose.override.yml").write_text(
        "# Local overrides.\nservices:\n  redis:\n    environment:\n      - REDIS_ARGS=--save 60 1\n"
    )
    return folder


def run_two_cycles(project: Path) -> list[ChangeSet]:
    """Apply two change sets to one run, as two loop cycles would; the second edits both files."""
    files = ["docker-compose.yml", "docker-compose.override.yml"]
    run_dir = backup.runs_folder(project) / RUN_ID
    first = apply_repairs([port_repair()], files, project, run_dir, changeset_id="cycle-1")
    second = apply_repairs(
        [healthcheck_repair(), planned("R5", "set_env", service="redis", name="REDIS_ARGS", value="x")],
        files,
        project,
        run_dir,
        changeset_id="cycle-2",
    )
    return [first, second]


def snapshot_bytes(project: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(project.glob("*.yml"))}


def test_rollback_run_restores_all_cycles(two_file_project: Path) -> None:
    original = snapshot_bytes(two_file_project)
    run_two_cycles(two_file_project)
    assert snapshot_bytes(two_file_project) != original

    restored = backup.rollback_run(two_file_project, RUN_ID)

    assert snapshot_bytes(two_file_project) == original
    assert sorted(path.name for path in restored) == [
        "docker-compose.override.yml",
        "docker-compose.yml",
    ]


def test_rollback_run_undoes_newest_change_set_first(two_file_project: Path) -> None:
    run_two_cycles(two_file_project)
    run_dir = backup.runs_folder(two_file_project) / RUN_ID

    order = [changeset.id for changeset in backup.load_run_changesets(run_dir)]

    assert order == ["cycle-2", "cycle-1"]


def test_rollback_run_twice_restores_once(two_file_project: Path) -> None:
    original = snapshot_bytes(two_file_project)
    run_two_cycles(two_file_project)

    backup.rollback_run(two_file_project, RUN_ID)
    again = backup.rollback_run(two_file_project, RUN_ID)

    run_dir = backup.runs_folder(two_file_project) / RUN_ID
    assert again == []
    assert all(changeset.rolled_back_at for changeset in backup.load_run_changesets(run_dir))
    assert snapshot_bytes(two_file_project) == original


def test_rollback_run_skips_rolled_back_set(two_file_project: Path) -> None:
    original = snapshot_bytes(two_file_project)
    _, second = run_two_cycles(two_file_project)
    rollback(second)

    restored = backup.rollback_run(two_file_project, RUN_ID)

    assert [path.name for path in restored] == ["docker-compose.yml"]
    assert snapshot_bytes(two_file_project) == original


def test_rollback_run_rejects_edited_file(two_file_project: Path) -> None:
    run_two_cycles(two_file_project)
    override = two_file_project / "docker-compose.override.yml"
    override.write_text(override.read_text() + "# edited by hand\n")
    before = snapshot_bytes(two_file_project)

    with pytest.raises(RepairError, match="changed after change set cycle-2") as raised:
        backup.rollback_run(two_file_project, RUN_ID)

    assert "nothing was restored" in raised.value.message
    assert snapshot_bytes(two_file_project) == before


def test_rollback_run_with_force_discards_later_edits(two_file_project: Path) -> None:
    original = snapshot_bytes(two_file_project)
    run_two_cycles(two_file_project)
    compose = two_file_project / "docker-compose.yml"
    compose.write_text(compose.read_text() + "# edited by hand\n")

    backup.rollback_run(two_file_project, RUN_ID, force=True)

    assert snapshot_bytes(two_file_project) == original


def test_rollback_run_reads_custom_runs_folder(two_file_project: Path, tmp_path: Path) -> None:
    original = snapshot_bytes(two_file_project)
    runs = tmp_path / "elsewhere"
    apply_repairs(
        [port_repair()], ["docker-compose.yml"], two_file_project, runs / "r1", changeset_id="c1"
    )

    backup.rollback_run(two_file_project, "r1", runs)

    assert snapshot_bytes(two_file_project) == original


def test_rollback_run_unknown_run_lists_known_runs(two_file_project: Path) -> None:
    run_two_cycles(two_file_project)

    with pytest.raises(RepairError, match="run nope not found") as raised:
        backup.rollback_run(two_file_project, "nope")

    assert raised.value.hint is not None
    assert RUN_ID in raised.value.hint


def test_rollback_run_rejects_other_project(two_file_project: Path, tmp_path: Path) -> None:
    run_two_cycles(two_file_project)
    other = tmp_path / "other"
    other.mkdir()

    with pytest.raises(RepairError, match="belongs to project"):
        backup.rollback_run(other, RUN_ID, backup.runs_folder(two_file_project))


def test_rollback_run_of_dry_run_restores_nothing(two_file_project: Path) -> None:
    original = snapshot_bytes(two_file_project)
    run_dir = backup.runs_folder(two_file_project) / RUN_ID
    run_dir.mkdir(parents=True)
    apply_repairs([port_repair()], ["docker-compose.yml"], two_file_project, run_dir, dry_run=True)

    assert backup.rollback_run(two_file_project, RUN_ID) == []
    assert snapshot_bytes(two_file_project) == original
