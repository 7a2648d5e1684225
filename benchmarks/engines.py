"""Other ways to run the signature table over a log, measured against LogScanner.

Each function takes the signature regexes and the log (bytes) and returns
the set of (line number, regex index) pairs that match, so the benchmark can
check that every way finds the same lines. A function whose package is not
installed raises ImportError and is left out of the table.

- `per_line_loop`: every line against every regex with Python's `re`.
- `re2_set_per_line`: google-re2's RE2::Set returns which regexes match a
  line in one call; the loop over lines stays in Python.
- `pyahocorasick_prefilter`, `ahocorasick_rs_prefilter`: the required
  literals (from `stackmedic.analysis.logscan.required_literals`) found with
  an Aho-Corasick automaton in one pass, each candidate line confirmed with
  `re`. A regex without a literal is searched line by line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from stackmedic.analysis.logscan import required_literals

Pairs = set[tuple[int, int]]


def per_line_loop(regexes: Sequence[re.Pattern[str]], data: bytes) -> Pairs:
    found: Pairs = set()
    for number, line in enumerate(_lines(data), start=1):
        for index, regex in enumerate(regexes):
            if regex.search(line):
                found.add((number, index))
    return found


def re2_set_per_line(regexes: Sequence[re.Pattern[str]], data: bytes) -> Pairs:
    import re2

    # RE2 has no lookaround; a regex it rejects is checked with `re` on every line.
    sets = {
        True: re2.Set.SearchSet(_re2_options(re2, caseless=True)),
        False: re2.Set.SearchSet(_re2_options(re2, caseless=False)),
    }
    members: dict[bool, list[int]] = {True: [], False: []}
    leftovers: list[int] = []
    for index, regex in enumerate(regexes):
        caseless = bool(regex.flags & re.IGNORECASE)
        try:
            position = sets[caseless].Add(regex.pattern)
        except re2.error:
            position = -1
        if position < 0:
            leftovers.append(index)
            continue
        members[caseless].append(index)
    for compiled in sets.values():
        compiled.Compile()

    found: Pairs = set()
    for number, line in enumerate(_lines(data), start=1):
        for caseless, compiled in sets.items():
            for position in compiled.Match(line) or ():
                index = members[caseless][position]
                if regexes[index].search(line):
                    found.add((number, index))
        for index in leftovers:
            if regexes[index].search(line):
                found.add((number, index))
    return found


def _re2_options(re2: object, *, caseless: bool) -> object:
    options = re2.Options()  # type: ignore[attr-defined]
    options.case_sensitive = not caseless
    return options


def pyahocorasick_prefilter(regexes: Sequence[re.Pattern[str]], data: bytes) -> Pairs:
    import ahocorasick

    def finder(literals: list[str]) -> Callable[[str], list[tuple[int, str]]]:
        automaton = ahocorasick.Automaton()
        for literal in literals:
            automaton.add_word(literal, literal)
        automaton.make_automaton()
        return lambda text: [(end - len(word) + 1, word) for end, word in automaton.iter(text)]

    return _prefiltered(regexes, data, finder)


def ahocorasick_rs_prefilter(regexes: Sequence[re.Pattern[str]], data: bytes) -> Pairs:
    import ahocorasick_rs

    def finder(literals: list[str]) -> Callable[[str], list[tuple[int, str]]]:
        automaton = ahocorasick_rs.AhoCorasick(literals)
        # Overlapping matches: a literal inside another one's match must not be lost.
        return lambda text: [
            (start, literals[index])
            for index, start, _ in automaton.find_matches_as_indexes(text, overlapping=True)
        ]

    return _prefiltered(regexes, data, finder)


def _prefiltered(
    regexes: Sequence[re.Pattern[str]],
    data: bytes,
    make_finder: Callable[[list[str]], Callable[[str], list[tuple[int, str]]]],
) -> Pairs:
    text = data.decode("utf-8", "replace")
    lowered = text.lower()
    by_literal: dict[tuple[bool, str], list[int]] = {}
    unfiltered: list[int] = []
    for index, regex in enumerate(regexes):
        literals = required_literals(regex)
        if literals is None:
            unfiltered.append(index)
            continue
        caseless = bool(regex.flags & re.IGNORECASE)
        for literal in literals:
            by_literal.setdefault((caseless, literal), []).append(index)

    candidates: dict[int, set[int]] = {}
    for caseless, haystack in ((False, text), (True, lowered)):
        searched = sorted({literal for (flag, literal) in by_literal if flag == caseless})
        if not searched:
            continue
        for start, literal in make_finder(searched)(haystack):
            line_start = haystack.rfind("\n", 0, start) + 1
            candidates.setdefault(line_start, set()).update(by_literal[(caseless, literal)])

    found: Pairs = set()
    line_numbers = _line_numbers(text, sorted(candidates))
    for line_start, indexes in candidates.items():
        end = text.find("\n", line_start)
        line = text[line_start:] if end < 0 else text[line_start:end]
        line = line.removesuffix("\r")
        for index in indexes:
            if regexes[index].search(line):
                found.add((line_numbers[line_start], index))
    if unfiltered:
        for number, line in enumerate(_lines(data), start=1):
            for index in unfiltered:
                if regexes[index].search(line):
                    found.add((number, index))
    return found


def _line_numbers(text: str, starts: list[int]) -> dict[int, int]:
    numbers = {}
    count = 1
    previous = 0
    for start in starts:
        count += text.count("\n", previous, start)
        previous = start
        numbers[start] = count
    return numbers


def _lines(data: bytes) -> list[str]:
    text = data.decode("utf-8", "replace")
    text = text.removesuffix("\n")
    return [line.removesuffix("\r") for line in text.split("\n")]
