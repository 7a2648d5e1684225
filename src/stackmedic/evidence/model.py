"""The evidence one DIAGNOSE step gathers, as plain data.

Every item records how and when it was collected (`Provenance`), so a report
can name which Engine API call or command produced a line. Nothing here talks
to the engine: `stackmedic.evidence.collect` fills these from it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from stackmedic.i18n import Message, message

# The kinds of evidence a collection can lack; `Evidence.missing_evidence`
# holds some of them and each pattern declares the ones it reads.
EVIDENCE_KINDS = ("compose", "state", "health_log", "log", "source")


def utc_now() -> str:
    """Return the current time as an ISO-8601 UTC string with milliseconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass
class Provenance:
    """The source of one evidence item.

    `method` is one of engine-api, compose-cli, filesystem, bundle; `call` is
    the API endpoint or the command line.
    """

    method: str
    call: str
    collected_at: str = field(default_factory=utc_now)


@dataclass
class HealthProbe:
    """One run of a container's health-check probe, as the engine stored it."""

    start: str
    end: str
    exit_code: int
    output: str


@dataclass
class LogLine:
    """One log line of a container.

    `number` counts from 1 within the collected tail, so evidence can cite it.
    `timestamp` is the engine's RFC 3339 timestamp when logs were read with
    timestamps, else None.
    """

    number: int
    text: str
    timestamp: str | None = None
    stream: str = "stdout"


@dataclass
class ContainerEvidence:
    """State, health, configuration and log tail of one container."""

    id: str
    name: str
    service: str
    image: str
    state: str
    health: str | None = None
    health_log: list[HealthProbe] = field(default_factory=list)
    healthcheck: dict[str, Any] | None = None
    exit_code: int | None = None
    oom_killed: bool = False
    restart_count: int = 0
    error: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    replica: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    networks: dict[str, str] = field(default_factory=dict)
    logs: list[LogLine] = field(default_factory=list)
    logs_truncated: bool = False
    provenance: list[Provenance] = field(default_factory=list)

    @property
    def is_running(self) -> bool:
        return self.state == "running"


@dataclass
class SourceFile:
    """A text file from a service's build context.

    `path` is relative to the project directory; `container_path` is where the
    Dockerfile copies it inside the image, when that could be worked out.
    """

    service: str
    path: str
    text: str
    container_path: str | None = None


@dataclass
class Evidence:
    """Everything one collection step gathered about a compose project."""

    project_name: str
    project_dir: str
    compose_files: list[str]
    compose_config: dict[str, Any]
    containers: list[ContainerEvidence] = field(default_factory=list)
    sources: list[SourceFile] = field(default_factory=list)
    collected_at: str = field(default_factory=utc_now)
    provenance: list[Provenance] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # The catalogue form of those `warnings` that have one, matched by text.
    warning_messages: list[Message] = field(default_factory=list)
    # The compose files as written, before interpolation, by path. Patterns
    # compare them with `compose_config` (a `${X}` that resolved to "").
    compose_texts: dict[str, str] = field(default_factory=dict)
    # Kinds of evidence (EVIDENCE_KINDS) the collector could not provide, as
    # with a hand-written bundle that has no ps.txt.
    missing_evidence: list[str] = field(default_factory=list)

    def add_warning(self, key: str, /, **params: Any) -> None:
        """Append a warning in English to `warnings` and its catalogue form to `warning_messages`."""
        warning = message(key, **params)
        self.warnings.append(warning.text)
        self.warning_messages.append(warning)

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        """The resolved compose configuration of every service, by name."""
        services = self.compose_config.get("services") or {}
        return dict(services)

    def containers_of(self, service: str) -> list[ContainerEvidence]:
        return [c for c in self.containers if c.service == service]

    def sources_of(self, service: str) -> list[SourceFile]:
        return [s for s in self.sources if s.service == service]

    def depends_on(self, service: str) -> list[str]:
        """Return the services `service` depends on, in either compose form."""
        declared = self.services.get(service, {}).get("depends_on") or {}
        if isinstance(declared, list):
            return [str(name) for name in declared]
        return [str(name) for name in declared]
