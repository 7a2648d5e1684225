"""Patch rule for KEY_ERROR: read the column the row really has.

The rule follows the failing subscript `row['last_seen']` back to the query
that produced the row. The row may come from a loop or an assignment over a
call such as `service.db.get_workers()`, whose definition runs
`SELECT * FROM workers`, or from `cursor.fetchone()` after an `execute` in
the same function. It then compares the key with the columns that query
returns, taken from the schema (the database file when it was read, else the
CREATE TABLE in the source). The key is renamed only when:

- a query for the row is found, and every table it reads is in the schema;
- the key is none of the returned columns;
- one returned column is closest to the key by name similarity, at least
  `MIN_COLUMN_SIMILARITY`, and ahead of the next one by at least
  `AMBIGUITY_MARGIN`.

Otherwise no patch is proposed and the finding says why.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from stackmedic.analysis.patch_context import PatchContext, PatchProposal, RuleOutcome
from stackmedic.analysis.patch_schema import SelectQuery, TableInfo, select_queries
from stackmedic.analysis.patch_source import PythonSource, apply_edits
from stackmedic.model import Finding
from stackmedic.patterns.application import MIN_COLUMN_SIMILARITY, column_similarity

# The best column must beat the next one by this much (on column_similarity's
# scale, where a shared name token adds 0.25) to count as unambiguous.
AMBIGUITY_MARGIN = 0.25
CONFIDENCE_FROM_DATABASE = 0.9
CONFIDENCE_FROM_SOURCE = 0.85
_FETCH_METHODS = {"fetchone", "fetchall", "fetchmany", "first", "one", "one_or_none"}
# How many assignments `rows = db.get(); for row in rows` the rule follows back.
_MAX_BINDING_STEPS = 3


@dataclass
class RowOrigin:
    """The query that produced a row, and the code that ran it."""

    query: SelectQuery
    call: str
    where: str


def propose_key_error(finding: Finding, context: PatchContext) -> RuleOutcome:
    """Propose renaming a missing key to the schema's column when the evidence makes it unambiguous."""
    key = finding.facts.get("key")
    location = finding.location
    if not isinstance(key, str) or location is None:
        return RuleOutcome(declined=context.t("patch.declined.no_location"))
    source = context.python(finding.service, location.path)
    if source is None:
        return RuleOutcome(declined=context.t("patch.declined.not_python", path=location.path))

    subscripts = [
        node
        for node in source.nodes_on_line(location.line, ast.Subscript)
        if _literal_key(node) == key
    ]
    if len(subscripts) != 1:
        return RuleOutcome(
            declined=context.t("patch.key_error.declined.subscript", key=key, location=location)
        )
    subscript = subscripts[0]

    origin = row_origin(context, finding.service, source, subscript)
    if origin is None:
        return RuleOutcome(
            declined=context.t(
                "patch.key_error.declined.no_query", expression=source.segment(subscript)
            )
        )
    return _compare_with_schema(finding, context, source, subscript, key, origin)


def _compare_with_schema(
    finding: Finding,
    context: PatchContext,
    source: PythonSource,
    subscript: ast.Subscript,
    key: str,
    origin: RowOrigin,
) -> RuleOutcome:
    schema = {table.name.lower(): table for table in context.tables(finding.service)}
    read = [schema.get(name.lower()) for name in origin.query.tables]
    known = [table for table in read if table is not None]
    facts: dict[str, object] = {"row_query": origin.query.text, "row_query_at": origin.where}
    if len(known) != len(read):
        missing = [name for name, table in zip(origin.query.tables, read) if table is None]
        return RuleOutcome(
            facts=facts,
            declined=context.t("patch.key_error.declined.unknown_table", tables=", ".join(missing)),
        )

    returned = _returned_columns(origin.query, known)
    if key in returned:
        return RuleOutcome(
            facts=facts,
            declined=context.t(
                "patch.key_error.declined.key_is_column", key=key, query=origin.query.text
            ),
        )
    scored = sorted(((column_similarity(key, column), column) for column in returned), reverse=True)
    if not scored or scored[0][0] < MIN_COLUMN_SIMILARITY:
        return RuleOutcome(
            facts=facts,
            declined=context.t(
                "patch.key_error.declined.no_close", key=key, columns=", ".join(returned)
            ),
        )
    best_score, best = scored[0]
    runner_up = scored[1] if len(scored) > 1 else None
    if runner_up is not None and best_score - runner_up[0] < AMBIGUITY_MARGIN:
        return RuleOutcome(
            facts=facts,
            declined=context.t(
                "patch.key_error.declined.ambiguous",
                key=key,
                column=best,
                other=runner_up[1],
                score=f"{best_score:.2f}",
                other_score=f"{runner_up[0]:.2f}",
            ),
        )

    # With an explicit select list the column may be an alias; the first table then stands for it.
    table = next((t for t in known if best in t.column_names), known[0])
    return _rename(finding, context, source, subscript, key, best, origin, table, scored, facts)


def _rename(
    finding: Finding,
    context: PatchContext,
    source: PythonSource,
    subscript: ast.Subscript,
    key: str,
    column: str,
    origin: RowOrigin,
    table: TableInfo,
    scored: list[tuple[float, str]],
    facts: dict[str, object],
) -> RuleOutcome:
    literal = source.segment(subscript.slice)
    # NOTE: Python 3.11 reports wrong columns for code inside f-strings, so the
    # literal is checked before its span is replaced.
    if literal not in (f"'{key}'", f'"{key}"'):
        return RuleOutcome(
            facts=facts,
            declined=context.t("patch.key_error.declined.subscript", key=key, location=source.path),
        )
    quote = literal[0]
    after = apply_edits(source.text, [source.replace(subscript.slice, f"{quote}{column}{quote}")])
    location = f"{source.path}:{subscript.lineno}"
    confidence = CONFIDENCE_FROM_DATABASE if table.origin == "database" else CONFIDENCE_FROM_SOURCE
    runner_up = (
        context.t("patch.key_error.runner_up", column=scored[1][1], score=f"{scored[1][0]:.2f}")
        if len(scored) > 1
        else context.t("patch.key_error.no_runner_up")
    )
    reason = context.t(
        "patch.key_error.reason",
        expression=source.segment(subscript),
        location=location,
        call=origin.call,
        where=origin.where,
        query=origin.query.text,
        table=table.name,
        schema=context.schema_origin(table),
        columns=", ".join(_returned_columns(origin.query, [table])),
        key=key,
        column=column,
        score=f"{scored[0][0]:.2f}",
        runner_up=runner_up,
    )
    proposal = PatchProposal(
        path=source.path,
        before=source.text,
        after=after,
        title=context.t("patch.key_error.title", key=key, column=column, location=location),
        reason=reason,
        confidence=confidence,
    )
    facts = {**facts, "patch_column": column, "schema_origin": table.origin}
    return RuleOutcome(proposals=[proposal], facts=facts)


def _literal_key(node: ast.Subscript) -> str | None:
    key = node.slice
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return key.value
    return None


def _returned_columns(query: SelectQuery, tables: list[TableInfo]) -> list[str]:
    if query.columns is not None:
        return list(query.columns)
    names: list[str] = []
    for table in tables:
        names += [name for name in table.column_names if name not in names]
    return names


# --- where the row comes from -----------------------------------------------------------


def row_origin(
    context: PatchContext, service: str, source: PythonSource, subscript: ast.Subscript
) -> RowOrigin | None:
    """Return the SELECT that produced the subscripted row, or None when it cannot be determined."""
    function = source.function_of(subscript)
    call = _producing_call(source, function, subscript.value, subscript.lineno)
    if call is None:
        return None
    call_text = " ".join(source.segment(call).split())
    call_at = f"{source.path}:{call.lineno}"

    direct = _queries(source, call)
    if direct:
        return RowOrigin(direct[-1], call_text, call_at)
    name = _called_name(call)
    if name in _FETCH_METHODS and function is not None:
        earlier = sorted(
            (statement.lineno, index, query)
            for statement in ast.walk(function)
            if isinstance(statement, (ast.Expr, ast.Assign)) and statement.lineno <= call.lineno
            for index, query in enumerate(_queries(source, statement))
        )
        return RowOrigin(earlier[-1][2], call_text, call_at) if earlier else None
    if name is None:
        return None
    return _query_of_definition(context, service, name, call_text)


def _producing_call(
    source: PythonSource,
    function: ast.FunctionDef | ast.AsyncFunctionDef | None,
    receiver: ast.expr,
    line: int,
) -> ast.Call | None:
    """Follow the subscripted name back through loops and assignments to the call that made it."""
    current: ast.expr | None = receiver
    for _ in range(_MAX_BINDING_STEPS):
        if isinstance(current, ast.Call):
            # `dict(row)` or `list(rows)` only copies what the inner call returned.
            if isinstance(current.func, ast.Name) and current.func.id in ("dict", "list", "tuple"):
                current = current.args[0] if current.args else None
                continue
            return current
        if not isinstance(current, ast.Name) or function is None:
            return None
        current = _binding(function, current.id, line)
    return current if isinstance(current, ast.Call) else None


def _binding(
    function: ast.FunctionDef | ast.AsyncFunctionDef, name: str, line: int
) -> ast.expr | None:
    """Return the value last bound to `name` before `line`: a loop's iterable or an assignment."""
    found: tuple[int, ast.expr] | None = None
    for node in ast.walk(function):
        value = _bound_value(node, name)
        if value is None:
            continue
        position = getattr(node, "lineno", None) or value.lineno
        if position <= line and (found is None or position >= found[0]):
            found = (position, value)
    return found[1] if found is not None else None


def _bound_value(node: ast.AST, name: str) -> ast.expr | None:
    """Return the value a node binds to `name`: a loop's iterable or an assignment's value."""
    if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) and _binds(node.target, name):
        return node.iter
    if isinstance(node, ast.Assign) and any(_binds(t, name) for t in node.targets):
        return node.value
    if isinstance(node, ast.AnnAssign) and _binds(node.target, name):
        return node.value
    return None


def _binds(target: ast.expr, name: str) -> bool:
    return isinstance(target, ast.Name) and target.id == name


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def _queries(source: PythonSource, node: ast.AST) -> list[SelectQuery]:
    """Return the SELECTs in the string constants inside a node, in source order."""
    found = []
    for constant in source.string_constants(node):
        found += select_queries(str(constant.value))
    return found


def _query_of_definition(
    context: PatchContext, service: str, name: str, call_text: str
) -> RowOrigin | None:
    """Return the SELECT inside the function or method the call runs, when it is one query.

    Every definition of that name in the service's code is read; when they
    run different queries the row's origin is unknown.
    """
    origins: list[RowOrigin] = []
    for parsed in context.python_files(service):
        for definition in parsed.functions_named(name):
            origins += [
                RowOrigin(query, call_text, f"{parsed.path}:{definition.lineno}")
                for query in _queries(parsed, definition)
            ]
    distinct = {(tuple(o.query.tables), tuple(o.query.columns or ["*"])) for o in origins}
    return origins[0] if len(distinct) == 1 else None
