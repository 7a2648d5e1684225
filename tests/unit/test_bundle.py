"""Evidence bundles: saving collected evidence, reading saved and hand-written bundles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from evidence_builders import load_evidence

from stackmedic.analysis import MISSING_EVIDENCE_FACTOR, analyse
from stackmedic.evidence.bundle import BUNDLE_FORMAT, BundleError, load_bundle, save_bundle
from stackmedic.evidence.model import (
    ContainerEvidence,
    Evidence,
    HealthProbe,
    LogLine,
    Provenance,
    SourceFile,
)

CASES = Path(__file__).resolve().parents[1] / "cases"
LIVE = CASES / "tacoreservice-broken-live"


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


# --- saving and reading back -------------------------------------------------------


def test_saved_sample_reads_back_equal(tmp_path: Path) -> None:
    original = load_evidence("tacoreservice_broken")
    save_bundle(original, tmp_path / "bundle")
    loaded = load_bundle(tmp_path / "bundle")

    assert loaded.project_name == original.project_name
    assert loaded.project_dir == original.project_dir
    assert loaded.collected_at == original.collected_at
    assert loaded.services.keys() == original.services.keys()
    assert [c.name for c in loaded.containers] == sorted(c.name for c in original.containers)
    by_name = {c.name: c for c in original.containers}
    for container in loaded.containers:
        before = by_name[container.name]
        assert container.service == before.service
        assert container.state == before.state
        assert container.health == before.health
        assert [(l.text, l.timestamp) for l in container.logs] == [
            (l.text, l.timestamp) for l in before.logs
        ]
        assert [(p.exit_code, p.output) for p in container.health_log] == [
            (p.exit_code, p.output) for p in before.health_log
        ]
    assert sorted((s.service, s.path, s.text) for s in loaded.sources) == sorted(
        (s.service, s.path, s.text) for s in original.sources
    )
    assert loaded.missing_evidence == []


def test_saved_sample_gives_same_findings(tmp_path: Path) -> None:
    original = load_evidence("tacoreservice_broken")
    save_bundle(original, tmp_path / "bundle")
    before = analyse(load_evidence("tacoreservice_broken"))
    after = analyse(load_bundle(tmp_path / "bundle"))

    assert [(f.code, f.service) for f in after.findings] == [
        (f.code, f.service) for f in before.findings
    ]


def test_manifest_declares_format_and_files(tmp_path: Path) -> None:
    save_bundle(load_evidence("tacoreservice_broken"), tmp_path / "bundle")
    manifest = json.loads((tmp_path / "bundle" / "bundle.json").read_text())

    assert manifest["format"] == BUNDLE_FORMAT
    assert manifest["compose_resolved"] is True
    assert len(manifest["containers"]) == 4
    for name in manifest["containers"]:
        assert (tmp_path / "bundle" / "inspect" / f"{name}.json").is_file()
        assert (tmp_path / "bundle" / "logs" / f"{name}.log").is_file()
    assert all((tmp_path / "bundle" / entry["file"]).is_file() for entry in manifest["sources"])


def test_log_file_lines_carry_engine_timestamps(tmp_path: Path) -> None:
    evidence = load_evidence("tacoreservice_broken")
    save_bundle(evidence, tmp_path / "bundle")
    container = evidence.containers[0]
    lines = (tmp_path / "bundle" / "logs" / f"{container.name}.log").read_text().splitlines()

    assert lines[0] == f"{container.logs[0].timestamp} {container.logs[0].text}"


def test_saving_into_foreign_folder_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")

    with pytest.raises(BundleError, match="not empty"):
        save_bundle(load_evidence("tacoreservice_broken"), tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_saving_over_a_bundle_drops_stale_files(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    save_bundle(load_evidence("tacoreservice_broken"), target)
    (target / "logs" / "gone-1.log").write_text("old\n")
    save_bundle(load_evidence("tacoreservice_broken"), target)

    assert not (target / "logs" / "gone-1.log").exists()


def test_live_recording_loads_with_every_kind_of_evidence() -> None:
    evidence = load_bundle(LIVE)

    assert len(evidence.containers) == 4
    assert evidence.missing_evidence == []
    workers = [c for c in evidence.containers if c.service == "tacoreservice-worker"]
    assert [c.health for c in workers] == ["unhealthy", "unhealthy"]
    assert all(c.health_log for c in workers)
    main = evidence.containers_of("tacoreservice")[0]
    assert any("Error getting workers status" in line.text for line in main.logs)
    assert evidence.compose_texts, "the compose file as written travels with the bundle"


# --- secrets -----------------------------------------------------------------------

PLANTED = [
    "hunter2-planted",
    "s3cr3t-url-planted",
    "tok-planted-bearer",
    "probe-token-planted",
    "engine-pw-planted",
    "requirepass-planted",
    "compose-text-planted",
    "dotenv-planted",
    "yaml-config-planted",
    "warning-planted",
]


def secret_evidence(tmp_path: Path) -> Evidence:
    compose_file = tmp_path / "project" / "docker-compose.yml"
    compose_file.parent.mkdir(parents=True)
    compose_file.write_text(
        "services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: compose-text-planted\n"
    )
    container = ContainerEvidence(
        id="abc",
        name="p-api-1",
        service="api",
        image="api",
        state="exited",
        exit_code=1,
        error="auth failed: password=engine-pw-planted",
        env={
            "DB_PASSWORD": "hunter2-planted",
            "DATABASE_URL": "postgres://app:s3cr3t-url-planted@db/app",
        },
        health_log=[
            HealthProbe("t0", "t1", 1, "curl -H 'Authorization: Bearer probe-token-planted'")
        ],
        logs=[
            LogLine(
                1,
                "connecting to postgres://app:s3cr3t-url-planted@db:5432/app",
                "2025-01-01T00:00:00Z",
            ),
            LogLine(2, "sending Authorization: Bearer tok-planted-bearer", "2025-01-01T00:00:01Z"),
            LogLine(3, "DB_PASSWORD=hunter2-planted", None),
        ],
        provenance=[Provenance("engine-api", "GET /containers/abc/json")],
    )
    return Evidence(
        project_name="p",
        project_dir=str(tmp_path / "project"),
        compose_files=[str(compose_file)],
        compose_config={
            "name": "p",
            "services": {
                "api": {
                    "environment": {
                        "DB_PASSWORD": "hunter2-planted",
                        "DATABASE_URL": "postgres://app:s3cr3t-url-planted@db/app",
                    }
                },
                "cache": {"command": ["redis-server", "--requirepass", "requirepass-planted"]},
                "db": {"environment": {"POSTGRES_PASSWORD": "compose-text-planted"}},
            },
        },
        containers=[container],
        sources=[
            SourceFile("api", ".env", "SECRET_KEY=dotenv-planted\n"),
            SourceFile("api", "config/app.yaml", "database:\n  password: yaml-config-planted\n"),
            SourceFile("api", "app.py", "import os\nprint(os.environ['DB_PASSWORD'])\n"),
        ],
        warnings=["login failed with token=warning-planted"],
    )


def test_planted_secrets_masked_in_every_file(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    save_bundle(secret_evidence(tmp_path), target)
    files = [path for path in target.rglob("*") if path.is_file()]

    assert len(files) >= 7
    for path in files:
        text = path.read_text(encoding="utf-8")
        for secret in PLANTED:
            assert secret not in text, f"{secret} leaked into {path.relative_to(target)}"


def test_masked_bundle_keeps_names_and_structure(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    save_bundle(secret_evidence(tmp_path), target)
    loaded = load_bundle(target)

    api = loaded.containers_of("api")[0]
    assert api.env["DB_PASSWORD"] == "***"
    assert api.env["DATABASE_URL"] == "postgres://app:***@db/app"
    assert loaded.services["cache"]["command"] == ["redis-server", "--requirepass", "***"]
    assert "POSTGRES_PASSWORD: ***" in next(iter(loaded.compose_texts.values()))


def test_program_source_keeps_code_without_secret_literals(tmp_path: Path) -> None:
    # Only the inside of secret literals changes, so analysis reads the same code.
    target = tmp_path / "bundle"
    evidence = secret_evidence(tmp_path)
    evidence.sources.append(
        SourceFile(
            "api",
            "settings.py",
            'import os\nAPI_TOKEN = "tok-123456"\n'
            'DB = os.getenv("DB_PASSWORD", "hunter2")\n'
            'URL = "postgres://app:s3cret@db/app"\nPORT = int(os.getenv("PORT", "8000"))\n',
        )
    )
    save_bundle(evidence, target)

    assert (target / "src" / "api" / "app.py").read_text() == (
        "import os\nprint(os.environ['DB_PASSWORD'])\n"
    )
    settings = (target / "src" / "api" / "settings.py").read_text()
    assert settings == (
        'import os\nAPI_TOKEN = "***"\n'
        'DB = os.getenv("DB_PASSWORD", "***")\n'
        'URL = "postgres://app:***@db/app"\nPORT = int(os.getenv("PORT", "8000"))\n'
    )
    compile(settings, "settings.py", "exec")


# --- hand-written bundles ----------------------------------------------------------

COMPOSE = """\
services:
  db:
    image: postgres:16
  api:
    build: ./api
    depends_on: [db]
    environment:
      - DATABASE_URL=postgresql://app@db:5432/app
      - MODE
    healthcheck:
      test: curl -f http://localhost:8000/health
      interval: 5s
    ports:
      - "8000:8000"
"""
PS = """\
CONTAINER ID   IMAGE         COMMAND            CREATED          STATUS                      PORTS      NAMES
aaa111bbb222   shop-api      "python -m api"    3 minutes ago    Exited (1) 2 minutes ago               shop-api-1
ccc333ddd444   postgres:16   "postgres"         3 minutes ago    Up 3 minutes                5432/tcp   shop-db-1
"""


def test_minimal_bundle_gets_resolved_config_forms(tmp_path: Path) -> None:
    evidence = load_bundle(write(tmp_path, {"compose.yaml": COMPOSE, "ps.txt": PS}))
    api = evidence.services["api"]

    assert api["environment"] == {"DATABASE_URL": "postgresql://app@db:5432/app", "MODE": None}
    assert api["depends_on"] == {"db": {"condition": "service_started", "required": True}}
    assert api["healthcheck"]["test"] == ["CMD-SHELL", "curl -f http://localhost:8000/health"]
    assert api["ports"] == [
        {"mode": "ingress", "target": 8000, "protocol": "tcp", "published": "8000"}
    ]
    assert api["build"] == {"context": "./api", "dockerfile": "Dockerfile"}


def test_ps_rows_become_containers_of_their_services(tmp_path: Path) -> None:
    evidence = load_bundle(write(tmp_path, {"compose.yaml": COMPOSE, "ps.txt": PS}))

    assert evidence.project_name == "shop"
    api = evidence.containers_of("api")[0]
    assert (api.name, api.state, api.exit_code, api.replica) == ("shop-api-1", "exited", 1, 1)
    db = evidence.containers_of("db")[0]
    assert db.state == "running"
    assert db.started_at is not None


def test_log_named_by_service_attaches_to_its_container(tmp_path: Path) -> None:
    files = {
        "compose.yaml": COMPOSE,
        "ps.txt": PS,
        "logs/api.log": "2025-03-01T10:00:00.5Z starting\n2025-03-01T10:00:01Z crashed\n",
    }
    evidence = load_bundle(write(tmp_path, files))
    api = evidence.containers_of("api")[0]

    assert [line.text for line in api.logs] == ["starting", "crashed"]
    assert api.logs[1].timestamp == "2025-03-01T10:00:01Z"
    assert api.logs[0].number == 1


def test_log_of_unknown_container_gets_a_synthetic_one(tmp_path: Path) -> None:
    evidence = load_bundle(write(tmp_path, {"compose.yaml": COMPOSE, "logs/db.log": "ready\n"}))
    [db] = evidence.containers_of("db")

    assert db.state == "unknown"
    assert db.image == "postgres:16"
    assert db.logs[0].text == "ready"
    assert db.logs[0].timestamp is None


def test_compose_logs_output_is_split_by_prefix(tmp_path: Path) -> None:
    combined = (
        "db-1   | 2025-03-01T10:00:00Z database system is ready\n"
        "api-1  | 2025-03-01T10:00:01Z Traceback (most recent call last):\n"
        'api-1  |   File "/app/x.py", line 3, in <module>\n'
        "api-1  | ValueError: bad\n"
    )
    files = {"compose.yaml": COMPOSE, "ps.txt": PS, "logs/all.log": combined}
    evidence = load_bundle(write(tmp_path, files))

    assert [l.text for l in evidence.containers_of("api")[0].logs] == [
        "Traceback (most recent call last):",
        '  File "/app/x.py", line 3, in <module>',
        "ValueError: bad",
    ]
    assert [l.text for l in evidence.containers_of("db")[0].logs] == ["database system is ready"]


def test_raw_docker_inspect_list_is_read(tmp_path: Path) -> None:
    payload = [
        {
            "Id": "f" * 64,
            "Name": "/shop-api-1",
            "RestartCount": 4,
            "State": {
                "Status": "exited",
                "ExitCode": 137,
                "OOMKilled": True,
                "Health": {
                    "Status": "unhealthy",
                    "Log": [
                        {"Start": "s", "End": "e", "ExitCode": 1, "Output": "curl: (7) refused"}
                    ],
                },
            },
            "Config": {
                "Image": "shop-api",
                "Env": ["MODE=prod"],
                "Labels": {"com.docker.compose.service": "api"},
            },
        }
    ]
    files = {"compose.yaml": COMPOSE, "inspect/all.json": json.dumps(payload)}
    evidence = load_bundle(write(tmp_path, files))
    [api] = evidence.containers_of("api")

    assert (api.state, api.exit_code, api.oom_killed, api.restart_count) == ("exited", 137, True, 4)
    assert api.health_log[0].output == "curl: (7) refused"
    assert api.env == {"MODE": "prod"}
    assert "health_log" not in evidence.missing_evidence


def test_unlabelled_inspect_uses_container_name(tmp_path: Path) -> None:
    payload = {
        "Id": "1",
        "Name": "/shop-db-1",
        "State": {"Status": "running"},
        "Config": {"Image": "postgres:16"},
    }
    files = {"compose.yaml": COMPOSE, "inspect/db.json": json.dumps(payload)}
    evidence = load_bundle(write(tmp_path, files))

    assert evidence.containers_of("db")[0].state == "running"


def test_own_container_json_is_read(tmp_path: Path) -> None:
    payload = {
        "id": "1",
        "name": "shop-api-1",
        "service": "api",
        "image": "shop-api",
        "state": "running",
        "health": "unhealthy",
        "health_log": [{"start": "a", "end": "b", "exit_code": 1, "output": "no"}],
        "logs": [{"number": 1, "text": "hello", "timestamp": None}],
    }
    files = {"compose.yaml": COMPOSE, "inspect/shop-api-1.json": json.dumps(payload)}
    [api] = load_bundle(write(tmp_path, files)).containers_of("api")

    assert api.health == "unhealthy"
    assert api.health_log[0].output == "no"
    assert api.logs[0].text == "hello"


def test_inspect_wins_over_ps_for_the_same_container(tmp_path: Path) -> None:
    payload = {
        "Id": "1",
        "Name": "/shop-api-1",
        "State": {"Status": "running"},
        "Config": {"Image": "x"},
    }
    files = {"compose.yaml": COMPOSE, "ps.txt": PS, "inspect/api.json": json.dumps(payload)}
    [api] = load_bundle(write(tmp_path, files)).containers_of("api")

    assert api.state == "running"


def test_dotenv_interpolates_and_unset_variable_warns(tmp_path: Path) -> None:
    compose = (
        "services:\n"
        "  db:\n"
        "    image: postgres:${PG_TAG:-16}\n"
        "    environment:\n"
        "      POSTGRES_USER: ${PG_USER}\n"
        "      POSTGRES_PASSWORD: ${PG_PASSWORD}\n"
        "      LITERAL: $$HOME\n"
    )
    files = {"compose.yaml": compose, ".env": "PG_USER=app\n# comment\n"}
    evidence = load_bundle(write(tmp_path, files))
    db = evidence.services["db"]

    assert db["image"] == "postgres:16"
    assert db["environment"] == {
        "POSTGRES_USER": "app",
        "POSTGRES_PASSWORD": "",
        "LITERAL": "$HOME",
    }
    assert (
        'The "PG_PASSWORD" variable is not set. Defaulting to a blank string.' in evidence.warnings
    )
    assert not any("PG_USER" in warning for warning in evidence.warnings)


def test_override_file_and_env_file_are_merged(tmp_path: Path) -> None:
    files = {
        "docker-compose.yml": "services:\n  api:\n    image: a\n    env_file: api.env\n"
        "    environment:\n      MODE: base\n    ports: ['80:80']\n",
        "docker-compose.override.yml": "services:\n  api:\n    environment:\n      MODE: dev\n"
        "    ports: ['81:81']\n",
        "api.env": "FROM_FILE=1\nMODE=file\n",
    }
    evidence = load_bundle(write(tmp_path, files))
    api = evidence.services["api"]

    assert api["environment"] == {"FROM_FILE": "1", "MODE": "dev"}
    assert [p["published"] for p in api["ports"]] == ["80", "81"]


def test_sources_placed_under_build_context(tmp_path: Path) -> None:
    files = {"compose.yaml": COMPOSE, "src/api/app/main.py": "print('hi')\n"}
    evidence = load_bundle(write(tmp_path, files))

    assert [(s.service, s.path) for s in evidence.sources] == [("api", "api/app/main.py")]


def test_collection_time_is_estimated_from_ages_and_logs(tmp_path: Path) -> None:
    files = {
        "compose.yaml": COMPOSE,
        "ps.txt": PS,
        "logs/db.log": "2025-03-01T10:00:00Z starting\n2025-03-01T10:00:02Z ready\n",
    }
    evidence = load_bundle(write(tmp_path, files))

    # db is "Up 3 minutes" and logged its first line at 10:00:00.
    assert evidence.collected_at.startswith("2025-03-01T10:03:00")
    assert any("estimated" in warning for warning in evidence.warnings)


def test_manifest_collection_time_wins(tmp_path: Path) -> None:
    files = {
        "compose.yaml": COMPOSE,
        "bundle.json": json.dumps(
            {"collected_at": "2025-03-01T12:00:00+00:00", "project_name": "x"}
        ),
    }
    evidence = load_bundle(write(tmp_path, files))

    assert evidence.collected_at == "2025-03-01T12:00:00+00:00"
    assert evidence.project_name == "x"


# --- missing and broken parts --------------------------------------------------------


def test_missing_parts_are_named_in_warnings(tmp_path: Path) -> None:
    evidence = load_bundle(write(tmp_path, {"compose.yaml": COMPOSE, "logs/api.log": "x\n"}))

    assert evidence.missing_evidence == ["state", "health_log", "source"]
    assert any("no ps.txt or inspect/" in warning for warning in evidence.warnings)
    assert any("no src/" in warning for warning in evidence.warnings)


def test_bundle_with_only_ps_lacks_compose_and_logs(tmp_path: Path) -> None:
    evidence = load_bundle(write(tmp_path, {"ps.txt": PS}))

    assert "compose" in evidence.missing_evidence
    assert "log" in evidence.missing_evidence
    assert evidence.services == {}
    assert {c.service for c in evidence.containers} == {"api", "db"}


def test_missing_state_lowers_confidence(tmp_path: Path) -> None:
    logs = (
        "2025-03-01T10:00:01Z psycopg2.OperationalError: could not connect to server: Connection refused\n"
        '2025-03-01T10:00:01Z \tIs the server running on host "db" (172.18.0.2) and accepting\n'
        "2025-03-01T10:00:01Z \tTCP/IP connections on port 5432?\n"
    )
    db_log = "2025-03-01T10:00:04Z database system is ready to accept connections\n"
    with_ps = load_bundle(
        write(
            tmp_path / "a",
            {"compose.yaml": COMPOSE, "ps.txt": PS, "logs/api.log": logs, "logs/db.log": db_log},
        )
    )
    without_ps = load_bundle(
        write(
            tmp_path / "b", {"compose.yaml": COMPOSE, "logs/api.log": logs, "logs/db.log": db_log}
        )
    )
    before = {(f.code, f.service): f for f in analyse(with_ps).findings}
    after = {(f.code, f.service): f for f in analyse(without_ps).findings}

    key = ("DEPENDENCY_NOT_READY", "api")
    assert key in before
    assert key in after
    assert after[key].confidence < before[key].confidence
    assert "state" in after[key].facts["missing_evidence"]
    assert after[key].confidence <= round(before[key].confidence * MISSING_EVIDENCE_FACTOR, 2)


def test_state_patterns_cannot_fire_without_state(tmp_path: Path) -> None:
    evidence = load_bundle(write(tmp_path, {"compose.yaml": COMPOSE, "logs/api.log": "bye\n"}))
    codes = {f.code for f in analyse(evidence).findings}

    assert not codes & {"CRASH_EXIT", "RESTART_LOOP", "OOM_KILLED", "SIGNAL_KILLED", "STARTUP_HANG"}


def test_broken_files_become_warnings(tmp_path: Path) -> None:
    files = {
        "compose.yaml": "services: [oops\n",
        "ps.txt": PS,
        "inspect/bad.json": "{not json",
        "bundle.json": "[1, 2]",
    }
    evidence = load_bundle(write(tmp_path, files))

    assert any("invalid YAML" in warning for warning in evidence.warnings)
    assert any("inspect/bad.json" in warning for warning in evidence.warnings)
    assert any("bundle.json" in warning for warning in evidence.warnings)
    assert "compose" in evidence.missing_evidence
    assert len(evidence.containers) == 2


def test_empty_folder_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no compose file"):
        load_bundle(tmp_path)


def test_missing_folder_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nope")


def test_compose_up_output_reaches_port_pattern(tmp_path: Path) -> None:
    files = {
        "compose.yaml": "services:\n  web:\n    image: nginx\n    ports: ['80:80']\n",
        "ps.txt": "NAMES       STATUS\nsite-web-1  Created\n",
        "compose-up.txt": "Error response from daemon: driver failed programming external connectivity"
        " on endpoint site-web-1 (abc): Bind for 0.0.0.0:80 failed: port is already allocated\n",
    }
    findings = analyse(load_bundle(write(tmp_path, files))).findings

    assert [(f.code, f.service) for f in findings] == [("PORT_ALREADY_ALLOCATED", "web")]
    assert findings[0].facts["port"] == "80"


# --- the documentation ---------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "bundle-format.md"


def test_format_doc_lists_every_pattern() -> None:
    from stackmedic.patterns.registry import ALL_PATTERNS

    text = DOC.read_text(encoding="utf-8")
    for pattern in ALL_PATTERNS:
        assert f"| {pattern.code} |" in text, pattern.code


def test_documented_minimal_example_leads_with_readiness(tmp_path: Path) -> None:
    files = {
        "compose.yaml": (
            "services:\n  db:\n    image: postgres:16\n    environment:\n"
            "      POSTGRES_PASSWORD: example\n  api:\n    image: shop-api:1.4\n"
            "    depends_on: [db]\n    environment:\n"
            "      DATABASE_URL: postgresql://postgres:example@db:5432/postgres\n"
        ),
        "ps.txt": (
            "CONTAINER ID   IMAGE          COMMAND                  CREATED         STATUS                     PORTS      NAMES\n"
            '3f2a1b9c8d7e   shop-api:1.4   "gunicorn app:app"       4 minutes ago   Exited (1) 4 minutes ago              shop-api-1\n'
            '9a8b7c6d5e4f   postgres:16    "docker-entrypoint.s…"   4 minutes ago   Up 4 minutes               5432/tcp   shop-db-1\n'
        ),
        "logs/api.log": (
            "2025-03-14T09:12:01.913Z psycopg2.OperationalError: could not connect to server: Connection refused\n"
            '2025-03-14T09:12:01.913Z \tIs the server running on host "db" (172.20.0.2) and accepting\n'
            "2025-03-14T09:12:01.913Z \tTCP/IP connections on port 5432?\n"
        ),
        "logs/db.log": "2025-03-14T09:12:04.000Z LOG:  database system is ready to accept connections\n",
    }
    findings = analyse(load_bundle(write(tmp_path, files))).findings

    assert (findings[0].code, findings[0].service) == ("DEPENDENCY_NOT_READY", "api")
    assert [(r.edit.action, r.edit.service) for r in findings[0].repairs if r.edit] == [
        ("set_healthcheck", "db"),
        ("set_depends_on_conditions", "api"),
    ]
    assert {(f.code, f.caused_by) for f in findings[1:]} == {
        ("CRASH_EXIT", findings[0].id),
        ("CONNECTION_REFUSED", findings[0].id),
    }
