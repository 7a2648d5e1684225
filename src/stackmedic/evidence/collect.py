"""Live evidence collection (DIAGNOSE-01) from the Docker Engine and Compose.

Container state comes from the Engine API's inspect payload, never from
`docker ps` text; the resolved configuration from `docker compose config`;
the source from the build contexts on disk. Each item records how and when it
was collected.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from stackmedic.engine import ComposeProject, DockerEngine
from stackmedic.engine.docker_api import REPLICA_LABEL, SERVICE_LABEL
from stackmedic.errors import ContainerGoneError
from stackmedic.evidence.logs import parse_log_bytes
from stackmedic.evidence.model import (
    ContainerEvidence,
    Evidence,
    HealthProbe,
    Provenance,
    SourceFile,
)

logger = logging.getLogger(__name__)

DEFAULT_LOG_TAIL = 500
# Build contexts can be whole repositories; these bound what is read.
MAX_SOURCE_FILE_BYTES = 256 * 1024
MAX_SOURCE_BYTES_PER_SERVICE = 8 * 1024 * 1024
SOURCE_SUFFIXES = {
    ".py", ".js", ".mjs", ".cjs", ".ts", ".go", ".java", ".rb", ".php", ".rs", ".sh", ".bash",
    ".sql", ".toml", ".cfg", ".ini", ".conf", ".yaml", ".yml", ".json", ".env", ".txt", ".properties",
}
SOURCE_NAMES = {"Dockerfile", "Containerfile", "Makefile", "Procfile", "entrypoint", "requirements.txt"}
SKIPPED_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv", ".mypy_cache",
                ".pytest_cache", ".stackmedic", "dist", "build", "target", ".tox"}


def collect(
    project: ComposeProject,
    engine: DockerEngine,
    *,
    log_tail: int = DEFAULT_LOG_TAIL,
    config: dict[str, Any] | None = None,
) -> Evidence:
    """Collect the evidence of one compose project.

    A container that disappears while it is being read becomes a warning in
    the evidence, not an error.
    """
    config_call = " ".join(project.base_command()[:2] + ["config", "--format", "json"])
    if config is None:
        config = project.config()
    evidence = Evidence(
        project_name=project.name,
        project_dir=str(project.project_dir),
        compose_files=[str(path) for path in project.files],
        compose_config=config,
        provenance=[Provenance("compose-cli", config_call)],
        warnings=list(project.config_warnings),
        compose_texts={str(path): _read_text(path) for path in project.files},
    )

    listed = engine.project_containers(project.name)
    evidence.provenance.append(Provenance("engine-api", "GET /containers/json?all=1"))
    for entry in sorted(listed, key=lambda item: item.get("Names", [""])[0]):
        try:
            evidence.containers.append(_collect_container(engine, entry["Id"], log_tail))
        except ContainerGoneError as error:
            evidence.add_warning("warnings.collect.container_gone", error=error.translatable)
            logger.warning("%s", evidence.warnings[-1])

    evidence.sources = collect_sources(project.project_dir, config)
    evidence.provenance.append(
        Provenance("filesystem", f"read {len(evidence.sources)} files from the build contexts")
    )
    return evidence


def _collect_container(engine: DockerEngine, container_id: str, log_tail: int) -> ContainerEvidence:
    inspect_call = f"GET /containers/{container_id[:12]}/json"
    attrs = engine.inspect_container(container_id)
    inspected = Provenance("engine-api", inspect_call)
    raw_logs = engine.container_logs(container_id, tail=log_tail)
    logged = Provenance("engine-api", f"GET /containers/{container_id[:12]}/logs?tail={log_tail}&timestamps=1")
    container = container_from_inspect(attrs)
    container.logs = parse_log_bytes(raw_logs)
    container.logs_truncated = len(container.logs) >= log_tail
    container.provenance = [inspected, logged]
    return container


def container_from_inspect(attrs: dict[str, Any]) -> ContainerEvidence:
    """Build a `ContainerEvidence` (without logs) from an Engine inspect payload."""
    state = attrs.get("State") or {}
    config = attrs.get("Config") or {}
    labels = config.get("Labels") or {}
    health = state.get("Health") or {}
    replica = labels.get(REPLICA_LABEL)
    networks = ((attrs.get("NetworkSettings") or {}).get("Networks")) or {}

    return ContainerEvidence(
        id=str(attrs.get("Id", "")),
        name=str(attrs.get("Name", "")).lstrip("/"),
        service=str(labels.get(SERVICE_LABEL, "")),
        image=str(config.get("Image", "")),
        state=str(state.get("Status", "unknown")),
        health=health.get("Status") or None,
        health_log=[
            HealthProbe(
                start=str(probe.get("Start", "")),
                end=str(probe.get("End", "")),
                exit_code=int(probe.get("ExitCode", -1)),
                output=str(probe.get("Output", "")).strip(),
            )
            for probe in health.get("Log") or []
        ],
        healthcheck=config.get("Healthcheck"),
        exit_code=state.get("ExitCode"),
        oom_killed=bool(state.get("OOMKilled", False)),
        restart_count=int(attrs.get("RestartCount", 0) or 0),
        error=str(state.get("Error", "") or ""),
        started_at=_engine_time(state.get("StartedAt")),
        finished_at=_engine_time(state.get("FinishedAt")),
        replica=int(replica) if replica and str(replica).isdigit() else None,
        env=_env_to_dict(config.get("Env") or []),
        networks={name: str(net.get("IPAddress", "")) for name, net in networks.items()},
    )


def collect_sources(project_dir: Path, config: dict[str, Any]) -> list[SourceFile]:
    """Read the text files of every service's build context."""
    sources: list[SourceFile] = []
    contexts: dict[Path, list[str]] = {}
    for name, service in (config.get("services") or {}).items():
        build = service.get("build")
        if not build:
            continue
        context = build.get("context") if isinstance(build, dict) else build
        if not context or "://" in str(context):
            continue
        path = Path(context)
        if not path.is_absolute():
            path = project_dir / path
        contexts.setdefault(path.resolve(), []).append(name)

    for context, services in contexts.items():
        files = list(_walk_text_files(context))
        for service in services:
            for path, text in files:
                sources.append(SourceFile(service=service, path=_relative(path, project_dir), text=text))
    return sources


def _walk_text_files(root: Path) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    total = 0
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in SKIPPED_DIRS)
        for name in sorted(names):
            path = Path(directory) / name
            if not _is_source_name(name) or path.is_symlink():
                continue
            try:
                size = path.stat().st_size
                if size > MAX_SOURCE_FILE_BYTES:
                    continue
                data = path.read_bytes()
            except OSError as error:
                logger.debug("skipping %s: %s", path, error)
                continue
            if b"\x00" in data:
                continue
            total += size
            if total > MAX_SOURCE_BYTES_PER_SERVICE:
                logger.warning("build context %s exceeds %d bytes; later files skipped",
                               root, MAX_SOURCE_BYTES_PER_SERVICE)
                return found
            found.append((path, data.decode("utf-8", errors="replace")))
    return found


def _is_source_name(name: str) -> bool:
    if name in SOURCE_NAMES or name.startswith(("Dockerfile", "Containerfile")):
        return True
    return Path(name).suffix.lower() in SOURCE_SUFFIXES


def _relative(path: Path, project_dir: Path) -> str:
    try:
        return path.relative_to(project_dir).as_posix()
    except ValueError:
        return os.path.relpath(path, project_dir)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        logger.debug("cannot read %s: %s", path, error)
        return ""


def _env_to_dict(entries: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in entries:
        name, _, value = entry.partition("=")
        env[name] = value
    return env


def _engine_time(value: Any) -> str | None:
    # The engine reports "0001-01-01T00:00:00Z" for a time that never happened.
    if not value or str(value).startswith("0001-"):
        return None
    return str(value)

