"""An index of Python modules: bindings, classes, functions and imports.

`ModuleIndex` records, for one parsed file, every name assignment (per
function, per class and at module level), every `self.<attr> = ...` in a
class's methods, the import aliases, and each node's parent. `ProjectIndex`
contains the modules of one service so imports between them can be followed.
"""

from __future__ import annotations

import ast
import functools
import posixpath
from dataclasses import dataclass, field

from stackmedic.i18n import Message, message
from stackmedic.model import MessageText

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True, eq=False)
class Binding:
    """One assignment of a name or attribute.

    `value` is None when the bound value is unknowable from the statement (a
    loop target, `with ... as x`, a parameter without default). `scope` is the
    function the value is evaluated in (None for module level) and
    `class_scope` the class body, for class attributes.
    """

    line: int
    value: ast.expr | None
    scope: FunctionScope | None
    class_scope: ClassScope | None = None
    annotation: ast.expr | None = None


@dataclass(eq=False)
class FunctionScope:
    node: FunctionNode
    qualname: str
    class_name: str | None
    parent: FunctionScope | None
    self_name: str | None = None
    locals: dict[str, list[Binding]] = field(default_factory=dict)


@dataclass(eq=False)
class ClassScope:
    node: ast.ClassDef
    name: str
    qualname: str
    bases: list[str]
    attributes: dict[str, list[Binding]] = field(default_factory=dict)


@dataclass(eq=False)
class ModuleIndex:
    path: str
    dotted: str
    text: str
    tree: ast.Module
    names: dict[str, list[Binding]] = field(default_factory=dict)
    classes: dict[str, ClassScope] = field(default_factory=dict)
    functions: dict[str, FunctionScope] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)
    parents: dict[int, ast.AST] = field(default_factory=dict)
    scopes: dict[int, FunctionScope] = field(default_factory=dict)

    @functools.cached_property
    def imported_modules(self) -> set[str]:
        """Return the top-level package of every import (`zmq`, `socket`, `requests`)."""
        return {target.split(".", 1)[0] for target in self.imports.values()}

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents.get(id(node))

    @functools.cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines(keepends=True)

    def source_of(self, node: ast.AST) -> str:
        """Return a node's source text on one line, or its unparsed form.

        Same result as `ast.get_source_segment`, which splits the whole file
        on every call; this splits it once per module.
        """
        text = self._segment(node)
        if text is None:
            text = ast.unparse(node)
        return " ".join(text.split())

    def _segment(self, node: ast.AST) -> str | None:
        first = getattr(node, "lineno", None)
        last = getattr(node, "end_lineno", None)
        start = getattr(node, "col_offset", None)
        end = getattr(node, "end_col_offset", None)
        if first is None or last is None or start is None or end is None:
            return None
        if not 1 <= first <= last <= len(self.lines):
            return None
        # Column offsets count UTF-8 bytes.
        if first == last:
            line = self.lines[first - 1].encode()
            return line[start:end].decode(errors="replace")
        head = self.lines[first - 1].encode()[start:].decode(errors="replace")
        tail = self.lines[last - 1].encode()[:end].decode(errors="replace")
        return head + "".join(self.lines[first : last - 1]) + tail

    def canonical(self, node: ast.AST) -> str | None:
        """Return the dotted name an expression refers to, with import aliases expanded.

        `from os import environ as env; env.get` gives "os.environ.get";
        `np.zeros` with `import numpy as np` gives "numpy.zeros".
        """
        if isinstance(node, ast.Name):
            return self.imports.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.canonical(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None


def module_name_for(path: str) -> str:
    """Return the dotted module name of a project path ("tacore/worker.py" -> "tacore.worker")."""
    stem = path.removesuffix(".py")
    parts = [part for part in stem.split("/") if part not in ("", ".")]
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def build_module_index(path: str, text: str, tree: ast.Module) -> ModuleIndex:
    module = ModuleIndex(path, module_name_for(path), text, tree)
    _link_parents(module, tree)
    _Indexer(module).visit(tree)
    return module


def _link_parents(module: ModuleIndex, tree: ast.AST) -> None:
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            module.parents[id(child)] = parent


class _Indexer(ast.NodeVisitor):
    """Walk a module once, recording scopes and bindings."""

    def __init__(self, module: ModuleIndex) -> None:
        self.module = module
        self.functions: list[FunctionScope] = []
        self.classes: list[ClassScope] = []

    # --- scopes ------------------------------------------------------------

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        prefix = self._qualname_prefix()
        scope = ClassScope(
            node, node.name, prefix + node.name, [ast.unparse(b) for b in node.bases]
        )
        self.module.classes.setdefault(node.name, scope)
        self._bind_name(node.name, node.lineno, None)
        self.classes.append(scope)
        for statement in node.body:
            self.visit(statement)
        self.classes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._visit_function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._visit_function(node)

    def _visit_function(self, node: FunctionNode) -> None:
        parent = self.functions[-1] if self.functions else None
        in_class_body = bool(self.classes) and self._innermost_is_class()
        class_name = self.classes[-1].name if in_class_body else None
        scope = FunctionScope(node, self._qualname_prefix() + node.name, class_name, parent)
        if in_class_body:
            scope.self_name = _first_parameter(node)
        elif parent is not None:
            # A closure inside a method can still use `self`.
            scope.self_name = parent.self_name
            scope.class_name = parent.class_name

        self._bind_name(node.name, node.lineno, None)
        self.module.functions[scope.qualname] = scope
        self.module.scopes[id(node)] = scope
        self._bind_parameters(scope, node)

        for decorator in node.decorator_list:
            self.visit(decorator)
        self.functions.append(scope)
        for statement in node.body:
            self.visit(statement)
        self.functions.pop()

    def _innermost_is_class(self) -> bool:
        """Tell whether the nearest enclosing definition is a class, not a function."""
        if not self.functions:
            return True
        function_line = self.functions[-1].node.lineno
        return self.classes[-1].node.lineno > function_line

    def _qualname_prefix(self) -> str:
        owners: list[tuple[int, str]] = [(f.node.lineno, f.qualname) for f in self.functions]
        owners += [(c.node.lineno, c.qualname) for c in self.classes]
        if not owners:
            return ""
        return max(owners)[1] + "."

    def _bind_parameters(self, scope: FunctionScope, node: FunctionNode) -> None:
        # NOTE: a parameter resolves to its default value only. Arguments passed
        # at call sites are not followed, so `def connect(host): ...` leaves the
        # host unknown unless `host` has a default.
        arguments = node.args
        positional = arguments.posonlyargs + arguments.args
        defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults))
        defaults += list(arguments.defaults)
        pairs = list(zip(positional, defaults))
        pairs += list(zip(arguments.kwonlyargs, arguments.kw_defaults))
        for argument, default in pairs:
            binding = Binding(node.lineno, default, scope.parent, None, argument.annotation)
            scope.locals.setdefault(argument.arg, []).append(binding)
        for extra in (arguments.vararg, arguments.kwarg):
            if extra is not None:
                scope.locals.setdefault(extra.arg, []).append(Binding(node.lineno, None, None))

    # --- bindings ----------------------------------------------------------

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._bind_target(target, node.value, node.lineno)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._bind_target(node.target, node.value, node.lineno, node.annotation)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._bind_target(node.target, node.value, node.lineno)
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self._bind_target(node.target, None, node.lineno)
        self.generic_visit(node)

    visit_AsyncFor = visit_For  # type: ignore[assignment]

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            if item.optional_vars is not None:
                self._bind_target(item.optional_vars, None, node.lineno)
        self.generic_visit(node)

    visit_AsyncWith = visit_With  # type: ignore[assignment]

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self._bind_name(node.name, node.lineno, None)
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.module.imports[alias.asname] = alias.name
            else:
                top = alias.name.split(".", 1)[0]
                self.module.imports[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._absolute_module(node.module, node.level)
        for alias in node.names:
            if alias.name == "*":
                continue
            local = alias.asname or alias.name
            self.module.imports[local] = f"{base}.{alias.name}" if base else alias.name

    def _absolute_module(self, module: str | None, level: int) -> str:
        if level == 0:
            return module or ""
        package = self.module.dotted.split(".")
        if not self.module.path.endswith("__init__.py"):
            package = package[:-1]
        if level > 1:
            package = package[: len(package) - (level - 1)]
        parts = [part for part in package if part]
        if module:
            parts.append(module)
        return ".".join(parts)

    def _bind_target(
        self,
        target: ast.expr,
        value: ast.expr | None,
        line: int,
        annotation: ast.expr | None = None,
    ) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            elements = value.elts if isinstance(value, (ast.Tuple, ast.List)) else None
            for position, element in enumerate(target.elts):
                element_value = None
                if elements is not None and len(elements) == len(target.elts):
                    element_value = elements[position]
                self._bind_target(element, element_value, line)
            return
        if isinstance(target, ast.Starred):
            self._bind_target(target.value, None, line)
            return
        if isinstance(target, ast.Name):
            self._bind_name(target.id, line, value, annotation)
            return
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            self._bind_self_attribute(target, value, line, annotation)

    def _bind_name(
        self, name: str, line: int, value: ast.expr | None, annotation: ast.expr | None = None
    ) -> None:
        if self.functions and not (self.classes and self._innermost_is_class()):
            scope = self.functions[-1]
            scope.locals.setdefault(name, []).append(Binding(line, value, scope, None, annotation))
        elif self.classes:
            owner = self.classes[-1]
            enclosing = self.functions[-1] if self.functions else None
            owner.attributes.setdefault(name, []).append(
                Binding(line, value, enclosing, owner, annotation)
            )
        else:
            self.module.names.setdefault(name, []).append(
                Binding(line, value, None, None, annotation)
            )

    def _bind_self_attribute(
        self, target: ast.Attribute, value: ast.expr | None, line: int, annotation: ast.expr | None
    ) -> None:
        if not self.functions:
            return
        scope = self.functions[-1]
        if scope.self_name is None or target.value.id != scope.self_name:  # type: ignore[attr-defined]
            return
        owner = self.module.classes.get(scope.class_name or "")
        if owner is None:
            return
        owner.attributes.setdefault(target.attr, []).append(
            Binding(line, value, scope, None, annotation)
        )


def _first_parameter(node: FunctionNode) -> str | None:
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Name) and decorator.id == "staticmethod":
            return None
    positional = node.args.posonlyargs + node.args.args
    return positional[0].arg if positional else None


@dataclass
class ProjectIndex:
    """The Python modules of one service, so imports between them can be followed."""

    modules: list[ModuleIndex] = field(default_factory=list)
    _by_name: dict[str, ModuleIndex] = field(default_factory=dict, repr=False)
    _by_path: dict[str, ModuleIndex] = field(default_factory=dict, repr=False)

    def add(self, module: ModuleIndex) -> None:
        self.modules.append(module)
        self._by_path.setdefault(posixpath.normpath(module.path), module)
        # Every dotted tail names the module too, so "tacore.worker" finds
        # "src/tacore/worker.py". An exact full name wins over a tail.
        parts = module.dotted.split(".")
        for cut in range(len(parts)):
            tail = ".".join(parts[cut:])
            if cut == 0:
                existing = self._by_name.get(tail)
                if existing is None or existing.dotted != tail:
                    self._by_name[tail] = module
            else:
                self._by_name.setdefault(tail, module)

    def module_named(self, dotted: str) -> ModuleIndex | None:
        """Find a module by dotted name; a path prefix such as `src/` may be missing from it."""
        return self._by_name.get(dotted)

    def module_at(self, path: str) -> ModuleIndex | None:
        return self._by_path.get(posixpath.normpath(path))

    def split_symbol(self, dotted: str) -> tuple[ModuleIndex, list[str]] | None:
        """Split "pkg.mod.Name.attr" into the longest known module and the names after it."""
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            module = self.module_named(".".join(parts[:cut]))
            if module is not None:
                return module, parts[cut:]
        return None

    def find_class(
        self, name: str, near: ModuleIndex | None = None
    ) -> tuple[ModuleIndex, ClassScope] | None:
        """Find a class by name: in `near` first, then through its imports, then anywhere."""
        if near is not None:
            if name in near.classes:
                return near, near.classes[name]
            imported = near.imports.get(name)
            if imported:
                found = self.split_symbol(imported)
                if found and len(found[1]) == 1 and found[1][0] in found[0].classes:
                    return found[0], found[0].classes[found[1][0]]
        for module in self.modules:
            if name in module.classes:
                return module, module.classes[name]
        return None


class PythonSyntaxError(Exception):
    """A file is not valid Python; the message names the file and line.

    `translatable` is the message in catalogue form, and `str(error)` is its English text.
    """

    def __init__(self, translatable: Message) -> None:
        super().__init__(translatable.text)
        self.translatable = translatable


@functools.lru_cache(maxsize=256)
def parse_module(path: str, text: str) -> ModuleIndex:
    """Parse and index one file; raise PythonSyntaxError when it does not parse.

    Results are cached by path and text, since services that share a build
    context carry the same files and `find_call_target` indexes a service
    again. A syntax tree takes several times its source's memory, which is
    what bounds the cache size.
    """
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as error:
        raise PythonSyntaxError(
            message(
                "warnings.analysis.invalid_python", path=path, line=error.lineno, problem=error.msg
            )
        ) from error
    except (ValueError, RecursionError) as error:
        raise PythonSyntaxError(
            message("warnings.analysis.unparseable_python", path=path, problem=str(error))
        ) from error
    return build_module_index(path, text, tree)


def build_project(files: list[tuple[str, str]]) -> tuple[ProjectIndex, list[str]]:
    """Index the Python files among (path, text) pairs; return the index and parse warnings."""
    project = ProjectIndex()
    warnings: list[str] = []
    for path, text in files:
        if not path.endswith(".py"):
            continue
        try:
            project.add(parse_module(path, text))
        except PythonSyntaxError as error:
            warnings.append(MessageText(str(error), error.translatable))
    return project, warnings
