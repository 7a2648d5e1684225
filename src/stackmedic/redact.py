"""Mask secrets in text before a report shows it.

Two shapes are masked:

- credentials inside URLs: `scheme://user:password@host` keeps the user and
  becomes `scheme://user:***@host`;
- env-like pairs `NAME=value` and `NAME: value` (also quoted, as in JSON or a
  Python dict repr) whose name contains PASSWORD, PASSWD, TOKEN, SECRET, KEY,
  CREDENTIAL or AUTHORIZATION, in any case.

A pair that starts its line (after indentation, a diff marker or a YAML list
dash) is masked to the end of the line. In compose files and diffs the value
is the whole rest of such a line. Elsewhere an unquoted value
ends at whitespace or punctuation, and a quoted value at its closing quote.

`redact_record` applies the same masking to every string in a tree of
dataclasses, lists and dicts. In a dict it also masks the string value of a
key with a secret name (`{"DB_PASSWORD": "x"}`), and the `value`-like entries
when the dict names a secret variable under `name` or `variable` (the
`set_env` parameters of a compose edit, a finding's facts about a variable).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import Any, TypeVar

MASK = "***"

SECRET_WORDS = ("PASSWORD", "PASSWD", "TOKEN", "SECRET", "KEY", "CREDENTIAL", "AUTHORIZATION")

# Names that contain a secret word but are not secrets: exception classes and
# pattern codes (KeyError: 'last_seen', KEY_ERROR), and the bare words "key"
# and "keys", because logs use them for dictionary keys (missing key: 'id').
# NOTE: a real secret under a bare `key:` name is therefore not masked.
_NOT_SECRET_SUFFIXES = ("ERROR", "EXCEPTION")
_NOT_SECRET_NAMES = frozenset({"KEY", "KEYS"})

# Dict entries masked when the same dict names a secret variable under
# "name" or "variable".
_NAME_FIELDS = ("name", "variable")
_VALUE_FIELDS = frozenset(
    {"value", "proposed", "code_default", "expected", "current", "default", "effective"}
)

_URL_CREDENTIALS = re.compile(
    r"(?P<prefix>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)(?P<password>[^\s@/]+)(?=@)"
)

# A name, optionally quoted, then `=` or `:`. The look-behind keeps the match
# on whole names; `-` is allowed inside a name but not before it, so that
# `--password=x` is matched at `password`.
_PAIR = re.compile(
    r"(?<![A-Za-z0-9_.])"
    r"(?P<quote>[\"']?)(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)(?P=quote)"
    r"(?P<separator>[ \t]*[=:][ \t]*)"
)

# Prefixes after which a pair still starts its line: indentation, a
# unified-diff marker, a YAML list dash, `export`.
_LINE_START = re.compile(r"^[ \t]*(?:[-+][ \t]*)?(?:-[ \t]+)?(?:export[ \t]+)?$")

_UNQUOTED_VALUE = re.compile(r"[^\s&,;)\]}\"'<>]+")

_AUTH_SCHEMES = frozenset({"basic", "bearer", "digest", "token"})


def is_secret_name(name: str) -> bool:
    """Return True when an env-like or config-like name looks like it names a secret."""
    upper = name.upper()
    if upper in _NOT_SECRET_NAMES or upper.endswith(_NOT_SECRET_SUFFIXES):
        return False
    return any(word in upper for word in SECRET_WORDS)


def redact_text(text: str) -> str:
    """Return `text` with URL credentials and secret `NAME=value` pairs masked."""
    if not text:
        return text
    text = _URL_CREDENTIALS.sub(lambda match: match.group("prefix") + MASK, text)
    return "".join(_redact_line(line) for line in text.splitlines(keepends=True))


def _redact_line(line: str) -> str:
    body = line.rstrip("\r\n")
    ending = line[len(body) :]
    pieces: list[str] = []
    copied_until = 0
    search_from = 0

    while True:
        match = _PAIR.search(body, search_from)
        if match is None:
            break
        value_start = match.end()
        if not is_secret_name(match.group("name")) or value_start >= len(body):
            # Resume inside the separator so that a value which is itself a
            # pair (`a: API_KEY=x`) is still found.
            search_from = match.start("separator") + 1
            continue

        value_end = _value_end(body, match.start(), value_start)
        pieces.append(body[copied_until:value_start])
        pieces.append(_mask_value(body[value_start:value_end]))
        copied_until = value_end
        search_from = max(value_end, value_start)

    pieces.append(body[copied_until:])
    return "".join(pieces) + ending


def _value_end(body: str, pair_start: int, value_start: int) -> int:
    """Return where the value of a secret pair ends within its line."""
    opening = body[value_start]
    if opening in "\"'":
        closing = body.find(opening, value_start + 1)
        return len(body) if closing == -1 else closing + 1

    if _LINE_START.match(body[:pair_start]):
        return len(body.rstrip())

    unquoted = _UNQUOTED_VALUE.match(body, value_start)
    if unquoted is None:
        return value_start

    # `Authorization: Bearer <token>`: the secret is the word after the scheme.
    if unquoted.group().lower() in _AUTH_SCHEMES:
        credential = _UNQUOTED_VALUE.search(body, unquoted.end())
        if credential is not None and not body[unquoted.end() : credential.start()].strip():
            return credential.end()
    return unquoted.end()


def _mask_value(value: str) -> str:
    if not value or value.strip("\"'") in ("", MASK):
        return value
    if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
        return value[0] + MASK + value[0]
    return MASK


T = TypeVar("T")


def redact_record(value: T) -> T:
    """Return a copy of `value` with every string in it redacted.

    Walks dataclasses, lists, tuples and dicts; enums (also str-based ones)
    and other values are kept as they are. The original is not changed.
    """
    return _redact_any(value)  # type: ignore[no-any-return]


def _redact_any(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            item.name: _redact_any(getattr(value, item.name))
            for item in dataclasses.fields(value)
            if item.init
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, dict):
        return _redact_mapping(value)
    if isinstance(value, list):
        return [_redact_any(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact_any(item) for item in value)
    return value


def _redact_mapping(mapping: dict[Any, Any]) -> dict[Any, Any]:
    names_secret = any(
        isinstance(mapping.get(field), str) and is_secret_name(mapping[field])
        for field in _NAME_FIELDS
    )
    redacted: dict[Any, Any] = {}
    for key, item in mapping.items():
        if names_secret and key in _VALUE_FIELDS and isinstance(item, (str, int, float)):
            redacted[key] = MASK if item != "" else item
        elif isinstance(key, str) and is_secret_name(key) and isinstance(item, str) and item:
            redacted[key] = MASK
        else:
            redacted[key] = _redact_any(item)
    return redacted
