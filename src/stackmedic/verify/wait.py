"""Waiting for a deployed project to settle, driven by the engine's event stream.

A container has settled when it is running without a health check, running
with a health verdict (healthy or unhealthy), exited, dead, or restarting
after crashing at least RESTART_LOOP_THRESHOLD times. Nothing here sleeps:
the wait blocks on `GET /events`, re-inspects only the container an event is
about, and ends at the first moment every container has settled, or when the
engine closes the stream at the deadline.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from stackmedic.engine import DockerEngine
from stackmedic.engine.docker_api import SERVICE_LABEL, iterate_stream
from stackmedic.errors import ContainerGoneError
from stackmedic.evidence.model import utc_now
from stackmedic.model import ContainerSnapshot

logger = logging.getLogger(__name__)

RESTART_LOOP_THRESHOLD = 3


@dataclass
class SettleResult:
    """How a wait ended.

    `seconds` runs from the start of the wait to the moment the wait saw the
    last container settle. `settled_at` is that moment as a Unix time, so
    callers can measure the delay from it to their verdict. When an event
    completed the settling, `settle_event_at` is when the last container
    reached its settled state, by the engine's clock, and `detect_seconds` is
    how long after that the wait noticed. Both are None when the project had
    settled before the wait began.
    """

    settled: bool
    seconds: float
    settled_at: float
    events_seen: int
    snapshots: list[ContainerSnapshot] = field(default_factory=list)
    unsettled: list[str] = field(default_factory=list)
    settle_event_at: float | None = None
    detect_seconds: float | None = None


def is_settled(attrs: dict[str, Any]) -> bool:
    state = attrs.get("State") or {}
    status = state.get("Status")
    if status in ("exited", "dead", "paused"):
        return True
    if status == "restarting":
        return int(attrs.get("RestartCount") or 0) >= RESTART_LOOP_THRESHOLD
    if status == "running":
        health = state.get("Health")
        if not health:
            return True
        return health.get("Status") in ("healthy", "unhealthy")
    return False


def snapshot(attrs: dict[str, Any]) -> ContainerSnapshot:
    state = attrs.get("State") or {}
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    return ContainerSnapshot(
        at=utc_now(),
        name=str(attrs.get("Name", "")).lstrip("/"),
        service=str(labels.get(SERVICE_LABEL, "")),
        state=str(state.get("Status", "unknown")),
        health=(state.get("Health") or {}).get("Status"),
        exit_code=state.get("ExitCode"),
        restart_count=int(attrs.get("RestartCount") or 0),
        oom_killed=bool(state.get("OOMKilled", False)),
    )


def wait_until_settled(engine: DockerEngine, project: str, timeout: float) -> SettleResult:
    """Block until every container of `project` has settled, or `timeout` seconds pass."""
    started = time.time()
    # Subscribe from before the first inspection, so events that happen in
    # between are replayed instead of lost.
    since = int(started) - 1
    deadline = started + timeout
    current: dict[str, dict[str, Any]] = {}
    snapshots: list[ContainerSnapshot] = []

    for entry in engine.project_containers(project):
        _refresh(engine, entry["Id"], current, snapshots)
    if _all_settled(current):
        return _result(True, started, time.time(), 0, snapshots, current)

    events_seen = 0
    stream = engine.events(project, since=since, until=int(deadline) + 1)
    try:
        for event in iterate_stream(stream):
            events_seen += 1
            container_id = event.get("id") or (event.get("Actor") or {}).get("ID")
            action = str(event.get("Action") or event.get("status") or "")
            logger.debug("event %s %s", action, str(container_id)[:12])
            if not container_id:
                continue
            if action == "destroy":
                current.pop(container_id, None)
            else:
                _refresh(engine, container_id, current, snapshots)
            if _all_settled(current):
                result = _result(True, started, time.time(), events_seen, snapshots, current)
                _note_detection(result, current, event)
                return result
            if time.time() > deadline:
                break
    finally:
        stream.close()
    return _result(False, started, time.time(), events_seen, snapshots, current)


def event_time(event: dict[str, Any]) -> float | None:
    """Return an engine event's Unix time from `timeNano`, else from `time`."""
    nanoseconds = event.get("timeNano")
    if isinstance(nanoseconds, int) and nanoseconds > 0:
        return nanoseconds / 1e9
    seconds = event.get("time")
    if isinstance(seconds, (int, float)) and seconds > 0:
        return float(seconds)
    return None


def settle_moment(attrs: dict[str, Any]) -> float | None:
    """Return the Unix time at which a settled container reached its current state.

    That is the end of its latest health probe for a container with a health
    verdict, the finish time for one that exited or is restarting, and the
    start time for one running without a health check. None when the
    inspect payload lacks the time.
    """
    state = attrs.get("State") or {}
    status = state.get("Status")
    if status in ("exited", "dead", "restarting"):
        return parse_engine_time(state.get("FinishedAt"))
    if status == "running":
        health = state.get("Health")
        if health:
            probes = health.get("Log") or []
            return parse_engine_time(probes[-1].get("End")) if probes else None
        return parse_engine_time(state.get("StartedAt"))
    return None


def parse_engine_time(value: Any) -> float | None:
    """Parse the engine's RFC 3339 time with nanoseconds ("2026-12-04T20:45:29.123456789Z")."""
    if not isinstance(value, str) or not value or value.startswith("0001-"):
        return None
    match = _ENGINE_TIME.match(value)
    if match is None:
        return None
    fraction = (match.group("fraction") or "")[:6].ljust(6, "0")
    zone = match.group("zone")
    zone = "+00:00" if zone == "Z" else zone
    try:
        moment = dt.datetime.fromisoformat(f"{match.group('base')}.{fraction}{zone}")
    except ValueError:
        return None
    return moment.timestamp()


_ENGINE_TIME = re.compile(
    r"^(?P<base>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d+))?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})$"
)


def _note_detection(
    result: SettleResult, current: dict[str, dict[str, Any]], event: dict[str, Any]
) -> None:
    """Record when the last container settled and how long the wait took to notice.

    The moment comes from the containers' own state times, because the
    event that completed the settling may be an older event replayed from
    before the wait began. The event's time is the fallback.
    """
    moments = [settle_moment(attrs) for attrs in current.values()]
    known = [moment for moment in moments if moment is not None]
    at = max(known) if known else event_time(event)
    if at is None:
        return
    result.settle_event_at = at
    # A local engine shares our clock; a remote engine's clock skew could
    # make the difference negative, which is reported as zero.
    result.detect_seconds = round(max(result.settled_at - at, 0.0), 3)


def _refresh(
    engine: DockerEngine,
    container_id: str,
    current: dict[str, dict[str, Any]],
    snapshots: list[ContainerSnapshot],
) -> None:
    try:
        attrs = engine.inspect_container(container_id)
    except ContainerGoneError:
        current.pop(container_id, None)
        return
    taken = snapshot(attrs)
    previous = current.get(container_id)
    if previous is None or _state_key(snapshot(previous)) != _state_key(taken):
        snapshots.append(taken)
    current[container_id] = attrs


def _state_key(item: ContainerSnapshot) -> tuple[str, str | None, int]:
    return (item.state, item.health, item.restart_count)


def _all_settled(current: dict[str, dict[str, Any]]) -> bool:
    return all(is_settled(attrs) for attrs in current.values())


def _result(
    settled: bool,
    started: float,
    ended: float,
    events_seen: int,
    snapshots: list[ContainerSnapshot],
    current: dict[str, dict[str, Any]],
) -> SettleResult:
    unsettled = sorted(
        str(attrs.get("Name", "")).lstrip("/") for attrs in current.values() if not is_settled(attrs)
    )
    return SettleResult(
        settled=settled,
        seconds=round(ended - started, 3),
        settled_at=ended,
        events_seen=events_seen,
        snapshots=snapshots,
        unsettled=unsettled,
    )
