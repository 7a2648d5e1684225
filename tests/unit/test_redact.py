"""Masking secrets in everything a report shows."""

from __future__ import annotations

import copy
import json

import pytest
import run_builders as builders

from stackmedic.model import ComposeEdit, EvidenceRef, Repair, RepairStatus, RunRecord
from stackmedic.redact import SecretMasker, redact_record, redact_source, redact_text
from stackmedic.report.render import render_json, render_markdown

MASKED = [
    ("DB_PASSWORD=hunter2", "DB_PASSWORD=***"),
    ("+      - POSTGRES_PASSWORD=correct horse battery", "+      - POSTGRES_PASSWORD=***"),
    ("      API_TOKEN: 'abc def'  # rotated", "      API_TOKEN: '***'  # rotated"),
    ("    secret_key: s3cr3t", "    secret_key: ***"),
    ("export AWS_SECRET_ACCESS_KEY=wJalr", "export AWS_SECRET_ACCESS_KEY=***"),
    ("connecting with api_key=abc123 to host redis", "connecting with api_key=*** to host redis"),
    ('{"api_key": "abc", "port": 1}', '{"api_key": "***", "port": 1}'),
    ("{'password': 'abc'}", "{'password': '***'}"),
    ("GET /callback?token=abc&page=2", "GET /callback?token=***&page=2"),
    ("--password=xyz --verbose", "--password=*** --verbose"),
    ("sent Authorization: Bearer eyJhbGci to api", "sent Authorization: *** to api"),
    ("APP_CREDENTIALS=/run/secrets/app", "APP_CREDENTIALS=***"),
    ("REDIS_URL=redis://user:s3cr3t@redis:6379/0", "REDIS_URL=redis://user:***@redis:6379/0"),
    ("redis://:pw@redis:6379", "redis://:***@redis:6379"),
    ("postgresql://app:p%40ss@db/app?x=1", "postgresql://app:***@db/app?x=1"),
    ("a\nJWT_SECRET=zzz\r\nb", "a\nJWT_SECRET=***\r\nb"),
    # An item of an inspect payload's Env list: the value runs to the closing quote.
    (
        '"Env": ["PATH=/bin", "DB_PASSWORD=a b c", "X=1"]',
        '"Env": ["PATH=/bin", "DB_PASSWORD=***", "X=1"]',
    ),
    ("['API_TOKEN=tok en']", "['API_TOKEN=***']"),
    # Names with a secret part.
    ("DB_PASS=abc", "DB_PASS=***"),
    ("started with MYSQL_PWD=abc and more", "started with MYSQL_PWD=*** and more"),
    ("cfg REDIS_AUTH: xyz", "cfg REDIS_AUTH: ***"),
    ("cfg SENTRY_DSN=https://k@o1.example/5", "cfg SENTRY_DSN=***"),
    ("cfg GPG_PASSPHRASE=x", "cfg GPG_PASSPHRASE=***"),
    # A secret flag's value, on a command line and in an argument list.
    ("mysql --password hunter2 --host db", "mysql --password *** --host db"),
    (
        '["python", "-m", "app", "--api-key", "k-123"]',
        '["python", "-m", "app", "--api-key", "***"]',
    ),
    # A value repeated later in the same text without its name.
    (
        "found SECRET_KEY=s3cr3t-value; retrying with s3cr3t-value",
        "found SECRET_KEY=***; retrying with ***",
    ),
]

KEPT = [
    # Exception names contain KEY but are not secrets; the key is evidence.
    "KeyError: 'last_seen'",
    # Pattern codes are not secrets either.
    "KEY_ERROR: row['last_seen']",
    # A bare "key" is a dictionary key far more often than a secret.
    "missing key: 'last_seen'",
    "2026-12-04 20:31:40,551 - ERROR - Error getting workers status: 'last_seen'",
    # No secret word in the name.
    "TACORESERVICE_HOST=tacoreservice",
    # A port after a host is not a password: no `@` follows.
    "http://tacoreservice:8080/health",
    # An empty value has nothing to mask.
    "SECRET_KEY=",
    # Already masked.
    "DB_PASSWORD=***",
    # The working directory of a process is not a secret.
    '"Env": ["PWD=/app", "OLDPWD=/"]',
    # Words that contain a secret part only as a substring.
    "tests passed: 3, BYPASS_CACHE=1",
    "author: someone",
    # A flag without a secret name, and one followed by another flag.
    "redis-cli -h redis -p 6379 ping",
    "app --token-file --verbose",
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_secret_is_masked(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_text_without_secret_is_unchanged(text: str) -> None:
    assert redact_text(text) == text


def planted_run() -> RunRecord:
    """A run with a secret in each place a report shows run data."""
    run = builders.run_with_remaining_problems()
    cycle = run.cycles[0]
    cycle.findings[0].evidence.append(
        EvidenceRef(kind="log", origin="tacore-tacoreservice-1", text="DB_PASSWORD=hunter2", line=3)
    )
    cycle.findings[1].facts["variable"] = "BROKER_TOKEN"
    cycle.findings[1].facts["proposed"] = "tok-proposed-77"
    cycle.repairs.append(
        Repair(
            id="R009",
            finding_id="F001",
            code="MISSING_ENV",
            service="tacoreservice-worker",
            title="Set BROKER_TOKEN",
            edit=ComposeEdit(
                "set_env", "tacoreservice-worker", {"name": "BROKER_TOKEN", "value": "tok-edit-42"}
            ),
            status=RepairStatus.APPLIED,
            diff="--- a/docker-compose.yml\n+++ b/docker-compose.yml\n@@ -1 +1,2 @@\n"
            " environment:\n+  - BROKER_TOKEN=tok-diff-13\n",
        )
    )
    cycle.checks[1].detail = "GET http://admin:pa55word@tacoreservice:8080/api/workers -> 500"
    cycle.phases[0].calls.append(
        "docker compose exec redis redis-cli -u redis://:redispw@redis ping"
    )
    run.warnings.append("config: SECRET_KEY: warn-secret-9")
    return run


SECRETS = [
    "hunter2",
    "tok-proposed-77",
    "tok-edit-42",
    "tok-diff-13",
    "pa55word",
    "redispw",
    "warn-secret-9",
]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_planted_secrets_are_absent_from_markdown(lang: str) -> None:
    text = render_markdown(planted_run(), lang)

    for secret in SECRETS:
        assert secret not in text, secret
    assert "+  - BROKER_TOKEN=***" in text
    assert "DB_PASSWORD=***" in text
    assert "http://admin:***@tacoreservice:8080/api/workers" in text


def test_planted_secrets_are_absent_from_json() -> None:
    text = render_json(planted_run())

    for secret in SECRETS:
        assert secret not in text, secret
    document = json.loads(text)
    params = document["cycles"][0]["repairs"][-1]["edit"]["params"]
    assert params == {"name": "BROKER_TOKEN", "value": "***"}


def test_redact_record_leaves_the_original_unchanged() -> None:
    run = planted_run()
    before = copy.deepcopy(run)

    redacted = redact_record(run)

    assert run == before
    assert redacted != run
    assert redacted.cycles[0].repairs[-1].edit is not None
    assert redacted.cycles[0].repairs[-1].edit.params["value"] == "***"
    assert redacted.cycles[0].repairs[-1].status is RepairStatus.APPLIED


def test_dict_values_under_secret_keys_are_masked() -> None:
    run = builders.healthy_run()
    run.cycles[0].checks[0].observed = {
        "env": {"API_TOKEN": "tok-observed-5", "PORT": "8080"},
        "key": "last_seen",
        "max_tokens": 100,
    }

    redacted = redact_record(run).cycles[0].checks[0].observed

    assert redacted["env"] == {"API_TOKEN": "***", "PORT": "8080"}
    assert redacted["key"] == "last_seen"
    assert redacted["max_tokens"] == 100
    assert "tok-observed-5" not in render_json(run)


def test_facts_about_non_secret_variables_are_kept() -> None:
    run = builders.run_with_remaining_problems()

    redacted = redact_record(run)

    assert redacted.cycles[0].findings[0].facts["expected"] == "5556"
    assert redacted.cycles[0].findings[4].facts["key"] == "last_seen"
    assert redacted == run


def test_repeated_value_is_masked_across_a_record() -> None:
    run = builders.healthy_run()
    run.cycles[0].repairs[0].edit = ComposeEdit(
        "set_env", "tacoreservice-worker", {"name": "BROKER_TOKEN", "value": "tok-shared-1"}
    )
    run.cycles[0].repairs[0].prediction = "the worker gets tok-shared-1 instead of nothing"
    run.cycles[0].checks[0].detail = "worker logged in with tok-shared-1."

    redacted = redact_record(run)

    assert redacted.cycles[0].repairs[0].prediction == "the worker gets *** instead of nothing"
    assert redacted.cycles[0].checks[0].detail == "worker logged in with ***."


def test_repeated_value_is_masked_only_as_a_whole_token() -> None:
    masker = SecretMasker()
    masker.learn({"name": "KEY_PREFIX", "value": "tacore"})
    masker.learn({"REDIS_PASSWORD": "redis-pw-1"})

    assert masker.redact_text("project tacore started") == "project *** started"
    assert masker.redact_text("tacore-tacoreservice-1 exited") == "tacore-tacoreservice-1 exited"
    assert masker.redact_text("auth redis-pw-1, retry") == "auth ***, retry"


@pytest.mark.parametrize("value", ["12345678", "abc", "short"])
def test_short_or_numeric_values_are_not_masked_elsewhere(value: str) -> None:
    masker = SecretMasker()
    masker.learn(f"API_KEY={value}")

    assert masker.redact_text(f"API_KEY={value}") == "API_KEY=***"
    assert masker.redact_text(f"listening on {value}") == f"listening on {value}"


def test_masker_learns_before_masking_other_texts() -> None:
    masker = SecretMasker()
    masker.learn(["DB_PASSWORD=hunter22", "unrelated line"])

    assert masker.values == {"hunter22"}
    assert masker.redact(["login failed for hunter22", 5]) == ["login failed for ***", 5]


@pytest.mark.parametrize(
    "source, expected",
    [
        ("const apiKey = 'abc123';", "const apiKey = '***';"),
        ('password: str = "pw"', 'password: str = "***"'),
        ('"api_token": "x",', '"api_token": "***",'),
        ('dbPassword := "y"', 'dbPassword := "***"'),
        ("client_secret=`z`", "client_secret=`***`"),
        ("x = os.environ.get('X_TOKEN', 'dflt')", "x = os.environ.get('X_TOKEN', '***')"),
        ('REDIS_URL = "redis://:pw@cache:6379/0"', 'REDIS_URL = "redis://:***@cache:6379/0"'),
    ],
)
def test_source_secret_literals_are_masked(source: str, expected: str) -> None:
    assert redact_source(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        'name = "worker"',
        'PORT = os.getenv("PORT", "8000")',
        "token_count = 3",
        "print(os.environ['DB_PASSWORD'])",
        'KEY = "k"',
    ],
)
def test_source_without_secret_literals_is_unchanged(source: str) -> None:
    assert redact_source(source) == source
