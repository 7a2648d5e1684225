"""The accuracy corpus: every bundle in tests/cases is diagnosed and judged against expected.yaml.

See tests/cases/corpus.py for the expectation format and scripts/accuracy.py
for the table of results.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

CASES = Path(__file__).resolve().parents[1] / "cases"
sys.path.insert(0, str(CASES))

import corpus

CASE_DIRS = corpus.case_dirs()
MIN_CASES = 30


def test_corpus_has_enough_cases() -> None:
    assert len(CASE_DIRS) >= MIN_CASES


@pytest.mark.parametrize("directory", CASE_DIRS, ids=[d.name for d in CASE_DIRS])
def test_case_root_cause_and_repair(directory: Path) -> None:
    result = corpus.evaluate(directory)
    report = result.describe()

    assert result.pattern_hit, (
        f"first finding {result.first}, expected {result.expected.pattern}\n{report}"
    )
    assert result.service_hit, (
        f"first finding {result.first}, expected service {result.expected.service}\n{report}"
    )
    assert result.repair_hit, f"expected repair {result.expected.repair} not proposed\n{report}"
    assert not result.contradicted, (
        f"findings the evidence contradicts: {result.contradicted}\n{report}"
    )
