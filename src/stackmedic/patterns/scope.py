"""The source files each service runs, so that facts of one service do not leak into another.

Services that share a build context get the same collected files, and source
analysis stamps every fact with every such service: the worker's connect
would also count as the main service's. A service runs only the modules its
command starts (`python -m tacore.worker`, `python app.py`, `uvicorn
app.main:app`) and the project modules those import, transitively.
`scope_facts` drops the Python facts of each service that lie outside that
set. When a service's entry module cannot be found, its facts are kept whole.
"""

from __future__ import annotations

import ast
import dataclasses
import logging
import posixpath
import shlex
from collections.abc import Iterable

from stackmedic.analysis import dockerfile
from stackmedic.evidence.facts import SourceFacts
from stackmedic.evidence.model import Evidence, SourceFile

logger = logging.getLogger(__name__)

_PER_SERVICE_FIELDS = (
    "env_reads",
    "endpoints",
    "log_sites",
    "blocking_calls",
    "class_definitions",
    "table_definitions",
    "key_uses",
    "attribute_calls",
)
_ASGI_SERVERS = {"uvicorn", "gunicorn", "hypercorn", "daphne"}


def command_argv(evidence: Evidence, service: str) -> list[str]:
    """Return the argv a service's containers start with.

    That is the compose entrypoint and command, else the image's ENTRYPOINT and CMD.
    """
    config = evidence.services.get(service, {})
    argv = _as_argv(config.get("entrypoint")) + _as_argv(config.get("command"))
    if argv:
        return argv
    source = dockerfile.dockerfile_for(evidence, service)
    if source is None:
        return []
    final = dockerfile.parse_dockerfile(source.text).final
    if final is None:
        return []
    commands = [c for c in (final.entrypoint, final.cmd) if c is not None]
    return [token for command in commands for token in _command_tokens(command)]


def _as_argv(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return _split(value)
    return [str(part) for part in value]  # type: ignore[attr-defined]


def _command_tokens(command: dockerfile.Command) -> list[str]:
    return _split(command.text) if command.shell_form else list(command.argv)


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def entry_modules(argv: list[str]) -> list[str]:
    """Return the entry points an argv names, as relative file paths ("tacore/worker.py").

    Shell wrappers (`sh -c "..."`) are looked into.
    """
    found = []
    tokens = list(argv)
    for index, token in enumerate(tokens):
        name = posixpath.basename(token)
        if name in ("sh", "bash") and index + 2 < len(tokens) and tokens[index + 1] == "-c":
            found.extend(entry_modules(_split(tokens[index + 2])))
        elif name.startswith("python"):
            found.extend(_python_entry(tokens[index + 1 :]))
        elif name in _ASGI_SERVERS:
            for argument in tokens[index + 1 :]:
                if ":" in argument and not argument.startswith("-") and "/" not in argument:
                    found.append(_module_path(argument.split(":", 1)[0]))
                    break
    return found


def _python_entry(arguments: list[str]) -> list[str]:
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        if argument == "-m" and index + 1 < len(arguments):
            return [_module_path(arguments[index + 1])]
        if argument == "-c":
            return []
        if argument in ("-W", "-X"):
            index += 2
            continue
        if argument.startswith("-"):
            index += 1
            continue
        return [argument.lstrip("./")] if argument.endswith(".py") else []
    return []


def _module_path(module: str) -> str:
    return module.replace(".", "/") + ".py"


def _find_entry(sources: list[SourceFile], relative: str) -> SourceFile | None:
    """Return the collected file of an entry path (`pkg/mod.py`, or `pkg/mod/__main__.py`)."""
    wanted = [relative, relative[:-3] + "/__main__.py"]
    matches = [
        source
        for source in sources
        for candidate in wanted
        if source.path == candidate or source.path.endswith("/" + candidate)
    ]
    return min(matches, key=lambda s: len(s.path)) if matches else None


def _root_of(entry: SourceFile, relative: str) -> str:
    """Return the folder that module names are relative to, given the entry file."""
    for suffix in (relative, relative[:-3] + "/__main__.py"):
        if entry.path.endswith(suffix):
            return entry.path[: len(entry.path) - len(suffix)].rstrip("/")
    return ""


def reachable_files(evidence: Evidence, service: str) -> set[str] | None:
    """Return the project paths of the Python files a service runs, or None when unknown."""
    sources = [s for s in evidence.sources_of(service) if s.path.endswith(".py")]
    if not sources:
        return None
    by_path = {source.path: source for source in sources}
    reached: set[str] = set()
    pending: list[tuple[SourceFile, str]] = []
    for relative in entry_modules(command_argv(evidence, service)):
        entry = _find_entry(sources, relative)
        if entry is not None:
            pending.append((entry, _root_of(entry, relative)))
    if not pending:
        return None

    while pending:
        current, root = pending.pop()
        if current.path in reached:
            continue
        reached.add(current.path)
        for module in _imported_modules(current, root):
            for path in _module_files(module, root):
                if path in by_path and path not in reached:
                    pending.append((by_path[path], root))
    return reached


def _imported_modules(source: SourceFile, root: str) -> list[str]:
    """Return the dotted names a file imports, relative imports made absolute."""
    try:
        tree = ast.parse(source.text)
    except SyntaxError:
        return []
    relative = source.path[len(root) :].lstrip("/") if root else source.path
    package = posixpath.dirname(relative).replace("/", ".")
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                keep = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join([*keep, base] if base else keep)
            names.append(base)
            names.extend(f"{base}.{alias.name}" if base else alias.name for alias in node.names)
    return [name for name in names if name]


def _module_files(module: str, root: str) -> Iterable[str]:
    """Return the files a dotted name can be, with the __init__.py of each parent package."""
    parts = module.split(".")
    prefix = f"{root}/" if root else ""
    for count in range(1, len(parts)):
        yield prefix + "/".join(parts[:count]) + "/__init__.py"
    yield prefix + "/".join(parts) + ".py"
    yield prefix + "/".join(parts) + "/__init__.py"


def scope_facts(evidence: Evidence, facts: SourceFacts) -> SourceFacts:
    """Return a copy of `facts` without Python facts of files a service does not run."""
    reachable = {service: reachable_files(evidence, service) for service in evidence.services}
    scoped = dataclasses.replace(facts)
    for name in _PER_SERVICE_FIELDS:
        kept = []
        for record in getattr(facts, name):
            files = reachable.get(record.service)
            if files is None or not record.path.endswith(".py") or record.path in files:
                kept.append(record)
        setattr(scoped, name, kept)
    for service, files in sorted(reachable.items()):
        if files is not None:
            logger.debug(
                "%s runs %d Python files: %s", service, len(files), ", ".join(sorted(files))
            )
    return scoped
