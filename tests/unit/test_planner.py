"""Effect prediction: every proposed repair is PLANNED with a prediction or REJECTED with a reason."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from evidence_builders import load_evidence

from stackmedic.analysis import analyse
from stackmedic.evidence.facts import Endpoint, EnvRead, ImageEnv, SourceFacts
from stackmedic.evidence.model import ContainerEvidence, Evidence, SourceFile
from stackmedic.i18n import message_text
from stackmedic.model import (
    Category,
    ComposeEdit,
    Finding,
    Fixability,
    Repair,
    RepairStatus,
)
from stackmedic.repair import probe as probes
from stackmedic.repair.planner import plan_repairs

FIXTURES = Path(__file__).parent / "fixtures" / "compose"
MESSAGES = Path(__file__).parents[2] / "src" / "stackmedic" / "messages"
SOURCE = Path(__file__).parents[2] / "src" / "stackmedic" / "repair"
WORKER = "tacoreservice-worker"
HTTP_PROBE = [
    "CMD",
    "python",
    "-c",
    "import urllib.request; urllib.request.urlopen('http://localhost:8080/health', timeout=3)",
]


def sample_config() -> dict[str, Any]:
    """The resolved config (`docker compose config --format json`) of the broken sample."""
    return {
        "name": "tacore",
        "services": {
            "redis": {
                "image": "stackmedic/redis:bookworm",
                "healthcheck": {
                    "test": ["CMD", "redis-cli", "ping"],
                    "interval": "5s",
                    "timeout": "3s",
                    "retries": 5,
                },
            },
            "tacoreservice": {
                "environment": {
                    "TACORESERVICE_ENV": "production",
                    "TACORESERVICE_LOG_LEVEL": "INFO",
                    "REDIS_URL": "redis://redis:6379/0",
                    "DATABASE_PATH": "/app/data/tacoreservice.db",
                },
                "depends_on": {"redis": {"condition": "service_started", "required": True}},
                "healthcheck": {"test": HTTP_PROBE, "interval": "5s", "retries": 3},
            },
            WORKER: {
                "environment": {
                    "TACORESERVICE_ENV": "production",
                    "TACORESERVICE_LOG_LEVEL": "INFO",
                    "REDIS_URL": "redis://redis:6379/0",
                    "DATABASE_PATH": "data/tacoreservice.db",
                },
                "depends_on": {
                    "tacoreservice": {"condition": "service_started", "required": True},
                    "redis": {"condition": "service_started", "required": True},
                },
                "deploy": {"replicas": 2},
                "healthcheck": {
                    "test": HTTP_PROBE,
                    "interval": "5s",
                    "timeout": "3s",
                    "retries": 3,
                    "start_period": "10s",
                },
            },
        },
    }


def worker_container(number: int, **changes: Any) -> ContainerEvidence:
    container = ContainerEvidence(
        id=f"c{number}",
        name=f"tacore-tacoreservice-worker-{number}",
        service=WORKER,
        image="tacore-tacoreservice-worker",
        state="running",
        health="unhealthy",
        healthcheck={"Test": HTTP_PROBE, "Interval": 5_000_000_000, "Retries": 3},
        exit_code=0,
        env={"TACORESERVICE_ENV": "production", "PATH": "/usr/local/bin:/usr/bin"},
    )
    for key, value in changes.items():
        setattr(container, key, value)
    return container


@pytest.fixture()
def evidence(tmp_path: Path) -> Evidence:
    shutil.copy(FIXTURES / "tacoreservice.yml", tmp_path / "docker-compose.yml")
    return Evidence(
        project_name="tacore",
        project_dir=str(tmp_path),
        compose_files=["docker-compose.yml"],
        compose_config=sample_config(),
        containers=[worker_container(1), worker_container(2)],
        sources=[
            SourceFile(WORKER, "tacore/worker.py", "", "/app/tacore/worker.py"),
            SourceFile(WORKER, "tacore/worker_health.py", "", "/app/tacore/worker_health.py"),
            SourceFile("tacoreservice", "tacore/main.py", "", "/app/tacore/main.py"),
        ],
    )


@pytest.fixture()
def facts() -> SourceFacts:
    return SourceFacts(
        env_reads=[
            EnvRead(WORKER, "TACORESERVICE_HOST", "tacoreservice", "tacore/worker.py", 22),
            EnvRead(WORKER, "TACORESERVICE_BACKEND_PORT", "5555", "tacore/worker.py", 23),
            EnvRead(WORKER, "DATABASE_PATH", "data/tacoreservice.db", "tacore/worker.py", 30),
            EnvRead("tacoreservice", "TACORESERVICE_BACKEND_PORT", "5556", "tacore/main.py", 41),
        ],
        endpoints=[
            Endpoint("tacoreservice", "bind", "tcp", "*", 5555, "tacore/broker.py", 30),
            Endpoint("tacoreservice", "bind", "tcp", "*", 5556, "tacore/broker.py", 31),
            Endpoint("tacoreservice", "bind", "http", "0.0.0.0", 8080, "tacore/main.py", 90),
        ],
    )


def finding(finding_id: str, code: str, *repairs: Repair, service: str = WORKER) -> Finding:
    return Finding(
        id=finding_id,
        code=code,
        service=service,
        summary=code,
        confidence=0.8,
        category=Category.CONFIGURATION,
        fixable_by=Fixability.COMPOSE,
        repairs=list(repairs),
    )


def repair(
    repair_id: str, finding_id: str, action: str, service: str = WORKER, **params: Any
) -> Repair:
    return Repair(
        id=repair_id,
        finding_id=finding_id,
        code="TEST",
        service=service,
        title=action,
        rationale="because",
        edit=ComposeEdit(action, service, params),
    )


def plan_one(evidence: Evidence, facts: SourceFacts, proposal: Repair, **options: Any) -> Repair:
    planned = plan_repairs(
        [finding(proposal.finding_id, "TEST", proposal)], evidence, facts, **options
    )
    assert len(planned) == 1
    return planned[0]


# set_env


def test_env_equal_to_code_default_rejected(evidence: Evidence, facts: SourceFacts) -> None:
    host = repair("R2", "F2", "set_env", name="TACORESERVICE_HOST", value="tacoreservice")

    planned = plan_one(evidence, facts, host)

    assert planned.status == RepairStatus.REJECTED
    assert planned.reason == (
        "no effect: TACORESERVICE_HOST is already tacoreservice "
        "(code default in tacore/worker.py:22)"
    )


def test_env_differing_from_default_planned(evidence: Evidence, facts: SourceFacts) -> None:
    port = repair("R1", "F1", "set_env", name="TACORESERVICE_BACKEND_PORT", value="5556")

    planned = plan_one(evidence, facts, port)

    assert planned.status == RepairStatus.PLANNED
    assert planned.prediction == (
        "TACORESERVICE_BACKEND_PORT: 5555 (code default in tacore/worker.py:23) -> 5556"
    )
    assert planned.files == ["docker-compose.yml"]
    assert planned.reason == ""


def test_env_compose_value_wins_over_code_default(evidence: Evidence, facts: SourceFacts) -> None:
    same = repair("R1", "F1", "set_env", name="DATABASE_PATH", value="data/tacoreservice.db")
    other = repair("R2", "F1", "set_env", name="DATABASE_PATH", value="/app/data/worker.db")

    rejected, planned = plan_repairs([finding("F1", "X", same, other)], evidence, facts)

    assert rejected.status == RepairStatus.REJECTED
    assert "(compose environment)" in rejected.reason
    assert planned.prediction == (
        "DATABASE_PATH: data/tacoreservice.db (compose environment) -> /app/data/worker.db"
    )


def test_env_image_value_seen_in_container(evidence: Evidence, facts: SourceFacts) -> None:
    evidence.containers[0].env["TACORESERVICE_BACKEND_PORT"] = "5556"
    port = repair("R1", "F1", "set_env", name="TACORESERVICE_BACKEND_PORT", value="5556")

    planned = plan_one(evidence, facts, port)

    assert planned.status == RepairStatus.REJECTED
    assert "image environment, seen in container tacore-tacoreservice-worker-1" in planned.reason


def test_env_dockerfile_env_counts_as_current_value(evidence: Evidence, facts: SourceFacts) -> None:
    facts.image_env.append(ImageEnv(WORKER, "PYTHONUNBUFFERED", "1", "Dockerfile.worker", 5))
    unbuffered = repair("R1", "F1", "set_env", name="PYTHONUNBUFFERED", value="1")

    planned = plan_one(evidence, facts, unbuffered)

    assert planned.status == RepairStatus.REJECTED
    assert planned.reason == "no effect: PYTHONUNBUFFERED is already 1 (ENV in Dockerfile.worker:5)"


def test_env_dockerfile_run_read_is_not_a_default(evidence: Evidence, facts: SourceFacts) -> None:
    # ${LOG_DIR:-/var/log} in a RUN line is read while the image builds, not by the service.
    facts.env_reads.append(EnvRead(WORKER, "LOG_DIR", "/var/log", "Dockerfile.worker", 8))
    log_dir = repair("R1", "F1", "set_env", name="LOG_DIR", value="/var/log")

    planned = plan_one(evidence, facts, log_dir)

    assert planned.status == RepairStatus.PLANNED
    assert "unset" in planned.prediction


def test_env_read_without_default_is_unset(evidence: Evidence, facts: SourceFacts) -> None:
    facts.env_reads.append(
        EnvRead(WORKER, "API_TOKEN", None, "tacore/worker.py", 40, required=True)
    )
    token = repair("R1", "F1", "set_env", name="API_TOKEN", value="abc")

    planned = plan_one(evidence, facts, token)

    assert planned.status == RepairStatus.PLANNED
    assert planned.prediction == (
        "API_TOKEN: unset (read without a default in tacore/worker.py:40) -> abc"
    )


def test_env_never_read_is_planned_and_says_so(evidence: Evidence, facts: SourceFacts) -> None:
    unknown = repair("R1", "F1", "set_env", name="UNUSED", value="1")

    planned = plan_one(evidence, facts, unknown)

    assert planned.status == RepairStatus.PLANNED
    assert (
        "unset (no read of UNUSED found in the source of tacoreservice-worker)"
        in planned.prediction
    )


def test_env_with_conflicting_defaults_is_planned(evidence: Evidence, facts: SourceFacts) -> None:
    facts.env_reads.append(
        EnvRead(WORKER, "TACORESERVICE_HOST", "localhost", "tacore/client.py", 9)
    )
    host = repair("R1", "F1", "set_env", name="TACORESERVICE_HOST", value="tacoreservice")

    planned = plan_one(evidence, facts, host)

    assert planned.status == RepairStatus.PLANNED
    assert (
        "tacoreservice, localhost (code defaults in tacore/worker.py:22, tacore/client.py:9)"
        in (planned.prediction)
    )


def test_env_reaching_read_without_default_planned(evidence: Evidence, facts: SourceFacts) -> None:
    facts.env_reads.append(EnvRead(WORKER, "TACORESERVICE_HOST", None, "tacore/health.py", 4))
    host = repair("R1", "F1", "set_env", name="TACORESERVICE_HOST", value="tacoreservice")

    planned = plan_one(evidence, facts, host)

    assert planned.status == RepairStatus.PLANNED
    assert "tacore/health.py:4" in planned.prediction


def interpolate_backend_port(evidence: Evidence, expression: str, dotenv: str | None) -> None:
    """Give the worker TACORESERVICE_BACKEND_PORT=<expression> in the compose file, and write .env."""
    compose = Path(evidence.project_dir) / "docker-compose.yml"
    compose.write_text(
        compose.read_text().replace(
            "      - DATABASE_PATH=data/tacoreservice.db\n",
            "      - DATABASE_PATH=data/tacoreservice.db\n"
            f"      - TACORESERVICE_BACKEND_PORT={expression}\n",
        )
    )
    if dotenv is not None:
        (Path(evidence.project_dir) / ".env").write_text(dotenv)


def port_proposal() -> Repair:
    return repair("R1", "F1", "set_env", name="TACORESERVICE_BACKEND_PORT", value="5556")


def test_env_interpolated_from_dotenv_planned_in_dotenv(
    evidence: Evidence, facts: SourceFacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BACKEND_PORT", raising=False)
    interpolate_backend_port(evidence, "${BACKEND_PORT:-5555}", "# ports\nBACKEND_PORT=5555\n")

    planned = plan_one(evidence, facts, port_proposal())

    assert planned.status == RepairStatus.PLANNED
    assert planned.files == [".env"]
    assert "from BACKEND_PORT in .env line 2" in planned.prediction


def test_env_interpolated_variable_used_twice_rejected(
    evidence: Evidence, facts: SourceFacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BACKEND_PORT", raising=False)
    interpolate_backend_port(evidence, "${BACKEND_PORT}", "BACKEND_PORT=5555\n")
    compose = Path(evidence.project_dir) / "docker-compose.yml"
    compose.write_text(compose.read_text() + "x-backend: ${BACKEND_PORT}\n")

    planned = plan_one(evidence, facts, port_proposal())

    assert planned.status == RepairStatus.REJECTED
    assert "use in 2 places" in planned.reason
    assert "docker-compose.yml:" in planned.reason


def test_env_interpolated_variable_set_in_shell_rejected(
    evidence: Evidence, facts: SourceFacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKEND_PORT", "5555")
    interpolate_backend_port(evidence, "${BACKEND_PORT}", "BACKEND_PORT=5555\n")

    planned = plan_one(evidence, facts, port_proposal())

    assert planned.status == RepairStatus.REJECTED
    assert "takes precedence over .env; set BACKEND_PORT to 5556 there" in planned.reason


def test_env_interpolated_without_dotenv_line_rejected(
    evidence: Evidence, facts: SourceFacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BACKEND_PORT", raising=False)
    interpolate_backend_port(evidence, "${BACKEND_PORT:-5555}", None)

    planned = plan_one(evidence, facts, port_proposal())

    assert planned.status == RepairStatus.REJECTED
    assert "shell that runs docker compose" in planned.reason


def test_env_built_from_dotenv_and_text_rejected(
    evidence: Evidence, facts: SourceFacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BACKEND_PORT", raising=False)
    interpolate_backend_port(evidence, "55${BACKEND_PORT}", "BACKEND_PORT=55\n")

    planned = plan_one(evidence, facts, port_proposal())

    assert planned.status == RepairStatus.REJECTED
    assert "comes from .env variable BACKEND_PORT" in planned.reason


def test_env_file_value_planned_there(evidence: Evidence, facts: SourceFacts) -> None:
    project = Path(evidence.project_dir)
    (project / "worker.env").write_text("# worker settings\nTACORESERVICE_BACKEND_PORT=5555\n")
    compose = project / "docker-compose.yml"
    compose.write_text(
        compose.read_text().replace(
            "  tacoreservice-worker:\n", "  tacoreservice-worker:\n    env_file: worker.env\n"
        )
    )

    planned = plan_one(evidence, facts, port_proposal())

    assert planned.status == RepairStatus.PLANNED
    assert planned.files == ["worker.env"]
    assert "comes from env file worker.env line 2" in planned.prediction


def test_shared_env_file_overridden_with_note(
    evidence: Evidence, facts: SourceFacts
) -> None:
    project = Path(evidence.project_dir)
    (project / "common.env").write_text("TACORESERVICE_BACKEND_PORT=5555\n")
    compose = project / "docker-compose.yml"
    text = compose.read_text()
    for service in ("tacoreservice-worker", "tacoreservice"):
        text = text.replace(f"  {service}:\n", f"  {service}:\n    env_file: [common.env]\n")
    compose.write_text(text)

    planned = plan_one(evidence, facts, port_proposal())

    assert planned.status == RepairStatus.PLANNED
    assert planned.files == ["docker-compose.yml"]
    assert "which services tacoreservice share" in planned.prediction
    assert "overrides it for this service only" in planned.prediction


def test_extended_service_edit_names_extenders(
    evidence: Evidence, facts: SourceFacts
) -> None:
    compose = Path(evidence.project_dir) / "docker-compose.yml"
    compose.write_text(
        compose.read_text().replace(
            "\nvolumes:\n",
            "  worker-canary:\n    extends: tacoreservice-worker\n"
            "  worker-canary-2:\n    extends:\n      service: worker-canary\n\nvolumes:\n",
        )
    )

    planned = plan_one(evidence, facts, port_proposal())

    assert planned.status == RepairStatus.PLANNED
    assert (
        "worker-canary, worker-canary-2 extend tacoreservice-worker, so they get the change too"
        in planned.prediction
    )


def test_missing_compose_file_noted_not_rejected(evidence: Evidence, facts: SourceFacts) -> None:
    evidence.compose_files = ["/srv/elsewhere/docker-compose.yml"]
    port = repair("R1", "F1", "set_env", name="TACORESERVICE_BACKEND_PORT", value=5556)

    planned = plan_one(evidence, facts, port)

    assert planned.status == RepairStatus.PLANNED
    assert planned.prediction.endswith(
        "; compose file /srv/elsewhere/docker-compose.yml not found, "
        "so the edit was not checked against it"
    )
    assert planned.files == []


def test_malformed_compose_file_rejects_edit(evidence: Evidence, facts: SourceFacts) -> None:
    (Path(evidence.project_dir) / "docker-compose.yml").write_text("services:\n  a: [\n")
    port = repair("R1", "F1", "set_env", name="TACORESERVICE_BACKEND_PORT", value="5556")

    planned = plan_one(evidence, facts, port)

    assert planned.status == RepairStatus.REJECTED
    assert "docker-compose.yml:3:1: invalid YAML" in planned.reason


def test_env_unknown_service_rejected(evidence: Evidence, facts: SourceFacts) -> None:
    proposal = repair("R1", "F1", "set_env", service="nginx", name="A", value="1")

    planned = plan_one(evidence, facts, proposal)

    assert planned.status == RepairStatus.REJECTED
    assert planned.reason == "service nginx is not defined in the compose project"


def test_env_missing_value_rejected(evidence: Evidence, facts: SourceFacts) -> None:
    planned = plan_one(evidence, facts, repair("R1", "F1", "set_env", name="A"))

    assert planned.status == RepairStatus.REJECTED
    assert planned.reason.startswith("invalid set_env params")


# De-duplication


def test_identical_edits_merged_with_all_finding_ids(
    evidence: Evidence, facts: SourceFacts
) -> None:
    first = finding(
        "F001",
        "ENDPOINT_MISMATCH",
        repair("R1", "F001", "set_env", name="TACORESERVICE_BACKEND_PORT", value="5556"),
    )
    second = finding(
        "F004",
        "MISSING_ENV",
        repair("R7", "F004", "set_env", name="TACORESERVICE_BACKEND_PORT", value="5556"),
    )

    planned = plan_repairs([first, second], evidence, facts)

    assert [r.id for r in planned] == ["R1"]
    assert planned[0].rationale == "because Proposed by findings F001, F004."
    assert planned[0].finding_id == "F001"


def test_planning_leaves_finding_proposals_untouched(
    evidence: Evidence, facts: SourceFacts
) -> None:
    proposal = repair("R1", "F1", "set_env", name="TACORESERVICE_BACKEND_PORT", value="5556")
    source = finding("F1", "X", proposal)

    planned = plan_repairs([source], evidence, facts)

    assert planned[0] is not proposal
    assert proposal.status == RepairStatus.PROPOSED
    assert proposal.prediction == ""


def test_source_param_does_not_make_edits_different(evidence: Evidence, facts: SourceFacts) -> None:
    test = ["CMD", "python", "-m", "tacore.worker_health"]
    first = repair(
        "R1", "F1", "set_healthcheck", test=test, source="Dockerfile.worker:14 HEALTHCHECK"
    )
    second = repair("R2", "F2", "set_healthcheck", test=test, source="image inspect")

    planned = plan_repairs([finding("F1", "A", first), finding("F2", "B", second)], evidence, facts)

    assert [r.id for r in planned] == ["R1"]


def test_numeric_and_text_values_merged(evidence: Evidence, facts: SourceFacts) -> None:
    first = repair("R1", "F1", "set_env", name="TACORESERVICE_BACKEND_PORT", value=5556)
    second = repair("R2", "F2", "set_env", name="TACORESERVICE_BACKEND_PORT", value="5556")

    planned = plan_repairs([finding("F1", "A", first), finding("F2", "B", second)], evidence, facts)

    assert [r.id for r in planned] == ["R1"]


def test_different_values_are_not_merged(evidence: Evidence, facts: SourceFacts) -> None:
    first = repair("R1", "F1", "set_env", name="TACORESERVICE_BACKEND_PORT", value="5556")
    second = repair("R2", "F2", "set_env", name="TACORESERVICE_BACKEND_PORT", value="5557")

    planned = plan_repairs([finding("F1", "A", first), finding("F2", "B", second)], evidence, facts)

    assert [r.id for r in planned] == ["R1", "R2"]


# set_healthcheck


@pytest.mark.parametrize(
    ("test", "reason"),
    [
        (["CMD", "true"], "always_succeeds"),
        (["CMD-SHELL", "exit 0"], "always_succeeds"),
        ("exit 0", "always_succeeds"),
        (["CMD-SHELL", "curl -f http://localhost:8080/health || exit 0"], "always_succeeds"),
        (["CMD-SHELL", "curl -f http://localhost:8080/health || true"], "always_succeeds"),
        (["CMD", "python", "-c", "pass"], "always_succeeds"),
        (["CMD-SHELL", "test -f /tmp/healthy"], "file_exists"),
        (["CMD", "sh", "-c", "[ -e /var/run/app.pid ]"], "file_exists"),
        (["CMD-SHELL", "ls /tmp/ready && echo ok"], "file_exists"),
        (
            [
                "CMD",
                "python",
                "-c",
                "import os, sys; sys.exit(0 if os.path.exists('/tmp/hb') else 1)",
            ],
            "file_exists",
        ),
        (["CMD", "echo", "healthy"], "prints_only"),
        (["CMD", "false"], "always_fails"),
        (["CMD-SHELL", "exit 1"], "always_fails"),
        (["NONE"], "disabled"),
    ],
)
def test_vacuous_probe_detected(test: Any, reason: str) -> None:
    assert probes.vacuity(probes.parse_test(test)) == reason


@pytest.mark.parametrize(
    "test",
    [
        ["CMD", "python", "-m", "tacore.worker_health"],
        HTTP_PROBE,
        ["CMD", "redis-cli", "ping"],
        ["CMD-SHELL", "curl -f http://localhost:8080/health || exit 1"],
        ["CMD-SHELL", "pg_isready -U app"],
        # A freshness check reads the file's age, not only its existence.
        [
            "CMD",
            "python",
            "-c",
            "import os, sys, time; sys.exit(time.time() - os.path.getmtime('/tmp/hb') > 10)",
        ],
        ["CMD-SHELL", "test $(date +%s) -lt 5 && wget -q -O- http://localhost/health"],
    ],
)
def test_functional_probe_not_called_vacuous(test: Any) -> None:
    assert probes.vacuity(probes.parse_test(test)) is None


@pytest.mark.parametrize(
    "test",
    [["CMD", "true"], "exit 0", ["CMD-SHELL", "test -f /tmp/healthy"], ["CMD", "echo", "ok"]],
)
def test_vacuous_healthcheck_repair_rejected(
    evidence: Evidence, facts: SourceFacts, test: Any
) -> None:
    planned = plan_one(evidence, facts, repair("R1", "F1", "set_healthcheck", test=test))

    assert planned.status == RepairStatus.REJECTED
    assert "checks nothing" in planned.reason or "only checks that a file exists" in planned.reason


def test_healthcheck_from_dockerfile_planned_with_exercise(
    evidence: Evidence, facts: SourceFacts
) -> None:
    proposal = repair(
        "R3",
        "F3",
        "set_healthcheck",
        test=["CMD", "python", "-m", "tacore.worker_health"],
        interval="5s",
        timeout="3s",
        retries=3,
        start_period="10s",
        source="Dockerfile.worker:14 HEALTHCHECK",
    )

    planned = plan_one(evidence, facts, proposal, program_exists=lambda service, program: True)

    assert planned.status == RepairStatus.PLANNED
    assert planned.prediction == (
        "health check of tacoreservice-worker: "
        "`python -c \"import urllib.request; urllib.request.urlopen('http://localhost:8080/health', "
        'timeout=3)"` -> `python -m tacore.worker_health`; '
        "the probe runs the Python module tacore.worker_health; "
        "interval 5s, timeout 3s, retries 3, start period 10s; "
        "its source is tacore/worker_health.py; "
        "taken from Dockerfile.worker:14 HEALTHCHECK"
    )


def test_healthcheck_equal_to_current_rejected(evidence: Evidence, facts: SourceFacts) -> None:
    proposal = repair("R1", "F1", "set_healthcheck", test=HTTP_PROBE, interval="5s", retries=3)

    planned = plan_one(evidence, facts, proposal)

    assert planned.status == RepairStatus.REJECTED
    assert planned.reason.startswith(
        "no effect: tacoreservice-worker already runs the health check"
    )


def test_healthcheck_shell_string_equals_cmd_shell_list(
    evidence: Evidence, facts: SourceFacts
) -> None:
    evidence.compose_config["services"][WORKER]["healthcheck"] = {
        "test": ["CMD-SHELL", "curl -f http://localhost:8080/health"]
    }

    planned = plan_one(
        evidence,
        facts,
        repair("R1", "F1", "set_healthcheck", test="curl -f http://localhost:8080/health"),
    )

    assert planned.status == RepairStatus.REJECTED
    assert planned.reason.startswith("no effect")


def test_healthcheck_same_test_new_timing_planned(evidence: Evidence, facts: SourceFacts) -> None:
    proposal = repair("R1", "F1", "set_healthcheck", test=HTTP_PROBE, start_period="30s")

    planned = plan_one(evidence, facts, proposal, program_exists=lambda service, program: True)

    assert planned.status == RepairStatus.PLANNED
    assert "the test is unchanged; only the timings change" in planned.prediction
    assert "start period 30s" in planned.prediction


def test_healthcheck_program_missing_rejected(evidence: Evidence, facts: SourceFacts) -> None:
    proposal = repair(
        "R1", "F1", "set_healthcheck", test=["CMD", "curl", "-f", "http://localhost:8080/health"]
    )
    requested: list[tuple[str, str]] = []

    def program_exists(service: str, program: str) -> bool:
        requested.append((service, program))
        return program != "curl"

    planned = plan_one(evidence, facts, proposal, program_exists=program_exists)

    assert planned.status == RepairStatus.REJECTED
    assert planned.reason == (
        "the program curl is not in the image of tacoreservice-worker, so the probe could never pass"
    )
    assert requested == [(WORKER, "curl")]


def test_healthcheck_shell_form_needs_shell_and_program(
    evidence: Evidence, facts: SourceFacts
) -> None:
    proposal = repair(
        "R1", "F1", "set_healthcheck", test="wget -q -O- http://localhost:8080/ || exit 1"
    )
    requested: list[str] = []

    def program_exists(service: str, program: str) -> bool | None:
        requested.append(program)
        return None

    planned = plan_one(evidence, facts, proposal, program_exists=program_exists)

    assert requested == ["/bin/sh", "wget"]
    assert planned.status == RepairStatus.PLANNED
    assert "could not check that wget exists in the image" in planned.prediction


def test_healthcheck_without_program_check_notes_it(evidence: Evidence, facts: SourceFacts) -> None:
    proposal = repair(
        "R1", "F1", "set_healthcheck", test=["CMD", "python", "-m", "tacore.worker_health"]
    )

    planned = plan_one(evidence, facts, proposal)

    assert planned.status == RepairStatus.PLANNED
    assert "could not check that python exists in the image" in planned.prediction


def test_healthcheck_module_missing_from_package_rejected(
    evidence: Evidence, facts: SourceFacts
) -> None:
    proposal = repair("R1", "F1", "set_healthcheck", test=["CMD", "python", "-m", "tacore.healthz"])

    planned = plan_one(evidence, facts, proposal, program_exists=lambda service, program: True)

    assert planned.status == RepairStatus.REJECTED
    assert planned.reason == (
        "the module tacore.healthz is not in the build context of tacoreservice-worker "
        "(no tacore/healthz.py)"
    )


def test_healthcheck_http_probe_of_unbound_port_noted(
    evidence: Evidence, facts: SourceFacts
) -> None:
    proposal = repair(
        "R1",
        "F1",
        "set_healthcheck",
        service="tacoreservice",
        test=["CMD-SHELL", "wget -q -O- http://localhost:9000/health"],
    )

    planned = plan_one(evidence, facts, proposal, program_exists=lambda service, program: True)

    assert planned.status == RepairStatus.PLANNED
    assert "the probe sends an HTTP request to http://localhost:9000/health" in planned.prediction
    assert (
        "no bind of port 9000 found in the source of tacoreservice (binds found: 5555, 5556, 8080)"
        in (planned.prediction)
    )


def test_healthcheck_invalid_test_rejected(evidence: Evidence, facts: SourceFacts) -> None:
    planned = plan_one(evidence, facts, repair("R1", "F1", "set_healthcheck", test=["RUN", "x"]))

    assert planned.status == RepairStatus.REJECTED
    assert planned.reason.startswith("invalid health check test")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5s", 5.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1h", 3600.0),
        (3_000_000_000, 3.0),
        ("soon", None),
    ],
)
def test_duration_seconds(value: Any, seconds: float | None) -> None:
    assert probes.duration_seconds(value) == seconds


# Health checks that exercise function, on the analysed sample


def sample_repairs(evidence: Evidence) -> tuple[list[Finding], list[Repair]]:
    result = analyse(evidence)
    return result.findings, plan_repairs(result.findings, evidence, result.facts)


def test_sample_worker_gets_image_healthcheck() -> None:
    _, repairs = sample_repairs(load_evidence("tacoreservice_broken"))

    probes_planned = [
        r for r in repairs if r.edit is not None and r.edit.action == "set_healthcheck"
    ]
    assert len(probes_planned) == 1
    worker_probe = probes_planned[0]
    assert worker_probe.status == RepairStatus.PLANNED
    assert worker_probe.edit is not None
    assert worker_probe.edit.params["test"] == ["CMD", "python", "-m", "tacore.worker_health"]
    assert "the probe runs the Python module tacore.worker_health" in worker_probe.prediction
    assert "taken from Dockerfile.worker:7 HEALTHCHECK" in worker_probe.prediction


def test_planned_healthchecks_are_never_vacuous() -> None:
    _, repairs = sample_repairs(load_evidence("tacoreservice_broken"))

    probes_planned = [
        r.edit
        for r in repairs
        if r.status == RepairStatus.PLANNED and r.edit is not None and r.edit.action == "set_healthcheck"
    ]
    assert probes_planned
    for edit in probes_planned:
        assert probes.vacuity(probes.parse_test(edit.params["test"])) is None


def test_without_functional_probe_recommends_writing_one() -> None:
    evidence = load_evidence("tacoreservice_broken")
    for source in evidence.sources:
        if source.path == "Dockerfile.worker":
            source.text = re.sub(r"(?m)^HEALTHCHECK .*$", "", source.text)

    findings, repairs = sample_repairs(evidence)

    misconfigured = [f for f in findings if f.code == "HEALTHCHECK_MISCONFIGURED"]
    assert [f.service for f in misconfigured] == [WORKER]
    assert misconfigured[0].fixable_by == Fixability.HUMAN
    assert misconfigured[0].repairs == []
    assert "exercises its real function" in misconfigured[0].recommendation
    assert not [r for r in repairs if r.edit is not None and r.edit.action == "set_healthcheck"]


def test_file_exists_probe_replaced() -> None:
    evidence = load_evidence("tacoreservice_broken")
    file_probe = ["CMD-SHELL", "test -f /app/data/tacoreservice.db"]
    evidence.compose_config["services"][WORKER]["healthcheck"]["test"] = file_probe
    for container in evidence.containers_of(WORKER):
        container.healthcheck = {"Test": file_probe}
        container.health_log = []
        container.health = "healthy"

    findings, repairs = sample_repairs(evidence)

    misconfigured = [f for f in findings if f.code == "HEALTHCHECK_MISCONFIGURED"]
    assert [f.service for f in misconfigured] == [WORKER]
    assert misconfigured[0].facts["kind"] == "vacuous"
    replaced = [r for r in repairs if r.edit is not None and r.edit.action == "set_healthcheck"]
    assert replaced[0].status == RepairStatus.PLANNED
    assert replaced[0].edit is not None
    assert replaced[0].edit.params["test"] == ["CMD", "python", "-m", "tacore.worker_health"]


# set_depends_on_conditions


def test_depends_on_healthy_planned_for_dependencies_with_healthchecks(
    evidence: Evidence, facts: SourceFacts
) -> None:
    proposal = repair(
        "R6",
        "F6",
        "set_depends_on_conditions",
        conditions={"tacoreservice": "service_healthy", "redis": "service_healthy"},
    )

    planned = plan_one(evidence, facts, proposal)

    assert planned.status == RepairStatus.PLANNED
    assert planned.prediction == (
        "depends_on of tacoreservice-worker: tacoreservice service_started -> service_healthy, "
        "redis service_started -> service_healthy; docker compose up starts tacoreservice-worker "
        "only after each dependency meets its condition"
    )


def test_depends_on_leaves_out_unchecked_dependency(
    evidence: Evidence, facts: SourceFacts
) -> None:
    del evidence.compose_config["services"]["redis"]["healthcheck"]
    proposal = repair(
        "R6",
        "F6",
        "set_depends_on_conditions",
        conditions={"tacoreservice": "service_healthy", "redis": "service_healthy"},
    )

    planned = plan_one(evidence, facts, proposal)

    assert planned.status == RepairStatus.PLANNED
    assert "redis is left out because it has no health check" in planned.prediction
    assert "tacoreservice service_started -> service_healthy" in planned.prediction
    assert "redis service_started ->" not in planned.prediction
    assert planned.edit is not None
    assert planned.edit.params["conditions"] == {"tacoreservice": "service_healthy"}
    assert proposal.edit is not None
    assert proposal.edit.params["conditions"]["redis"] == "service_healthy"


def test_depends_on_without_healthcheck_rejected(
    evidence: Evidence, facts: SourceFacts
) -> None:
    del evidence.compose_config["services"]["redis"]["healthcheck"]
    proposal = repair(
        "R6", "F6", "set_depends_on_conditions", conditions={"redis": "service_healthy"}
    )

    planned = plan_one(evidence, facts, proposal)

    assert planned.status == RepairStatus.REJECTED
    assert planned.reason == (
        "redis has no health check, so service_healthy could never be met and docker compose "
        "up would fail"
    )


def test_depends_on_relies_on_planned_healthcheck(
    evidence: Evidence, facts: SourceFacts
) -> None:
    del evidence.compose_config["services"]["redis"]["healthcheck"]
    # Proposed after the depends_on edit, but planned before it.
    conditions = repair(
        "R6", "F6", "set_depends_on_conditions", conditions={"redis": "service_healthy"}
    )
    probe = repair(
        "R7", "F7", "set_healthcheck", service="redis", test=["CMD", "redis-cli", "ping"]
    )

    planned = plan_repairs(
        [finding("F6", "TEST", conditions), finding("F7", "TEST", probe, service="redis")],
        evidence,
        facts,
        program_exists=lambda service, program: True,
    )

    assert [item.id for item in planned] == ["R6", "R7"]
    assert [item.status for item in planned] == [RepairStatus.PLANNED, RepairStatus.PLANNED]
    assert "redis gets the health check planned in this cycle" in planned[0].prediction


def test_depends_on_rejected_when_planned_healthcheck_rejected(
    evidence: Evidence, facts: SourceFacts
) -> None:
    del evidence.compose_config["services"]["redis"]["healthcheck"]
    conditions = repair(
        "R6", "F6", "set_depends_on_conditions", conditions={"redis": "service_healthy"}
    )
    probe = repair("R7", "F7", "set_healthcheck", service="redis", test=["CMD", "true"])

    planned = plan_repairs(
        [finding("F6", "TEST", conditions), finding("F7", "TEST", probe, service="redis")],
        evidence,
        facts,
    )

    assert [item.status for item in planned] == [RepairStatus.REJECTED, RepairStatus.REJECTED]
    assert planned[0].reason.startswith("redis has no health check")


def test_depends_on_disabled_healthcheck_counts_as_none(
    evidence: Evidence, facts: SourceFacts
) -> None:
    evidence.compose_config["services"]["redis"]["healthcheck"] = {"disable": True}
    proposal = repair(
        "R6", "F6", "set_depends_on_conditions", conditions={"redis": "service_healthy"}
    )

    planned = plan_one(evidence, facts, proposal)

    assert planned.status == RepairStatus.REJECTED


def test_depends_on_image_healthcheck_seen_in_container(
    evidence: Evidence, facts: SourceFacts
) -> None:
    del evidence.compose_config["services"]["redis"]["healthcheck"]
    evidence.containers.append(
        ContainerEvidence(
            id="r1",
            name="tacore-redis-1",
            service="redis",
            image="stackmedic/redis:bookworm",
            state="running",
            health="healthy",
            healthcheck={"Test": ["CMD-SHELL", "redis-cli ping"]},
        )
    )
    proposal = repair(
        "R6", "F6", "set_depends_on_conditions", conditions={"redis": "service_healthy"}
    )

    planned = plan_one(evidence, facts, proposal)

    assert planned.status == RepairStatus.PLANNED
    assert "redis service_started -> service_healthy" in planned.prediction


def test_depends_on_cycle_rejected(evidence: Evidence, facts: SourceFacts) -> None:
    proposal = repair(
        "R6",
        "F6",
        "set_depends_on_conditions",
        service="redis",
        conditions={WORKER: "service_started"},
    )

    planned = plan_one(evidence, facts, proposal)

    assert planned.status == RepairStatus.REJECTED
    assert "tacoreservice-worker -> redis" in planned.reason


def test_depends_on_unknown_dependency_rejected(evidence: Evidence, facts: SourceFacts) -> None:
    proposal = repair(
        "R6", "F6", "set_depends_on_conditions", conditions={"postgres": "service_healthy"}
    )

    planned = plan_one(evidence, facts, proposal)

    assert planned.status == RepairStatus.REJECTED
    assert planned.reason == "postgres is not a service of this compose project"


# Code patches


PATCH = (
    "--- a/tacore/api.py\n"
    "+++ b/tacore/api.py\n"
    "@@ -40,1 +40,1 @@\n"
    "-                \"last_heartbeat\": row['last_seen'],\n"
    "+                \"last_heartbeat\": row['last_heartbeat'],\n"
)


def test_code_patch_rejected_without_permission(evidence: Evidence, facts: SourceFacts) -> None:
    proposal = Repair("R9", "F9", "KEY_ERROR", "tacoreservice", "read last_heartbeat", patch=PATCH)

    planned = plan_one(evidence, facts, proposal)

    assert planned.status == RepairStatus.REJECTED
    assert planned.reason == "code changes need --allow-code-changes"


def test_code_patch_planned_when_allowed(evidence: Evidence, facts: SourceFacts) -> None:
    proposal = Repair("R9", "F9", "KEY_ERROR", "tacoreservice", "read last_heartbeat", patch=PATCH)

    planned = plan_one(evidence, facts, proposal, allow_code_changes=True)

    assert planned.status == RepairStatus.PLANNED
    assert planned.prediction.startswith("the patch changes tacore/api.py (+1 -1 lines)")
    assert planned.files == ["tacore/api.py"]


def test_repair_with_nothing_to_apply_rejected(evidence: Evidence, facts: SourceFacts) -> None:
    planned = plan_one(evidence, facts, Repair("R9", "F9", "X", WORKER, "empty"))

    assert planned.status == RepairStatus.REJECTED


# Languages and catalogue


def test_zh_cn_texts_keep_names_and_paths(evidence: Evidence, facts: SourceFacts) -> None:
    host = repair("R2", "F2", "set_env", name="TACORESERVICE_HOST", value="tacoreservice")

    planned = plan_one(evidence, facts, host, lang="zh-CN")

    assert (
        planned.reason
        == "无效果：TACORESERVICE_HOST 已经是 tacoreservice（代码默认值，位于 tacore/worker.py:22）"
    )


def dockerfile_probe() -> Repair:
    return repair(
        "R3",
        "F3",
        "set_healthcheck",
        test=["CMD", "python", "-m", "tacore.worker_health"],
        interval="5s",
        source="Dockerfile.worker:14 HEALTHCHECK",
    )


def test_prediction_message_matches_prediction_in_both_languages(
    evidence: Evidence, facts: SourceFacts
) -> None:
    exists = {"program_exists": lambda service, program: True}
    english = plan_one(evidence, facts, dockerfile_probe(), **exists)
    chinese = plan_one(evidence, facts, dockerfile_probe(), lang="zh-CN", **exists)

    assert english.prediction_message is not None
    assert english.prediction_message.text == english.prediction
    assert message_text(english.prediction_message, "zh-CN") == chinese.prediction
    assert "tacore.worker_health" in chinese.prediction
    assert "Dockerfile.worker:14 HEALTHCHECK" in chinese.prediction


def test_reason_message_of_zh_run_has_english_text(evidence: Evidence, facts: SourceFacts) -> None:
    host = repair("R2", "F2", "set_env", name="TACORESERVICE_HOST", value="tacoreservice")

    planned = plan_one(evidence, facts, host, lang="zh-CN")

    assert planned.reason_message is not None
    assert planned.reason_message.text == (
        "no effect: TACORESERVICE_HOST is already tacoreservice (code default in tacore/worker.py:22)"
    )
    assert message_text(planned.reason_message, "zh-CN") == planned.reason
    assert planned.prediction_message is None


def test_file_error_reason_nests_error_message(evidence: Evidence, facts: SourceFacts) -> None:
    compose = Path(evidence.project_dir) / evidence.compose_files[0]
    compose.write_text("services:\n  worker: [unclosed\n", encoding="utf-8")
    port = repair("R1", "F1", "set_env", name="TACORESERVICE_BACKEND_PORT", value="5556")

    planned = plan_one(evidence, facts, port)

    assert planned.status == RepairStatus.REJECTED
    assert planned.reason_message is not None
    assert planned.reason_message.key == "repair.reject.file"
    assert planned.reason_message.text == planned.reason
    assert "docker-compose.yml" in message_text(planned.reason_message, "zh-CN")


def test_repair_catalogues_have_the_same_keys_and_fields() -> None:
    english = json.loads((MESSAGES / "en" / "repair.json").read_text(encoding="utf-8"))
    chinese = json.loads((MESSAGES / "zh-CN" / "repair.json").read_text(encoding="utf-8"))

    assert set(english) == set(chinese)
    for key, template in english.items():
        fields = set(re.findall(r"\{(\w+)\}", template))
        assert fields == set(re.findall(r"\{(\w+)\}", chinese[key])), key


def test_every_repair_message_key_used_in_code_exists() -> None:
    english = json.loads((MESSAGES / "en" / "repair.json").read_text(encoding="utf-8"))
    code = "".join(path.read_text(encoding="utf-8") for path in SOURCE.glob("*.py"))
    literal_keys = set(re.findall(r'"(repair\.[a-z_.]+[a-z_])"', code))
    reasons = ("always_succeeds", "always_fails", "prints_only", "file_exists", "disabled")
    kinds = ("http", "module", "redis", "postgres", "mysql", "tcp", "command")
    dynamic_keys = {f"repair.reject.vacuous.{reason}" for reason in reasons} | {
        f"repair.exercise.{kind}" for kind in kinds
    }

    assert literal_keys
    assert literal_keys - set(english) == set()
    assert dynamic_keys - set(english) == set()
