"""Patch rule for MISSING_ATTRIBUTE: a method the code calls but the class does not define.

The rule always replaces the finding's recommendation with what must be
written and where: the class and its file, the line to insert at, the
call's arguments, and the table the method probably writes to. It proposes
a patch only in two cases that follow from the evidence:

- A near spelling. The class defines a method whose name is a likely typo of
  the missing one (the pattern's `closest_method`), and that method accepts
  the call's arguments. The call is renamed. Confidence 0.75.
- An INSERT. The call passes only keyword arguments and ignores the result,
  the method name does not start with a read verb (get, fetch, count, ...),
  and the argument names are columns of exactly one table. Every other
  column of that table must be filled by the database, have a default, be
  nullable, or hold a creation time. The class must already run a write
  statement (INSERT, UPDATE, REPLACE, DELETE) through `<receiver>.execute`
  inside nothing but `with` blocks. The new method repeats those blocks,
  that receiver, its placeholder style and its commit. A creation-time
  column gets the expression the class already assigns to a `now`-like
  name, else an ISO-8601 UTC time. Confidence 0.6: the evidence shows what
  the method must store, not that storing one row is all it must do.

No patch is proposed when another class of the project defines the method,
because the receiver is then more likely the wrong object. Nor is one
proposed when the arguments match no table or several, or when the class has
no write statement to model the method on.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from stackmedic.analysis.patch_context import PatchContext, PatchProposal, RuleOutcome
from stackmedic.analysis.patch_schema import Column, TableInfo
from stackmedic.analysis.patch_source import PythonSource, TextEdit, apply_edits, fresh_name
from stackmedic.evidence.facts import ClassInfo
from stackmedic.model import Finding

CONFIDENCE_RENAME = 0.75
CONFIDENCE_INSERT = 0.6
MAX_LINE_LENGTH = 99
READ_VERBS = {
    "get",
    "fetch",
    "find",
    "count",
    "list",
    "read",
    "load",
    "select",
    "query",
    "is",
    "has",
    "exists",
    "lookup",
    "search",
}
WRITE_STATEMENTS = ("INSERT", "UPDATE", "REPLACE", "DELETE")
_EXECUTE_METHODS = {"execute", "executemany"}
_TIME_SUFFIXES = ("_at", "_on", "_time", "_ts")
_TIME_PREFIXES = ("created", "recorded", "inserted")
_TIME_WORDS = {"timestamp", "time", "date", "ts"}
_TIME_TYPES = {"", "TEXT", "DATETIME", "TIMESTAMP", "DATE", "VARCHAR", "CHAR"}
_NOW_NAMES = re.compile(r"^(?:now|timestamp|ts|current_time|\w+_at)$")
_PYTHON_TYPES = (
    (re.compile(r"INT", re.IGNORECASE), "int"),
    (re.compile(r"CHAR|CLOB|TEXT", re.IGNORECASE), "str"),
    (re.compile(r"BLOB", re.IGNORECASE), "bytes"),
    (re.compile(r"REAL|FLOA|DOUB", re.IGNORECASE), "float"),
)


@dataclass
class WriteTemplate:
    """The shape of a class's write statement: its `with` blocks, receiver, placeholder and commit."""

    method: str
    line: int
    withs: list[str]
    receiver: str
    placeholder: str
    commits: list[str] = field(default_factory=list)


class InsertionPoint(NamedTuple):
    """The place of a new method: its line, and "before" or "after" which method ("end": none)."""

    line: int
    side: str
    neighbour: str = ""


@dataclass
class CallSite:
    """The failing call, parsed: `receiver.attribute(args)` at path:line."""

    path: str
    line: int
    receiver: str
    node: ast.Call
    arguments: str
    result_used: bool


def propose_missing_method(finding: Finding, context: PatchContext) -> RuleOutcome:
    """Describe the missing method exactly, and propose it when the evidence derives it."""
    owner = str(finding.facts.get("class_name") or "").rsplit(".", 1)[-1]
    attribute = str(finding.facts.get("attribute") or "")
    if not owner or not attribute:
        return RuleOutcome(declined=context.t("patch.declined.no_location"))
    service = finding.service
    info = context.facts.classes_of(service).get(owner) or context.facts.classes.get(owner)
    call = _call_site(finding, context, attribute)
    if info is None:
        return RuleOutcome(declined=context.t("patch.method.declined.no_class", class_name=owner))
    class_source = context.python(info.service or service, info.path)
    klass = _class_node(class_source, owner, info.line) if class_source is not None else None
    if class_source is None or klass is None:
        return RuleOutcome(declined=context.t("patch.declined.not_python", path=info.path))

    others = _other_definitions(context, owner, attribute)
    if others:
        return _defined_elsewhere(context, owner, attribute, call, others)

    closest = finding.facts.get("closest_method")
    if isinstance(closest, str) and closest in info.methods and call is not None:
        return _rename_call(finding, context, owner, attribute, closest, call, class_source, klass)
    return _missing_everywhere(finding, context, info, class_source, klass, attribute, call)


# --- the call site -----------------------------------------------------------------------


def _call_site(finding: Finding, context: PatchContext, attribute: str) -> CallSite | None:
    location = finding.location
    if location is None:
        return None
    source = context.python(finding.service, location.path)
    if source is None:
        return None

    calls = [
        node
        for node in source.nodes_spanning(location.line, ast.Call)
        if isinstance(node.func, ast.Attribute) and node.func.attr == attribute
    ]
    if not calls:
        return None
    node = calls[-1]
    assert isinstance(node.func, ast.Attribute)

    arguments = [source.segment(arg) for arg in node.args]
    arguments += [
        f"{keyword.arg}={source.segment(keyword.value)}"
        if keyword.arg
        else f"**{source.segment(keyword.value)}"
        for keyword in node.keywords
    ]
    statement = source.statement_of(node)
    result_used = not (isinstance(statement, ast.Expr) and statement.value is node)
    return CallSite(
        source.path,
        node.lineno,
        source.segment(node.func.value),
        node,
        ", ".join(" ".join(argument.split()) for argument in arguments),
        result_used,
    )


def _class_node(source: PythonSource, name: str, line: int) -> ast.ClassDef | None:
    candidates = source.classes_named(name)
    exact = [node for node in candidates if line in (node.lineno, PythonSource.first_line(node))]
    chosen = exact or candidates
    return chosen[0] if chosen else None


def _other_definitions(context: PatchContext, owner: str, attribute: str) -> list[ClassInfo]:
    found: list[ClassInfo] = []
    for info in context.facts.class_definitions:
        if info.name == owner or attribute not in info.methods:
            continue
        if not any(other.name == info.name and other.path == info.path for other in found):
            found.append(info)
    return found


def _defined_elsewhere(
    context: PatchContext,
    owner: str,
    attribute: str,
    call: CallSite | None,
    others: list[ClassInfo],
) -> RuleOutcome:
    places = ", ".join(
        f"{info.name} ({info.path}:{info.methods[attribute].line})" for info in others
    )
    text = context.t(
        "patch.method.recommend.other_class",
        class_name=owner,
        attribute=attribute,
        others=places,
        receiver=call.receiver if call is not None else "?",
        call_location=f"{call.path}:{call.line}" if call is not None else "?",
    )
    return RuleOutcome(
        recommendation=text,
        facts={"defined_in": [info.name for info in others]},
        declined=context.t("patch.method.declined.other_class", others=places),
    )


# --- a near spelling -----------------------------------------------------------------------


def _rename_call(
    finding: Finding,
    context: PatchContext,
    owner: str,
    attribute: str,
    closest: str,
    call: CallSite,
    class_source: PythonSource,
    klass: ast.ClassDef,
) -> RuleOutcome:
    method = next((m for m in PythonSource.methods(klass) if m.name == closest), None)
    location = f"{call.path}:{call.line}"
    if method is None or not _accepts(method, call.node):
        text = context.t(
            "patch.method.recommend.rename_incompatible",
            class_name=owner,
            attribute=attribute,
            method=closest,
            call_location=location,
            arguments=call.arguments,
        )
        return RuleOutcome(
            recommendation=text,
            declined=context.t("patch.method.declined.incompatible", method=closest),
        )

    source = context.python(finding.service, call.path)
    assert source is not None and isinstance(call.node.func, ast.Attribute)
    end_line, end_column = source.end(call.node.func)
    if source.lines[end_line - 1][end_column - len(attribute) : end_column] != attribute:
        return RuleOutcome(declined=context.t("patch.method.declined.no_call", attribute=attribute))
    edit = TextEdit(end_line, end_column - len(attribute), end_line, end_column, closest)
    after = apply_edits(source.text, [edit])
    signature = f"{closest}({', '.join(_parameter_names(method))})"
    reason = context.t(
        "patch.method.rename.reason",
        class_name=owner,
        attribute=attribute,
        signature=signature,
        where=f"{class_source.path}:{method.lineno}",
        arguments=call.arguments or "-",
    )
    proposal = PatchProposal(
        path=source.path,
        before=source.text,
        after=after,
        title=context.t(
            "patch.method.rename.title",
            class_name=owner,
            method=closest,
            attribute=attribute,
            call_location=location,
        ),
        reason=reason,
        confidence=CONFIDENCE_RENAME,
    )
    return RuleOutcome(proposals=[proposal])


def _accepts(method: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call) -> bool:
    """Tell whether a method's parameters accept the call's arguments (self is bound)."""
    arguments = method.args
    positional = [a.arg for a in arguments.posonlyargs + arguments.args][1:]
    keyword_names = {a.arg for a in arguments.args[1:] + arguments.kwonlyargs}
    if any(isinstance(arg, ast.Starred) for arg in call.args):
        return False
    if len(call.args) > len(positional) and arguments.vararg is None:
        return False
    given = set(positional[: len(call.args)])
    for keyword in call.keywords:
        if keyword.arg is None:
            return False
        if keyword.arg not in keyword_names and arguments.kwarg is None:
            return False
        given.add(keyword.arg)
    defaults = len(arguments.defaults)
    required = positional[: len(positional) - defaults] if defaults else positional
    required_keywords = [
        a.arg for a, default in zip(arguments.kwonlyargs, arguments.kw_defaults) if default is None
    ]
    return all(name in given for name in required + required_keywords)


def _parameter_names(method: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    arguments = method.args
    return [a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs]


# --- a method that exists nowhere ------------------------------------------------------------


def _missing_everywhere(
    finding: Finding,
    context: PatchContext,
    info: ClassInfo,
    class_source: PythonSource,
    klass: ast.ClassDef,
    attribute: str,
    call: CallSite | None,
) -> RuleOutcome:
    tables = context.tables(finding.service)
    keywords = _keyword_names(call)
    matching = [t for t in tables if keywords and set(keywords) <= set(t.column_names)]
    table = matching[0] if len(matching) == 1 else None
    point = _insertion_point(class_source, klass, table)

    facts: dict[str, object] = {"insert_at": f"{class_source.path}:{point.line}"}
    if table is not None:
        facts["writes_table"] = table.name
    recommendation = _recommendation(
        context, info, class_source, klass, attribute, call, table, point
    )

    declined = _insert_declined(context, attribute, call, keywords, matching)
    if declined:
        return RuleOutcome(recommendation=recommendation, facts=facts, declined=declined)
    assert table is not None and call is not None
    template = write_template(class_source, klass)
    if template is None:
        return RuleOutcome(
            recommendation=recommendation,
            facts=facts,
            declined=context.t("patch.method.declined.no_template", class_name=klass.name),
        )
    unfilled = [
        column.name
        for column in table.columns
        if column.name not in keywords and column.required and not _is_time_column(column)
    ]
    if unfilled:
        return RuleOutcome(
            recommendation=recommendation,
            facts=facts,
            declined=context.t(
                "patch.method.declined.required_columns",
                table=table.name,
                columns=", ".join(unfilled),
            ),
        )
    return _insert_method(
        context,
        class_source,
        klass,
        attribute,
        call,
        table,
        template,
        point.line,
        recommendation,
        facts,
    )


def _keyword_names(call: CallSite | None) -> list[str]:
    if call is None:
        return []
    return [keyword.arg for keyword in call.node.keywords if keyword.arg is not None]


def _insert_declined(
    context: PatchContext,
    attribute: str,
    call: CallSite | None,
    keywords: list[str],
    matching: list[TableInfo],
) -> str:
    """Return why no INSERT method can be derived from this call, or "" when one can."""
    if call is None:
        return context.t("patch.method.declined.no_call", attribute=attribute)
    verb = attribute.split("_", 1)[0].lower()
    if verb in READ_VERBS:
        return context.t("patch.method.declined.read_verb", attribute=attribute, verb=verb)
    if call.result_used:
        return context.t("patch.method.declined.result_used", attribute=attribute)
    if call.node.args or any(keyword.arg is None for keyword in call.node.keywords) or not keywords:
        return context.t("patch.method.declined.not_keywords", attribute=attribute)
    if not matching:
        return context.t("patch.method.declined.no_table", arguments=", ".join(keywords))
    if len(matching) > 1:
        return context.t(
            "patch.method.declined.several_tables",
            arguments=", ".join(keywords),
            tables=", ".join(t.name for t in matching),
        )
    return ""


def _insertion_point(
    source: PythonSource, klass: ast.ClassDef, table: TableInfo | None
) -> InsertionPoint:
    """Return where the new method goes: the line, and the method it goes before or after.

    The method goes before the first method whose SQL reads or writes the
    table (other than a CREATE TABLE), keeping the table's code together,
    else after the class's last method.
    """
    methods = PythonSource.methods(klass)
    if table is not None:
        word = re.compile(rf"\b{re.escape(table.name)}\b", re.IGNORECASE)
        for method in methods:
            texts = [str(c.value) for c in source.string_constants(method)]
            if any(word.search(text) and "CREATE" not in text.upper() for text in texts):
                return InsertionPoint(PythonSource.first_line(method), "before", method.name)
    if methods:
        last = methods[-1]
        return InsertionPoint((last.end_lineno or last.lineno) + 1, "after", last.name)
    return InsertionPoint((klass.end_lineno or klass.lineno) + 1, "end")


def _recommendation(
    context: PatchContext,
    info: ClassInfo,
    source: PythonSource,
    klass: ast.ClassDef,
    attribute: str,
    call: CallSite | None,
    table: TableInfo | None,
    point: InsertionPoint,
) -> str:
    keywords = _keyword_names(call)
    parameters = ", ".join(["self", *keywords]) if keywords else "self, ..."
    location = f"{source.path}:{point.line}"
    where: str
    if point.side == "before":
        where = context.t("patch.method.place.before", location=location, method=point.neighbour)
    elif point.side == "after":
        where = context.t("patch.method.place.after", location=location, method=point.neighbour)
    else:
        where = location
    text = context.t(
        "patch.method.recommend.write",
        signature=f"{attribute}({parameters})",
        class_name=klass.name,
        class_location=f"{info.path}:{info.line}",
        where=where,
    )
    call_text = ""
    if call is not None:
        call_text = context.t(
            "patch.method.recommend.call",
            call_location=f"{call.path}:{call.line}",
            arguments=call.arguments or "-",
        )
    table_text = ""
    if table is not None:
        columns = ", ".join(table.column_names)
        table_text = context.t(
            "patch.method.recommend.table",
            table=table.name,
            table_location=context.schema_origin(table),
            columns=columns,
        )
    return context.sentences(text, call_text, table_text)


# --- writing the INSERT method ------------------------------------------------------------------


def write_template(source: PythonSource, klass: ast.ClassDef) -> WriteTemplate | None:
    """Return how the class runs its first write statement, or None when it runs none simply.

    The `execute` call must be a statement (or the value of an assignment)
    whose only enclosing blocks up to the method are `with` statements.
    """
    for method in PythonSource.methods(klass):
        if method.name.startswith("__"):
            continue
        for node in ast.walk(method):
            if not _is_write_execute(node):
                continue
            assert isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            blocks = _with_blocks(source, node, method)
            if blocks is None:
                continue
            sql = str(node.args[0].value) if isinstance(node.args[0], ast.Constant) else ""
            if "%s" in sql:
                placeholder = "%s"
            elif "?" in sql:
                placeholder = "?"
            else:
                continue
            return WriteTemplate(
                method=method.name,
                line=method.lineno,
                withs=[
                    ", ".join(_with_item(source, item) for item in block.items) for block in blocks
                ],
                receiver=source.segment(node.func.value),
                placeholder=placeholder,
                commits=_commits_after(source, node, blocks[-1] if blocks else method),
            )
    return None


def _with_item(source: PythonSource, item: ast.withitem) -> str:
    """Return a `with` item as written; `ast.withitem` has no position of its own."""
    text = source.segment(item.context_expr)
    if item.optional_vars is not None:
        text += f" as {source.segment(item.optional_vars)}"
    return text


def _is_write_execute(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    if node.func.attr not in _EXECUTE_METHODS or not node.args:
        return False
    first = node.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return False
    return first.value.strip().upper().startswith(WRITE_STATEMENTS)


def _with_blocks(
    source: PythonSource, call: ast.Call, method: ast.FunctionDef | ast.AsyncFunctionDef
) -> list[ast.With] | None:
    """Return the `with` statements between the method and the call, outermost first.

    Returns None when another compound statement (if, try, for) lies between,
    or when the call is no statement of its own.
    """
    statement = source.statement_of(call)
    if not (
        (isinstance(statement, ast.Expr) and statement.value is call)
        or (isinstance(statement, ast.Assign) and statement.value is call)
    ):
        return None
    blocks: list[ast.With] = []
    for ancestor in source.ancestors(statement):
        if ancestor is method:
            return list(reversed(blocks))
        if isinstance(ancestor, ast.With):
            blocks.append(ancestor)
        else:
            return None
    return None


def _commits_after(source: PythonSource, call: ast.Call, block: ast.AST) -> list[str]:
    """Return the `x.commit()` statements that follow the write in its block, as source text."""
    body = getattr(block, "body", [])
    statement = source.statement_of(call)
    commits = []
    after = False
    for item in body:
        if item is statement:
            after = True
            continue
        if (
            after
            and isinstance(item, ast.Expr)
            and isinstance(item.value, ast.Call)
            and isinstance(item.value.func, ast.Attribute)
            and item.value.func.attr == "commit"
        ):
            commits.append(source.segment(item))
    return commits


def _is_time_column(column: Column) -> bool:
    """Tell whether a column stores a creation time as text: `recorded_at TEXT`, `created DATETIME`."""
    name = column.name.lower()
    named = name.endswith(_TIME_SUFFIXES) or name.startswith(_TIME_PREFIXES) or name in _TIME_WORDS
    return named and column.type.strip().upper() in _TIME_TYPES


def _time_expression(source: PythonSource, klass: ast.ClassDef) -> tuple[str, int] | None:
    """Return the expression the class assigns to a `now`-like name, and its line.

    Only an expression built from calls of module-level names qualifies, so
    it means the same inside the new method.
    """
    for method in PythonSource.methods(klass):
        local = {a.arg for a in method.args.args + method.args.kwonlyargs} | {"self", "cls"}
        for node in ast.walk(method):
            if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
                continue
            target = node.targets[0]
            if not (isinstance(target, ast.Name) and _NOW_NAMES.match(target.id)):
                continue
            if not isinstance(node.value, ast.Call):
                continue
            names = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
            assigned = {
                t.id
                for n in ast.walk(method)
                if isinstance(n, ast.Assign)
                for t in n.targets
                if isinstance(t, ast.Name)
            }
            if names & (local | assigned):
                continue
            return source.segment(node.value), node.lineno
    return None


def _python_type(column: Column) -> str | None:
    for pattern, name in _PYTHON_TYPES:
        if pattern.search(column.type):
            return name
    return None


def _insert_method(
    context: PatchContext,
    source: PythonSource,
    klass: ast.ClassDef,
    attribute: str,
    call: CallSite,
    table: TableInfo,
    template: WriteTemplate,
    insert_line: int,
    recommendation: str,
    facts: dict[str, object],
) -> RuleOutcome:
    keywords = _keyword_names(call)
    time_columns = [
        column
        for column in table.columns
        if column.name not in keywords and _is_time_column(column) and column.required
    ]
    lines, time_source = _method_lines(
        source, klass, attribute, keywords, table, template, time_columns
    )
    after = apply_edits(source.text, [_insertion(source, lines, insert_line)])
    try:
        compile(after, source.path, "exec")
    except SyntaxError as error:
        return RuleOutcome(
            recommendation=recommendation,
            facts=facts,
            declined=context.t("patch.declined.broken", detail=str(error)),
        )

    filled = ", ".join(f"{c.name} = {time_source}" for c in time_columns) or "-"
    reason = context.t(
        "patch.method.insert.reason",
        call_location=f"{call.path}:{call.line}",
        arguments=", ".join(keywords),
        table=table.name,
        schema=context.schema_origin(table),
        time_columns=filled,
        template=f"{klass.name}.{template.method}",
        template_location=f"{source.path}:{template.line}",
    )
    proposal = PatchProposal(
        path=source.path,
        before=source.text,
        after=after,
        title=context.t(
            "patch.method.insert.title", class_name=klass.name, method=attribute, table=table.name
        ),
        reason=reason,
        confidence=CONFIDENCE_INSERT,
    )
    return RuleOutcome(proposals=[proposal], recommendation=recommendation, facts=facts)


def _insertion(source: PythonSource, lines: list[str], line: int) -> TextEdit:
    """Return the edit that puts the method's lines at `line`, one blank line from its neighbours.

    A method that goes before another is followed by a blank line. A method
    that goes after the last line of a definition is preceded by one.
    """
    newline = source.newline()
    method = newline.join(lines) + newline
    if line > len(source.lines):
        end_line = len(source.lines)
        end_column = len(source.lines[-1]) if source.lines else 0
        ending = "" if source.text.endswith(("\n", "\r")) else newline
        position = (end_line + 1, 0) if ending == "" else (end_line, end_column)
        return TextEdit(*position, *position, ending + newline + method)
    previous = source.lines[line - 2].strip() if line >= 2 else ""
    if previous:
        return TextEdit(line, 0, line, 0, newline + method)
    return TextEdit(line, 0, line, 0, method + newline)


def _method_lines(
    source: PythonSource,
    klass: ast.ClassDef,
    name: str,
    keywords: list[str],
    table: TableInfo,
    template: WriteTemplate,
    time_columns: list[Column],
) -> tuple[list[str], str]:
    """Return the new method's lines and the expression its time columns get."""
    methods = PythonSource.methods(klass)
    unit = source.indent_unit()
    indent = (
        source.indentation(methods[0].lineno)
        if methods
        else source.indentation(klass.lineno) + unit
    )
    body = indent + unit
    annotated = any(method.returns is not None for method in methods)

    parameters = []
    for keyword in keywords:
        column = table.column(keyword)
        kind = _python_type(column) if (column is not None and annotated) else None
        parameters.append(f"{keyword}: {kind}" if kind else keyword)
    lines = _signature_lines(indent, unit, name, parameters, annotated)
    lines.append(f'{body}"""Insert one row into {table.name}."""')

    taken = set(keywords) | {"self"}
    columns = list(keywords)
    values = list(keywords)
    time_source = "-"
    if time_columns:
        found = _time_expression(source, klass)
        variable = fresh_name("now", taken)
        if found is not None:
            time_source = found[0]
            lines.append(f"{body}{variable} = {found[0]}")
        else:
            time_source = "datetime.now(timezone.utc).isoformat()"
            lines.append(f"{body}from datetime import datetime, timezone")
            lines.append("")
            lines.append(f"{body}{variable} = {time_source}")
        columns = [c.name for c in time_columns] + list(keywords)
        values = [variable] * len(time_columns) + list(keywords)

    current = body
    for header in template.withs:
        lines.append(f"{current}with {header}:")
        current += unit
    placeholders = ", ".join([template.placeholder] * len(columns))
    values_text = ", ".join(values) + ("," if len(values) == 1 else "")
    inner = current + unit
    lines += [
        f"{current}{template.receiver}.execute(",
        f'{inner}"INSERT INTO {table.name}"',
        *_wrapped_column_list(inner, columns),
        f'{inner}" VALUES ({placeholders})",',
        f"{inner}({values_text}),",
        f"{current})",
    ]
    lines += [f"{current}{commit}" for commit in template.commits]
    return lines, time_source


def _signature_lines(
    indent: str, unit: str, name: str, parameters: list[str], annotated: bool
) -> list[str]:
    returns = " -> None" if annotated else ""
    one_line = f"{indent}def {name}(self, {', '.join(parameters)}){returns}:"
    if len(one_line) <= MAX_LINE_LENGTH:
        return [one_line]
    wrapped = f"{indent}{unit}self, {', '.join(parameters)}"
    if len(wrapped) <= MAX_LINE_LENGTH:
        return [f"{indent}def {name}(", wrapped, f"{indent}){returns}:"]
    return [
        f"{indent}def {name}(",
        f"{indent}{unit}self,",
        *[f"{indent}{unit}{parameter}," for parameter in parameters],
        f"{indent}){returns}:",
    ]


def _wrapped_column_list(indent: str, columns: list[str]) -> list[str]:
    """Return the string literals of ` (a, b, c)`, split so no line exceeds the limit."""
    lines: list[str] = []
    current = " ("
    for index, column in enumerate(columns):
        piece = column + (", " if index < len(columns) - 1 else ")")
        if len(indent) + len(current) + len(piece) + 2 > MAX_LINE_LENGTH and current.strip(" ("):
            lines.append(f'{indent}"{current}"')
            current = ""
        current += piece
    lines.append(f'{indent}"{current}"')
    return lines
