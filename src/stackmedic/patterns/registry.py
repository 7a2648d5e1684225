"""Every error pattern stackmedic matches, and the one function that runs them all.

Adding a pattern: write its class in the module of its family, add one line
to ALL_PATTERNS, its messages to messages/*/patterns.json, and its test cases.
"""

from __future__ import annotations

import logging

from stackmedic.model import Finding, english_text
from stackmedic.patterns.application import (
    KeyErrorPattern,
    MissingAttribute,
    ModuleNotFound,
    PythonException,
)
from stackmedic.patterns.base import AnalysisContext, Pattern
from stackmedic.patterns.configuration import (
    BindLocalhost,
    EndpointMismatch,
    MissingEnv,
    PortAlreadyAllocated,
)
from stackmedic.patterns.crashes import GoPanic, JavaException, NodeException, NodeModuleNotFound
from stackmedic.patterns.database import (
    DatabaseAuthFailed,
    DatabaseMissing,
    DataDirIncompatible,
    RedisAuthFailed,
    TableMissing,
)
from stackmedic.patterns.healthcheck import HealthcheckMisconfigured, HealthcheckTimeout
from stackmedic.patterns.network import (
    HostNotResolved,
    LocalhostPeer,
    PortNotListening,
    TlsCertificateError,
)
from stackmedic.patterns.runtime import (
    ConnectionRefused,
    CrashExit,
    OomKilled,
    PermissionDenied,
    RestartLoop,
    SignalKilled,
)
from stackmedic.patterns.settings import ComposeVariableUnset, ConfigFileNotFound
from stackmedic.patterns.startup import (
    DependencyNotReady,
    EntrypointCrlf,
    EntrypointNotExecutable,
    ExecFormatError,
    SlowStart,
    StartupHang,
)
from stackmedic.patterns.storage import BindMountSourceMissing, DiskFull

logger = logging.getLogger(__name__)

ALL_PATTERNS: list[Pattern] = [
    # startup
    StartupHang(),
    DependencyNotReady(),
    SlowStart(),
    ExecFormatError(),
    EntrypointCrlf(),
    EntrypointNotExecutable(),
    # configuration
    EndpointMismatch(),
    MissingEnv(),
    ComposeVariableUnset(),
    ConfigFileNotFound(),
    HostNotResolved(),
    LocalhostPeer(),
    PortNotListening(),
    BindLocalhost(),
    PortAlreadyAllocated(),
    # health checks
    HealthcheckMisconfigured(),
    HealthcheckTimeout(),
    # application
    PythonException(),
    KeyErrorPattern(),
    MissingAttribute(),
    ModuleNotFound(),
    NodeModuleNotFound(),
    NodeException(),
    JavaException(),
    GoPanic(),
    DatabaseAuthFailed(),
    DatabaseMissing(),
    TableMissing(),
    RedisAuthFailed(),
    # runtime
    DataDirIncompatible(),
    OomKilled(),
    SignalKilled(),
    RestartLoop(),
    CrashExit(),
    ConnectionRefused(),
    PermissionDenied(),
    BindMountSourceMissing(),
    DiskFull(),
    TlsCertificateError(),
]


def pattern_by_code(code: str) -> Pattern:
    for pattern in ALL_PATTERNS:
        if pattern.code == code:
            return pattern
    raise KeyError(code)


def run_patterns(
    context: AnalysisContext, patterns: list[Pattern] | None = None
) -> tuple[list[Finding], list[str]]:
    """Run every pattern on the context and return (findings, warnings).

    A pattern that raises is logged and becomes a warning naming its code and
    the error; the other patterns still run.
    """
    findings: list[Finding] = []
    warnings: list[str] = []
    for pattern in ALL_PATTERNS if patterns is None else patterns:
        try:
            matched = pattern.match(context)
        except Exception as error:
            logger.warning("pattern %s failed: %s", pattern.code, error, exc_info=True)
            warnings.append(english_text("report.analysis_warning.pattern_failed", code=pattern.code,
                                         error_type=type(error).__name__, error=str(error)))
            continue
        for finding in matched:
            logger.info("%s %s: %s", finding.code, finding.service, finding.summary)
        findings.extend(matched)
    return findings, warnings
