"""Database patterns: DB_AUTH_FAILED, DATABASE_MISSING, DATA_DIR_INCOMPATIBLE, TABLE_MISSING, REDIS_AUTH_FAILED."""

from __future__ import annotations

from typing import Any

import pytest
from evidence_builders import container, evidence, logs, run

from stackmedic.patterns.database import (
    DatabaseAuthFailed,
    DatabaseMissing,
    DataDirIncompatible,
    RedisAuthFailed,
    TableMissing,
)

PG = {
    "image": "postgres:16",
    "environment": {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "right", "POSTGRES_DB": "app"},
}


def two(
    services: dict[str, Any], api_lines: list[str], db_lines: list[str] | None = None, **api: Any
) -> Any:
    containers = [container("p-api-1", "api", lines=logs(*api_lines), **api)]
    if db_lines is not None:
        containers.append(container("p-db-1", "db", lines=logs(*db_lines)))
    return evidence(services, containers)


# --- DB_AUTH_FAILED -----------------------------------------------------------------


def test_password_differing_from_server_is_copied_to_client() -> None:
    built = two(
        {
            "db": PG,
            "api": {"environment": {"DB_HOST": "db", "DB_USER": "app", "DB_PASSWORD": "wrong"}},
        },
        ['FATAL:  password authentication failed for user "app"'],
    )
    [finding] = run(DatabaseAuthFailed(), built)

    assert finding.facts["kind"] == "password_mismatch"
    assert finding.facts["server_service"] == "db"
    assert finding.repairs[0].edit.params == {"name": "DB_PASSWORD", "value": "right"}


def test_user_differing_inside_url_is_rewritten_in_place() -> None:
    built = two(
        {
            "db": PG,
            "api": {"environment": {"DATABASE_URL": "postgresql://postgres:right@db:5432/app"}},
        },
        ['password authentication failed for user "postgres"'],
    )
    [finding] = run(DatabaseAuthFailed(), built)

    assert finding.facts["kind"] == "user_mismatch"
    assert finding.repairs[0].edit.params == {
        "name": "DATABASE_URL",
        "value": "postgresql://app:right@db:5432/app",
    }


def test_mysql_access_denied_compares_mysql_settings() -> None:
    mysql = {"image": "mysql:8.0", "environment": {"MYSQL_USER": "shop", "MYSQL_PASSWORD": "a-b"}}
    built = two(
        {
            "mysql": mysql,
            "api": {"environment": {"DB_HOST": "mysql", "DB_USER": "shop", "DB_PASSWORD": "ab"}},
        },
        ["SQLSTATE[HY000] [1045] Access denied for user 'shop'@'172.1.0.3' (using password: YES)"],
    )
    [finding] = run(DatabaseAuthFailed(), built)

    assert finding.repairs[0].edit.params == {"name": "DB_PASSWORD", "value": "a-b"}


def test_volume_initialised_earlier_gets_no_edit() -> None:
    built = two(
        {
            "db": PG,
            "api": {"environment": {"DB_HOST": "db", "DB_USER": "app", "DB_PASSWORD": "right"}},
        },
        ['pq: password authentication failed for user "app"'],
        ["PostgreSQL Database directory appears to contain a database; Skipping initialization"],
    )
    [finding] = run(DatabaseAuthFailed(), built)

    assert finding.facts["kind"] == "initialised_earlier"
    assert finding.repairs == []
    assert "ALTER USER" in finding.recommendation


def test_masked_passwords_are_not_compared() -> None:
    built = two(
        {
            "db": {"image": "postgres:16", "environment": {"POSTGRES_PASSWORD": "***"}},
            "api": {"environment": {"DB_HOST": "db", "DB_PASSWORD": "***"}},
        },
        ['password authentication failed for user "postgres"'],
    )
    [finding] = run(DatabaseAuthFailed(), built)

    assert finding.facts["kind"] == "unknown"
    assert finding.repairs == []


def test_rejection_in_server_log_only_is_reported_on_server() -> None:
    built = two(
        {"db": PG, "api": {}}, ["starting"], ['FATAL:  password authentication failed for user "x"']
    )
    [finding] = run(DatabaseAuthFailed(), built)

    assert finding.service == "db"


def test_rejection_logged_by_both_is_reported_once_on_client() -> None:
    line = 'FATAL:  password authentication failed for user "app"'
    built = two({"db": PG, "api": {"environment": {"DB_HOST": "db"}}}, [line], [line])

    assert [f.service for f in run(DatabaseAuthFailed(), built)] == ["api"]


def test_auth_pattern_must_not_match_success_lines() -> None:
    built = two(
        {"db": PG, "api": {}}, ["authenticated user app", "connection authorized: user=app"]
    )

    assert run(DatabaseAuthFailed(), built) == []


# --- DATABASE_MISSING ----------------------------------------------------------------


def test_client_pointed_at_the_database_the_server_creates() -> None:
    built = two(
        {
            "db": PG,
            "api": {"environment": {"DATABASE_URL": "postgresql://app:right@db:5432/orders"}},
        },
        ['FATAL:  database "orders" does not exist'],
    )
    [finding] = run(DatabaseMissing(), built)

    assert finding.facts["server_database"] == "app"
    assert finding.repairs[0].edit.service == "api"
    assert finding.repairs[0].edit.params == {
        "name": "DATABASE_URL",
        "value": "postgresql://app:right@db:5432/app",
    }


def test_server_without_database_setting_gets_it_on_fresh_volume() -> None:
    server = {"image": "postgres:16", "environment": {"POSTGRES_PASSWORD": "x"}}
    built = two(
        {"db": server, "api": {"environment": {"DB_HOST": "db"}}},
        ['database "orders" does not exist'],
    )
    [finding] = run(DatabaseMissing(), built)

    assert finding.repairs[0].edit.service == "db"
    assert finding.repairs[0].edit.params == {"name": "POSTGRES_DB", "value": "orders"}


def test_server_volume_initialised_earlier_gets_no_edit() -> None:
    server = {"image": "postgres:16", "environment": {"POSTGRES_PASSWORD": "x"}}
    built = two(
        {"db": server, "api": {"environment": {"DB_HOST": "db"}}},
        ['database "orders" does not exist'],
        ["PostgreSQL Database directory appears to contain a database; Skipping initialization"],
    )
    [finding] = run(DatabaseMissing(), built)

    assert finding.repairs == []
    assert "CREATE DATABASE orders" in finding.recommendation


def test_mysql_unknown_database() -> None:
    mysql = {"image": "mariadb:11", "environment": {"MARIADB_DATABASE": "shop"}}
    built = two(
        {"mysql": mysql, "api": {"environment": {"DB_HOST": "mysql", "DB_NAME": "shopdb"}}},
        ["ERROR 1049 (42000): Unknown database 'shopdb'"],
    )
    [finding] = run(DatabaseMissing(), built)

    assert finding.facts["database"] == "shopdb"


# --- DATA_DIR_INCOMPATIBLE -----------------------------------------------------------


def test_old_postgres_volume_names_versions_and_pinned_image() -> None:
    server = {
        "image": "postgres:latest",
        "volumes": [{"type": "volume", "source": "pg", "target": "/var/lib/postgresql/data"}],
    }
    built = evidence(
        {"db": server},
        [
            container(
                "p-db-1",
                "db",
                state="restarting",
                lines=logs(
                    "FATAL:  database files are incompatible with server",
                    "DETAIL:  The data directory was initialized by PostgreSQL version 13, which is not"
                    " compatible with this version 16.2 (Debian 16.2-1.pgdg120+2).",
                ),
            )
        ],
    )
    [finding] = run(DataDirIncompatible(), built)

    assert (finding.facts["old_version"], finding.facts["new_version"]) == ("13", "16.2")
    assert finding.facts["pinned_image"] == "postgres:13"
    assert finding.facts["volume"] == "pg"
    assert finding.repairs == []


def test_mysql_downgrade_is_incompatible() -> None:
    built = evidence(
        {"db": {"image": "mysql:8.0"}},
        [
            container(
                "p-db-1",
                "db",
                lines=logs(
                    "[ERROR] [MY-013171] [InnoDB] Cannot boot server version 80036 on data directory built by version 80100. Downgrade is not supported"
                ),
            )
        ],
    )
    [finding] = run(DataDirIncompatible(), built)

    assert finding.facts["old_version"] == "80100"


def test_compatible_start_must_not_match() -> None:
    built = evidence(
        {"db": {"image": "postgres:16"}},
        [container("p-db-1", "db", lines=logs("database system is ready to accept connections"))],
    )

    assert run(DataDirIncompatible(), built) == []


# --- TABLE_MISSING -------------------------------------------------------------------


def test_migration_service_not_awaited_is_added_to_depends_on() -> None:
    built = evidence(
        {
            "migrate": {"command": ["python", "manage.py", "migrate"]},
            "web": {"depends_on": {"db": {"condition": "service_healthy"}}},
            "db": {},
        },
        [
            container(
                "p-web-1",
                "web",
                lines=logs('psycopg2.errors.UndefinedTable: relation "forum_topic" does not exist'),
            )
        ],
    )
    [finding] = run(TableMissing(), built)

    assert finding.facts["table"] == "forum_topic"
    assert finding.facts["migration_services"] == ["migrate"]
    assert finding.repairs[0].edit.params == {
        "conditions": {"migrate": "service_completed_successfully"}
    }


def test_failed_migration_is_named_instead_of_an_edit() -> None:
    built = evidence(
        {"migrate": {"command": "alembic upgrade head"}, "web": {}},
        [
            container(
                "p-web-1", "web", lines=logs("sqlite3.OperationalError: no such table: users")
            ),
            container("p-migrate-1", "migrate", state="exited", exit_code=1),
        ],
    )
    [finding] = run(TableMissing(), built)

    assert finding.facts["failed_migrations"] == ["migrate"]
    assert finding.repairs == []


def test_no_migration_service_recommends_running_migrations() -> None:
    built = evidence(
        {"web": {}}, [container("p-web-1", "web", lines=logs("Table 'shop.orders' doesn't exist"))]
    )
    [finding] = run(TableMissing(), built)

    assert finding.facts["table"] == "orders"
    assert finding.repairs == []
    assert "migrations" in finding.recommendation


def test_awaited_migration_gets_no_edit() -> None:
    built = evidence(
        {
            "migrate": {"command": ["flyway", "migrate"]},
            "web": {"depends_on": {"migrate": {"condition": "service_completed_successfully"}}},
        },
        [container("p-web-1", "web", lines=logs('relation "orders" does not exist'))],
    )
    [finding] = run(TableMissing(), built)

    assert finding.repairs == []


# --- REDIS_AUTH_FAILED ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("ReplyError: NOAUTH Authentication required.", "required"),
        (
            "redis.exceptions.AuthenticationError: invalid username-password pair or user is disabled.",
            "wrong",
        ),
        ("WRONGPASS invalid username-password pair or user is disabled.", "wrong"),
        (
            "ERR AUTH <password> called without any password configured for the default user.",
            "unset",
        ),
    ],
)
def test_redis_auth_kinds(line: str, kind: str) -> None:
    built = evidence(
        {
            "redis": {"image": "redis:7", "command": ["redis-server", "--requirepass", "x"]},
            "app": {"environment": {"REDIS_URL": "redis://redis:6379/0"}},
        },
        [container("p-app-1", "app", lines=logs(line))],
    )
    [finding] = run(RedisAuthFailed(), built)

    assert finding.facts["kind"] == kind
    assert finding.facts["server_service"] == "redis"
    assert finding.repairs == []


def test_redis_server_own_log_must_not_match() -> None:
    built = evidence(
        {"redis": {"image": "redis:7"}},
        [container("p-redis-1", "redis", lines=logs("NOAUTH Authentication required."))],
    )

    assert run(RedisAuthFailed(), built) == []
