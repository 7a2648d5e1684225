"""The redeploy makes the images before it stops anything, on a fake project that records its calls."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from stackmedic.errors import ComposeError, ComposeFileError, EngineError
from stackmedic.verify import deploy as deploy_module
from stackmedic.verify.deploy import (
    DeployProgress,
    DeployStage,
    ImagesNotReadyError,
    prepare_images,
    redeploy,
)
from stackmedic.verify.wait import SettleResult

CONFIG = {
    "services": {
        "api": {"build": {"context": "/src/api"}, "image": "app-api"},
        "worker": {"build": {"context": "/src/worker"}},
        "redis": {"image": "stackmedic/redis:bookworm"},
        "proxy": {"image": "example/proxy:1"},
    }
}


class RecordingProject:
    """A stand-in for ComposeProject that records each `docker compose` step and can fail one."""

    def __init__(self, fail: str | None = None, config: dict[str, Any] | None = None) -> None:
        self.name = "order"
        self.steps: list[str] = []
        self.fail = fail
        self.config_data = CONFIG if config is None else config
        self.progress_seen: list[DeployStage] = []
        self.progress: DeployProgress | None = None

    def _step(self, step: str) -> None:
        self.steps.append(step)
        if self.progress is not None:
            self.progress_seen.append(self.progress.stage)
        if self.fail is not None and step.startswith(self.fail):
            raise ComposeError(f"docker compose {step} failed: exit code 1", stderr="RUN false")

    def config(self) -> dict[str, Any]:
        self._step("config")
        if self.fail == "config-file":
            raise ComposeFileError("compose file is invalid: services.api.ports must be a list")
        return self.config_data

    def build(self, services: list[str] | None = None) -> None:
        self._step("build " + " ".join(services or []))

    def pull(self, services: list[str]) -> None:
        self._step("pull " + " ".join(services))

    def down(self) -> None:
        self._step("down")

    def up(self, *, build: bool = True) -> None:
        self._step("up --build" if build else "up")


class ImageEngine:
    """Knows the images in `present`; inspecting any other one is a 404."""

    def __init__(self, present: set[str], broken: bool = False) -> None:
        self.present = present
        self.broken = broken

    def image_exists(self, image: str) -> bool:
        if self.broken:
            raise EngineError("GET /images/x/json failed: server error")
        return image in self.present


@pytest.fixture(autouse=True)
def settled_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def settle(engine: Any, project: str, timeout: float) -> SettleResult:
        return SettleResult(True, 0.0, time.time(), 0, [])

    monkeypatch.setattr(deploy_module, "wait_until_settled", settle)


def run_redeploy(project: RecordingProject, engine: ImageEngine, **options: Any) -> Any:
    return redeploy(project, engine, settle_timeout=5, **options)  # type: ignore[arg-type]


def test_images_built_before_down() -> None:
    project = RecordingProject()

    run_redeploy(project, ImageEngine({"stackmedic/redis:bookworm", "example/proxy:1"}))

    assert project.steps == ["config", "build api worker", "down", "up"]


def test_missing_image_pulled_before_down() -> None:
    project = RecordingProject()

    run_redeploy(project, ImageEngine({"stackmedic/redis:bookworm"}))

    assert project.steps == ["config", "build api worker", "pull proxy", "down", "up"]


def test_build_failure_leaves_stack_up() -> None:
    project = RecordingProject(fail="build")

    with pytest.raises(ImagesNotReadyError) as raised:
        run_redeploy(project, ImageEngine({"stackmedic/redis:bookworm", "example/proxy:1"}))

    assert project.steps == ["config", "build api worker"]
    assert "down" not in project.steps
    assert "build api worker failed" in raised.value.message
    assert raised.value.stderr == "RUN false"


def test_pull_failure_leaves_stack_up() -> None:
    project = RecordingProject(fail="pull")

    with pytest.raises(ImagesNotReadyError):
        run_redeploy(project, ImageEngine({"stackmedic/redis:bookworm"}))

    assert "down" not in project.steps
    assert "up" not in project.steps


def test_invalid_edited_file_leaves_stack_up() -> None:
    project = RecordingProject(fail="config-file")

    with pytest.raises(ImagesNotReadyError, match="ports must be a list"):
        run_redeploy(project, ImageEngine(set()))

    assert project.steps == ["config"]


def test_up_failure_is_not_images_not_ready() -> None:
    project = RecordingProject(fail="up")

    with pytest.raises(ComposeError) as raised:
        run_redeploy(project, ImageEngine({"stackmedic/redis:bookworm", "example/proxy:1"}))

    assert not isinstance(raised.value, ImagesNotReadyError)
    assert project.steps[-2:] == ["down", "up"]


def test_without_recreate_no_down() -> None:
    project = RecordingProject()

    run_redeploy(project, ImageEngine({"stackmedic/redis:bookworm", "example/proxy:1"}), recreate=False)

    assert project.steps == ["config", "build api worker", "up"]


def test_project_without_build_sections_builds_nothing() -> None:
    project = RecordingProject(config={"services": {"redis": {"image": "stackmedic/redis:bookworm"}}})

    prepare_images(project, ImageEngine({"stackmedic/redis:bookworm"}))  # type: ignore[arg-type]

    assert project.steps == ["config"]


def test_unreadable_image_list_leaves_pull_to_up() -> None:
    project = RecordingProject()

    prepare_images(project, ImageEngine(set(), broken=True))  # type: ignore[arg-type]

    assert project.steps == ["config", "build api worker"]


def test_progress_follows_each_step() -> None:
    project = RecordingProject()
    progress = DeployProgress()
    project.progress = progress

    run_redeploy(project, ImageEngine({"stackmedic/redis:bookworm", "example/proxy:1"}), progress=progress)

    assert project.progress_seen == [DeployStage.IMAGES, DeployStage.IMAGES, DeployStage.DOWN, DeployStage.UP]
    assert progress.stage == DeployStage.DONE
    assert progress.partly_deployed is False


@pytest.mark.parametrize(
    ("stage", "partly"),
    [
        (DeployStage.NOT_STARTED, False),
        (DeployStage.IMAGES, False),
        (DeployStage.DOWN, True),
        (DeployStage.UP, True),
        (DeployStage.SETTLE, False),
        (DeployStage.DONE, False),
    ],
)
def test_partly_deployed_only_between_down_and_up(stage: DeployStage, partly: bool) -> None:
    assert DeployProgress(stage).partly_deployed is partly


# The compose commands


def test_compose_build_and_pull_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stackmedic.engine import compose as compose_module

    commands: list[list[str]] = []
    monkeypatch.setattr(compose_module, "_run", lambda command, **kwargs: commands.append(command))
    project = compose_module.ComposeProject(tmp_path, [tmp_path / "compose.yml"], name="order")

    project.build(["api", "worker"])
    project.pull(["proxy"])

    assert commands[0][-3:] == ["build", "api", "worker"]
    assert commands[1][-2:] == ["pull", "proxy"]
    assert project.calls == ["docker compose build api worker", "docker compose pull proxy"]
