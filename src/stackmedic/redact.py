"""Mask secrets in text before a report or an evidence bundle shows it.

Three shapes are masked where they appear:

- credentials inside URLs: `scheme://user:password@host` keeps the user and
  becomes `scheme://user:***@host`;
- env-like pairs `NAME=value` and `NAME: value` (also quoted, as in JSON or a
  Python dict repr) whose name looks secret (see `is_secret_name`);
- the value after a secret-naming command-line flag: `--password hunter2`,
  also as two items of a quoted argument list (`"--token", "abc"`).

A pair that starts its line (after indentation, a diff marker or a YAML list
dash) is masked to the end of the line. In compose files and diffs the value
is the whole rest of such a line. A pair inside a quoted string
(`"DB_PASSWORD=a b"`, an item of an inspect payload's `Env` list) is masked
to the closing quote. Elsewhere an unquoted value ends at whitespace or
punctuation, and a quoted value at its closing quote.

`redact_record` applies the same masking to every string in a tree of
dataclasses, lists and dicts. In a dict it also masks the string value of a
key with a secret name (`{"DB_PASSWORD": "x"}`), and the `value`-like entries
when the dict names a secret variable under `name` or `variable` (the
`set_env` parameters of a compose edit, a finding's facts about a variable).
It then masks every other occurrence of the secret values it found, so a
summary or a prediction that repeats a value without its name is masked too
(see `SecretMasker`).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable
from typing import Any, TypeVar

MASK = "***"

# A name containing one of these words, in any case, is secret.
SECRET_WORDS = (
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "TOKEN",
    "SECRET",
    "KEY",
    "CREDENTIAL",
    "AUTHORIZATION",
    "PRIVATE",
)
# A name with one of these as a whole `_`, `-` or `.`-separated part is
# secret too: DB_PASS, MYSQL_PWD, REDIS_AUTH, SENTRY_DSN, AWS_CREDS. They
# count only as whole parts because as substrings they match ordinary words
# (PASSED, BYPASS, AUTHOR).
SECRET_PARTS = frozenset({"PASS", "PWD", "AUTH", "DSN", "CREDS"})

# Names that contain a secret word but are not secrets. Exception classes and
# pattern codes end in ERROR or EXCEPTION (KeyError: 'last_seen', KEY_ERROR).
# Logs use the bare words "key" and "keys" for dictionary keys (missing key:
# 'id'). PWD and OLDPWD are the shell's working directories.
# NOTE: a real secret under a bare `key:` name is therefore not masked.
_NOT_SECRET_SUFFIXES = ("ERROR", "EXCEPTION")
_NOT_SECRET_NAMES = frozenset({"KEY", "KEYS", "PWD", "OLDPWD"})

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

# `--password hunter2`, `-token abc`: a flag with a secret name, then blanks
# and a value that is not another flag.
_FLAG = re.compile(
    r"(?<![A-Za-z0-9_\-])--?(?P<name>[A-Za-z][A-Za-z0-9_\-]*)[ \t]+(?P<value>[^\s\-\"'][^\s\"']*)"
)

# The same in a quoted argument list (JSON, a Python repr): `"--token", "abc"`.
_QUOTED_FLAG = re.compile(
    r"(?P<quote>[\"'])--?(?P<name>[A-Za-z][A-Za-z0-9_\-]*)(?P=quote)[ \t]*,[ \t]*"
    r"(?P<value_quote>[\"'])(?P<value>[^\"'\n]*)(?P=value_quote)"
)

# Prefixes after which a pair still starts its line: indentation, a
# unified-diff marker, a YAML list dash, `export`.
_LINE_START = re.compile(r"^[ \t]*(?:[-+][ \t]*)?(?:-[ \t]+)?(?:export[ \t]+)?$")

_UNQUOTED_VALUE = re.compile(r"[^\s&,;)\]}\"'<>]+")

_AUTH_SCHEMES = frozenset({"basic", "bearer", "digest", "token"})

# A found value is masked wherever it appears only when it is at least this
# long and not only digits: shorter values and numbers (ports, counts) occur
# in too many unrelated places.
MIN_REPEATED_SECRET_LENGTH = 6
# A repeated value is masked only as a whole token, so a value that is also
# part of a longer name (a service in a container name) stays visible there.
# A dot after the value ends a sentence unless a name character follows it.
_TOKEN_BEFORE = r"(?<![A-Za-z0-9_.\-])"
_TOKEN_AFTER = r"(?![A-Za-z0-9_\-])(?!\.[A-Za-z0-9_\-])"


def is_secret_name(name: str) -> bool:
    """Return True when an env-like or config-like name looks like it names a secret."""
    upper = name.upper()
    if upper in _NOT_SECRET_NAMES or upper.endswith(_NOT_SECRET_SUFFIXES):
        return False
    if any(word in upper for word in SECRET_WORDS):
        return True
    return any(part in SECRET_PARTS for part in re.split(r"[_.\-]", upper))


def redact_text(text: str) -> str:
    """Return `text` with URL credentials, secret pairs and secret flag values masked.

    A value masked once is also masked where the same text repeats it
    without its name.
    """
    masker = SecretMasker()
    masker.learn(text)
    return masker.redact_text(text)


# In program source, a string literal given to a secret-named identifier:
# `DB_PASSWORD = "x"`, `password: 'x'`, `"api_token": "x"`.
_SOURCE_ASSIGNED = re.compile(
    r"(?<![A-Za-z0-9_])(?P<name_quote>[\"']?)(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P=name_quote)"
    r"[ \t]*(?::[^=\n]*?)?(?:=|:|:=)[ \t]*"
    r"(?P<quote>[\"'`])(?P<value>[^\"'`\n]+)(?P=quote)"
)
# The default of an environment lookup whose variable names a secret:
# `os.getenv("API_TOKEN", "x")`, `os.environ.get('DB_PASSWORD', 'x')`.
_SOURCE_ENV_DEFAULT = re.compile(
    r"(?P<quote>[\"'])(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P=quote)[ \t]*,[ \t]*"
    r"(?P<value_quote>[\"'])(?P<value>[^\"'\n]+)(?P=value_quote)"
)


def redact_source(text: str) -> str:
    """Return program source with secret string literals and URL passwords masked.

    Only the inside of a string literal changes, so the code keeps its
    syntax and its line numbers, and static analysis reads it as before.
    Masked are literals assigned to, or given as the default of an
    environment lookup of, a secret-looking name, and passwords inside URLs.
    NOTE: a secret in a literal whose name does not look secret (`conn =
    "hunter2"`) is not found.
    """

    def by_name(match: re.Match[str]) -> str:
        if not is_secret_name(match.group("name")):
            return match.group(0)
        start, end = match.span("value")
        whole = match.start(0)
        return match.group(0)[: start - whole] + MASK + match.group(0)[end - whole :]

    masked = _URL_CREDENTIALS.sub(lambda m: m.group("prefix") + MASK, text)
    masked = _SOURCE_ASSIGNED.sub(by_name, masked)
    return _SOURCE_ENV_DEFAULT.sub(by_name, masked)


T = TypeVar("T")


def redact_record(value: T) -> T:
    """Return a copy of `value` with every secret in it masked.

    Walks dataclasses, lists, tuples and dicts; enums (also str-based ones)
    and other values are kept as they are. The original is not changed.
    """
    masker = SecretMasker()
    masker.learn(value)
    return masker.redact(value)


class SecretMasker:
    """Masks secrets across many texts and records.

    `learn` collects the secret values found by name: pairs, URL passwords,
    flags and dict entries. `redact_text` and `redact` then mask secrets by
    name, and every collected value wherever it appears as a whole token.
    Learn everything first when several texts may repeat each other's values.

    NOTE: a repeated value shorter than MIN_REPEATED_SECRET_LENGTH or made of
    digits only is masked next to its name but not elsewhere.
    """

    def __init__(self) -> None:
        self.values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def learn(self, value: Any) -> None:
        """Collect the secret values in a string or a tree of records."""
        _walk(value, self._learn_text, self._learn_mapping)
        self._pattern = None

    def redact_text(self, text: str) -> str:
        if not text:
            return text
        text = _mask_by_name(text, None)
        return self._mask_values(text)

    def redact(self, value: T) -> T:
        """Return a copy of a string or a tree of records with every secret masked."""
        return _redact_any(value, self.redact_text)  # type: ignore[no-any-return]

    def _learn_text(self, text: str) -> None:
        _mask_by_name(text, self._remember)

    def _learn_mapping(self, mapping: dict[Any, Any]) -> None:
        for key in _secret_entries(mapping):
            item = mapping[key]
            if isinstance(item, str):
                self._remember(item)

    def _remember(self, value: str) -> None:
        value = value.strip().strip("\"'").strip()
        if len(value) >= MIN_REPEATED_SECRET_LENGTH and not value.isdigit() and MASK not in value:
            self.values.add(value)

    def _mask_values(self, text: str) -> str:
        if not self.values:
            return text
        if self._pattern is None:
            alternatives = "|".join(
                re.escape(value) for value in sorted(self.values, key=len, reverse=True)
            )
            self._pattern = re.compile(f"{_TOKEN_BEFORE}(?:{alternatives}){_TOKEN_AFTER}")
        return self._pattern.sub(MASK, text)


# -- masking by name -----------------------------------------------------------


def _mask_by_name(text: str, found: Callable[[str], None] | None) -> str:
    """Mask URL passwords, secret pairs and secret flag values; report each value to `found`."""
    if not text:
        return text

    def url_password(match: re.Match[str]) -> str:
        if found is not None:
            found(match.group("password"))
        return match.group("prefix") + MASK

    text = _URL_CREDENTIALS.sub(url_password, text)
    return "".join(_redact_line(line, found) for line in text.splitlines(keepends=True))


def _redact_line(line: str, found: Callable[[str], None] | None) -> str:
    body = line.rstrip("\r\n")
    ending = line[len(body) :]
    body = _redact_flags(body, found)
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
        value = body[value_start:value_end]
        if found is not None:
            found(value)
        pieces.append(body[copied_until:value_start])
        pieces.append(_mask_value(value))
        copied_until = value_end
        search_from = max(value_end, value_start)

    pieces.append(body[copied_until:])
    return "".join(pieces) + ending


def _redact_flags(body: str, found: Callable[[str], None] | None) -> str:
    def replace(match: re.Match[str]) -> str:
        value = match.group("value")
        if not is_secret_name(match.group("name")) or value in ("", MASK):
            return match.group()
        if found is not None:
            found(value)
        start, end = match.start("value") - match.start(), match.end("value") - match.start()
        return match.group()[:start] + MASK + match.group()[end:]

    return _FLAG.sub(replace, _QUOTED_FLAG.sub(replace, body))


def _value_end(body: str, pair_start: int, value_start: int) -> int:
    """Return where the value of a secret pair ends within its line."""
    opening = body[value_start]
    if opening in "\"'":
        closing = body.find(opening, value_start + 1)
        return len(body) if closing == -1 else closing + 1

    # `"DB_PASSWORD=a b"`: an unquoted name right after a quote is the start
    # of a quoted string, so the value runs to that string's closing quote.
    before = body[pair_start - 1] if pair_start > 0 else ""
    if before and before in "\"'" and body[pair_start] not in "\"'":
        closing = body.find(before, value_start)
        if closing != -1:
            return closing

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


# -- records -------------------------------------------------------------------


def _secret_entries(mapping: dict[Any, Any]) -> list[Any]:
    """Return the keys of `mapping` whose values are secrets by the dict's structure."""
    names_secret = any(
        isinstance(mapping.get(field), str) and is_secret_name(mapping[field])
        for field in _NAME_FIELDS
    )
    keys = []
    for key, item in mapping.items():
        by_name = names_secret and key in _VALUE_FIELDS and isinstance(item, (str, int, float))
        by_key = isinstance(key, str) and is_secret_name(key) and isinstance(item, str) and item
        if by_name or by_key:
            keys.append(key)
    return keys


def _walk(
    value: Any,
    on_text: Callable[[str], None],
    on_mapping: Callable[[dict[Any, Any]], None],
) -> None:
    if isinstance(value, enum.Enum):
        return
    if isinstance(value, str):
        on_text(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            _walk(getattr(value, item.name), on_text, on_mapping)
    elif isinstance(value, dict):
        on_mapping(value)
        for item in value.values():
            _walk(item, on_text, on_mapping)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _walk(item, on_text, on_mapping)


def _redact_any(value: Any, redact_text: Callable[[str], str]) -> Any:
    if isinstance(value, enum.Enum):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            item.name: _redact_any(getattr(value, item.name), redact_text)
            for item in dataclasses.fields(value)
            if item.init
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, dict):
        return _redact_mapping(value, redact_text)
    if isinstance(value, list):
        return [_redact_any(item, redact_text) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact_any(item, redact_text) for item in value)
    return value


def _redact_mapping(mapping: dict[Any, Any], redact_text: Callable[[str], str]) -> dict[Any, Any]:
    secret = set(_secret_entries(mapping))
    redacted: dict[Any, Any] = {}
    for key, item in mapping.items():
        if key in secret:
            redacted[key] = MASK if item != "" else item
        else:
            redacted[key] = _redact_any(item, redact_text)
    return redacted
