"""Python source as the code patch rules read and change it.

`PythonSource` parses one file and answers the questions a patch needs:
which node sits at a line, which function and class enclose it, how the
file indents, which name the module's logger has. `TextEdit` and
`apply_edits` change the text by line and column, and `unified_diff` turns
the old and new text into the patch a `Repair` carries.
"""

from __future__ import annotations

import ast
import difflib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

_Node = TypeVar("_Node", bound=ast.AST)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True)
class TextEdit:
    """Replace the text from (line, column) to (end_line, end_column) with `text`.

    Lines count from 1 and columns are character offsets, as in the text,
    not the UTF-8 byte offsets `ast` reports. An insertion has equal start
    and end.
    """

    line: int
    column: int
    end_line: int
    end_column: int
    text: str


def apply_edits(text: str, edits: list[TextEdit]) -> str:
    """Return `text` with non-overlapping edits applied; raise ValueError when edits overlap."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, column: int) -> int:
        if not 1 <= line <= len(lines) + 1:
            raise ValueError(f"line {line} is outside the text ({len(lines)} lines)")
        return starts[line - 1] + column

    spans = sorted(
        (offset(e.line, e.column), offset(e.end_line, e.end_column), e.text) for e in edits
    )
    result = []
    position = 0
    for start, end, replacement in spans:
        if start < position or end < start:
            raise ValueError("overlapping or inverted edits")
        result.append(text[position:start])
        result.append(replacement)
        position = end
    result.append(text[position:])
    return "".join(result)


def unified_diff(before: str, after: str, path: str) -> str:
    """Return a unified diff of one file labelled a/<path> and b/<path>; "" when nothing changed."""
    text = ""
    for line in difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    ):
        text += line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
    return text


class PythonSource:
    """One parsed Python file. Raise SyntaxError from the constructor when it does not parse."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.lines = text.splitlines()
        self.tree = ast.parse(text, filename=path)
        self._parents: dict[int, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self._parents[id(child)] = node

    # --- positions -------------------------------------------------------------------

    def column(self, line: int, byte_offset: int) -> int:
        """Convert an `ast` UTF-8 byte offset on a line to a character offset."""
        raw = self.lines[line - 1].encode("utf-8")
        return len(raw[:byte_offset].decode("utf-8", errors="replace"))

    def start(self, node: ast.expr | ast.stmt) -> tuple[int, int]:
        return node.lineno, self.column(node.lineno, node.col_offset)

    def end(self, node: ast.expr | ast.stmt) -> tuple[int, int]:
        line = node.end_lineno if node.end_lineno is not None else node.lineno
        offset = node.end_col_offset if node.end_col_offset is not None else node.col_offset
        return line, self.column(line, offset)

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or ""

    def replace(self, node: ast.expr | ast.stmt, text: str) -> TextEdit:
        """Return the edit that replaces a node's source text."""
        (line, column), (end_line, end_column) = self.start(node), self.end(node)
        return TextEdit(line, column, end_line, end_column, text)

    def indentation(self, line: int) -> str:
        text = self.lines[line - 1]
        return text[: len(text) - len(text.lstrip())]

    def indent_unit(self) -> str:
        """Return the file's indentation step: the most common increase between lines, else 4 spaces."""
        steps: Counter[str] = Counter()
        previous = ""
        for text in self.lines:
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            current = text[: len(text) - len(text.lstrip())]
            if current.startswith(previous) and len(current) > len(previous):
                steps[current[len(previous) :]] += 1
            previous = current
        return steps.most_common(1)[0][0] if steps else "    "

    def newline(self) -> str:
        return "\r\n" if "\r\n" in self.text else "\n"

    # --- navigation ------------------------------------------------------------------

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self._parents.get(id(node))

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        current = self.parent(node)
        while current is not None:
            yield current
            current = self.parent(current)

    def nodes_on_line(self, line: int, kind: type[_Node]) -> list[_Node]:
        """Return the nodes of a kind that start on `line`, in source order."""
        found = [
            node
            for node in ast.walk(self.tree)
            if isinstance(node, kind) and getattr(node, "lineno", None) == line
        ]
        return sorted(found, key=lambda node: getattr(node, "col_offset", 0))

    def nodes_spanning(self, line: int, kind: type[_Node]) -> list[_Node]:
        """Return the nodes of a kind whose lines include `line`, innermost last."""
        found = [
            node
            for node in ast.walk(self.tree)
            if isinstance(node, kind)
            and getattr(node, "lineno", 0) <= line <= (getattr(node, "end_lineno", 0) or 0)
        ]
        return sorted(
            found, key=lambda node: (getattr(node, "lineno", 0), -getattr(node, "end_lineno", 0))
        )

    def statement_of(self, node: ast.AST) -> ast.stmt | None:
        """Return the innermost statement that contains the node."""
        if isinstance(node, ast.stmt):
            return node
        return next((a for a in self.ancestors(node) if isinstance(a, ast.stmt)), None)

    def function_of(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        for ancestor in self.ancestors(node):
            if isinstance(ancestor, _FUNCTIONS):
                return ancestor
        return None

    def class_of(self, node: ast.AST) -> ast.ClassDef | None:
        for ancestor in self.ancestors(node):
            if isinstance(ancestor, ast.ClassDef):
                return ancestor
        return None

    def classes_named(self, name: str) -> list[ast.ClassDef]:
        return [n for n in ast.walk(self.tree) if isinstance(n, ast.ClassDef) and n.name == name]

    def functions_named(self, name: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
        return [n for n in ast.walk(self.tree) if isinstance(n, _FUNCTIONS) and n.name == name]

    @staticmethod
    def methods(klass: ast.ClassDef) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
        return [node for node in klass.body if isinstance(node, _FUNCTIONS)]

    @staticmethod
    def first_line(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> int:
        """Return the line a definition starts on, its first decorator included."""
        return min([node.lineno] + [decorator.lineno for decorator in node.decorator_list])

    # --- module facts ----------------------------------------------------------------

    def module_alias(self, module: str) -> str | None:
        """Return the name a top-level `import module [as name]` binds, if any."""
        for node in self.tree.body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == module:
                        return alias.asname or module
        return None

    def module_logger(self) -> str | None:
        """Return the module-level name assigned from `logging.getLogger(...)`, if any."""
        logging_name = self.module_alias("logging")
        for node in self.tree.body:
            if not isinstance(node, ast.Assign) or len(node.targets) != 1:
                continue
            target, value = node.targets[0], node.value
            if not isinstance(target, ast.Name) or not isinstance(value, ast.Call):
                continue
            function = value.func
            if (
                isinstance(function, ast.Attribute)
                and function.attr == "getLogger"
                and isinstance(function.value, ast.Name)
                and function.value.id == logging_name
            ):
                return target.id
        return None

    def names_in(self, node: ast.AST) -> set[str]:
        """Return every name bound or read inside a node, its arguments included."""
        names: set[str] = set()
        for child in ast.walk(node):
            if isinstance(child, ast.Name):
                names.add(child.id)
            elif isinstance(child, ast.arg):
                names.add(child.arg)
        return names

    def string_constants(self, node: ast.AST) -> list[ast.Constant]:
        """Return the string constants inside a node, f-string parts included."""
        return [
            child
            for child in ast.walk(node)
            if isinstance(child, ast.Constant) and isinstance(child.value, str)
        ]


def fresh_name(wanted: str, taken: set[str]) -> str:
    """Return `wanted`, or `wanted_2`, `wanted_3`, ... when the name is already used."""
    if wanted not in taken:
        return wanted
    number = 2
    while f"{wanted}_{number}" in taken:
        number += 1
    return f"{wanted}_{number}"
