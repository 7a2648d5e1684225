"""Turn compose files as written into the shape `docker compose config` prints.

Patterns read `Evidence.compose_config` in the resolved form: `environment`
and `labels` as maps, `depends_on` as a map with a condition per
dependency, health check tests as lists, ports and volumes in the long
syntax, `command` as a list. A hand-written evidence bundle has only the raw
file, and no Compose CLI may be at hand. So this module does the part of
Compose's work that diagnosis needs: `${VAR}` interpolation from a `.env`
beside the file, `env_file`, merging override files, and the normal forms
above. It does not validate the schema, resolve `extends` or apply profiles.

`normalize_config` is idempotent, so a configuration Compose already
resolved passes through unchanged in substance.
"""

from __future__ import annotations

import copy
import logging
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from stackmedic.i18n import Message, message

logger = logging.getLogger(__name__)

# Compose's own warning for a `${VAR}` without a default when VAR is unset.
# NOTE: the English template of "warnings.compose.variable_unset" repeats
# Compose's sentence, because patterns match warnings with this expression.
UNSET_WARNING_PATTERN = re.compile(
    r'The "(?P<name>[A-Za-z_][A-Za-z0-9_]*)" variable is not set\. Defaulting to a blank string'
)

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:(?P<operator>:?[-?+])(?P<argument>(?:[^{}]|\{[^{}]*\})*))?\}|"
    r"(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(?P<value>.*)$")
# Keys whose lists an override file appends to instead of replacing.
_APPENDED_LISTS = {"ports", "volumes", "expose", "dns", "extra_hosts", "cap_add", "secrets"}


class ComposeParseError(ValueError):
    """A compose file that is not valid YAML, or not a mapping at the top.

    `translatable` is the error as a catalogue message, and `str(error)` is its English text.
    """

    def __init__(self, translatable: Message) -> None:
        super().__init__(translatable.text)
        self.translatable = translatable


@dataclass
class Interpolation:
    """Unset variables and missing required ones, found while interpolating a compose file."""

    unset: list[str] = field(default_factory=list)
    missing_required: list[tuple[str, str]] = field(default_factory=list)

    def warnings(self) -> list[Message]:
        """Return one warning per unset variable, then one per missing required variable."""
        warnings = [message("warnings.compose.variable_unset", name=name) for name in self.unset]
        for name, explanation in self.missing_required:
            warnings.append(
                message("warnings.compose.required_missing", name=name, explanation=explanation)
            )
        return warnings


def parse_env_file(text: str) -> dict[str, str]:
    """Parse a `.env` or `env_file` file: NAME=value lines, `#` comments, optional quotes."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if match is None:
            continue
        value = match.group("value").strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[match.group("name")] = value
    return values


def interpolate(text: str, env: Mapping[str, str], found: Interpolation) -> str:
    """Replace `${VAR}`, `${VAR:-default}`, `$VAR` and the other Compose forms in one string."""

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("braced") or match.group("plain")
        operator = match.group("operator")
        argument = match.group("argument") or ""
        value = env.get(name)
        if operator in (":-", "-"):
            use_default = value is None or (operator == ":-" and value == "")
            return interpolate(argument, env, found) if use_default else str(value)
        if operator in (":+", "+"):
            present = value is not None and (operator == "+" or value != "")
            return interpolate(argument, env, found) if present else ""
        if operator in (":?", "?"):
            if value is None or (operator == ":?" and value == ""):
                found.missing_required.append((name, argument))
                return ""
            return str(value)
        if value is None:
            if name not in found.unset:
                found.unset.append(name)
            return ""
        return str(value)

    return _VARIABLE.sub(replace, text)


def _interpolate_tree(value: Any, env: Mapping[str, str], found: Interpolation) -> Any:
    if isinstance(value, str):
        return interpolate(value, env, found)
    if isinstance(value, dict):
        return {key: _interpolate_tree(item, env, found) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate_tree(item, env, found) for item in value]
    return value


def load_yaml(text: str, origin: str) -> dict[str, Any]:
    """Parse one compose file; raise ComposeParseError with the file and line on bad YAML."""
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}" if mark is not None else origin
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ComposeParseError(
            message("errors.compose.invalid_yaml", location=where, problem=problem)
        ) from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ComposeParseError(message("errors.compose.top_level_not_mapping", path=origin))
    return data


def resolve_compose(
    files: list[tuple[str, str]],
    env: Mapping[str, str],
    read_env_file: Callable[[str], str | None] | None = None,
) -> tuple[dict[str, Any], Interpolation, list[Message]]:
    """Interpolate, normalise and merge compose files given as (name, text), first file first.

    Returns the configuration, what interpolation found, and warnings about
    `env_file` entries that `read_env_file` could not provide.
    """
    found = Interpolation()
    warnings: list[Message] = []
    merged: dict[str, Any] = {}
    for origin, text in files:
        data = _interpolate_tree(load_yaml(text, origin), env, found)
        data = normalize_config(data)
        for service, config in (data.get("services") or {}).items():
            warnings.extend(_apply_env_files(service, config, read_env_file, env, found))
        merged = merge_configs(merged, data)
    return merged, found, warnings


def _apply_env_files(
    service: str,
    config: dict[str, Any],
    read_env_file: Callable[[str], str | None] | None,
    env: Mapping[str, str],
    found: Interpolation,
) -> list[Message]:
    declared = config.pop("env_file", None)
    if declared is None:
        return []
    entries = declared if isinstance(declared, list) else [declared]
    values: dict[str, str | None] = {}
    warnings: list[Message] = []
    for entry in entries:
        path = str(entry.get("path")) if isinstance(entry, dict) else str(entry)
        required = not (isinstance(entry, dict) and entry.get("required") is False)
        text = read_env_file(path) if read_env_file is not None else None
        if text is None:
            if required:
                warnings.append(
                    message("warnings.bundle.env_file_missing", path=path, service=service)
                )
            continue
        for name, value in parse_env_file(text).items():
            values[name] = interpolate(value, env, found)
    environment = config.get("environment") or {}
    config["environment"] = {**values, **environment}
    return warnings


def merge_configs(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge an override file into a base configuration as Compose does, for the common keys.

    Mappings merge key by key; `ports`, `volumes` and a few other lists are
    appended to; every other value is replaced.
    """
    result = copy.deepcopy(base)
    for key, value in override.items():
        current = result.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            result[key] = merge_configs(current, value)
        elif isinstance(current, list) and isinstance(value, list) and key in _APPENDED_LISTS:
            result[key] = current + [item for item in value if item not in current]
        else:
            result[key] = copy.deepcopy(value)
    return result


# --- normal forms ----------------------------------------------------------------


def normalize_config(config: dict[str, Any]) -> dict[str, Any]:
    """Return the configuration with every service in the resolved form (see the module doc)."""
    result = dict(config)
    services = result.get("services") or {}
    if not isinstance(services, dict):
        services = {}
    result["services"] = {
        str(name): normalize_service(service if isinstance(service, dict) else {})
        for name, service in services.items()
    }
    return result


def normalize_service(service: dict[str, Any]) -> dict[str, Any]:
    result = dict(service)
    if "environment" in result:
        result["environment"] = _mapping(result["environment"], keep_none=True)
    if "labels" in result:
        result["labels"] = _mapping(result["labels"], keep_none=False)
    if "depends_on" in result:
        result["depends_on"] = _depends_on(result["depends_on"])
    if isinstance(result.get("healthcheck"), dict):
        result["healthcheck"] = _healthcheck(result["healthcheck"])
    if isinstance(result.get("ports"), list):
        result["ports"] = [_port(entry) for entry in result["ports"]]
    if isinstance(result.get("volumes"), list):
        result["volumes"] = [_volume(entry) for entry in result["volumes"]]
    if isinstance(result.get("build"), str):
        result["build"] = {"context": result["build"], "dockerfile": "Dockerfile"}
    for key in ("command", "entrypoint"):
        if isinstance(result.get(key), str):
            result[key] = _split_command(result[key])
    return result


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _mapping(value: Any, *, keep_none: bool) -> dict[str, str | None]:
    if isinstance(value, dict):
        return {
            str(key): (None if item is None else _scalar(item))
            for key, item in value.items()
            if item is not None or keep_none
        }
    result: dict[str, str | None] = {}
    for entry in value or []:
        name, separator, item = str(entry).partition("=")
        if separator:
            result[name.strip()] = item
        elif keep_none:
            result[name.strip()] = None
    return result


def _depends_on(value: Any) -> dict[str, dict[str, Any]]:
    if isinstance(value, list):
        return {str(name): {"condition": "service_started", "required": True} for name in value}
    result: dict[str, dict[str, Any]] = {}
    for name, options in (value or {}).items():
        options = dict(options) if isinstance(options, dict) else {}
        options.setdefault("condition", "service_started")
        options.setdefault("required", True)
        result[str(name)] = options
    return result


def _healthcheck(value: dict[str, Any]) -> dict[str, Any]:
    result = dict(value)
    test = result.get("test")
    if isinstance(test, str):
        result["test"] = ["CMD-SHELL", test]
    elif isinstance(test, list):
        result["test"] = [str(part) for part in test]
    return result


_PORT = re.compile(
    r"^(?:(?P<host_ip>\[[^\]]+\]|\d+\.\d+\.\d+\.\d+):)?(?:(?P<published>[\d-]*):)?"
    r"(?P<target>\d+(?:-\d+)?)(?:/(?P<protocol>tcp|udp|sctp))?$"
)


def _port(entry: Any) -> Any:
    """Return a port mapping in the long syntax; a form this parser does not know is kept."""
    if isinstance(entry, dict):
        return entry
    match = _PORT.match(str(entry).strip())
    if match is None:
        return entry
    port: dict[str, Any] = {
        "mode": "ingress",
        "target": int(match.group("target").split("-")[0]),
        "protocol": match.group("protocol") or "tcp",
    }
    if match.group("published"):
        port["published"] = match.group("published")
    if match.group("host_ip"):
        port["host_ip"] = match.group("host_ip").strip("[]")
    return port


def _volume(entry: Any) -> Any:
    """Return a volume in the long syntax (type, source, target, read_only)."""
    if isinstance(entry, dict):
        return entry
    text = str(entry)
    parts = text.split(":")
    # A Windows drive letter ("C:\\data:/data") is part of the source.
    if len(parts) >= 3 and len(parts[0]) == 1 and parts[1].startswith(("\\", "/")):
        parts = [parts[0] + ":" + parts[1], *parts[2:]]
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0]}
    source, target = parts[0], parts[1]
    options = parts[2].split(",") if len(parts) > 2 else []
    is_bind = source.startswith((".", "/", "~", "\\")) or (len(source) > 1 and source[1] == ":")
    volume: dict[str, Any] = {
        "type": "bind" if is_bind else "volume",
        "source": source,
        "target": target,
    }
    if "ro" in options:
        volume["read_only"] = True
    if is_bind:
        volume["bind"] = {"create_host_path": True}
    return volume


def _split_command(text: str) -> list[str] | str:
    try:
        return shlex.split(text)
    except ValueError:
        return text


def raw_references(text: str) -> dict[str, list[int]]:
    """Return the variables a compose text interpolates without a default, with their lines.

    `${X:-d}`, `${X-d}` and `$$` are skipped: they never resolve to an
    unexpected blank.
    """
    found: dict[str, list[int]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        for match in _VARIABLE.finditer(line):
            if match.group("escaped"):
                continue
            operator = match.group("operator")
            if operator in (":-", "-", ":+", "+"):
                continue
            name = match.group("braced") or match.group("plain")
            found.setdefault(name, []).append(number)
    return found
