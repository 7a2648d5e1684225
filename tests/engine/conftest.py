"""Fixtures for tests that run against a real Docker Engine with Compose v2."""

import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
ENGINE_SCRIPT = REPO_ROOT / "scripts" / "engine.sh"
# Building the base images with debootstrap takes a few minutes on first use.
ENGINE_SCRIPT_TIMEOUT_S = 1200
COMPOSE_DOWN_TIMEOUT_S = 180


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Run scripts/engine.sh, then skip the test only if `docker info` still fails."""
    try:
        setup = subprocess.run(
            ["bash", str(ENGINE_SCRIPT)],
            capture_output=True,
            check=False,
            text=True,
            timeout=ENGINE_SCRIPT_TIMEOUT_S,
        )
        if setup.returncode != 0:
            logger.warning(
                f"{ENGINE_SCRIPT} exited with {setup.returncode}: {setup.stderr.strip()[-500:]}"
            )
    except subprocess.TimeoutExpired:
        logger.warning(f"{ENGINE_SCRIPT} timed out after {ENGINE_SCRIPT_TIMEOUT_S} s")

    try:
        info = subprocess.run(
            ["docker", "info"], capture_output=True, check=False, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"no Docker Engine: docker info failed: {error}")
    if info.returncode != 0:
        pytest.skip(f"no Docker Engine: docker info failed: {info.stderr.strip()[-300:]}")


@pytest.fixture
def copy_to_tmp(tmp_path: Path) -> Callable[[Path], Path]:
    """Return a function that copies a folder into tmp_path and returns the copy."""

    def copy(source: Path) -> Path:
        target = tmp_path / source.name
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        return target

    return copy


def compose_down(
    project_dir: Path,
    project_name: str,
    *,
    remove_volumes: bool = False,
    remove_images: bool = False,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `docker compose -p NAME down --remove-orphans` in project_dir.

    remove_volumes adds -v, which deletes the project's named volumes: pass it
    only for a project the test created. remove_images adds `--rmi local` and
    then deletes any image still labelled with the project, which covers
    images built by an `up` that failed before creating containers.
    """
    command = ["docker", "compose", "-p", project_name, "down", "--remove-orphans"]
    if remove_volumes:
        command.append("-v")
    if remove_images:
        command += ["--rmi", "local"]
    result = subprocess.run(
        command,
        cwd=project_dir,
        env={**os.environ, **(env or {})},
        capture_output=True,
        check=False,
        text=True,
        timeout=COMPOSE_DOWN_TIMEOUT_S,
    )
    if result.returncode != 0:
        logger.warning(f"compose down of {project_name} failed: {result.stderr.strip()[-500:]}")

    if remove_images:
        listed = subprocess.run(
            [
                "docker",
                "image",
                "ls",
                "-q",
                "--filter",
                f"label=com.docker.compose.project={project_name}",
            ],
            capture_output=True,
            check=False,
            text=True,
            timeout=60,
        )
        leftover = sorted(set(listed.stdout.split()))
        if leftover:
            subprocess.run(
                ["docker", "image", "rm", "-f", *leftover],
                capture_output=True,
                check=False,
                timeout=120,
            )
    return result


@pytest.fixture
def compose_cleanup() -> Iterator[Callable[..., None]]:
    """Return a function that registers a compose project for removal at teardown.

    Teardown removes the project's containers, networks, named volumes and
    the images its builds produced.
    """
    projects: list[tuple[Path, str, dict[str, str]]] = []

    def register(
        project_dir: Path, project_name: str, env: Mapping[str, str] | None = None
    ) -> None:
        projects.append((project_dir, project_name, dict(env or {})))

    yield register

    for project_dir, project_name, env in reversed(projects):
        compose_down(project_dir, project_name, remove_volumes=True, remove_images=True, env=env)
