"""Docker Engine API access through the Docker SDK's low-level client."""

from __future__ import annotations

import io
import logging
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests.exceptions

from stackmedic.errors import ContainerGoneError, EngineError, EngineUnavailableError
from stackmedic.i18n import Message, message

logger = logging.getLogger(__name__)

# The Docker SDK's endpoint when DOCKER_HOST is not set.
DEFAULT_ENDPOINT = "unix:///var/run/docker.sock"

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
REPLICA_LABEL = "com.docker.compose.container-number"

# Parts of Engine error messages, in lower case, that mean the container is
# removed or being removed. Docker Engine 20.10 returns 404 "No such
# container: ID" once it is removed, and 409 "can not get logs from container
# which is dead or marked for removal" while it is removed.
# NOTE: "removal of container ID is already in progress" (409) was not seen
# in a test; it is matched in case a call meets a removal that is running.
_GONE_MARKERS = ("no such container", "marked for removal", "removal of container")


@dataclass
class ExecResult:
    exit_code: int | None
    output: str
    timed_out: bool = False


class DockerEngine:
    """A connection to one Docker Engine.

    Every public method raises a `StackmedicError` subclass on failure: the
    engine being unreachable, a container that disappeared, or another API
    error with the engine's message.
    """

    def __init__(self, api: docker.APIClient) -> None:
        self.api = api

    @classmethod
    def connect(cls, timeout: int = 60) -> DockerEngine:
        """Connect using DOCKER_HOST and friends, negotiating the API version."""
        settings = docker.utils.kwargs_from_env()
        endpoint = str(settings.get("base_url") or DEFAULT_ENDPOINT)
        try:
            api = docker.APIClient(**settings, version="auto", timeout=timeout)
            api.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            raise EngineUnavailableError(
                message(
                    "errors.engine.unreachable", endpoint=endpoint, error=_unreachable_reason(error)
                ),
                hint=message("errors.engine.hint.start"),
            ) from error
        logger.debug("connected to Docker Engine API %s", api.api_version)
        return cls(api)

    def version(self) -> dict[str, Any]:
        return dict(self._call("GET /version", self.api.version))

    def image_exists(self, image: str) -> bool:
        """Tell whether the engine has the image `image` (a name, name:tag or ID) locally."""
        try:
            self._call(f"GET /images/{image}/json", self.api.inspect_image, image)
        except EngineError as error:
            if isinstance(error.__cause__, docker.errors.NotFound):
                return False
            raise
        return True

    def project_containers(self, project: str) -> list[dict[str, Any]]:
        """Return the list entries (not inspect payloads) of every container of a project."""
        return list(
            self._call(
                "GET /containers/json?all=1",
                self.api.containers,
                all=True,
                filters={"label": [f"{PROJECT_LABEL}={project}"]},
            )
        )

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        return dict(
            self._call(
                f"GET /containers/{container_id[:12]}/json",
                self.api.inspect_container,
                container_id,
                container=container_id,
            )
        )

    def container_logs(
        self,
        container_id: str,
        *,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> bytes:
        """Return stdout and stderr of a container with RFC 3339 timestamps."""
        kwargs: dict[str, Any] = {"stdout": True, "stderr": True, "timestamps": True}
        if tail is not None:
            kwargs["tail"] = tail
        if since is not None:
            kwargs["since"] = since
        if until is not None:
            kwargs["until"] = until
        result = self._call(
            f"GET /containers/{container_id[:12]}/logs",
            self.api.logs,
            container_id,
            container=container_id,
            **kwargs,
        )
        return bytes(result)

    def stream_logs(self, container_id: str, *, since: float) -> Any:
        """Follow a container's log from `since`; the caller must `close()` the stream."""
        return self._call(
            f"GET /containers/{container_id[:12]}/logs?follow=1",
            self.api.logs,
            container_id,
            container=container_id,
            stdout=True,
            stderr=True,
            timestamps=True,
            stream=True,
            follow=True,
            since=since,
        )

    def events(self, project: str, *, since: float, until: float) -> Any:
        """Stream the project's container events between two Unix times.

        The engine closes the stream at `until`, which is how waits get their
        timeout without sleeping.
        """
        return self._call(
            "GET /events",
            self.api.events,
            since=since,
            until=until,
            decode=True,
            filters={"type": ["container"], "label": [f"{PROJECT_LABEL}={project}"]},
        )

    def exec(self, container_id: str, command: list[str], *, timeout: float) -> ExecResult:
        """Run a command in a running container and return its exit code and output.

        The SDK has no exec timeout, so the call runs in a thread; when it
        overruns, the result has `timed_out` set and the command is left running
        inside the container.
        """
        exec_id = self._call(
            f"POST /containers/{container_id[:12]}/exec",
            self.api.exec_create,
            container_id,
            command,
            container=container_id,
        )["Id"]
        output: list[bytes] = []
        failure: list[BaseException] = []

        def read_output() -> None:
            try:
                output.append(bytes(self.api.exec_start(exec_id)))
            except Exception as error:  # noqa: BLE001 - re-raised below as EngineError
                failure.append(error)

        reader = threading.Thread(target=read_output, daemon=True)
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            return ExecResult(exit_code=None, output="", timed_out=True)
        if failure:
            call = f"POST /exec/{exec_id[:12]}/start"
            if isinstance(failure[0], docker.errors.APIError) and is_container_gone(failure[0]):
                raise ContainerGoneError(
                    message("errors.engine.container_gone", container=container_id[:12], call=call),
                    container=container_id,
                ) from failure[0]
            raise EngineError(
                message(
                    "errors.engine.exec_failed",
                    container=container_id[:12],
                    error=_short(failure[0]),
                ),
                container=container_id,
            )
        details = self._call(
            f"GET /exec/{exec_id[:12]}/json", self.api.exec_inspect, exec_id, container=container_id
        )
        text = (output[0] if output else b"").decode("utf-8", errors="replace")
        return ExecResult(exit_code=details.get("ExitCode"), output=text)

    def program_exists(self, container_id: str, program: str) -> bool | None:
        """Check whether `program` is on PATH (or is an executable path) inside a container.

        Returns None when the check cannot run, for example when the image has
        no shell to run `command -v` with.
        """
        probe = 'command -v "$0" >/dev/null 2>&1 || [ -x "$0" ]'
        try:
            result = self.exec(container_id, ["sh", "-c", probe, program], timeout=10)
        except EngineError as error:
            logger.debug("cannot probe for %s in %s: %s", program, container_id[:12], error)
            return None
        if result.timed_out or result.exit_code in (None, 126, 127):
            return None
        return result.exit_code == 0

    def read_file(self, container_id: str, path: str, *, max_bytes: int = 64 * 1024 * 1024) -> bytes:
        """Return the bytes of a regular file in a container (GET /containers/{id}/archive)."""
        call = f"GET /containers/{container_id[:12]}/archive?path={path}"
        try:
            stream, stat = self.api.get_archive(container_id, path)
        except docker.errors.APIError as error:
            # The engine returns 404 both for a missing path and for a missing
            # container, so only its message distinguishes them.
            if is_container_gone(error):
                raise ContainerGoneError(
                    message("errors.engine.container_gone", container=container_id[:12], call=call),
                    container=container_id,
                ) from error
            if isinstance(error, docker.errors.NotFound):
                raise EngineError(
                    message("errors.engine.file_not_found", path=path, container=container_id[:12]),
                    container=container_id,
                ) from error
            raise EngineError(
                message("errors.engine.call_failed", call=call, error=_short(error)),
                container=container_id,
            ) from error
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            raise EngineUnavailableError(
                message("errors.engine.lost", call=call, error=_short(error)),
                hint=message("errors.engine.hint.start"),
            ) from error
        if int(stat.get("size", 0)) > max_bytes:
            raise EngineError(
                message("errors.engine.file_too_large", path=path, max_bytes=max_bytes),
                container=container_id,
            )
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            member = archive.next()
            handle = archive.extractfile(member) if member is not None and member.isfile() else None
            if handle is None:
                raise EngineError(
                    message("errors.engine.not_regular_file", path=path), container=container_id
                )
            return handle.read()

    def _call(self, call: str, function: Any, *args: Any, container: str | None = None,
              **kwargs: Any) -> Any:
        logger.debug("engine call %s", call)
        try:
            return function(*args, **kwargs)
        except docker.errors.APIError as error:
            gone = isinstance(error, docker.errors.NotFound) or is_container_gone(error)
            if container and gone:
                raise ContainerGoneError(
                    message("errors.engine.container_gone", container=container[:12], call=call),
                    container=container,
                ) from error
            raise EngineError(
                message("errors.engine.call_failed", call=call, error=_short(error)),
                container=container,
            ) from error
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            raise EngineUnavailableError(
                message("errors.engine.lost", call=call, error=_short(error)),
                hint=message("errors.engine.hint.start"),
            ) from error


def is_container_gone(error: docker.errors.APIError) -> bool:
    """Tell whether an Engine API error reports its container as removed or being removed.

    A 409 "container ID is not running" is not one of them: that container
    still exists, stopped.
    """
    explanation = str(error.explanation or "").lower()
    return any(marker in explanation for marker in _GONE_MARKERS)


def iterate_stream(stream: Any) -> Iterator[Any]:
    """Iterate a docker-py stream, treating a connection closed by the engine as its end."""
    try:
        yield from stream
    except (requests.exceptions.RequestException, docker.errors.DockerException) as error:
        logger.debug("engine stream ended: %s", error)


def _unreachable_reason(error: BaseException) -> Message | str:
    """Name the operating-system reason a connection failed, else the error's first line."""
    reasons = (
        (FileNotFoundError, "errors.engine.reason.no_socket"),
        (ConnectionRefusedError, "errors.engine.reason.refused"),
        (PermissionError, "errors.engine.reason.permission"),
        (TimeoutError, "errors.engine.reason.timed_out"),
    )
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for kind, key in reasons:
            if isinstance(current, kind):
                return message(key)
        # requests and urllib3 keep the socket error in args or in the exception chain.
        pending += [arg for arg in current.args if isinstance(arg, BaseException)]
        pending += [link for link in (current.__cause__, current.__context__) if link is not None]
    return _short(error)


def _short(error: BaseException) -> str:
    explanation = getattr(error, "explanation", None)
    text = str(explanation or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
