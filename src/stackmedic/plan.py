"""The plan: what a run targets and which functional checks decide its verdict.

A plan is read from `stackmedic.yaml` in the project directory (or `--plan`).
Without one, stackmedic targets every service and checks only that their
containers run and, where they have a health check, are healthy; the report
says that no functional check was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from stackmedic.errors import PlanError
from stackmedic.i18n import message
from stackmedic.model import CheckSpec

PLAN_FILE = "stackmedic.yaml"
CHECK_TYPES = {"http", "tcp", "exec", "log_absent", "log_present", "containers"}
DEFAULT_SETTLE_TIMEOUT = 180.0
# The fields each check type requires in its entry, beyond name and type.
REQUIRED_PARAMS = {
    "http": ("url",),
    "tcp": ("host", "port"),
    "exec": ("service", "command"),
    "log_absent": ("service", "pattern"),
    "log_present": ("service", "pattern"),
    "containers": (),
}


@dataclass
class Plan:
    id: str
    name: str
    target: str
    target_services: list[str] = field(default_factory=list)
    checks: list[CheckSpec] = field(default_factory=list)
    settle_timeout: float = DEFAULT_SETTLE_TIMEOUT
    source: str | None = None

    @property
    def has_functional_checks(self) -> bool:
        return any(check.type != "containers" for check in self.checks)


def load_plan(project_dir: Path, plan_path: Path | None = None) -> Plan:
    """Load the plan, or build the default one when the project has none."""
    path = plan_path or project_dir / PLAN_FILE
    if not path.is_file():
        if plan_path is not None:
            raise PlanError(message("errors.plan.not_found", path=str(plan_path)))
        return default_plan(project_dir)
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = str(getattr(error, "problem", None) or error)
        raise PlanError(
            message("errors.plan.invalid_yaml", location=where, problem=problem)
        ) from error
    except (OSError, UnicodeDecodeError) as error:
        raise PlanError(
            message("errors.plan.unreadable", path=str(path), error=str(error))
        ) from error
    return parse_plan(data, project_dir, source=str(path))


def default_plan(project_dir: Path) -> Plan:
    return Plan(
        id="stackmedic-default",
        name=f"{project_dir.name}: default checks",
        target=project_dir.name,
        checks=[CheckSpec(name="containers-running", type="containers", params={})],
    )


def parse_plan(data: Any, project_dir: Path, source: str | None = None) -> Plan:
    where = source or "plan"
    if not isinstance(data, dict):
        raise PlanError(message("errors.plan.top_level_not_mapping", source=where))
    header = data.get("plan") or {}
    if not isinstance(header, dict):
        raise PlanError(message("errors.plan.header_not_mapping", source=where))
    targets = data.get("target_services") or []
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise PlanError(message("errors.plan.target_services_not_list", source=where))
    settle = data.get("settle_timeout", DEFAULT_SETTLE_TIMEOUT)
    if not isinstance(settle, (int, float)) or settle <= 0:
        raise PlanError(message("errors.plan.settle_timeout_invalid", source=where))

    raw_checks = data.get("checks") or []
    if not isinstance(raw_checks, list):
        raise PlanError(message("errors.plan.checks_not_list", source=where))
    checks = [_parse_check(entry, index, where) for index, entry in enumerate(raw_checks)]
    names = [check.name for check in checks]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise PlanError(
            message("errors.plan.duplicate_checks", source=where, names=", ".join(duplicates))
        )
    if not checks:
        checks = default_plan(project_dir).checks

    return Plan(
        id=str(header.get("id") or "stackmedic-plan"),
        name=str(header.get("name") or project_dir.name),
        target=str(header.get("target") or project_dir.name),
        target_services=list(targets),
        checks=checks,
        settle_timeout=float(settle),
        source=source,
    )


def _parse_check(entry: Any, index: int, where: str) -> CheckSpec:
    if not isinstance(entry, dict):
        raise PlanError(message("errors.plan.check_not_mapping", source=where, number=index + 1))
    check_type = entry.get("type")
    if check_type not in CHECK_TYPES:
        raise PlanError(
            message(
                "errors.plan.check_type_unknown",
                source=where,
                number=index + 1,
                type=repr(check_type),
                expected=", ".join(sorted(CHECK_TYPES)),
            )
        )
    name = str(entry.get("name") or f"{check_type}-{index + 1}")
    missing = [key for key in REQUIRED_PARAMS[check_type] if key not in entry]
    if missing:
        raise PlanError(
            message(
                "errors.plan.check_missing_fields",
                source=where,
                name=name,
                type=check_type,
                fields=", ".join(missing),
            )
        )
    params = {key: value for key, value in entry.items() if key not in ("name", "type")}
    if check_type == "exec" and not isinstance(params["command"], list):
        raise PlanError(message("errors.plan.exec_command_not_list", source=where, name=name))
    return CheckSpec(name=name, type=str(check_type), params=params)
