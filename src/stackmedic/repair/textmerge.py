"""Carry an edit made on ruamel.yaml's output back onto the user's original text.

ruamel.yaml reproduces most compose files byte for byte, but not every
layout: a file that mixes indentation widths, pads flow collections
(`[ a, b ]`) or folds a plain scalar over several lines comes back
normalised. Writing that output would turn a one-line repair into a diff of
the whole file.

So an edit is treated as a three-way merge on lines. The base is ruamel's
dump of the unedited document, one side is the original text (differing from
the base only in layout) and the other side is ruamel's dump after the edit.
A region changed by the edit alone takes the edited lines, and a region
changed by layout alone keeps the original lines. A region changed by both
takes the edited lines, so the edit always lands and the original layout is
lost only there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _SyncRegion:
    """Lines that are equal in base, original and edited text."""

    base: int
    original: int
    edited: int
    length: int


def merge_edit(original: str, base: str, edited: str) -> str:
    """Return `original` with the changes that turn `base` into `edited`.

    All three are whole texts; lines keep their line breaks, so a missing
    final newline in `original` survives unless the edit touches the last line.
    """
    if edited == base:
        return original
    if original == base:
        return edited

    original_lines = original.splitlines(keepends=True)
    base_lines = base.splitlines(keepends=True)
    edited_lines = edited.splitlines(keepends=True)

    merged: list[str] = []
    base_pos = original_pos = edited_pos = 0
    for region in _sync_regions(base_lines, original_lines, edited_lines):
        base_chunk = base_lines[base_pos : region.base]
        original_chunk = original_lines[original_pos : region.original]
        edited_chunk = edited_lines[edited_pos : region.edited]
        merged.extend(_resolve_chunk(base_chunk, original_chunk, edited_chunk))

        merged.extend(original_lines[region.original : region.original + region.length])
        base_pos = region.base + region.length
        original_pos = region.original + region.length
        edited_pos = region.edited + region.length
    return "".join(_terminate_inner_lines(merged))


def _terminate_inner_lines(lines: list[str]) -> list[str]:
    """Give a line break to an original last line that the edit has put lines after."""
    return [
        line if line.endswith("\n") or index == len(lines) - 1 else line + "\n"
        for index, line in enumerate(lines)
    ]


def _resolve_chunk(base: list[str], original: list[str], edited: list[str]) -> list[str]:
    if edited == base:
        return original
    if original == base:
        return edited
    aligned = _merge_line_aligned(base, original, edited)
    if aligned is not None:
        return aligned
    logger.debug(
        "edit overlaps a layout difference; %d original lines replaced by ruamel's layout",
        len(original),
    )
    return edited


def _merge_line_aligned(
    base: list[str], original: list[str], edited: list[str]
) -> list[str] | None:
    """Resolve an overlap where layout changed the base lines one for one.

    Then base line i is original line i in another layout: lines the edit
    kept take the original's layout, and lines the edit wrote are shifted by
    the indentation difference of the original line they replace or follow.
    Return None when the line counts differ.
    """
    if len(base) != len(original):
        return None
    merged: list[str] = []
    matcher = SequenceMatcher(None, base, edited, autojunk=False)
    for tag, base_start, base_end, edited_start, edited_end in matcher.get_opcodes():
        if tag == "equal":
            merged.extend(original[base_start:base_end])
            continue
        written = edited[edited_start:edited_end]
        last = base_start if tag == "replace" else base_start - 1
        shift = _indent_shift(base, original, last, _indent(written[0]) if written else 0)
        merged.extend(_shift(line, shift) for line in written)
    return merged


def _indent_shift(base: list[str], original: list[str], last: int, indent: int) -> int:
    """Return how far the original indents the structure a line at `indent` belongs to.

    The nearest base line at or before `last` that is indented no deeper is
    the line's sibling or parent, and the shift is the difference between
    its original and base indentation. Deeper lines belong to a previous
    sibling's value and are skipped. With no such line the shift is 0.
    """
    for index in range(min(last, len(base) - 1), -1, -1):
        if base[index].strip() and _indent(base[index]) <= indent:
            return _indent(original[index]) - _indent(base[index])
    return 0


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _shift(line: str, columns: int) -> str:
    if columns > 0 and line.strip():
        return " " * columns + line
    if columns < 0:
        removable = min(-columns, _indent(line))
        return line[removable:]
    return line


def _sync_regions(
    base: Sequence[str], original: Sequence[str], edited: Sequence[str]
) -> list[_SyncRegion]:
    """Return the regions equal in all three texts, ending with an empty sentinel region."""
    with_original = SequenceMatcher(None, base, original, autojunk=False).get_matching_blocks()
    with_edited = SequenceMatcher(None, base, edited, autojunk=False).get_matching_blocks()

    regions: list[_SyncRegion] = []
    i = j = 0
    while i < len(with_original) and j < len(with_edited):
        base_o, original_start, length_o = with_original[i]
        base_e, edited_start, length_e = with_edited[j]
        start = max(base_o, base_e)
        end = min(base_o + length_o, base_e + length_e)
        if start < end:
            regions.append(
                _SyncRegion(
                    base=start,
                    original=original_start + (start - base_o),
                    edited=edited_start + (start - base_e),
                    length=end - start,
                )
            )
        if base_o + length_o < base_e + length_e:
            i += 1
        else:
            j += 1

    regions.append(_SyncRegion(len(base), len(original), len(edited), 0))
    return regions
