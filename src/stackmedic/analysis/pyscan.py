"""Scan one parsed Python module for source facts.

One walk over the syntax tree records environment reads, endpoints, logging
calls with their message templates, blocking calls, classes, literal-key
lookups, method calls and SQL `CREATE TABLE` strings. Records carry an empty
`service`; `stackmedic.analysis.source` fills it in.
"""

from __future__ import annotations

import ast
import re

from stackmedic.analysis.logsites import HOLE, brace_template, join_template, percent_template
from stackmedic.analysis.pyblocking import BlockingRules
from stackmedic.analysis.pyendpoints import EndpointRules
from stackmedic.analysis.pyindex import ClassScope, FunctionScope, ModuleIndex, ProjectIndex
from stackmedic.analysis.pyvalues import ENV_GETTERS, ENVIRON, Resolver, Where
from stackmedic.analysis.schema import ParsedTable, parse_added_columns, parse_create_tables
from stackmedic.evidence.facts import (
    AttributeCall,
    BlockingCall,
    ClassInfo,
    Endpoint,
    EnvRead,
    KeyUse,
    LogCallSite,
    MethodSignature,
    SourceFacts,
)

LOG_METHODS = {
    "debug": "debug",
    "info": "info",
    "warning": "warning",
    "warn": "warning",
    "error": "error",
    "exception": "error",
    "critical": "critical",
    "fatal": "critical",
    "log": "log",
}
_LEVEL_NUMBERS = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}
_LOGGER_RECEIVER = re.compile(r"log", re.IGNORECASE)
_SQL_HINT = re.compile(r"\b(CREATE|ALTER)\s", re.IGNORECASE)
MAX_EXPRESSION_CHARS = 160


class PythonScanner(ast.NodeVisitor):
    """Collect the facts of one module into a `SourceFacts`."""

    def __init__(self, project: ProjectIndex, module: ModuleIndex, facts: SourceFacts) -> None:
        self.module = module
        self.facts = facts
        self.resolver = Resolver(project, module)
        self.endpoint_rules = EndpointRules(module, self.resolver)
        self.blocking_rules = BlockingRules(module, self.resolver)
        self.scopes: list[FunctionScope] = []
        self.classes: list[ClassScope] = []
        self.tables: list[tuple[ParsedTable, int]] = []
        self.added_columns: list[tuple[str, str, str, int]] = []

    def scan(self) -> None:
        self.visit(self.module.tree)

    # --- context ---------------------------------------------------------------

    def _where(self, node: ast.AST) -> Where:
        scope = self.scopes[-1] if self.scopes else None
        klass = None
        if self.classes and (scope is None or self.classes[-1].node.lineno > scope.node.lineno):
            klass = self.classes[-1]
        return Where(scope, klass, getattr(node, "lineno", None))

    def _function(self) -> str | None:
        return self.scopes[-1].qualname if self.scopes else None

    def _text(self, node: ast.AST) -> str:
        text = self.module.source_of(node)
        if len(text) > MAX_EXPRESSION_CHARS:
            return text[: MAX_EXPRESSION_CHARS - 3] + "..."
        return text

    # --- definitions -----------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._visit_function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._visit_function(node)

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        scope = self.module.scopes.get(id(node))
        if scope is None:
            self.generic_visit(node)
            return
        self.scopes.append(scope)
        self.generic_visit(node)
        self.scopes.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.facts.class_definitions.append(self._class_info(node))
        klass = self.module.classes.get(node.name)
        if klass is None or klass.node is not node:
            klass = ClassScope(node, node.name, node.name, [])
        self.classes.append(klass)
        self.generic_visit(node)
        self.classes.pop()

    def _class_info(self, node: ast.ClassDef) -> ClassInfo:
        methods: dict[str, MethodSignature] = {}
        for statement in node.body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                methods[statement.name] = MethodSignature(_signature(statement), statement.lineno)

        attributes: dict[str, int] = {}
        klass = self.module.classes.get(node.name)
        if klass is not None and klass.node is node:
            for name, bindings in klass.attributes.items():
                if name not in methods:
                    attributes[name] = min(binding.line for binding in bindings)
        return ClassInfo(
            path=self.module.path,
            line=node.lineno,
            methods=methods,
            name=node.name,
            bases=[ast.unparse(base) for base in node.bases],
            attributes=dict(sorted(attributes.items(), key=lambda item: item[1])),
            end_line=node.end_lineno,
        )

    # --- calls -----------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        where = self._where(node)
        self._record_env_read(node, where)
        self._record_endpoint(node, where)
        self._record_log_site(node, where)
        self._record_blocking_call(node, where)
        if isinstance(node.func, ast.Attribute):
            self._record_attribute_call(node, node.func)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        where = self._where(node)
        self._record_env_read(node, where)
        key = node.slice
        is_environ = self.module.canonical(node.value) == ENVIRON
        literal_key = isinstance(key, ast.Constant) and isinstance(key.value, str)
        if isinstance(node.ctx, ast.Load) and literal_key and not is_environ:
            self._record_key_use(node, str(key.value), "subscript")  # type: ignore[attr-defined]
        self.generic_visit(node)

    def _record_env_read(self, node: ast.Call | ast.Subscript, where: Where) -> None:
        access = self.resolver.env_access(node, where)
        if access is None:
            return
        default = access.default.text if access.default is not None else None
        required = access.required
        parent = self.module.parent(node)

        # `os.getenv("X") or "d"`: what follows `or` is the effective default.
        if (
            access.default is None
            and isinstance(parent, ast.BoolOp)
            and isinstance(parent.op, ast.Or)
            and parent.values[0] is node
        ):
            default = self.resolver.value(ast.BoolOp(ast.Or(), parent.values[1:]), where).text
        # `int(os.getenv("X"))` raises TypeError when X is unset.
        elif (
            access.default is None
            and isinstance(parent, ast.Call)
            and self.module.canonical(parent.func) in ("int", "float")
        ):
            required = True

        self.facts.env_reads.append(
            EnvRead(
                "",
                access.variable,
                default,
                self.module.path,
                node.lineno,
                required,
                self._function(),
            )
        )

    def _record_endpoint(self, node: ast.Call, where: Where) -> None:
        draft = self.endpoint_rules.endpoint(node, where)
        if draft is None:
            return
        address = draft.address
        self.facts.endpoints.append(
            Endpoint(
                service="",
                role=draft.role,
                scheme=address.scheme,
                host=address.host,
                port=address.port,
                path=self.module.path,
                line=node.lineno,
                host_variable=address.host_variable,
                port_variable=address.port_variable,
                expression=draft.expression,
                function=self._function(),
            )
        )

    def _record_blocking_call(self, node: ast.Call, where: Where) -> None:
        reason = self.blocking_rules.reason(node, where)
        if reason is None:
            return
        self.facts.blocking_calls.append(
            BlockingCall(
                "", self._text(node), self.module.path, node.lineno, self._function(), reason
            )
        )

    def _record_attribute_call(self, node: ast.Call, func: ast.Attribute) -> None:
        self.facts.attribute_calls.append(
            AttributeCall(
                "",
                self.module.path,
                node.lineno,
                self._function(),
                self._text(func.value),
                func.attr,
                self._text(node),
            )
        )
        key = node.args[0] if node.args else None
        if (
            func.attr in ("get", "pop")
            and isinstance(key, ast.Constant)
            and isinstance(key.value, str)
            and "://" not in key.value
            and self.module.canonical(func) not in ENV_GETTERS
        ):
            self._record_key_use(node, key.value, func.attr)

    def _record_key_use(self, node: ast.AST, key: str, kind: str) -> None:
        self.facts.key_uses.append(
            KeyUse("", self.module.path, node.lineno, self._function(), key, self._text(node), kind)  # type: ignore[attr-defined]
        )

    # --- logging ---------------------------------------------------------------

    def _record_log_site(self, node: ast.Call, where: Where) -> None:
        found = self._log_call(node)
        if found is None:
            return
        level, message = found
        self.facts.log_sites.append(
            LogCallSite("", level, message, self.module.path, node.lineno, self._function())
        )

    def _log_call(self, node: ast.Call) -> tuple[str, str] | None:
        """Return (level, message template) when the call writes a log message."""
        name = self.module.canonical(node.func) or ""
        where = self._where(node)
        if name == "print":
            return "print", self._print_template(node, where)
        if name in ("sys.stdout.write", "sys.stderr.write") and node.args:
            return "print", self._template(node.args[0], False, where)

        if not isinstance(node.func, ast.Attribute) or node.func.attr not in LOG_METHODS:
            return None
        receiver = node.func.value
        if self.module.canonical(receiver) != "logging" and not _LOGGER_RECEIVER.search(
            self.module.source_of(receiver)
        ):
            return None

        level = LOG_METHODS[node.func.attr]
        arguments = list(node.args)
        if level == "log":
            if not arguments:
                return None
            level = self._level_of(arguments.pop(0))
        message = arguments[0] if arguments else _keyword(node, "msg")
        if message is None:
            return None
        lazy_arguments = len(arguments) > 1
        return level, self._template(message, lazy_arguments, where)

    def _level_of(self, node: ast.expr) -> str:
        name = self.module.canonical(node) or ""
        if name.startswith("logging."):
            return LOG_METHODS.get(name.rsplit(".", 1)[-1].lower(), "log")
        if isinstance(node, ast.Constant) and node.value in _LEVEL_NUMBERS:
            return _LEVEL_NUMBERS[node.value]  # type: ignore[index]
        return "log"

    def _print_template(self, node: ast.Call, where: Where) -> str:
        separator = " "
        sep = _keyword(node, "sep")
        if isinstance(sep, ast.Constant) and isinstance(sep.value, str):
            separator = sep.value
        parts: list[str | None] = []
        for position, argument in enumerate(node.args):
            if position:
                parts.append(separator)
            parts.append(self._template(argument, False, where))
        return join_template(parts)

    def _template(self, node: ast.expr, lazy_arguments: bool, where: Where) -> str:
        """Build a message template: literal text kept, run-time parts as holes."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return percent_template(node.value) if lazy_arguments else node.value
        if isinstance(node, ast.JoinedStr):
            parts: list[str | None] = []
            for part in node.values:
                if isinstance(part, ast.Constant):
                    parts.append(str(part.value))
                else:
                    parts.append(None)
            return join_template(parts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            left = node.left
            if isinstance(left, ast.Constant) and isinstance(left.value, str):
                return percent_template(left.value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return join_template(
                [self._template(node.left, False, where), self._template(node.right, False, where)]
            )
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if (
                node.func.attr == "format"
                and isinstance(owner, ast.Constant)
                and isinstance(owner.value, str)
            ):
                return brace_template(owner.value)

        value = self.resolver.value(node, where)
        if value.text is not None and not value.variables and value.kind == "str":
            return percent_template(value.text) if lazy_arguments else value.text
        return HOLE

    # --- SQL in string literals ------------------------------------------------

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and _SQL_HINT.search(node.value):
            self._record_sql(node.value, node.lineno)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        # NOTE: a column or table named by an f-string field is unknown here and
        # left out, so such a table's column list is incomplete.
        pieces = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                pieces.append(str(part.value))
            else:
                pieces.append("?")
                self.visit(part)
        text = "".join(pieces)
        if _SQL_HINT.search(text):
            self._record_sql(text, node.lineno)

    def _record_sql(self, text: str, first_line: int) -> None:
        for table in parse_create_tables(text):
            self.tables.append((table, first_line + text[: table.offset].count("\n")))
        for table_name, column, column_type, offset in parse_added_columns(text):
            line = first_line + text[:offset].count("\n")
            self.added_columns.append((table_name, column, column_type, line))


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    text = f"{node.name}({ast.unparse(node.args)})"
    if node.returns is not None:
        text += f" -> {ast.unparse(node.returns)}"
    if isinstance(node, ast.AsyncFunctionDef):
        text = "async " + text
    return text


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    for item in call.keywords:
        if item.arg == name:
            return item.value
    return None
