"""Small builders for Evidence, source facts and analysis contexts in pattern tests.

Times are fixed: containers log from BASE_TIME on, and the evidence is
collected at BASE_TIME + 120 s unless a test sets another time.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from stackmedic.evidence.facts import (
    Endpoint,
    EnvRead,
    SourceFacts,
)
from stackmedic.evidence.model import (
    ContainerEvidence,
    Evidence,
    HealthProbe,
    LogLine,
    SourceFile,
)
from stackmedic.model import Finding
from stackmedic.patterns.base import AnalysisContext, Pattern

BASE_TIME = dt.datetime(2026, 12, 4, 20, 31, 0, tzinfo=dt.UTC)
PROJECT_DIR = "/srv/project"


def at(seconds: float) -> str:
    """Return the RFC 3339 time `seconds` after BASE_TIME, as the engine writes it."""
    moment = BASE_TIME + dt.timedelta(seconds=seconds)
    return moment.isoformat().replace("+00:00", "Z")


def logs(*entries: str | tuple[float, str], start: float = 0.0, step: float = 1.0) -> list[LogLine]:
    """Build numbered log lines; an entry is text, or (seconds after BASE_TIME, text)."""
    lines = []
    moment = start
    for number, entry in enumerate(entries, start=1):
        if isinstance(entry, tuple):
            moment, text = entry
        else:
            text = entry
        lines.append(LogLine(number=number, text=text, timestamp=at(moment)))
        moment += step
    return lines


def probe(exit_code: int, output: str, seconds: float = 60.0) -> HealthProbe:
    return HealthProbe(start=at(seconds), end=at(seconds + 0.2), exit_code=exit_code, output=output)


def container(
    name: str,
    service: str,
    *,
    state: str = "running",
    health: str | None = None,
    lines: list[LogLine] | None = None,
    **fields: Any,
) -> ContainerEvidence:
    return ContainerEvidence(
        id=f"id-{name}",
        name=name,
        service=service,
        image=fields.pop("image", f"project-{service}"),
        state=state,
        health=health,
        logs=lines or [],
        **fields,
    )


def evidence(
    services: dict[str, dict[str, Any]],
    containers: list[ContainerEvidence] | None = None,
    sources: list[SourceFile] | None = None,
    *,
    collected_after: float = 120.0,
) -> Evidence:
    return Evidence(
        project_name="project",
        project_dir=PROJECT_DIR,
        compose_files=[f"{PROJECT_DIR}/docker-compose.yml"],
        compose_config={"name": "project", "services": services},
        containers=containers or [],
        sources=sources or [],
        collected_at=at(collected_after),
    )


def context(built: Evidence, facts: SourceFacts | None = None) -> AnalysisContext:
    return AnalysisContext(evidence=built, facts=facts or SourceFacts())


def run(pattern: Pattern, built: Evidence, facts: SourceFacts | None = None) -> list[Finding]:
    return pattern.match(context(built, facts))


def env_read(
    service: str, variable: str, default: str | None, path: str, line: int, required: bool = False
) -> EnvRead:
    return EnvRead(service, variable, default, path, line, required)


def endpoint(
    service: str,
    role: str,
    scheme: str,
    host: str | None,
    port: int | None,
    path: str,
    line: int,
    host_variable: str | None = None,
    port_variable: str | None = None,
    expression: str = "",
    function: str | None = None,
) -> Endpoint:
    return Endpoint(
        service,
        role,
        scheme,
        host,
        port,
        path,
        line,
        host_variable,
        port_variable,
        expression,
        function,
    )


# --- recorded-style evidence of the bundled sample -----------------------------

FIXTURES = Path(__file__).parent / "fixtures" / "evidence"


def load_evidence(name: str) -> Evidence:
    """Load a recorded-style evidence fixture: `<name>/evidence.json` plus `<name>/project/`.

    The JSON contains the compose config and the containers, and the project
    folder contains the build context files, read as the collector would read them.
    """
    folder = FIXTURES / name
    data = json.loads((folder / "evidence.json").read_text(encoding="utf-8"))
    containers = []
    for item in data["containers"]:
        item = dict(item)
        item["logs"] = [LogLine(**line) for line in item.get("logs", [])]
        item["health_log"] = [HealthProbe(**p) for p in item.get("health_log", [])]
        containers.append(ContainerEvidence(**item))

    project = folder / "project"
    sources = []
    for path in sorted(project.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(project).as_posix()
        text = path.read_bytes().decode("utf-8")
        for service in data["source_services"]:
            sources.append(SourceFile(service, relative, text, f"/app/{relative}"))

    return Evidence(
        project_name=data["project_name"],
        project_dir=data["project_dir"],
        compose_files=data["compose_files"],
        compose_config=data["compose_config"],
        containers=containers,
        sources=sources,
        collected_at=data["collected_at"],
    )
