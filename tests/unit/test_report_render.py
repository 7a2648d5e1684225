"""`render(run, fmt, lang)`: one entry point for every report format."""

from __future__ import annotations

import json
import sys
import types
from typing import Any

import pytest
import run_builders as builders

from stackmedic.errors import StackmedicError
from stackmedic.model import Finding
from stackmedic.report import render as render_module
from stackmedic.report.render import (
    FORMATS,
    render,
    render_html,
    render_json,
    render_markdown,
)


def test_formats_dispatch_to_their_renderers() -> None:
    run = builders.healthy_run()

    assert render(run, "md", "zh-CN") == render_markdown(run, "zh-CN")
    assert render(run, "html", "en") == render_html(run, "en")
    assert render(run, "json", "zh-CN") == render_json(run)


def test_unknown_format_is_rejected_with_the_choices() -> None:
    with pytest.raises(StackmedicError, match="unknown report format 'pdf'") as raised:
        render(builders.healthy_run(), "pdf", "en")

    assert raised.value.hint == "choose one of " + ", ".join(FORMATS)


def test_unknown_language_is_rejected_for_html() -> None:
    with pytest.raises(StackmedicError, match="unknown report language 'fr'"):
        render(builders.healthy_run(), "html", "fr")


class FakeSarif:
    """Stands in for stackmedic.report.sarif and records what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[Finding], str, str | None]] = []

    def render_sarif(
        self, findings: list[Finding], tool_version: str, project_dir: str | None
    ) -> str:
        self.calls.append((findings, tool_version, project_dir))
        return json.dumps({"version": "2.1.0", "results": [f.code for f in findings]})


def install_fake_sarif(monkeypatch: pytest.MonkeyPatch) -> FakeSarif:
    fake = FakeSarif()
    module: Any = types.ModuleType("stackmedic.report.sarif")
    module.render_sarif = fake.render_sarif
    monkeypatch.setitem(sys.modules, "stackmedic.report.sarif", module)
    return fake


def test_sarif_gets_the_final_remaining_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = install_fake_sarif(monkeypatch)
    run = builders.run_with_remaining_problems()

    text = render(run, "sarif", "zh-CN")

    assert json.loads(text)["results"] == ["MISSING_ENV", "KEY_ERROR", "MISSING_ATTRIBUTE"]
    findings, version, project_dir = fake.calls[0]
    assert [f.id for f in findings] == [f.id for f in run.remaining]
    assert version == run.stackmedic_version
    assert project_dir == run.project_dir


def test_sarif_input_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = install_fake_sarif(monkeypatch)
    run = builders.run_with_remaining_problems()
    run.remaining[0].evidence.append(
        builders.log_ref("tacore-tacoreservice-1", 9, "DB_PASSWORD=hunter2-secret")
    )

    render(run, "sarif", "en")

    evidence = fake.calls[0][0][0].evidence[-1].text
    assert evidence == "DB_PASSWORD=***"


def test_missing_sarif_module_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "stackmedic.report.sarif", None)

    with pytest.raises(StackmedicError, match="SARIF output is not available") as raised:
        render(builders.healthy_run(), "sarif", "en")

    assert raised.value.hint == "choose --format md, json or html"


def test_render_module_is_reachable_from_the_package() -> None:
    import stackmedic.report

    assert stackmedic.report.render is render_module
