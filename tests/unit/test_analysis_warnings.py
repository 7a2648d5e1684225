"""Analysis warnings keep their catalogue form, so reports translate them."""

from __future__ import annotations

from typing import ClassVar

import pytest

from stackmedic.analysis import analyse
from stackmedic.analysis import source as source_module
from stackmedic.evidence.model import Evidence, SourceFile
from stackmedic.i18n import message_text
from stackmedic.model import Category, Finding, message_of
from stackmedic.patterns import registry
from stackmedic.patterns.base import AnalysisContext


class BrokenPattern:
    code: ClassVar[str] = "BROKEN"
    summary: ClassVar[str] = "always raises"
    category: ClassVar[Category] = Category.RUNTIME
    reads: ClassVar[frozenset[str]] = frozenset()

    def match(self, context: AnalysisContext) -> list[Finding]:
        raise RuntimeError("boom")


def evidence(files: dict[str, str]) -> Evidence:
    sources = [SourceFile("app", path, text) for path, text in files.items()]
    return Evidence("demo", "/demo", [], {"services": {"app": {}}}, sources=sources)


def test_failing_pattern_warning_has_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "ALL_PATTERNS", [BrokenPattern()])

    result = analyse(evidence({}))

    assert result.warnings == ["pattern BROKEN failed: RuntimeError: boom"]
    assert [m.key for m in result.warning_messages] == ["report.analysis_warning.pattern_failed"]
    assert message_text(result.warning_messages[0], "zh-CN") == "模式 BROKEN 运行失败：RuntimeError: boom"


def test_failed_file_scan_warning_has_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: object) -> None:
        raise ValueError("unexpected node")

    monkeypatch.setattr(source_module.PythonScanner, "scan", fail)
    monkeypatch.setattr(registry, "ALL_PATTERNS", [])

    result = analyse(evidence({"app/main.py": "x = 1\n"}))

    assert result.warnings == ["app/main.py: source scan failed (ValueError: unexpected node)"]
    form = message_of(result.warnings[0])
    assert form is not None
    assert result.warning_messages == [form]
    assert message_text(form, "zh-CN") == "app/main.py：源码扫描失败（ValueError: unexpected node）"


def test_failed_source_analysis_warning_has_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(evidence: Evidence) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(source_module, "extract_facts", fail)
    monkeypatch.setattr(registry, "ALL_PATTERNS", [])

    result = analyse(evidence({"app/main.py": "x = 1\n"}))

    assert result.warnings == ["source analysis failed: OSError: disk gone"]
    assert message_text(result.warning_messages[0], "zh-CN") == "源码分析失败：OSError: disk gone"


def test_syntax_warning_carries_its_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "ALL_PATTERNS", [])

    result = analyse(evidence({"app/broken.py": "def broken(:\n    pass\n"}))

    assert len(result.warnings) == 1
    assert [m.key for m in result.warning_messages] == ["warnings.analysis.invalid_python"]
    assert "app/broken.py" in message_text(result.warning_messages[0], "zh-CN")
