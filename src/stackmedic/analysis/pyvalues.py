"""Resolve Python expressions to `Value`s and recognise environment reads.

Resolution follows literals, f-strings, `str.format`, `%`-formatting and `+`.
A name resolves to its latest assignment before the use in the same
function, else in enclosing functions, else at module level. `self.<attr>`
resolves to an assignment anywhere in the class or its project base classes.
Attributes of project classes and their instances resolve too, and so do
names imported from other modules of the same service. A value read from the
environment resolves to its in-code default and keeps the variable's name.
"""

from __future__ import annotations

import ast
import string
from dataclasses import dataclass

from stackmedic.analysis.pyindex import (
    Binding,
    ClassScope,
    FunctionScope,
    ModuleIndex,
    ProjectIndex,
)
from stackmedic.analysis.values import Segment, Value, format_percent

MAX_DEPTH = 16

# Calls that read one variable: the name of the key and default parameters.
ENV_GETTERS = {
    "os.getenv": ("key", "default"),
    "os.environ.get": ("key", "default"),
    "os.environ.setdefault": ("key", "default"),
    "os.environ.pop": ("key", "default"),
}
ENVIRON = "os.environ"
_TEXT_METHODS = {"strip", "lstrip", "rstrip", "lower", "upper"}
_CONVERSIONS = {"int": "number", "float": "number", "str": "str", "bool": "bool"}


@dataclass(frozen=True)
class EnvAccess:
    """One environment read: the variable, its default (when given) and whether it must be set."""

    variable: str
    default: Value | None
    required: bool


@dataclass(frozen=True)
class Where:
    """The evaluation context of an expression: its function, class body and line."""

    scope: FunctionScope | None = None
    klass: ClassScope | None = None
    line: int | None = None


class Resolver:
    """Resolve expressions of one module, following imports into the project."""

    def __init__(self, project: ProjectIndex, module: ModuleIndex) -> None:
        self.project = project
        self.module = module
        self._wrappers: dict[int, tuple[str, str | None] | None] = {}

    def for_module(self, module: ModuleIndex) -> Resolver:
        if module is self.module:
            return self
        return Resolver(self.project, module)

    # --- public entry points -------------------------------------------------

    def value(self, node: ast.expr | None, where: Where, depth: int = 0) -> Value:
        """Resolve an expression; unknown parts stay unknown segments."""
        if node is None or depth > MAX_DEPTH:
            return Value.unknown()
        try:
            return self._value(node, where, depth)
        except RecursionError:
            return Value.unknown()

    def env_access(self, node: ast.AST, where: Where, depth: int = 0) -> EnvAccess | None:
        """Recognise `os.getenv`, `os.environ.get/[...]/setdefault` and project wrappers of them."""
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            if self.module.canonical(node.value) != ENVIRON:
                return None
            key = self.value(node.slice, where, depth + 1).text
            return EnvAccess(key, None, True) if key and _is_variable_name(key) else None

        if not isinstance(node, ast.Call):
            return None
        name = self.module.canonical(node.func)
        if name in ENV_GETTERS:
            key_param, default_param = ENV_GETTERS[name]
            key_node = _argument(node, 0, key_param)
            default_node = _argument(node, 1, default_param)
        else:
            wrapped = self._wrapper_arguments(node, name)
            if wrapped is None:
                return None
            key_node, default_node = wrapped

        key = self.value(key_node, where, depth + 1).text
        if not key or not _is_variable_name(key):
            return None
        default = None if default_node is None else self.value(default_node, where, depth + 1)
        return EnvAccess(key, default, False)

    def binding_for(self, node: ast.expr, where: Where) -> tuple[Resolver, Binding] | None:
        """Return the assignment a name or `self.<attr>` refers to, for type guesses."""
        if isinstance(node, ast.Name):
            binding = self._name_binding(node.id, where)
            return (self, binding) if binding is not None else None
        if isinstance(node, ast.Attribute) and self._is_self(node.value, where):
            found = self._own_class(where)
            if found is None:
                return None
            module, klass = found
            return self._class_binding(module, klass, node.attr, 0)
        return None

    def class_of(self, node: ast.expr, where: Where) -> tuple[ModuleIndex, ClassScope] | None:
        """Guess the project class of an expression from how it was assigned or annotated."""
        found = self.binding_for(node, where)
        if found is None:
            return None
        resolver, binding = found
        for candidate in (binding.value, binding.annotation):
            if isinstance(candidate, ast.Call):
                candidate = candidate.func
            name = resolver.module.canonical(candidate) if candidate is not None else None
            klass = resolver.project_class(name) if name else None
            if klass is not None:
                return klass
        return None

    # --- expressions ---------------------------------------------------------

    def _value(self, node: ast.expr, where: Where, depth: int) -> Value:
        if isinstance(node, ast.Constant):
            return _constant(node.value)
        if isinstance(node, ast.JoinedStr):
            return self._joined(node, where, depth)
        if isinstance(node, (ast.Tuple, ast.List)):
            kind = "tuple" if isinstance(node, ast.Tuple) else "list"
            return Value.sequence((self.value(e, where, depth + 1) for e in node.elts), kind)
        if isinstance(node, ast.BinOp):
            return self._binary(node, where, depth)
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            return self._or(node.values, where, depth)
        if isinstance(node, ast.Call):
            return self._call(node, where, depth)
        if isinstance(node, ast.Name):
            return self._name(node.id, where, depth)
        if isinstance(node, ast.Attribute):
            return self._attribute(node, where, depth)
        if isinstance(node, ast.Subscript):
            access = self.env_access(node, where, depth)
            return Value.from_env(access.variable, None) if access else Value.unknown()
        if isinstance(node, ast.NamedExpr):
            return self.value(node.value, where, depth + 1)
        return Value.unknown()

    def _joined(self, node: ast.JoinedStr, where: Where, depth: int) -> Value:
        pieces = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                pieces.append(Value.literal(str(part.value)))
            elif isinstance(part, ast.FormattedValue):
                pieces.append(self.value(part.value, where, depth + 1))
        return Value.concat(pieces)

    def _binary(self, node: ast.BinOp, where: Where, depth: int) -> Value:
        left = self.value(node.left, where, depth + 1)
        right = self.value(node.right, where, depth + 1)
        if isinstance(node.op, ast.Add):
            if left.kind == right.kind == "number" and left.text and right.text:
                total = _number(left.text) + _number(right.text)
                return Value.literal(_number_text(total), "number")
            return Value.concat([left, right])
        if isinstance(node.op, ast.Mod) and left.kind == "str" and left.text is not None:
            args = list(right.items) if right.kind == "tuple" else [right]
            formatted = format_percent(left.text, args, {})
            return formatted if formatted is not None else Value.unknown()
        return Value.unknown()

    def _or(self, operands: list[ast.expr], where: Where, depth: int) -> Value:
        """Resolve `a or b`: an unset environment read falls back to what follows it."""
        first = self.value(operands[0], where, depth + 1)
        if len(operands) == 1:
            return first
        variable = first.sole_variable
        if variable is not None and first.text in (None, ""):
            rest = self._or(operands[1:], where, depth + 1)
            return Value((Segment(rest.text, variable),), rest.kind)
        if first.text:
            return first
        return Value.unknown()

    def _call(self, node: ast.Call, where: Where, depth: int) -> Value:
        access = self.env_access(node, where, depth)
        if access is not None:
            default = access.default.text if access.default is not None else None
            return Value.from_env(access.variable, default)

        name = self.module.canonical(node.func)
        if name in _CONVERSIONS and len(node.args) >= 1:
            inner = self.value(node.args[0], where, depth + 1)
            return inner.with_kind(_CONVERSIONS[name])

        if isinstance(node.func, ast.Attribute):
            method = node.func.attr
            if method in _TEXT_METHODS and not node.args:
                return self.value(node.func.value, where, depth + 1).map_text(method)
            if method == "format":
                return self._format(node, where, depth)
        return Value.unknown()

    def _format(self, node: ast.Call, where: Where, depth: int) -> Value:
        assert isinstance(node.func, ast.Attribute)
        template = self.value(node.func.value, where, depth + 1).text
        if template is None:
            return Value.unknown()
        args = [self.value(a, where, depth + 1) for a in node.args]
        named = {k.arg: self.value(k.value, where, depth + 1) for k in node.keywords if k.arg}
        pieces: list[Value] = []
        next_arg = 0
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError:
            return Value.unknown()
        for literal, field_name, _spec, _conversion in parsed:
            pieces.append(Value.literal(literal))
            if field_name is None:
                continue
            if field_name == "":
                field: Value | None = args[next_arg] if next_arg < len(args) else None
                next_arg += 1
            elif field_name.isdigit():
                index = int(field_name)
                field = args[index] if index < len(args) else None
            else:
                field = named.get(field_name)
            pieces.append(field if field is not None else Value.unknown())
        return Value.concat(pieces)

    # --- names and attributes ------------------------------------------------

    def _name(self, name: str, where: Where, depth: int) -> Value:
        binding = self._name_binding(name, where)
        if binding is not None:
            return self._binding_value(self, binding, depth)
        target = self.module.imports.get(name)
        if target:
            return self._symbol(target, depth)
        return Value.unknown()

    def _name_binding(self, name: str, where: Where) -> Binding | None:
        scope = where.scope
        line = where.line
        while scope is not None:
            bindings = scope.locals.get(name)
            if bindings:
                return _latest(bindings, line)
            scope = scope.parent
            line = None
        if where.klass is not None and name in where.klass.attributes:
            return _latest(where.klass.attributes[name], where.line)
        bindings = self.module.names.get(name)
        if bindings:
            module_line = where.line if where.scope is None and where.klass is None else None
            return _latest(bindings, module_line)
        return None

    def _attribute(self, node: ast.Attribute, where: Where, depth: int) -> Value:
        if self._is_self(node.value, where):
            found = self._own_class(where)
            if found is not None:
                return self._class_attribute(found[0], found[1], node.attr, depth)
            return Value.unknown()

        if isinstance(node.value, ast.Name):
            klass = self._class_behind(node.value, where)
            if klass is not None:
                return self._class_attribute(klass[0], klass[1], node.attr, depth)

        dotted = self.module.canonical(node)
        if dotted and _root_name(node) in self.module.imports:
            return self._symbol(dotted, depth)
        return Value.unknown()

    def _class_behind(self, node: ast.Name, where: Where) -> tuple[ModuleIndex, ClassScope] | None:
        """Return the class a name stands for: the class itself, or an instance of it."""
        binding = self._name_binding(node.id, where)
        if binding is not None and isinstance(binding.value, ast.Call):
            called = self.module.canonical(binding.value.func)
            return self.project_class(called) if called else None
        return self.project_class(self.module.canonical(node) or node.id)

    def project_class(self, dotted: str) -> tuple[ModuleIndex, ClassScope] | None:
        """Return the project class a dotted name (as `canonical` gives it) refers to."""
        if dotted in self.module.classes:
            return self.module, self.module.classes[dotted]
        found = self.project.split_symbol(dotted)
        if found is not None and len(found[1]) == 1 and found[1][0] in found[0].classes:
            return found[0], found[0].classes[found[1][0]]
        return None

    def _class_attribute(
        self, module: ModuleIndex, klass: ClassScope, attr: str, depth: int
    ) -> Value:
        found = self._class_binding(module, klass, attr, depth)
        if found is None:
            return Value.unknown()
        resolver, binding = found
        return resolver._binding_value(resolver, binding, depth)

    def _class_binding(
        self, module: ModuleIndex, klass: ClassScope, attr: str, depth: int
    ) -> tuple[Resolver, Binding] | None:
        bindings = klass.attributes.get(attr)
        if bindings:
            return self.for_module(module), _preferred_attribute_binding(bindings)
        if depth > MAX_DEPTH:
            return None
        for base in klass.bases:
            found = self.project.find_class(base.rsplit(".", 1)[-1], module)
            if found is not None and found[1] is not klass:
                inherited = self._class_binding(found[0], found[1], attr, depth + 1)
                if inherited is not None:
                    return inherited
        return None

    def _symbol(self, dotted: str, depth: int) -> Value:
        """Resolve an imported name such as "tacore.config.BROKER_HOST"."""
        found = self.project.split_symbol(dotted)
        if found is None or depth > MAX_DEPTH:
            return Value.unknown()
        module, rest = found
        resolver = self.for_module(module)
        if len(rest) == 1:
            return resolver._name(rest[0], Where(), depth + 1)
        if len(rest) == 2 and rest[0] in module.classes:
            return resolver._class_attribute(module, module.classes[rest[0]], rest[1], depth + 1)
        return Value.unknown()

    def _binding_value(self, resolver: Resolver, binding: Binding, depth: int) -> Value:
        where = Where(binding.scope, binding.class_scope, binding.line)
        return resolver.value(binding.value, where, depth + 1)

    def _is_self(self, node: ast.expr, where: Where) -> bool:
        scope = where.scope
        return (
            isinstance(node, ast.Name)
            and scope is not None
            and scope.self_name is not None
            and node.id == scope.self_name
        )

    def _own_class(self, where: Where) -> tuple[ModuleIndex, ClassScope] | None:
        if where.scope is None or where.scope.class_name is None:
            return None
        klass = self.module.classes.get(where.scope.class_name)
        return (self.module, klass) if klass is not None else None

    # --- project wrappers of getenv --------------------------------------------

    def _wrapper_arguments(
        self, node: ast.Call, name: str | None
    ) -> tuple[ast.expr | None, ast.expr | None] | None:
        """Map a call of a project function like `env("X", "d")` to its key and default."""
        if not name:
            return None
        function = self._project_function(name)
        if function is None:
            return None
        roles = self._wrapper_roles(function)
        if roles is None:
            return None
        key_param, default_param = roles
        parameters = [a.arg for a in function.node.args.posonlyargs + function.node.args.args]
        if function.class_name is not None and parameters:
            parameters = parameters[1:]
        key_node = _bound_argument(node, parameters, key_param)
        default_node = None
        if default_param is not None:
            default_node = _bound_argument(node, parameters, default_param)
            if default_node is None:
                binding = function.locals.get(default_param, [None])[0]
                default_node = binding.value if binding is not None else None
        return key_node, default_node

    def _project_function(self, name: str) -> FunctionScope | None:
        if name in self.module.functions:
            return self.module.functions[name]
        found = self.project.split_symbol(name)
        if found is not None and len(found[1]) == 1:
            return found[0].functions.get(found[1][0])
        return None

    def _wrapper_roles(self, function: FunctionScope) -> tuple[str, str | None] | None:
        """Return (key parameter, default parameter) when a function forwards to getenv."""
        if id(function) in self._wrappers:
            return self._wrappers[id(function)]
        parameters = {a.arg for a in function.node.args.posonlyargs + function.node.args.args}
        roles: tuple[str, str | None] | None = None
        for node in ast.walk(function.node):
            getter = self.module.canonical(node.func) if isinstance(node, ast.Call) else None
            if getter in ENV_GETTERS and isinstance(node, ast.Call):
                key = _argument(node, 0, "key")
                default = _argument(node, 1, "default")
                if isinstance(key, ast.Name) and key.id in parameters:
                    default_name = default.id if isinstance(default, ast.Name) else None
                    roles = (key.id, default_name if default_name in parameters else None)
                    break
        self._wrappers[id(function)] = roles
        return roles


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    if len(call.args) > position and not isinstance(call.args[position], ast.Starred):
        return call.args[position]
    for item in call.keywords:
        if item.arg == keyword:
            return item.value
    return None


def _bound_argument(call: ast.Call, parameters: list[str], name: str) -> ast.expr | None:
    if name in parameters:
        found = _argument(call, parameters.index(name), name)
        if found is not None:
            return found
    return None


def _constant(value: object) -> Value:
    if isinstance(value, bool):
        return Value.literal(str(value), "bool")
    if isinstance(value, (int, float)):
        return Value.literal(str(value), "number")
    if isinstance(value, str):
        return Value.literal(value)
    if isinstance(value, bytes):
        return Value.literal(value.decode("latin-1"))
    if value is None:
        return Value((Segment(None),), "none")
    return Value.unknown()


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _number_text(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)


def _latest(bindings: list[Binding], line: int | None) -> Binding:
    """Pick the last binding before `line`; with no line (or none before it), the last/first one."""
    if line is None:
        return bindings[-1]
    before = [b for b in bindings if b.line < line]
    return before[-1] if before else bindings[0]


def _preferred_attribute_binding(bindings: list[Binding]) -> Binding:
    """Choose among `self.x = ...` assignments: a real value over None, `__init__` first."""
    valued = [b for b in bindings if b.value is not None and not _is_none(b.value)]
    candidates = valued or bindings
    for binding in candidates:
        if binding.scope is not None and binding.scope.node.name == "__init__":
            return binding
    return candidates[0]


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_variable_name(text: str) -> bool:
    return text.replace("_", "a").replace(".", "a").isalnum()
