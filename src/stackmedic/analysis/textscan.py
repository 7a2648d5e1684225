"""Regex-level facts for JavaScript/TypeScript and Go.

These languages get environment reads with their defaults
(`process.env.X || 'd'`, `process.env.X ?? 'd'`, `const { X = 'd' } =
process.env`, `os.Getenv("X")` followed by `if x == "" { x = "d" }`),
listen/bind/connect endpoints whose address is a literal or a simple
expression, and logging calls with a literal message.

NOTE: this is pattern matching on masked text, not parsing: a call split
oddly across lines, or a value built in another function, is missed.
"""

from __future__ import annotations

import re

from stackmedic.analysis.clike import (
    ExpressionValues,
    call_arguments,
    expression_after,
    mask_code,
    string_literal,
)
from stackmedic.analysis.endpoints import (
    Address,
    parse_host_port,
    parse_host_port_string,
    parse_url,
)
from stackmedic.analysis.logsites import HOLE, join_template, percent_template
from stackmedic.evidence.facts import Endpoint, EnvRead, LogCallSite, SourceFacts

JS_SUFFIXES = (".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx")
GO_SUFFIXES = (".go",)

_JS_ENV = re.compile(r"\bprocess\.env(?:\.([A-Za-z_]\w*)|\[)")
_JS_DESTRUCTURE = re.compile(r"\{([^{}]*)\}\s*=\s*process\.env\b")
_JS_BINDING = re.compile(r"\b(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::\s*[\w<>\[\]| ]+)?=(?!=)")
_JS_FALLBACK = re.compile(r"\s*!?(?:\s*,\s*\d+)?\s*\)?\s*(\|\||\?\?)\s*")
_JS_LISTEN = re.compile(r"\.listen\s*\(")
_JS_SOCKET = re.compile(r"\.(bind|connect)\s*\(")
_JS_HTTP = re.compile(
    r"(?:\bfetch|\baxios(?:\.(?:get|post|put|patch|delete|head|request))?|\bgot)\s*\("
)
_JS_LOG = re.compile(
    r"\b(console|[\w$.]*log[\w$]*)\.(log|info|warn|error|debug|trace|fatal)\s*\(", re.IGNORECASE
)
_JS_LEVELS = {
    "log": "info",
    "info": "info",
    "warn": "warning",
    "error": "error",
    "debug": "debug",
    "trace": "debug",
    "fatal": "critical",
}
_JS_SERVER_MODULES = re.compile(
    r"""(?:require\(|from\s+)['"](express|http|https|koa|fastify)['"]"""
)

_GO_ENV = re.compile(r"\bos\.(Getenv|LookupEnv)\s*\(")
_GO_HELPER_ENV = re.compile(r"\b(\w*[Ee]nv\w*)\s*\(")
_GO_NOT_HELPERS = {"Getenv", "LookupEnv", "Setenv", "Unsetenv", "Environ", "Clearenv", "ExpandEnv"}
_GO_BINDING = re.compile(
    r"(?:\b([A-Za-z_]\w*)\s*:=|\b(?:var|const)\s+([A-Za-z_]\w*)(?:\s+[\w.]+)?\s*=)(?!=)"
)
_GO_LISTEN = re.compile(r"\b(?:net\.Listen|net\.ListenPacket|http\.ListenAndServe(?:TLS)?)\s*\(")
_GO_DIAL = re.compile(
    r"\b(?:net\.Dial|net\.DialTimeout|grpc\.Dial|grpc\.NewClient|grpc\.DialContext)\s*\("
)
_GO_HTTP = re.compile(r"\bhttp\.(?:Get|Post|Head|NewRequest(?:WithContext)?)\s*\(")
_GO_ADDR_FIELD = re.compile(r"\b(http\.Server|redis\.Options)\s*\{")
_GO_LOG = re.compile(
    r"\b(log|fmt|slog|logger|log\w*|\w*[Ll]ogger)\.(Print|Printf|Println|Fatal|Fatalf|Fatalln|Panic|Panicf|"
    r"Panicln|Info|Infof|Warn|Warnf|Error|Errorf|Debug|Debugf)\s*\("
)


def scan_javascript(path: str, text: str, facts: SourceFacts) -> None:
    """Add the facts of one JavaScript or TypeScript file to `facts`."""
    masked = mask_code(text)
    values = ExpressionValues(_bindings(text, masked, _JS_BINDING), "js")
    lines = _LineIndex(text)

    for match in _JS_ENV.finditer(masked):
        variable, end = _js_env_name(text, match)
        if variable is None:
            continue
        default = _js_default(text, end, values)
        facts.env_reads.append(EnvRead("", variable, default, path, lines.line_of(match.start())))

    for match in _JS_DESTRUCTURE.finditer(masked):
        body = text[match.start(1) : match.end(1)]
        for item in body.split(","):
            name, _, default_text = item.partition("=")
            variable = name.split(":")[0].strip()
            if re.fullmatch(r"[A-Za-z_]\w*", variable):
                default = values.value(default_text).text if default_text.strip() else None
                facts.env_reads.append(
                    EnvRead("", variable, default, path, lines.line_of(match.start()))
                )

    scheme = "http" if _JS_SERVER_MODULES.search(text) else "tcp"
    for match in _JS_LISTEN.finditer(masked):
        arguments = call_arguments(text, match.end() - 1)
        if arguments:
            port = values.value(arguments[0])
            host = (
                values.value(arguments[1])
                if len(arguments) > 1 and _is_text(arguments[1])
                else None
            )
            address = parse_host_port(scheme, host, port, None if host else "0.0.0.0")
            _add_endpoint(facts, path, lines.line_of(match.start()), "bind", address, arguments[0])
    for role_match in _JS_SOCKET.finditer(masked):
        _add_url_endpoint(facts, path, text, role_match, values, lines, role_match.group(1))
    for match in _JS_HTTP.finditer(masked):
        _add_url_endpoint(facts, path, text, match, values, lines, "connect")

    for match in _JS_LOG.finditer(masked):
        arguments = call_arguments(text, match.end() - 1)
        template = _literal_template(arguments, values, "js")
        if template is not None:
            level = _JS_LEVELS[match.group(2).lower()]
            facts.log_sites.append(
                LogCallSite("", level, template, path, lines.line_of(match.start()))
            )


def language_of(path: str) -> str | None:
    """Return "js" or "go" when a path names a file of that language."""
    lowered = path.lower()
    if lowered.endswith(JS_SUFFIXES) and not lowered.endswith(".d.ts"):
        return "js"
    if lowered.endswith(GO_SUFFIXES):
        return "go"
    return None


def scan_go(path: str, text: str, facts: SourceFacts) -> None:
    """Add the facts of one Go file to `facts`."""
    masked = mask_code(text, template_literals=False)
    values = ExpressionValues(_go_bindings(text, masked), "go")
    lines = _LineIndex(text)

    for match in _GO_ENV.finditer(masked):
        arguments = call_arguments(text, match.end() - 1)
        variable = string_literal(arguments[0]) if arguments else None
        if variable:
            default = _go_default(text, match.start())
            facts.env_reads.append(
                EnvRead("", variable, default, path, lines.line_of(match.start()))
            )
    for match in _GO_HELPER_ENV.finditer(masked):
        if match.group(1) in _GO_NOT_HELPERS or text[: match.start()].rstrip().endswith("func"):
            continue
        arguments = call_arguments(text, match.end() - 1)
        if len(arguments) == 2 and string_literal(arguments[0]):
            default = values.value(arguments[1]).text
            variable = string_literal(arguments[0]) or ""
            facts.env_reads.append(
                EnvRead("", variable, default, path, lines.line_of(match.start()))
            )

    for pattern, role, position in ((_GO_LISTEN, "bind", None), (_GO_DIAL, "connect", None)):
        for match in pattern.finditer(masked):
            arguments = call_arguments(text, match.end() - 1)
            argument = _go_address_argument(match.group(0), arguments)
            if argument is not None:
                address = parse_host_port_string(values.value(argument), "tcp")
                _add_endpoint(facts, path, lines.line_of(match.start()), role, address, argument)
    for match in _GO_HTTP.finditer(masked):
        arguments = call_arguments(text, match.end() - 1)
        index = 1 if "NewRequest" in match.group(0) else 0
        if len(arguments) > index:
            address = parse_url(values.value(arguments[index]))
            _add_endpoint(
                facts, path, lines.line_of(match.start()), "connect", address, arguments[index]
            )
    for match in _GO_ADDR_FIELD.finditer(masked):
        field = re.compile(r"\bAddr\s*:\s*").search(masked, match.end())
        if field is None or masked.find("}", match.end()) < field.start():
            continue
        argument = expression_after(text, field.end())
        role, scheme = ("bind", "http") if match.group(1) == "http.Server" else ("connect", "redis")
        address = parse_host_port_string(values.value(argument), scheme)
        _add_endpoint(facts, path, lines.line_of(field.start()), role, address, argument)

    for match in _GO_LOG.finditer(masked):
        arguments = call_arguments(text, match.end() - 1)
        template = _literal_template(arguments, values, "go")
        if template is not None:
            facts.log_sites.append(
                LogCallSite(
                    "", _go_level(match.group(2)), template, path, lines.line_of(match.start())
                )
            )


# --- shared helpers ------------------------------------------------------------


class _LineIndex:
    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(self, offset: int) -> int:
        low, high = 0, len(self.starts)
        while low + 1 < high:
            middle = (low + high) // 2
            if self.starts[middle] <= offset:
                low = middle
            else:
                high = middle
        return low + 1


def _bindings(text: str, masked: str, pattern: re.Pattern[str]) -> dict[str, str]:
    """Map each locally assigned name to the text of its first assignment."""
    found: dict[str, str] = {}
    for match in pattern.finditer(masked):
        name = next(group for group in match.groups() if group)
        found.setdefault(name, expression_after(text, match.end()))
    return found


def _add_endpoint(
    facts: SourceFacts, path: str, line: int, role: str, address: Address | None, expression: str
) -> None:
    if address is None:
        return
    facts.endpoints.append(
        Endpoint(
            "",
            role,
            address.scheme,
            address.host,
            address.port,
            path,
            line,
            address.host_variable,
            address.port_variable,
            expression.strip(),
        )
    )


def _add_url_endpoint(
    facts: SourceFacts,
    path: str,
    text: str,
    match: re.Match[str],
    values: ExpressionValues,
    lines: _LineIndex,
    role: str,
) -> None:
    arguments = call_arguments(text, match.end() - 1)
    if not arguments:
        return
    value = values.value(arguments[0])
    address = parse_url(value)
    _add_endpoint(facts, path, lines.line_of(match.start()), role, address, arguments[0])


def _is_text(argument: str) -> bool:
    return argument.strip()[:1] in ("'", '"', "`")


def _literal_template(arguments: list[str], values: ExpressionValues, language: str) -> str | None:
    """Build a message template from a literal first argument; None when it is not literal."""
    if not arguments:
        return None
    first = arguments[0].strip()
    if first.startswith("`") and language == "js":
        parts: list[str | None] = []
        for segment in values.value(first).segments:
            parts.append(
                segment.text if segment.text is not None and segment.variable is None else None
            )
        body = join_template(parts)
        return body if len(arguments) == 1 else join_template([body, HOLE])
    literal = string_literal(first)
    if literal is None:
        return None
    if len(arguments) > 1:
        formatted = percent_template(literal)
        if formatted == literal:
            # console.log("a", b) and log.Println("a", b) print the arguments after a space.
            return join_template([literal, " ", HOLE])
        return formatted
    return literal


def _js_env_name(text: str, match: re.Match[str]) -> tuple[str | None, int]:
    if match.group(1):
        return match.group(1), match.end()
    key = re.compile(r"\s*(['\"])([A-Za-z_]\w*)\1\s*\]").match(text, match.end())
    if key is None:
        return None, match.end()
    return key.group(2), key.end()


def _js_default(text: str, end: int, values: ExpressionValues) -> str | None:
    """Return the literal after `|| ` or `?? ` that follows an env read, if any."""
    fallback = _JS_FALLBACK.match(text, end)
    if fallback is None:
        return None
    operand = expression_after(text, fallback.end())
    for operator in ("||", "??"):
        operand = operand.split(operator)[0]
    return values.value(operand).text


def _go_default(text: str, offset: int) -> str | None:
    """Find `name := os.Getenv("X")` followed by `if name == "" { name = "d" }`; return d."""
    literal = _go_fallback_literal(text, offset)
    if literal is None:
        return None
    unquoted = string_literal(literal)
    return unquoted if unquoted is not None else literal


def _go_fallback_literal(text: str, offset: int) -> str | None:
    """Return the literal, as written, that an `if name == ""` block assigns after `offset`."""
    line_start = text.rfind("\n", 0, offset) + 1
    assigned = re.match(r"\s*([A-Za-z_]\w*)\s*(?::=|=)", text[line_start:offset])
    if assigned is None:
        return None
    name = re.escape(assigned.group(1))
    fallback = re.compile(
        rf'if\s+{name}\s*==\s*""\s*\{{\s*{name}\s*=\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\d+)\s*\}}'
    ).search(text, offset)
    return fallback.group(1) if fallback is not None else None


def _go_bindings(text: str, masked: str) -> dict[str, str]:
    """Map assigned names to their expressions; an `if x == ""` default becomes `x || "d"`."""
    bindings = _bindings(text, masked, _GO_BINDING)
    for match in _GO_ENV.finditer(masked):
        line_start = text.rfind("\n", 0, match.start()) + 1
        assigned = re.match(r"\s*([A-Za-z_]\w*)\s*:?=", text[line_start : match.start()])
        literal = _go_fallback_literal(text, match.start())
        if assigned is not None and literal is not None and assigned.group(1) in bindings:
            name = assigned.group(1)
            bindings[name] = f"{bindings[name]} || {literal}"
    return bindings


def _go_address_argument(call: str, arguments: list[str]) -> str | None:
    """Pick the address argument: net.Listen/Dial take the network first."""
    if call.startswith("net.") and len(arguments) >= 2:
        return arguments[1]
    if arguments:
        return arguments[0]
    return None


def _go_level(method: str) -> str:
    lowered = method.lower()
    if lowered.startswith("print"):
        return "print"
    if lowered.startswith(("fatal", "panic")):
        return "critical"
    for prefix, level in (
        ("info", "info"),
        ("warn", "warning"),
        ("error", "error"),
        ("debug", "debug"),
    ):
        if lowered.startswith(prefix):
            return level
    return "info"
