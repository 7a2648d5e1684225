"""The small interface every error pattern implements.

A pattern is a class with a stable UPPER_SNAKE `code`, a one-line `summary`
(the text users read), a `category`, and `match(context)` that returns
findings. Patterns read the evidence and the source facts only: they never
call the engine, and they never change files. Repairs a pattern proposes are
only proposals; `stackmedic.repair.planner` predicts their effect and may
reject them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from stackmedic.evidence.facts import SourceFacts
from stackmedic.evidence.model import Evidence
from stackmedic.model import Category, Finding


@dataclass
class AnalysisContext:
    """What a pattern may read: the evidence and facts derived from the source."""

    evidence: Evidence
    facts: SourceFacts
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)

    def next_id(self, prefix: str = "F") -> str:
        return f"{prefix}{next(self._ids):03d}"


class Pattern(Protocol):
    code: ClassVar[str]
    summary: ClassVar[str]
    category: ClassVar[Category]

    def match(self, context: AnalysisContext) -> list[Finding]: ...
