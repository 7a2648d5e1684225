"""The plan: what a run targets and which functional checks decide its verdict.

A plan is read from `stackmedic.yaml` in the project directory (or `--plan`).
Without one, stackmedic targets every service and checks only that their
containers run and, where they have a health check, are healthy; the report
says that no functional check was given.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from stackmedic.errors import PlanError
from stackmedic.i18n import Message, message
from stackmedic.model import CheckSpec

PLAN_FILE = "stackmedic.yaml"
CHECK_TYPES = {"http", "tcp", "exec", "log_absent", "log_present", "containers"}
DEFAULT_SETTLE_TIMEOUT = 180.0
# Every key a plan may contain. Any other key is rejected, because a
# misspelt one (`chex:` for `checks:`) would otherwise be dropped in silence.
TOP_LEVEL_KEYS = ("plan", "target_services", "settle_timeout", "checks")
HEADER_KEYS = ("id", "name", "target")
CHECK_COMMON_KEYS = ("name", "type")
# The fields each check type requires in its entry, beyond name and type.
REQUIRED_PARAMS = {
    "http": ("url",),
    "tcp": ("host", "port"),
    "exec": ("service", "command"),
    "log_absent": ("service", "pattern"),
    "log_present": ("service", "pattern"),
    "containers": (),
}
# The fields each check type may have beyond the required ones
# (stackmedic.verify.checks reads them).
OPTIONAL_PARAMS = {
    "http": ("method", "expect_status", "expect_json", "timeout"),
    "tcp": ("timeout",),
    "exec": ("expect_exit", "expect_output", "timeout"),
    "log_absent": ("window",),
    "log_present": ("window",),
    "containers": ("services",),
}
EXPECT_JSON_KEYS = ("path", "where", "min_count", "equals")


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
    """Validate a loaded plan document and build the `Plan`; raise PlanError on the first problem."""
    where = source or "plan"
    if not isinstance(data, dict):
        raise PlanError(message("errors.plan.top_level_not_mapping", source=where))
    unknown = _unknown_key(data, TOP_LEVEL_KEYS)
    if unknown is not None:
        raise PlanError(message("errors.plan.unknown_top_level_key", source=where, key=unknown,
                                allowed=", ".join(TOP_LEVEL_KEYS)))
    header = data.get("plan") or {}
    if not isinstance(header, dict):
        raise PlanError(message("errors.plan.header_not_mapping", source=where))
    unknown = _unknown_key(header, HEADER_KEYS)
    if unknown is not None:
        raise PlanError(message("errors.plan.unknown_header_key", source=where, key=unknown,
                                allowed=", ".join(HEADER_KEYS)))
    targets = data.get("target_services") or []
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise PlanError(message("errors.plan.target_services_not_list", source=where))
    settle = data.get("settle_timeout", DEFAULT_SETTLE_TIMEOUT)
    if not _is_number(settle) or settle <= 0:
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
    expected_types = ", ".join(sorted(CHECK_TYPES))
    if check_type is None:
        raise PlanError(message("errors.plan.check_no_type", source=where, number=index + 1,
                                expected=expected_types))
    if not isinstance(check_type, str) or check_type not in CHECK_TYPES:
        raise PlanError(
            message(
                "errors.plan.check_type_unknown",
                source=where,
                number=index + 1,
                type=repr(check_type),
                expected=expected_types,
            )
        )
    name = str(entry.get("name") or f"{check_type}-{index + 1}")
    allowed = CHECK_COMMON_KEYS + REQUIRED_PARAMS[check_type] + OPTIONAL_PARAMS[check_type]
    unknown = _unknown_key(entry, allowed)
    if unknown is not None:
        raise PlanError(message("errors.plan.unknown_check_key", source=where, name=name,
                                type=check_type, key=unknown, allowed=", ".join(allowed)))
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
    params = {key: value for key, value in entry.items() if key not in CHECK_COMMON_KEYS}
    if check_type == "exec" and not _is_argument_list(params["command"]):
        raise PlanError(message("errors.plan.exec_command_not_list", source=where, name=name))
    _validate_values(params, name, where)
    return CheckSpec(name=name, type=str(check_type), params=params)


def _validate_values(params: dict[str, Any], name: str, where: str) -> None:
    """Reject a check field whose value the check could not use, naming the field and the value."""

    def invalid(field_name: str, expected: Message) -> PlanError:
        return PlanError(message("errors.plan.check_value_invalid", source=where, name=name,
                                 field=field_name, expected=expected,
                                 value=_shown(params.get(field_name))))

    for key in ("timeout", "window"):
        if key in params and not (_is_number(params[key]) and params[key] > 0):
            raise invalid(key, message("errors.plan.expected.positive_seconds"))
    if "expect_status" in params and not _is_int_in(params["expect_status"], 100, 599):
        raise invalid("expect_status", message("errors.plan.expected.status_code"))
    if "expect_exit" in params and not _is_int_in(params["expect_exit"], 0, 255):
        raise invalid("expect_exit", message("errors.plan.expected.exit_code"))
    if "port" in params and not _is_int_in(params["port"], 1, 65535):
        raise invalid("port", message("errors.plan.expected.port"))
    if "url" in params and not _is_http_url(params["url"]):
        raise invalid("url", message("errors.plan.expected.http_url"))
    for key in ("host", "service", "method", "pattern"):
        if key in params and not (isinstance(params[key], str) and params[key].strip()):
            raise invalid(key, message("errors.plan.expected.text"))
    if "expect_output" in params and not (_is_number(params["expect_output"])
                                          or isinstance(params["expect_output"], str)):
        raise invalid("expect_output", message("errors.plan.expected.text"))
    if "pattern" in params:
        problem = _regex_problem(params["pattern"])
        if problem is not None:
            raise invalid("pattern", message("errors.plan.expected.regex", error=problem))
    if "services" in params and not _is_name_list(params["services"]):
        raise invalid("services", message("errors.plan.expected.name_list"))
    if "expect_json" in params:
        _validate_expect_json(params["expect_json"], name, where)


def _validate_expect_json(value: Any, name: str, where: str) -> None:
    if not isinstance(value, list):
        raise PlanError(message("errors.plan.check_value_invalid", source=where, name=name,
                                field="expect_json", expected=message("errors.plan.expected.list"),
                                value=_shown(value)))
    for number, expectation in enumerate(value, start=1):
        field_name = f"expect_json #{number}"
        if not isinstance(expectation, dict) or "path" not in expectation:
            raise PlanError(message("errors.plan.check_value_invalid", source=where, name=name,
                                    field=field_name,
                                    expected=message("errors.plan.expected.expectation"),
                                    value=_shown(expectation)))
        unknown = _unknown_key(expectation, EXPECT_JSON_KEYS)
        if unknown is not None:
            raise PlanError(message("errors.plan.unknown_check_key", source=where, name=name,
                                    type=field_name, key=unknown,
                                    allowed=", ".join(EXPECT_JSON_KEYS)))
        checks = (
            ("path", isinstance(expectation["path"], str), "errors.plan.expected.text"),
            ("where", isinstance(expectation.get("where", {}), dict), "errors.plan.expected.mapping"),
            ("min_count", _is_int_in(expectation.get("min_count", 0), 0, None),
             "errors.plan.expected.count"),
        )
        for key, valid, expected_key in checks:
            if not valid:
                raise PlanError(message("errors.plan.check_value_invalid", source=where, name=name,
                                        field=f"{field_name}: {key}", expected=message(expected_key),
                                        value=_shown(expectation.get(key))))


def _unknown_key(mapping: dict[Any, Any], allowed: tuple[str, ...]) -> str | None:
    """Return the first key of `mapping` that `allowed` lacks, or None."""
    for key in mapping:
        if key not in allowed:
            return str(key)
    return None


def _is_number(value: Any) -> bool:
    # YAML's true and false load as bool, which is an int subclass.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int_in(value: Any, low: int, high: int | None) -> bool:
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return value >= low and (high is None or value <= high)


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urllib.parse.urlsplit(value)
    return parsed.scheme in ("http", "https") and bool(parsed.hostname)


def _is_argument_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(part, (str, int, float)) and not isinstance(part, bool) for part in value)
    )


def _is_name_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) and item for item in value)


def _regex_problem(value: str) -> str | None:
    """Return the `re` module's reason why the pattern `value` does not compile, or None."""
    try:
        re.compile(value)
    except re.error as error:
        return str(error)
    return None


def _shown(value: Any) -> str:
    """Return `value` as the plan wrote it, cut to one short line for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
