"""Settings and storage patterns: COMPOSE_VARIABLE_UNSET, CONFIG_FILE_NOT_FOUND, BIND_MOUNT_SOURCE_MISSING, DISK_FULL."""

from __future__ import annotations

import pytest
from evidence_builders import PROJECT_DIR, container, evidence, logs, run

from stackmedic.evidence.model import SourceFile
from stackmedic.patterns.settings import ComposeVariableUnset, ConfigFileNotFound
from stackmedic.patterns.storage import BindMountSourceMissing, DiskFull

RAW = """\
services:
  db:
    image: postgres:${PG_TAG:-16}
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD}
  # ${IN_COMMENT} is not read
  api:
    environment:
      - DATABASE_URL=postgres://app:${DB_PASSWORD}@db/app
"""


def with_raw(
    services: dict, containers: list | None = None, warnings: list[str] | None = None
) -> object:
    built = evidence(services, containers)
    built.compose_texts = {f"{PROJECT_DIR}/compose.yaml": RAW}
    built.warnings = list(warnings or [])
    return built


# --- COMPOSE_VARIABLE_UNSET -----------------------------------------------------------


def test_warning_and_blank_value_give_one_finding_per_service() -> None:
    built = with_raw(
        {
            "db": {"environment": {"POSTGRES_PASSWORD": ""}},
            "api": {"environment": {"DATABASE_URL": "postgres://app:@db/app"}},
        },
        [
            container(
                "p-db-1",
                "db",
                lines=logs("You must specify POSTGRES_PASSWORD to a non-empty value"),
            )
        ],
        ['The "DB_PASSWORD" variable is not set. Defaulting to a blank string.'],
    )
    findings = {f.service: f for f in run(ComposeVariableUnset(), built)}

    assert set(findings) == {"api", "db"}
    db = findings["db"]
    assert db.facts["variable"] == "DB_PASSWORD"
    assert db.facts["keys"] == ["POSTGRES_PASSWORD"]
    assert (db.facts["file"], db.facts["line"]) == ("compose.yaml", 5)
    assert db.facts["consequence"] == "You must specify POSTGRES_PASSWORD to a non-empty value"
    assert db.confidence > findings["api"].confidence
    assert db.repairs == []


def test_blank_value_without_warning_is_found_from_the_config() -> None:
    # Once one use shows the variable resolved blank, every use of it is reported.
    built = with_raw({"db": {"environment": {"POSTGRES_PASSWORD": ""}}, "api": {}})
    findings = {f.service: f for f in run(ComposeVariableUnset(), built)}

    assert set(findings) == {"api", "db"}
    assert findings["db"].facts["warning"] is None
    assert findings["db"].facts["keys"] == ["POSTGRES_PASSWORD"]


@pytest.mark.parametrize(
    ("services", "warnings", "reason"),
    [
        # The variable was set: the resolved value is not blank and Compose did not warn.
        ({"db": {"environment": {"POSTGRES_PASSWORD": "x"}}, "api": {}}, [], "set"),
        # A default (${PG_TAG:-16}) never becomes blank.
        (
            {"db": {"image": "postgres:16"}, "api": {}},
            ['The "OTHER" variable is not set.'],
            "default",
        ),
    ],
)
def test_compose_variable_unset_must_not_match(
    services: dict, warnings: list[str], reason: str
) -> None:
    assert run(ComposeVariableUnset(), with_raw(services, None, warnings)) == [], reason


# --- CONFIG_FILE_NOT_FOUND --------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "FileNotFoundError: [Errno 2] No such file or directory: '/etc/app/config.yaml'",
        "open /etc/app/config.yaml: no such file or directory",
        "Error: ENOENT: no such file or directory, open '/etc/app/config.yaml'",
        "java.io.FileNotFoundException: /etc/app/config.yaml (No such file or directory)",
    ],
)
def test_missing_config_file_is_found_in_each_language(line: str) -> None:
    built = evidence({"a": {}}, [container("p-a-1", "a", lines=logs(line))])
    [finding] = run(ConfigFileNotFound(), built)

    assert finding.facts["path"] == "/etc/app/config.yaml"


def test_variable_pointing_at_wrong_extension_is_corrected() -> None:
    sources = [
        SourceFile("a", "Dockerfile", "FROM python:3.12\nWORKDIR /srv\nCOPY . .\n"),
        SourceFile("a", "conf/jobs.yml", "jobs: []\n"),
    ]
    built = evidence(
        {
            "a": {
                "build": {"context": ".", "dockerfile": "Dockerfile"},
                "environment": {"JOBS": "/srv/conf/jobs.yaml"},
            }
        },
        [container("p-a-1", "a", lines=logs("No such file or directory: '/srv/conf/jobs.yaml'"))],
        sources,
    )
    [finding] = run(ConfigFileNotFound(), built)

    assert finding.facts["replacement"] == "/srv/conf/jobs.yml"
    assert finding.repairs[0].edit.params == {"name": "JOBS", "value": "/srv/conf/jobs.yml"}


def test_missing_file_under_bind_mount_names_host_side() -> None:
    built = evidence(
        {"a": {"volumes": [{"type": "bind", "source": "./conf", "target": "/etc/app"}]}},
        [container("p-a-1", "a", lines=logs("open /etc/app/app.conf: no such file or directory"))],
    )
    [finding] = run(ConfigFileNotFound(), built)

    assert finding.facts["mount_source"] == "./conf"
    assert "./conf/app.conf" in finding.recommendation


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("FileNotFoundError: [Errno 2] No such file or directory: '/data/report.csv'", "data file"),
        ("exec /docker-entrypoint.sh: no such file or directory", "entrypoint"),
    ],
)
def test_config_file_not_found_must_not_match(line: str, reason: str) -> None:
    built = evidence({"a": {}}, [container("p-a-1", "a", lines=logs(line))])

    assert run(ConfigFileNotFound(), built) == [], reason


# --- BIND_MOUNT_SOURCE_MISSING ----------------------------------------------------------


def test_file_mount_that_became_directory() -> None:
    built = evidence(
        {"edge": {"volumes": ["./deploy/nginx.conf:/etc/nginx/nginx.conf:ro"]}},
        [
            container(
                "p-edge-1",
                "edge",
                lines=logs(
                    'nginx: [emerg] pread() "/etc/nginx/nginx.conf" failed (21: Is a directory)'
                ),
            )
        ],
    )
    [finding] = run(BindMountSourceMissing(), built)

    assert finding.facts["source"] == "./deploy/nginx.conf"
    assert finding.facts["target"] == "/etc/nginx/nginx.conf"
    assert finding.repairs == []


def test_engine_refuses_missing_bind_source() -> None:
    built = evidence(
        {"a": {"volumes": [{"type": "bind", "source": "/srv/data/in", "target": "/in"}]}},
        [
            container(
                "p-a-1",
                "a",
                state="created",
                error='invalid mount config for type "bind": bind source path does not exist: /srv/data/in',
            )
        ],
    )
    [finding] = run(BindMountSourceMissing(), built)

    assert finding.facts["target"] == "/in"


def test_directory_error_outside_a_file_mount_must_not_match() -> None:
    # A program reading a folder it was handed is a code error, not a mount problem.
    built = evidence(
        {"a": {"volumes": ["data:/var/data"]}},
        [
            container(
                "p-a-1",
                "a",
                lines=logs("IsADirectoryError: [Errno 21] Is a directory: '/var/data/in'"),
            )
        ],
    )

    assert run(BindMountSourceMissing(), built) == []


# --- DISK_FULL --------------------------------------------------------------------------


def test_full_disk_names_the_volume() -> None:
    built = evidence(
        {
            "db": {
                "volumes": [
                    {"type": "volume", "source": "pg", "target": "/var/lib/postgresql/data"}
                ]
            }
        },
        [
            container(
                "p-db-1",
                "db",
                lines=logs(
                    'PANIC:  could not write to file "pg_wal/xlogtemp.1": No space left on device'
                ),
            )
        ],
    )
    [finding] = run(DiskFull(), built)

    assert finding.facts["path"] == "pg_wal/xlogtemp.1"
    assert finding.repairs == []


def test_client_relaying_redis_misconf_must_not_match() -> None:
    built = evidence(
        {"redis": {}, "api": {}},
        [
            container(
                "p-api-1",
                "api",
                lines=logs(
                    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk."
                ),
            )
        ],
    )

    assert run(DiskFull(), built) == []
