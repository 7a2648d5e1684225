"""Waiting for a deployed project to settle, driven by the engine's event stream.

A container has settled when it is running without a health check, running
with a health verdict (healthy or unhealthy), exited, dead, or restarting
after crashing at least RESTART_LOOP_THRESHOLD times. Nothing here sleeps:
the wait blocks on `GET /events`, re-inspects only the container an event is
about, and ends at the first moment every container has settled, or when the
engine closes the stream at the deadline.
"""

from __future__ import annotations

import logging
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

    `seconds` runs from the start of the wait to the last container settling;
    `settled_at` is that moment as a Unix time, so callers can measure the
    delay from it to their verdict.
    """

    settled: bool
    seconds: float
    settled_at: float
    events_seen: int
    snapshots: list[ContainerSnapshot] = field(default_factory=list)
    unsettled: list[str] = field(default_factory=list)


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
                return _result(True, started, time.time(), events_seen, snapshots, current)
            if time.time() > deadline:
                break
    finally:
        stream.close()
    return _result(False, started, time.time(), events_seen, snapshots, current)


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
