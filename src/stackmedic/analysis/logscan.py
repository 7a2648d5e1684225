"""Find every log line that a set of regexes matches, on whole buffers instead of line by line.

`LogScanner(signatures)` compiles a table of code -> regexes once (the
pattern library's is `stackmedic.patterns.signatures.LOG_SIGNATURES`).
`scan(data, origin)` returns one `LogMatch` per (line, regex) pair for which
`regex.search(line)` finds a match, in line order. That is the same result a
loop over the lines and the regexes would give, but the loop over lines runs
in C:

1. An engine finds candidate positions in the whole buffer.
   - `hyperscan` (the `hyperscan` package, Intel's multi-pattern regex
     engine): every regex is compiled in prefilter mode, which may match more
     than the regex but never less, into one database that a single pass over
     the buffer runs.
   - `python` (standard library only): the literal text every match of a
     regex must contain is worked out from its parse tree; `str.find` finds
     it. A regex without such a literal, or with only literals so short that
     most lines contain them, is searched in the whole buffer with
     re.MULTILINE.
2. Candidate positions are mapped to their lines (`count`, `rfind` and
   `find` on the buffer, in C), and each candidate line is confirmed with the
   original regex object, so every reported match is a match of that regex.

A line ends at "\\n"; one "\\r" before it is not part of the line. Bytes are
decoded as UTF-8, an invalid sequence as U+FFFD.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import os
import re
import re._constants as sre_constants
import re._parser as sre_parse
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from stackmedic.evidence.model import ContainerEvidence, LogLine

logger = logging.getLogger(__name__)

ENGINES = ("auto", "hyperscan", "python")
# The candidate lines a literal of this length brings, as a cost in buffer passes:
# about 30 %, 10 % and 2 % of log lines contain a given 1, 2 or 3 character literal.
_CANDIDATE_COST = {1: 15.0, 2: 5.0, 3: 1.0}
# Above this estimated cost a MULTILINE regex search of the whole buffer is cheaper.
MAX_LITERAL_COST = 40.0
# A regex's literal alternatives are enumerated up to this many strings.
MAX_ALTERNATIVES = 64
DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024
# Smaller buffers are scanned by one thread even when more are allowed.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
# A buffer scanned by several threads is cut into this many slices per thread.
SLICES_PER_THREAD = 1
# Python's \s matches these separators in the ASCII range, Hyperscan's does not;
# they are scanned as spaces so a candidate is never lost.
_PYTHON_ONLY_SPACES = bytes(range(0x1C, 0x20))
_SPACES_AS_BLANK = bytes.maketrans(_PYTHON_ONLY_SPACES, b" " * len(_PYTHON_ONLY_SPACES))


class LogMatch(NamedTuple):
    """One log line that one signature regex matches.

    `line_number` counts from 1 (or from `first_line` given to the scan);
    `signature_id` is "CODE/INDEX", the regex's position in its code's list.
    A named tuple, because a scan of a large log creates many of them.
    """

    code: str
    signature_id: str
    line_number: int
    line_text: str
    origin: str


@dataclass(frozen=True)
class Signature:
    """One regex of one code, as the scanner numbers it."""

    code: str
    signature_id: str
    regex: re.Pattern[str]


class LogScanner:
    """Every line of a log buffer that the signature regexes match, found in whole-buffer passes.

    `engine` is "hyperscan", "python" or "auto" (Hyperscan when the package
    imports, else the standard-library engine). Compiling happens once, here.
    A scanner may be shared between threads.
    """

    def __init__(
        self, signatures: Mapping[str, Sequence[re.Pattern[str]]], *, engine: str = "auto"
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"unknown log scan engine {engine!r}; use one of {', '.join(ENGINES)}")
        self.signatures = [
            Signature(code, f"{code}/{index}", regex)
            for code, regexes in signatures.items()
            for index, regex in enumerate(regexes)
        ]
        # Signatures that share one regex object share one search.
        self._regexes: list[re.Pattern[str]] = []
        self._users: list[list[Signature]] = []
        slots: dict[int, int] = {}
        for signature in self.signatures:
            slot = slots.setdefault(id(signature.regex), len(self._regexes))
            if slot == len(self._regexes):
                self._regexes.append(signature.regex)
                self._users.append([])
            self._users[slot].append(signature)

        # Per slot, (table rank, code, id) of each signature, to emit and order matches.
        rank = {signature.signature_id: index for index, signature in enumerate(self.signatures)}
        self._ranked_users = [
            [(rank[s.signature_id], s.code, s.signature_id) for s in users] for users in self._users
        ]
        self._python = _PythonFinder(self._regexes)
        self._hyperscan: _HyperscanFinder | None = None
        if engine in ("auto", "hyperscan"):
            self._hyperscan = _HyperscanFinder.create(self._regexes, required=engine == "hyperscan")
        self.engine = "hyperscan" if self._hyperscan is not None else "python"
        logger.debug(
            "log scanner: %d signatures, %d regexes, engine %s",
            len(self.signatures),
            len(self._regexes),
            self.engine,
        )

    def scan(
        self,
        data: str | bytes | bytearray,
        origin: str = "",
        *,
        first_line: int = 1,
        threads: int = 1,
    ) -> list[LogMatch]:
        """Return the matches of every signature in `data`, by line, then in table order.

        With `threads` above 1, that many threads run Hyperscan on slices of
        a large buffer at once; Hyperscan releases the GIL while it scans.
        """
        return self._scan_counted(data, origin, first_line, threads)[0]

    def scan_file(
        self,
        path: Path,
        origin: str | None = None,
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        threads: int = 1,
    ) -> Iterator[LogMatch]:
        """Scan a log file of any size in chunks cut at line ends; memory stays near `chunk_bytes`.

        NOTE: a single line longer than `chunk_bytes` is read whole.
        NOTE: only the Hyperscan pass runs in parallel. Reading the file,
        numbering the candidate lines and building the matches hold the GIL,
        which keeps this at about grep's throughput with 2 threads (see
        docs/benchmarks.md). Scanning slices in worker processes would lift
        that limit.
        """
        label = str(path) if origin is None else origin
        first_line = 1
        for chunk in _line_chunks(path, chunk_bytes):
            found, counted_to, number = self._scan_counted(chunk, label, first_line, threads)
            yield from found
            first_line = number + chunk.count(b"\n", counted_to)

    def _scan_counted(
        self, data: str | bytes | bytearray, origin: str, first_line: int, threads: int
    ) -> tuple[list[LogMatch], int, int]:
        """Scan and also return an offset of the buffer and the number of the line starting there."""
        if self._hyperscan is not None:
            buffer = data.encode("utf-8", "replace") if isinstance(data, str) else data
            buffer, slices, trusted = self._hyperscan.candidate_slices(
                buffer, self._python, threads
            )
            found: list[LogMatch] = []
            number, counted_to = first_line, 0
            for start, pairs in slices:
                number += buffer.count(b"\n", counted_to, start)
                matches, counted_to, number = self._confirm(
                    buffer, pairs, origin, number, start, trusted
                )
                found.extend(matches)
            return found, counted_to, number
        text = data if isinstance(data, str) else data.decode("utf-8", "replace")
        candidates = self._python.candidates(text)
        candidates.sort()
        found, counted_to, number = self._confirm(text, candidates, origin, first_line, 0)
        if not isinstance(data, str):
            # The caller counts newlines in the bytes; str offsets do not apply there.
            return found, 0, first_line
        return found, counted_to, number

    def _confirm(
        self,
        buffer: Any,
        candidates: list[tuple[int, int]],
        origin: str,
        first_line: int,
        start_offset: int,
        trusted: frozenset[int] = frozenset(),
    ) -> tuple[list[LogMatch], int, int]:
        """Map sorted (offset, slot) candidates to lines and keep the lines the regexes match.

        The candidates lie at or after `start_offset`, a line start whose line
        number is `first_line`. One pass in buffer order: each candidate line
        is found, numbered and decoded once, counting newlines in C. The
        regexes of `trusted` slots matched their lines exactly and are not
        searched again. Also returns the last line start counted and its number.
        """
        newline: Any = "\n" if isinstance(buffer, str) else b"\n"
        found: list[LogMatch] = []
        line_start = line_end = -1
        number = first_line
        counted_to = start_offset
        slots: set[int] = set()
        for offset, slot in candidates:
            if offset < line_end:
                slots.add(slot)
                continue
            # An offset on the newline itself belongs to the line that newline ends.
            start = buffer.rfind(newline, 0, offset) + 1
            if start != line_start:
                found.extend(
                    self._line_matches(buffer, line_start, line_end, number, slots, origin, trusted)
                )
                line_start = start
                line_end = buffer.find(newline, offset)
                if line_end < 0:
                    line_end = len(buffer)
                number += buffer.count(newline, counted_to, line_start)
                counted_to = line_start
                slots = set()
            slots.add(slot)
        found.extend(
            self._line_matches(buffer, line_start, line_end, number, slots, origin, trusted)
        )
        return found, counted_to, number

    def _line_matches(
        self,
        buffer: Any,
        start: int,
        end: int,
        number: int,
        slots: set[int],
        origin: str,
        trusted: frozenset[int],
    ) -> list[LogMatch]:
        if not slots:
            return []
        raw = buffer[start:end]
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        text = text.removesuffix("\r")
        regexes, users = self._regexes, self._ranked_users
        matched = [
            user
            for slot in slots
            if slot in trusted or regexes[slot].search(text)
            for user in users[slot]
        ]
        if len(slots) > 1:
            matched.sort()
        return [
            LogMatch(code, signature_id, number, text, origin) for _, code, signature_id in matched
        ]


# --- reading files ------------------------------------------------------------------


def _line_chunks(path: Path, chunk_bytes: int) -> Iterator[bytes | bytearray]:
    """Yield a file's bytes in pieces of about `chunk_bytes` that end at a newline.

    A file smaller than `chunk_bytes` is one piece, read at once. A larger
    file is read piece by piece into one reused buffer, each piece completed
    with the rest of its last line, so a piece is valid only until the next
    one is requested. Reusing the buffer saves zero-filling a new one each time.
    """
    with path.open("rb") as stream:
        if os.fstat(stream.fileno()).st_size < chunk_bytes:
            yield stream.read()
            return
        buffer = bytearray(chunk_bytes)
        while _read_piece(stream, buffer, chunk_bytes):
            yield buffer


def _read_piece(stream: Any, buffer: bytearray, chunk_bytes: int) -> bool:
    """Read the next piece of `stream` into `buffer`, up to a line end; False at the end of the file."""
    if len(buffer) < chunk_bytes:
        buffer.extend(bytes(chunk_bytes - len(buffer)))
    elif len(buffer) > chunk_bytes:
        del buffer[chunk_bytes:]
    with memoryview(buffer) as view:
        size = stream.readinto(view)
    if not size:
        return False
    del buffer[size:]
    if size == chunk_bytes and not buffer.endswith(b"\n"):
        buffer += stream.readline()
    return True


# --- container logs -----------------------------------------------------------------------


class ContainerLogIndex:
    """Which lines of a container's collected log each signature regex matches, scanned once.

    A pattern that loops over `container.logs` can loop over
    `line_indexes(container, regex)` instead and apply its regex to those
    lines only. The result is the same, because every line the regex
    matches is in the list. The scan of a container is kept (for up to
    `max_containers` containers) until its `logs` list is replaced.
    """

    def __init__(self, scanner: LogScanner, *, max_containers: int = 4096) -> None:
        self.scanner = scanner
        self.max_containers = max_containers
        self._regex_of = {s.signature_id: s.regex for s in scanner.signatures}
        self._known = {id(s.regex) for s in scanner.signatures}
        # id(container) -> (its logs list, line count, line indexes by id(regex)).
        self._scans: dict[int, tuple[list[LogLine], int, dict[int, list[int]]]] = {}
        self._lock = threading.Lock()

    def line_indexes(self, container: ContainerEvidence, *regexes: re.Pattern[str]) -> list[int]:
        """Return the positions in `container.logs` of lines any of `regexes` may match, in order.

        Raises ValueError for a regex that is not one of the scanner's signatures.
        """
        unknown = [regex.pattern for regex in regexes if id(regex) not in self._known]
        if unknown:
            raise ValueError(f"not a signature of this scanner: {unknown[0]!r}")
        by_regex = self._scan(container)
        if by_regex is None:
            return list(range(len(container.logs)))
        if len(regexes) == 1:
            return by_regex.get(id(regexes[0]), [])
        merged: set[int] = set()
        for regex in regexes:
            merged.update(by_regex.get(id(regex), ()))
        return sorted(merged)

    def _scan(self, container: ContainerEvidence) -> dict[int, list[int]] | None:
        logs = container.logs
        with self._lock:
            cached = self._scans.get(id(container))
        if cached is not None and cached[0] is logs and cached[1] == len(logs):
            return cached[2]

        text = "\n".join(line.text for line in logs)
        if text.count("\n") != max(len(logs) - 1, 0) or "\r" in text:
            # A line with its own line break would shift the numbering;
            # every line is then a candidate.
            return None
        by_regex: dict[int, list[int]] = {}
        for match in self.scanner.scan(text, container.name):
            positions = by_regex.setdefault(id(self._regex_of[match.signature_id]), [])
            if not positions or positions[-1] != match.line_number - 1:
                positions.append(match.line_number - 1)

        with self._lock:
            if len(self._scans) >= self.max_containers:
                self._scans.pop(next(iter(self._scans)))
            self._scans[id(container)] = (logs, len(logs), by_regex)
        return by_regex


# --- the standard-library engine ---------------------------------------------------


@dataclass(frozen=True)
class _LiteralPlan:
    """The literals one of which every match of a regex contains; `caseless` compares lowercased."""

    literals: tuple[str, ...]
    caseless: bool


class _PythonFinder:
    """Candidate positions from `str.find` on required literals, else from a MULTILINE search."""

    def __init__(self, regexes: Sequence[re.Pattern[str]]) -> None:
        self.plans: list[_LiteralPlan | re.Pattern[str]] = []
        for regex in regexes:
            literals = required_literals(regex)
            if literals and literal_cost(literals) <= MAX_LITERAL_COST:
                caseless = bool(regex.flags & re.IGNORECASE)
                self.plans.append(_LiteralPlan(tuple(sorted(literals)), caseless))
            else:
                self.plans.append(re.compile(regex.pattern, regex.flags | re.MULTILINE))

    def candidates(self, text: str, slots: Iterable[int] | None = None) -> list[tuple[int, int]]:
        """Return (offset, slot) pairs, at least one on every line a slot's regex matches."""
        lowered: str | None = None
        found: list[tuple[int, int]] = []
        for slot in range(len(self.plans)) if slots is None else slots:
            plan = self.plans[slot]
            if isinstance(plan, re.Pattern):
                found.extend((offset, slot) for offset in _search_lines(plan, text))
                continue
            haystack = text
            if plan.caseless:
                if lowered is None:
                    lowered = _lower_same_length(text)
                if lowered is None:
                    # Lowercasing changed the text's length, so offsets in it
                    # would not line up: search the literals with re instead.
                    either = "|".join(re.escape(literal) for literal in plan.literals)
                    regex = re.compile(either, re.IGNORECASE)
                    found.extend((offset, slot) for offset in _search_lines(regex, text))
                    continue
                haystack = lowered
            for literal in plan.literals:
                found.extend((offset, slot) for offset in _find_lines(haystack, literal))
        return found


def _lower_same_length(text: str) -> str | None:
    lowered = text.lower()
    return lowered if len(lowered) == len(text) else None


def _find_lines(haystack: str, literal: str) -> Iterator[int]:
    """Yield one offset per line that contains `literal`."""
    position = haystack.find(literal)
    while position >= 0:
        yield position
        end = haystack.find("\n", position)
        if end < 0:
            return
        position = haystack.find(literal, end + 1)


def _search_lines(regex: re.Pattern[str], text: str) -> list[int]:
    """Return one offset per line where a MULTILINE search finds a match starting there.

    A match may run over a line end, because `\\s*` can take the newline.
    Its line is still only a candidate that the confirmation decides on, and
    the search goes on at the next line, so no later line is skipped.
    """
    offsets: list[int] = []
    position = 0
    while True:
        match = regex.search(text, position)
        if match is None:
            return offsets
        offsets.append(match.start())
        end = text.find("\n", match.start())
        if end < 0:
            return offsets
        position = end + 1


# --- the Hyperscan engine ------------------------------------------------------------


class _HyperscanFinder:
    """One Hyperscan database of all regexes in prefilter mode; candidates are match ends.

    A buffer of ASCII text is scanned with a database compiled without
    Unicode properties. Any other buffer needs `\\w`, `\\d` and `\\s` to match
    as Python's do on str, so it is scanned with a second database compiled
    with UTF-8 and Unicode properties (HS_FLAG_UCP), on its first use,
    because that compile takes seconds.
    """

    def __init__(self, module: Any, regexes: Sequence[re.Pattern[str]]) -> None:
        self.hs = module
        self.regexes = regexes
        self.ascii_db, self.ascii_slots, self.ascii_exact = self._compile(unicode=False)
        self.unicode_db: Any = None
        self.unicode_slots: list[int] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    @classmethod
    def create(
        cls, regexes: Sequence[re.Pattern[str]], *, required: bool
    ) -> _HyperscanFinder | None:
        try:
            import hyperscan
        except ImportError:
            if required:
                raise
            logger.debug("hyperscan is not installed; log scans use the standard-library engine")
            return None
        return cls(hyperscan, regexes)

    def candidate_slices(
        self, buffer: bytes | bytearray, fallback: _PythonFinder, threads: int = 1
    ) -> tuple[bytes | bytearray, Iterator[tuple[int, list[tuple[int, int]]]], frozenset[int]]:
        """Return the buffer the offsets refer to (valid UTF-8), its candidates slice by slice,
        and the slots whose candidates are matches already.

        Each item is (slice start, sorted (offset, slot) pairs), in buffer
        order. With `threads` above 1 a large buffer is cut into slices that
        `threads` workers scan at once. A slot matched exactly is trusted only
        in a buffer of ASCII text without carriage returns or the separators
        scanned as spaces, where Hyperscan and `re` see the same lines.
        """
        ascii_text = buffer.isascii()
        if not ascii_text:
            # Hyperscan's results on invalid UTF-8 are undefined; U+FFFD keeps every newline.
            try:
                buffer.decode("utf-8")
            except UnicodeDecodeError:
                buffer = buffer.decode("utf-8", "replace").encode("utf-8")
        scanned = buffer
        if any(byte in buffer for byte in _PYTHON_ONLY_SPACES):
            scanned = buffer.translate(_SPACES_AS_BLANK)

        database, slots = self._database(unicode=not ascii_text)
        count = (
            threads * SLICES_PER_THREAD if threads > 1 and len(scanned) >= PARALLEL_MIN_BYTES else 1
        )
        pieces = _slices(scanned, count) or [(0, 0)]

        # Regexes Hyperscan cannot compile even in prefilter mode are searched with `re`.
        accepted = set(slots)
        rest = [slot for slot in range(len(self.regexes)) if slot not in accepted]
        extra: list[tuple[int, int]] = []
        if rest:
            text = buffer.decode("utf-8", "replace")
            pairs = sorted(fallback.candidates(text, rest))
            offsets = _byte_offsets(text, [offset for offset, _ in pairs])
            extra = sorted(zip(offsets, (slot for _, slot in pairs), strict=True))

        def with_extra(start: int, end: int, found: list[tuple[int, int]]) -> list[tuple[int, int]]:
            if not extra:
                return found
            low = bisect.bisect_left(extra, (start, -1))
            high = bisect.bisect_left(extra, (end, -1))
            return sorted(found + extra[low:high])

        def results() -> Iterator[tuple[int, list[tuple[int, int]]]]:
            if len(pieces) == 1:
                start, end = pieces[0]
                yield start, with_extra(start, end, self._scan(database, scanned, 0))
                return
            # Every slice is scanned before any is confirmed: a worker needs the
            # GIL for each match it reports, and confirming holds the GIL.
            with memoryview(scanned) as view, ThreadPoolExecutor(max_workers=threads) as pool:
                futures = [
                    pool.submit(self._scan, database, view[start:end], start)
                    for start, end in pieces
                ]
                results = [future.result() for future in futures]
                del futures
            for (start, end), found in zip(pieces, results, strict=True):
                yield start, with_extra(start, end, found)

        trusted = (
            self.ascii_exact
            if ascii_text and scanned is buffer and b"\r" not in buffer
            else frozenset()
        )
        return buffer, results(), trusted

    def _scan(
        self, database: Any, data: bytes | bytearray | memoryview, base: int
    ) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        append = found.append

        def on_match(slot: int, start: int, end: int, flags: int, context: Any) -> None:
            # `end` is exclusive; the match's last byte is on the candidate line.
            append((base + end - 1 if end else base, slot))

        database.scan(data, match_event_handler=on_match, scratch=self._scratch(database))
        return found

    def _database(self, *, unicode: bool) -> tuple[Any, list[int]]:
        if not unicode:
            return self.ascii_db, self.ascii_slots
        with self._lock:
            if self.unicode_db is None:
                # TODO: this compile takes about 2 s (benchmarks/run.py measures it) on each
                # process's first non-ASCII log; hyperscan.dumpb/loadb could cache it on disk.
                self.unicode_db, self.unicode_slots, _ = self._compile(unicode=True)
        return self.unicode_db, self.unicode_slots

    def _scratch(self, database: Any) -> Any:
        scratches = getattr(self._local, "scratches", None)
        if scratches is None:
            scratches = self._local.scratches = {}
        scratch = scratches.get(id(database))
        if scratch is None:
            scratch = scratches[id(database)] = self.hs.Scratch(database)
        return scratch

    def _compile(self, *, unicode: bool) -> tuple[Any, list[int], frozenset[int]]:
        """Compile the database; return it, the slots it contains and the slots it matches exactly.

        In the ASCII database a line-bound regex (see `line_bound`) is compiled
        exactly when Hyperscan supports it, and every other regex in
        prefilter mode, which may match more than the regex, never less.
        """
        hs = self.hs
        entries: list[tuple[int, bytes, int]] = []
        for slot, regex in enumerate(self.regexes):
            expression = hyperscan_expression(regex.pattern)
            if expression is None:
                continue
            flags = hs.HS_FLAG_MULTILINE | hs.HS_FLAG_UTF8
            if unicode:
                flags |= hs.HS_FLAG_UCP
            if regex.flags & re.IGNORECASE:
                flags |= hs.HS_FLAG_CASELESS
            if regex.flags & re.DOTALL:
                flags |= hs.HS_FLAG_DOTALL
            if unicode or not line_bound(regex):
                flags |= hs.HS_FLAG_PREFILTER
            entries.append((slot, expression.encode("utf-8"), flags))

        try:
            return self._compiled(entries)
        except hs.error:
            pass
        # Hyperscan names no expression in its error, so each one is tried alone,
        # exactly first when it was meant to be, then in prefilter mode.
        accepted: list[tuple[int, bytes, int]] = []
        for slot, encoded, flags in entries:
            for attempt in dict.fromkeys((flags, flags | hs.HS_FLAG_PREFILTER)):
                try:
                    self._build([(slot, encoded, attempt)])
                except hs.error as error:
                    logger.debug("hyperscan rejects %r (%s)", self.regexes[slot].pattern, error)
                    continue
                accepted.append((slot, encoded, attempt))
                break
            else:
                logger.debug(
                    "the standard-library engine scans %r", self.regexes[slot].pattern
                )
        return self._compiled(accepted)

    def _compiled(
        self, entries: list[tuple[int, bytes, int]]
    ) -> tuple[Any, list[int], frozenset[int]]:
        exact = frozenset(
            slot for slot, _, flags in entries if not flags & self.hs.HS_FLAG_PREFILTER
        )
        return self._build(entries), [slot for slot, _, _ in entries], exact

    def _build(self, entries: list[tuple[int, bytes, int]]) -> Any:
        database = self.hs.Database()
        if entries:
            database.compile(
                expressions=[expression for _, expression, _ in entries],
                ids=[slot for slot, _, _ in entries],
                flags=[flags for _, _, flags in entries],
            )
        return database


def _slices(buffer: bytes | bytearray, count: int) -> list[tuple[int, int]]:
    """Cut a buffer into `count` (start, end) slices that end at a newline."""
    bounds = [0]
    for index in range(1, max(count, 1)):
        cut = buffer.find(b"\n", len(buffer) * index // count)
        if cut < 0 or cut + 1 <= bounds[-1]:
            continue
        bounds.append(cut + 1)
    bounds.append(len(buffer))
    return [(start, end) for start, end in itertools.pairwise(bounds) if end > start]


def _byte_offsets(text: str, offsets: list[int]) -> list[int]:
    """Convert str offsets to UTF-8 byte offsets of the same positions."""
    result = []
    converted_to = 0
    total = 0
    for offset in sorted(offsets):
        total += len(text[converted_to:offset].encode("utf-8"))
        converted_to = offset
        result.append(total)
    return result


_UNICODE_ESCAPE = re.compile(r"\\\\|\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})|\\N\{")


def hyperscan_expression(pattern: str) -> str | None:
    """Rewrite a Python regex for Hyperscan's PCRE syntax, or return None when it cannot be.

    Python's `\\uXXXX` and `\\UXXXXXXXX` escapes become `\\x{...}`; a named
    character (`\\N{...}`) has no counterpart.
    """
    unsupported = False

    def replace(match: re.Match[str]) -> str:
        nonlocal unsupported
        if match.group(0) == "\\\\":
            return match.group(0)
        if match.group(0) == "\\N{":
            unsupported = True
            return match.group(0)
        code = match.group(1) or match.group(2)
        return "\\x{" + code.lstrip("0").lower().rjust(1, "0") + "}"

    rewritten = _UNICODE_ESCAPE.sub(replace, pattern)
    return None if unsupported else rewritten


# --- required literals ---------------------------------------------------------------


def line_bound(regex: re.Pattern[str]) -> bool:
    """Return True when no match of `regex` can contain a line break or depend on the buffer's ends.

    Such a regex, compiled exactly by Hyperscan, matches a line of a clean
    ASCII buffer exactly where Python's `search` on that line would, so its
    matches need no confirming search. A construct this does not know
    counts as not line-bound.
    """
    try:
        tree = sre_parse.parse(regex.pattern, regex.flags)
    except (re.error, TypeError):
        return False
    return _items_line_bound(list(tree), bool(regex.flags & re.DOTALL))


_NEWLINE = ord("\n")
_CLASS_WITH_NEWLINE = frozenset(
    {
        sre_constants.CATEGORY_SPACE,
        sre_constants.CATEGORY_NOT_WORD,
        sre_constants.CATEGORY_NOT_DIGIT,
        sre_constants.CATEGORY_LINEBREAK,
    }
)


def _items_line_bound(items: list[Any], dotall: bool) -> bool:
    c = sre_constants
    for op, argument in items:
        if op is c.LITERAL:
            if argument == _NEWLINE:
                return False
        elif op is c.ANY:
            if dotall:
                return False
        elif op is c.IN:
            if not _class_line_bound(argument):
                return False
        elif op is c.SUBPATTERN:
            _group, add_flags, _del_flags, body = argument
            if not _items_line_bound(list(body), dotall or bool(add_flags & re.DOTALL)):
                return False
        elif op is c.BRANCH:
            if not all(_items_line_bound(list(branch), dotall) for branch in argument[1]):
                return False
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            if not _items_line_bound(list(argument[2]), dotall):
                return False
        elif op is c.ATOMIC_GROUP:
            if not _items_line_bound(list(argument), dotall):
                return False
        elif op is c.AT:
            # ^ and $ are line anchors in Hyperscan's multiline mode; \A, \Z and \b need no line.
            if argument not in (c.AT_BEGINNING, c.AT_END, c.AT_BOUNDARY, c.AT_NON_BOUNDARY):
                return False
        else:
            # NOT_LITERAL, lookarounds, back references, categories outside a class.
            return False
    return True


def _class_line_bound(items: list[Any]) -> bool:
    c = sre_constants
    for op, argument in items:
        if op is c.NEGATE:
            return False
        if op is c.LITERAL and argument == _NEWLINE:
            return False
        if op is c.RANGE and argument[0] <= _NEWLINE <= argument[1]:
            return False
        if op is c.CATEGORY and argument in _CLASS_WITH_NEWLINE:
            return False
        if op not in (c.LITERAL, c.RANGE, c.CATEGORY):
            return False
    return True


@dataclass(frozen=True)
class _Literals:
    """The literal text that a piece of a regex can match or requires.

    `exact` is every string the piece can match, when that set is small;
    `required` is a set of strings one of which every match contains.
    """

    exact: frozenset[str] | None
    required: frozenset[str] | None


_NOTHING_KNOWN = _Literals(None, None)
_EMPTY = _Literals(frozenset({""}), None)


def required_literals(regex: re.Pattern[str]) -> frozenset[str] | None:
    """Return strings one of which occurs in every match of `regex`, or None when there are none.

    The strings are lowercased for an IGNORECASE regex. A regex whose parse
    tree uses a construct this does not know gets None.
    """
    try:
        tree = sre_parse.parse(regex.pattern, regex.flags)
    except (re.error, TypeError):
        return None
    caseless = bool(regex.flags & re.IGNORECASE)
    result = _sequence(list(tree), caseless)
    best = _best([result.required, result.exact])
    if best is None or "" in best:
        return None
    return frozenset(best)


def _sequence(items: list[Any], caseless: bool) -> _Literals:
    current: frozenset[str] | None = frozenset({""})
    whole: frozenset[str] | None = frozenset({""})
    candidates: list[frozenset[str] | None] = []
    for op, argument in items:
        piece = _piece(op, argument, caseless)
        candidates.append(piece.required)
        if (
            piece.exact is not None
            and current is not None
            and (len(current) * len(piece.exact) <= MAX_ALTERNATIVES)
        ):
            current = frozenset(a + b for a in current for b in piece.exact)
        else:
            candidates.append(current)
            current = piece.exact if piece.exact is not None else frozenset({""})
            whole = None
    candidates.append(current)
    return _Literals(current if whole is not None else None, _best(candidates))


def _piece(op: Any, argument: Any, caseless: bool) -> _Literals:
    c = sre_constants
    if op is c.LITERAL:
        character = chr(argument)
        return _Literals(frozenset({character.lower() if caseless else character}), None)
    if op is c.IN:
        characters = _class_literals(argument, caseless)
        return _Literals(characters, None) if characters is not None else _NOTHING_KNOWN
    if op is c.SUBPATTERN:
        _group, add_flags, del_flags, body = argument
        if (add_flags | del_flags) & re.IGNORECASE:
            return _NOTHING_KNOWN
        return _sequence(list(body), caseless)
    if op is c.BRANCH:
        branches = [_sequence(list(branch), caseless) for branch in argument[1]]
        return _branch(branches)
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
        low, high, body = argument
        inner = _sequence(list(body), caseless)
        if high == 1 and inner.exact is not None:
            exact = inner.exact | ({""} if low == 0 else set())
            return _Literals(frozenset(exact), inner.required if low else None)
        if low >= 1:
            return _Literals(None, _best([inner.required, inner.exact]))
        return _NOTHING_KNOWN
    if op is c.ATOMIC_GROUP:
        return _sequence(list(argument), caseless)
    if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
        return _EMPTY
    return _NOTHING_KNOWN


def _class_literals(items: list[Any], caseless: bool) -> frozenset[str] | None:
    characters = set()
    for op, argument in items:
        if op is not sre_constants.LITERAL:
            return None
        character = chr(argument)
        characters.add(character.lower() if caseless else character)
    return frozenset(characters) if 0 < len(characters) <= 4 else None


def _branch(branches: list[_Literals]) -> _Literals:
    exact: frozenset[str] | None = frozenset()
    for branch in branches:
        if branch.exact is None or exact is None:
            exact = None
            break
        exact = exact | branch.exact
    if exact is not None and len(exact) > MAX_ALTERNATIVES:
        exact = None
    required: set[str] = set()
    for branch in branches:
        own = _best([branch.required, branch.exact])
        if own is None or "" in own:
            return _Literals(exact, None)
        required |= own
    return _Literals(exact, frozenset(required) if len(required) <= MAX_ALTERNATIVES else None)


def _best(options: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    """Pick the literal set that is cheapest to search (see `literal_cost`).

    A member that contains another member adds nothing (a line with it has
    the other too), so such members are dropped first.
    """
    usable = [_minimal(option) for option in options if option and "" not in option]
    if not usable:
        return None
    return min(usable, key=lambda option: (literal_cost(option), -min(map(len, option))))


def literal_cost(literals: Iterable[str]) -> float:
    """Estimate the cost of finding these literals' lines, in passes over the buffer.

    Each literal is one `str.find` pass; a short literal also occurs on many
    lines, and each such line is a candidate the regex must confirm.
    NOTE: the per-length shares are estimates from the benchmark's log mix
    (benchmarks/logmix.py), not measured on the log being scanned.
    """
    return sum(1.0 + _CANDIDATE_COST.get(len(literal), 0.1) for literal in literals)


def _minimal(literals: frozenset[str]) -> frozenset[str]:
    ordered = sorted(literals, key=len)
    kept: list[str] = []
    for literal in ordered:
        if not any(shorter in literal for shorter in kept):
            kept.append(literal)
    return frozenset(kept)
