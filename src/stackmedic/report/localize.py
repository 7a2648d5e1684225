"""Sentences of the run record in the report's language.

The run record stores some sentences as text: finding summaries and
recommendations, repair titles, rationales, predictions and reasons, check
details, phase notes, warnings and recommendations. This module shows each
of them in another language when the record carries what a translation
needs: a finding's `facts` for its pattern message, a `Message` for the
others, or for a repair title without one, its compose edit. Anything
without that, such as a record written before patterns stored messages, is
shown as written. Pattern codes, service names, paths and
values are fields of the messages and are never translated.

The CLI uses the same functions for its own output, so a finding reads the
same on the terminal as in the report.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from stackmedic.i18n import (
    DEFAULT_LANGUAGE,
    Message,
    as_message,
    catalogue,
    fill,
    message_text,
)
from stackmedic.model import CheckResult, Finding, PhaseRecord, Recommendation, Repair, RunRecord
from stackmedic.shell import shell_join

logger = logging.getLogger(__name__)


def stored_text(text: str, form: Message | None, lang: str) -> str:
    """Return `form` in `lang` when the record keeps it, else `text` as written."""
    if form is None:
        return text
    return message_text(form, lang) or text


def check_detail(check: CheckResult, lang: str) -> str:
    return stored_text(check.detail, check.detail_message, lang)


def finding_recommendation(finding: Finding, lang: str) -> str:
    return stored_text(finding.recommendation, finding.recommendation_message, lang)


def repair_rationale(repair: Repair, lang: str) -> str:
    return stored_text(repair.rationale, repair.rationale_message, lang)


def repair_reason(repair: Repair, lang: str) -> str:
    return stored_text(repair.reason, repair.reason_message, lang)


def repair_prediction(repair: Repair, lang: str) -> str:
    return stored_text(repair.prediction, repair.prediction_message, lang)


def localized(text: str, messages: Iterable[Message], lang: str) -> str:
    """Return `text` in `lang` when one of `messages` has it as its `text`, else unchanged."""
    for candidate in messages:
        if candidate.text == text:
            return message_text(candidate, lang)
    return text


def note_text(phase: PhaseRecord, note: str, lang: str) -> str:
    return localized(note, phase.note_messages, lang)


def warning_text(run: RunRecord, warning: str, lang: str) -> str:
    return localized(warning, run.warning_messages, lang)


def recommendation_text(recommendation: Recommendation, lang: str) -> str:
    if recommendation.message is None:
        return recommendation.text
    return message_text(recommendation.message, lang) or recommendation.text


def finding_summary(finding: Finding, lang: str) -> str:
    """Return the finding's summary in `lang`.

    Fills the pattern's `finding.<CODE>` message with the finding's facts
    and service. Falls back to the English message, then to the stored
    `finding.summary` when the message is missing or names a field that the
    facts lack.
    """
    key = f"finding.{finding.code}"
    template = catalogue(lang).get(key) or catalogue(DEFAULT_LANGUAGE).get(key)
    if template is None:
        return finding.summary
    fields: dict[str, Any] = {}
    for name, value in finding.facts.items():
        # An optional clause of the summary is stored as a message.
        part = as_message(value)
        fields[name] = value if part is None else message_text(part, lang)
    fields.setdefault("service", finding.service)
    filled = fill(template, fields)
    return finding.summary if filled is None else filled


def finding_summary_message(finding: Finding) -> Message:
    """Return the finding's summary as a `Message`, for sentences that quote it."""
    params: dict[str, Any] = dict(finding.facts)
    params.setdefault("service", finding.service)
    return Message(key=f"finding.{finding.code}", params=params, text=finding.summary)


def finding_recommendation_message(finding: Finding) -> Message:
    """Build the recommendation for a remaining finding as a `Message`.

    This is the pattern's advice in catalogue form when the finding keeps
    one. Otherwise `text` is the pattern's English advice, or the summary
    when it has none, and other languages translate it as "fix" followed by
    the finding's translated summary.
    """
    if finding.recommendation_message is not None:
        return finding.recommendation_message
    return Message(
        key="report.recommendation.finding",
        params={"summary": asdict(finding_summary_message(finding))},
        text=finding.recommendation or finding.summary,
    )


def repair_not_applied_message(repair: Repair) -> Message:
    """Return "<title>: not applied (<reason>)" for a rejected or rolled-back repair.

    The reason is nested as a message when the repair keeps one; `text`
    uses its English form.
    """
    title = repair_title_message(repair)
    form = repair.reason_message
    reason: Any = asdict(form) if form is not None else repair.reason
    shown = form.text if form is not None else repair.reason
    return Message(
        key="report.recommendation.repair_not_applied",
        params={"title": asdict(title), "reason": reason},
        text=f"{repair.title}: not applied ({shown})",
    )


def repair_title(repair: Repair, lang: str) -> str:
    """Return the repair's title in `lang`.

    Patterns write titles in English. A title stored with its catalogue
    form (`title_message`, a code patch's) is shown from it. Otherwise
    another language builds the title from the compose edit
    (`report.repair.title.<action>`), and an edit of an unknown action, or a
    code patch from an older record, keeps the stored title.
    """
    title = repair_title_message(repair)
    return message_text(title, lang)


def repair_title_message(repair: Repair) -> Message:
    """Return the repair's title as a `Message`: its stored form, else one built from its compose edit."""
    if repair.title_message is not None:
        return repair.title_message
    edit = repair.edit
    if edit is None:
        return Message(key="", text=repair.title)
    params: dict[str, Any] = {"service": edit.service}
    if edit.action == "set_env":
        params["name"] = edit.params.get("name", "")
        params["value"] = edit.params.get("value", "")
    elif edit.action == "set_depends_on_conditions":
        conditions = edit.params.get("conditions")
        if not isinstance(conditions, Mapping) or not conditions:
            return Message(key="", text=repair.title)
        params["conditions"] = ", ".join(
            f"{dependency} ({condition})" for dependency, condition in conditions.items()
        )
    elif edit.action == "set_healthcheck":
        params["test"] = healthcheck_test_text(edit.params.get("test"))
    else:
        return Message(key="", text=repair.title)
    return Message(key=f"report.repair.title.{edit.action}", params=params, text=repair.title)


def healthcheck_test_text(test: object) -> str:
    """Show a compose health check `test` as the command line it runs."""
    if isinstance(test, str):
        return test
    if isinstance(test, (list, tuple)) and test:
        parts = [str(part) for part in test]
        if parts[0] == "CMD-SHELL":
            return " ".join(parts[1:])
        if parts[0] == "CMD":
            parts = parts[1:]
        return shell_join(parts)
    return "-"
