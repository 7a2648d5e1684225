"""Find the file whose change gives a service the value an edit requests.

For most edits that is the compose file `choose_file` picks. A `set_env`
edit may belong elsewhere, because Compose takes a variable's value from the
first of these that sets it:

1. the service's `environment` in any compose file. A value there written as
   `${X}` (or `$X`, `${X:-default}`), or a bare `NAME` passed through, comes
   from `.env` in the project directory unless the shell that runs
   `docker compose` sets it;
2. the files in the service's `env_file` lists, the last one winning;
3. the image's ENV, or the code's default.

So the edit goes to the compose file in case 1, to `.env` when the value is
interpolated from a `.env` line used nowhere else, and to the env file in case
2, unless that file is shared with other services. An entry added to
`environment` in that last case overrides the env file for this service
only, and the prediction says so instead of duplicating the value silently.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from stackmedic.i18n import translate
from stackmedic.model import ComposeEdit
from stackmedic.repair.compose_edit import (
    ComposeDocument,
    EditRejectedError,
    EditRejection,
    choose_file,
    defines_edited_key,
    edit_rejection,
    environment_value,
    find_interpolations,
    split_env_item,
)
from stackmedic.repair.envfile import EnvFileDocument

COMPOSE = "compose"
ENV_FILE = "env_file"
DOTENV = "dotenv"

# The whole value is one interpolation whose result is the variable itself
# when it is set: `$X`, `${X}`, `${X:-default}`, `${X-default}`, `${X:?error}`, `${X?error}`.
_WHOLE_INTERPOLATION = re.compile(
    r"^(?:\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::?[-?][^}]*)?\})$"
)


@dataclass(frozen=True)
class TargetNote:
    """The reason an edit goes to its target: a key of messages/<lang>/repair.json and its fields."""

    key: str
    fields: dict[str, Any] = field(default_factory=dict)

    def text(self, lang: str = "en") -> str:
        return translate(self.key, lang, **self.fields)


@dataclass(frozen=True)
class EditTarget:
    """The file an edit is written to.

    `kind` is compose, env_file or dotenv. For the two env kinds, `variable`
    is the variable whose line changes (for dotenv the interpolated
    variable, which may differ from the edited name) and `line` its line.
    """

    kind: str
    path: Path
    variable: str = ""
    line: int | None = None
    note: TargetNote | None = None


def locate_target(
    files: Sequence[str | Path],
    edit: ComposeEdit,
    documents: Mapping[Path, ComposeDocument],
    project_dir: Path,
    environ: Mapping[str, str] | None = None,
) -> EditTarget:
    """Return where `edit` must be written; see the module docstring for the rules.

    `documents` contains every compose file of `files`, loaded. `environ` is
    the environment `docker compose` runs with (default: this process's).
    Raise RepairError when no compose file defines the service, and
    EditRejectedError when the value must be changed by hand.
    """
    environ = os.environ if environ is None else environ
    paths = [Path(path) for path in files]
    path = choose_file(paths, edit, documents)
    document = documents[path]
    if edit.action != "set_env":
        rejection = edit_rejection(document, edit)
        if rejection is not None:
            raise EditRejectedError(path, rejection)
        return EditTarget(COMPOSE, path)

    name = str(edit.params.get("name", ""))
    if defines_edited_key(document, edit):
        rejection = edit_rejection(document, edit)
        if rejection is None:
            return EditTarget(COMPOSE, path)
        if rejection.key in ("repair.reject.interpolated_dotenv", "repair.reject.env_passthrough"):
            return _dotenv_target(paths, documents, path, edit, rejection, environ)
        raise EditRejectedError(path, rejection)

    found = _env_file_definition(paths, documents, edit.service, name, project_dir)
    if found is None:
        return EditTarget(COMPOSE, path)
    env_path, line = found
    relative = _relative(env_path, project_dir)
    sharing = [
        service
        for service in _services_using(paths, documents, env_path, project_dir)
        if service != edit.service
    ]
    if sharing:
        note = TargetNote(
            "repair.target.env_file_shared",
            {
                "name": name,
                "file": relative,
                "line": line,
                "services": ", ".join(sharing),
                "compose": document.relative_name(),
            },
        )
        return EditTarget(COMPOSE, path, note=note)
    note = TargetNote("repair.target.env_file", {"name": name, "file": relative, "line": line})
    return EditTarget(ENV_FILE, env_path, name, line, note)


def services_extending(documents: Mapping[Path, ComposeDocument], service: str) -> list[str]:
    """Return the services that inherit `service` through `extends`, directly or not.

    Only `extends` within the same set of files is followed (no `file:` key),
    because an edit of `service` reaches exactly those.
    """
    parents: dict[str, str] = {}
    for document in documents.values():
        for name in document.service_names():
            definition = _service_map(document, name)
            extends = definition.get("extends") if definition is not None else None
            if isinstance(extends, str):
                parents[name] = extends
            elif isinstance(extends, Mapping) and "file" not in extends and extends.get("service"):
                parents[name] = str(extends["service"])

    found: list[str] = []
    for name in parents:
        ancestor, seen = parents.get(name), {name}
        while ancestor is not None and ancestor not in seen:
            if ancestor == service:
                found.append(name)
                break
            seen.add(ancestor)
            ancestor = parents.get(ancestor)
    return sorted(found)


def _dotenv_target(
    paths: list[Path],
    documents: Mapping[Path, ComposeDocument],
    path: Path,
    edit: ComposeEdit,
    rejection: EditRejection,
    environ: Mapping[str, str],
) -> EditTarget:
    """Return the `.env` line behind an interpolated or passed-through value, or raise why not."""
    document = documents[path]
    name = str(edit.params.get("name", ""))
    value = environment_value(document, edit.service, name)
    if value is None:
        variable = name
    else:
        match = _WHOLE_INTERPOLATION.match(value)
        if match is None:
            # The value mixes text and variables: no single .env value gives the new one.
            raise EditRejectedError(path, rejection)
        variable = match.group("bare") or match.group("braced")

    fields: dict[str, Any] = {
        "name": name,
        "file": rejection.fields.get("file", document.relative_name()),
        "line": rejection.fields.get("line", "?"),
        "variable": variable,
        "value": edit.params.get("value"),
    }
    if variable in environ:
        raise EditRejectedError(path, EditRejection("repair.reject.dotenv_overridden", fields))
    dotenv = document.dotenv_path
    definition = EnvFileDocument.load(dotenv).value_of(variable) if dotenv.is_file() else None
    if definition is None:
        raise EditRejectedError(path, rejection)

    fields["dotenv_line"] = definition.line
    uses = _variable_uses(paths, documents, variable)
    if len(uses) > 1:
        fields.update(count=len(uses), places=", ".join(uses))
        raise EditRejectedError(path, EditRejection("repair.reject.dotenv_shared", fields))
    note = TargetNote("repair.target.dotenv", fields)
    return EditTarget(DOTENV, dotenv, variable, definition.line, note)


def _env_file_definition(
    paths: list[Path],
    documents: Mapping[Path, ComposeDocument],
    service: str,
    name: str,
    project_dir: Path,
) -> tuple[Path, int] | None:
    """Return the env file and line whose definition of `name` the service gets, or None."""
    found = None
    for env_path in _env_files_of(paths, documents, service, project_dir):
        if not env_path.is_file():
            continue
        definition = EnvFileDocument.load(env_path).value_of(name)
        if definition is not None:
            found = (env_path, definition.line)
    return found


def _env_files_of(
    paths: list[Path], documents: Mapping[Path, ComposeDocument], service: str, project_dir: Path
) -> list[Path]:
    """Return a service's env files in the order Compose reads them: file by file, in list order.

    Compose resolves relative env_file paths against the project directory,
    also in override files that live elsewhere.
    """
    env_files: list[Path] = []
    for path in paths:
        definition = _service_map(documents[path], service)
        if definition is None:
            continue
        entries = definition.get("env_file")
        if isinstance(entries, (str, Mapping)):
            entries = [entries]
        if not isinstance(entries, list):
            continue
        for entry in entries:
            location = entry.get("path") if isinstance(entry, Mapping) else entry
            if isinstance(location, str) and not find_interpolations(location):
                candidate = Path(location)
                env_files.append(candidate if candidate.is_absolute() else project_dir / candidate)
    return env_files


def _services_using(
    paths: list[Path], documents: Mapping[Path, ComposeDocument], env_path: Path, project_dir: Path
) -> list[str]:
    names: list[str] = []
    for path in paths:
        for service in documents[path].service_names():
            if service in names:
                continue
            files = _env_files_of(paths, documents, service, project_dir)
            if any(_same_path(candidate, env_path) for candidate in files):
                names.append(service)
    return names


def _variable_uses(
    paths: list[Path], documents: Mapping[Path, ComposeDocument], variable: str
) -> list[str]:
    """Return one `file:line` entry per use of `variable`: an interpolation or a pass-through entry."""
    uses: list[str] = []
    for path in paths:
        document = documents[path]
        if document.data is not None:
            _collect_uses(document, document.data, variable, uses, set())
    return uses


def _collect_uses(
    document: ComposeDocument, node: Any, variable: str, uses: list[str], seen: set[int]
) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, CommentedMap):
        for key, value in node.non_merged_items():
            if isinstance(value, (CommentedMap, CommentedSeq)):
                _collect_uses(document, value, variable, uses, seen)
                continue
            passthrough = key == variable and value is None and _is_environment(node, document)
            if passthrough or variable in find_interpolations(value):
                uses.append(f"{document.relative_name()}:{document.line_of(node, key) or '?'}")
    elif isinstance(node, CommentedSeq):
        for index, item in enumerate(node):
            if isinstance(item, (CommentedMap, CommentedSeq)):
                _collect_uses(document, item, variable, uses, seen)
                continue
            entry, has_value, _ = split_env_item(item) if isinstance(item, str) else ("", True, "")
            passthrough = entry == variable and not has_value and _is_environment(node, document)
            if passthrough or variable in find_interpolations(item):
                uses.append(f"{document.relative_name()}:{document.line_of(node, index) or '?'}")


def _is_environment(node: Any, document: ComposeDocument) -> bool:
    """Tell whether `node` is the `environment` of a service of `document`."""
    for service in (document.services or {}).values():
        if isinstance(service, CommentedMap) and service.get("environment") is node:
            return True
    return False


def _service_map(document: ComposeDocument, service: str) -> CommentedMap | None:
    services = document.services
    value = services.get(service) if services is not None else None
    return value if isinstance(value, CommentedMap) else None


def _same_path(first: Path, second: Path) -> bool:
    return os.path.normpath(first.absolute()) == os.path.normpath(second.absolute())


def _relative(path: Path, project_dir: Path) -> str:
    try:
        return path.resolve().relative_to(project_dir.resolve()).as_posix()
    except ValueError:
        return str(path)
