"""The Compose v2 CLI (`docker compose`) for config, build, pull, up and down."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackmedic.engine.docker_api import DEFAULT_ENDPOINT
from stackmedic.errors import ComposeError, ComposeFileError
from stackmedic.i18n import message

logger = logging.getLogger(__name__)

DEFAULT_COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")


def find_compose_files(project_dir: Path, names: list[str] | None = None) -> list[Path]:
    """Return the compose files to use, as Compose itself would pick them.

    Explicit `names` are taken relative to `project_dir`. Otherwise the first
    default name found is used, plus its `.override` file when present.
    """
    if not project_dir.is_dir():
        raise ComposeFileError(
            message("errors.compose.project_dir_not_found", path=str(project_dir))
        )
    if names:
        files = [(project_dir / name).resolve() for name in names]
        for path in files:
            if not path.is_file():
                raise ComposeFileError(message("errors.compose.file_not_found", path=str(path)))
        return files
    for name in DEFAULT_COMPOSE_FILES:
        candidate = project_dir / name
        if candidate.is_file():
            files = [candidate.resolve()]
            stem, suffix = name.rsplit(".", 1)
            override = project_dir / f"{stem}.override.{suffix}"
            if override.is_file():
                files.append(override.resolve())
            return files
    raise ComposeFileError(
        message(
            "errors.compose.no_compose_file",
            path=str(project_dir),
            names=", ".join(DEFAULT_COMPOSE_FILES),
        ),
        hint=message("errors.compose.hint.pass_file"),
    )


def compose_version() -> str:
    result = _run(["docker", "compose", "version", "--short"], timeout=30)
    return result.stdout.strip()


@dataclass
class ComposeProject:
    """One compose project: its directory, files and name.

    `env` is added to the environment of every `docker compose` call, for
    variables the files interpolate (image names, ports).
    """

    project_dir: Path
    files: list[Path]
    name: str = ""
    env: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    config_warnings: list[str] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        project_dir: Path,
        files: list[str] | None = None,
        name: str | None = None,
        env: dict[str, str] | None = None,
    ) -> ComposeProject:
        project_dir = project_dir.resolve()
        project = cls(project_dir, find_compose_files(project_dir, files), env=dict(env or {}))
        for path in project.files:
            validate_yaml(path)
        config = project.config()
        project.name = name or str(config.get("name") or "")
        if not project.name:
            raise ComposeError(message("errors.compose.no_project_name", path=str(project_dir)))
        return project

    def base_command(self) -> list[str]:
        command = ["docker", "compose", "--project-directory", str(self.project_dir)]
        for path in self.files:
            command += ["-f", str(path)]
        if self.name:
            command += ["-p", self.name]
        return command

    def config(self) -> dict[str, Any]:
        """Return the resolved configuration (`docker compose config --format json`)."""
        result = self._compose(["config", "--format", "json"], timeout=60, file_error=True)
        # Compose prints interpolation problems (an unset variable defaulting
        # to a blank string) as warnings on stderr and still succeeds.
        self.config_warnings = [
            line.strip() for line in result.stderr.splitlines()
            if "WARN" in line or "level=warning" in line
        ]
        try:
            return dict(json.loads(result.stdout))
        except json.JSONDecodeError as error:
            raise ComposeError(message("errors.compose.invalid_json", error=str(error))) from error

    def up(self, *, build: bool = True, timeout: float = 900) -> None:
        arguments = ["up", "-d", "--remove-orphans"]
        if build:
            arguments.insert(1, "--build")
        self._compose(arguments, timeout=timeout)

    def build(self, services: list[str] | None = None, *, timeout: float = 900) -> None:
        """Build the images of `services` (default: every service with a build section)."""
        self._compose(["build", *(services or [])], timeout=timeout)

    def pull(self, services: list[str], *, timeout: float = 900) -> None:
        """Pull the images of `services` from their registries."""
        self._compose(["pull", *services], timeout=timeout)

    def down(self, *, timeout: float = 300) -> None:
        """Stop and remove the project's containers and networks; volumes are kept."""
        self._compose(["down", "--remove-orphans"], timeout=timeout)

    def _compose(
        self, arguments: list[str], *, timeout: float, file_error: bool = False
    ) -> subprocess.CompletedProcess[str]:
        command = self.base_command() + arguments
        self.calls.append(" ".join(["docker", "compose", *arguments]))
        try:
            return _run(command, timeout=timeout, env=self.env, cwd=self.project_dir)
        except ComposeError as error:
            if file_error and _looks_like_file_error(error.stderr):
                raise ComposeFileError(
                    message("errors.compose.invalid_configuration", error=_first_line(error.stderr))
                ) from error
            raise


def _run(
    command: list[str],
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    if shutil.which(command[0]) is None:
        raise ComposeError(
            message("errors.compose.program_not_found", program=command[0]),
            command=command,
            hint=message("errors.compose.hint.install"),
        )
    logger.debug("running %s", " ".join(command))
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise ComposeError(
            message(
                "errors.compose.timed_out",
                command=" ".join(command[:2] + command[-3:]),
                seconds=round(timeout),
            ),
            command=command,
        ) from error
    if result.returncode != 0:
        stderr = result.stderr.strip()
        if "is not a docker command" in stderr or "unknown command" in stderr:
            raise ComposeError(message("errors.compose.not_installed"), command=command,
                               stderr=stderr, hint=message("errors.compose.hint.install"))
        if "Cannot connect to the Docker daemon" in stderr:
            endpoint = os.environ.get("DOCKER_HOST") or DEFAULT_ENDPOINT
            raise ComposeError(message("errors.engine.unreachable", endpoint=endpoint,
                                       error=_first_line(stderr)),
                               command=command, stderr=stderr,
                               hint=message("errors.compose.hint.start_engine"))
        raise ComposeError(
            message(
                "errors.compose.command_failed",
                command=" ".join(["docker", "compose", *command[-3:]]),
                error=_last_line(stderr),
            ),
            command=command,
            stderr=stderr,
        )
    return result


def _looks_like_file_error(stderr: str) -> bool:
    markers = ("yaml:", "validating", "invalid", "unsupported", "not found", "no such file",
               "additional properties", "required variable")
    lowered = stderr.lower()
    return any(marker in lowered for marker in markers)


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "(no output)"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def validate_yaml(path: Path) -> None:
    """Raise ComposeFileError with file:line when a compose file is not valid YAML.

    Compose reports the same problem without the file name when several files
    are given, so the files are parsed here first.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(path.read_bytes())
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ComposeFileError(
            message("errors.compose.invalid_yaml", location=where, problem=problem)
        ) from error
    except OSError as error:
        raise ComposeFileError(
            message("errors.compose.unreadable", path=str(path), error=error.strerror)
        ) from error
    if data is not None and not isinstance(data, dict):
        raise ComposeFileError(message("errors.compose.top_level_not_mapping", path=str(path)))
