"""Keep comments beside the lines they describe when a ruamel.yaml collection changes.

ruamel.yaml attaches the comment lines that follow a value to that value: in


    environment:
      - A=1
    # volumes for the cache
    volumes: [...]

the `# volumes ...` line belongs to the token after `A=1`. Appending `B=2`
to the list would print it after that comment, away from its siblings. The
helpers here split such a token into the part that stays (the end-of-line
comment and lines indented at least as deep as the collection's items) and
the part that moves to whatever is now last.

A comment token's value is the end-of-line comment (possibly empty) followed
by a newline and then whole lines: `"# eol\\n    # next\\n\\n"`.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

# Position of the comment that follows a value inside ruamel's per-item
# comment lists (`ca.items[key]`): mappings keep it at index 2, sequences at 0.
_MAP_POST = 2
_SEQ_POST = 0


def is_block(node: Any) -> bool:
    """Return True for a non-empty block-style mapping or sequence."""
    if not isinstance(node, (CommentedMap, CommentedSeq)) or len(node) == 0:
        return False
    return not node.fa.flow_style()


def last_key(container: CommentedMap | CommentedSeq) -> Any:
    """Return the last index or the last key written in the mapping itself (not merged)."""
    if isinstance(container, CommentedSeq):
        return len(container) - 1
    own = [key for key, _ in container.non_merged_items()]
    return own[-1] if own else None


# (id of the parent, key) of every place where a node is written as an alias
# (`*name`): what follows an alias is stored on the parent's entry, not
# inside the aliased node, whose own comments print where its anchor is.
AliasSlots = frozenset[tuple[int, Any]]


def trailing_slot(
    container: CommentedMap | CommentedSeq, key: Any, aliases: AliasSlots = frozenset()
) -> tuple[Any, Any]:
    """Return the (container, key) whose comment token follows `container[key]` in the output.

    For a block collection that is the deepest last item; for a scalar, a
    flow collection or an alias it is the entry itself.
    """
    value = container[key]
    if is_block(value) and (id(container), key) not in aliases:
        inner = last_key(value)
        if inner is not None:
            return trailing_slot(value, inner, aliases)
    return container, key


def get_post_token(container: Any, key: Any) -> CommentToken | None:
    entry = container.ca.items.get(key)
    if not entry:
        return None
    index = _SEQ_POST if isinstance(container, CommentedSeq) else _MAP_POST
    token = entry[index]
    return token if isinstance(token, CommentToken) else None


def set_post_token(container: Any, key: Any, token: CommentToken | None) -> None:
    index = _SEQ_POST if isinstance(container, CommentedSeq) else _MAP_POST
    entry = container.ca.items.setdefault(key, [None, None, None, None])
    entry[index] = token
    if all(part is None for part in entry):
        del container.ca.items[key]


def new_token(value: str, column: int = 0) -> CommentToken:
    return CommentToken(value, CommentMark(column))


def split_token(token: CommentToken) -> tuple[str, list[str]]:
    """Split a token's value into its end-of-line comment and the whole lines after it."""
    head, _, rest = token.value.partition("\n")
    lines = rest.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return head, lines


def _join(head: str, lines: list[str]) -> str:
    return head + "\n" + "".join(line + "\n" for line in lines)


def _column(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def detach_tail(
    container: Any, key: Any, threshold: int | None = None, aliases: AliasSlots = frozenset()
) -> list[str]:
    """Remove and return the comment lines after `container[key]` that belong further out.

    The lines from the first comment indented less than `threshold` onward
    move, together with the blank lines just before it. A run of blank lines
    at the end moves too. With `threshold=None` every line after the
    end-of-line comment moves.
    """
    slot_container, slot_key = trailing_slot(container, key, aliases)
    token = get_post_token(slot_container, slot_key)
    if token is None:
        return []
    head, lines = split_token(token)

    cut = _cut_index(lines, threshold)
    staying, moved = lines[:cut], lines[cut:]
    if not moved:
        return []
    if head == "" and not staying:
        set_post_token(slot_container, slot_key, None)
    else:
        token.value = _join(head, staying)
    return moved


def _cut_index(lines: list[str], threshold: int | None) -> int:
    if threshold is None:
        return 0
    for index, line in enumerate(lines):
        if line.strip().startswith("#") and _column(line) < threshold:
            while index > 0 and lines[index - 1].strip() == "":
                index -= 1
            return index
    cut = len(lines)
    while cut > 0 and lines[cut - 1].strip() == "":
        cut -= 1
    return cut


def attach_tail(
    container: Any, key: Any, lines: list[str], aliases: AliasSlots = frozenset()
) -> None:
    """Append comment lines after `container[key]` (after its deepest last item)."""
    if not lines:
        return
    slot_container, slot_key = trailing_slot(container, key, aliases)
    token = get_post_token(slot_container, slot_key)
    if token is None:
        set_post_token(slot_container, slot_key, new_token(_join("", lines)))
        return
    head, existing = split_token(token)
    token.value = _join(head, existing + lines)


def replace_value(container: Any, key: Any, value: Any, aliases: AliasSlots = frozenset()) -> None:
    """Set `container[key] = value`, keeping the key's end-of-line comment and the lines after it.

    The comment lines that followed the old value (after its deepest last item
    for a block collection) follow the new value.
    """
    tail = detach_tail(container, key, None, aliases)
    end_of_line = get_post_token(container, key)
    container[key] = value
    if end_of_line is not None and is_block(value):
        value.ca.comment = [end_of_line, None]
    attach_tail(container, key, tail)


def set_end_of_line(container: Any, key: Any, text: str, column: int) -> None:
    """Write an end-of-line comment after `container[key]`'s key (before its other lines)."""
    if not text:
        return
    token = new_token(text + "\n", column)
    value = container[key]
    existing = get_post_token(container, key)
    if existing is not None:
        _, lines = split_token(existing)
        token.value = _join(text, lines)
    set_post_token(container, key, token)
    if is_block(value):
        value.ca.comment = [token, None]
