"""Environment reads and server binds in shell scripts and shell-form commands.

Reads are `${X:-d}`, `${X-d}`, `${X:=d}` (defaults), `${X:?msg}` (required),
`${X}`, `$X` and `${#X}`. Nothing is read inside single quotes, comments or
quoted heredocs. Only upper-case names count, as environment variables are
named by convention. A plain read of a name the script assigns anywhere is a
local variable. Loop and `read` variables and a few shell-managed names
(PATH, HOME, PWD, ...) are left out too.

Binds come from server command lines: uvicorn, gunicorn, hypercorn,
`flask run`, `python -m http.server` and redis-server, with each tool's
default host and port when the line sets none.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Generator, Iterator
from dataclasses import dataclass

from stackmedic.analysis.endpoints import Address, parse_host_port, parse_host_port_string
from stackmedic.analysis.values import Segment, Value
from stackmedic.evidence.facts import Endpoint, EnvRead, SourceFacts

SHELL_SUFFIXES = (".sh", ".bash")
_SHEBANG = re.compile(r"^#!\s*\S*(?:/|\s)(?:env\s+)?(?:ba|da|a|z|k)?sh\b")
_SHELL_MANAGED = {
    "PATH",
    "HOME",
    "PWD",
    "OLDPWD",
    "IFS",
    "PS1",
    "PS2",
    "PS4",
    "SHELL",
    "USER",
    "UID",
    "EUID",
    "HOSTNAME",
    "RANDOM",
    "LINENO",
    "SECONDS",
    "BASH_SOURCE",
    "BASH_VERSION",
    "FUNCNAME",
    "PIPESTATUS",
    "OPTARG",
    "OPTIND",
    "REPLY",
    "TERM",
    "SHLVL",
    "BASHPID",
    "PPID",
}
_BRACED = re.compile(
    r"^(?P<length>#?)(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-=?+])(?P<word>.*)|[#%/^,\[].*)?$",
    re.DOTALL,
)
_ASSIGNMENT = re.compile(
    r"(?:^\s*|[;&|(]\s*|\b(?:export|local|readonly|declare|typeset)\s+(?:-\w+\s+)*)([A-Za-z_]\w*)\+?=",
    re.MULTILINE,
)
_LOOP_OR_READ = re.compile(
    r"\bfor\s+([A-Za-z_]\w*)\s+in\b|\bread\s+(?:-\w+\s+(?:\S+\s+)?)*([A-Za-z_][\w ]*)"
)
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_]\w*)\1")
_NOUNSET = re.compile(r"\bset\s+(?:-[a-zA-Z]*u[a-zA-Z]*\b|-o\s+nounset\b)")

# Library defaults when a server command sets no address (uvicorn 0.x,
# gunicorn 21+, hypercorn, Flask's CLI, Python's http.server, redis-server).
_SERVER_DEFAULTS = {
    "uvicorn": ("127.0.0.1", 8000),
    "gunicorn": ("127.0.0.1", 8000),
    "hypercorn": ("127.0.0.1", 8000),
    "flask": ("127.0.0.1", 5000),
    "http.server": ("0.0.0.0", 8000),
    "redis-server": (None, 6379),
}


@dataclass(frozen=True)
class ShellRead:
    variable: str
    default: str | None
    required: bool
    offset: int


def is_shell_script(path: str, text: str) -> bool:
    """Tell whether a file is a shell script: by suffix, or by a sh/bash shebang."""
    if path.lower().endswith(SHELL_SUFFIXES):
        return True
    return bool(_SHEBANG.match(text.split("\n", 1)[0]))


def shell_reads(text: str) -> list[ShellRead]:
    """Return the environment reads of a script, in order."""
    assigned = _assigned_lines(text)
    nounset = bool(_NOUNSET.search(text))
    reads = []
    for offset, name, operator, word in _expansions(text):
        line = text.count("\n", 0, offset)
        if name in _SHELL_MANAGED or not name.isupper():
            continue
        # A function body often reads a global that the script sets further down,
        # so a plain read of any assigned name is a local. A read with a default
        # still counts unless the name was set on an earlier line.
        if name in assigned and (operator is None or assigned[name] < line):
            continue
        default = None
        if operator in (":-", "-", ":=", "="):
            default = _unquote(word) if "$" not in word else None
        required = operator in (":?", "?") or (operator is None and nounset)
        reads.append(ShellRead(name, default, required, offset))
    return reads


def scan_shell(path: str, text: str, facts: SourceFacts, first_line: int = 1) -> None:
    """Add a script's environment reads and server binds to `facts`.

    `first_line` is the line of `text` in its file, for commands taken from a
    Dockerfile.
    """
    seen: set[tuple[str, int]] = set()
    for read in shell_reads(text):
        line = first_line + text.count("\n", 0, read.offset)
        if (read.variable, line) in seen:
            continue
        seen.add((read.variable, line))
        facts.env_reads.append(EnvRead("", read.variable, read.default, path, line, read.required))

    for number, command in _logical_lines(text):
        for address, expression in command_endpoints(_split_words(command), expand=True):
            _add_bind(facts, path, first_line + number, address, expression)


def scan_exec_form(path: str, argv: list[str], line: int, facts: SourceFacts) -> None:
    """Add the binds of an exec-form CMD/ENTRYPOINT, whose words are not expanded."""
    for address, expression in command_endpoints(argv, expand=False):
        _add_bind(facts, path, line, address, expression)


def _add_bind(facts: SourceFacts, path: str, line: int, address: Address, expression: str) -> None:
    facts.endpoints.append(
        Endpoint(
            "",
            "bind",
            address.scheme,
            address.host,
            address.port,
            path,
            line,
            address.host_variable,
            address.port_variable,
            expression,
        )
    )


# --- expansions ------------------------------------------------------------------


_Expansion = tuple[int, str, str | None, str]


def _expansions(text: str, base: int = 0) -> Iterator[_Expansion]:
    """Yield (offset, name, operator, word) for each parameter expansion outside single quotes."""
    position = 0
    in_double = False
    pending_heredocs: list[tuple[bool, str]] = []
    while position < len(text):
        char = text[position]
        if char == "\n" and pending_heredocs:
            position = yield from _heredoc_bodies(text, position + 1, pending_heredocs, base)
            pending_heredocs = []
            continue
        if char == "\\":
            position += 2
            continue
        if not in_double:
            if char == "#" and (position == 0 or text[position - 1] in " \t\n;|&("):
                end = text.find("\n", position)
                position = len(text) if end < 0 else end
                continue
            if char == "'":
                end = text.find("'", position + 1)
                position = len(text) if end < 0 else end + 1
                continue
            heredoc = _HEREDOC.match(text, position)
            if heredoc is not None:
                pending_heredocs.append((bool(heredoc.group(1)), heredoc.group(2)))
                position = heredoc.end()
                continue
        if char == '"':
            in_double = not in_double
            position += 1
            continue
        if char == "$":
            position = yield from _expansion_at(text, position, base)
            continue
        position += 1


def _expansion_at(text: str, position: int, base: int) -> Generator[_Expansion, None, int]:
    """Yield the expansion at `text[position] == "$"` and return where scanning resumes."""
    following = text[position + 1 : position + 2]
    if following == "{":
        close = _closing_brace(text, position + 2)
        inner = text[position + 2 : close]
        match = _BRACED.match(inner)
        if match is not None:
            operator = match.group("op")
            word = match.group("word") or ""
            yield base + position, match.group("name"), operator, word
            if "$" in word:
                yield from _expansions(word, base + position + 2 + match.start("word"))
        return close + 1
    plain = re.compile(r"[A-Za-z_]\w*").match(text, position + 1)
    if plain is not None:
        yield base + position, plain.group(0), None, ""
        return plain.end()
    return position + 1


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    position = start
    while position < len(text):
        if text.startswith("${", position):
            depth += 1
            position += 2
            continue
        if text[position] == "}":
            depth -= 1
            if depth == 0:
                return position
        position += 1
    return len(text)


def _heredoc_bodies(
    text: str, position: int, heredocs: list[tuple[bool, str]], base: int
) -> Generator[_Expansion, None, int]:
    """Yield the expansions of unquoted heredoc bodies; quoted bodies expand nothing.

    Returns the offset just past the last terminator line.
    """
    for quoted, delimiter in heredocs:
        terminator = re.compile(rf"^[ \t]*{re.escape(delimiter)}[ \t]*$", re.MULTILINE).search(
            text, position
        )
        end = terminator.start() if terminator is not None else len(text)
        cursor = position
        while not quoted and cursor < end:
            if text[cursor] == "\\":
                cursor += 2
            elif text[cursor] == "$":
                cursor = yield from _expansion_at(text, cursor, base)
            else:
                cursor += 1
        position = terminator.end() if terminator is not None else len(text)
    return position


def _assigned_lines(text: str) -> dict[str, int]:
    """Return the first line (0-based) on which each name is assigned by the script."""
    assigned: dict[str, int] = {}
    for match in _ASSIGNMENT.finditer(text):
        assigned.setdefault(match.group(1), text.count("\n", 0, match.start(1)))
    for match in _LOOP_OR_READ.finditer(text):
        names = (match.group(1) or match.group(2) or "").split()
        for name in names:
            if re.fullmatch(r"[A-Za-z_]\w*", name):
                assigned.setdefault(name, text.count("\n", 0, match.start()) - 1)
    for match in re.finditer(r"\$\{([A-Za-z_]\w*):?=", text):
        assigned.setdefault(match.group(1), text.count("\n", 0, match.start()))
    return assigned


def _unquote(word: str) -> str:
    word = word.strip()
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return word


# --- server command lines ----------------------------------------------------------


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (0-based line, command) with backslash continuations joined."""
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        start = index
        command = lines[index]
        while command.rstrip().endswith("\\") and index + 1 < len(lines):
            index += 1
            command = command.rstrip()[:-1] + " " + lines[index]
        yield start, command
        index += 1


def _split_words(command: str) -> list[str]:
    try:
        return shlex.split(command, comments=True, posix=True)
    except ValueError:
        return command.split()


def word_value(word: str, expand: bool = True) -> Value:
    """Turn a shell word into a Value: `${PORT:-8000}` becomes PORT with default "8000"."""
    if not expand or "$" not in word:
        return Value.literal(word)
    pieces: list[Value] = []
    position = 0
    for offset, name, operator, inner in _expansions(word):
        if offset < position:
            continue
        pieces.append(Value.literal(word[position:offset]))
        default = (
            _unquote(inner) if operator in (":-", "-", ":=", "=") and "$" not in inner else None
        )
        pieces.append(Value((Segment(default, name),)))
        position = (
            _closing_brace(word, offset + 2) + 1
            if word[offset + 1 : offset + 2] == "{"
            else (offset + 1 + len(name))
        )
    pieces.append(Value.literal(word[position:]))
    return Value.concat(pieces)


def command_endpoints(argv: list[str], expand: bool) -> list[tuple[Address, str]]:
    """Return the binds of one server command line, with the words that set them."""
    for index, word in enumerate(argv):
        if " " in word and any(name in word for name in _SERVER_DEFAULTS):
            return command_endpoints(_split_words(word), expand=True)
        tool = _server_tool(argv, index)
        if tool is not None:
            return _tool_binds(tool, argv[index + 1 :], expand)
    return []


def _server_tool(argv: list[str], index: int) -> str | None:
    name = posixpath.basename(argv[index])
    following = argv[index + 1 : index + 3]
    if name in ("uvicorn", "gunicorn", "hypercorn", "redis-server"):
        return name
    if name == "flask" and following[:1] == ["run"]:
        return "flask"
    if re.fullmatch(r"python[\d.]*", name) and following[:1] == ["-m"] and len(following) > 1:
        module = following[1]
        return module if module in ("uvicorn", "gunicorn", "hypercorn", "http.server") else None
    return None


def _tool_binds(tool: str, arguments: list[str], expand: bool) -> list[tuple[Address, str]]:
    options = _options(arguments)
    default_host, default_port = _SERVER_DEFAULTS[tool]
    scheme = "redis" if tool == "redis-server" else "http"

    if tool in ("gunicorn", "hypercorn"):
        binds = options.get("-b", []) + options.get("--bind", [])
        if not binds:
            return [(Address(scheme, default_host, default_port), " ".join(arguments) or tool)]
        found = []
        for bind in binds:
            if bind.startswith(("unix:", "fd://")):
                continue
            address = parse_host_port_string(word_value(bind, expand), scheme)
            if address is not None:
                found.append((address, bind))
        return found

    host_words = options.get("--host", []) + options.get("--bind", []) + options.get("-h", [])
    port_words = options.get("--port", []) + options.get("-p", [])
    if tool == "http.server":
        host_words = options.get("-b", []) + options.get("--bind", [])
        positional = [a for a in arguments if re.fullmatch(r"\d+|\$\{?\w+.*", a)]
        port_words = positional[:1]
    if tool == "uvicorn" and options.get("--uds"):
        return []
    host = word_value(host_words[-1], expand) if host_words else None
    port = word_value(port_words[-1], expand) if port_words else None
    address = parse_host_port(scheme, host, port, default_host, default_port)
    shown = " ".join(host_words[-1:] + port_words[-1:]) or f"{tool} defaults"
    return [(address, shown)]


def _options(arguments: list[str]) -> dict[str, list[str]]:
    """Collect `--name value`, `--name=value` and `-x value` options."""
    options: dict[str, list[str]] = {}
    index = 0
    while index < len(arguments):
        word = arguments[index]
        if word.startswith("-") and "=" in word:
            name, _, value = word.partition("=")
            options.setdefault(name, []).append(value)
        elif word.startswith("-") and index + 1 < len(arguments):
            options.setdefault(word, []).append(arguments[index + 1])
            index += 1
        index += 1
    return options
