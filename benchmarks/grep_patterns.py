"""Python regexes as POSIX extended regexes (GNU `grep -E`), for the grep baseline.

The translation walks Python's parse tree, so escapes, classes and groups
come out in ERE syntax. ERE has no lookaround, lazy quantifiers or inline
flags, so:

- a lookahead or lookbehind is dropped, which can only make grep match more
  lines;
- a lazy quantifier becomes a greedy one, which matches the same lines;
- IGNORECASE becomes a bracket of both cases for each letter.

`translate` reports which of these it applied, and the benchmark checks that
grep and stackmedic report the same number of matching lines.
"""

from __future__ import annotations

import re
import re._constants as sre_constants
import re._parser as sre_parse
from dataclasses import dataclass, field
from typing import Any

# Characters that need a backslash outside a bracket expression in ERE.
_ERE_SPECIAL = set(".[]()*+?{}|^$\\")
_CATEGORY_CLASS = {
    sre_constants.CATEGORY_DIGIT: "0-9",
    sre_constants.CATEGORY_WORD: "[:alnum:]_",
    sre_constants.CATEGORY_SPACE: "[:space:]",
}
_NEGATED_CATEGORY = {
    sre_constants.CATEGORY_NOT_DIGIT: sre_constants.CATEGORY_DIGIT,
    sre_constants.CATEGORY_NOT_WORD: sre_constants.CATEGORY_WORD,
    sre_constants.CATEGORY_NOT_SPACE: sre_constants.CATEGORY_SPACE,
}


@dataclass
class Translation:
    """One regex in ERE syntax, and the approximations that took."""

    ere: str
    approximations: list[str] = field(default_factory=list)


def translate(regex: re.Pattern[str]) -> Translation:
    """Return `regex` as an ERE that matches at least the lines the regex matches."""
    caseless = bool(regex.flags & re.IGNORECASE)
    translation = Translation("")
    tree = sre_parse.parse(regex.pattern, regex.flags)
    translation.ere = _sequence(list(tree), caseless, translation)
    return translation


def _sequence(items: list[Any], caseless: bool, translation: Translation) -> str:
    return "".join(_item(op, argument, caseless, translation) for op, argument in items)


def _item(op: Any, argument: Any, caseless: bool, translation: Translation) -> str:
    c = sre_constants
    if op is c.LITERAL and chr(argument) == "\n":
        raise ValueError("a newline literal cannot match within a line")
    if op is c.LITERAL:
        return _literal(chr(argument), caseless)
    if op is c.NOT_LITERAL:
        # "]" right after "[^" is a literal in POSIX; every character of a line is "not a newline".
        return "." if chr(argument) == "\n" else "[^" + chr(argument) + "]"
    if op is c.ANY:
        return "."
    if op is c.IN:
        return _bracket(argument, caseless)
    if op is c.SUBPATTERN:
        _group, add_flags, _del_flags, body = argument
        inner_caseless = caseless or bool(add_flags & re.IGNORECASE)
        return "(" + _sequence(list(body), inner_caseless, translation) + ")"
    if op is c.BRANCH:
        branches = [_sequence(list(branch), caseless, translation) for branch in argument[1]]
        return "(" + "|".join(branches) + ")"
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
        if op is not c.MAX_REPEAT:
            translation.approximations.append("lazy or possessive quantifier made greedy")
        low, high, body = argument
        inner = "(" + _sequence(list(body), caseless, translation) + ")"
        return inner + _quantifier(low, high)
    if op is c.AT:
        return _anchor(argument, translation)
    if op in (c.ASSERT, c.ASSERT_NOT):
        translation.approximations.append("lookaround dropped")
        return ""
    if op is c.CATEGORY:
        return _category(argument)
    raise ValueError(f"no ERE form for {op} in a signature")


def _literal(character: str, caseless: bool) -> str:
    if caseless and character.lower() != character.upper():
        return "[" + character.lower() + character.upper() + "]"
    return "\\" + character if character in _ERE_SPECIAL else character


def _bracket(items: list[Any], caseless: bool) -> str:
    c = sre_constants
    negated = False
    members: list[str] = []
    alternatives: list[str] = []
    specials = ""
    for op, argument in items:
        if op is c.NEGATE:
            negated = True
        elif op is c.LITERAL and chr(argument) == "\n":
            # grep matches one line at a time, and a newline in a pattern file ends the pattern.
            continue
        elif op is c.LITERAL:
            character = chr(argument)
            for variant in {character.lower(), character.upper()} if caseless else {character}:
                if variant in "]^-":
                    specials += variant
                else:
                    members.append(variant)
        elif op is c.RANGE:
            low, high = chr(argument[0]), chr(argument[1])
            members.append(f"{low}-{high}")
            if caseless and low.isalpha() and high.isalpha():
                members.append(f"{low.swapcase()}-{high.swapcase()}")
        elif op is c.CATEGORY and argument in _CATEGORY_CLASS:
            members.append(_CATEGORY_CLASS[argument])
        elif op is c.CATEGORY and argument in _NEGATED_CATEGORY:
            # [\S,] is "not a space, or a comma": an alternation in ERE.
            alternatives.append(_category(argument))
        else:
            raise ValueError(f"no ERE form for {op} inside a class")
    if alternatives and negated:
        raise ValueError("no ERE form for a negated class with a negated category")
    # POSIX: "]" first, "-" last, "^" anywhere but first.
    body = ("]" if "]" in specials else "") + "".join(members)
    body += "^" if "^" in specials else ""
    body += "-" if "-" in specials else ""
    if body:
        alternatives.append("[" + ("^" if negated else "") + body + "]")
    return alternatives[0] if len(alternatives) == 1 else "(" + "|".join(alternatives) + ")"


def _category(category: Any) -> str:
    if category in _CATEGORY_CLASS:
        return "[" + _CATEGORY_CLASS[category] + "]"
    positive = _NEGATED_CATEGORY.get(category)
    if positive is None:
        raise ValueError(f"no ERE form for category {category}")
    return "[^" + _CATEGORY_CLASS[positive] + "]"


def _quantifier(low: int, high: int) -> str:
    if high == sre_constants.MAXREPEAT:
        return {0: "*", 1: "+"}.get(low, f"{{{low},}}")
    if (low, high) == (0, 1):
        return "?"
    return f"{{{low}}}" if low == high else f"{{{low},{high}}}"


def _anchor(anchor: Any, translation: Translation) -> str:
    c = sre_constants
    if anchor in (c.AT_BEGINNING, c.AT_BEGINNING_LINE, c.AT_BEGINNING_STRING):
        return "^"
    if anchor in (c.AT_END, c.AT_END_LINE, c.AT_END_STRING):
        return "$"
    if anchor is c.AT_BOUNDARY:
        return "\\b"
    if anchor is c.AT_NON_BOUNDARY:
        return "\\B"
    translation.approximations.append(f"anchor {anchor} dropped")
    return ""
