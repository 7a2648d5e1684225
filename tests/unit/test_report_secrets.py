"""No secret reaches a report: planted values in compose, .env, logs and inspect output."""

from __future__ import annotations

import json

import pytest
import run_builders as builders

from stackmedic.model import (
    ComposeEdit,
    EvidenceRef,
    Recommendation,
    Repair,
    RepairStatus,
    RunRecord,
)
from stackmedic.report.render import render_html, render_json, render_markdown

COMPOSE_EXCERPT = """\
services:
  tacoreservice:
    environment:
      - DB_PASSWORD=pl4nted-list-pw
      - LOG_LEVEL=INFO
  tacoreservice-worker:
    environment:
      API_TOKEN: pl4nted-map-token
      REDIS_URL: redis://default:pl4nted-url-pw@redis:6379/0
      SECRET_KEY: "pl4nted quoted map"
"""

DOTENV = """\
POSTGRES_PASSWORD=pl4nted-dotenv-pw
export JWT_SECRET='pl4nted exported'
MYSQL_ROOT_PASS = pl4nted-spaced
TACORESERVICE_HOST=tacoreservice
"""

LOG_LINES = [
    "2026-12-04 20:31:02,118 - INFO - connecting to postgresql://app:pl4nted-log-pw@db:5432/app",
    "2026-12-04 20:31:02,120 - DEBUG - sent Authorization: Bearer pl4nted-bearer",
    "2026-12-04 20:31:02,121 - INFO - auth with token=pl4nted-log-token ok",
    "2026-12-04 20:31:02,122 - INFO - started with --password pl4nted-flag-pw",
]

INSPECT = json.dumps(
    {
        "Config": {
            "Env": [
                "PATH=/usr/local/bin:/usr/bin",
                "DB_PASSWORD=pl4nted inspect env",
                "MYSQL_PWD=pl4nted-pwd",
                "PWD=/app",
            ],
            "Cmd": ["python", "-m", "tacore.main", "--token", "pl4nted-cmd-token"],
        },
        "State": {"Status": "running"},
    }
)

PLANTED = [
    "pl4nted-list-pw",
    "pl4nted-map-token",
    "pl4nted-url-pw",
    "pl4nted quoted map",
    "pl4nted-dotenv-pw",
    "pl4nted exported",
    "pl4nted-spaced",
    "pl4nted-log-pw",
    "pl4nted-bearer",
    "pl4nted-log-token",
    "pl4nted-flag-pw",
    "pl4nted inspect env",
    "pl4nted-pwd",
    "pl4nted-cmd-token",
    "pl4nted-edit-value",
    "pl4nted-diff-map",
    "pl4nted-fact",
    "pl4nted-check-pw",
    "pl4nted-observed",
    "pl4nted-call-pw",
    "pl4nted-recommended",
    "pl4nted-warning",
]


def planted_run() -> RunRecord:
    """A run whose evidence, repairs, checks and notes carry planted secrets."""
    run = builders.run_with_remaining_problems()
    cycle = run.cycles[0]
    finding = cycle.findings[2]
    finding.evidence = [
        EvidenceRef("compose", "docker-compose.yml", COMPOSE_EXCERPT, line=1),
        EvidenceRef("compose", ".env", DOTENV, line=1),
        *(
            EvidenceRef("log", "tacore-tacoreservice-1", text, line=index, timestamp=builders.at(3))
            for index, text in enumerate(LOG_LINES, start=40)
        ),
        EvidenceRef("state", "tacore-tacoreservice-1", INSPECT),
    ]
    # A pattern that names the variable in its facts and repeats the value in its summary.
    finding.facts = {"variable": "DB_PASSWORD", "current": "pl4nted-fact", "code_default": "-"}
    finding.summary = "tacoreservice-worker: DB_PASSWORD is pl4nted-fact in compose"
    cycle.repairs.append(
        Repair(
            id="R009",
            finding_id=finding.id,
            code="MISSING_ENV",
            service="tacoreservice-worker",
            title="Set DB_PASSWORD=pl4nted-edit-value for tacoreservice-worker",
            edit=ComposeEdit(
                "set_env",
                "tacoreservice-worker",
                {"name": "DB_PASSWORD", "value": "pl4nted-edit-value"},
            ),
            prediction="DB_PASSWORD: pl4nted-fact (compose environment) -> pl4nted-edit-value",
            status=RepairStatus.APPLIED,
            diff="--- a/docker-compose.yml\n+++ b/docker-compose.yml\n@@ -6,3 +6,4 @@\n"
            "     environment:\n-      DB_PASSWORD: pl4nted-fact\n+      DB_PASSWORD: pl4nted-diff-map\n",
            files=["docker-compose.yml"],
        )
    )
    cycle.checks[
        1
    ].detail = "GET http://admin:pl4nted-check-pw@tacoreservice:8080/api/workers -> 500"
    cycle.checks[1].observed = {"env": {"API_KEY": "pl4nted-observed", "PORT": "8080"}}
    cycle.phases[3].calls.append(
        "docker compose exec db psql postgresql://app:pl4nted-call-pw@db/app -c 'select 1'"
    )
    run.recommendations.append(
        Recommendation("medium", "Rotate SECRET_KEY=pl4nted-recommended in .env", ".env:2")
    )
    run.warnings.append("could not read .env: JWT_SECRET: pl4nted-warning")
    run.remaining.append(finding)
    return run


RENDERERS = {
    "md-en": lambda run: render_markdown(run, "en"),
    "md-zh-CN": lambda run: render_markdown(run, "zh-CN"),
    "html-en": lambda run: render_html(run, "en"),
    "html-zh-CN": lambda run: render_html(run, "zh-CN"),
    "json": render_json,
}


@pytest.mark.parametrize("output", sorted(RENDERERS))
def test_no_planted_secret_in_report(output: str) -> None:
    text = RENDERERS[output](planted_run())

    leaked = [secret for secret in PLANTED if secret in text]

    assert leaked == []


@pytest.mark.parametrize("output", sorted(RENDERERS))
def test_masked_places_stay_readable(output: str) -> None:
    text = RENDERERS[output](planted_run())

    for masked in (
        "DB_PASSWORD=***",
        "API_TOKEN: ***",
        "redis://default:***@redis:6379/0",
        "POSTGRES_PASSWORD=***",
        "MYSQL_PWD=***",
        "TACORESERVICE_HOST=tacoreservice",
        "PWD=/app",
        "LOG_LEVEL=INFO",
    ):
        assert masked in text, masked


def test_json_masks_structured_values() -> None:
    document = json.loads(render_json(planted_run()))
    cycle = document["cycles"][0]

    assert cycle["repairs"][-1]["edit"]["params"] == {"name": "DB_PASSWORD", "value": "***"}
    assert cycle["findings"][2]["facts"]["current"] == "***"
    assert cycle["checks"][1]["observed"]["env"] == {"API_KEY": "***", "PORT": "8080"}
    assert (
        document["remaining"][-1]["summary"]
        == "tacoreservice-worker: DB_PASSWORD is *** in compose"
    )


def test_rendering_leaves_the_record_unmasked() -> None:
    run = planted_run()

    render_html(run, "en")
    render_markdown(run, "en")

    assert run.cycles[0].repairs[-1].edit is not None
    assert run.cycles[0].repairs[-1].edit.params["value"] == "pl4nted-edit-value"
