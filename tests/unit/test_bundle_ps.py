"""The `docker ps -a` / `docker compose ps` text parser used for hand-written bundles."""

from __future__ import annotations

import pytest

from stackmedic.evidence.ps_text import (
    common_project_prefix,
    duration_seconds,
    parse_ps,
    parse_status,
    service_of_container,
)

DOCKER_PS = """\
CONTAINER ID   IMAGE                 COMMAND                  CREATED          STATUS                      PORTS                                       NAMES
3f2a1b9c8d7e   shop-api:1.4          "gunicorn app:app"       26 minutes ago   Up 25 minutes (unhealthy)   0.0.0.0:8000->8000/tcp, :::8000->8000/tcp   shop-api-1
9a8b7c6d5e4f   postgres:16           "docker-entrypoint.s…"   26 minutes ago   Exited (137) 2 minutes ago                                               shop-db-1
1b2c3d4e5f60   shop-worker           "python -m worker"       26 minutes ago   Restarting (1) 5 seconds ago                                            shop-worker-2
"""

COMPOSE_PS = """\
NAME              IMAGE        COMMAND                  SERVICE   CREATED         STATUS                   PORTS
shop-cache-1      redis:7      "docker-entrypoint.s…"   cache     3 minutes ago   Up 3 minutes (healthy)   6379/tcp
shop-migrate-1    shop-api     "alembic upgrade head"   migrate   3 minutes ago   Exited (0) 2 minutes ago
"""


@pytest.mark.parametrize(
    ("text", "state", "health", "exit_code", "seconds"),
    [
        ("Up 25 minutes (unhealthy)", "running", "unhealthy", None, 1500.0),
        ("Up 3 seconds (health: starting)", "running", "starting", None, 3.0),
        ("Up About a minute (healthy)", "running", "healthy", None, 60.0),
        ("Up Less than a second", "running", None, None, 0.5),
        ("Up 2 hours (Paused)", "paused", None, None, 7200.0),
        ("Exited (137) 2 minutes ago", "exited", None, 137, 120.0),
        ("Exited (0) About an hour ago", "exited", None, 0, 3600.0),
        ("Restarting (1) 5 seconds ago", "restarting", None, 1, 5.0),
        ("Created", "created", None, None, None),
        ("Dead", "dead", None, None, None),
        ("running (unhealthy)", "running", "unhealthy", None, None),
        ("exited (2)", "exited", None, 2, None),
    ],
)
def test_status_text_parses_to_state(
    text: str, state: str, health: str | None, exit_code: int | None, seconds: float | None
) -> None:
    parsed = parse_status(text)
    assert parsed is not None
    assert parsed.state == state
    assert parsed.health == health
    assert parsed.exit_code == exit_code
    assert parsed.seconds == seconds


@pytest.mark.parametrize("text", ["", "2 minutes ago", "healthy", "0.0.0.0:80->80/tcp"])
def test_status_rejects_text_that_is_no_status(text: str) -> None:
    assert parse_status(text) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3 days", 259200.0), ("1 week", 604800.0), ("About an hour", 3600.0), ("nothing", None)],
)
def test_duration_words_convert_to_seconds(text: str, seconds: float | None) -> None:
    assert duration_seconds(text) == seconds


def test_docker_ps_rows_keep_names_images_and_ports() -> None:
    rows = parse_ps(DOCKER_PS)

    assert [row.name for row in rows] == ["shop-api-1", "shop-db-1", "shop-worker-2"]
    assert rows[0].image == "shop-api:1.4"
    assert rows[0].ports.startswith("0.0.0.0:8000->8000/tcp")
    assert rows[0].status.health == "unhealthy"
    assert rows[1].status.exit_code == 137
    assert rows[1].ports == ""
    assert rows[1].command == "docker-entrypoint.s…"
    assert rows[2].status.state == "restarting"
    assert rows[2].line == 4


def test_compose_ps_rows_carry_their_service() -> None:
    rows = parse_ps(COMPOSE_PS)

    assert [(row.name, row.service) for row in rows] == [
        ("shop-cache-1", "cache"),
        ("shop-migrate-1", "migrate"),
    ]
    assert rows[1].status.exit_code == 0


def test_realigned_rows_fall_back_to_gaps() -> None:
    # Pasted into an issue tracker that collapsed the padding of one row.
    text = (
        "CONTAINER ID   IMAGE   COMMAND   CREATED   STATUS   PORTS   NAMES\n"
        'abc123  redis:7  "redis-server"  2 hours ago  Up 2 hours  6379/tcp  app-redis-1\n'
        'def456  app-web  "node server.js"  2 hours ago  Exited (1) 1 hour ago  app-web-1\n'
    )
    rows = parse_ps(text)

    assert [(row.name, row.image, row.status.state) for row in rows] == [
        ("app-redis-1", "redis:7", "running"),
        ("app-web-1", "app-web", "exited"),
    ]
    assert rows[0].ports == "6379/tcp"
    assert rows[1].ports == ""


def test_format_table_with_names_and_status_only() -> None:
    text = "NAMES         STATUS\nproj-db-1     Up 5 minutes (healthy)\n"
    [row] = parse_ps(text)

    assert row.name == "proj-db-1"
    assert row.status.health == "healthy"


def test_lines_before_header_and_noise_are_skipped() -> None:
    text = "$ docker ps -a\n\n" + DOCKER_PS + "\n$ echo done\n"

    assert len(parse_ps(text)) == 3


def test_text_without_header_gives_no_rows() -> None:
    assert parse_ps("shop-api-1   Up 2 minutes\n") == []


@pytest.mark.parametrize(
    ("name", "services", "project", "expected"),
    [
        ("shop-api-1", ["api", "db"], "shop", ("api", 1)),
        ("shop_api_2", ["api", "db"], "shop", ("api", 2)),
        ("shop-api-worker-1", ["worker", "api-worker"], "shop", ("api-worker", 1)),
        ("shop-api-1", ["api"], None, ("api", 1)),
        ("other-api-1", ["api"], "shop", (None, 1)),
        ("my-db", ["db"], None, (None, None)),
        ("proj-web-3", [], "proj", ("web", 3)),
    ],
)
def test_service_is_derived_from_compose_naming(
    name: str, services: list[str], project: str | None, expected: tuple[str | None, int | None]
) -> None:
    assert service_of_container(name, services, project) == expected


def test_container_name_setting_maps_to_its_service() -> None:
    assert service_of_container("legacy-db", ["db"], "shop", {"legacy-db": "db"}) == ("db", None)


def test_project_prefix_is_shared_by_all_names() -> None:
    assert common_project_prefix(["shop-api-1", "shop-db-1"]) == "shop"
    assert common_project_prefix(["shop-api-1", "mall-db-1"]) is None
    assert common_project_prefix(["shop-api-1"]) is None
