"""Load a compose file for round-trip editing and write it back unchanged except for the edits.

`ComposeDocument` reads a file with ruamel.yaml in round-trip mode and
detects the layout the author used: mapping indent, sequence indent and dash
offset, what precedes `---`, CRLF line ends and a byte order mark. The
emitter is configured to match, so dumping an unedited document reproduces
the file byte for byte for ordinary layouts. `dump()` then carries the edits back onto the original text
with `textmerge.merge_edit`, which keeps unusual layouts that ruamel cannot
reproduce everywhere except on the edited lines.

The edit actions themselves live in `stackmedic.repair.compose_edit`.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.tokens import CommentToken

from stackmedic.errors import ComposeFileError, RepairError
from stackmedic.i18n import Message, message
from stackmedic.repair.textmerge import merge_edit

logger = logging.getLogger(__name__)

# Long lines stay on one line: ruamel folds plain scalars and flow collections
# wider than this many columns.
_EMITTER_WIDTH = 1_000_000
_BOM = "\ufeff"


@dataclass(frozen=True)
class Layout:
    """The layout of a compose file, as far as ruamel's emitter can reproduce it.

    `sequence` is the column of a block sequence item's content relative to
    its parent key and `offset` the column of its dash, as in
    `YAML.indent(mapping=..., sequence=..., offset=...)`.
    """

    mapping: int = 2
    sequence: int = 4
    offset: int = 2
    crlf: bool = False
    bom: bool = False


def make_yaml(layout: Layout | None = None) -> YAML:
    """Return a round-trip YAML instance that emits `layout`."""
    layout = layout or Layout()
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = _EMITTER_WIDTH
    yaml.indent(mapping=layout.mapping, sequence=layout.sequence, offset=layout.offset)
    return yaml


class ComposeDocument:
    """One compose file, parsed for round-trip editing.

    `data` is the ruamel tree (a `CommentedMap`, or None for an empty file);
    the edit actions in `stackmedic.repair.compose_edit` change it in place.
    """

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.original_text = text
        # Compose reads `.env` from the project directory; callers that know
        # it set this, otherwise the file's own folder is assumed.
        self.project_dir: Path | None = None
        body = text[1:] if text.startswith(_BOM) else text
        crlf = "\r\n" in body
        self._text = body.replace("\r\n", "\n")
        # ruamel drops comments written before `---`, so the lines up to the
        # marker are kept aside and put back on output. `line_offset` maps
        # the parser's line numbers back to the file's.
        self._prelude = _prelude(self._text)
        self.line_offset = self._prelude.count("\n")
        self._body = self._text[len(self._prelude) :]
        self.lines = self._body.split("\n")

        self.data = self._parse(self._body)
        self.layout = detect_layout(self.data, self.lines, crlf=crlf, bom=text.startswith(_BOM))
        self._yaml = make_yaml(self.layout)
        self._base = self._render_normalized()

    @classmethod
    def load(cls, path: str | Path) -> ComposeDocument:
        """Read and parse `path`; raise ComposeFileError if it is missing, not UTF-8 or not YAML."""
        file_path = Path(path)
        try:
            raw = file_path.read_bytes()
        except OSError as error:
            raise ComposeFileError(
                message(
                    "errors.compose.unreadable_for_edit",
                    path=str(file_path),
                    error=str(error.strerror or error),
                ),
                hint=message("errors.compose.hint.check_path"),
            ) from error
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ComposeFileError(
                message("errors.compose.not_utf8", path=str(file_path), byte=error.start),
                hint=message("errors.compose.hint.save_utf8"),
            ) from error
        return cls(file_path, text)

    @classmethod
    def from_text(cls, text: str, path: str | Path = "docker-compose.yml") -> ComposeDocument:
        return cls(Path(path), text)

    def _parse(self, text: str) -> CommentedMap | None:
        try:
            data = make_yaml().load(text)
        except MarkedYAMLError as error:
            raise ComposeFileError(
                _yaml_error_message(self.path, error, self.line_offset),
                hint=message("errors.compose.hint.fix_yaml"),
            ) from error
        except YAMLError as error:
            problem = " ".join(str(error).split())
            raise ComposeFileError(
                message("errors.compose.invalid_yaml_at", location=str(self.path), problem=problem),
                hint=message("errors.compose.hint.fix_yaml"),
            ) from error
        if data is not None and not isinstance(data, CommentedMap):
            raise ComposeFileError(
                message(
                    "errors.compose.top_level_found",
                    location=f"{self.path}:1",
                    found=type(data).__name__,
                ),
                hint=message("errors.compose.hint.start_with_services"),
            )
        return data

    # Output

    def render(self) -> str:
        """Return ruamel.yaml's own dump of the current tree, with the file's line ends and BOM."""
        return self._restore_encoding(self._render_normalized())

    def dump(self) -> str:
        """Return the file's text with the edits made so far and nothing else changed.

        If carrying the edits onto the original layout would change what the
        file means (possible where the original mixes indentation widths
        next to an edited line), ruamel's own layout of the whole file is
        returned instead.
        """
        edited = self._render_normalized()
        merged = merge_edit(self._text, self._base, edited)
        if merged != edited and not _same_data(merged, edited):
            logger.warning(
                "%s: keeping the original layout around the edit changed the data; "
                "writing the file in ruamel's layout instead",
                self.path,
            )
            merged = edited
        return self._restore_encoding(merged)

    @property
    def changed(self) -> bool:
        return self._render_normalized() != self._base

    def _render_normalized(self) -> str:
        if self.data is None:
            return self._text
        _reset_comment_flags(self.data)
        stream = io.StringIO()
        self._yaml.dump(self.data, stream)
        return self._prelude + stream.getvalue()

    def _restore_encoding(self, text: str) -> str:
        if self.layout.crlf:
            text = text.replace("\n", "\r\n")
        if self.layout.bom:
            text = _BOM + text
        return text

    # Queries

    @property
    def services(self) -> CommentedMap | None:
        if self.data is None:
            return None
        services = self.data.get("services")
        return services if isinstance(services, CommentedMap) else None

    def defines_service(self, name: str) -> bool:
        services = self.services
        return services is not None and has_own_key(services, name)

    def service_names(self) -> list[str]:
        services = self.services
        if services is None:
            return []
        return [str(key) for key, _ in services.non_merged_items()]

    def line_of(self, container: Any, key: Any) -> int | None:
        """Return the 1-based line of `container[key]` in the original file, if it was there."""
        try:
            if isinstance(container, CommentedSeq):
                line = int(container.lc.item(key)[0])
            else:
                line = int(container.lc.key(key)[0])
        except (AttributeError, KeyError, IndexError, TypeError):
            return None
        return line + 1 + self.line_offset

    def dash_column(self, sequence: CommentedSeq) -> int | None:
        """Return the column of the `-` of the last item that was in the original file."""
        for index in range(len(sequence) - 1, -1, -1):
            position = sequence.lc.data.get(index) if sequence.lc.data else None
            if position is None:
                continue
            line, column = position[0], position[1]
            return _dash_before(self.lines[line], column) if line < len(self.lines) else None
        return None

    def key_column(self, mapping: CommentedMap) -> int | None:
        for key in reversed(list(mapping.keys())):
            position = mapping.lc.data.get(key) if mapping.lc.data else None
            if position is not None:
                return int(position[1])
        return None

    def reference_counts(self) -> Counter[int]:
        """Count how often each collection is reached from the root (aliases and merge keys count)."""
        counts: Counter[int] = Counter()
        if self.data is not None:
            _count_references(self.data, counts)
        return counts

    def alias_slots(self) -> frozenset[tuple[int, Any]]:
        """Return (id of the parent, key) of every entry whose value is written as an alias."""
        slots: set[tuple[int, Any]] = set()
        if self.data is not None:
            _collect_alias_slots(self.data, set(), slots)
        return frozenset(slots)

    def first_reference(self, node: Any) -> tuple[int, Any] | None:
        """Return (id of the parent, key) of the first place `node` occurs in document order."""
        if self.data is None:
            return None
        return _first_reference(self.data, node, set())

    @property
    def dotenv_path(self) -> Path:
        return (self.project_dir or self.path.parent) / ".env"

    def relative_name(self) -> str:
        return self.path.name

    def service(self, name: str) -> CommentedMap:
        """Return the mapping of service `name`, creating it when the file has `name:` with no value.

        Raise RepairError when this file does not define the service or
        defines it through a YAML alias shared with another service.
        """
        services = self.services
        if services is None or not has_own_key(services, name):
            defined = ", ".join(self.service_names())
            if defined:
                text = message(
                    "errors.repair.service_not_in_file",
                    path=str(self.path),
                    service=name,
                    defined=defined,
                )
            else:
                text = message(
                    "errors.repair.service_not_in_empty_file", path=str(self.path), service=name
                )
            raise RepairError(text, hint=message("errors.repair.hint.choose_file"))
        value = services[name]
        if value is None:
            value = CommentedMap()
            services[name] = value
        if not isinstance(value, CommentedMap):
            raise RepairError(
                message(
                    "errors.repair.service_not_mapping",
                    location=f"{self.path}:{self.line_of(services, name)}",
                    service=name,
                )
            )
        if self.reference_counts()[id(value)] > 1:
            raise RepairError(
                message(
                    "errors.repair.service_is_alias",
                    location=f"{self.path}:{self.line_of(services, name)}",
                    service=name,
                ),
                hint=message("errors.repair.hint.own_definition"),
            )
        if value.fa.flow_style() and len(value) == 0:
            value.fa.set_block_style()
        return value


def _yaml_error_message(path: Path, error: MarkedYAMLError, line_offset: int) -> Message:
    mark = error.problem_mark or error.context_mark
    if mark is not None:
        where = f"{path}:{mark.line + 1 + line_offset}:{mark.column + 1}"
    else:
        where = str(path)
    problem = " ".join(str(error.problem or "").split())
    context = " ".join(str(error.context or "").split())
    detail = f"{problem} ({context})" if problem and context else problem or context
    if not detail:
        return message("errors.compose.invalid_yaml_unknown", location=where)
    return message("errors.compose.invalid_yaml_at", location=where, problem=detail)


def _same_data(first: str, second: str) -> bool:
    """Return True when two YAML texts load to equal data (comments and layout ignored)."""
    yaml = make_yaml()
    try:
        return bool(_plain(yaml.load(first)) == _plain(yaml.load(second)))
    except YAMLError:
        return False


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    if isinstance(node, str):
        return str(node)
    return node


def has_own_key(mapping: CommentedMap, key: Any) -> bool:
    """Return True when `key` is written in `mapping` itself, not inherited through `<<:`."""
    return any(own == key for own, _ in mapping.non_merged_items())


def merged_maps(mapping: CommentedMap) -> list[CommentedMap]:
    """Return the mappings a `<<:` merge key pulls into `mapping`, in order.

    ruamel.yaml 0.19.1 keeps them as a list of mappings, and older releases
    kept (position, mapping) pairs. Both forms are accepted.
    """
    maps: list[CommentedMap] = []
    for entry in getattr(mapping, "merge", None) or []:
        candidate = entry[1] if isinstance(entry, tuple) else entry
        if isinstance(candidate, CommentedMap):
            maps.append(candidate)
    return maps


def _dash_before(line: str, column: int) -> int | None:
    index = column - 1
    while index >= 0 and line[index] == " ":
        index -= 1
    if index >= 0 and line[index] == "-":
        return index
    return None


def _count_references(node: Any, counts: Counter[int]) -> None:
    if not isinstance(node, (CommentedMap, CommentedSeq)):
        return
    counts[id(node)] += 1
    if counts[id(node)] > 1:
        return
    if isinstance(node, CommentedMap):
        for merged in merged_maps(node):
            _count_references(merged, counts)
        for _, value in node.non_merged_items():
            _count_references(value, counts)
    else:
        for item in node:
            _count_references(item, counts)


def _collect_alias_slots(node: Any, seen: set[int], slots: set[tuple[int, Any]]) -> None:
    seen.add(id(node))
    if isinstance(node, CommentedMap):
        for merged in merged_maps(node):
            if id(merged) not in seen:
                _collect_alias_slots(merged, seen, slots)
        children: list[tuple[Any, Any]] = list(node.non_merged_items())
    else:
        children = list(enumerate(node))
    for key, value in children:
        if not isinstance(value, (CommentedMap, CommentedSeq)):
            continue
        if id(value) in seen:
            slots.add((id(node), key))
        else:
            _collect_alias_slots(value, seen, slots)


def _first_reference(parent: Any, node: Any, seen: set[int]) -> tuple[int, Any] | None:
    if not isinstance(parent, (CommentedMap, CommentedSeq)) or id(parent) in seen:
        return None
    seen.add(id(parent))
    if isinstance(parent, CommentedMap):
        for merged in merged_maps(parent):
            if merged is node:
                return (id(parent), "<<")
            found = _first_reference(merged, node, seen)
            if found is not None:
                return found
        children: list[tuple[Any, Any]] = list(parent.non_merged_items())
    else:
        children = list(enumerate(parent))
    for key, value in children:
        if value is node:
            return (id(parent), key)
        found = _first_reference(value, node, seen)
        if found is not None:
            return found
    return None


def _reset_comment_flags(node: Any) -> None:
    """Clear the `pre_done` marks ruamel's emitter leaves on comment tokens, so a second dump matches the first."""
    for container in _walk(node):
        for token in _tokens(container.ca.comment):
            token.reset()
        for entry in container.ca.items.values():
            for token in _tokens(entry):
                token.reset()
        for token in _tokens(getattr(container.ca, "end", None)):
            token.reset()


def _tokens(value: Any) -> Iterator[CommentToken]:
    if isinstance(value, CommentToken):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _tokens(item)


def _walk(node: Any, seen: set[int] | None = None) -> Iterator[CommentedMap | CommentedSeq]:
    seen = set() if seen is None else seen
    if not isinstance(node, (CommentedMap, CommentedSeq)) or id(node) in seen:
        return
    seen.add(id(node))
    yield node
    if isinstance(node, CommentedMap):
        for merged in merged_maps(node):
            yield from _walk(merged, seen)
        for _, value in node.non_merged_items():
            yield from _walk(value, seen)
    else:
        for item in node:
            yield from _walk(item, seen)


# Layout detection

_DOCUMENT_START = re.compile(r"^---(\s|$)")


def detect_layout(data: Any, lines: list[str], *, crlf: bool, bom: bool) -> Layout:
    """Measure the indentation the file uses most often.

    ruamel's emitter applies one mapping indent and one sequence indent to
    the whole file. A file that mixes several comes back normalised to the
    most common one, and `dump()` keeps the original lines where it can.
    """
    mapping_indents: Counter[int] = Counter()
    sequence_indents: Counter[tuple[int, int]] = Counter()
    if data is not None:
        _measure(data, lines, mapping_indents, sequence_indents)

    mapping = mapping_indents.most_common(1)[0][0] if mapping_indents else 2
    if sequence_indents:
        sequence, offset = sequence_indents.most_common(1)[0][0]
    else:
        sequence, offset = mapping + 2, mapping
    if mapping < 1 or sequence < offset + 2 or offset < 0:
        logger.debug("unusual indentation (%s, %s, %s); using 2/4/2", mapping, sequence, offset)
        mapping, sequence, offset = 2, 4, 2

    return Layout(mapping=mapping, sequence=sequence, offset=offset, crlf=crlf, bom=bom)


def _prelude(text: str) -> str:
    """Return the comments, directives and blank lines before a `---` marker, with the marker line."""
    position = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if _DOCUMENT_START.match(line):
            return text[: position + len(line)]
        if stripped and not stripped.startswith("#") and not stripped.startswith("%"):
            return ""
        position += len(line)
    return ""


def _measure(
    node: Any,
    lines: list[str],
    mapping_indents: Counter[int],
    sequence_indents: Counter[tuple[int, int]],
) -> None:
    for container in _walk(node):
        if not isinstance(container, CommentedMap) or not container.lc.data:
            continue
        for key, position in container.lc.data.items():
            if not has_own_key(container, key):
                continue
            key_line, key_column = position[0], position[1]
            value = container[key]
            if isinstance(value, CommentedMap) and not value.fa.flow_style() and value.lc.data:
                child = next(iter(value.lc.data.values()))
                if child[0] > key_line:
                    mapping_indents[child[1] - key_column] += 1
            elif isinstance(value, CommentedSeq) and not value.fa.flow_style() and value.lc.data:
                item_line, item_column = value.lc.data[0][0], value.lc.data[0][1]
                if item_line <= key_line or item_line >= len(lines):
                    continue
                dash = _dash_before(lines[item_line], item_column)
                if dash is not None:
                    sequence_indents[(item_column - key_column, dash - key_column)] += 1
