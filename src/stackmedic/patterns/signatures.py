"""The log signatures of the pattern library: per pattern code, the regexes it runs over log lines.

A log signature is a regex that a pattern applies to every log line on its
own (`regex.search(line)`), where a match makes the line evidence the pattern
reads: a fault report, a bind announcement, a "ready" line. The regexes are
the pattern modules' own objects, imported, so this table cannot drift from
what the patterns match. `stackmedic.analysis.logscan.LogScanner` takes this
table and finds every matching line of a whole log buffer in one pass.

Left out on purpose:

- regexes applied only to the lines around a match (the `os.environ` frame
  before a `KeyError`, a Node.js "Require stack" entry, traceback frames);
- the log level of a line (`common.log_level`), which every pattern shares;
- regexes applied to the engine's error, to Compose warnings or to health
  probe output, which are not log lines.

So a line a signature matches is a candidate: the pattern still decides,
with the rest of the evidence, whether it is a finding.

NOTE: `analysis.tracebacks` matches a Java header and a Go panic on the
stripped line. A header indented with spaces is therefore not matched here
by its header regex, but its `at ...` frames and goroutine lines are.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from stackmedic.analysis import tracebacks as stack_traces
from stackmedic.analysis.logscan import ContainerLogIndex, LogScanner
from stackmedic.evidence.model import ContainerEvidence
from stackmedic.patterns import (
    application,
    common,
    configuration,
    connections,
    crashes,
    database,
    endpoints,
    hang,
    network,
    runtime,
    settings,
    startup,
    storage,
)
from stackmedic.patterns import tracebacks as python_tracebacks

Regexes = tuple[re.Pattern[str], ...]

_PYTHON_TRACEBACK: Regexes = (python_tracebacks._HEADER,)
_FAILED_CONNECTION: Regexes = (
    connections._UNRESOLVED,
    connections._REFUSED,
    connections._UNAVAILABLE,
)
_LOG_BINDS: Regexes = (
    *(regex for regex, _ in endpoints._LOG_BIND_PATTERNS),
    endpoints._REDIS_READY,
    endpoints._REDIS_PORT,
)

LOG_SIGNATURES: Mapping[str, Regexes] = {
    # startup
    "STARTUP_HANG": (hang._READY, common._ERROR_MARKERS),
    "DEPENDENCY_NOT_READY": (*_FAILED_CONNECTION, connections._READY),
    "SLOW_START": (startup._STARTED_IN, connections._READY),
    "EXEC_FORMAT_ERROR": (startup._EXEC_FORMAT,),
    "ENTRYPOINT_CRLF": (startup._CRLF_SIGNS, startup._NO_SUCH_FILE),
    "ENTRYPOINT_NOT_EXECUTABLE": tuple(runtime._EXEC_DENIED),
    # configuration
    "ENDPOINT_MISMATCH": _LOG_BINDS,
    "MISSING_ENV": (
        configuration._KEY_ERROR_ENV,
        configuration._NOT_SET,
        configuration._ENV_NAMED,
    ),
    "CONFIG_FILE_NOT_FOUND": tuple(settings._MISSING_FILE),
    "HOST_NOT_RESOLVED": _FAILED_CONNECTION,
    "LOCALHOST_PEER": (*_FAILED_CONNECTION, *_LOG_BINDS),
    "PORT_NOT_LISTENING": (*_FAILED_CONNECTION, *_LOG_BINDS),
    "BIND_LOCALHOST": _LOG_BINDS,
    "PORT_ALREADY_ALLOCATED": (configuration._ALLOCATED, configuration._IN_USE),
    # health checks
    "HEALTHCHECK_MISCONFIGURED": _LOG_BINDS,
    # application
    "PYTHON_EXCEPTION": _PYTHON_TRACEBACK,
    "KEY_ERROR": (*_PYTHON_TRACEBACK, application._KEY_IN_MESSAGE),
    "MISSING_ATTRIBUTE": (application._NO_ATTRIBUTE, *_PYTHON_TRACEBACK),
    "MODULE_NOT_FOUND": (application._NO_MODULE, *_PYTHON_TRACEBACK),
    "NODE_MODULE_NOT_FOUND": (crashes._NODE_MODULE,),
    "NODE_EXCEPTION": (stack_traces._NODE_AT, crashes._UNHANDLED_REJECTION),
    "JAVA_EXCEPTION": (stack_traces._JAVA_HEADER, stack_traces._JAVA_AT),
    "GO_PANIC": (stack_traces._GO_HEADER, stack_traces._GO_GOROUTINE),
    "DB_AUTH_FAILED": (database._AUTH_FAILED, database._ALREADY_INITIALISED),
    "DATABASE_MISSING": (database._DATABASE_MISSING,),
    "TABLE_MISSING": (database._TABLE_MISSING,),
    "REDIS_AUTH_FAILED": (database._REDIS_AUTH,),
    # runtime
    "DATA_DIR_INCOMPATIBLE": tuple(database._INCOMPATIBLE),
    "SIGNAL_KILLED": (runtime._HEAP_EXHAUSTED,),
    "CONNECTION_REFUSED": _FAILED_CONNECTION,
    "PERMISSION_DENIED": tuple(runtime._DENIED_PATHS),
    "BIND_MOUNT_SOURCE_MISSING": tuple(storage._IS_DIRECTORY),
    "DISK_FULL": (storage._DISK_FULL,),
    "TLS_CERTIFICATE_ERROR": tuple(regex for regex, _ in network._TLS),
}

# Patterns that read the log but have no regex to run over every line, with the reason.
WITHOUT_LOG_SIGNATURE: Mapping[str, str] = {
    "OOM_KILLED": "the OOM flag comes from the container state; the log gives its last lines",
    "RESTART_LOOP": "the restart count comes from the container state; the log gives its last lines",
    "CRASH_EXIT": "the exit code comes from the container state; the log gives its last lines",
    "COMPOSE_VARIABLE_UNSET": (
        "it searches the log for the names of the variables Compose reported unset,"
        " which only the evidence provides"
    ),
}


def distinct_signatures() -> list[re.Pattern[str]]:
    """Return every signature regex once, in table order."""
    seen: dict[int, re.Pattern[str]] = {}
    for regexes in LOG_SIGNATURES.values():
        for regex in regexes:
            seen.setdefault(id(regex), regex)
    return list(seen.values())


@functools.cache
def log_index() -> ContainerLogIndex:
    """Return the process-wide index of container log lines by signature, compiled on first use."""
    return ContainerLogIndex(LogScanner(LOG_SIGNATURES))


def candidate_lines(container: ContainerEvidence, *regexes: re.Pattern[str]) -> list[int]:
    """Return the positions in `container.logs` of the lines any of `regexes` may match.

    Each regex must be one of LOG_SIGNATURES. A pattern applies its own regex
    to these lines only, instead of to every line, and finds the same lines.
    """
    return log_index().line_indexes(container, *regexes)
