"""One message catalogue for the CLI and the reports, in English and Chinese.

Messages live in `messages/<lang>/*.json`, flat objects of key -> template;
every file in a language folder is merged, so each room keeps its own file
(cli.json, report.json, patterns.json). Templates use `str.format` fields.
Pattern codes, service names and paths are passed in as fields and are never
translated.
"""

from __future__ import annotations

import functools
import json
import logging
import os
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
