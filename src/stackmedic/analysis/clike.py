"""Lexing helpers for JavaScript/TypeScript and Go source.

The scanners there work on regular expressions, so these helpers keep them
honest: `mask_code` blanks comments and string contents so a pattern never
matches inside them, and the expression helpers turn simple argument text
(literals, `+`, template literals, `process.env.X || 'd'`, `os.Getenv("X")`,
`fmt.Sprintf`) into `Value`s.
"""

from __future__ import annotations

import re

from stackmedic.analysis.values import Segment, Value, format_percent

MAX_DEPTH = 8
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_IDENTIFIER = re.compile(r"^[A-Za-z_$][\w$]*$")
_JS_ENV = re.compile(r"^process\.env(?:\.([A-Za-z_]\w*)|\[\s*(['\"])([A-Za-z_]\w*)\2\s*\])!?$")
_GO_ENV = re.compile(r'^os\.(?:Getenv|LookupEnv)\(\s*"([A-Za-z_]\w*)"\s*\)$')
_WRAPPERS = re.compile(
    r"^(?:Number|String|parseInt|parseFloat|strconv\.Itoa|strconv\.Atoi|int|string)\((.*)\)$",
    re.DOTALL,
)


def mask_code(text: str, template_literals: bool = True) -> str:
    """Blank comments and string contents, keeping quotes, newlines and every offset.

    With `template_literals`, backtick strings are JavaScript templates whose
    `${...}` parts stay visible; otherwise (Go) a backtick string is raw text.
    """
    out = list(text)
    position = 0
    while position < len(text):
        char = text[position]
        pair = text[position : position + 2]
        if pair == "//":
            end = text.find("\n", position)
            end = len(text) if end < 0 else end
            _blank(out, position, end)
            position = end
        elif pair == "/*":
            end = text.find("*/", position + 2)
            end = len(text) if end < 0 else end + 2
            _blank(out, position, end)
            position = end
        elif char in "'\"`":
            end = string_end(text, position, template_literals)
            if char == "`" and template_literals:
                _blank_template(text, out, position, end)
            else:
                _blank(out, position + 1, end - 1)
            position = end
        else:
            position += 1
    return "".join(out)


def _blank(out: list[str], start: int, end: int) -> None:
    for index in range(start, min(end, len(out))):
        if out[index] != "\n":
            out[index] = " "


def _blank_template(text: str, out: list[str], start: int, end: int) -> None:
    """Blank the literal text of a template literal but not its `${...}` expressions."""
    position = start + 1
    while position < end - 1:
        if text.startswith("${", position):
            close = _matching(text, position + 1)
            position = (close if close is not None else end - 1) + 1
            continue
        if out[position] != "\n":
            out[position] = " "
        position += 1


def string_end(text: str, start: int, template_literals: bool = True) -> int:
    """Return the index just past the string literal that opens at `start`."""
    quote = text[start]
    raw = quote == "`" and not template_literals
    position = start + 1
    while position < len(text):
        char = text[position]
        if char == "\\" and not raw:
            position += 2
            continue
        if quote == "`" and template_literals and text.startswith("${", position):
            close = _matching(text, position + 1)
            position = (close if close is not None else len(text) - 1) + 1
            continue
        if char == quote:
            return position + 1
        if char == "\n" and quote != "`":
            return position
        position += 1
    return len(text)


def _matching(text: str, open_index: int) -> int | None:
    """Return the index of the bracket closing the one at `open_index`, skipping strings."""
    closer = _OPENERS[text[open_index]]
    stack = [closer]
    position = open_index + 1
    while position < len(text):
        char = text[position]
        if char in "'\"`":
            position = string_end(text, position)
            continue
        if char in _OPENERS:
            stack.append(_OPENERS[char])
        elif stack and char == stack[-1]:
            stack.pop()
            if not stack:
                return position
        position += 1
    return None


def split_top_level(text: str, separator: str) -> list[str]:
    """Split at `separator` where it is outside brackets and strings."""
    parts: list[str] = []
    depth = 0
    start = 0
    position = 0
    while position < len(text):
        char = text[position]
        if char in "'\"`":
            position = string_end(text, position)
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(separator, position):
            parts.append(text[start:position])
            position += len(separator)
            start = position
            continue
        position += 1
    parts.append(text[start:])
    return [part.strip() for part in parts]


def call_arguments(text: str, open_index: int) -> list[str]:
    """Return the top-level arguments of the call whose `(` is at `open_index`."""
    close = _matching(text, open_index)
    inner = text[open_index + 1 : close if close is not None else len(text)]
    if not inner.strip():
        return []
    return split_top_level(inner, ",")


def expression_after(text: str, start: int) -> str:
    """Return the expression starting at `start`, up to `;`, `,`, a closing bracket or line end."""
    position = start
    while position < len(text):
        char = text[position]
        if char in "'\"`":
            position = string_end(text, position)
            continue
        if char in _OPENERS:
            close = _matching(text, position)
            position = (close if close is not None else len(text) - 1) + 1
            continue
        if char in ";,)]}\n":
            break
        position += 1
    return text[start:position].strip()


def string_literal(text: str) -> str | None:
    """Return the value of a whole quoted literal ('a', "a", or a Go raw `a`), else None."""
    text = text.strip()
    if len(text) < 2 or text[0] not in "'\"`" or text[-1] != text[0]:
        return None
    if string_end(text, 0, template_literals=False) != len(text):
        return None
    body = text[1:-1]
    if text[0] == "`":
        return body
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


class ExpressionValues:
    """Resolve simple JavaScript or Go expressions, following local assignments by name."""

    def __init__(self, bindings: dict[str, str], language: str) -> None:
        self.bindings = bindings
        self.language = language

    def value(self, text: str, depth: int = 0) -> Value:
        text = text.strip()
        if not text or depth > MAX_DEPTH:
            return Value.unknown()
        if text.startswith("(") and _matching(text, 0) == len(text) - 1:
            return self.value(text[1:-1], depth + 1)

        alternatives = split_top_level(text, "||") if "||" in text else [text]
        if len(alternatives) == 1 and "??" in text:
            alternatives = split_top_level(text, "??")
        if len(alternatives) > 1:
            return self._fallback(alternatives, depth)

        pieces = split_top_level(text, "+")
        if len(pieces) > 1:
            return Value.concat(self.value(piece, depth + 1) for piece in pieces)
        return self._atom(text, depth)

    def _fallback(self, alternatives: list[str], depth: int) -> Value:
        first = self.value(alternatives[0], depth + 1)
        variable = first.sole_variable
        if variable is not None and first.text in (None, ""):
            rest = self.value(" || ".join(alternatives[1:]), depth + 1)
            return Value((Segment(rest.text, variable),), rest.kind)
        return first if first.text else Value.unknown()

    def _atom(self, text: str, depth: int) -> Value:
        literal = string_literal(text)
        if literal is not None and not (text.startswith("`") and self.language == "js"):
            return Value.literal(literal)
        if text.startswith("`") and text.endswith("`") and self.language == "js":
            return self._template(text[1:-1], depth)
        if _NUMBER.match(text):
            return Value.literal(text, "number")

        env = _JS_ENV.match(text) if self.language == "js" else _GO_ENV.match(text)
        if env is not None:
            variable = next(group for group in env.groups()[::-1] if group and group not in "'\"")
            return Value.from_env(variable, None)
        wrapped = _WRAPPERS.match(text)
        if wrapped is not None:
            return self.value(split_top_level(wrapped.group(1), ",")[0], depth + 1)
        if text.startswith("fmt.Sprintf(") and text.endswith(")"):
            return self._sprintf(call_arguments(text, len("fmt.Sprintf")), depth)
        if _IDENTIFIER.match(text) and text in self.bindings:
            return self.value(self.bindings[text], depth + 1)
        return Value.unknown()

    def _template(self, body: str, depth: int) -> Value:
        pieces: list[Value] = []
        position = 0
        while position < len(body):
            start = body.find("${", position)
            if start < 0:
                pieces.append(Value.literal(body[position:]))
                break
            pieces.append(Value.literal(body[position:start]))
            close = _matching(body, start + 1)
            end = close if close is not None else len(body)
            pieces.append(self.value(body[start + 2 : end], depth + 1))
            position = end + 1
        return Value.concat(pieces)

    def _sprintf(self, arguments: list[str], depth: int) -> Value:
        if not arguments:
            return Value.unknown()
        template = string_literal(arguments[0])
        if template is None:
            return Value.unknown()
        values = [self.value(argument, depth + 1) for argument in arguments[1:]]
        formatted = format_percent(template, values, {})
        return formatted if formatted is not None else Value.unknown()
