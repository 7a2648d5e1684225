"""Patch rule for STARTUP_HANG: bound a ZeroMQ receive that can wait forever.

The hang's blocking call is the place the process waits. When it is a
ZeroMQ receive (`recv`, `recv_multipart`, `recv_string`, `recv_json`,
`recv_pyobj`, `recv_serialized`), the rule inserts, before the statement
that receives, a poll of that socket in a bounded loop. Each attempt waits
longer (1 s, 2 s, 4 s, then 8 s), logs a warning that names the endpoint,
and after the last attempt the code raises TimeoutError. A wrong endpoint
then shows up as a logged error instead of a silent hang. The receive
itself stays as it was, and runs once the poll reports a message.

The endpoint named in the log is the argument of the socket's `connect`
earlier in the same function when that is a name or an attribute, so the
log shows the value used at run time. Otherwise it is the endpoint the
analysis resolved, as text.

NOTE: the TimeoutError ends whatever called the receive. A worker that
registers at startup then exits instead of hanging, which the loop counts
as a crash when the patch is applied without the repair of the endpoint.

No patch is proposed when the receive is already bounded by a NOBLOCK or
DONTWAIT flag, a poll in the function, or RCVTIMEO set in the class or
module. Nor is one proposed when the module does not `import zmq` or has no
logger, or when no code can go before the receive (inside a loop header, a
lambda, or a statement that shares its line).
"""

from __future__ import annotations

import ast
import re

from stackmedic.analysis.patch_context import PatchContext, PatchProposal, RuleOutcome
from stackmedic.analysis.patch_source import PythonSource, TextEdit, apply_edits, fresh_name
from stackmedic.model import Finding

ZMQ_RECEIVES = {
    "recv",
    "recv_multipart",
    "recv_string",
    "recv_json",
    "recv_pyobj",
    "recv_serialized",
}
ATTEMPTS = 5
FIRST_WAIT_MS = 1000
MAX_WAIT_MS = 8000
CONFIDENCE = 0.8
MAX_LINE_LENGTH = 99
_NONBLOCKING_FLAGS = ("NOBLOCK", "DONTWAIT")
# Statements before which a wait can be inserted: the receive runs once, after it.
_INSERTABLE = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr, ast.Return, ast.If)


def total_wait_seconds() -> float:
    """Return how long the inserted loop waits in all before it raises."""
    return sum(min(FIRST_WAIT_MS * 2**attempt, MAX_WAIT_MS) for attempt in range(ATTEMPTS)) / 1000


def propose_timeout(finding: Finding, context: PatchContext) -> RuleOutcome:
    """Propose a bounded, logged wait before a ZeroMQ receive that can block forever."""
    location = finding.location
    if location is None:
        return RuleOutcome(declined=context.t("patch.declined.no_location"))
    source = context.python(finding.service, location.path)
    if source is None:
        return RuleOutcome(declined=context.t("patch.declined.not_python", path=location.path))
    receives = [
        node
        for node in source.nodes_on_line(location.line, ast.Call)
        if isinstance(node.func, ast.Attribute) and node.func.attr in ZMQ_RECEIVES
    ]
    where = f"{location.path}:{location.line}"
    if len(receives) != 1:
        return RuleOutcome(declined=context.t("patch.timeout.declined.not_zmq", location=where))
    call = receives[0]
    zmq_name = source.module_alias("zmq")
    if zmq_name is None:
        return RuleOutcome(
            declined=context.t("patch.timeout.declined.no_zmq_import", path=source.path)
        )

    call_text = source.segment(call)
    bound = existing_bound(source, call, zmq_name)
    if bound is not None:
        text = context.t(
            "patch.timeout.recommend.bounded", call=call_text, location=where, bound=bound
        )
        return RuleOutcome(
            recommendation=text,
            declined=context.t("patch.timeout.declined.bounded", call=call_text, bound=bound),
        )

    statement = source.statement_of(call)
    problem = _insertion_problem(source, call, statement)
    if problem:
        return RuleOutcome(declined=context.t(problem, location=where))
    assert statement is not None
    logger_text = _logger_expression(source)
    if logger_text is None:
        return RuleOutcome(declined=context.t("patch.timeout.declined.no_logger", path=source.path))

    endpoint_text = _endpoint(source, call, finding)
    lines = _wait_lines(source, call, statement, zmq_name, logger_text, endpoint_text)
    newline = source.newline()
    edit = TextEdit(statement.lineno, 0, statement.lineno, 0, newline.join(lines) + newline)
    after = apply_edits(source.text, [edit])
    try:
        compile(after, source.path, "exec")
    except SyntaxError as error:
        return RuleOutcome(declined=context.t("patch.declined.broken", detail=str(error)))

    if endpoint_text[0] == "literal":
        endpoint_shown = endpoint_text[1]
    else:
        endpoint_shown = context.t(
            "patch.timeout.endpoint_expression",
            url=finding.facts.get("endpoint") or "?",
            expression=endpoint_text[1],
        )
    reason = context.t(
        "patch.timeout.reason",
        call=call_text,
        location=where,
        blocking_reason=_blocking_reason(context, finding) or "-",
        endpoint=endpoint_shown,
        attempts=ATTEMPTS,
        first_wait=f"{FIRST_WAIT_MS / 1000:g}",
        max_wait=f"{MAX_WAIT_MS / 1000:g}",
        total=f"{total_wait_seconds():g}",
    )
    proposal = PatchProposal(
        path=source.path,
        before=source.text,
        after=after,
        title=context.t("patch.timeout.title", call=call_text, location=where),
        reason=reason,
        confidence=CONFIDENCE,
    )
    return RuleOutcome(proposals=[proposal], facts={"patch_wait_seconds": total_wait_seconds()})


def existing_bound(source: PythonSource, call: ast.Call, zmq_name: str) -> str | None:
    """Return what already bounds the receive (a flag, a poll, RCVTIMEO), or None.

    The poll counts in the receive's function; RCVTIMEO counts anywhere in
    its class, or in the module for code outside classes, because a socket
    option holds for every later receive.
    """
    for argument in [*call.args, *(k.value for k in call.keywords)]:
        for node in ast.walk(argument):
            name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
            if name in _NONBLOCKING_FLAGS:
                return f"flag {name}"

    function = source.function_of(call)
    for node in ast.walk(function if function is not None else source.tree):
        if isinstance(node, ast.Call):
            called = node.func
            name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
            if name in ("poll", "Poller", "select"):
                return f"{name}() at line {node.lineno}"

    region: ast.AST = source.class_of(call) or source.tree
    for node in ast.walk(region):
        if _sets_rcvtimeo(node):
            return f"RCVTIMEO at line {getattr(node, 'lineno', '?')}"
    return None


def _sets_rcvtimeo(node: ast.AST) -> bool:
    """Tell whether a node sets a receive timeout: `setsockopt(zmq.RCVTIMEO, n)` or `s.RCVTIMEO = n`.

    A value of -1 means no timeout and does not count.
    """
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "setsockopt"
        and node.args
        and _names_rcvtimeo(node.args[0])
    ):
        return not _is_minus_one(node.args[1] if len(node.args) > 1 else None)
    if isinstance(node, ast.Assign):
        return any(
            isinstance(target, ast.Attribute) and target.attr.upper() == "RCVTIMEO"
            for target in node.targets
        ) and not _is_minus_one(node.value)
    return False


def _names_rcvtimeo(node: ast.expr) -> bool:
    return any(
        (isinstance(n, ast.Attribute) and n.attr == "RCVTIMEO")
        or (isinstance(n, ast.Name) and n.id == "RCVTIMEO")
        for n in ast.walk(node)
    )


def _is_minus_one(node: ast.expr | None) -> bool:
    return (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and node.operand.value == 1
    )


def _insertion_problem(source: PythonSource, call: ast.Call, statement: ast.stmt | None) -> str:
    """Return the message key of why no wait can go before the statement, or ""."""
    if statement is None or not isinstance(statement, _INSERTABLE):
        return "patch.timeout.declined.statement"
    if isinstance(statement, ast.If) and not _contains(statement.test, call):
        return "patch.timeout.declined.statement"
    if any(isinstance(a, ast.Lambda) for a in source.ancestors(call)):
        return "patch.timeout.declined.statement"
    line_text = source.lines[statement.lineno - 1]
    start = source.start(statement)[1]
    if line_text[:start].strip():
        return "patch.timeout.declined.statement"
    return ""


def _contains(node: ast.AST, target: ast.AST) -> bool:
    return any(child is target for child in ast.walk(node))


def _logger_expression(source: PythonSource) -> str | None:
    """Return how the module logs: its logger's name, else `logging.getLogger(__name__)`."""
    name = source.module_logger()
    if name is not None:
        return name
    logging_name = source.module_alias("logging")
    return f"{logging_name}.getLogger(__name__)" if logging_name else None


def _endpoint(source: PythonSource, call: ast.Call, finding: Finding) -> tuple[str, str]:
    """Return ("expression", code) for the connect argument in scope, else ("literal", text)."""
    assert isinstance(call.func, ast.Attribute)
    receiver = source.segment(call.func.value)
    function = source.function_of(call)
    connects = [
        node
        for node in ast.walk(function if function is not None else source.tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "connect"
        and source.segment(node.func.value) == receiver
        and node.lineno < call.lineno
        and len(node.args) == 1
    ]
    if connects:
        argument = max(connects, key=lambda node: node.lineno).args[0]
        if isinstance(argument, (ast.Name, ast.Attribute)):
            return "expression", source.segment(argument)
    endpoint = finding.facts.get("endpoint")
    return "literal", str(endpoint) if endpoint else receiver


def _blocking_reason(context: PatchContext, finding: Finding) -> str:
    location = finding.location
    if location is None:
        return ""
    for call in context.facts.blocking_calls:
        if (
            call.service == finding.service
            and call.path == location.path
            and call.line == location.line
        ):
            return _reason_text(context, call.reason)
    return ""


# NOTE: mirrors the sentence `stackmedic.analysis.pyblocking` writes for a
# ZeroMQ receive without a bound, so that it can be shown in the report's
# language. A reason of any other wording is shown as written.
_ZMQ_UNBOUNDED = re.compile(r"^(?P<method>\w+)\(\) with no poll timeout or RCVTIMEO$")


def _reason_text(context: PatchContext, reason: str) -> str:
    """Return the blocking call's reason as a catalogue message when its wording is known."""
    match = _ZMQ_UNBOUNDED.match(reason)
    if match is None:
        return reason
    return context.t("patch.timeout.zmq_unbounded", method=match.group("method"))


def _wait_lines(
    source: PythonSource,
    call: ast.Call,
    statement: ast.stmt,
    zmq_name: str,
    logger_text: str,
    endpoint: tuple[str, str],
) -> list[str]:
    """Return the lines that poll the socket in a bounded loop before the receiving statement."""
    assert isinstance(call.func, ast.Attribute)
    indent = source.indentation(statement.lineno)
    unit = source.indent_unit()
    function = source.function_of(call)
    taken = source.names_in(function if function is not None else source.tree)
    poller = fresh_name("poller", taken)
    attempt = fresh_name("attempt", taken | {poller})
    wait_ms = fresh_name("wait_ms", taken | {poller, attempt})
    receiver = source.segment(call.func.value)
    total = f"{total_wait_seconds():g}"

    kind, text = endpoint
    if kind == "expression":
        warning_format = '"No reply from %s after %.0f s (attempt %d of %d)"'
        warning_args = f"{text}, {wait_ms} / 1000, {attempt}, {ATTEMPTS}"
        error = f'f"no reply from {{{text}}} after {ATTEMPTS} attempts ({total} s)"'
    else:
        shown = text.replace("%", "%%")
        warning_format = repr(f"No reply from {shown} after %.0f s (attempt %d of %d)")
        warning_args = f"{wait_ms} / 1000, {attempt}, {ATTEMPTS}"
        error = repr(f"no reply from {text} after {ATTEMPTS} attempts ({total} s)")

    inner = indent + unit
    arguments = f"{inner}{unit}{warning_format}, {warning_args}"
    if len(arguments) > MAX_LINE_LENGTH:
        arguments = f"{inner}{unit}{warning_format},\n{inner}{unit}{warning_args},"
    return [
        f"{indent}# Wait at most {total} s in all instead of forever, so a peer that never",
        f"{indent}# answers becomes a logged error that names the endpoint.",
        f"{indent}{poller} = {zmq_name}.Poller()",
        f"{indent}{poller}.register({receiver}, {zmq_name}.POLLIN)",
        f"{indent}for {attempt} in range(1, {ATTEMPTS + 1}):",
        f"{inner}{wait_ms} = min({FIRST_WAIT_MS} * 2 ** ({attempt} - 1), {MAX_WAIT_MS})",
        f"{inner}if {poller}.poll({wait_ms}):",
        f"{inner}{unit}break",
        f"{inner}{logger_text}.warning(",
        *arguments.split("\n"),
        f"{inner})",
        f"{indent}else:",
        f"{inner}raise TimeoutError({error})",
    ]
