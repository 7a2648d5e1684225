"""Containers removed while they are read, on recorded Engine error payloads.

The errors are built the way the Docker SDK builds them from an HTTP
response, with the status code and the JSON `message` that Docker Engine
20.10 returns. The "removal ... already in progress" text is the exception:
no test against the engine has produced it.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import requests
import urllib3.exceptions

from stackmedic.engine import ComposeProject, docker_api
from stackmedic.engine.docker_api import DockerEngine, is_container_gone
from stackmedic.errors import ContainerGoneError, EngineError, EngineUnavailableError
from stackmedic.evidence.collect import collect
from stackmedic.i18n import Message

LOGS_OF_DEAD = "can not get logs from container which is dead or marked for removal"
REMOVAL_IN_PROGRESS = "removal of container {id} is already in progress"
NO_SUCH_CONTAINER = "No such container: {id}"
NOT_RUNNING = "Container {id} is not running"
PATH_NOT_FOUND = "Could not find the file /data/app.db in container {id}"


def api_error(status: int, text: str, url: str = "http+docker://localhost/v1.41/x") -> docker.errors.APIError:
    """Return the SDK error for an Engine response with `status` and JSON message `text`."""
    response = requests.Response()
    response.status_code = status
    response.url = url
    response.reason = {404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}[status]
    response._content = f'{{"message": "{text}"}}'.encode()
    try:
        docker.errors.create_api_error_from_http_exception(requests.exceptions.HTTPError(response=response))
    except docker.errors.APIError as error:
        return error
    raise AssertionError("the SDK raised no APIError")


def tar_of(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        member = tarfile.TarInfo(name)
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


class FakeAPIClient:
    """A stand-in for `docker.APIClient`: three containers, some of which fail as configured."""

    def __init__(self, failures: dict[tuple[str, str], docker.errors.APIError]) -> None:
        self.failures = failures
        self.calls: list[tuple[str, str]] = []

    def _maybe_fail(self, call: str, container: str) -> None:
        self.calls.append((call, container))
        failure = self.failures.get((call, container))
        if failure is not None:
            raise failure

    def containers(self, **kwargs: Any) -> list[dict[str, Any]]:
        return [{"Id": cid, "Names": [f"/app-{cid}-1"]} for cid in ("aaa", "bbb", "ccc")]

    def inspect_container(self, container: str) -> dict[str, Any]:
        self._maybe_fail("inspect", container)
        return {
            "Id": container,
            "Name": f"/app-{container}-1",
            "State": {"Status": "running", "ExitCode": 0},
            "Config": {"Image": "app:1", "Labels": {"com.docker.compose.service": container}},
        }

    def logs(self, container: str, **kwargs: Any) -> bytes:
        self._maybe_fail("logs", container)
        return f"2026-12-04T10:00:00.000000000Z {container} started\n".encode()

    def get_archive(self, container: str, path: str) -> tuple[list[bytes], dict[str, Any]]:
        self._maybe_fail("archive", container)
        data = tar_of("app.db", b"contents")
        return [data], {"size": 8}

    def exec_create(self, container: str, command: list[str]) -> dict[str, str]:
        self._maybe_fail("exec_create", container)
        return {"Id": f"exec-{container}"}

    def exec_start(self, exec_id: str) -> bytes:
        self._maybe_fail("exec_start", exec_id.removeprefix("exec-"))
        return b"ok\n"

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return {"ExitCode": 0}


def engine_failing(failures: dict[tuple[str, str], docker.errors.APIError]) -> DockerEngine:
    return DockerEngine(FakeAPIClient(failures))  # type: ignore[arg-type]


def project(tmp_path: Path) -> ComposeProject:
    compose = tmp_path / "compose.yaml"
    compose.write_text("services: {}\n")
    return ComposeProject(tmp_path, [compose], name="app")


# Which errors mean "gone"


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (409, LOGS_OF_DEAD),
        (409, REMOVAL_IN_PROGRESS.format(id="bbb")),
        (404, NO_SUCH_CONTAINER.format(id="bbb")),
        (500, LOGS_OF_DEAD),
    ],
)
def test_removal_errors_count_as_gone(status: int, text: str) -> None:
    assert is_container_gone(api_error(status, text)) is True


@pytest.mark.parametrize(
    ("status", "text"),
    [
        # A stopped container still exists: exec fails, but collection keeps it.
        (409, NOT_RUNNING.format(id="bbb")),
        (404, PATH_NOT_FOUND.format(id="bbb")),
        (500, "driver failed programming external connectivity"),
    ],
)
def test_other_errors_not_counted_as_gone(status: int, text: str) -> None:
    assert is_container_gone(api_error(status, text)) is False


# Each per-container call


def test_logs_of_container_marked_for_removal_raise_gone() -> None:
    engine = engine_failing({("logs", "bbb"): api_error(409, LOGS_OF_DEAD)})

    with pytest.raises(ContainerGoneError) as raised:
        engine.container_logs("bbb", tail=10)

    assert raised.value.container == "bbb"
    assert "no longer exists" in raised.value.message
    assert "/logs" in raised.value.message


def test_inspect_of_removed_container_raises_gone() -> None:
    engine = engine_failing({("inspect", "bbb"): api_error(404, NO_SUCH_CONTAINER.format(id="bbb"))})

    with pytest.raises(ContainerGoneError):
        engine.inspect_container("bbb")


def test_inspect_during_removal_raises_gone() -> None:
    error = api_error(409, REMOVAL_IN_PROGRESS.format(id="bbb"))
    engine = engine_failing({("inspect", "bbb"): error})

    with pytest.raises(ContainerGoneError):
        engine.inspect_container("bbb")


def test_other_conflict_stays_engine_error() -> None:
    engine = engine_failing({("logs", "bbb"): api_error(409, "configured logging driver does not support reading")})

    with pytest.raises(EngineError) as raised:
        engine.container_logs("bbb")

    assert not isinstance(raised.value, ContainerGoneError)
    assert "does not support reading" in raised.value.message


def test_archive_of_removed_container_raises_gone() -> None:
    engine = engine_failing({("archive", "bbb"): api_error(404, NO_SUCH_CONTAINER.format(id="bbb"))})

    with pytest.raises(ContainerGoneError):
        engine.read_file("bbb", "/data/app.db")


def test_archive_of_missing_path_stays_file_not_found() -> None:
    engine = engine_failing({("archive", "bbb"): api_error(404, PATH_NOT_FOUND.format(id="bbb"))})

    with pytest.raises(EngineError) as raised:
        engine.read_file("bbb", "/data/app.db")

    assert not isinstance(raised.value, ContainerGoneError)
    assert "/data/app.db not found in bbb" in raised.value.message


def test_archive_of_present_file_returns_bytes() -> None:
    assert engine_failing({}).read_file("bbb", "/data/app.db") == b"contents"


def test_exec_in_removed_container_raises_gone() -> None:
    engine = engine_failing({("exec_create", "bbb"): api_error(404, NO_SUCH_CONTAINER.format(id="bbb"))})

    with pytest.raises(ContainerGoneError):
        engine.exec("bbb", ["true"], timeout=5)


def test_exec_start_during_removal_raises_gone() -> None:
    engine = engine_failing({("exec_start", "bbb"): api_error(409, REMOVAL_IN_PROGRESS.format(id="bbb"))})

    with pytest.raises(ContainerGoneError):
        engine.exec("bbb", ["true"], timeout=5)


def test_exec_in_stopped_container_stays_engine_error() -> None:
    engine = engine_failing({("exec_create", "bbb"): api_error(409, NOT_RUNNING.format(id="bbb"))})

    with pytest.raises(EngineError) as raised:
        engine.exec("bbb", ["true"], timeout=5)

    assert not isinstance(raised.value, ContainerGoneError)


# Collection goes on without the container


@pytest.mark.parametrize(
    ("call", "status", "text"),
    [
        ("logs", 409, LOGS_OF_DEAD),
        ("logs", 404, NO_SUCH_CONTAINER.format(id="bbb")),
        ("inspect", 404, NO_SUCH_CONTAINER.format(id="bbb")),
        ("inspect", 409, REMOVAL_IN_PROGRESS.format(id="bbb")),
    ],
)
def test_collect_skips_container_removed_mid_read(tmp_path: Path, call: str, status: int, text: str) -> None:
    engine = engine_failing({(call, "bbb"): api_error(status, text)})

    evidence = collect(project(tmp_path), engine, config={"services": {}})

    assert [container.id for container in evidence.containers] == ["aaa", "ccc"]
    assert len(evidence.warnings) == 1
    assert "container bbb no longer exists" in evidence.warnings[0]
    assert "left out of the evidence" in evidence.warnings[0]
    assert evidence.warning_messages[0].key == "warnings.collect.container_gone"


def test_collect_keeps_logs_of_remaining_containers(tmp_path: Path) -> None:
    engine = engine_failing({("logs", "aaa"): api_error(409, LOGS_OF_DEAD)})

    evidence = collect(project(tmp_path), engine, config={"services": {}})

    assert [container.id for container in evidence.containers] == ["bbb", "ccc"]
    assert [line.text for line in evidence.containers[0].logs] == ["bbb started"]


def test_collect_still_fails_on_other_engine_errors(tmp_path: Path) -> None:
    engine = engine_failing({("logs", "bbb"): api_error(500, "driver failed to read the log file")})

    with pytest.raises(EngineError, match="driver failed to read the log file"):
        collect(project(tmp_path), engine, config={"services": {}})


@pytest.mark.parametrize(
    "cause, key",
    [
        (FileNotFoundError(2, "No such file or directory"), "errors.engine.reason.no_socket"),
        (ConnectionRefusedError(111, "Connection refused"), "errors.engine.reason.refused"),
        (PermissionError(13, "Permission denied"), "errors.engine.reason.permission"),
    ],
)
def test_unreachable_engine_names_the_socket_error(cause: OSError, key: str) -> None:
    # requests wraps urllib3's ProtocolError, which carries the socket error in its args.
    wrapped = requests.exceptions.ConnectionError(
        urllib3.exceptions.ProtocolError("Connection aborted.", cause)
    )

    reason = docker_api._unreachable_reason(wrapped)

    assert isinstance(reason, Message)
    assert reason.key == key


def test_unreachable_engine_without_socket_error_keeps_first_line() -> None:
    error = docker.errors.DockerException("Error while fetching server API version: boom\nmore")

    assert docker_api._unreachable_reason(error) == "Error while fetching server API version: boom"


def test_unreachable_engine_message_names_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/stackmedic-test.sock")

    with pytest.raises(EngineUnavailableError) as raised:
        docker_api.DockerEngine.connect(timeout=2)

    text, hint = raised.value.localized("zh-CN")
    assert "unix:///nonexistent/stackmedic-test.sock" in text
    assert "该位置没有套接字" in text
    assert hint is not None and "DOCKER_HOST" in hint
