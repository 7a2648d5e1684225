"""Scoping facts to the files a service's command runs, for services sharing a build context."""

from __future__ import annotations

import pytest
from evidence_builders import PROJECT_DIR, endpoint, evidence

from stackmedic.evidence.facts import SourceFacts
from stackmedic.evidence.model import SourceFile
from stackmedic.patterns.scope import entry_modules, reachable_files, scope_facts

FILES = {
    "app/__init__.py": "",
    "app/worker.py": "from app.db import Store\nfrom . import util\nimport zmq\n",
    "app/db.py": "import sqlite3\n",
    "app/util.py": "",
    "app/main.py": "from app import api\n",
    "app/api.py": "from .db import Store\n",
    "app/health.py": "import os\n",
}


def shared_context() -> list[SourceFile]:
    """Return the same files for both services, as the collector gives a shared build context."""
    return [
        SourceFile(service, path, text)
        for service in ("worker", "main")
        for path, text in FILES.items()
    ]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["python", "-m", "app.worker"], ["app/worker.py"]),
        (["python3", "-u", "app/main.py"], ["app/main.py"]),
        (["/usr/local/bin/python", "-X", "dev", "-m", "app.main"], ["app/main.py"]),
        (["uvicorn", "app.main:app", "--host", "0.0.0.0"], ["app/main.py"]),
        (["sh", "-c", "python -m app.worker --verbose"], ["app/worker.py"]),
        # Not a Python entry point.
        (["node", "server.js"], []),
        (["python", "-c", "print(1)"], []),
    ],
)
def test_entry_modules_are_read_from_command(argv: list[str], expected: list[str]) -> None:
    assert entry_modules(argv) == expected


def test_reachable_files_follow_imports_from_compose_command() -> None:
    services = {
        "worker": {"build": {"context": PROJECT_DIR}, "command": ["python", "-m", "app.worker"]},
        "main": {"build": {"context": PROJECT_DIR}, "command": "python -m app.main"},
    }
    built = evidence(services, sources=shared_context())
    assert reachable_files(built, "worker") == {
        "app/worker.py",
        "app/__init__.py",
        "app/db.py",
        "app/util.py",
    }
    assert reachable_files(built, "main") == {
        "app/main.py",
        "app/__init__.py",
        "app/api.py",
        "app/db.py",
    }


def test_reachable_files_use_dockerfile_cmd_without_compose_command() -> None:
    dockerfile = 'FROM python:3.11\nWORKDIR /srv\nCOPY . .\nCMD ["python", "-m", "app.worker"]\n'
    sources = [SourceFile("worker", path, text) for path, text in FILES.items()]
    sources.append(SourceFile("worker", "Dockerfile", dockerfile))
    built = evidence({"worker": {"build": {"context": PROJECT_DIR}}}, sources=sources)
    assert "app/worker.py" in (reachable_files(built, "worker") or set())
    assert "app/api.py" not in (reachable_files(built, "worker") or set())


def test_unknown_entry_point_keeps_every_file() -> None:
    # No command anywhere: nothing shows which files run, so none are dropped.
    built = evidence({"worker": {}}, sources=[SourceFile("worker", "app/worker.py", "")])
    assert reachable_files(built, "worker") is None


def test_scope_drops_other_services_files() -> None:
    services = {
        "worker": {"command": ["python", "-m", "app.worker"]},
        "main": {"command": ["python", "-m", "app.main"]},
    }
    built = evidence(services, sources=shared_context())
    facts = SourceFacts(
        endpoints=[
            endpoint(service, "connect", "tcp", "main", 5555, "app/worker.py", 5)
            for service in ("worker", "main")
        ]
        + [
            endpoint(service, "bind", "tcp", "*", 5556, "app/api.py", 9)
            for service in ("worker", "main")
        ]
        + [
            # Facts from a Dockerfile command are not Python files and always stay.
            endpoint(service, "bind", "http", "0.0.0.0", 80, "Dockerfile", 4)
            for service in ("worker", "main")
        ]
    )
    scoped = scope_facts(built, facts)
    kept = {(e.service, e.path) for e in scoped.endpoints}
    assert kept == {
        ("worker", "app/worker.py"),
        ("main", "app/api.py"),
        ("worker", "Dockerfile"),
        ("main", "Dockerfile"),
    }
    # The original facts are not changed.
    assert len(facts.endpoints) == 6
