"""Parse the text tables of `docker ps -a` and `docker compose ps` from a bug report.

A hand-written evidence bundle often has only what a user pasted: the
container table. This module turns it into rows with a container state,
health, exit code and the age the STATUS column gives ("Up 25 minutes",
"Exited (137) 2 minutes ago"). The Engine API is the better source and is
used whenever an inspect payload exists; this parser is the fallback.

Columns are found from the header line. The Docker CLI pads columns with
spaces, so a row is cut at the header's column offsets first; a row whose
cut does not give a valid STATUS (realigned or hand-edited text) is split
at runs of two or more spaces instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Go's units.HumanDuration words, as the Docker CLI prints them.
_DURATION = re.compile(
    r"(?P<less>Less than a second)|"
    r"(?P<about>About an? (?P<about_unit>minute|hour))|"
    r"(?P<count>\d+) (?P<unit>second|minute|hour|day|week|month|year)s?",
    re.IGNORECASE,
)
_UNIT_SECONDS = {
    "second": 1.0,
    "minute": 60.0,
    "hour": 3600.0,
    "day": 86400.0,
    "week": 7 * 86400.0,
    "month": 30 * 86400.0,
    "year": 365 * 86400.0,
}

_STATUS_START = re.compile(
    r"^(?:Up|Exited|Restarting|Created|Dead|Paused|Removal In Progress|"
    r"running|exited|restarting|created|dead|paused)\b"
)
_UP = re.compile(r"^Up\b(?P<rest>.*)$")
_EXITED = re.compile(r"^(?P<state>Exited|Restarting)\s*\((?P<code>-?\d+)\)(?P<rest>.*)$")
# `docker compose ps` of Compose v2 before 2.21 printed the state in lower case.
_COMPOSE_STATE = re.compile(
    r"^(?P<state>running|exited|restarting|created|dead|paused)"
    r"(?:\s*\((?P<detail>[^)]*)\))?",
)
_HEALTH = re.compile(r"\((?P<health>healthy|unhealthy|health: starting|starting)\)")

NAME_COLUMNS = ("NAMES", "NAME")
_HEADER_WORDS = {
    "CONTAINER ID",
    "IMAGE",
    "COMMAND",
    "CREATED",
    "STATUS",
    "PORTS",
    "NAMES",
    "NAME",
    "SERVICE",
    "STATE",
    "SIZE",
}


@dataclass
class ContainerStatus:
    """What the STATUS text says about a container.

    `seconds` is the running time of a running container, or the time since
    a stopped container exited; None when the text gives no age.
    """

    state: str
    health: str | None = None
    exit_code: int | None = None
    seconds: float | None = None


@dataclass
class PsRow:
    """One container row of a `docker ps -a` or `docker compose ps` table."""

    name: str
    status_text: str
    status: ContainerStatus
    image: str = ""
    container_id: str = ""
    command: str = ""
    ports: str = ""
    service: str | None = None
    line: int = 0


def duration_seconds(text: str) -> float | None:
    """Convert a Docker CLI age ("25 minutes", "About an hour") to seconds."""
    match = _DURATION.search(text)
    if match is None:
        return None
    if match.group("less"):
        return 0.5
    if match.group("about"):
        return _UNIT_SECONDS[match.group("about_unit").lower()]
    return int(match.group("count")) * _UNIT_SECONDS[match.group("unit").lower()]


def parse_status(text: str) -> ContainerStatus | None:
    """Parse a STATUS cell; None when the text is not a container status."""
    status = text.strip()
    health_match = _HEALTH.search(status)
    health = None
    if health_match is not None:
        health = health_match.group("health")
        health = "starting" if "starting" in health else health

    up = _UP.match(status)
    if up is not None:
        rest = up.group("rest")
        state = "paused" if "(Paused)" in rest else "running"
        return ContainerStatus(state, health, None, duration_seconds(rest))

    stopped = _EXITED.match(status)
    if stopped is not None:
        return ContainerStatus(
            stopped.group("state").lower(),
            None,
            int(stopped.group("code")),
            duration_seconds(stopped.group("rest")),
        )

    if status.startswith("Created"):
        return ContainerStatus("created")
    if status.startswith("Dead"):
        return ContainerStatus("dead")
    if status.startswith("Removal In Progress"):
        return ContainerStatus("removing")

    compose = _COMPOSE_STATE.match(status)
    if compose is not None:
        detail = compose.group("detail") or ""
        exit_code = int(detail) if detail.lstrip("-").isdigit() else None
        if compose.group("state") == "running" and detail in ("healthy", "unhealthy", "starting"):
            health = detail
        return ContainerStatus(compose.group("state"), health, exit_code)
    return None


def parse_ps(text: str) -> list[PsRow]:
    """Return the container rows of every table in `text`.

    Lines before a header and lines that do not parse as a container row
    (prompts, blank lines, wrapped text) are skipped.
    """
    rows: list[PsRow] = []
    columns: list[tuple[str, int]] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.expandtabs(8).rstrip()
        if not line.strip():
            continue
        header = _header_columns(line)
        if header is not None:
            columns = header
            continue
        if columns is None:
            continue
        row = _row_by_offsets(line, columns) or _row_by_gaps(line, columns)
        if row is not None:
            row.line = number
            rows.append(row)
    return rows


def _header_columns(line: str) -> list[tuple[str, int]] | None:
    """Return (column name, start offset) for a header line, else None."""
    cells = [(m.group(0), m.start()) for m in re.finditer(r"\S+(?: \S+)*", line)]
    names = [name for name, _ in cells]
    if not any(name in NAME_COLUMNS for name in names) or "STATUS" not in names:
        return None
    if not all(name in _HEADER_WORDS for name in names):
        return None
    return cells


def _cell(values: dict[str, str], *names: str) -> str:
    for name in names:
        if values.get(name):
            return values[name]
    return ""


def _build_row(values: dict[str, str]) -> PsRow | None:
    name = _cell(values, *NAME_COLUMNS).split(",")[0].strip()
    status_text = values.get("STATUS", "").strip()
    status = parse_status(status_text)
    if status is None and values.get("STATE"):
        status = parse_status(values["STATE"])
        if status is not None and status_text:
            from_text = parse_status(status_text)
            status = from_text or status
    if not name or status is None:
        return None
    return PsRow(
        name=name,
        status_text=status_text or values.get("STATE", ""),
        status=status,
        image=_cell(values, "IMAGE"),
        container_id=_cell(values, "CONTAINER ID"),
        command=_cell(values, "COMMAND").strip('"'),
        ports=_cell(values, "PORTS"),
        service=values.get("SERVICE") or None,
    )


def _row_by_offsets(line: str, columns: list[tuple[str, int]]) -> PsRow | None:
    values: dict[str, str] = {}
    for index, (name, start) in enumerate(columns):
        end = columns[index + 1][1] if index + 1 < len(columns) else len(line)
        values[name] = line[start:end].strip()
    # A cell cut in the middle of a word means the row is not aligned with its header.
    for _, start in columns[1:]:
        if 0 < start < len(line) and line[start - 1] != " " and line[start] != " ":
            return None
    return _build_row(values)


def _row_by_gaps(line: str, columns: list[tuple[str, int]]) -> PsRow | None:
    """Assign cells split at 2+ spaces: columns before STATUS from the left, the rest from the right.

    Empty cells (often PORTS) vanish in such a split. Counting from both
    ends keeps NAMES and IMAGE right when one optional cell is missing.
    """
    cells = re.split(r"\s{2,}|\t", line.strip())
    names = [name for name, _ in columns]
    status_at = next((i for i, cell in enumerate(cells) if _STATUS_START.match(cell)), None)
    if status_at is None:
        return None
    status_column = names.index("STATUS")
    values: dict[str, str] = {}
    for offset, name in enumerate(names[:status_column]):
        if offset < status_at:
            values[name] = cells[offset]
    values["STATUS"] = cells[status_at]
    after_names = names[status_column + 1 :]
    after_cells = cells[status_at + 1 :]
    for name, cell in zip(reversed(after_names), reversed(after_cells), strict=False):
        values[name] = cell
    return _build_row(values)


_REPLICA = re.compile(r"^(?P<stem>.+?)[-_](?P<number>\d+)$")


def service_of_container(
    name: str,
    services: list[str],
    project: str | None = None,
    container_names: dict[str, str] | None = None,
) -> tuple[str | None, int | None]:
    """Return (service, replica number) for a container name, from compose naming.

    Compose names containers `<project>-<service>-<n>` (v1: underscores), or
    takes `container_name`. The longest service name that fits wins, so
    `api-worker` is preferred over `worker` for `shop-api-worker-1`.
    """
    if container_names and name in container_names:
        return container_names[name], None
    replica = _REPLICA.match(name)
    if replica is None:
        return (name, None) if name in services else (None, None)
    stem, number = replica.group("stem"), int(replica.group("number"))
    for service in sorted(services, key=len, reverse=True):
        if stem == service or stem.endswith(("-" + service, "_" + service)):
            prefix = stem[: len(stem) - len(service)].rstrip("-_")
            if project is None or not prefix or prefix == project:
                return service, number
    if not services:
        # No compose file: take what follows the project prefix.
        if project and stem.startswith((project + "-", project + "_")):
            return stem[len(project) + 1 :], number
        return stem, number
    return None, number


def common_project_prefix(names: list[str]) -> str | None:
    """Return the compose project name that all container names share, if they share one."""
    stems = [m.group("stem") for m in (_REPLICA.match(name) for name in names) if m]
    if len(stems) < 2:
        return None
    first = stems[0]
    for separator in ("-", "_"):
        candidate = first.split(separator, 1)[0]
        if candidate != first and all(stem.startswith(candidate + separator) for stem in stems):
            return candidate
    return None
