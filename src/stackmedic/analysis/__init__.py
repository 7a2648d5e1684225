"""Analysis: source facts, pattern matching and causal ordering of the findings.

`analyse(evidence)` is the DIAGNOSE-02 step: it extracts facts from the
collected source (unless given), keeps for each service only the facts of
the files its command runs, runs every registered pattern, lowers the
confidence of findings whose pattern reads evidence the bundle lacks, and
orders the findings root cause first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from stackmedic.evidence.facts import SourceFacts
from stackmedic.evidence.model import Evidence
from stackmedic.i18n import Message
from stackmedic.model import Finding, english_text, message_of

logger = logging.getLogger(__name__)

# Each kind of evidence a pattern reads but the evidence lacks multiplies its
# findings' confidence by this factor: what was not seen could have contradicted them.
MISSING_EVIDENCE_FACTOR = 0.8


@dataclass
class AnalysisResult:
    """The findings of one analysis, root causes first, with the facts they used.

    `warning_messages` contains the catalogue form of those `warnings` that
    have one, matched by their text.
    """

    findings: list[Finding]
    facts: SourceFacts
    warnings: list[str] = field(default_factory=list)
    warning_messages: list[Message] = field(default_factory=list)


def analyse(evidence: Evidence, facts: SourceFacts | None = None) -> AnalysisResult:
    """Match every pattern against the evidence and return the ordered findings.

    When `facts` is None they are extracted from `evidence.sources`; if that
    extraction fails the analysis goes on with empty facts and a warning.
    """
    # NOTE: imported here, not at module level, because the pattern modules
    # import stackmedic.analysis.source and its siblings, which runs this
    # file first; a module-level import of the registry would be circular.
    from stackmedic.analysis.ordering import order_findings
    from stackmedic.patterns.base import AnalysisContext
    from stackmedic.patterns.registry import run_patterns
    from stackmedic.patterns.scope import scope_facts

    warnings: list[str] = []
    if facts is None:
        from stackmedic.analysis.source import extract_facts

        try:
            facts = extract_facts(evidence)
        except Exception as error:
            logger.warning("source analysis failed: %s", error, exc_info=True)
            warnings.append(english_text("report.analysis_warning.source_failed",
                                         error_type=type(error).__name__, error=str(error)))
            facts = SourceFacts()
    warnings.extend(facts.warnings)
    facts = scope_facts(evidence, facts)

    findings, pattern_warnings = run_patterns(AnalysisContext(evidence, facts))
    warnings.extend(pattern_warnings)
    discount_for_missing_evidence(findings, evidence)
    # Warnings built from the catalogue are `MessageText`s that carry their message.
    messages = [form for form in map(message_of, warnings) if form is not None]
    return AnalysisResult(order_findings(findings, evidence), facts, warnings, messages)


def discount_for_missing_evidence(findings: list[Finding], evidence: Evidence) -> None:
    """Lower the confidence of findings whose pattern reads a kind of evidence that is missing.

    The kinds missing are recorded in the finding's facts as `missing_evidence`.
    """
    missing = set(evidence.missing_evidence)
    if not missing:
        return
    from stackmedic.patterns.registry import ALL_PATTERNS

    reads = {pattern.code: pattern.reads for pattern in ALL_PATTERNS}
    for finding in findings:
        absent = sorted(reads.get(finding.code, frozenset()) & missing)
        if not absent:
            continue
        finding.confidence = round(finding.confidence * MISSING_EVIDENCE_FACTOR ** len(absent), 2)
        finding.facts["missing_evidence"] = absent
        logger.debug(
            "%s %s: confidence lowered to %.2f, missing %s",
            finding.code,
            finding.service,
            finding.confidence,
            ", ".join(absent),
        )
