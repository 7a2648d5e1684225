"""Predict the effect of every proposed repair before anything is written.

`plan_repairs` collects the repairs the findings propose, merges identical
ones, and gives each a status: PLANNED with a `prediction` of the measured
value before and after the change, or REJECTED with a `reason`. A repair is
rejected when it would change nothing: the variable already has that value,
the dependency already has that condition, or the service already runs that
probe. It is also rejected when its probe proves nothing or cannot run in the
image, and when a `service_healthy` condition names a service without a
health check. A variable whose value comes from `.env` or the shell in a way
no single file edit can change is rejected too (see
`stackmedic.repair.targets`). Code patches are rejected unless code changes
are allowed.

The current values come from the evidence: the resolved compose
configuration, the containers' inspected environment and health check, and
the source facts (a variable's in-code default with its file and line).

Predictions and reasons are written in the run's language and kept in
catalogue form in `Repair.prediction_message` and `Repair.reason_message`,
so that a report in another language translates them.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stackmedic.errors import ComposeFileError, RepairError
from stackmedic.evidence.facts import EnvRead, SourceFacts
from stackmedic.evidence.model import Evidence
from stackmedic.i18n import Message, message, message_text, translate
from stackmedic.model import (
    ComposeEdit,
    Finding,
    MessageText,
    Repair,
    RepairStatus,
    join_messages,
    message_of,
)
from stackmedic.repair import probe as probes
from stackmedic.repair.apply import relative_to_project
from stackmedic.repair.compose_edit import (
    ACTIONS,
    DEPENDS_ON_CONDITIONS,
    HEALTHCHECK_TIMINGS,
    ComposeDocument,
    EditRejectedError,
)
from stackmedic.repair.targets import locate_target, services_extending

logger = logging.getLogger(__name__)

ProgramCheck = Callable[[str, str], bool | None]

# Params that describe where a repair came from without changing the file;
# two edits that differ only in these are the same edit.
_REPORT_ONLY_PARAMS = frozenset({"source"})
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]"})


class _Rejected(Exception):
    """Ends the planning of one repair with REJECTED and `reason`, a `MessageText`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def plan_repairs(
    findings: list[Finding],
    evidence: Evidence,
    facts: SourceFacts,
    program_exists: ProgramCheck | None = None,
    *,
    allow_code_changes: bool = False,
    lang: str = "en",
) -> list[Repair]:
    """Return the findings' proposed repairs, de-duplicated, each PLANNED or REJECTED.

    The returned repairs are copies; the findings keep their proposals as
    they were. Identical edits (same action, service and params, ignoring
    the report-only `source` param) are merged into the first one, whose
    rationale then lists every finding id that proposed it.
    `program_exists(service, program)` returns whether an executable is in
    the service's image, or None when it could not be checked. Predictions and
    reasons are written in `lang`.

    Health check edits are planned before `depends_on` edits, so a
    `service_healthy` condition may rely on a health check planned in the
    same batch. The returned list keeps the proposals' order.
    """
    planner = _Planner(evidence, facts, program_exists, allow_code_changes, lang)
    planned = _deduplicate(findings, lang)
    for repair in sorted(planned, key=_planning_order):
        planner.plan(repair)
        edit = repair.edit if repair.status == RepairStatus.PLANNED else None
        if edit is not None and edit.action == "set_healthcheck":
            planner.planned_healthchecks.add(edit.service)
    return planned


def _planning_order(repair: Repair) -> int:
    action = repair.edit.action if repair.edit is not None else ""
    return 1 if action == "set_depends_on_conditions" else 0


def _deduplicate(findings: list[Finding], lang: str) -> list[Repair]:
    kept: dict[tuple[str, ...], Repair] = {}
    finding_ids: dict[tuple[str, ...], list[str]] = {}
    for finding in findings:
        for proposal in finding.repairs:
            identity = _identity(proposal)
            ids = finding_ids.setdefault(identity, [])
            finding_id = proposal.finding_id or finding.id
            if finding_id not in ids:
                ids.append(finding_id)
            if identity not in kept:
                kept[identity] = _copy(proposal)

    for identity, repair in kept.items():
        ids = finding_ids[identity]
        if len(ids) > 1:
            merged = translate("repair.rationale.merged", lang, ids=", ".join(ids))
            repair.rationale = f"{repair.rationale} {merged}".strip()
    return list(kept.values())


def _identity(repair: Repair) -> tuple[str, ...]:
    if repair.edit is not None:
        params = {
            key: value
            for key, value in repair.edit.params.items()
            if key not in _REPORT_ONLY_PARAMS
        }
        if repair.edit.action == "set_env" and params.get("value") is not None:
            params["value"] = _env_text(params["value"])
        text = json.dumps(params, sort_keys=True, default=str)
        return ("edit", repair.edit.action, repair.edit.service, text)
    return ("patch", repair.service, repair.patch or "")


def _copy(repair: Repair) -> Repair:
    edit = None
    if repair.edit is not None:
        edit = ComposeEdit(
            repair.edit.action, repair.edit.service, copy.deepcopy(repair.edit.params)
        )
    return replace(repair, edit=edit, files=list(repair.files))


@dataclass
class _EnvValue:
    """A variable's current value inside the service's containers.

    `value` is None when unset. `known` is False when the value cannot be
    determined, as for a pass-through from the shell that no container shows. `partial` lists
    reads without a default that a new value would also reach.
    """

    value: str | None
    known: bool
    text: str
    partial: list[str] = field(default_factory=list)


class _Planner:
    def __init__(
        self,
        evidence: Evidence,
        facts: SourceFacts,
        program_exists: ProgramCheck | None,
        allow_code_changes: bool,
        lang: str,
    ) -> None:
        self.evidence = evidence
        self.facts = facts
        self.program_exists = program_exists
        self.allow_code_changes = allow_code_changes
        self.lang = lang
        self.services = evidence.services
        self._documents: dict[Path, ComposeDocument] | None = None
        # Services that get a health check from a repair planned earlier in this batch.
        self.planned_healthchecks: set[str] = set()
        # The environment docker compose runs with; None means this process's.
        self.environ: Mapping[str, str] | None = None

    def t(self, key: str, **fields: Any) -> MessageText:
        """Return the message `key` in the run's language, carrying its catalogue form.

        A field that is itself a `MessageText` is stored as its message, so
        that it is translated with the sentence around it.
        """
        params = {name: message_of(value) or value for name, value in fields.items()}
        built = message(key, **params)
        return MessageText(message_text(built, self.lang), built)

    def join(self, parts: Sequence[str]) -> MessageText:
        """Join the non-empty `parts` with the run's language's separator (`repair.joined`)."""
        forms = [message_of(part) or Message(key="", text=part) for part in parts if part]
        joined = join_messages(forms, "repair.joined")
        return MessageText(message_text(joined, self.lang), joined)

    # Entry

    def plan(self, repair: Repair) -> None:
        try:
            if repair.edit is None:
                prediction = self._plan_patch(repair)
            else:
                prediction = self._plan_edit(repair, repair.edit)
        except _Rejected as rejected:
            repair.status = RepairStatus.REJECTED
            repair.reason = str(rejected.reason)
            repair.reason_message = _stored_message(rejected.reason)
            logger.info("repair %s (%s) rejected: %s", repair.id, repair.code, rejected.reason)
            return
        repair.prediction = str(prediction)
        repair.prediction_message = _stored_message(prediction)
        repair.status = RepairStatus.PLANNED
        repair.reason = ""
        repair.reason_message = None
        logger.info("repair %s (%s) planned: %s", repair.id, repair.code, repair.prediction)

    def _plan_patch(self, repair: Repair) -> str:
        if not repair.patch:
            raise _Rejected(self.t("repair.reject.nothing_to_apply"))
        if not self.allow_code_changes:
            raise _Rejected(self.t("repair.reject.code_changes"))
        files, added, removed = _patch_summary(repair.patch)
        repair.files = files
        return self.t(
            "repair.prediction.patch",
            files=", ".join(files) or "?",
            added=added,
            removed=removed,
        )

    def _plan_edit(self, repair: Repair, edit: ComposeEdit) -> str:
        if edit.action not in ACTIONS:
            raise _Rejected(self.t("repair.reject.unknown_action", action=edit.action))
        if self.services and edit.service not in self.services:
            raise _Rejected(self.t("repair.reject.service_unknown", service=edit.service))

        if edit.action == "set_env":
            prediction = self._plan_env(edit)
        elif edit.action == "set_depends_on_conditions":
            prediction = self._plan_depends_on(edit)
        else:
            prediction = self._plan_healthcheck(edit)

        note = self._check_file(repair, edit)
        return self.join([prediction, note])

    # Compose files

    def _compose_paths(self) -> list[Path]:
        project = Path(self.evidence.project_dir)
        paths = []
        for name in self.evidence.compose_files:
            path = Path(name)
            paths.append(path if path.is_absolute() else project / path)
        return paths

    def _check_file(self, repair: Repair, edit: ComposeEdit) -> str:
        """Find the file the edit goes to; reject it when the value must be changed by hand.

        Return a note on where the edit goes when that is not the compose
        file (`.env` or an env_file). Also return a note when the compose
        files are not on this machine (evidence from a bundle), because the
        edit could then not be checked against them.
        """
        paths = self._compose_paths()
        if not paths:
            logger.debug(
                "no compose files in the evidence; skipped the file check of %s", repair.id
            )
            return ""
        missing = [path for path in paths if not path.exists()]
        if missing:
            return self.t("repair.note.files_unchecked", file=str(missing[0]))
        project_dir = Path(self.evidence.project_dir)
        try:
            if self._documents is None:
                self._documents = {path: ComposeDocument.load(path) for path in paths}
                for document in self._documents.values():
                    document.project_dir = project_dir
            target = locate_target(paths, edit, self._documents, project_dir, self.environ)
        except EditRejectedError as error:
            raise _Rejected(self.t(error.rejection.key, **error.rejection.fields)) from error
        except (ComposeFileError, RepairError) as error:
            raise _Rejected(self.t("repair.reject.file", detail=error.translatable)) from error
        repair.files = [relative_to_project(target.path, project_dir)]
        notes: list[str] = []
        if target.note is not None:
            notes.append(self.t(target.note.key, **target.note.fields))
        extending = services_extending(self._documents, edit.service)
        if extending:
            notes.append(
                self.t("repair.note.extended_by", service=edit.service, services=", ".join(extending))
            )
        return self.join(notes)

    # set_env

    def _plan_env(self, edit: ComposeEdit) -> str:
        name, value = edit.params.get("name"), edit.params.get("value")
        if not isinstance(name, str) or not name or value is None:
            raise _Rejected(
                self.t("repair.reject.invalid_params", action=edit.action, detail="name and value")
            )
        new_value = _env_text(value)
        current = self._current_env(edit.service, name)

        if current.known and current.value == new_value and not current.partial:
            raise _Rejected(self.t("repair.reject.no_effect_env", name=name, current=current.text))

        parts = [self.t("repair.prediction.env", name=name, before=current.text, after=new_value)]
        if current.partial:
            parts.append(self.t("repair.note.env_partial", locations=", ".join(current.partial)))
        return self.join(parts)

    def _current_env(self, service: str, name: str) -> _EnvValue:
        # A container resolves a variable in this order: the compose
        # `environment` overrides the image's ENV, and either one hides the
        # in-code default from the process.
        compose_env = _environment_map(self.services.get(service, {}).get("environment"))
        if name in compose_env:
            return self._compose_env_value(service, name, compose_env[name])

        image = self.facts.image_env_of(service).get(name)
        if image is not None:
            location = f"{image.path}:{image.line}"
            text = self.t("repair.value.dockerfile", value=image.value or "?", location=location)
            return _EnvValue(image.value, image.value is not None, text)

        for container in self.evidence.containers_of(service):
            if name in container.env:
                value = container.env[name]
                return _EnvValue(
                    value,
                    True,
                    self.t("repair.value.image", value=value, container=container.name),
                )
        # A read in a Dockerfile (a RUN line's ${X:-d}) happens at build time,
        # so only reads in the service's own code give the runtime default.
        reads = [
            read
            for read in self.facts.env_reads_of(service)
            if read.variable == name and not _is_dockerfile(read.path)
        ]
        return self._code_value(service, name, reads)

    def _compose_env_value(self, service: str, name: str, value: Any) -> _EnvValue:
        if value is not None:
            text = _env_text(value)
            return _EnvValue(text, True, self.t("repair.value.compose", value=text))
        for container in self.evidence.containers_of(service):
            if name in container.env:
                seen = container.env[name]
                return _EnvValue(seen, True, self.t("repair.value.passthrough", value=seen))
        return _EnvValue(None, False, self.t("repair.value.passthrough_unknown"))

    def _code_value(self, service: str, name: str, reads: list[EnvRead]) -> _EnvValue:
        with_default = [read for read in reads if read.default is not None]
        without_default = [_where(read) for read in reads if read.default is None]
        if not with_default:
            if without_default:
                text = self.t("repair.value.unset_required", location=without_default[0])
            elif reads:
                text = self.t("repair.value.unset")
            else:
                text = self.t("repair.value.unset_not_read", name=name, service=service)
            return _EnvValue(None, True, text)

        defaults = list(dict.fromkeys(str(read.default) for read in with_default))
        if len(defaults) == 1:
            text = self.t(
                "repair.value.code_default", value=defaults[0], location=_where(with_default[0])
            )
            return _EnvValue(defaults[0], True, text, without_default)
        text = self.t(
            "repair.value.code_defaults",
            values=", ".join(defaults),
            locations=", ".join(_where(read) for read in with_default),
        )
        # Several different defaults: any single new value changes at least one read.
        return _EnvValue(None, False, text, without_default)

    # set_depends_on_conditions

    def _plan_depends_on(self, edit: ComposeEdit) -> str:
        conditions = edit.params.get("conditions")
        if not isinstance(conditions, Mapping) or not conditions:
            raise _Rejected(
                self.t("repair.reject.invalid_params", action=edit.action, detail="conditions")
            )
        for dependency, condition in conditions.items():
            if condition not in DEPENDS_ON_CONDITIONS:
                raise _Rejected(
                    self.t(
                        "repair.reject.unknown_condition",
                        condition=condition,
                        dependency=dependency,
                    )
                )
            if dependency == edit.service:
                raise _Rejected(self.t("repair.reject.self_dependency", service=edit.service))
            if self.services and dependency not in self.services:
                raise _Rejected(self.t("repair.reject.dependency_unknown", dependency=dependency))
            cycle = self._dependency_path(dependency, edit.service)
            if cycle:
                raise _Rejected(
                    self.t(
                        "repair.reject.dependency_cycle",
                        service=edit.service,
                        dependency=dependency,
                        path=" -> ".join(cycle),
                    )
                )

        # NOTE: a condition that relies on a health check planned in this
        # batch fails at `docker compose up` if that edit is rejected when it
        # is written. Verification then finds the cycle worse and rolls it back.
        notes: list[str] = []
        unmet: list[str] = []
        final: dict[str, str] = {}
        for dependency, condition in conditions.items():
            if condition == "service_healthy" and not self._has_healthcheck(dependency):
                if dependency in self.planned_healthchecks:
                    notes.append(self.t("repair.note.healthcheck_planned", dependency=dependency))
                else:
                    unmet.append(dependency)
                    continue
            final[dependency] = str(condition)
        if not final:
            raise _Rejected(
                self.join([self.t("repair.reject.no_healthcheck", dependency=d) for d in unmet])
            )
        notes.extend(self.t("repair.note.no_healthcheck", dependency=d) for d in unmet)

        current = _depends_on_map(self.services.get(edit.service, {}).get("depends_on"))
        changes = [
            self.t(
                "repair.change.condition",
                dependency=dependency,
                before=current.get(dependency) or self.t("repair.condition.absent"),
                after=condition,
            )
            for dependency, condition in final.items()
            if current.get(dependency) != condition
        ]
        if not changes:
            held = ", ".join(f"{dependency} {current[dependency]}" for dependency in final)
            raise _Rejected(
                self.join(
                    [
                        self.t(
                            "repair.reject.no_effect_depends_on",
                            service=edit.service,
                            current=held,
                        ),
                        *notes,
                    ]
                )
            )

        edit.params["conditions"] = final
        summary = self.t(
            "repair.prediction.depends_on", service=edit.service, changes=", ".join(changes)
        )
        effect = self.t("repair.note.depends_on_effect", service=edit.service)
        return self.join([summary, *notes, effect])

    def _dependency_path(self, start: str, goal: str) -> list[str]:
        """Return a depends_on path from `start` to `goal` in the resolved config, or []."""
        previous: dict[str, str] = {}
        queue = [start]
        seen = {start}
        while queue:
            current = queue.pop(0)
            if current == goal:
                path = [goal]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return list(reversed(path))
            depends_on = _depends_on_map(self.services.get(current, {}).get("depends_on"))
            for dependency in depends_on:
                if dependency not in seen:
                    seen.add(dependency)
                    previous[dependency] = current
                    queue.append(dependency)
        return []

    def _has_healthcheck(self, service: str) -> bool:
        """Return True when `service` has a working health check in compose or in its image."""
        healthcheck = self.services.get(service, {}).get("healthcheck")
        if isinstance(healthcheck, Mapping):
            if healthcheck.get("disable"):
                return False
            probe = _probe_or_none(healthcheck.get("test")) if healthcheck.get("test") else None
            if probe is not None:
                return probe.kind != "none"
        for container in self.evidence.containers_of(service):
            inspected = container.healthcheck or {}
            test = inspected.get("Test") or inspected.get("test")
            if test and str(test[0]) != "NONE":
                return True
            if container.health is not None:
                return True
        return False

    # set_healthcheck

    def _plan_healthcheck(self, edit: ComposeEdit) -> str:
        params = edit.params
        try:
            probe = probes.parse_test(params.get("test"))
        except ValueError as error:
            raise _Rejected(self.t("repair.reject.invalid_test", detail=str(error))) from error

        vacuous = probes.vacuity(probe)
        if vacuous is not None:
            raise _Rejected(self.t(f"repair.reject.vacuous.{vacuous}", probe=probe.display()))

        notes: list[str] = []
        current_probe, current_timings = self._current_healthcheck(edit.service)
        new_timings = {
            key: params[key] for key in HEALTHCHECK_TIMINGS if params.get(key) is not None
        }
        if current_probe is not None and current_probe.key() == probe.key():
            if all(_same_timing(current_timings.get(k), v) for k, v in new_timings.items()):
                raise _Rejected(
                    self.t(
                        "repair.reject.same_healthcheck",
                        service=edit.service,
                        probe=probe.display(),
                    )
                )
            notes.append(self.t("repair.note.timings_only"))

        notes.extend(self._check_programs(edit.service, probe))
        notes.extend(self._check_module(edit.service, probe))
        exercise = probes.exercise(probe)
        notes.extend(self._check_port(edit.service, exercise))

        before = (
            f"`{current_probe.display()}`"
            if current_probe is not None and current_probe.kind != "none"
            else self.t("repair.healthcheck.none")
        )
        timings = {**current_timings, **new_timings}
        parts = [
            self.t(
                "repair.prediction.healthcheck",
                service=edit.service,
                before=before,
                after=f"`{probe.display()}`",
            ),
            self.t(f"repair.exercise.{exercise.kind}", target=exercise.target),
            self.t(
                "repair.timings",
                **{key: _timing_text(key, timings.get(key)) for key in HEALTHCHECK_TIMINGS},
            ),
            *notes,
        ]
        if params.get("source"):
            parts.append(self.t("repair.note.source", source=params["source"]))
        return self.join(parts)

    def _current_healthcheck(self, service: str) -> tuple[probes.Probe | None, dict[str, Any]]:
        """Return the health check the service runs now and its timings, from compose or the image."""
        compose = self.services.get(service, {}).get("healthcheck")
        if isinstance(compose, Mapping):
            if compose.get("disable"):
                return probes.Probe("none"), {}
            timings = {key: compose[key] for key in HEALTHCHECK_TIMINGS if key in compose}
            test = compose.get("test")
            if test:
                return _probe_or_none(test), timings
        else:
            timings = {}
        for container in self.evidence.containers_of(service):
            inspected = container.healthcheck or {}
            test = inspected.get("Test") or inspected.get("test")
            if not test:
                continue
            image_timings = {
                "interval": inspected.get("Interval"),
                "timeout": inspected.get("Timeout"),
                "retries": inspected.get("Retries"),
                "start_period": inspected.get("StartPeriod"),
            }
            merged = {k: v for k, v in image_timings.items() if v is not None}
            merged.update(timings)
            return _probe_or_none(test), merged
        return None, timings

    def _check_programs(self, service: str, probe: probes.Probe) -> list[str]:
        notes: list[str] = []
        for program in probes.programs(probe):
            found = self.program_exists(service, program) if self.program_exists else None
            if found is False:
                raise _Rejected(
                    self.t("repair.reject.program_missing", program=program, service=service)
                )
            if found is None:
                notes.append(self.t("repair.note.program_unchecked", program=program))
        return notes

    def _check_module(self, service: str, probe: probes.Probe) -> list[str]:
        """Find the source of `python -m X`; reject when X's package is there but X is not."""
        module = probes.python_module(probe)
        sources = self.evidence.sources_of(service)
        if module is None or not sources:
            return []
        relative = module.replace(".", "/")
        candidates = (f"{relative}.py", f"{relative}/__init__.py", f"{relative}/__main__.py")
        for source in sources:
            path = source.path.replace("\\", "/")
            if any(path == c or path.endswith("/" + c) for c in candidates):
                return [self.t("repair.note.module_found", path=source.path)]
        package = relative.split("/")[0]
        if "/" in relative and any(
            f"/{package}/" in "/" + source.path.replace("\\", "/") for source in sources
        ):
            raise _Rejected(
                self.t(
                    "repair.reject.module_missing",
                    module=module,
                    service=service,
                    path=candidates[0],
                )
            )
        return []

    def _check_port(self, service: str, exercise: probes.Exercise) -> list[str]:
        """Note an HTTP probe of a local port the service's source never binds."""
        if exercise.kind != "http":
            return []
        try:
            parts = urlsplit(exercise.target)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return []
        if (parts.hostname or "") not in _LOCAL_HOSTS:
            return []
        bound = sorted(
            {e.port for e in self.facts.endpoints_of(service, "bind") if e.port is not None}
        )
        if not bound or port in bound:
            return []
        return [
            self.t(
                "repair.note.port_not_bound",
                port=port,
                service=service,
                ports=", ".join(str(p) for p in bound),
            )
        ]


# Helpers


def _stored_message(text: str) -> Message | None:
    """Return the catalogue form `text` carries, or None when it is empty or has none."""
    form = message_of(text)
    return form if form is not None and form.text else None


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _environment_map(environment: Any) -> dict[str, Any]:
    """Return a compose `environment` (map or `NAME=value` list) as a mapping; None = no value."""
    if isinstance(environment, Mapping):
        return dict(environment)
    result: dict[str, Any] = {}
    if isinstance(environment, list):
        for item in environment:
            name, separator, value = str(item).partition("=")
            result[name.strip()] = value if separator else None
    return result


def _depends_on_map(depends_on: Any) -> dict[str, str]:
    """Return each dependency's condition; the list form means service_started."""
    if isinstance(depends_on, Mapping):
        result = {}
        for name, entry in depends_on.items():
            condition = entry.get("condition") if isinstance(entry, Mapping) else None
            result[str(name)] = str(condition or "service_started")
        return result
    if isinstance(depends_on, list):
        return {str(name): "service_started" for name in depends_on}
    return {}


_DOCKERFILE_NAME = re.compile(r"(^|/)(Dockerfile|Containerfile)([.\w-]*)$|\.[Dd]ockerfile$")


def _is_dockerfile(path: str) -> bool:
    return bool(_DOCKERFILE_NAME.search(path.replace("\\", "/")))


def _where(read: EnvRead) -> str:
    return f"{read.path}:{read.line}"


def _probe_or_none(test: Any) -> probes.Probe | None:
    try:
        return probes.parse_test(test)
    except ValueError:
        return None


def _same_timing(current: Any, new: Any) -> bool:
    if current is None:
        return False
    if isinstance(new, int) and not isinstance(new, bool):
        try:
            return int(current) == new
        except (TypeError, ValueError):
            return False
    current_seconds = probes.duration_seconds(current)
    new_seconds = probes.duration_seconds(new)
    return current_seconds is not None and current_seconds == new_seconds


def _timing_text(key: str, value: Any) -> str:
    """Format a timing for a prediction; inspect reports durations as integer nanoseconds."""
    if value is None:
        return "-"
    if key != "retries" and isinstance(value, int) and not isinstance(value, bool):
        return f"{value / 1e9:g}s"
    return str(value)


def _patch_summary(patch: str) -> tuple[list[str], int, int]:
    """Return the files a unified diff changes and its added and removed line counts."""
    files: list[str] = []
    added = removed = 0
    for line in patch.splitlines():
        if line.startswith("+++ "):
            name = line[4:].split("\t")[0].strip()
            if name != "/dev/null":
                files.append(name[2:] if name.startswith(("a/", "b/")) else name)
        elif line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return files, added, removed
