"""The small interface every error pattern implements.

A pattern is a class with a stable UPPER_SNAKE `code`, a one-line `summary`
(the text users read), a `category`, and `match(context)` that returns
findings. Patterns read the evidence and the source facts only: they never
call the engine, and they never change files. Repairs a pattern proposes are
only proposals; `stackmedic.repair.planner` predicts their effect and may
reject them.

`reads` names the kinds of evidence a pattern looks at. When a bundle lacks
one of them (`Evidence.missing_evidence`), the analysis lowers the
confidence of that pattern's findings, because evidence that could have
contradicted them was not there.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from stackmedic.evidence.facts import SourceFacts
from stackmedic.evidence.model import EVIDENCE_KINDS, Evidence
from stackmedic.model import Category, Finding

# The kinds of evidence, as `Evidence.missing_evidence` names them.
COMPOSE, STATE, HEALTH_LOG, LOG, SOURCE = EVIDENCE_KINDS


@dataclass
class AnalysisContext:
    """The input of a pattern: the evidence and the facts derived from the source."""

    evidence: Evidence
    facts: SourceFacts
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)

    def next_id(self, prefix: str = "F") -> str:
        return f"{prefix}{next(self._ids):03d}"


class Pattern(Protocol):
    code: ClassVar[str]
    summary: ClassVar[str]
    category: ClassVar[Category]
    reads: ClassVar[frozenset[str]]

    def match(self, context: AnalysisContext) -> list[Finding]: ...
