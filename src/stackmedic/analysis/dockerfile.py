"""Parse a Dockerfile into instructions and per-stage state.

The parser handles line continuations (with the `# escape=` directive),
comments, heredocs, and exec and shell forms. It substitutes `$VAR` and
`${VAR:-default}` in ENV, ARG, WORKDIR, COPY/ADD, USER and EXPOSE. In a
multi-stage build, a stage built `FROM` an earlier stage inherits its ENV,
WORKDIR, USER, CMD, ENTRYPOINT and HEALTHCHECK. The final stage is what a
container runs.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from stackmedic.evidence.model import Evidence, SourceFile

_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][\w]*)\2")
_VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_]\w*)(?P<op>:?[-+])?(?P<word>[^}]*)\}|(?P<plain>[A-Za-z_]\w*))"
)
_HEALTHCHECK_OPTIONS = {
    "interval": "interval",
    "timeout": "timeout",
    "start-period": "start_period",
    "start-interval": "start_interval",
    "retries": "retries",
}


@dataclass
class Instruction:
    """One instruction; `arguments` is its text with continuations joined."""

    keyword: str
    arguments: str
    line: int
    end_line: int
    heredocs: list[str] = field(default_factory=list)


@dataclass
class Command:
    """A CMD or ENTRYPOINT: `argv` in exec form, or `["/bin/sh", "-c", text]` in shell form."""

    argv: list[str]
    shell_form: bool
    text: str
    line: int


@dataclass
class Copy:
    """A COPY or ADD: sources as written, destination made absolute against WORKDIR.

    The destination keeps a trailing "/" when it had one. `from_stage` is the
    `--from` value; such a copy takes files from another stage or image, not
    from the build context.
    """

    keyword: str
    sources: list[str]
    destination: str
    line: int
    from_stage: str | None = None


@dataclass
class Stage:
    """The state a stage has built up after its last instruction."""

    base: str
    name: str | None
    line: int
    env: dict[str, tuple[str, int]] = field(default_factory=dict)
    args: dict[str, tuple[str | None, int]] = field(default_factory=dict)
    workdir: str = "/"
    user: str | None = None
    expose: list[str] = field(default_factory=list)
    entrypoint: Command | None = None
    cmd: Command | None = None
    healthcheck: dict[str, Any] | None = None
    copies: list[Copy] = field(default_factory=list)


@dataclass
class Dockerfile:
    instructions: list[Instruction]
    stages: list[Stage]
    global_args: dict[str, tuple[str | None, int]]

    @property
    def final(self) -> Stage | None:
        return self.stages[-1] if self.stages else None


# --- lexing ------------------------------------------------------------------


def parse_instructions(text: str) -> list[Instruction]:
    """Split a Dockerfile into instructions, joining continuation lines."""
    lines = text.splitlines()
    escape = _escape_character(lines)
    instructions: list[Instruction] = []
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        if not stripped or stripped.startswith("#"):
            index += 1
            continue

        start = index
        parts: list[str] = []
        while index < len(lines):
            current = lines[index].rstrip()
            # Docker drops comment and empty lines inside a continued instruction.
            if index > start and (not current.strip() or current.lstrip().startswith("#")):
                index += 1
                continue
            if current.endswith(escape):
                parts.append(current[:-1])
                index += 1
                continue
            parts.append(current)
            break
        index += 1

        keyword, _, arguments = " ".join(p.strip() for p in parts).strip().partition(" ")
        instruction = Instruction(
            keyword.upper(), arguments.strip(), start + 1, min(index, len(lines))
        )
        index = _read_heredocs(instruction, lines, index)
        instructions.append(instruction)
    return instructions


def _escape_character(lines: list[str]) -> str:
    for line in lines:
        match = re.match(r"#\s*escape\s*=\s*(\S)", line.strip(), re.IGNORECASE)
        if match:
            return match.group(1)
        if not re.match(r"#\s*\w+\s*=", line.strip()):
            break
    return "\\"


def _read_heredocs(instruction: Instruction, lines: list[str], index: int) -> int:
    if instruction.keyword not in ("RUN", "COPY", "ADD"):
        return index
    for match in _HEREDOC.finditer(instruction.arguments):
        strip_tabs, delimiter = match.group(1) == "-", match.group(3)
        body: list[str] = []
        while index < len(lines):
            current = lines[index].lstrip("\t") if strip_tabs else lines[index]
            index += 1
            if current.strip() == delimiter:
                break
            body.append(current)
        instruction.heredocs.append("\n".join(body))
        instruction.end_line = index
    return index


# --- semantics -----------------------------------------------------------------


def parse_dockerfile(text: str) -> Dockerfile:
    """Parse a Dockerfile and replay its instructions stage by stage."""
    instructions = parse_instructions(text)
    stages: list[Stage] = []
    global_args: dict[str, tuple[str | None, int]] = {}
    for instruction in instructions:
        if instruction.keyword == "FROM":
            stages.append(_new_stage(instruction, stages, global_args))
        elif not stages:
            if instruction.keyword == "ARG":
                for name, value in _arg_pairs(instruction.arguments, {}):
                    global_args[name] = (value, instruction.line)
        else:
            _apply(stages[-1], instruction, global_args)
    return Dockerfile(instructions, stages, global_args)


def _new_stage(
    instruction: Instruction, stages: list[Stage], global_args: dict[str, tuple[str | None, int]]
) -> Stage:
    words = [w for w in instruction.arguments.split() if not w.startswith("--")]
    base = _substitute(words[0], _values(global_args)) if words else ""
    name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
    stage = Stage(base, name, instruction.line)
    parent = next((s for s in stages if s.name and s.name.lower() == base.lower()), None)
    if parent is not None:
        stage.env = dict(parent.env)
        stage.workdir = parent.workdir
        stage.user = parent.user
        stage.expose = list(parent.expose)
        stage.entrypoint, stage.cmd = parent.entrypoint, parent.cmd
        stage.healthcheck = parent.healthcheck
    return stage


def _apply(
    stage: Stage, instruction: Instruction, global_args: dict[str, tuple[str | None, int]]
) -> None:
    keyword, arguments, line = instruction.keyword, instruction.arguments, instruction.line
    variables = {**_values(stage.args), **{k: v for k, (v, _) in stage.env.items()}}
    if keyword == "ENV":
        for name, value in _env_pairs(arguments, variables):
            stage.env[name] = (value, line)
    elif keyword == "ARG":
        for name, arg_value in _arg_pairs(arguments, variables):
            if arg_value is None and name in global_args:
                arg_value = global_args[name][0]
            stage.args[name] = (arg_value, line)
    elif keyword == "WORKDIR":
        path = _substitute(arguments.strip().strip("\"'"), variables)
        stage.workdir = posixpath.normpath(posixpath.join(stage.workdir, path))
    elif keyword == "USER":
        stage.user = _substitute(arguments.strip(), variables)
    elif keyword == "EXPOSE":
        stage.expose.extend(_substitute(arguments, variables).split())
    elif keyword in ("CMD", "ENTRYPOINT"):
        command = _command(arguments, line)
        if keyword == "CMD":
            stage.cmd = command
        else:
            stage.entrypoint = command
    elif keyword == "HEALTHCHECK":
        stage.healthcheck = parse_healthcheck(arguments)
    elif keyword in ("COPY", "ADD"):
        copy = _copy(keyword, arguments, line, stage.workdir, variables)
        if copy is not None:
            stage.copies.append(copy)


def _values(pairs: dict[str, tuple[str | None, int]]) -> dict[str, str | None]:
    return {name: value for name, (value, _) in pairs.items()}


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError:
        return text.split()


def _env_pairs(arguments: str, variables: dict[str, str | None]) -> list[tuple[str, str]]:
    """Parse `ENV A=1 B="two words"` and the legacy `ENV NAME value with spaces`."""
    words = _split(arguments)
    if not words:
        return []
    if "=" not in words[0]:
        name, _, value = arguments.strip().partition(" ")
        return [(name, _substitute(value.strip(), variables))]
    pairs = []
    for word in words:
        name, _, value = word.partition("=")
        pairs.append((name, _substitute(value, variables)))
        variables = {**variables, name: value}
    return pairs


def _arg_pairs(arguments: str, variables: dict[str, str | None]) -> list[tuple[str, str | None]]:
    pairs: list[tuple[str, str | None]] = []
    for word in _split(arguments):
        name, separator, value = word.partition("=")
        pairs.append((name, _substitute(value, variables) if separator else None))
    return pairs


def _substitute(text: str, variables: dict[str, str | None]) -> str:
    """Expand `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alternative}` as Docker does."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("plain")
        value = variables.get(name)
        operator, word = match.group("op"), match.group("word") or ""
        if operator in (":-", "-"):
            return value if value else word
        if operator in (":+", "+"):
            return word if value else ""
        return value or ""

    return _VARIABLE.sub(replace, text)


def _exec_form(arguments: str) -> list[str] | None:
    text = arguments.strip()
    if not text.startswith("["):
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
        return parsed
    return None


def _command(arguments: str, line: int) -> Command:
    argv = _exec_form(arguments)
    if argv is not None:
        return Command(argv, False, " ".join(argv), line)
    return Command(["/bin/sh", "-c", arguments], True, arguments, line)


def _copy(
    keyword: str, arguments: str, line: int, workdir: str, variables: dict[str, str | None]
) -> Copy | None:
    words = _exec_form(arguments)
    flags: dict[str, str] = {}
    if words is None:
        words = _split(arguments)
    while words and words[0].startswith("--"):
        name, _, value = words.pop(0)[2:].partition("=")
        flags[name] = value
    if words and words[0].startswith("--"):
        return None
    words = [_substitute(word, variables) for word in words if not word.startswith("<<")]
    if len(words) < 2:
        return None

    *sources, destination = words
    if keyword == "ADD":
        sources = [s for s in sources if "://" not in s and not s.startswith("git@")]
        if not sources:
            return None
    trailing = destination.endswith("/")
    absolute = posixpath.normpath(posixpath.join(workdir, destination))
    if trailing and absolute != "/":
        absolute += "/"
    return Copy(keyword, sources, absolute, line, flags.get("from"))


def parse_healthcheck(arguments: str) -> dict[str, Any] | None:
    """Parse HEALTHCHECK arguments into compose form.

    `HEALTHCHECK NONE` gives `{"test": ["NONE"]}`, as compose writes a disabled
    check. Only options given in the Dockerfile appear; Docker's defaults are
    interval 30s, timeout 30s, start period 0s and 3 retries.
    """
    text = arguments.strip()
    if text.upper() == "NONE":
        return {"test": ["NONE"]}
    options: dict[str, Any] = {}
    while text.startswith("--"):
        option, _, text = text.partition(" ")
        name, _, value = option[2:].partition("=")
        key = _HEALTHCHECK_OPTIONS.get(name)
        if key == "retries":
            options[key] = int(value) if value.isdigit() else value
        elif key is not None:
            options[key] = value
        text = text.strip()
    keyword, _, command = text.partition(" ")
    if keyword.upper() != "CMD" or not command.strip():
        return None
    argv = _exec_form(command)
    test = ["CMD", *argv] if argv is not None else ["CMD-SHELL", command.strip()]
    return {"test": test, **options}


# --- public helpers --------------------------------------------------------------


def healthcheck_of(dockerfile_text: str) -> dict[str, Any] | None:
    """Return the final stage's HEALTHCHECK in compose form, or None when it declares none."""
    final = parse_dockerfile(dockerfile_text).final
    return final.healthcheck if final is not None else None


def container_path_map(dockerfile_text: str) -> list[tuple[str, str]]:
    """Return (source in the build context, absolute destination) for the final stage's copies.

    COPY --from copies and ADD of URLs are left out, because their files do
    not come from the build context. A destination ending in "/" is a directory.
    """
    final = parse_dockerfile(dockerfile_text).final
    if final is None:
        return []
    pairs: list[tuple[str, str]] = []
    for copy in final.copies:
        if copy.from_stage is None:
            pairs.extend((source, copy.destination) for source in copy.sources)
    return pairs


def env_defaults(dockerfile_text: str) -> dict[str, tuple[str, int]]:
    """Return the final stage's ENV variables as name -> (value, line)."""
    final = parse_dockerfile(dockerfile_text).final
    return dict(final.env) if final is not None else {}


def build_context_of(evidence: Evidence, service: str) -> str | None:
    """Return a service's build context relative to the project directory ("." for the root)."""
    build = evidence.services.get(service, {}).get("build")
    if build is None:
        return None
    context = build if isinstance(build, str) else str(build.get("context") or ".")
    project_dir = evidence.project_dir.rstrip("/")
    if posixpath.isabs(context) and project_dir:
        context = posixpath.relpath(context, project_dir)
    return posixpath.normpath(context)


def dockerfile_for(evidence: Evidence, service: str) -> SourceFile | None:
    """Return the Dockerfile a service builds from, when its text was collected.

    The resolved compose config gives `build.dockerfile` relative to the build
    context (default "Dockerfile"). Without a `build` section, a file named
    Dockerfile at the top of the service's collected sources is used.
    """
    build = evidence.services.get(service, {}).get("build")
    sources = evidence.sources_of(service)
    if build is None:
        tops = [s for s in sources if s.path.rsplit("/", 1)[-1] == "Dockerfile"]
        return min(tops, key=lambda s: s.path.count("/")) if tops else None

    context = build_context_of(evidence, service) or "."
    name = "Dockerfile" if isinstance(build, str) else str(build.get("dockerfile") or "Dockerfile")
    if posixpath.isabs(name) and evidence.project_dir:
        wanted = posixpath.relpath(name, evidence.project_dir.rstrip("/"))
    else:
        wanted = posixpath.normpath(posixpath.join(context, name))
    for source in sources + evidence.sources:
        if posixpath.normpath(source.path) == wanted:
            return source
    return None
