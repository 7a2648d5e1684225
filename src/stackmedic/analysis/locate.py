"""Map places inside a container to the project's files, and quote them.

A traceback names `/app/tacore/worker.py`, but the report must cite
`tacore/worker.py:42` and show the lines around it. `map_container_path`
does the mapping, from the collector's `SourceFile.container_path` when it
is known, else by replaying the service's Dockerfile (WORKDIR and COPY/ADD),
else by the longest matching path suffix. The stack trace parsers live in
`stackmedic.analysis.tracebacks` and are re-exported here.
"""

from __future__ import annotations

import fnmatch
import logging
import posixpath
from collections.abc import Callable

from stackmedic.analysis.dockerfile import Copy, build_context_of, dockerfile_for, parse_dockerfile
from stackmedic.analysis.tracebacks import (
    Frame,
    ParsedTraceback,
    parse_go_panics,
    parse_java_stacks,
    parse_node_stacks,
    parse_python_traceback,
    parse_python_tracebacks,
    parse_tracebacks,
)
from stackmedic.evidence.model import Evidence, SourceFile
from stackmedic.model import SourceLocation

__all__ = [
    "Frame",
    "ParsedTraceback",
    "location_for",
    "location_for_traceback",
    "map_container_path",
    "parse_go_panics",
    "parse_java_stacks",
    "parse_node_stacks",
    "parse_python_traceback",
    "parse_python_tracebacks",
    "parse_tracebacks",
    "snippet",
]

logger = logging.getLogger(__name__)

# Returned when a `COPY --from` put the file there: it is no build-context file.
_FROM_OTHER_STAGE = object()

# Paths of installed packages and interpreter internals: never project files.
_LIBRARY_MARKERS = (
    "/site-packages/",
    "/dist-packages/",
    "/node_modules/",
    "/usr/lib/python",
    "/usr/local/lib/python",
    "/usr/local/go/src/",
    "/go/pkg/mod/",
    "<frozen ",
    "<string>",
    "<stdin>",
    "node:internal",
)


def snippet(source_text: str, line: int, context: int = 3) -> str:
    """Return the lines around `line`, numbered, with `>` marking `line`.

    Returns "" when `line` is outside the text.
    """
    lines = source_text.splitlines()
    if not 1 <= line <= len(lines):
        return ""
    first = max(1, line - context)
    last = min(len(lines), line + context)
    width = len(str(last))
    shown = []
    for number in range(first, last + 1):
        marker = ">" if number == line else " "
        shown.append(f"{marker}{number:>{width}} | {lines[number - 1]}")
    return "\n".join(shown)


def map_container_path(evidence: Evidence, service: str, container_path: str) -> SourceFile | None:
    """Return the project file that sits at `container_path` in the service's image, if known.

    Relative paths are taken from the image's WORKDIR. Paths of installed
    libraries map to nothing.
    """
    path = container_path.strip()
    path = path.removeprefix("file://")
    if not path or any(marker in path for marker in _LIBRARY_MARKERS):
        return None
    sources = evidence.sources_of(service) or evidence.sources
    by_path = {posixpath.normpath(source.path): source for source in sources}

    for source in sources:
        if source.container_path and posixpath.normpath(
            source.container_path
        ) == posixpath.normpath(path):
            return source

    context = build_context_of(evidence, service) or "."
    mapped = _through_dockerfile(evidence, service, path, context, by_path)
    if mapped is _FROM_OTHER_STAGE:
        return None
    if isinstance(mapped, SourceFile):
        return mapped
    if not path.startswith("/"):
        direct = by_path.get(posixpath.normpath(posixpath.join(context, path)))
        if direct is not None:
            return direct
    return _by_suffix(path, sources)


def _through_dockerfile(
    evidence: Evidence, service: str, path: str, context: str, by_path: dict[str, SourceFile]
) -> SourceFile | object | None:
    """Replay the final stage's copies; return the file, `_FROM_OTHER_STAGE`, or None."""
    dockerfile = dockerfile_for(evidence, service)
    if dockerfile is None:
        return None
    final = parse_dockerfile(dockerfile.text).final
    if final is None:
        return None
    if not path.startswith("/"):
        path = posixpath.normpath(posixpath.join(final.workdir, path))

    def is_directory(candidate: str) -> bool:
        prefix = posixpath.normpath(posixpath.join(context, candidate))
        return prefix == "." or any(p.startswith(prefix + "/") for p in by_path)

    # A later COPY overwrites an earlier one, so the last match wins.
    for copy in reversed(final.copies):
        if copy.from_stage is not None:
            if _covers(copy.destination, path):
                return _FROM_OTHER_STAGE
            continue
        for source_path in reversed(copy.sources):
            candidate = _copied_from(copy, source_path, path, is_directory)
            if candidate is None:
                continue
            found = by_path.get(posixpath.normpath(posixpath.join(context, candidate)))
            if found is not None:
                return found
    return None


def _covers(destination: str, path: str) -> bool:
    bare = destination.rstrip("/") or "/"
    return path == bare or bare == "/" or path.startswith(bare + "/")


def _copied_from(
    copy: Copy, source: str, path: str, is_directory: Callable[[str], bool]
) -> str | None:
    """Return the context-relative file that a COPY puts at `path`, or None."""
    source_path = posixpath.normpath(source.lstrip("/")) if source.strip("/.") else "."
    destination = copy.destination.rstrip("/") or "/"
    copies_into_directory = copy.destination.endswith("/") or len(copy.sources) > 1

    if is_directory(source_path):
        if destination == "/":
            relative = path.lstrip("/")
        elif path.startswith(destination + "/"):
            relative = path[len(destination) + 1 :]
        else:
            return None
        return relative if source_path == "." else posixpath.join(source_path, relative)

    if not copies_into_directory and path == destination:
        return source_path
    parent, name = posixpath.split(path)
    if parent == destination and fnmatch.fnmatchcase(name, posixpath.basename(source_path)):
        return posixpath.join(posixpath.dirname(source_path), name)
    return None


def _by_suffix(path: str, sources: list[SourceFile]) -> SourceFile | None:
    """Pick the source whose path shares the longest tail with `path`.

    A tail of one component (the file name alone) counts only when one source
    has that name.
    """
    wanted = [part for part in path.split("/") if part not in ("", ".")]
    scored: list[tuple[int, SourceFile]] = []
    for source in sources:
        parts = source.path.split("/")
        shared = 0
        while shared < min(len(parts), len(wanted)) and parts[-1 - shared] == wanted[-1 - shared]:
            shared += 1
        if shared:
            scored.append((shared, source))
    if not scored:
        return None
    best = max(score for score, _ in scored)
    winners = [source for score, source in scored if score == best]
    if len(winners) > 1:
        logger.debug("container path %s matches %d project files; not mapped", path, len(winners))
        return None
    return winners[0]


def location_for(
    evidence: Evidence,
    service: str,
    container_path: str,
    line: int,
    function: str | None = None,
) -> SourceLocation | None:
    """Return the project location of a container path and line, with a snippet around it."""
    source = map_container_path(evidence, service, container_path)
    if source is None:
        return None
    return SourceLocation(
        path=source.path,
        line=line,
        function=function,
        snippet=snippet(source.text, line) or None,
        container_path=container_path if container_path != source.path else None,
    )


def location_for_traceback(
    evidence: Evidence, service: str, traceback: ParsedTraceback
) -> SourceLocation | None:
    """Return the location of the innermost frame that is in the project's own files."""
    for frame in reversed(traceback.frames):
        location = location_for(evidence, service, frame.file, frame.line, frame.function)
        if location is not None:
            return location
    return None
