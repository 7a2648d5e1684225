"""Code patches derived from the evidence: `propose_patches`.

A finding of a code fault gets a patch only when the evidence determines the
change. Otherwise it gets a recommendation that states exactly what to write
and where. The rules, one module each:

| finding | patch | when | confidence |
| --- | --- | --- | --- |
| KEY_ERROR | rename the key to a column (`patch_keyerror`) | the query that made the row is found, its tables are in the schema, and one returned column is the clear nearest name | 0.9 with the database file's schema, 0.85 with CREATE TABLE |
| MISSING_ATTRIBUTE | call the near-spelled method (`patch_method`) | the class has a likely typo of the name that accepts the call's arguments | 0.75 |
| MISSING_ATTRIBUTE | add a method that inserts one row (`patch_method`) | the call's keyword arguments are the columns of exactly one table and the class already runs a write to model it on | 0.6 |
| STARTUP_HANG | poll before a ZeroMQ receive, bounded and logged (`patch_timeout`) | the blocking call is a ZeroMQ receive with no timeout yet | 0.8 |

Each module's docstring gives its rule in full, including the cases where
it must not propose anything. A patch is a unified diff with paths relative
to the project directory (`a/tacore/api.py`, `b/tacore/api.py`), made
against the file as collected. It is attached to the finding as a PROPOSED
`Repair` whose `patch` contains the diff and whose `rationale` starts with
the confidence. The planner rejects patches unless code changes are allowed.
`stackmedic.repair.code_patch` applies the planned ones and sets `diff` to
what each changed (also in a dry run), so the report shows a rejected patch
as a proposal and a planned or applied one as a change.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from stackmedic.analysis.patch_context import PatchContext, PatchProposal, RuleOutcome
from stackmedic.analysis.patch_keyerror import propose_key_error
from stackmedic.analysis.patch_method import propose_missing_method
from stackmedic.analysis.patch_schema import TableInfo
from stackmedic.analysis.patch_source import unified_diff
from stackmedic.analysis.patch_timeout import propose_timeout
from stackmedic.evidence.facts import SourceFacts
from stackmedic.evidence.model import Evidence
from stackmedic.i18n import message
from stackmedic.model import Finding, Repair, RepairStatus, message_of

__all__ = ["RULES", "propose_patches"]

logger = logging.getLogger(__name__)

Rule = Callable[[Finding, PatchContext], RuleOutcome]

RULES: dict[str, Rule] = {
    "KEY_ERROR": propose_key_error,
    "MISSING_ATTRIBUTE": propose_missing_method,
    "STARTUP_HANG": propose_timeout,
}
_PATCH_ID = re.compile(r"^P(\d+)$")


def propose_patches(
    findings: list[Finding],
    evidence: Evidence,
    facts: SourceFacts,
    lang: str = "en",
    *,
    database_tables: list[TableInfo] | None = None,
) -> None:
    """Append code patch proposals to the findings they fix, and sharpen their recommendations.

    `database_tables` is the schema read from the database file the
    containers use (`patch_schema.schema_from_sqlite_bytes`). Without it, the
    CREATE TABLE statements in the source are taken as the schema. Titles,
    rationales and recommendations are written in `lang`, and their
    catalogue forms are stored beside them (`Repair.title_message`,
    `Repair.rationale_message`, `Finding.recommendation_message`) so that a
    report in another language can translate them. A rule that fails
    is logged as a warning and the other findings go on. Calling this again
    on the same findings adds no duplicate.
    """
    context = PatchContext(evidence, facts, lang, database_tables)
    numbers = _patch_numbers(findings)
    for finding in findings:
        rule = RULES.get(finding.code)
        if rule is None:
            continue
        try:
            outcome = rule(finding, context)
        except Exception as error:  # one rule's failure must not stop the others
            logger.warning(
                "patch rule for %s (%s) failed: %s", finding.code, finding.id, error, exc_info=True
            )
            continue
        _record(finding, outcome, context, numbers)


def _record(
    finding: Finding, outcome: RuleOutcome, context: PatchContext, numbers: list[int]
) -> None:
    finding.facts.update(outcome.facts)
    if outcome.recommendation:
        finding.recommendation = outcome.recommendation
        finding.recommendation_message = message_of(outcome.recommendation)
    if outcome.declined and not outcome.proposals:
        finding.facts["patch_declined"] = str(outcome.declined)
        note = context.t("patch.declined", reason=outcome.declined)
        if note not in finding.recommendation:
            _append_note(finding, note)
        logger.info("no patch for %s (%s): %s", finding.code, finding.id, outcome.declined)
    for proposal in outcome.proposals:
        patch = unified_diff(proposal.before, proposal.after, proposal.path)
        if any(existing.patch == patch for existing in finding.repairs):
            continue
        repair = _repair(finding, proposal, patch, context, numbers)
        finding.repairs.append(repair)
        logger.info(
            "patch %s proposed for %s (%s): %s", repair.id, finding.code, finding.id, repair.title
        )


def _append_note(finding: Finding, note: str) -> None:
    """Append `note` to the finding's recommendation, in its text and in its catalogue form.

    The catalogue form is kept only when both the recommendation (or its
    absence) and the note have one. Otherwise the joined text is shown as
    written in every language.
    """
    before = finding.recommendation_message
    note_form = message_of(note)
    if not finding.recommendation:
        finding.recommendation_message = note_form
    elif before is not None and note_form is not None:
        finding.recommendation_message = message("patterns.sentences", first=before, rest=note_form)
    else:
        finding.recommendation_message = None
    finding.recommendation = f"{finding.recommendation} {note}".strip()


def _repair(
    finding: Finding, proposal: PatchProposal, patch: str, context: PatchContext, numbers: list[int]
) -> Repair:
    numbers[0] += 1
    rationale = context.t(
        "patch.rationale", confidence=f"{proposal.confidence:.2f}", reason=proposal.reason
    )
    return Repair(
        id=f"P{numbers[0]:03d}",
        finding_id=finding.id,
        code=finding.code,
        service=finding.service,
        title=proposal.title,
        rationale=rationale,
        patch=patch,
        status=RepairStatus.PROPOSED,
        files=[proposal.path],
        rationale_message=message_of(rationale),
        title_message=message_of(proposal.title),
    )


def _patch_numbers(findings: list[Finding]) -> list[int]:
    """Return a one-element counter that starts after the highest `P<n>` repair id in use."""
    highest = 0
    for finding in findings:
        for repair in finding.repairs:
            match = _PATCH_ID.match(repair.id)
            if match is not None:
                highest = max(highest, int(match.group(1)))
    return [highest]
