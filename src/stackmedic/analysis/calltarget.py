"""Find the call that runs after a given line, and the function it enters.

When a service's log stops at "About to call worker.start()", the code that
hangs is the next call after that logging call. `next_call_after` finds that
call statement; `find_call_target` resolves it to the function or method
definition in the service's Python sources.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import NamedTuple

from stackmedic.analysis.pyindex import (
    ClassScope,
    FunctionScope,
    ModuleIndex,
    ProjectIndex,
    build_project,
)
from stackmedic.analysis.pyscan import LOG_METHODS
from stackmedic.analysis.pyvalues import Resolver, Where
from stackmedic.evidence.model import Evidence

_LOGGER_RECEIVER = re.compile(r"log", re.IGNORECASE)


class CallSite(NamedTuple):
    """A call statement: its source text, where it is, and the callee's parts."""

    expression: str
    path: str
    line: int
    receiver: str | None
    name: str


class CallTarget(NamedTuple):
    """The definition a call enters: qualified name ("Worker.start"), file and line."""

    function: str
    path: str
    line: int


def next_call_after(evidence: Evidence, service: str, path: str, line: int) -> CallSite | None:
    """Return the first call statement that runs after the statement on `line`.

    It looks forward in the same block, skipping statements that call nothing
    and logging or print calls, and enters `try` and `with` bodies. Past the
    end of an `if`, `try` or `with` block it continues after that statement.
    It stops (returns None) at a loop, a nested definition or another
    branching statement, because there the next call is unknown statically.
    """
    found = _locate(evidence, service, path, line)
    if found is None:
        return None
    module, call, _scope = found
    return _call_site(module, call)


def find_call_target(evidence: Evidence, service: str, path: str, line: int) -> CallTarget | None:
    """Resolve the call after `line` (see `next_call_after`) to its definition.

    `self.m()` resolves in the enclosing class and its project base classes;
    `x.m()` through what `x` was assigned or annotated with, else through a
    class whose name matches `x` (`worker` -> `Worker`, then `*Worker`); a
    plain `f()` to a function of the same module, an imported one, or a
    class's `__init__`.
    """
    found = _locate(evidence, service, path, line)
    if found is None:
        return None
    module, call, scope = found
    project = _project(evidence, service, path)
    return _resolve(project, project.module_at(module.path) or module, call, scope)


# --- locating the call ---------------------------------------------------------------


def _project(evidence: Evidence, service: str, path: str) -> ProjectIndex:
    sources = evidence.sources_of(service)
    if not any(source.path == path for source in sources):
        sources = [source for source in evidence.sources if source.path == path] + sources
    project, _warnings = build_project([(source.path, source.text) for source in sources])
    return project


def _locate(
    evidence: Evidence, service: str, path: str, line: int
) -> tuple[ModuleIndex, ast.Call, FunctionScope | None] | None:
    module = _project(evidence, service, path).module_at(path)
    if module is None:
        return None
    chain = _statement_chain(module.tree.body, line)
    if not chain:
        return None
    call = _next_call(module, chain)
    if call is None:
        return None
    return module, call, _enclosing_scope(module, call)


def _statement_chain(body: list[ast.stmt], line: int) -> list[tuple[list[ast.stmt], int]]:
    """Return (block, index) pairs from the outermost statement containing `line` inwards."""
    for index, statement in enumerate(body):
        if statement.lineno <= line <= (statement.end_lineno or statement.lineno):
            chain = [(body, index)]
            for block in _child_blocks(statement):
                inner = _statement_chain(block, line)
                if inner:
                    return chain + inner
            return chain
    return []


def _child_blocks(statement: ast.stmt) -> Iterator[list[ast.stmt]]:
    for name in ("body", "orelse", "finalbody"):
        block = getattr(statement, name, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            yield block
    for handler in getattr(statement, "handlers", []):
        yield handler.body
    for case in getattr(statement, "cases", []):
        yield case.body


def _next_call(module: ModuleIndex, chain: list[tuple[list[ast.stmt], int]]) -> ast.Call | None:
    for depth in range(len(chain) - 1, -1, -1):
        block, index = chain[depth]
        outcome = _first_call(module, block[index + 1 :])
        if outcome is not None:
            return outcome if isinstance(outcome, ast.Call) else None
        if depth == 0:
            return None
        owner = chain[depth - 1][0][chain[depth - 1][1]]
        if not isinstance(owner, (ast.If, ast.Try, ast.With, ast.AsyncWith)):
            return None
    return None


_STOP = object()


def _first_call(module: ModuleIndex, statements: list[ast.stmt]) -> ast.Call | object | None:
    """Return the first call in `statements`, `_STOP` at a statement that ends the search, or None."""
    for statement in statements:
        call = _statement_call(statement)
        if call is not None:
            if not _is_logging(module, call):
                return call
            continue
        if isinstance(statement, (ast.Try, ast.With, ast.AsyncWith)):
            inner = _first_call(module, statement.body)
            if inner is not None:
                return inner
            continue
        if isinstance(
            statement,
            (
                ast.If,
                ast.For,
                ast.AsyncFor,
                ast.While,
                ast.Match,
                ast.FunctionDef,
                ast.AsyncFunctionDef,
                ast.ClassDef,
                ast.Return,
                ast.Raise,
                ast.Break,
                ast.Continue,
            ),
        ):
            return _STOP
    return None


def _statement_call(statement: ast.stmt) -> ast.Call | None:
    value: ast.expr | None = None
    if isinstance(statement, (ast.Expr, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Return)):
        value = statement.value
    if isinstance(value, ast.Await):
        value = value.value
    return value if isinstance(value, ast.Call) else None


def _is_logging(module: ModuleIndex, call: ast.Call) -> bool:
    name = module.canonical(call.func) or ""
    if name == "print" or name.startswith("logging."):
        return True
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr in LOG_METHODS
        and bool(_LOGGER_RECEIVER.search(module.source_of(func.value)))
    )


def _enclosing_scope(module: ModuleIndex, node: ast.AST) -> FunctionScope | None:
    current = module.parent(node)
    while current is not None:
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return module.scopes.get(id(current))
        current = module.parent(current)
    return None


def _call_site(module: ModuleIndex, call: ast.Call) -> CallSite:
    func = call.func
    if isinstance(func, ast.Attribute):
        return CallSite(
            module.source_of(call),
            module.path,
            call.lineno,
            module.source_of(func.value),
            func.attr,
        )
    name = func.id if isinstance(func, ast.Name) else module.source_of(func)
    return CallSite(module.source_of(call), module.path, call.lineno, None, name)


# --- resolving the callee ----------------------------------------------------------


def _resolve(
    project: ProjectIndex, module: ModuleIndex, call: ast.Call, scope: FunctionScope | None
) -> CallTarget | None:
    resolver = Resolver(project, module)
    where = Where(scope, None, call.lineno)
    func = call.func
    if isinstance(func, ast.Name):
        return _resolve_function(project, module, resolver, func)
    if not isinstance(func, ast.Attribute):
        return None

    method, receiver = func.attr, func.value
    if scope is not None and isinstance(receiver, ast.Name) and receiver.id == scope.self_name:
        own = module.classes.get(scope.class_name or "")
        if own is not None:
            return _method(project, module, own, method)
    typed = resolver.class_of(receiver, where)
    if typed is not None:
        target = _method(project, typed[0], typed[1], method)
        if target is not None:
            return target
    dotted = module.canonical(receiver)
    if dotted and isinstance(receiver, ast.Name) and receiver.id in module.imports:
        imported = project.module_named(dotted)
        if imported is not None and method in imported.functions:
            return _target(imported, imported.functions[method])
    return _method_by_receiver_name(project, receiver, method)


def _resolve_function(
    project: ProjectIndex, module: ModuleIndex, resolver: Resolver, func: ast.Name
) -> CallTarget | None:
    if func.id in module.functions:
        return _target(module, module.functions[func.id])
    dotted = module.canonical(func) or func.id
    klass = resolver.project_class(dotted)
    if klass is not None:
        return _method(project, klass[0], klass[1], "__init__") or _class_target(klass[0], klass[1])
    found = project.split_symbol(dotted)
    if found is not None and len(found[1]) == 1 and found[1][0] in found[0].functions:
        return _target(found[0], found[0].functions[found[1][0]])
    for other in project.modules:
        if func.id in other.functions:
            return _target(other, other.functions[func.id])
    return None


def _method(
    project: ProjectIndex, module: ModuleIndex, klass: ClassScope, method: str, depth: int = 0
) -> CallTarget | None:
    """Find `method` in a class or, failing that, in its project base classes."""
    scope = module.functions.get(f"{klass.qualname}.{method}")
    if scope is not None:
        return _target(module, scope)
    if depth > 8:
        return None
    for base in klass.bases:
        found = project.find_class(base.rsplit(".", 1)[-1], module)
        if found is not None and found[1] is not klass:
            target = _method(project, found[0], found[1], method, depth + 1)
            if target is not None:
                return target
    return None


def _method_by_receiver_name(
    project: ProjectIndex, receiver: ast.expr, method: str
) -> CallTarget | None:
    """Pick among classes defining `method` by the receiver's name: `worker` -> Worker."""
    identifier = (
        receiver.attr if isinstance(receiver, ast.Attribute) else getattr(receiver, "id", "")
    )
    wanted = identifier.replace("_", "").lower()
    candidates = [
        (module, klass)
        for module in project.modules
        for klass in module.classes.values()
        if f"{klass.qualname}.{method}" in module.functions
    ]
    if not candidates:
        return None
    ranked = sorted(
        candidates,
        key=lambda item: (
            item[1].name.lower() != wanted,
            not (wanted and item[1].name.lower().endswith(wanted)),
            item[0].path,
        ),
    )
    best_module, best = ranked[0]
    name_matches = best.name.lower() == wanted or (wanted and best.name.lower().endswith(wanted))
    if not name_matches and len(candidates) > 1:
        return None
    return _target(best_module, best_module.functions[f"{best.qualname}.{method}"])


def _target(module: ModuleIndex, scope: FunctionScope) -> CallTarget:
    return CallTarget(scope.qualname, module.path, scope.node.lineno)


def _class_target(module: ModuleIndex, klass: ClassScope) -> CallTarget:
    return CallTarget(klass.qualname, module.path, klass.node.lineno)
