"""Read a health check's `test` the way the engine runs it, to judge what it proves.

A compose or Dockerfile health check is `["CMD", prog, args...]` (run
directly), `["CMD-SHELL", script]` or a plain string (run by `/bin/sh -c`),
or `["NONE"]` (disabled). `Probe` is that test parsed. `vacuity` names the
reason a probe cannot fail, or cannot succeed, for the cases it recognises.
`exercise` describes what a passing probe demonstrates, and `programs` lists
the executables that must exist in the image.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SHELLS = frozenset({"sh", "bash", "ash", "dash", "/bin/sh", "/bin/bash", "/bin/ash", "/bin/dash"})
_SHELL_BUILTINS = frozenset(
    {
        "exit",
        "test",
        "[",
        "[[",
        "echo",
        "printf",
        "true",
        "false",
        ":",
        "cd",
        "export",
        "set",
        "command",
        "type",
        "exec",
        "!",
    }
)
_ALWAYS_TRUE = frozenset({"true", "/bin/true", "/usr/bin/true", ":"})
_ALWAYS_FALSE = frozenset({"false", "/bin/false", "/usr/bin/false"})
_PRINTERS = frozenset({"echo", "printf", "/bin/echo", "/usr/bin/echo"})
_FILE_TESTS = frozenset({"-e", "-f", "-d", "-s", "-r", "-x", "-w", "-L", "-h"})
_FILE_READERS = frozenset({"ls", "stat", "cat", "/bin/ls", "/bin/cat", "/usr/bin/stat"})
_PYTHONS = re.compile(r"^(?:.*/)?python(?:3(?:\.\d+)?)?$")
_URL = re.compile(r"https?://[^\s'\"()]+")
_SHELL_OPERATORS = frozenset({";", "&&", "||", "|", "&", "(", ")", ";;", "\n"})
# Python calls that only look at the file system or end the process.
_FILE_ONLY_CALLS = frozenset(
    {"exists", "isfile", "isdir", "is_file", "is_dir", "Path", "exit", "print", "_exit"}
)


@dataclass(frozen=True)
class Probe:
    """A parsed health check test.

    `kind` is exec (`argv` is the command), shell (`script` is the shell
    script) or none (the health check is disabled).
    """

    kind: str
    argv: tuple[str, ...] = ()
    script: str = ""

    def display(self) -> str:
        if self.kind == "exec":
            return " ".join(_quote_word(word) for word in self.argv)
        if self.kind == "shell":
            return self.script
        return "NONE"

    def shell_script(self) -> str | None:
        """Return the script a shell runs: a shell-form test, or `["CMD", "sh", "-c", script]`."""
        if self.kind == "shell":
            return self.script
        runs_script = len(self.argv) >= 3 and self.argv[1] in ("-c", "-ec", "-ce", "-lc")
        if self.kind == "exec" and runs_script and self.argv[0] in SHELLS:
            return self.argv[2]
        return None

    def key(self) -> tuple[str, tuple[str, ...]]:
        """Return a comparable form: a shell-form test equals `["CMD-SHELL", same script]`."""
        if self.kind == "shell":
            return ("shell", (self.script.strip(),))
        return (self.kind, self.argv)


def _quote_word(word: str) -> str:
    """Quote a word for display the way a person would type it in a shell."""
    if word and not re.search(r"[\s'\"\\$`;&|<>()*?!#]", word):
        return word
    if '"' not in word and "\\" not in word and "$" not in word and "`" not in word:
        return f'"{word}"'
    return shlex.quote(word)


def parse_test(test: Any) -> Probe:
    """Parse a compose `test` (list or string) or an inspect `Test` list; raise ValueError if invalid."""
    if isinstance(test, str):
        if not test.strip():
            raise ValueError("empty health check test")
        return Probe("shell", script=test)
    if not isinstance(test, Sequence) or not test:
        raise ValueError(f"health check test must be a list or a string, got {test!r}")
    items = [str(item) for item in test]
    head, rest = items[0], items[1:]
    if head == "NONE":
        return Probe("none")
    if head == "CMD":
        if not rest:
            raise ValueError("health check test CMD has no command")
        return Probe("exec", argv=tuple(rest))
    if head == "CMD-SHELL":
        script = " ".join(rest)
        if not script.strip():
            raise ValueError("health check test CMD-SHELL has no command")
        return Probe("shell", script=script)
    raise ValueError(f"health check test must start with CMD, CMD-SHELL or NONE, got {head!r}")


# Vacuity


# NOTE: shell scripts are split into simple commands with shlex, without
# expanding variables, functions or `$(...)`. A script whose outcome depends
# on those is treated as functional.
def vacuity(probe: Probe) -> str | None:
    """Return why a probe proves nothing, or None when its result depends on the service.

    The reasons are: "disabled", "always_succeeds" (true, exit 0, a failure
    swallowed by `|| true`), "always_fails", "prints_only" (echo) and
    "file_exists" (test -f, ls, cat, os.path.exists and the like).
    """
    if probe.kind == "none":
        return "disabled"
    script = probe.shell_script()
    if script is None:
        return _classify(list(probe.argv))
    return _shell_vacuity(script)


def _shell_vacuity(script: str) -> str | None:
    commands, operators = split_shell(script)
    if not commands:
        return "always_succeeds"
    if operators and operators[-1] == "||" and _classify(commands[-1]) == "always_succeeds":
        return "always_succeeds"
    kinds = [_classify(command) for command in commands]
    if any(kind is None for kind in kinds):
        return None
    if all(kind == "always_fails" for kind in kinds):
        return "always_fails"
    for reason in ("file_exists", "prints_only", "always_succeeds"):
        if reason in kinds:
            return reason
    return "always_fails"


def _classify(argv: list[str]) -> str | None:
    words = _strip_assignments(argv)
    if not words:
        return "always_succeeds"
    program, arguments = words[0], words[1:]
    if program in _ALWAYS_TRUE:
        return "always_succeeds"
    if program in _ALWAYS_FALSE:
        return "always_fails"
    if program == "exit":
        return "always_succeeds" if not arguments or arguments[0] == "0" else "always_fails"
    if program in _PRINTERS:
        return "prints_only"
    if program in ("test", "[", "[[") and any(word in _FILE_TESTS for word in arguments):
        return "file_exists"
    if program in _FILE_READERS:
        return "file_exists"
    if _PYTHONS.match(program) and "-c" in arguments:
        index = arguments.index("-c")
        if index + 1 < len(arguments):
            return _python_vacuity(arguments[index + 1])
    return None


def _python_vacuity(code: str) -> str | None:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    calls = [_call_name(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)]
    if any(name is None or name not in _FILE_ONLY_CALLS for name in calls):
        return None
    if any(name in ("exists", "isfile", "isdir", "is_file", "is_dir") for name in calls):
        return "file_exists"
    if "print" in calls:
        return "prints_only"
    return "always_succeeds"


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _strip_assignments(argv: list[str]) -> list[str]:
    index = 0
    while index < len(argv) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[index]):
        index += 1
    return argv[index:]


def split_shell(script: str) -> tuple[list[list[str]], list[str]]:
    """Split a shell script into simple commands and the operators between them.

    Unparseable scripts (unbalanced quotes) come back as one command of
    whitespace-separated words.
    """
    lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        tokens = list(lexer)
    except ValueError:
        return [script.split()], []
    commands: list[list[str]] = [[]]
    operators: list[str] = []
    for token in tokens:
        if token in _SHELL_OPERATORS:
            if commands[-1]:
                commands.append([])
                operators.append(token)
            continue
        commands[-1].append(token)
    if not commands[-1]:
        commands.pop()
    return commands, operators


# What the probe exercises


@dataclass(frozen=True)
class Exercise:
    """The thing a passing probe demonstrates; `kind` is http, module, redis, postgres, mysql, tcp or command."""

    kind: str
    target: str


def exercise(probe: Probe) -> Exercise:
    words = _all_words(probe)
    text = " ".join(words)
    url = _URL.search(text)
    if url:
        return Exercise("http", url.group(0).rstrip(".,;"))
    for command in _commands(probe):
        command = _strip_assignments(command)
        if not command:
            continue
        program = command[0].rsplit("/", 1)[-1]
        if _PYTHONS.match(command[0]) and "-m" in command:
            index = command.index("-m")
            if index + 1 < len(command):
                return Exercise("module", command[index + 1])
        if program == "redis-cli":
            return Exercise("redis", "PING" if "ping" in (w.lower() for w in command) else text)
        if program == "pg_isready":
            return Exercise("postgres", "pg_isready")
        if program == "mysqladmin":
            return Exercise("mysql", "mysqladmin ping")
        if program in ("nc", "ncat") and len(command) >= 3:
            return Exercise("tcp", f"{command[-2]}:{command[-1]}")
    tcp = re.search(r"/dev/tcp/([^/\s]+)/(\d+)", text)
    if tcp:
        return Exercise("tcp", f"{tcp.group(1)}:{tcp.group(2)}")
    programs_used = programs(probe)
    return Exercise("command", programs_used[-1] if programs_used else probe.display())


def _commands(probe: Probe) -> list[list[str]]:
    script = probe.shell_script()
    if script is None:
        return [list(probe.argv)]
    return split_shell(script)[0]


def _all_words(probe: Probe) -> list[str]:
    return [word for command in _commands(probe) for word in command]


def programs(probe: Probe) -> list[str]:
    """Return the executables the probe needs in the image, shell first for shell-form tests.

    Shell builtins are left out; `["CMD", "sh", "-c", script]` needs the
    shell and the first program of each command of the script.
    """
    needed: list[str] = []
    if probe.kind == "shell":
        needed.append("/bin/sh")
    elif probe.kind == "exec" and probe.argv:
        needed.append(probe.argv[0])
    if probe.shell_script() is not None:
        for command in _commands(probe):
            words = _strip_assignments(command)
            if words and words[0] not in _SHELL_BUILTINS and words[0] not in needed:
                needed.append(words[0])
    return needed


def python_module(probe: Probe) -> str | None:
    """Return X for a probe that runs `python -m X`."""
    for command in _commands(probe):
        words = _strip_assignments(command)
        if words and _PYTHONS.match(words[0]) and "-m" in words:
            index = words.index("-m")
            if index + 1 < len(words):
                return words[index + 1]
    return None


# Timings

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(value: Any) -> float | None:
    """Convert a compose duration ("1m30s", "500ms") or an inspect value in nanoseconds to seconds."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) / 1e9
    text = str(value).strip()
    if not text:
        return None
    position = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    return total if position == len(text) else None
