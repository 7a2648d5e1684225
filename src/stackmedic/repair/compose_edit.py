"""Minimal, comment-preserving edits of compose files.

Three actions change one service of one compose file: `set_env`,
`set_depends_on_conditions` and `set_healthcheck`. Each keeps the style of
what it edits (list or map `environment`, flow or block `test`, quoting of
neighbouring entries), keeps every comment, and touches only the lines it has
to. `apply_edit` dispatches a `ComposeEdit` to its action, `choose_file`
picks the file an edit belongs in when the project uses several (`-f base.yml
-f override.yml`), and `edit_rejection` returns the reason an edit must not
be made because the value it would overwrite is interpolated from `.env` or
the shell.

`ComposeDocument` (load, dump, layout detection) lives in
`stackmedic.repair.document` and is re-exported here.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    ScalarString,
    SingleQuotedScalarString,
)

from stackmedic.errors import RepairError
from stackmedic.i18n import message, translate
from stackmedic.model import ComposeEdit
from stackmedic.repair import yaml_comments as comments
from stackmedic.repair.document import ComposeDocument, has_own_key

__all__ = [
    "ACTIONS",
    "DEPENDS_ON_CONDITIONS",
    "ComposeDocument",
    "EditRejectedError",
    "EditRejection",
    "apply_edit",
    "choose_file",
    "defines_edited_key",
    "edit_rejection",
    "environment_value",
    "find_interpolations",
    "load_documents",
    "split_env_item",
]

logger = logging.getLogger(__name__)

ACTIONS = ("set_env", "set_depends_on_conditions", "set_healthcheck")
DEPENDS_ON_CONDITIONS = (
    "service_started",
    "service_healthy",
    "service_completed_successfully",
)
HEALTHCHECK_TIMINGS = ("interval", "timeout", "retries", "start_period")
# The compose key each action edits, used to pick the file among several.
_EDITED_KEY = {
    "set_env": "environment",
    "set_depends_on_conditions": "depends_on",
    "set_healthcheck": "healthcheck",
}


@dataclass(frozen=True)
class EditRejection:
    """The reason an edit must not be written, as a key of messages/<lang>/repair.json and its fields."""

    key: str
    fields: dict[str, Any] = field(default_factory=dict)

    def text(self, lang: str = "en") -> str:
        return translate(self.key, lang, **self.fields)


class EditRejectedError(RepairError):
    """An edit was rejected because of what the file contains (see `rejection`)."""

    def __init__(self, path: Path, rejection: EditRejection) -> None:
        reason = message(rejection.key, **rejection.fields)
        super().__init__(message("errors.repair.edit_rejected", path=str(path), reason=reason))
        self.path = path
        self.rejection = rejection


# Interpolation


_INTERPOLATION = re.compile(
    r"\$\$"  # an escaped dollar sign, not an interpolation
    r"|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<modifier>[^}]*)\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def find_interpolations(value: Any) -> list[str]:
    """Return the variables a compose value interpolates (`${X}`, `${X:-d}`, `$X`), in order."""
    if not isinstance(value, str):
        return []
    names: list[str] = []
    for match in _INTERPOLATION.finditer(value):
        name = match.group("braced") or match.group("bare")
        if name and name not in names:
            names.append(name)
    return names


def _dotenv_defines(path: Path, variable: str) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    pattern = re.compile(rf"^\s*(?:export\s+)?{re.escape(variable)}\s*=")
    return any(pattern.match(line) for line in text.splitlines())


def _interpolation_rejection(
    document: ComposeDocument, what: str, line: int | None, expression: str, variable: str
) -> EditRejection:
    in_dotenv = _dotenv_defines(document.dotenv_path, variable)
    return EditRejection(
        "repair.reject.interpolated_dotenv" if in_dotenv else "repair.reject.interpolated_shell",
        {
            "what": what,
            "file": document.relative_name(),
            "line": line if line is not None else "?",
            "expression": expression,
            "variable": variable,
        },
    )


def _passthrough_rejection(document: ComposeDocument, name: str, line: int | None) -> EditRejection:
    return EditRejection(
        "repair.reject.env_passthrough",
        {"name": name, "file": document.relative_name(), "line": line if line is not None else "?"},
    )


def edit_rejection(document: ComposeDocument, edit: ComposeEdit) -> EditRejection | None:
    """Return why `edit` must not be written into `document`, or None when it may be.

    An edit is rejected when the value it would overwrite is an
    interpolation (`${X}`, `${X:-d}`, `$X`), or for `set_env` a bare variable
    name that `docker compose` passes through from its own environment. Such
    a value belongs in `.env` or the shell, not in the compose file.
    """
    if not document.defines_service(edit.service):
        return None
    service = document.services[edit.service]  # type: ignore[index]
    if not isinstance(service, CommentedMap):
        return None
    if edit.action == "set_env":
        return _env_rejection(document, service, str(edit.params.get("name", "")))
    if edit.action == "set_healthcheck":
        return _healthcheck_rejection(document, service, edit.params)
    if edit.action == "set_depends_on_conditions":
        return _depends_on_rejection(document, service, edit.params.get("conditions") or {})
    return None


def _env_rejection(
    document: ComposeDocument, service: CommentedMap, name: str
) -> EditRejection | None:
    environment = service.get("environment")
    if isinstance(environment, CommentedSeq):
        for index, item in enumerate(environment):
            entry_name, has_value, value = split_env_item(item)
            if entry_name != name:
                continue
            line = document.line_of(environment, index)
            if not has_value:
                return _passthrough_rejection(document, name, line)
            variables = find_interpolations(value)
            if variables:
                return _interpolation_rejection(document, name, line, value, variables[0])
    elif isinstance(environment, CommentedMap) and name in environment:
        line = document.line_of(environment, name)
        value = environment[name]
        if value is None:
            return _passthrough_rejection(document, name, line)
        variables = find_interpolations(value)
        if variables:
            return _interpolation_rejection(document, name, line, str(value), variables[0])
    return None


def _healthcheck_rejection(
    document: ComposeDocument, service: CommentedMap, params: Mapping[str, Any]
) -> EditRejection | None:
    healthcheck = service.get("healthcheck")
    if not isinstance(healthcheck, CommentedMap):
        return None
    for key in ("test", *HEALTHCHECK_TIMINGS):
        if params.get(key) is None or key not in healthcheck:
            continue
        current = healthcheck[key]
        texts = [str(item) for item in current] if isinstance(current, list) else [str(current)]
        for text in texts:
            variables = find_interpolations(text)
            if variables:
                line = document.line_of(healthcheck, key)
                return _interpolation_rejection(
                    document, f"healthcheck.{key}", line, text, variables[0]
                )
    return None


def _depends_on_rejection(
    document: ComposeDocument, service: CommentedMap, conditions: Mapping[str, Any]
) -> EditRejection | None:
    depends_on = service.get("depends_on")
    if not isinstance(depends_on, CommentedMap):
        return None
    for dependency in conditions:
        entry = depends_on.get(dependency)
        if isinstance(entry, CommentedMap) and "condition" in entry:
            variables = find_interpolations(entry["condition"])
            if variables:
                line = document.line_of(entry, "condition")
                return _interpolation_rejection(
                    document,
                    f"depends_on.{dependency}.condition",
                    line,
                    str(entry["condition"]),
                    variables[0],
                )
    return None


# Choosing the file among several


def load_documents(files: Sequence[str | Path]) -> dict[Path, ComposeDocument]:
    """Load every compose file once, keyed by its path as given."""
    return {Path(path): ComposeDocument.load(path) for path in files}


def choose_file(
    files: Sequence[str | Path],
    edit: ComposeEdit,
    documents: Mapping[Path, ComposeDocument] | None = None,
) -> Path:
    """Return the compose file an edit belongs in, given the files in `-f` order.

    That is the last file that defines the edited key for the service (the
    variable for `set_env`, `depends_on`, `healthcheck`), else the last file
    that defines the service at all. Later files override earlier ones in
    Compose, so an edit there is the one that takes effect. Raise RepairError
    when no file defines the service.
    """
    # NOTE: a service defined through `extends:` or `include:` is only found
    # in the files listed here; following those references is not implemented.
    loaded = dict(documents) if documents is not None else load_documents(files)
    paths = [Path(path) for path in files]
    for path in paths:
        if path not in loaded:
            loaded[path] = ComposeDocument.load(path)

    defining = [path for path in paths if loaded[path].defines_service(edit.service)]
    if not defining:
        names = ", ".join(path.name for path in paths)
        if names:
            text = message("errors.repair.service_not_defined", service=edit.service, files=names)
        else:
            text = message("errors.repair.service_not_defined_no_files", service=edit.service)
        raise RepairError(text, hint=message("errors.repair.hint.check_service"))
    with_key = [path for path in defining if defines_edited_key(loaded[path], edit)]
    return with_key[-1] if with_key else defining[-1]


def defines_edited_key(document: ComposeDocument, edit: ComposeEdit) -> bool:
    """Tell whether `document` writes the key `edit` changes: the variable itself for set_env."""
    service = document.services[edit.service] if document.services is not None else None
    if not isinstance(service, CommentedMap):
        return False
    key = _EDITED_KEY.get(edit.action)
    if key is None or key not in service:
        return False
    if edit.action != "set_env":
        return True
    environment = service[key]
    name = str(edit.params.get("name", ""))
    if isinstance(environment, CommentedMap):
        return name in environment
    if isinstance(environment, CommentedSeq):
        return any(split_env_item(item)[0] == name for item in environment)
    return False


# Dispatch


def apply_edit(document: ComposeDocument, edit: ComposeEdit) -> None:
    """Apply one `ComposeEdit` to `document`.

    Raise RepairError for an unknown action, missing or invalid params, or a
    service this file does not define, and EditRejectedError when
    `edit_rejection` rejects the edit.
    """
    if edit.action not in ACTIONS:
        raise RepairError(
            message(
                "errors.repair.unknown_action",
                action=repr(edit.action),
                expected=", ".join(ACTIONS),
            )
        )
    document.service(edit.service)
    rejection = edit_rejection(document, edit)
    if rejection is not None:
        raise EditRejectedError(document.path, rejection)

    params = edit.params
    if edit.action == "set_env":
        name, value = params.get("name"), params.get("value")
        if not isinstance(name, str) or not name or value is None:
            raise RepairError(message("errors.repair.set_env_params", params=repr(dict(params))))
        set_env(document, edit.service, name, str(value))
    elif edit.action == "set_depends_on_conditions":
        conditions = params.get("conditions")
        if not isinstance(conditions, Mapping) or not conditions:
            raise RepairError(
                message("errors.repair.set_depends_on_params", params=repr(dict(params)))
            )
        set_depends_on_conditions(document, edit.service, dict(conditions))
    else:
        if params.get("test") in (None, "", []):
            raise RepairError(
                message("errors.repair.set_healthcheck_params", params=repr(dict(params)))
            )
        set_healthcheck(
            document,
            edit.service,
            test=params["test"],
            interval=params.get("interval"),
            timeout=params.get("timeout"),
            retries=params.get("retries"),
            start_period=params.get("start_period"),
        )


# Shared helpers


def split_env_item(item: Any) -> tuple[str, bool, str]:
    """Split a list-form environment entry into (name, has a value, value)."""
    text = str(item)
    name, separator, value = text.partition("=")
    return name.strip(), bool(separator), value


def environment_value(document: ComposeDocument, service_name: str, name: str) -> str | None:
    """Return the value `document` writes for variable `name` of a service.

    None means the variable is written without a value (passed through) or
    not written at all. `defines_edited_key` distinguishes the two.
    """
    services = document.services
    service = services.get(service_name) if services is not None else None
    environment = service.get("environment") if isinstance(service, CommentedMap) else None
    if isinstance(environment, CommentedMap):
        value = environment.get(name)
        return None if value is None else str(value)
    if isinstance(environment, CommentedSeq):
        for item in environment:
            entry, has_value, value = split_env_item(item)
            if entry == name and has_value:
                return value
    return None


def _quote_like(value: str, neighbours: Sequence[Any]) -> str:
    """Return `value` as the scalar type most of `neighbours` use (double, single or no quotes)."""
    styles = Counter(_style_of(item) for item in neighbours if isinstance(item, str))
    style = styles.most_common(1)[0][0] if styles else "plain"
    return _with_style(value, style)


def _style_of(item: str) -> str:
    if isinstance(item, DoubleQuotedScalarString):
        return "double"
    if isinstance(item, SingleQuotedScalarString):
        return "single"
    return "plain"


def _with_style(value: str, style: str) -> str:
    styled: str = value
    if style == "double" or (style == "plain" and not _reads_back_as_string(value)):
        styled = DoubleQuotedScalarString(value)
    elif style == "single":
        styled = SingleQuotedScalarString(value)
    return styled


_RESOLVER = VersionedResolver()


def _reads_back_as_string(value: str) -> bool:
    """Return True when `value` written unquoted would load as a string, not a number or boolean.

    ruamel would add single quotes itself; compose files more often use
    double quotes, so the caller picks them explicitly.
    """
    if _YAML11_BOOLEAN.match(value):
        return False
    tag = _RESOLVER.resolve(ScalarNode, value, (True, False))
    return str(tag) == "tag:yaml.org,2002:str"


# YAML 1.1 booleans: strings for ruamel (YAML 1.2), but some YAML 1.1 parsers read them as bools.
_YAML11_BOOLEAN = re.compile(r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$")


_INTEGER = re.compile(r"^(0|-?[1-9][0-9]*)$")


def _scalar_like(value: str, current: Any, neighbours: Sequence[Any]) -> Any:
    """Return `value` as a scalar matching the value it replaces, or its neighbours when new."""
    examples = [current] if current is not None else list(neighbours)
    if _INTEGER.match(value) and any(
        isinstance(item, int) and not isinstance(item, bool) for item in examples
    ):
        return int(value)
    if isinstance(current, ScalarString):
        return type(current)(value)
    return _quote_like(value, [item for item in examples if isinstance(item, str)])


def _writable(document: ComposeDocument, service: CommentedMap, key: str) -> Any:
    """Return `service[key]` ready to be changed for this service alone, or None if absent.

    A value inherited through a `<<:` merge key, or an alias of a node used
    elsewhere, is first replaced by the service's own copy. Raise RepairError
    for a node that other entries reach through its anchor.
    """
    if key not in service:
        return None
    value = service[key]
    if not isinstance(value, (CommentedMap, CommentedSeq)):
        return value
    if not has_own_key(service, key):
        copy = _fresh_copy(value)
        _append_key(document, service, key, copy)
        logger.debug("%s: copied %s inherited through a merge key", document.path, key)
        return copy
    if document.reference_counts()[id(value)] > 1:
        if _is_anchor_owner(document, service, key, value):
            raise RepairError(
                message(
                    "errors.repair.shared_anchor",
                    location=f"{document.path}:{document.line_of(service, key)}",
                    key=key,
                ),
                hint=message("errors.repair.hint.own_copy"),
            )
        copy = _fresh_copy(value)
        comments.replace_value(service, key, copy, document.alias_slots())
        return copy
    return value


def _is_anchor_owner(
    document: ComposeDocument, service: CommentedMap, key: str, value: Any
) -> bool:
    """Return True when `service[key]` is the place where the shared node is written in full.

    ruamel writes a node that is reached several times in full at its first
    occurrence in document order (with its anchor) and as an alias elsewhere.
    """
    return document.first_reference(value) == (id(service), key)


def _fresh_copy(value: Any) -> Any:
    """Copy a collection without anchors or comments, flattening merge keys."""
    if isinstance(value, CommentedMap):
        copy_map = CommentedMap()
        for key, item in value.items():
            copy_map[key] = _fresh_copy(item)
        if value.fa.flow_style():
            copy_map.fa.set_flow_style()
        return copy_map
    if isinstance(value, CommentedSeq):
        copy_seq = CommentedSeq(_fresh_copy(item) for item in value)
        if value.fa.flow_style():
            copy_seq.fa.set_flow_style()
        return copy_seq
    return value


def _append_key(document: ComposeDocument, mapping: CommentedMap, key: Any, value: Any) -> None:
    """Add `key: value` at the end of `mapping`, keeping the comments that followed the last entry.

    Comment lines after the old last entry that are indented less than the
    mapping's keys (they introduce whatever comes after the mapping) move
    below the new entry.
    """
    previous = comments.last_key(mapping) if len(mapping) else None
    if previous is None:
        mapping[key] = value
        return
    aliases = document.alias_slots()
    threshold = document.key_column(mapping)
    tail = comments.detach_tail(mapping, previous, threshold, aliases)
    mapping[key] = value
    comments.attach_tail(mapping, key, tail, aliases)


def _put_key(document: ComposeDocument, mapping: CommentedMap, key: Any, value: Any) -> None:
    """Set `key` where it is written already (such as an empty `environment:`), else append it."""
    if has_own_key(mapping, key):
        comments.replace_value(mapping, key, value, document.alias_slots())
    else:
        _append_key(document, mapping, key, value)


def _append_item(document: ComposeDocument, sequence: CommentedSeq, item: Any) -> None:
    """Append `item` to `sequence`, keeping the comments that followed the last item."""
    if len(sequence) == 0 or sequence.fa.flow_style():
        sequence.append(item)
        return
    previous = len(sequence) - 1
    threshold = document.dash_column(sequence)
    aliases = document.alias_slots()
    tail = comments.detach_tail(sequence, previous, threshold, aliases)
    sequence.append(item)
    comments.attach_tail(sequence, len(sequence) - 1, tail, aliases)


def _sibling_services(document: ComposeDocument, exclude: str) -> list[CommentedMap]:
    services = document.services
    if services is None:
        return []
    return [
        value
        for name, value in services.non_merged_items()
        if name != exclude and isinstance(value, CommentedMap)
    ]


# set_env


def set_env(document: ComposeDocument, service_name: str, name: str, value: str) -> None:
    """Set environment variable `name` of a service to `value`.

    A list-form `environment` gets `NAME=value` (replacing an existing entry
    in place) and a map-form one gets `NAME: value`. A missing `environment`
    is created in the form the file's other services use, or as a list when
    none has one. New entries take the quoting of their neighbours.
    """
    service = document.service(service_name)
    environment = _writable(document, service, "environment")

    if environment is None:
        environment = _new_environment(document, service_name)
        neighbours = _env_neighbours(document, environment)
        if isinstance(environment, CommentedMap):
            environment[name] = _scalar_like(value, None, neighbours)
        else:
            strings = [item for item in neighbours if isinstance(item, str)]
            environment.append(_quote_like(f"{name}={value}", strings))
        _put_key(document, service, "environment", environment)
        return

    if isinstance(environment, CommentedSeq):
        _set_env_in_list(document, environment, name, value)
    elif isinstance(environment, CommentedMap):
        _set_env_in_map(document, environment, name, value)
    else:
        raise RepairError(
            message(
                "errors.repair.key_not_list_or_mapping",
                location=f"{document.path}:{document.line_of(service, 'environment')}",
                key="environment",
                service=service_name,
            )
        )


def _new_environment(document: ComposeDocument, service_name: str) -> CommentedSeq | CommentedMap:
    forms = Counter(
        "map" if isinstance(sibling.get("environment"), CommentedMap) else "list"
        for sibling in _sibling_services(document, service_name)
        if isinstance(sibling.get("environment"), (CommentedMap, CommentedSeq))
    )
    if forms and forms.most_common(1)[0][0] == "map":
        return CommentedMap()
    return CommentedSeq()


def _env_neighbours(document: ComposeDocument, environment: Any) -> list[Any]:
    """Return entries whose quoting a new entry should follow: its own list, else other services'."""
    if len(environment):
        return list(environment.values() if isinstance(environment, CommentedMap) else environment)
    neighbours: list[Any] = []
    services = document.services
    for _, sibling in services.non_merged_items() if services is not None else []:
        other = sibling.get("environment") if isinstance(sibling, CommentedMap) else None
        if isinstance(other, CommentedMap):
            neighbours.extend(other.values())
        elif isinstance(other, CommentedSeq):
            neighbours.extend(other)
    return neighbours


def _set_env_in_list(
    document: ComposeDocument, environment: CommentedSeq, name: str, value: str
) -> None:
    matches = [index for index, item in enumerate(environment) if split_env_item(item)[0] == name]
    entry = f"{name}={value}"
    for index in matches:
        current = environment[index]
        environment[index] = type(current)(entry) if isinstance(current, ScalarString) else entry
    if not matches:
        neighbours = [
            item for item in _env_neighbours(document, environment) if isinstance(item, str)
        ]
        _append_item(document, environment, _quote_like(entry, neighbours))


def _set_env_in_map(
    document: ComposeDocument, environment: CommentedMap, name: str, value: str
) -> None:
    neighbours = _env_neighbours(document, environment)
    if has_own_key(environment, name):
        environment[name] = _scalar_like(value, environment[name], neighbours)
        return
    _append_key(document, environment, name, _scalar_like(value, None, neighbours))


# set_depends_on_conditions


def set_depends_on_conditions(
    document: ComposeDocument, service_name: str, conditions: dict[str, str]
) -> None:
    """Give `depends_on` entries a start condition, converting the list form to the map form.

    Entries of a list-form `depends_on` keep their order and comments, and
    get `condition: service_started` unless `conditions` names them. Entries
    of a map form get their `condition` set or replaced. Dependencies not yet
    listed are added at the end.
    """
    for dependency, condition in conditions.items():
        if condition not in DEPENDS_ON_CONDITIONS:
            raise RepairError(
                message(
                    "errors.repair.unknown_condition",
                    condition=repr(condition),
                    dependency=dependency,
                    expected=", ".join(DEPENDS_ON_CONDITIONS),
                )
            )
    service = document.service(service_name)
    depends_on = _writable(document, service, "depends_on")

    if depends_on is None:
        new_map = CommentedMap()
        for dependency, condition in conditions.items():
            new_map[dependency] = CommentedMap(condition=condition)
        _put_key(document, service, "depends_on", new_map)
    elif isinstance(depends_on, CommentedSeq):
        was_flow = bool(depends_on.fa.flow_style())
        new_map = _list_to_map(document, depends_on, conditions)
        comments.replace_value(service, "depends_on", new_map, document.alias_slots())
        if was_flow:
            _realign_end_of_line(document, service, "depends_on")
    elif isinstance(depends_on, CommentedMap):
        _set_conditions_in_map(document, depends_on, conditions)
    else:
        raise RepairError(
            message(
                "errors.repair.key_not_list_or_mapping",
                location=f"{document.path}:{document.line_of(service, 'depends_on')}",
                key="depends_on",
                service=service_name,
            )
        )


def _list_to_map(
    document: ComposeDocument, depends_on: CommentedSeq, conditions: dict[str, str]
) -> CommentedMap:
    """Build the map form of a list-form `depends_on`, moving each item's comments to its entry."""
    new_map = CommentedMap()
    for index, item in enumerate(depends_on):
        dependency = str(item)
        new_map[dependency] = CommentedMap(condition=conditions.get(dependency, "service_started"))
        token = comments.get_post_token(depends_on, index)
        if token is None:
            continue
        comments.set_post_token(depends_on, index, None)
        head, lines = comments.split_token(token)
        if head and not depends_on.fa.flow_style():
            comments.set_end_of_line(
                new_map, dependency, head, _end_of_line_column(document, depends_on, index, token)
            )
        comments.attach_tail(new_map, dependency, lines)

    for dependency, condition in conditions.items():
        if dependency not in new_map:
            new_map[dependency] = CommentedMap(condition=condition)
    return new_map


def _end_of_line_column(
    document: ComposeDocument, sequence: CommentedSeq, index: int, token: Any
) -> int:
    """Return the column for an item's end-of-line comment once `- item` becomes `item:`.

    The gap between the text and the comment stays the same. The new key
    sits at the parent key's column plus the mapping indent.
    """
    column = int(token.start_mark.column) if token.start_mark is not None else 0
    dash = document.dash_column(sequence)
    if dash is None:
        return column
    item_column = int(sequence.lc.item(index)[1])
    parent_key_column = dash - document.layout.offset
    key_column = parent_key_column + document.layout.mapping
    return max(column + (key_column + 1 - item_column), 0)


def _realign_end_of_line(document: ComposeDocument, mapping: CommentedMap, key: str) -> None:
    """Move the end-of-line comment of `key:` next to it after its flow value became a block.

    The comment keeps the gap it had after the flow value's closing bracket.
    """
    token = comments.get_post_token(mapping, key)
    line = document.line_of(mapping, key)
    if token is None or token.start_mark is None or line is None:
        return
    text = document.lines[line - 1]
    column = token.start_mark.column
    gap = column - len(text[:column].rstrip())
    key_end = int(mapping.lc.key(key)[1]) + len(str(key)) + 1
    # ruamel's emitter reads only `.column` from a comment's start mark.
    token.start_mark = CommentMark(key_end + max(gap, 1))  # type: ignore[assignment]


def _set_conditions_in_map(
    document: ComposeDocument, depends_on: CommentedMap, conditions: dict[str, str]
) -> None:
    flow_entries = any(
        isinstance(entry, CommentedMap) and entry.fa.flow_style() for entry in depends_on.values()
    )
    for dependency, condition in conditions.items():
        if dependency not in depends_on:
            entry = CommentedMap(condition=condition)
            if flow_entries:
                entry.fa.set_flow_style()
            _append_key(document, depends_on, dependency, entry)
            continue
        entry = depends_on[dependency]
        if entry is None:
            depends_on[dependency] = CommentedMap(condition=condition)
        elif isinstance(entry, CommentedMap):
            if "condition" in entry:
                entry["condition"] = _scalar_like(condition, entry["condition"], [])
            else:
                entry.insert(0, "condition", condition)
        else:
            raise RepairError(
                message(
                    "errors.repair.depends_on_entry",
                    location=f"{document.path}:{document.line_of(depends_on, dependency)}",
                    dependency=dependency,
                )
            )


# set_healthcheck


def set_healthcheck(
    document: ComposeDocument,
    service_name: str,
    test: Sequence[str] | str,
    interval: str | None = None,
    timeout: str | None = None,
    retries: int | None = None,
    start_period: str | None = None,
) -> None:
    """Replace a service's health check test and timings, creating the health check if missing.

    A list `test` is written in the style of the one it replaces (flow
    `[...]` or block, with its quoting), and a new one as a flow list in
    double quotes. Timings that are None are left as they are. `disable:
    true` is removed, since the point of the edit is a working probe.
    """
    service = document.service(service_name)
    healthcheck = _writable(document, service, "healthcheck")
    timings = {
        "interval": interval,
        "timeout": timeout,
        "retries": retries,
        "start_period": start_period,
    }

    if healthcheck is None:
        healthcheck = CommentedMap()
        healthcheck["test"] = _test_value(test, None)
        for key, timing in timings.items():
            if timing is not None:
                healthcheck[key] = timing
        _put_key(document, service, "healthcheck", healthcheck)
        return
    if not isinstance(healthcheck, CommentedMap):
        raise RepairError(
            message(
                "errors.repair.healthcheck_not_mapping",
                location=f"{document.path}:{document.line_of(service, 'healthcheck')}",
                service=service_name,
            )
        )

    if "test" in healthcheck:
        if _test_differs(healthcheck["test"], test):
            new_test = _test_value(test, healthcheck["test"])
            comments.replace_value(healthcheck, "test", new_test, document.alias_slots())
    else:
        healthcheck.insert(0, "test", _test_value(test, None))

    for key, timing in timings.items():
        if timing is None:
            continue
        if key in healthcheck:
            if str(healthcheck[key]) != str(timing):
                healthcheck[key] = _timing_like(timing, healthcheck[key])
        else:
            _append_key(document, healthcheck, key, timing)

    if has_own_key(healthcheck, "disable"):
        _remove_key(document, healthcheck, "disable")


def _test_differs(current: Any, test: Sequence[str] | str) -> bool:
    if isinstance(test, str):
        return not isinstance(current, str) or str(current) != test
    return not isinstance(current, list) or [str(item) for item in current] != list(test)


def _test_value(test: Sequence[str] | str, current: Any) -> Any:
    if isinstance(test, str):
        if isinstance(current, (LiteralScalarString, FoldedScalarString)):
            # Keep `|` rather than turning it into `|-`: the block kept its final newline.
            ending = "\n" if str(current).endswith("\n") and not test.endswith("\n") else ""
            return type(current)(test + ending)
        if isinstance(current, ScalarString):
            return type(current)(test)
        return test
    if isinstance(current, CommentedSeq):
        items = [_quote_like(str(item), list(current)) for item in test]
        sequence = CommentedSeq(items)
        if current.fa.flow_style():
            sequence.fa.set_flow_style()
        return sequence
    sequence = CommentedSeq(DoubleQuotedScalarString(str(item)) for item in test)
    sequence.fa.set_flow_style()
    return sequence


def _timing_like(timing: Any, current: Any) -> Any:
    if isinstance(current, ScalarString):
        return type(current)(str(timing))
    return timing


def _remove_key(document: ComposeDocument, mapping: CommentedMap, key: Any) -> None:
    """Delete `key`, handing the comment lines after it to the entry before it."""
    keys = [own for own, _ in mapping.non_merged_items()]
    position = keys.index(key)
    aliases = document.alias_slots()
    tail = comments.detach_tail(mapping, key, None, aliases)
    del mapping[key]
    mapping.ca.items.pop(key, None)
    if position > 0:
        comments.attach_tail(mapping, keys[position - 1], tail, aliases)
