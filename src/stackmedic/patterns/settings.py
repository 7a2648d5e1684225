"""Patterns of settings that never reach the program: blank interpolations and missing files."""

from __future__ import annotations

import difflib
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from stackmedic.evidence.compose_raw import UNSET_WARNING_PATTERN, raw_references
from stackmedic.evidence.model import ContainerEvidence, Evidence, LogLine
from stackmedic.model import Category, ComposeEdit, EvidenceRef, Finding, Fixability
from stackmedic.patterns import lookup
from stackmedic.patterns.base import COMPOSE, LOG, SOURCE, STATE, AnalysisContext
from stackmedic.patterns.common import (
    advice,
    candidate_lines,
    compose_environment,
    compose_ref,
    containers_by_service,
    log_ref,
    new_finding,
    propose,
)
from stackmedic.patterns.runtime import mount_for

MAX_CITED_LINES = 3

_REQUIRED_WARNING = re.compile(r"required variable (?P<name>[A-Za-z_]\w*) is missing a value")
_SERVICES_KEY = re.compile(r"^services\s*:\s*(?:#.*)?$")
_KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[\"']?[\w.-]+[\"']?)\s*:(?:\s|$)")
_ENV_ASSIGNMENT = re.compile(
    r"^\s*-?\s*[\"']?(?P<key>[A-Za-z_][\w.-]*)[\"']?\s*[:=]\s*[\"']?\$\{?(?P<name>[A-Za-z_]\w*)"
)


@dataclass
class Reference:
    """One `${VAR}` in a compose file: the file, line, service block and the key it sets."""

    path: str
    line: int
    text: str
    service: str | None
    key: str | None


def references_by_service(evidence: Evidence) -> dict[str, list[Reference]]:
    """Return the `${VAR}` references without default of every compose text, by variable."""
    found: dict[str, list[Reference]] = {}
    for path, text in evidence.compose_texts.items():
        lines = text.splitlines()
        owners = _service_of_lines(lines)
        for name, numbers in raw_references(text).items():
            for number in numbers:
                raw = lines[number - 1]
                assignment = _ENV_ASSIGNMENT.match(raw)
                key = (
                    assignment.group("key")
                    if assignment and assignment.group("name") == name
                    else None
                )
                found.setdefault(name, []).append(
                    Reference(path, number, raw.strip(), owners.get(number), key)
                )
    return found


def _service_of_lines(lines: list[str]) -> dict[int, str]:
    """Map line numbers inside a top-level `services:` block to the service they belong to."""
    owners: dict[int, str] = {}
    in_services = False
    service_indent: int | None = None
    current: str | None = None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            if current is not None:
                owners[number] = current
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            in_services = bool(_SERVICES_KEY.match(line))
            current = None
            service_indent = None
            continue
        if not in_services:
            continue
        key = _KEY_LINE.match(line)
        if service_indent is None and key is not None:
            service_indent = indent
        if key is not None and indent == service_indent:
            current = key.group("key").strip("\"'")
        if current is not None:
            owners[number] = current
    return owners


class ComposeVariableUnset:
    """A compose file interpolates a variable that was not set, so a setting became blank.

    Symptom: Compose warns `The "DB_PASSWORD" variable is not set.
    Defaulting to a blank string.` (or `required variable X is missing a
    value`), and the resolved configuration has "" where the file says
    `${DB_PASSWORD}`. The service then fails on the blank value ("You must
    specify POSTGRES_PASSWORD to a non-empty value").

    Remedy: set the variable in the `.env` file beside the compose file or in
    the shell that runs `docker compose`, or give it a default
    (`${DB_PASSWORD:-...}`) where a default is safe. No edit is proposed: the
    value is the user's to choose and is often a secret.
    """

    code: ClassVar[str] = "COMPOSE_VARIABLE_UNSET"
    summary: ClassVar[str] = "A compose file uses a variable that is not set"
    category: ClassVar[Category] = Category.CONFIGURATION
    reads: ClassVar[frozenset[str]] = frozenset({COMPOSE, LOG})

    def match(self, context: AnalysisContext) -> list[Finding]:
        evidence = context.evidence
        unset: dict[str, str] = {}
        for warning in evidence.warnings:
            match = UNSET_WARNING_PATTERN.search(warning) or _REQUIRED_WARNING.search(warning)
            if match is not None:
                unset.setdefault(match.group("name"), warning)
        references = references_by_service(evidence)
        for name, refs in references.items():
            if name not in unset and any(self._resolved_blank(evidence, ref) for ref in refs):
                unset[name] = ""

        findings = []
        for name in sorted(unset):
            by_service: dict[str, list[Reference]] = {}
            for ref in references.get(name, []):
                by_service.setdefault(ref.service or "", []).append(ref)
            if not by_service:
                continue
            for service, refs in sorted(by_service.items()):
                # NOTE: a variable used outside services (top-level networks or
                # volumes) is not reported; no container shows its effect.
                if not service or service not in evidence.services:
                    continue
                findings.append(self._finding(context, name, service, refs, unset[name]))
        return findings

    @staticmethod
    def _resolved_blank(evidence: Evidence, ref: Reference) -> bool:
        if ref.service is None or ref.key is None:
            return False
        value = compose_environment(evidence, ref.service).get(ref.key)
        return value == ""

    def _finding(
        self, context: AnalysisContext, name: str, service: str, refs: list[Reference], warning: str
    ) -> Finding:
        evidence = context.evidence
        keys = sorted({ref.key for ref in refs if ref.key})
        consequence = self._consequence(evidence, service, [name, *keys])
        facts: dict[str, Any] = {
            "variable": name,
            "keys": keys,
            "file": posixpath.basename(refs[0].path),
            "line": refs[0].line,
            "warning": warning or None,
            "consequence": consequence[1].text.strip() if consequence else None,
        }
        evidence_refs: list[EvidenceRef] = [
            EvidenceRef("compose", ref.path, ref.text, ref.line) for ref in refs[:MAX_CITED_LINES]
        ]
        if warning:
            evidence_refs.append(EvidenceRef("compose", "docker compose config", warning))
        if consequence is not None:
            evidence_refs.append(log_ref(*consequence))
        target = f"services.{service}"
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.HUMAN,
            confidence=0.9 if consequence is not None else 0.7,
            facts=facts,
            evidence=evidence_refs,
            recommendation=advice(
                "COMPOSE_VARIABLE_UNSET.recommendation",
                variable=name,
                target=target,
                blank=(
                    advice("COMPOSE_VARIABLE_UNSET.blank.keys", keys=", ".join(keys))
                    if keys
                    else advice("COMPOSE_VARIABLE_UNSET.blank.value")
                ),
                file=facts["file"],
                line=facts["line"],
                default="${" + name + ":-value}",
            ),
        )

    @staticmethod
    def _consequence(
        evidence: Evidence, service: str, names: list[str]
    ) -> tuple[ContainerEvidence, LogLine] | None:
        """Return a log line of the service that names the blank setting, if one does."""
        wanted = [n for n in names if n]
        for container in sorted(evidence.containers_of(service), key=lambda c: c.name):
            for line in container.logs:
                if any(word in line.text for word in wanted):
                    return container, line
        return None


_MISSING_FILE = [
    re.compile(r"No such file or directory: '(?P<path>[^']+)'"),
    re.compile(r"ENOENT: no such file or directory, (?:open|stat|scandir) '(?P<path>[^']+)'"),
    re.compile(r'open\(\) "(?P<path>[^"]+)" failed \(2: No such file or directory\)'),
    re.compile(r"FileNotFoundException: (?P<path>\S+) \(No such file or directory\)"),
    re.compile(r"can't open config file '(?P<path>[^']+)'"),
    re.compile(r'could not open (?:configuration )?file "(?P<path>[^"]+)"'),
    re.compile(r"open (?P<path>/\S+?): no such file or directory"),
    re.compile(r"(?:config|configuration|settings)\S*[^:\n]*: (?P<path>/\S+): [Nn]o such file"),
]
_CONFIG_SUFFIXES = (
    ".yaml",
    ".yml",
    ".json",
    ".toml",
    ".ini",
    ".conf",
    ".cfg",
    ".env",
    ".properties",
    ".xml",
    ".config",
    ".cnf",
    ".rc",
)
_CONFIG_WORDS = re.compile(r"conf|config|settings|\.env\b", re.IGNORECASE)


def missing_file(text: str) -> str | None:
    for pattern in _MISSING_FILE:
        match = pattern.search(text)
        if match is not None:
            return match.group("path")
    return None


def is_config_path(path: str) -> bool:
    name = posixpath.basename(path).lower()
    return name.endswith(_CONFIG_SUFFIXES) or bool(_CONFIG_WORDS.search(path))


@dataclass
class _Missing:
    path: str
    lines: list[tuple[ContainerEvidence, LogLine]] = field(default_factory=list)


class ConfigFileNotFound:
    """A program cannot open the configuration file its settings name.

    Symptom: `FileNotFoundError: [Errno 2] No such file or directory:
    '/app/config/settings.yaml'`, `open /etc/app/config.yml: no such file or
    directory`, nginx's `open() "/etc/nginx/conf.d/app.conf" failed (2: No
    such file or directory)`, redis' "can't open config file".

    Remedy: when an environment variable holds the path and the project has
    a file of that name with another spelling or extension that the image
    contains, point the variable at it (proposed). When a bind mount covers
    the folder, the file is missing on the host side of the mount; else the
    Dockerfile does not COPY it.
    """

    code: ClassVar[str] = "CONFIG_FILE_NOT_FOUND"
    summary: ClassVar[str] = "A configuration file the program opens does not exist"
    category: ClassVar[Category] = Category.CONFIGURATION
    reads: ClassVar[frozenset[str]] = frozenset({LOG, COMPOSE, SOURCE, STATE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        for service, containers in sorted(containers_by_service(context.evidence).items()):
            groups: dict[str, _Missing] = {}
            for container in containers:
                for index in candidate_lines(container, *_MISSING_FILE):
                    line = container.logs[index]
                    path = missing_file(line.text)
                    if path is None or not is_config_path(path):
                        continue
                    groups.setdefault(path, _Missing(path)).lines.append((container, line))
            for path, missing in sorted(groups.items()):
                findings.append(self._finding(context, service, missing))
        return findings

    def _finding(self, context: AnalysisContext, service: str, missing: _Missing) -> Finding:
        evidence = context.evidence
        path = missing.path
        variable = next(
            (
                name
                for name, value in compose_environment(evidence, service).items()
                if value and path in value
            ),
            None,
        )
        mount = mount_for(evidence, service, path) if path.startswith("/") else None
        replacement = self._replacement(evidence, service, path) if variable else None
        facts: dict[str, Any] = {
            "path": path,
            "variable": variable,
            "mount_source": mount[0] if mount else None,
            "replacement": replacement,
            "occurrences": len(missing.lines),
        }
        refs = [log_ref(c, l) for c, l in missing.lines[:MAX_CITED_LINES]]
        if variable is not None:
            refs.append(compose_ref(evidence, service, "environment"))
        if mount is not None:
            refs.append(compose_ref(evidence, service, "volumes"))

        if replacement is not None:
            remedy = advice(
                "CONFIG_FILE_NOT_FOUND.recommendation.replacement",
                variable=variable,
                path=path,
                replacement=replacement,
            )
        elif mount is not None:
            remedy = advice(
                "CONFIG_FILE_NOT_FOUND.recommendation.mount",
                path=path,
                source=mount[0],
                target=mount[1],
                host_path=f"{mount[0]}{path[len(mount[1]) :]}",
            )
        elif variable is not None:
            remedy = advice(
                "CONFIG_FILE_NOT_FOUND.recommendation.variable", variable=variable, path=path
            )
        else:
            remedy = advice("CONFIG_FILE_NOT_FOUND.recommendation.image", path=path)
        finding = new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.COMPOSE if replacement else Fixability.HUMAN,
            confidence=0.85,
            facts=facts,
            evidence=refs,
            recommendation=remedy,
        )
        if replacement is not None and variable is not None:
            value = compose_environment(evidence, service)[variable] or ""
            propose(
                context,
                finding,
                title=f"Point {variable} of {service} at {replacement}",
                rationale=advice(
                    "CONFIG_FILE_NOT_FOUND.rationale", path=path, replacement=replacement
                ),
                edit=ComposeEdit(
                    "set_env",
                    service,
                    {"name": variable, "value": value.replace(path, replacement)},
                ),
            )
        return finding

    @staticmethod
    def _replacement(evidence: Evidence, service: str, path: str) -> str | None:
        """Return the container path of a project file the image has that `path` most likely means."""
        folder, name = posixpath.split(path)
        candidates: dict[str, str] = {}
        for source in evidence.sources_of(service) or evidence.sources:
            other = posixpath.basename(source.path)
            if other == name:
                continue
            candidate = posixpath.join(folder, other)
            mapped = lookup.location_for_frame(evidence, service, candidate, 1, None)
            if mapped is not None and mapped.path == source.path:
                candidates[other] = candidate
        stem = posixpath.splitext(name)[0]
        same_stem = [c for n, c in candidates.items() if posixpath.splitext(n)[0] == stem]
        if len(same_stem) == 1:
            return same_stem[0]
        close = difflib.get_close_matches(name, list(candidates), n=2, cutoff=0.8)
        return candidates[close[0]] if len(close) == 1 else None
