"""The inputs the code patch rules read and the outcome each rule returns."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from stackmedic.analysis.patch_schema import TableInfo, tables_from_source
from stackmedic.analysis.patch_source import PythonSource
from stackmedic.evidence.facts import SourceFacts
from stackmedic.evidence.model import Evidence, SourceFile
from stackmedic.i18n import message, message_text
from stackmedic.model import MessageText, message_of

logger = logging.getLogger(__name__)


@dataclass
class PatchProposal:
    """A change to one file that a rule derived from the evidence.

    `before` is the file's text as collected and `after` the text with the
    change. `reason` states the evidence; `confidence` is between 0 and 1.
    """

    path: str
    before: str
    after: str
    title: str
    reason: str
    confidence: float


@dataclass
class RuleOutcome:
    """The result of one rule on one finding.

    `proposals` are the patches. `recommendation`, when set, replaces the
    finding's text for a human. `facts` are added to the finding's facts,
    and `declined` states why no patch is proposed.
    """

    proposals: list[PatchProposal] = field(default_factory=list)
    recommendation: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    declined: str = ""


class PatchContext:
    """The evidence, the source facts and the schema a rule reads, with parsed files cached.

    `database_tables` is the schema read from the database file the
    containers use. When it is None, the rules read the CREATE TABLE
    statements of the source instead.
    """

    def __init__(
        self,
        evidence: Evidence,
        facts: SourceFacts,
        lang: str = "en",
        database_tables: list[TableInfo] | None = None,
    ) -> None:
        self.evidence = evidence
        self.facts = facts
        self.lang = lang
        self.database_tables = database_tables
        self._parsed: dict[tuple[str, str], PythonSource | None] = {}

    def t(self, message_key: str, /, **fields: Any) -> MessageText:
        """Return the message `message_key` in the rule's language, carrying its catalogue form.

        A field that is itself a `MessageText` is nested as its message, so
        that a report in another language translates it too.
        """
        params = {
            name: (message_of(value) or value) if isinstance(value, str) else value
            for name, value in fields.items()
        }
        form = message(message_key, **params)
        return MessageText(message_text(form, self.lang), form)

    def sentences(self, *parts: str) -> str:
        """Join sentences with the separator of the rule's language.

        The result carries a catalogue form only when every part has one.
        """
        present = [part for part in parts if part]
        if not present:
            return ""
        forms = [message_of(part) for part in present]
        if any(form is None for form in forms):
            return " ".join(present)
        joined = present[-1]
        for part in reversed(present[:-1]):
            joined = self.t("patterns.sentences", first=part, rest=joined)
        return joined

    def source(self, service: str, path: str) -> SourceFile | None:
        """Return a collected file of the service, else the same path from any service."""
        for source in self.evidence.sources_of(service):
            if source.path == path:
                return source
        return next((s for s in self.evidence.sources if s.path == path), None)

    def python(self, service: str, path: str) -> PythonSource | None:
        """Return the parsed Python file, or None when it is missing, not Python or does not parse."""
        key = (service, path)
        if key not in self._parsed:
            source = self.source(service, path)
            parsed = None
            if source is not None and path.endswith(".py"):
                try:
                    parsed = PythonSource(path, source.text)
                except (SyntaxError, ValueError) as error:
                    logger.debug("%s does not parse: %s", path, error)
            self._parsed[key] = parsed
        return self._parsed[key]

    def python_files(self, service: str) -> list[PythonSource]:
        """Return every parsable Python file of the service's build context."""
        found = []
        for source in self.evidence.sources_of(service) or self.evidence.sources:
            parsed = self.python(service, source.path)
            if parsed is not None:
                found.append(parsed)
        return found

    def tables(self, service: str) -> list[TableInfo]:
        """Return the schema the service's code works on: the database file's, else the source's."""
        if self.database_tables is not None:
            return self.database_tables
        return tables_from_source(self.evidence, self.facts, service)

    def schema_origin(self, table: TableInfo) -> str:
        """Describe where a table's definition was read, for a rationale."""
        if table.origin == "database":
            return self.t("patch.schema.database")
        return self.t("patch.schema.source", where=table.where)
