"""The exception hierarchy and the process exit codes.

Every error a user can cause or meet derives from `StackmedicError`; the CLI
turns it into one line on stderr and `ExitCode.USAGE`. Engine and Compose
errors are wrapped once, in `stackmedic.engine`, keeping the engine's own
message.
"""

from __future__ import annotations

import enum

from stackmedic.i18n import Message, message_text


class ExitCode(enum.IntEnum):
    HEALTHY = 0
    PROBLEMS_REMAIN = 1
    USAGE = 2
    INTERRUPTED = 130


class StackmedicError(Exception):
    """Root of every error stackmedic raises on purpose.

    `hint` says what the user can do next; the CLI prints it after the message.
    Either may be a `Message` (see `stackmedic.i18n.message`), so that the CLI
    shows it in the user's language; `message` and `hint` stay the English
    text, for logs and for callers that read them.
    """

    def __init__(self, message: str | Message, *, hint: str | Message | None = None) -> None:
        self.translatable = _as_message(message)
        self.translatable_hint = None if hint is None else _as_message(hint)
        super().__init__(self.translatable.text)
        self.message = self.translatable.text
        self.hint = None if self.translatable_hint is None else self.translatable_hint.text

    def localized(self, lang: str) -> tuple[str, str | None]:
        """Return the message and the hint in `lang`, falling back to English."""
        hint = None if self.translatable_hint is None else message_text(self.translatable_hint, lang)
        return message_text(self.translatable, lang), hint

    def __str__(self) -> str:
        return self.message


class EngineUnavailableError(StackmedicError):
    """The Docker Engine cannot be reached."""


class EngineError(StackmedicError):
    """A Docker Engine API call failed.

    `container` names the container the call was about, when there is one.
    """

    def __init__(
        self,
        message: str | Message,
        *,
        container: str | None = None,
        hint: str | Message | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.container = container


class ContainerGoneError(EngineError):
    """A container was removed, or is being removed, while stackmedic read it."""


class ComposeError(StackmedicError):
    """`docker compose` failed or is missing.

    `command` is the argument list that failed and `stderr` its error output.
    """

    def __init__(
        self,
        message: str | Message,
        *,
        command: list[str] | None = None,
        stderr: str = "",
        hint: str | Message | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.command = command or []
        self.stderr = stderr


class ComposeFileError(StackmedicError):
    """A compose file is missing, unreadable or not valid YAML."""


class PlanError(StackmedicError):
    """The plan file (stackmedic.yaml) is missing a field or has a wrong value."""


class RepairError(StackmedicError):
    """A repair could not be written, or a backup could not be restored."""


class ProjectLockedError(StackmedicError):
    """Another stackmedic run holds the project's lock."""


def _as_message(value: str | Message) -> Message:
    return value if isinstance(value, Message) else Message(key="", text=value)
