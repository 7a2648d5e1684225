"""Collection and redeploys when the stack changes under them, against the real engine.

A container removed between listing and log reading must be left out of the
evidence with a warning, and a redeploy whose image fails to build must
leave the running containers as they were.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from stackmedic.engine import ComposeProject, DockerEngine
from stackmedic.evidence.collect import collect
from stackmedic.verify.deploy import ImagesNotReadyError, redeploy

pytestmark = pytest.mark.engine

BASE_IMAGE = "stackmedic/python-base:bookworm"

TWO_SERVICES = f"""\
services:
  keep:
    image: {BASE_IMAGE}
    init: true
    command: ["sh", "-c", "echo keep started && exec sleep 600"]
  vanish:
    image: {BASE_IMAGE}
    init: true
    command: ["sh", "-c", "echo vanish started && exec sleep 600"]
"""

BUILT_SERVICE = """\
services:
  app:
    build: ./app
    init: true
"""

GOOD_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
CMD ["sleep", "600"]
"""

BROKEN_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
RUN false
CMD ["sleep", "600"]
"""


class RemovingEngine(DockerEngine):
    """A DockerEngine that removes one container right before reading its logs."""

    def __init__(self, engine: DockerEngine, victim: str) -> None:
        super().__init__(engine.api)
        self.victim = victim
        self.removed: list[str] = []

    def container_logs(self, container_id: str, **kwargs: object) -> bytes:  # type: ignore[override]
        if container_id == self.victim:
            subprocess.run(["docker", "rm", "-f", container_id], check=True, capture_output=True,
                           timeout=60)
            self.removed.append(container_id)
        return super().container_logs(container_id, **kwargs)  # type: ignore[arg-type]


def container_ids(project: str) -> dict[str, str]:
    """Return service -> container id of a compose project's running containers."""
    listed = subprocess.run(
        ["docker", "ps", "--no-trunc", "--filter", f"label=com.docker.compose.project={project}",
         "--format", '{{.ID}} {{.Label "com.docker.compose.service"}}'],
        check=True, capture_output=True, text=True, timeout=60,
    )
    pairs = (line.split() for line in listed.stdout.splitlines() if line.strip())
    return {service: cid for cid, service in pairs}


def up(project: ComposeProject) -> None:
    project.up(build=True)


def test_collect_skips_container_removed_before_logs(
    tmp_path: Path, docker_engine: None, compose_cleanup: Callable[..., None]
) -> None:
    folder = tmp_path / "stack"
    folder.mkdir()
    (folder / "compose.yaml").write_text(TWO_SERVICES)
    name = f"smgone-{uuid.uuid4().hex[:8]}"
    compose_cleanup(folder, name)
    project = ComposeProject.open(folder, name=name)
    up(project)
    ids = container_ids(name)
    engine = RemovingEngine(DockerEngine.connect(), victim=ids["vanish"])

    evidence = collect(project, engine)

    assert engine.removed == [ids["vanish"]]
    assert [container.service for container in evidence.containers] == ["keep"]
    assert [line.text for line in evidence.containers[0].logs] == ["keep started"]
    assert len(evidence.warnings) == 1
    assert f"container {ids['vanish'][:12]} no longer exists" in evidence.warnings[0]
    assert "left out of the evidence" in evidence.warnings[0]


def test_failed_build_leaves_containers_running(
    tmp_path: Path, docker_engine: None, compose_cleanup: Callable[..., None]
) -> None:
    folder = tmp_path / "stack"
    (folder / "app").mkdir(parents=True)
    (folder / "compose.yaml").write_text(BUILT_SERVICE)
    dockerfile = folder / "app" / "Dockerfile"
    dockerfile.write_text(GOOD_DOCKERFILE)
    name = f"smbuild-{uuid.uuid4().hex[:8]}"
    compose_cleanup(folder, name)
    project = ComposeProject.open(folder, name=name)
    up(project)
    before = container_ids(name)
    assert list(before) == ["app"]

    dockerfile.write_text(BROKEN_DOCKERFILE)
    with pytest.raises(ImagesNotReadyError) as raised:
        redeploy(project, DockerEngine.connect(), settle_timeout=30)

    assert container_ids(name) == before
    assert "build" in raised.value.message
    assert any(call.startswith("docker compose build") for call in project.calls)
    assert not any(call.startswith("docker compose down") for call in project.calls)
