"""The only room that talks to the Docker Engine and the Compose CLI.

`DockerEngine` wraps the Docker SDK's low-level API client; `ComposeProject`
runs `docker compose`. Both turn their failures into `stackmedic.errors`
exceptions once, here, keeping the engine's own message.
"""

from stackmedic.engine.compose import ComposeProject, compose_version
from stackmedic.engine.docker_api import DockerEngine, ExecResult

__all__ = ["ComposeProject", "DockerEngine", "ExecResult", "compose_version"]
