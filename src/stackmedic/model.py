"""The data of one DIAGNOSE -> REPAIR -> VERIFY cycle and of a whole run.

Findings, repairs and check results are plain dataclasses shared by every
room: patterns create findings, the repair planner turns their proposals into
repairs, verification produces check results, and the report renders the
`RunRecord` that contains them all. See `stackmedic.evidence.model` for the
evidence these are computed from.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Self

from stackmedic.evidence.model import utc_now
from stackmedic.i18n import Message, message, message_text


class Category(str, enum.Enum):
    CONFIGURATION = "configuration"
    STARTUP = "startup"
    HEALTHCHECK = "healthcheck"
    RUNTIME = "runtime"
    APPLICATION = "application"


class Fixability(str, enum.Enum):
    """The party that can remove a finding's cause."""

    COMPOSE = "compose"
    CODE = "code"
    HUMAN = "human"


@dataclass
class SourceLocation:
    """A place in the project's files: path relative to the project directory.

    `snippet` contains a few numbered lines around `line`.
    """

    path: str
    line: int
    function: str | None = None
    snippet: str | None = None
    container_path: str | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class EvidenceRef:
    """One piece of evidence a finding cites.

    `kind` is log, health, state, compose, source or check; `origin` is the
    container name, file path or check name it comes from.
    """

    kind: str
    origin: str
    text: str
    line: int | None = None
    timestamp: str | None = None


@dataclass
class ComposeEdit:
    """A change to one service's compose definition.

    `action` is one of the edit actions `stackmedic.repair.compose_edit`
    implements (set_env, set_depends_on_conditions, set_healthcheck); `params`
    are that action's arguments.
    """

    action: str
    service: str
    params: dict[str, Any] = field(default_factory=dict)


class RepairStatus(str, enum.Enum):
    PROPOSED = "proposed"
    PLANNED = "planned"
    APPLIED = "applied"
    REJECTED = "rejected"
    ROLLED_BACK = "rolled_back"


@dataclass
class Repair:
    """A proposed or applied change, with its predicted effect.

    A pattern fills `edit` (or `patch` for code) and `rationale`; the planner
    fills `prediction`, `status` and `reason` (why rejected), and the applier
    fills `diff` and `files`. The planner writes `prediction` and `reason` in
    the run's language. `prediction_message` and `reason_message` are their
    catalogue forms (English `text`), which reports show in their own
    language. A reason written without a catalogue form leaves
    `reason_message` None and is shown as written. `rationale_message` and
    `title_message` are the catalogue forms of `rationale` and `title` that
    a pattern or a code patch rule wrote; None (a record from before they
    existed) shows the stored text.
    """

    id: str
    finding_id: str
    code: str
    service: str
    title: str
    rationale: str = ""
    edit: ComposeEdit | None = None
    patch: str | None = None
    prediction: str = ""
    status: RepairStatus = RepairStatus.PROPOSED
    reason: str = ""
    diff: str = ""
    files: list[str] = field(default_factory=list)
    prediction_message: Message | None = None
    reason_message: Message | None = None
    rationale_message: Message | None = None
    title_message: Message | None = None

    def set_reason(self, form: Message, lang: str = "en") -> None:
        """Set `reason` to the message `form` in `lang`, and `reason_message` to `form`."""
        self.reason = message_text(form, lang)
        self.reason_message = form


@dataclass
class Finding:
    """A named error pattern matched in the evidence.

    `facts` are the pattern's measured values (variable names, ports, keys);
    they fill the translated summary and let repairs predict their effect.
    `caused_by` is the id of the finding this one is a consequence of.
    `recommendation_message` is the catalogue form of `recommendation`, or
    None when the advice has none and is shown as written.
    """

    id: str
    code: str
    service: str
    summary: str
    confidence: float
    category: Category
    fixable_by: Fixability
    evidence: list[EvidenceRef] = field(default_factory=list)
    location: SourceLocation | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    repairs: list[Repair] = field(default_factory=list)
    caused_by: str | None = None
    recommendation: str = ""
    recommendation_message: Message | None = None


@dataclass
class CheckSpec:
    """A functional check from the plan: type is http, tcp, exec, log_absent or log_present."""

    name: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckResult:
    """The outcome of one functional check.

    `detail` is the outcome in English; `detail_message` is its catalogue
    form, None in records written before checks stored one.
    """

    name: str
    type: str
    passed: bool
    detail: str
    started_at: str = field(default_factory=utc_now)
    duration_s: float = 0.0
    observed: dict[str, Any] = field(default_factory=dict)
    detail_message: Message | None = None


@dataclass
class ContainerSnapshot:
    """A container's state at one moment, for the report's timeline."""

    at: str
    name: str
    service: str
    state: str
    health: str | None
    exit_code: int | None = None
    restart_count: int = 0
    oom_killed: bool = False


@dataclass
class PhaseRecord:
    """One phase of a cycle: DIAGNOSE-01, DIAGNOSE-02, REPAIR-01 or VERIFY-01.

    `calls` lists every Engine API call or command the phase made, in order.
    `note_messages` contains the catalogue form of those `notes` that have
    one (matched by their `text`), so reports translate them.
    """

    name: str
    started_at: str
    finished_at: str = ""
    calls: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    note_messages: list[Message] = field(default_factory=list)

    def add_note(self, key: str, /, **params: Any) -> None:
        """Append a note in English to `notes` and its catalogue form to `note_messages`."""
        note = message(key, **params)
        self.notes.append(note.text)
        self.note_messages.append(note)


class Verdict(str, enum.Enum):
    HEALTHY = "healthy"
    PROBLEMS_REMAIN = "problems_remain"
    WORSE = "worse"
    NOT_VERIFIED = "not_verified"


@dataclass
class CycleRecord:
    """One DIAGNOSE -> REPAIR -> VERIFY cycle.

    `settle_seconds` runs from the start of the wait to the last container
    settling, `settle_detect_seconds` from the engine's time of that settling
    to the moment the wait noticed it, and `verdict_latency_seconds` from
    that moment to the verdict. A cycle that made things worse is
    `rolled_back`; `rollback_checks` are the checks run again after its
    files were restored and the project redeployed.
    """

    number: int
    phases: list[PhaseRecord] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    repairs: list[Repair] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    log_findings: list[Finding] = field(default_factory=list)
    snapshots: list[ContainerSnapshot] = field(default_factory=list)
    verdict: Verdict = Verdict.NOT_VERIFIED
    rolled_back: bool = False
    settle_seconds: float | None = None
    verdict_latency_seconds: float | None = None
    settle_timed_out: bool = False
    settle_detect_seconds: float | None = None
    rollback_checks: list[CheckResult] = field(default_factory=list)


@dataclass
class Recommendation:
    """A next step for a human. `message` is `text` in catalogue form, when it has one."""

    priority: str
    text: str
    location: str | None = None
    code: str | None = None
    service: str | None = None
    message: Message | None = None


@dataclass
class RunRecord:
    """Everything a run did, in the order it did it; the report renders this."""

    run_id: str
    plan_id: str
    plan_name: str
    project_dir: str
    project_name: str
    target_services: list[str]
    started_at: str
    stackmedic_version: str
    engine_version: str = ""
    compose_version: str = ""
    finished_at: str = ""
    dry_run: bool = False
    max_cycles: int = 3
    baseline_checks: list[CheckResult] = field(default_factory=list)
    cycles: list[CycleRecord] = field(default_factory=list)
    verdict: Verdict = Verdict.NOT_VERIFIED
    fixed: list[Finding] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)
    stop_reason: str = ""
    warnings: list[str] = field(default_factory=list)
    warning_messages: list[Message] = field(default_factory=list)

    def add_warning(self, key: str, /, **params: Any) -> None:
        """Append a warning in English to `warnings` and its catalogue form to `warning_messages`."""
        warning = message(key, **params)
        self.warnings.append(warning.text)
        self.warning_messages.append(warning)

    @property
    def final_checks(self) -> list[CheckResult]:
        """The checks of the state the run left the project in.

        For a rolled-back cycle that is the checks run after the rollback,
        when there are any, not the checks that found the cycle worse.
        """
        for cycle in reversed(self.cycles):
            if cycle.rolled_back and cycle.rollback_checks:
                return cycle.rollback_checks
            if cycle.checks:
                return cycle.checks
        return self.baseline_checks

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))


def to_jsonable(value: Any) -> Any:
    """Convert enums inside `asdict` output to their values, recursively."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


class MessageText(str):
    """A sentence as text that also carries its catalogue form in `message`.

    NOTE: a `str` subclass, so that lists typed `list[str]` (the analysis
    warnings in `SourceFacts.warnings`, the pattern registry's warnings, the
    verdict's regression reasons) carry the catalogue form to the run record
    without changing their type. String operations return a plain `str`
    without it.
    """

    message: Message

    def __new__(cls, text: str, message: Message) -> Self:
        instance = super().__new__(cls, text)
        instance.message = message
        return instance

    def __getnewargs__(self) -> tuple[str, Message]:  # type: ignore[override]
        # copy and pickle rebuild the instance through __new__ with these arguments.
        return str(self), self.message


def message_of(text: str) -> Message | None:
    """Return the catalogue form that `text` carries as a `MessageText`, or None."""
    return text.message if isinstance(text, MessageText) else None


def english_text(key: str, /, **params: Any) -> MessageText:
    """Build the message `key` and return its English text carrying the message."""
    built = message(key, **params)
    return MessageText(built.text, built)


def join_messages(parts: Sequence[Message], key: str) -> Message:
    """Join `parts` into one message with `key`, a pair template of fields `first` and `rest`.

    The result nests as first; (second; (third ...)), so each language joins
    the parts with its own separator. One part is returned as it is and no
    part gives an empty free-text message.
    """
    if not parts:
        return Message(key="", text="")
    joined = parts[-1]
    for part in reversed(parts[:-1]):
        joined = message(key, first=part, rest=joined)
    return joined
