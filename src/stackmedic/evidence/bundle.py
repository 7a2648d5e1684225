"""Evidence bundles: the evidence of one diagnosis as a folder, saved or written by hand.

`save_bundle` writes what live collection gathered so it can be diagnosed
later, elsewhere, without an engine. `load_bundle` reads such a folder back,
and also a folder a person put together from a bug report: a compose file,
the `docker ps -a` table, a few logs. docs/bundle-format.md describes the
layout. In short:

    bundle.json               manifest (format stackmedic.bundle/v1); optional by hand
    compose.yaml              the configuration: resolved when saved, raw when by hand
    compose/<file>            the compose files as written (saved bundles)
    .env                      values for `${VAR}` in a raw compose file (optional)
    ps.txt                    `docker ps -a` or `docker compose ps` output (optional)
    compose-up.txt            output of `docker compose up`: engine errors, warnings (optional)
    inspect/<container>.json  stackmedic's container JSON, or raw `docker inspect` output
    logs/<name>.log           one log per container or service, `<RFC3339> <text>` lines
    src/<service>/<path>      source files, `path` relative to the project directory

A missing part lowers the confidence of the diagnosis: each absent kind of
evidence is named in `Evidence.warnings` and in `Evidence.missing_evidence`.
A missing or unreadable part never stops the load.

Saved bundles are masked with `stackmedic.redact`: logs, environment
values, health-probe output, engine errors, the configuration and the
compose files. NOTE: program source files are copied as they are, because
masking would change the code the analysis reads; configuration-like files
of the build context (.env, .yaml, .json, .ini, ...) are masked.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import posixpath
import re
import shutil
from dataclasses import asdict, fields
from pathlib import Path, PurePosixPath
from typing import Any

from ruamel.yaml import YAML

from stackmedic.errors import StackmedicError
from stackmedic.evidence.collect import container_from_inspect
from stackmedic.evidence.compose_raw import (
    ComposeParseError,
    load_yaml,
    normalize_config,
    parse_env_file,
    resolve_compose,
)
from stackmedic.evidence.logs import parse_log_bytes
from stackmedic.evidence.model import (
    EVIDENCE_KINDS,
    ContainerEvidence,
    Evidence,
    HealthProbe,
    LogLine,
    Provenance,
    SourceFile,
    utc_now,
)
from stackmedic.evidence.ps_text import (
    PsRow,
    common_project_prefix,
    parse_ps,
    service_of_container,
)
from stackmedic.i18n import Message, as_message, message, message_text
from stackmedic.redact import MASK, SecretMasker, redact_record, redact_source, redact_text

logger = logging.getLogger(__name__)

BUNDLE_FORMAT = "stackmedic.bundle/v1"
MANIFEST = "bundle.json"
COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
PS_NAMES = ("ps.txt", "docker-ps.txt")
UP_OUTPUT_NAMES = ("compose-up.txt", "compose-up.log")
# Compose prefixes its own messages with a level and a counter: WARN[0000] text.
_COMPOSE_LEVEL = re.compile(r"^(?:time=\S+ level=\w+ msg=|[A-Z]+\[\d+\]\s*)")
LOG_SUFFIXES = (".log", ".txt")
# Build-context files that hold configuration rather than code; saved masked.
_CONFIG_SUFFIXES = {
    ".env",
    ".ini",
    ".cfg",
    ".conf",
    ".yaml",
    ".yml",
    ".json",
    ".properties",
    ".toml",
    ".txt",
}
# An argument that names a secret, whose value is the next argument: --requirepass x.
_SECRET_FLAG = re.compile(
    r"^--?[\w.-]*(?:pass|secret|token|apikey|api-key|credential)[\w.-]*$", re.IGNORECASE
)
# `docker compose logs` prefixes each line with the container: "web-1  | text".
_COMPOSE_LOG_PREFIX = re.compile(r"^(?P<name>[A-Za-z0-9][\w.-]*)\s+\|\s?(?P<text>.*)$")
_PARENT = "__parent__"


class BundleError(StackmedicError):
    """An evidence bundle cannot be written, or has nothing that can be read."""


# --- saving ----------------------------------------------------------------------


def save_bundle(evidence: Evidence, directory: Path) -> None:
    """Write `evidence` as a bundle folder, masking secrets.

    `directory` must be missing, empty, or an earlier bundle (which is then
    replaced).
    """
    _prepare_directory(directory)
    config = _redact_config(evidence.compose_config)
    _write_yaml(directory / "compose.yaml", config)

    compose_names = _save_compose_files(evidence, directory)
    containers = [_save_container(container, directory) for container in evidence.containers]
    sources = _save_sources(evidence.sources, directory)

    manifest = {
        "format": BUNDLE_FORMAT,
        "project_name": evidence.project_name,
        "project_dir": evidence.project_dir,
        "collected_at": evidence.collected_at,
        "compose_resolved": True,
        "compose_files": compose_names,
        "containers": containers,
        "sources": sources,
        "provenance": [asdict(item) for item in evidence.provenance],
        "warnings": [redact_text(warning) for warning in evidence.warnings],
        "warning_messages": [_redact_message(warning) for warning in evidence.warning_messages],
        "missing_evidence": list(evidence.missing_evidence),
        "saved_at": utc_now(),
    }
    (directory / MANIFEST).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    logger.debug(
        "saved bundle %s: %d containers, %d source files",
        directory,
        len(containers),
        len(sources),
    )


def _redact_message(warning: Message) -> dict[str, Any]:
    """Return a warning's catalogue form for the manifest, masked like its text.

    Secrets the English text names are learned first and masked in every
    param. When the masked params no longer rebuild the masked text, only
    the text is kept (an empty key), so no translation shows more than it.
    """
    text = redact_text(warning.text)
    masker = SecretMasker()
    masker.learn(warning.text)
    params = masker.redact(_plain_params(warning.params))
    rebuilt = message_text(Message(key=warning.key, params=params), "en") if warning.key else ""
    if rebuilt != text:
        return {"key": "", "params": {}, "text": text}
    return {"key": warning.key, "params": params, "text": text}


def _plain_params(params: dict[str, Any]) -> dict[str, Any]:
    """Return `params` with nested messages as their JSON object form."""
    return {
        name: asdict(value) if isinstance(value, Message) else value
        for name, value in params.items()
    }


def _prepare_directory(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise BundleError(message("errors.bundle.not_a_directory", path=str(directory)))
    if directory.is_dir() and any(directory.iterdir()):
        if not (directory / MANIFEST).is_file():
            raise BundleError(
                message(
                    "errors.bundle.directory_not_empty", path=str(directory), manifest=MANIFEST
                ),
                hint=message("errors.bundle.hint.empty_directory"),
            )
        for part in ("compose", "inspect", "logs", "src"):
            shutil.rmtree(directory / part, ignore_errors=True)
        for name in (MANIFEST, "compose.yaml"):
            (directory / name).unlink(missing_ok=True)
    directory.mkdir(parents=True, exist_ok=True)


def _redact_config(config: dict[str, Any]) -> dict[str, Any]:
    redacted: dict[str, Any] = redact_record(config)
    for service in (redacted.get("services") or {}).values():
        if not isinstance(service, dict):
            continue
        for key in ("command", "entrypoint"):
            if isinstance(service.get(key), list):
                service[key] = _redact_argv(service[key])
    return redacted


def _redact_argv(argv: list[Any]) -> list[Any]:
    """Mask the value that follows a secret-naming flag in an argument list."""
    result: list[Any] = []
    mask_next = False
    for argument in argv:
        text = str(argument)
        result.append(MASK if mask_next and text else argument)
        mask_next = bool(_SECRET_FLAG.match(text)) and "=" not in text
    return result


def _write_yaml(path: Path, data: Any) -> None:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)


def _save_compose_files(evidence: Evidence, directory: Path) -> list[str]:
    """Copy the compose files as written into compose/, masked; return their bundle names."""
    names: list[str] = []
    texts = dict(evidence.compose_texts)
    for original in evidence.compose_files:
        if original not in texts:
            path = Path(original)
            try:
                texts[original] = path.read_text(encoding="utf-8")
            except OSError as error:
                logger.debug("compose file %s not copied into the bundle: %s", original, error)
                continue
    for index, (original, text) in enumerate(texts.items()):
        name = posixpath.basename(original.replace("\\", "/")) or f"compose-{index}.yaml"
        if name in names:
            name = f"{index}-{name}"
        target = directory / "compose" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(redact_text(text), encoding="utf-8")
        names.append(name)
    return names


def _container_payload(container: ContainerEvidence) -> dict[str, Any]:
    redacted = redact_record(container)
    payload = asdict(redacted)
    payload.pop("logs", None)
    payload["logs_file"] = f"logs/{_safe_name(container.name)}.log"
    return payload


def _save_container(container: ContainerEvidence, directory: Path) -> str:
    name = _safe_name(container.name)
    inspect_path = directory / "inspect" / f"{name}.json"
    inspect_path.parent.mkdir(parents=True, exist_ok=True)
    inspect_path.write_text(
        json.dumps(_container_payload(container), indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    log_path = directory / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for line in container.logs:
        text = redact_text(line.text)
        lines.append(f"{line.timestamp} {text}" if line.timestamp else text)
    log_path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return container.name


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^\w.-]", "_", name.strip("/")) or "container"
    return "_" + cleaned if cleaned.startswith(".") else cleaned


def _stored_path(path: str) -> str:
    """Return a source path that stays inside src/<service>/ ('..' parts renamed)."""
    parts = [(_PARENT if part == ".." else part) for part in PurePosixPath(path).parts]
    parts = [part for part in parts if part not in ("/", "", ".")]
    return "/".join(parts) or "_"


def _save_sources(sources: list[SourceFile], directory: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for source in sources:
        stored = f"src/{_safe_name(source.service)}/{_stored_path(source.path)}"
        target = directory / stored
        target.parent.mkdir(parents=True, exist_ok=True)
        text = redact_text(source.text) if _is_config_file(source.path) else redact_source(source.text)
        with target.open("w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        entries.append(
            {
                "service": source.service,
                "path": source.path,
                "file": stored,
                "container_path": source.container_path,
            }
        )
    return entries


def _is_config_file(path: str) -> bool:
    name = posixpath.basename(path)
    return name.startswith(".env") or posixpath.splitext(name)[1].lower() in _CONFIG_SUFFIXES


# --- loading ---------------------------------------------------------------------


def load_bundle(directory: Path) -> Evidence:
    """Read a saved or hand-written bundle folder into Evidence.

    Raises BundleError when the folder does not exist or contains no
    evidence at all. Every other problem becomes a warning in the evidence.
    """
    if not directory.is_dir():
        raise BundleError(
            message("errors.bundle.not_found", path=str(directory)),
            hint=message("errors.bundle.hint.pass_folder"),
        )
    loader = _BundleLoader(directory)
    return loader.load()


class _BundleLoader:
    """The state of one load: what was read, and what was missing or broken."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.warnings: list[str] = []
        self.warning_messages: list[Message] = []
        self.provenance: list[Provenance] = []
        self.manifest: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        self.compose_files: list[str] = []
        self.compose_texts: dict[str, str] = {}
        self.containers: dict[str, ContainerEvidence] = {}
        self.ps_ages: dict[str, PsRow] = {}
        self.raw_inspect = False
        self.read_parts: set[str] = set()
        # Lines of `docker compose up` output, kept as warnings of the evidence.
        self.engine_messages: list[str] = []

    # -- the steps --------------------------------------------------------------

    def load(self) -> Evidence:
        self._read_manifest()
        self._read_compose()
        self._read_inspect()
        self._read_ps()
        self._read_up_output()
        project = self._assign_services(self._project_name())
        self._read_logs(project)
        sources = self._read_sources()

        if not (self.read_parts & {"compose", "inspect", "ps", "logs"}):
            raise BundleError(
                message("errors.bundle.empty", path=str(self.directory)),
                hint=message("errors.bundle.hint.layout"),
            )

        collected_at = self._collected_at()
        self._date_ps_containers(collected_at)
        evidence = Evidence(
            project_name=project,
            project_dir=str(self.manifest.get("project_dir") or self.directory),
            compose_files=self.compose_files,
            compose_config=self.config,
            containers=sorted(self.containers.values(), key=lambda c: c.name),
            sources=sources,
            collected_at=collected_at,
            provenance=self._evidence_provenance(),
            warnings=[*self._manifest_warnings(), *self.engine_messages, *self.warnings],
            warning_messages=[*self._manifest_warning_messages(), *self.warning_messages],
            compose_texts=self.compose_texts,
        )
        evidence.missing_evidence = self._missing_kinds(evidence)
        logger.debug(
            "loaded bundle %s: %d services, %d containers, %d source files, missing %s",
            self.directory,
            len(evidence.services),
            len(evidence.containers),
            len(sources),
            ", ".join(evidence.missing_evidence) or "nothing",
        )
        return evidence

    def _warn(self, key: str, /, **params: Any) -> None:
        """Keep a warning about the bundle, in English and as a catalogue message."""
        self._keep_warning(message(key, **params))

    def _keep_warning(self, warning: Message) -> None:
        logger.info("%s", warning.text)
        self.warnings.append(warning.text)
        self.warning_messages.append(warning)

    def _manifest_warnings(self) -> list[str]:
        stored = self.manifest.get("warnings")
        return [str(item) for item in stored] if isinstance(stored, list) else []

    def _manifest_warning_messages(self) -> list[Message]:
        """Return the stored catalogue form of the manifest's warnings; older bundles have none."""
        stored = self.manifest.get("warning_messages")
        if not isinstance(stored, list):
            return []
        found = [as_message(item) for item in stored]
        return [item for item in found if item is not None]

    def _read_manifest(self) -> None:
        path = self.directory / MANIFEST
        if not path.is_file():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            self._warn("warnings.bundle.manifest_invalid_json", manifest=MANIFEST, error=str(error))
            return
        if not isinstance(data, dict):
            self._warn("warnings.bundle.manifest_not_object", manifest=MANIFEST)
            return
        declared = data.get("format")
        if declared is not None and declared != BUNDLE_FORMAT:
            self._warn(
                "warnings.bundle.manifest_format",
                manifest=MANIFEST,
                declared=repr(declared),
                expected=BUNDLE_FORMAT,
            )
        self.manifest = data
        self.provenance.append(Provenance("bundle", MANIFEST, str(data.get("collected_at") or "")))

    # -- compose ----------------------------------------------------------------

    def _read_compose(self) -> None:
        main = next(
            (self.directory / n for n in COMPOSE_NAMES if (self.directory / n).is_file()), None
        )
        originals = self._original_compose_files()
        for path in originals:
            text = self._read_text(path)
            if text is not None:
                self.compose_texts[str(path)] = text
        if main is None:
            self._warn("warnings.bundle.no_compose")
            return
        text = self._read_text(main)
        if text is None:
            return

        resolved = bool(self.manifest.get("compose_resolved"))
        try:
            if resolved:
                self.config = normalize_config(load_yaml(text, main.name))
            else:
                self.config = self._resolve_raw(main, text)
        except ComposeParseError as error:
            self._warn("warnings.bundle.compose_invalid", error=error.translatable)
            self.config = {}
            return
        self.read_parts.add("compose")
        self.provenance.append(Provenance("bundle", main.name))
        if resolved and originals:
            self.compose_files = [str(path) for path in originals]
        else:
            self.compose_files = [str(main)]
            self.compose_texts.setdefault(str(main), text)

    def _original_compose_files(self) -> list[Path]:
        folder = self.directory / "compose"
        if not folder.is_dir():
            return []
        listed = self.manifest.get("compose_files")
        if isinstance(listed, list):
            return [folder / str(name) for name in listed if (folder / str(name)).is_file()]
        return sorted(p for p in folder.iterdir() if p.suffix in (".yml", ".yaml"))

    def _resolve_raw(self, main: Path, text: str) -> dict[str, Any]:
        """Interpolate and normalise a compose file written by hand, with its override file."""
        env: dict[str, str] = {}
        env_path = self.directory / ".env"
        if env_path.is_file():
            env_text = self._read_text(env_path)
            env = parse_env_file(env_text or "")
            self.provenance.append(Provenance("bundle", ".env"))
        files = [(main.name, text)]
        stem, suffix = main.name.rsplit(".", 1)
        override = self.directory / f"{stem}.override.{suffix}"
        if override.is_file():
            override_text = self._read_text(override)
            if override_text is not None:
                files.append((override.name, override_text))
                self.compose_texts[str(override)] = override_text

        def read_env_file(name: str) -> str | None:
            candidate = (self.directory / name).resolve()
            if not candidate.is_relative_to(self.directory.resolve()) or not candidate.is_file():
                return None
            return self._read_text(candidate)

        config, found, env_warnings = resolve_compose(files, env, read_env_file)
        for warning in found.warnings() + env_warnings:
            self._keep_warning(warning)
        config.setdefault("name", self.manifest.get("project_name") or None)
        if config.get("name") is None:
            config.pop("name")
        return config

    def _read_text(self, path: Path) -> str | None:
        try:
            return path.read_bytes().decode("utf-8", errors="replace").lstrip("\ufeff")
        except OSError as error:
            self._warn(
                "warnings.bundle.unreadable",
                path=str(path.relative_to(self.directory)),
                error=error.strerror,
            )
            return None

    # -- containers -------------------------------------------------------------

    def _read_inspect(self) -> None:
        folder = self.directory / "inspect"
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*.json")):
            text = self._read_text(path)
            if text is None:
                continue
            try:
                data = json.loads(text)
            except ValueError as error:
                self._warn("warnings.bundle.inspect_invalid_json", file=path.name, error=str(error))
                continue
            items = data if isinstance(data, list) else [data]
            for item in items:
                container = self._container_from_json(item, path.name)
                if container is None:
                    self._warn("warnings.bundle.inspect_no_container", file=path.name)
                    continue
                container.provenance.append(Provenance("bundle", f"inspect/{path.name}"))
                self.containers[container.name] = container
                self.read_parts.add("inspect")

    def _container_from_json(self, item: Any, file_name: str) -> ContainerEvidence | None:
        if not isinstance(item, dict):
            return None
        if "State" in item or "Config" in item:
            self.raw_inspect = True
            container = container_from_inspect(item)
            if not container.name:
                container.name = posixpath.splitext(file_name)[0]
            return container
        if "name" in item and "state" in item:
            return _own_container(item)
        return None

    def _read_ps(self) -> None:
        path = next((self.directory / n for n in PS_NAMES if (self.directory / n).is_file()), None)
        if path is None:
            return
        text = self._read_text(path)
        if text is None:
            return
        rows = parse_ps(text)
        if not rows:
            self._warn("warnings.bundle.ps_no_table", file=path.name)
            return
        self.read_parts.add("ps")
        self.provenance.append(Provenance("bundle", path.name))
        for row in rows:
            self.ps_ages[row.name] = row
            if row.name in self.containers:
                continue
            self.containers[row.name] = ContainerEvidence(
                id=row.container_id,
                name=row.name,
                service=row.service or "",
                image=row.image,
                state=row.status.state,
                health=row.status.health,
                exit_code=row.status.exit_code,
                provenance=[Provenance("bundle", f"{path.name}:{row.line}")],
            )

    def _read_up_output(self) -> None:
        """Keep the lines `docker compose up` printed: engine errors name the failing container."""
        path = next(
            (self.directory / n for n in UP_OUTPUT_NAMES if (self.directory / n).is_file()), None
        )
        if path is None:
            return
        text = self._read_text(path)
        if text is None:
            return
        lines = [_COMPOSE_LEVEL.sub("", line).strip().strip('"') for line in text.splitlines()]
        self.engine_messages.extend(line for line in lines if line)
        self.provenance.append(Provenance("bundle", path.name))

    def _project_name(self) -> str | None:
        """Return the compose project name the bundle states or its container names share."""
        named = self.manifest.get("project_name") or self.config.get("name")
        if named:
            return str(named)
        return common_project_prefix(list(self.containers))

    def _assign_services(self, project: str | None) -> str:
        """Give every container its service; return the project name, inferred if need be."""
        services = list((self.config.get("services") or {}).keys())
        container_names = {
            str(config["container_name"]): name
            for name, config in (self.config.get("services") or {}).items()
            if isinstance(config, dict) and config.get("container_name")
        }
        prefixes: set[str] = set()
        for container in self.containers.values():
            if container.service:
                continue
            service, replica = service_of_container(
                container.name, services, project, container_names
            )
            if service is None:
                self._warn("warnings.bundle.container_without_service", container=container.name)
                service = container.name
            container.service = service
            if container.replica is None:
                container.replica = replica
            prefix = _project_prefix(container.name, service)
            if prefix:
                prefixes.add(prefix)
        if project:
            return project
        if len(prefixes) == 1:
            return prefixes.pop()
        return self.directory.resolve().name

    # -- logs -------------------------------------------------------------------

    def _read_logs(self, project: str) -> None:
        folder = self.directory / "logs"
        if not folder.is_dir():
            return
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.suffix not in LOG_SUFFIXES:
                continue
            text = self._read_text(path)
            if text is None:
                continue
            self.read_parts.add("logs")
            for name, body in _split_compose_prefixes(path.stem, text).items():
                container = self._log_target(name, project)
                lines = parse_log_bytes(body.encode("utf-8"))
                if container.logs:
                    self._warn(
                        "warnings.bundle.log_replaces", file=path.name, container=container.name
                    )
                container.logs = lines
                container.provenance.append(Provenance("bundle", f"logs/{path.name}"))

    def _log_target(self, name: str, project: str) -> ContainerEvidence:
        """Return the container a log named `name` belongs to, creating one when none is known."""
        if name in self.containers:
            return self.containers[name]

        services = list((self.config.get("services") or {}).keys())
        service: str | None = name
        replica: int | None = None
        if name not in services:
            service, replica = service_of_container(name, services, project)
            if service is None and not services:
                service = name
        if service is None:
            self._warn("warnings.bundle.log_without_service", name=name)
            service = name

        own = sorted(
            (c for c in self.containers.values() if c.service == service),
            key=lambda c: c.name,
        )
        if replica is not None:
            numbered = [c for c in own if c.replica == replica or c.name.endswith(f"-{replica}")]
            own = numbered or own
        if own:
            return own[0]

        synthetic = ContainerEvidence(
            id="",
            name=f"{project}-{service}-{replica or 1}",
            service=service,
            image=str((self.config.get("services") or {}).get(service, {}).get("image") or ""),
            state="unknown",
            replica=replica,
        )
        self.containers[synthetic.name] = synthetic
        return synthetic

    # -- sources ----------------------------------------------------------------

    def _read_sources(self) -> list[SourceFile]:
        folder = self.directory / "src"
        if not folder.is_dir():
            return []
        listed = self.manifest.get("sources")
        if isinstance(listed, list):
            return self._listed_sources(listed)
        sources = []
        for service_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            service = service_dir.name
            context = self._build_context(service)
            for path in sorted(p for p in service_dir.rglob("*") if p.is_file()):
                relative = path.relative_to(service_dir).as_posix()
                text = self._read_text(path)
                if text is None:
                    continue
                project_path = relative
                if context not in (None, ".") and not relative.startswith(context + "/"):
                    project_path = posixpath.join(context, relative)
                sources.append(SourceFile(service, project_path, text))
        if sources:
            self.provenance.append(Provenance("bundle", f"src/ ({len(sources)} files)"))
        return sources

    def _listed_sources(self, listed: list[Any]) -> list[SourceFile]:
        sources = []
        for entry in listed:
            if not isinstance(entry, dict) or "file" not in entry:
                continue
            path = self.directory / str(entry["file"])
            if not path.resolve().is_relative_to(self.directory.resolve()) or not path.is_file():
                self._warn(
                    "warnings.bundle.source_missing", file=str(entry.get("file")), manifest=MANIFEST
                )
                continue
            with path.open(encoding="utf-8", errors="replace", newline="") as handle:
                text = handle.read()
            sources.append(
                SourceFile(
                    service=str(entry.get("service") or ""),
                    path=str(entry.get("path") or entry["file"]),
                    text=text,
                    container_path=entry.get("container_path"),
                )
            )
        if sources:
            self.provenance.append(Provenance("bundle", f"src/ ({len(sources)} files)"))
        return sources

    def _build_context(self, service: str) -> str | None:
        """Return a service's build context relative to the bundle, for hand-written src/ paths."""
        build = (self.config.get("services") or {}).get(service, {}).get("build")
        if build is None:
            return None
        context = build if isinstance(build, str) else str(build.get("context") or ".")
        if posixpath.isabs(context):
            return None
        return posixpath.normpath(context)

    # -- times and what is missing ----------------------------------------------

    def _collected_at(self) -> str:
        """Return the manifest's collection time, else an estimate from ages and log times."""
        declared = self.manifest.get("collected_at")
        if declared and _parse_time(str(declared)) is not None:
            return str(declared)

        estimates: list[dt.datetime] = []
        for name, row in self.ps_ages.items():
            container = self.containers.get(name)
            if container is None or row.status.seconds is None:
                continue
            stamps = [t for t in (_parse_time(l.timestamp) for l in container.logs) if t]
            if not stamps:
                continue
            anchor = min(stamps) if row.status.state in ("running", "paused") else max(stamps)
            estimates.append(anchor + dt.timedelta(seconds=row.status.seconds))
        if estimates:
            moment = max(estimates)
            self._warn("warnings.bundle.time_estimated")
            return moment.isoformat(timespec="milliseconds")

        stamps = [
            t
            for container in self.containers.values()
            for t in [_parse_time(l.timestamp) for l in container.logs]
            + [_parse_time(p.end) for p in container.health_log]
            if t is not None
        ]
        if stamps:
            self._warn("warnings.bundle.time_from_logs")
            return max(stamps).isoformat(timespec="milliseconds")
        self._warn("warnings.bundle.time_now")
        return utc_now()

    def _date_ps_containers(self, collected_at: str) -> None:
        """Set start or finish times of containers known only from ps.txt, from their age."""
        collected = _parse_time(collected_at)
        if collected is None:
            return
        for name, row in self.ps_ages.items():
            container = self.containers.get(name)
            if container is None or row.status.seconds is None:
                continue
            moment = (collected - dt.timedelta(seconds=row.status.seconds)).isoformat()
            if row.status.state in ("running", "paused") and container.started_at is None:
                container.started_at = moment
            elif row.status.state in ("exited", "restarting") and container.finished_at is None:
                container.finished_at = moment

    def _missing_kinds(self, evidence: Evidence) -> list[str]:
        declared = self.manifest.get("missing_evidence")
        if isinstance(declared, list) and self.manifest.get("format"):
            stated = [str(kind) for kind in declared if kind in EVIDENCE_KINDS]
            if "compose" not in self.read_parts and "compose" not in stated:
                stated.append("compose")
            return stated

        missing: list[str] = []
        if "compose" not in self.read_parts:
            missing.append("compose")
        if not self.read_parts & {"inspect", "ps"}:
            missing.append("state")
            self._note_missing(evidence, "warnings.bundle.missing_state")
        if "inspect" not in self.read_parts and self._has_healthchecks(evidence):
            missing.append("health_log")
            self._note_missing(evidence, "warnings.bundle.missing_health_log")
        if "logs" not in self.read_parts:
            missing.append("log")
            self._note_missing(evidence, "warnings.bundle.missing_logs")
        if not evidence.sources and any(
            isinstance(config, dict) and config.get("build")
            for config in evidence.services.values()
        ):
            missing.append("source")
            self._note_missing(evidence, "warnings.bundle.missing_source")
        return missing

    @staticmethod
    def _note_missing(evidence: Evidence, key: str) -> None:
        evidence.add_warning(key)
        logger.info("%s", evidence.warnings[-1])

    @staticmethod
    def _has_healthchecks(evidence: Evidence) -> bool:
        if any(c.health for c in evidence.containers):
            return True
        return any(
            isinstance(config, dict) and isinstance(config.get("healthcheck"), dict)
            for config in evidence.services.values()
        )

    def _evidence_provenance(self) -> list[Provenance]:
        stored = [
            Provenance(
                str(item.get("method", "")),
                str(item.get("call", "")),
                str(item.get("collected_at", "")),
            )
            for item in self.manifest.get("provenance", [])
            if isinstance(item, dict)
        ]
        return [*stored, Provenance("bundle", f"load {self.directory}"), *self.provenance]


def _project_prefix(container: str, service: str) -> str | None:
    """Return the project part of a `<project>-<service>-<n>` container name, if it has one."""
    match = re.match(rf"^(?P<project>.+?)[-_]{re.escape(service)}[-_]\d+$", container)
    return match.group("project") if match else None


def _split_compose_prefixes(stem: str, text: str) -> dict[str, str]:
    """Split `docker compose logs` output by its "name  | " prefixes; else one log named `stem`.

    The prefixes count only when most non-empty lines carry one.
    """
    lines = text.splitlines()
    nonempty = [line for line in lines if line.strip()]
    matches = [_COMPOSE_LOG_PREFIX.match(line) for line in nonempty]
    prefixed = [m for m in matches if m is not None]
    if not nonempty or len(prefixed) < 0.8 * len(nonempty):
        return {stem: text}
    groups: dict[str, list[str]] = {}
    last = prefixed[0].group("name")
    for line, match in zip(nonempty, matches, strict=True):
        if match is not None:
            last = match.group("name")
            groups.setdefault(last, []).append(match.group("text"))
        else:
            groups.setdefault(last, []).append(line)
    return {name: "\n".join(body) + "\n" for name, body in groups.items()}


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _own_container(item: dict[str, Any]) -> ContainerEvidence:
    """Build a ContainerEvidence from stackmedic's own container JSON (unknown keys ignored)."""
    known = {f.name for f in fields(ContainerEvidence)}
    values = {key: value for key, value in item.items() if key in known}
    values.setdefault("id", "")
    values.setdefault("service", "")
    values.setdefault("image", "")

    values["health_log"] = [
        HealthProbe(
            start=str(probe.get("start", "")),
            end=str(probe.get("end", "")),
            exit_code=int(probe.get("exit_code", -1)),
            output=str(probe.get("output", "")),
        )
        for probe in values.get("health_log") or []
        if isinstance(probe, dict)
    ]
    values["logs"] = [
        LogLine(
            number=int(line.get("number", index)),
            text=str(line.get("text", "")),
            timestamp=line.get("timestamp"),
            stream=str(line.get("stream", "stdout")),
        )
        for index, line in enumerate(values.get("logs") or [], start=1)
        if isinstance(line, dict)
    ]
    values["provenance"] = [
        Provenance(str(p.get("method", "")), str(p.get("call", "")), str(p.get("collected_at", "")))
        for p in values.get("provenance") or []
        if isinstance(p, dict)
    ]
    values["env"] = {str(k): str(v) for k, v in (values.get("env") or {}).items()}
    values["networks"] = {str(k): str(v) for k, v in (values.get("networks") or {}).items()}
    return ContainerEvidence(**values)
