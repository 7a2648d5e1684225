"""Message templates of logging calls, and matching them against log lines.

A template is the message text with every part only known at run time
(f-string fields, `%s`, `{}`) replaced by `HOLE`. `log_site_matches` finds the
template anywhere in a line, so it works whatever the logging format puts
before or after the message.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

from stackmedic.analysis.values import PERCENT_SPEC
from stackmedic.evidence.facts import LogCallSite

HOLE = "{*}"
# A template line with fewer literal characters than this ("{*}", "ok") would
# match nearly any line, so it never matches.
MIN_LITERAL_CHARS = 3

_BRACE_FIELD = re.compile(r"\{\{|\}\}|\{[^{}]*\}")


def join_template(parts: Iterable[str | None]) -> str:
    """Join literal parts and holes (None) into a template, merging adjacent holes."""
    out: list[str] = []
    for part in parts:
        if part is None or part == HOLE:
            if not out or out[-1] != HOLE:
                out.append(HOLE)
        elif part:
            out.append(part)
    return "".join(out)


def percent_template(text: str) -> str:
    """Turn printf-style conversions (`%s`, `%d`, `%(name)s`) into holes; `%%` becomes `%`."""
    parts: list[str | None] = []
    position = 0
    for match in PERCENT_SPEC.finditer(text):
        parts.append(text[position : match.start()])
        parts.append("%" if match.group(0) == "%%" else None)
        position = match.end()
    parts.append(text[position:])
    return join_template(parts)


def brace_template(text: str) -> str:
    """Turn `str.format` fields (`{}`, `{name}`, `{0:>5}`) into holes; `{{` becomes `{`."""
    parts: list[str | None] = []
    position = 0
    for match in _BRACE_FIELD.finditer(text):
        parts.append(text[position : match.start()])
        token = match.group(0)
        parts.append(token[0] if token in ("{{", "}}") else None)
        position = match.end()
    parts.append(text[position:])
    return join_template(parts)


def literal_length(template: str) -> int:
    """Count the non-blank literal characters of a template."""
    return sum(len("".join(part.split())) for part in template.split(HOLE))


@functools.lru_cache(maxsize=4096)
def template_patterns(template: str) -> tuple[tuple[re.Pattern[str], int], ...]:
    """Compile one regex per line of a template that has enough literal text.

    Each regex comes with the line's literal length. Literal text matches
    itself, except that any run of blanks matches any run of blanks; a hole
    matches any text on the line.
    """
    patterns = []
    for line in template.splitlines() or [template]:
        length = literal_length(line)
        if length < MIN_LITERAL_CHARS:
            continue
        pieces = [_literal_regex(piece) for piece in line.split(HOLE)]
        patterns.append((re.compile(".*?".join(pieces)), length))
    return tuple(patterns)


def _literal_regex(text: str) -> str:
    return r"\s+".join(re.escape(word) for word in re.split(r"\s+", text))


def log_site_matches(site: LogCallSite, line_text: str) -> bool:
    """Tell whether `site` can have produced `line_text` (its template occurs in the line)."""
    return match_score(site.message, line_text) is not None


def match_score(template: str, line_text: str) -> int | None:
    """Score how specifically a template matches a line, or None when it does not match.

    The score is the number of literal characters matched, plus one when the
    template's last literal text ends the line (the message is usually last).
    """
    best: int | None = None
    for pattern, length in template_patterns(template):
        match = pattern.search(line_text)
        if match is None:
            continue
        score = length
        if not template.endswith(HOLE) and not line_text[match.end() :].strip():
            score += 1
        best = score if best is None else max(best, score)
    return best


def best_log_site(sites: Sequence[LogCallSite], line_text: str) -> LogCallSite | None:
    """Return the site whose template matches `line_text` most specifically.

    Ties keep the earlier site. Callers usually pass one service's sites.
    """
    best: LogCallSite | None = None
    best_score = -1
    for site in sites:
        score = match_score(site.message, line_text)
        if score is not None and score > best_score:
            best, best_score = site, score
    return best


def sites_matching(sites: Iterable[LogCallSite], line_text: str) -> list[LogCallSite]:
    """Return every site whose template matches the line, most specific first."""
    scored = []
    for position, site in enumerate(sites):
        score = match_score(site.message, line_text)
        if score is not None:
            scored.append((-score, position, site))
    return [site for _, _, site in sorted(scored, key=lambda item: (item[0], item[1]))]
