"""The report's message catalogues: same keys and fields in English and Chinese."""

from __future__ import annotations

import enum
import json
import re
import string
from importlib import resources

import pytest

from stackmedic.model import Category, Fixability, RepairStatus, Verdict
from stackmedic.repair.compose_edit import ACTIONS
from stackmedic.report import timeline

CJK = re.compile(r"[\u4e00-\u9fff]")


def load(lang: str) -> dict[str, str]:
    path = resources.files("stackmedic").joinpath("messages", lang, "report.json")
    return json.loads(path.read_text(encoding="utf-8"))


def fields_of(template: str) -> set[str]:
    return {name for _text, name, _spec, _conversion in string.Formatter().parse(template) if name}


TEMPLATES = ["report.md.j2", "report.html.j2"]


def template_source(name: str) -> str:
    template = resources.files("stackmedic.report").joinpath("templates", name)
    return template.read_text(encoding="utf-8")


def load_file(lang: str, name: str) -> dict[str, str]:
    path = resources.files("stackmedic").joinpath("messages", lang, name)
    return json.loads(path.read_text(encoding="utf-8"))


EN = load("en")
ZH = load("zh-CN")


def test_every_english_key_exists_in_chinese() -> None:
    assert sorted(set(EN) - set(ZH)) == []


def test_every_chinese_key_exists_in_english() -> None:
    assert sorted(set(ZH) - set(EN)) == []


def test_keys_are_in_report_namespace() -> None:
    assert [key for key in EN if not key.startswith("report.")] == []


@pytest.mark.parametrize("key", sorted(EN))
def test_both_languages_use_same_fields(key: str) -> None:
    assert fields_of(EN[key]) == fields_of(ZH[key])


@pytest.mark.parametrize("key", sorted(EN))
def test_chinese_text_is_translated(key: str) -> None:
    chinese = ZH[key]
    literal = string.Formatter().parse(chinese)
    words = "".join(text for text, _name, _spec, _conversion in literal)
    # Keys whose text is only punctuation around fields have no words to translate.
    if not re.search(r"[A-Za-z\u4e00-\u9fff]", words):
        return
    assert CJK.search(chinese), f"{key} is not translated: {chinese!r}"


@pytest.mark.parametrize(
    ("group", "members"),
    [
        ("verdict", list(Verdict)),
        ("category", list(Category)),
        ("fixability", list(Fixability)),
        ("repair.status", list(RepairStatus)),
    ],
)
def test_every_enum_member_has_a_label(group: str, members: list[enum.Enum]) -> None:
    for member in members:
        key = f"report.{group}.{member.value}"
        assert key in EN, key
        assert key in ZH, key


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_uses_only_catalogue_keys(name: str) -> None:
    source = template_source(name)

    literal_keys = set(re.findall(r"t\(\"(report\.[a-z_.]+)\"", source))

    assert literal_keys, "the template should look up its words with t()"
    assert sorted(literal_keys - set(EN)) == []


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_contains_no_english_or_chinese_words(name: str) -> None:
    source = template_source(name)

    # Drop Jinja comments, tags and expressions, and HTML tags with their
    # attributes; what remains is literal output.
    literal = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", "", source, flags=re.DOTALL)
    literal = re.sub(r"<[^>]*>", "", literal)

    assert CJK.search(literal) is None
    assert re.findall(r"[A-Za-z]{2,}", literal) == []


@pytest.mark.parametrize("state", timeline.STATES)
def test_every_timeline_state_has_a_label(state: str) -> None:
    key = f"report.timeline.state.{state}"

    assert key in EN
    assert key in ZH


def test_every_compose_edit_action_has_a_title() -> None:
    for action in ACTIONS:
        key = f"report.repair.title.{action}"
        assert key in EN, key
        assert key in ZH, key


def test_progress_messages_match_in_both_languages() -> None:
    english = load_file("en", "progress.json")
    chinese = load_file("zh-CN", "progress.json")

    assert sorted(english) == sorted(chinese)
    for key in english:
        assert fields_of(english[key]) == fields_of(chinese[key]), key
        assert CJK.search(chinese[key]), key
