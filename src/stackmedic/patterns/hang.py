"""Detecting a container that stopped making progress, and finding where it waits.

Shared by STARTUP_HANG (which reports it) and MISSING_ENV (which checks the
variables of the endpoint the hang waits on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stackmedic.evidence.facts import BlockingCall, LogCallSite
from stackmedic.evidence.model import ContainerEvidence, LogLine
from stackmedic.patterns import lookup
from stackmedic.patterns.base import AnalysisContext
from stackmedic.patterns.common import (
    containers_by_service,
    effective_healthcheck,
    is_error_line,
    last_nonempty_line,
    line_time,
    logs_collected,
    parse_time,
)
from stackmedic.patterns.endpoints import Connection, connections_of

# A log that has been quiet for this long, or for the health check's start
# period when that is longer, counts as no progress.
MIN_SILENCE_SECONDS = 60.0
# An unhealthy container must also have been quiet for a while, because one
# that keeps logging is working, whatever its health check reports.
MIN_UNHEALTHY_SILENCE_SECONDS = 10.0
DEFAULT_HEALTH_INTERVAL = 30.0
DEFAULT_HEALTH_RETRIES = 3

# Lines a server prints once it serves requests; an idle server after one of
# these is waiting for clients, not stuck.
_READY = re.compile(
    r"listening on|ready to accept|\bbound to\b|running on (?:https?|tcp)://|"
    r"application startup complete|server started|started server|serving on|"
    r"accepting connections|registered with|connected to|ready for start up|listening at|"
    r"start worker process|waiting for connections|startup complete|\bis ready\b|"
    r"Started \S+ in [\d.]+ seconds|ready for connections|"
    # An access-log line: the server serves requests.
    r"\"(?:GET|POST|PUT|DELETE|HEAD|PATCH|OPTIONS) \S+ HTTP/[\d.]+\" \d{3}",
    re.IGNORECASE,
)


# Lines that report a failure without an error level ("poll failed: ...").
# A process that reports what fails is not silently stuck.
_FAILURE_WORDS = re.compile(
    r"\b(?:failed|failure|error|exception|refused|denied|timed out|unreachable)\b", re.IGNORECASE
)


@dataclass
class HangSite:
    """The place a hung service waits: the last log call, the call after it, the blocking call."""

    log_site: LogCallSite | None = None
    target: lookup.CallTarget | None = None
    blocking: BlockingCall | None = None
    connection: Connection | None = None


@dataclass
class Hang:
    service: str
    containers: list[ContainerEvidence]
    last_line: LogLine | None
    silent_seconds: int | None
    unhealthy: bool
    site: HangSite = field(default_factory=HangSite)


def silent_seconds(context: AnalysisContext, container: ContainerEvidence) -> float | None:
    """Return how long the container's log has been quiet when the evidence was collected."""
    collected = parse_time(context.evidence.collected_at)
    if collected is None:
        return None
    last = last_nonempty_line(container)
    since = line_time(last) if last is not None else parse_time(container.started_at)
    if since is None:
        return None
    return max(0.0, (collected - since).total_seconds())


def _thresholds(context: AnalysisContext, service: str) -> tuple[float, float]:
    check = effective_healthcheck(context.evidence, service)
    start_period = check.start_period if check and check.start_period else 0.0
    interval = check.interval if check and check.interval else DEFAULT_HEALTH_INTERVAL
    retries = check.retries if check and check.retries else DEFAULT_HEALTH_RETRIES
    silence = max(MIN_SILENCE_SECONDS, start_period)
    unhealthy_silence = min(silence, max(MIN_UNHEALTHY_SILENCE_SECONDS, interval * retries))
    return silence, unhealthy_silence


def is_hung(context: AnalysisContext, container: ContainerEvidence) -> bool:
    """Tell whether a running container shows no progress and no error.

    Hung means: no error or failure line in its log, no line announcing it
    serves requests, not healthy, and either unhealthy or (for a service
    built from source) quiet for longer than the silence threshold.
    """
    if not container.is_running or container.health == "healthy":
        return False
    if not logs_collected(container):
        return False
    # A quiet server from a third-party image (a database, a broker, a proxy)
    # is idle, not stuck: only an unhealthy state shows otherwise. Silence
    # alone counts for the project's own services, built from source.
    config = context.evidence.services.get(container.service, {})
    if container.health != "unhealthy" and not config.get("build"):
        return False
    if any(is_error_line(line.text) or _FAILURE_WORDS.search(line.text) for line in container.logs):
        return False
    if any(_READY.search(line.text) for line in container.logs):
        return False
    silence, unhealthy_silence = _thresholds(context, container.service)
    quiet = silent_seconds(context, container)
    if container.health == "unhealthy":
        return quiet is None or quiet >= unhealthy_silence
    return quiet is not None and quiet >= silence


def find_hangs(context: AnalysisContext) -> list[Hang]:
    """Return one Hang per service whose running containers are hung (replicas merged)."""
    hangs = []
    for service, containers in sorted(containers_by_service(context.evidence).items()):
        hung = [c for c in containers if is_hung(context, c)]
        if not hung:
            continue
        first = hung[0]
        quiet = [s for s in (silent_seconds(context, c) for c in hung) if s is not None]
        hang = Hang(
            service=service,
            containers=hung,
            last_line=last_nonempty_line(first),
            silent_seconds=int(min(quiet)) if quiet else None,
            unhealthy=any(c.health == "unhealthy" for c in hung),
        )
        if hang.last_line is not None:
            hang.site = locate_hang(context, service, hang.last_line.text)
        hangs.append(hang)
    return hangs


def locate_hang(context: AnalysisContext, service: str, last_text: str) -> HangSite:
    """Follow the last log line to the call that waits.

    The steps are: the logging call that printed the line; the call statement
    after it, resolved to its function; the first blocking call in that
    function, else the first one after the logging call in its own function;
    the connect endpoint that blocking call waits on.
    """
    site = HangSite()
    candidates = lookup.log_sites_for_line(context, service, last_text)
    if not candidates:
        return site
    site.log_site = candidates[0]

    site.target = lookup.call_after(context, service, site.log_site.path, site.log_site.line)
    if site.target is not None:
        calls = lookup.blocking_calls_in(context, service, site.target.path, site.target.function)
        site.blocking = calls[0] if calls else None
    if site.blocking is None:
        site.blocking = _blocking_after(context, service, site.log_site)

    if site.blocking is not None:
        site.connection = _connection_before(context, service, site.blocking)
    elif site.target is not None:
        site.connection = _connection_in(context, service, site.target)
    return site


def _connection_in(
    context: AnalysisContext, service: str, target: lookup.CallTarget
) -> Connection | None:
    """Return the first connect made in the target function, when no blocking call is known."""
    inside = [
        c
        for c in connections_of(context, service)
        if c.endpoint.path == target.path and c.endpoint.function == target.function
    ]
    return min(inside, key=lambda c: c.endpoint.line) if inside else None


def _blocking_after(
    context: AnalysisContext, service: str, log_site: LogCallSite
) -> BlockingCall | None:
    later = [
        call
        for call in context.facts.blocking_calls
        if call.service == service
        and call.path == log_site.path
        and call.function == log_site.function
        and call.line > log_site.line
    ]
    return min(later, key=lambda call: call.line) if later else None


def _connection_before(
    context: AnalysisContext, service: str, blocking: BlockingCall
) -> Connection | None:
    """Return the connect the blocking call most likely waits on.

    That is the closest connect above it in its function, else above it in
    the same file, else the only connect of the file, else the service's only
    connect.
    """
    connections = connections_of(context, service)
    same_file = [c for c in connections if c.endpoint.path == blocking.path]
    same_function = [
        c
        for c in same_file
        if c.endpoint.function == blocking.function and c.endpoint.line <= blocking.line
    ]
    if same_function:
        return max(same_function, key=lambda c: c.endpoint.line)
    above = [c for c in same_file if c.endpoint.line <= blocking.line]
    if above:
        return max(above, key=lambda c: c.endpoint.line)
    if len(same_file) == 1:
        return same_file[0]
    if len(connections) == 1:
        return connections[0]
    return None
