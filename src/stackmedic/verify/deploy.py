"""Redeploying a project: images first, then `down` (volumes kept), `up -d`, then wait on events.

The images are built and pulled while the old containers still run, so a
configuration whose images cannot be made fails before anything is stopped.
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass
from typing import Any

from stackmedic.engine import ComposeProject, DockerEngine
from stackmedic.errors import ComposeError, ComposeFileError, EngineError
from stackmedic.verify.wait import SettleResult, wait_until_settled

logger = logging.getLogger(__name__)


@dataclass
class DeployResult:
    started_at: float
    up_seconds: float
    settle: SettleResult


class DeployStage(enum.IntEnum):
    """The steps of a redeploy, in order."""

    NOT_STARTED = 0
    IMAGES = 1
    DOWN = 2
    UP = 3
    SETTLE = 4
    DONE = 5


@dataclass
class DeployProgress:
    """The step a redeploy has reached, for a caller that Ctrl-C interrupts in the middle of one."""

    stage: DeployStage = DeployStage.NOT_STARTED

    @property
    def partly_deployed(self) -> bool:
        """True from the start of `down` to the end of `up`, when containers may be stopped, created or gone."""
        return self.stage in (DeployStage.DOWN, DeployStage.UP)


class ImagesNotReadyError(ComposeError):
    """Building or pulling the images failed before `down`, so the running containers were left as they were."""


def redeploy(project: ComposeProject, engine: DockerEngine, *, settle_timeout: float,
             recreate: bool = True, progress: DeployProgress | None = None) -> DeployResult:
    """Deploy the project's current files and wait until every container settles.

    Raises ImagesNotReadyError, with no container touched, when an image
    cannot be built or pulled, and ComposeError when `down` or `up` fails.
    With `recreate`, the project is taken down first so every container
    starts from the edited files; `down` never removes volumes. `progress`,
    when given, is updated as each step starts.
    """
    progress = progress or DeployProgress()
    started = time.time()
    progress.stage = DeployStage.IMAGES
    prepare_images(project, engine)

    if recreate:
        progress.stage = DeployStage.DOWN
        logger.info("docker compose down (volumes kept)")
        project.down()
    # The images were just built; `up` still builds one that is missing.
    progress.stage = DeployStage.UP
    logger.info("docker compose up -d")
    project.up(build=False)
    up_done = time.time()

    progress.stage = DeployStage.SETTLE
    settle = wait_until_settled(engine, project.name, settle_timeout)
    progress.stage = DeployStage.DONE
    logger.info(
        "containers %s after %.1f s", "settled" if settle.settled else "not settled", settle.seconds
    )
    return DeployResult(started_at=started, up_seconds=round(up_done - started, 3), settle=settle)


def prepare_images(project: ComposeProject, engine: DockerEngine) -> None:
    """Build every service with a build section and pull the missing images of the others.

    Raises ImagesNotReadyError when the files do not resolve, or a build or a pull fails.
    """
    try:
        services: dict[str, Any] = project.config().get("services") or {}
    except ComposeFileError as error:
        raise ImagesNotReadyError(error.translatable, hint=error.translatable_hint) from error
    built = sorted(name for name, service in services.items() if service.get("build"))
    missing = sorted(
        name for name, service in services.items()
        if not service.get("build") and service.get("image")
        and not _image_present(engine, str(service["image"]))
    )

    try:
        if built:
            logger.info("docker compose build %s", " ".join(built))
            project.build(built)
        if missing:
            logger.info("docker compose pull %s", " ".join(missing))
            project.pull(missing)
    except ComposeError as error:
        raise ImagesNotReadyError(error.translatable, command=error.command, stderr=error.stderr,
                                  hint=error.translatable_hint) from error


def _image_present(engine: DockerEngine, image: str) -> bool:
    try:
        return engine.image_exists(image)
    except EngineError as error:
        # `up` pulls a missing image itself; this check only moves a failing pull earlier.
        logger.debug("cannot inspect image %s: %s", image, error)
        return True
