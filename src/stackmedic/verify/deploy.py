"""Redeploying a project: `down` (volumes kept), `up --build -d`, then wait on events."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from stackmedic.engine import ComposeProject, DockerEngine
from stackmedic.verify.wait import SettleResult, wait_until_settled

logger = logging.getLogger(__name__)


@dataclass
class DeployResult:
    started_at: float
    up_seconds: float
    settle: SettleResult


def redeploy(project: ComposeProject, engine: DockerEngine, *, settle_timeout: float,
             recreate: bool = True) -> DeployResult:
    """Deploy the project's current files and wait until every container settles.

    With `recreate`, the project is taken down first so every container
    starts from the edited files; `down` never removes volumes.
    """
    started = time.time()
    if recreate:
        logger.info("docker compose down (volumes kept)")
        project.down()
    logger.info("docker compose up --build -d")
    project.up(build=True)
    up_done = time.time()
    settle = wait_until_settled(engine, project.name, settle_timeout)
    logger.info(
        "containers %s after %.1f s", "settled" if settle.settled else "not settled", settle.seconds
    )
    return DeployResult(started_at=started, up_seconds=round(up_done - started, 3), settle=settle)
