"""Repairs checked with the real Compose CLI and Engine.

`docker compose config` is the judge of what an edit means: every fixture
must resolve to the same configuration after an edit, except for the edited
value, and an edit of a base + override pair, of `.env` or of an env_file must
give the service the intended effective value. The program probe runs a
throwaway `exec` in a real container whose image has no curl.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackmedic.engine import ComposeProject, DockerEngine
from stackmedic.evidence.collect import collect
from stackmedic.evidence.facts import SourceFacts
from stackmedic.loop import _program_probe
from stackmedic.model import Category, ComposeEdit, Finding, Fixability, Repair, RepairStatus
from stackmedic.repair.apply import apply_repairs
from stackmedic.repair.backup import rollback
from stackmedic.repair.compose_edit import ComposeDocument, apply_edit
from stackmedic.repair.planner import plan_repairs
from stackmedic.repair.targets import services_extending

pytestmark = pytest.mark.engine

FIXTURES = Path(__file__).parents[1] / "unit" / "fixtures" / "compose"
BASE_IMAGE = "stackmedic/python-base:bookworm"
# Fixtures that are YAML edge cases rather than valid compose files, and the
# override that is only valid together with its base.
NOT_STANDALONE = {"empty-values.yml", "env-forms.yml", "pair-base.override.yml"}
PROBE = "STACKMEDIC_PROBE"


def compose_config(project_dir: Path, *files: Path) -> dict[str, Any]:
    """Return `docker compose config --format json` with every profile enabled."""
    command = ["docker", "compose", "--project-directory", str(project_dir)]
    for path in files:
        command += ["-f", str(path)]
    command += ["-p", "stackmedic-config", "--profile", "*", "config", "--format", "json"]
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("COMPOSE_")
    }
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=60, check=False, env=environment
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def fixture_copies(tmp_path: Path) -> Path:
    """Copy the fixture folder, so edited files keep their env files and relative paths."""
    target = tmp_path / "compose"
    shutil.copytree(FIXTURES, target)
    return target


STANDALONE = sorted(
    path.relative_to(FIXTURES)
    for path in [*FIXTURES.glob("*.yml"), *(FIXTURES / "irregular").glob("*.yml")]
    if path.name not in NOT_STANDALONE
)


def test_compose_resolves_forty_fixtures() -> None:
    assert len(STANDALONE) + 1 >= 40  # the override pair counts once more below


@pytest.mark.parametrize("relative", STANDALONE, ids=str)
def test_set_env_changes_only_that_variable(
    relative: Path, tmp_path: Path, docker_engine: None
) -> None:
    folder = fixture_copies(tmp_path)
    path = folder / relative
    before = compose_config(folder, path)

    document = ComposeDocument.load(path)
    for service in document.service_names():
        apply_edit(document, ComposeEdit("set_env", service, {"name": PROBE, "value": "on"}))
    path.write_text(document.dump(), encoding="utf-8", newline="")
    after = compose_config(folder, path)

    for service, definition in after["services"].items():
        assert definition["environment"][PROBE] == "on", service
        definition["environment"].pop(PROBE)
        if not definition["environment"] and "environment" not in before["services"][service]:
            definition.pop("environment")
    assert after == before


@pytest.mark.parametrize("relative", STANDALONE, ids=str)
def test_set_healthcheck_changes_only_the_health_check(
    relative: Path, tmp_path: Path, docker_engine: None
) -> None:
    folder = fixture_copies(tmp_path)
    path = folder / relative
    before = compose_config(folder, path)
    service = ComposeDocument.load(path).service_names()[0]

    document = ComposeDocument.load(path)
    test = ["CMD", "python", "-m", "app.health"]
    apply_edit(document, ComposeEdit("set_healthcheck", service, {"test": test, "interval": "7s"}))
    path.write_text(document.dump(), encoding="utf-8", newline="")
    after = compose_config(folder, path)

    # Services that extend the edited one inherit the new health check too.
    reached = [service, *services_extending({path: ComposeDocument.load(path)}, service)]
    for name in reached:
        healthcheck = after["services"][name].pop("healthcheck")
        before["services"][name].pop("healthcheck", None)
        assert healthcheck["test"] == test, name
        assert healthcheck["interval"] == "7s", name
    assert after == before


# Base + override, .env and env_file


@pytest.fixture()
def pair(tmp_path: Path) -> Path:
    project = tmp_path / "pair"
    project.mkdir()
    shutil.copy(FIXTURES / "pair-base.yml", project / "compose.yml")
    shutil.copy(FIXTURES / "pair-base.override.yml", project / "compose.override.yml")
    return project


def planned(repair_id: str, action: str, service: str, **params: Any) -> Repair:
    return Repair(
        id=repair_id,
        finding_id="F" + repair_id,
        code="TEST",
        service=service,
        title=f"{action} {service}",
        edit=ComposeEdit(action, service, dict(params)),
        status=RepairStatus.PLANNED,
    )


def file_bytes(project: Path) -> dict[str, bytes]:
    return {
        path.relative_to(project).as_posix(): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file() and ".stackmedic" not in path.parts and "run" not in path.parts
    }


def test_override_pair_edits_take_effect(pair: Path, docker_engine: None) -> None:
    files = [pair / "compose.yml", pair / "compose.override.yml"]
    before_bytes = file_bytes(pair)
    repairs = [
        planned("R1", "set_env", "web", name="MODE", value="prod"),
        planned("R2", "set_env", "web", name="WORKERS", value="8"),
        planned("R3", "set_env", "api", name="NEW_SETTING", value="1"),
        planned(
            "R4", "set_healthcheck", "api", test=["CMD", "api-health", "--deep"], interval="3s"
        ),
    ]

    changeset = apply_repairs(repairs, files, pair, pair / "run", changeset_id="c1")
    config = compose_config(pair, *files)

    assert [repair.status for repair in repairs] == [RepairStatus.APPLIED] * 4
    assert {repair.id: repair.files for repair in repairs} == {
        "R1": ["compose.override.yml"],
        "R2": ["compose.yml"],
        "R3": ["compose.override.yml"],
        "R4": ["compose.override.yml"],
    }
    web, api = config["services"]["web"], config["services"]["api"]
    assert web["environment"] == {"MODE": "prod", "WORKERS": "8"}
    assert api["environment"] == {"NEW_SETTING": "1"}
    assert api["healthcheck"]["test"] == ["CMD", "api-health", "--deep"]
    assert api["healthcheck"]["interval"] == "3s"
    assert "MODE=prod" not in (pair / "compose.yml").read_text()

    rollback(changeset)
    assert file_bytes(pair) == before_bytes


def test_dotenv_value_changed_in_dotenv(
    tmp_path: Path, docker_engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("API_PORT", raising=False)
    project = tmp_path / "dotenv"
    project.mkdir()
    compose = project / "compose.yml"
    compose.write_text(
        "services:\n  api:\n    image: example/api:1\n    environment:\n"
        "      - PORT=${API_PORT:-8000}\n"
    )
    (project / ".env").write_text("# ports\nAPI_PORT=8000\n")
    compose_bytes = compose.read_bytes()
    repair = planned("R1", "set_env", "api", name="PORT", value="9000")

    apply_repairs([repair], [compose], project, project / "run", changeset_id="c1")
    config = compose_config(project, compose)

    assert repair.status == RepairStatus.APPLIED
    assert repair.files == [".env"]
    assert compose.read_bytes() == compose_bytes
    assert (project / ".env").read_text() == "# ports\nAPI_PORT=9000\n"
    assert config["services"]["api"]["environment"]["PORT"] == "9000"


def test_dotenv_value_used_twice_reported_not_changed(
    tmp_path: Path, docker_engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("API_PORT", raising=False)
    project = tmp_path / "dotenv-shared"
    project.mkdir()
    compose = project / "compose.yml"
    compose.write_text(
        'services:\n  api:\n    image: example/api:1\n    ports:\n      - "${API_PORT}:${API_PORT}"\n'
        "    environment:\n      - PORT=${API_PORT}\n"
    )
    (project / ".env").write_text("API_PORT=8000\n")
    before = file_bytes(project)
    repair = planned("R1", "set_env", "api", name="PORT", value="9000")

    apply_repairs([repair], [compose], project, project / "run", changeset_id="c1")
    config = compose_config(project, compose)

    assert repair.status == RepairStatus.REJECTED
    assert "use in 2 places (compose.yml:5, compose.yml:7)" in repair.reason
    assert file_bytes(project) == before
    assert config["services"]["api"]["environment"]["PORT"] == "8000"


def test_env_file_value_changed_in_env_file(tmp_path: Path, docker_engine: None) -> None:
    project = tmp_path / "envfile"
    (project / "config").mkdir(parents=True)
    compose = project / "compose.yml"
    compose.write_text(
        "services:\n  worker:\n    image: example/worker:1\n    env_file:\n      - config/worker.env\n"
        "    environment:\n      - ROLE=worker\n"
    )
    env_file = project / "config" / "worker.env"
    env_file.write_text("BACKEND_PORT=5555  # broker frontend\nLOG_LEVEL=info\n")
    compose_bytes = compose.read_bytes()
    repair = planned("R1", "set_env", "worker", name="BACKEND_PORT", value="5556")

    apply_repairs([repair], [compose], project, project / "run", changeset_id="c1")
    config = compose_config(project, compose)

    assert repair.status == RepairStatus.APPLIED
    assert repair.files == ["config/worker.env"]
    assert compose.read_bytes() == compose_bytes
    assert env_file.read_text() == "BACKEND_PORT=5556  # broker frontend\nLOG_LEVEL=info\n"
    assert config["services"]["worker"]["environment"]["BACKEND_PORT"] == "5556"


def test_shared_env_file_overridden_for_one_service(tmp_path: Path, docker_engine: None) -> None:
    project = tmp_path / "shared-envfile"
    project.mkdir()
    compose = project / "compose.yml"
    compose.write_text(
        "services:\n  worker:\n    image: example/worker:1\n    env_file: common.env\n"
        "  api:\n    image: example/api:1\n    env_file: common.env\n"
    )
    (project / "common.env").write_text("BACKEND_PORT=5555\n")
    repair = planned("R1", "set_env", "worker", name="BACKEND_PORT", value="5556")

    apply_repairs([repair], [compose], project, project / "run", changeset_id="c1")
    config = compose_config(project, compose)

    assert repair.status == RepairStatus.APPLIED
    assert repair.files == ["compose.yml"]
    assert (project / "common.env").read_text() == "BACKEND_PORT=5555\n"
    assert config["services"]["worker"]["environment"]["BACKEND_PORT"] == "5556"
    assert config["services"]["api"]["environment"]["BACKEND_PORT"] == "5555"


# The program probe, against a real container


PROBE_STACK = f"""\
services:
  web:
    image: {BASE_IMAGE}
    command: ["python", "-m", "http.server", "8000"]
"""


@pytest.fixture(scope="module")
def web_stack(
    tmp_path_factory: pytest.TempPathFactory, docker_engine: None
) -> Iterator[ComposeProject]:
    folder = tmp_path_factory.mktemp("probe-stack")
    (folder / "compose.yaml").write_text(PROBE_STACK)
    name = f"smprobe-{uuid.uuid4().hex[:8]}"
    project = ComposeProject.open(folder, name=name)
    try:
        project.up(build=False)
        yield project
    finally:
        subprocess.run(
            ["docker", "compose", "-p", name, "down", "-v", "--remove-orphans"],
            cwd=folder,
            capture_output=True,
            check=False,
            timeout=120,
        )


def healthcheck_finding(test: list[str]) -> Finding:
    proposal = Repair(
        id="R1",
        finding_id="F1",
        code="HEALTHCHECK_MISCONFIGURED",
        service="web",
        title="probe the web server",
        edit=ComposeEdit("set_healthcheck", "web", {"test": test, "interval": "5s"}),
    )
    return Finding(
        id="F1",
        code="HEALTHCHECK_MISCONFIGURED",
        service="web",
        summary="the web service has no health check",
        confidence=0.8,
        category=Category.HEALTHCHECK,
        fixable_by=Fixability.COMPOSE,
        repairs=[proposal],
    )


def test_probe_with_program_missing_from_image_rejected(web_stack: ComposeProject) -> None:
    engine = DockerEngine.connect()
    evidence = collect(web_stack, engine)
    compose_before = (web_stack.project_dir / "compose.yaml").read_bytes()

    repairs = plan_repairs(
        [healthcheck_finding(["CMD", "curl", "-f", "http://localhost:8000/"])],
        evidence,
        SourceFacts(),
        program_exists=_program_probe(engine, evidence),
    )

    assert repairs[0].status == RepairStatus.REJECTED
    assert (
        repairs[0].reason
        == "the program curl is not in the image of web, so the probe could never pass"
    )
    assert (web_stack.project_dir / "compose.yaml").read_bytes() == compose_before


def test_probe_with_program_in_image_planned(web_stack: ComposeProject) -> None:
    engine = DockerEngine.connect()
    evidence = collect(web_stack, engine)
    test = [
        "CMD",
        "python",
        "-c",
        "import urllib.request; urllib.request.urlopen('http://localhost:8000/')",
    ]

    repairs = plan_repairs(
        [healthcheck_finding(test)],
        evidence,
        SourceFacts(),
        program_exists=_program_probe(engine, evidence),
    )

    assert repairs[0].status == RepairStatus.PLANNED, repairs[0].reason
    assert "could not check" not in repairs[0].prediction
    assert "sends an HTTP request to http://localhost:8000/" in repairs[0].prediction
