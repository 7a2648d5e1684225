"""One message catalogue for the CLI and the reports, in English and Chinese.

Messages live in `messages/<lang>/*.json`, flat objects of key -> template;
every file in a language folder is merged, so each room keeps its own file
(cli.json, report.json, patterns.json). Templates use `str.format` fields.
Pattern codes, service names and paths are passed in as fields and are never
translated.

A sentence that outlives the moment it is written (a note in the run record,
an error raised deep in a room) is kept as a `Message`: its key, its fields
and its English text, so that whoever shows it picks the language.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import string
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

LANGUAGES = ("en", "zh-CN")
DEFAULT_LANGUAGE = "en"

logger = logging.getLogger(__name__)


def normalize_language(value: str | None) -> str:
    """Map a --lang value or a locale name (zh_CN.UTF-8, zh-cn, en_US) to a catalogue."""
    if not value:
        return DEFAULT_LANGUAGE
    lowered = value.replace("_", "-").split(".")[0].lower()
    if lowered.startswith("zh"):
        return "zh-CN"
    return DEFAULT_LANGUAGE


def language_from_environment() -> str:
    """Return the catalogue that the process locale (LC_ALL, LC_MESSAGES, LANG) selects."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable)
        if value:
            return normalize_language(value)
    return DEFAULT_LANGUAGE


@functools.cache
def catalogue(lang: str) -> dict[str, str]:
    """Load and merge every JSON file of one language."""
    merged: dict[str, str] = {}
    folder = resources.files("stackmedic").joinpath("messages", lang)
    if not folder.is_dir():
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".json"):
            merged.update(json.loads(entry.read_text(encoding="utf-8")))
    return merged


def display_fields(facts: dict[str, Any]) -> dict[str, Any]:
    """Turn fact values into message text: lists and dicts joined, None shown as "-"."""
    shown: dict[str, Any] = {}
    for key, value in facts.items():
        if value is None:
            shown[key] = "-"
        elif isinstance(value, (list, tuple)):
            shown[key] = ", ".join(str(item) for item in value)
        elif isinstance(value, dict):
            shown[key] = ", ".join(f"{k}: {v}" for k, v in value.items())
        else:
            shown[key] = value
    return shown


class _KeepMissing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def translate(key: str, lang: str = DEFAULT_LANGUAGE, /, **fields: Any) -> str:
    """Return the message `key` in `lang`, formatted with `fields`.

    Falls back to English, then to the key itself, so a missing translation
    shows up in the output instead of failing the run.
    """
    template = catalogue(lang).get(key)
    if template is None and lang != DEFAULT_LANGUAGE:
        template = catalogue(DEFAULT_LANGUAGE).get(key)
    if template is None:
        logger.debug("message key %s missing in %s", key, lang)
        return key
    return template.format_map(_KeepMissing(fields))


@dataclass
class Message:
    """A sentence stored as a message-catalogue key and its fields.

    Reports in English show `text`, the sentence as the run wrote it. Other
    languages translate `key` with `params`, and fall back to `text` when
    their catalogue lacks the key or a field. A param may itself be a
    message, stored as an object with `key`, `params` and `text` so that the
    record survives a JSON round trip unchanged. It is translated before it
    fills the outer sentence. An empty `key` marks free text that no
    catalogue translates.
    """

    key: str
    params: dict[str, Any] = field(default_factory=dict)
    text: str = ""


def message(key: str, /, **params: Any) -> Message:
    """Build a `Message` whose `text` is the English sentence of `key` with `params`.

    A `Message` among the params is stored in its object form.
    """
    english = {
        name: value.text if isinstance(value, Message) else value for name, value in params.items()
    }
    stored = {
        name: asdict(value) if isinstance(value, Message) else value
        for name, value in params.items()
    }
    return Message(key=key, params=stored, text=translate(key, DEFAULT_LANGUAGE, **english))


_MESSAGE_FIELDS = frozenset({"key", "params", "text"})


def fill(template: str, fields: Mapping[str, Any]) -> str | None:
    """Format `template` with `fields`. Return None when it names a field that `fields` lacks.

    Lists and dicts among the fields are joined into text first (see
    `stackmedic.i18n.display_fields`).
    """
    values = display_fields(dict(fields))
    try:
        required = {
            name.split(".")[0].split("[")[0]
            for _text, name, _spec, _conversion in string.Formatter().parse(template)
            if name
        }
        if not required <= values.keys():
            logger.debug("message lacks fields %s", sorted(required - values.keys()))
            return None
        return template.format(**values)
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as error:
        logger.debug("cannot format %r: %s", template, error)
        return None


def as_message(value: object) -> Message | None:
    """Return `value` as a `Message` when it is one or has a message's JSON shape."""
    if isinstance(value, Message):
        return value
    if (
        isinstance(value, Mapping)
        and set(value) == _MESSAGE_FIELDS
        and isinstance(value["key"], str)
        and isinstance(value["params"], Mapping)
        and isinstance(value["text"], str)
    ):
        return Message(key=value["key"], params=dict(value["params"]), text=value["text"])
    return None


def message_text(message: Message, lang: str) -> str:
    """Return `message` in `lang`.

    English shows the stored `text`. Another language translates `key`
    (nested messages among the params first) and falls back to `text`
    when its catalogue lacks the key or the params lack a field.
    """
    if (lang == DEFAULT_LANGUAGE and message.text) or not message.key:
        return message.text
    template = catalogue(lang).get(message.key)
    if template is None:
        logger.debug("message %s missing in %s; showing the stored text", message.key, lang)
        return message.text
    fields: dict[str, Any] = {}
    for name, value in message.params.items():
        nested = as_message(value)
        fields[name] = message_text(nested, lang) if nested is not None else value
    filled = fill(template, fields)
    return message.text if filled is None else filled
