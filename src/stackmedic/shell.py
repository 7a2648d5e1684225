"""Command lines shown to people: an argument list joined as a POSIX shell would read it.

Patterns quote health-check commands in finding texts and the report quotes
them in repair titles. Both use `shell_join`, so a command reads the same in
either place.
"""

from __future__ import annotations

import shlex


def shell_join(arguments: list[str]) -> str:
    """Join `arguments` into a POSIX shell command line that reads back as the same list.

    An argument with single quotes but no `"`, `$`, backquote or backslash
    goes in double quotes, which reads better than `shlex.quote`'s `'"'"'`
    for the usual `python -c "...('http://...')"` probe.
    """
    return " ".join(_shell_quote(argument) for argument in arguments)


def _shell_quote(argument: str) -> str:
    quoted = shlex.quote(argument)
    if quoted == argument or "'" not in argument:
        return quoted
    if not any(character in argument for character in '"$`\\'):
        return f'"{argument}"'
    return quoted
