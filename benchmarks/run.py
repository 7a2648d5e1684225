"""Measure how fast stackmedic diagnoses, next to the plain tools, and write docs/benchmarks.md.

Run by hand from the repository root, on a machine with the Docker Engine
and the local base images (bash scripts/engine.sh):

    python benchmarks/run.py                 # everything, about 20 minutes
    python benchmarks/run.py --quick         # small sizes, to try the script
    python benchmarks/run.py --only logs     # one section: collect, logs, verify, loop, memory

The engine comparison of the log section uses the PyPI packages hyperscan,
google-re2, pyahocorasick and ahocorasick-rs when they are installed, and
leaves out the rows of those that are not.

Every figure is measured in this one run, next to its baseline, with the
two interleaved repeat by repeat, so a busy machine slows both alike. Each
is repeated (--repeats, default 5) and reported as the median with the
lowest and highest value. The script waits for the load average to drop
below --max-load before it starts, for at most --max-wait minutes, and
records the load it ran under.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import functools
import importlib.metadata
import io
import json
import logging
import os
import platform
import pstats
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# The helpers beside this file, and this checkout's package whatever `pip install -e` points at.
sys.path[:0] = [str(HERE), str(REPO / "src")]

import engines
import logmix
from grep_patterns import translate
from stacks import BenchStack, collect_with_cli

from stackmedic.analysis import analyse
from stackmedic.analysis.logscan import LogScanner
from stackmedic.engine import ComposeProject, DockerEngine
from stackmedic.engine.docker_api import iterate_stream
from stackmedic.evidence.collect import collect
from stackmedic.patterns.signatures import LOG_SIGNATURES, distinct_signatures
from stackmedic.verify.wait import wait_until_settled

logger = logging.getLogger("benchmarks")

SECTIONS = ("collect", "logs", "verify", "loop", "memory")
LOCAL_IMAGES = {
    "BASE_IMAGE": "stackmedic/python-base:bookworm",
    "REDIS_IMAGE": "stackmedic/redis:bookworm",
}
GIB = 1024**3
STACKMEDIC = [sys.executable, "-c", "from stackmedic.cli import main; main()"]


# --- numbers -------------------------------------------------------------------------


@dataclass
class Series:
    """Repeated measurements of one quantity."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> float:
        self.values.append(value)
        return value

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def show(self, digits: int = 3, unit: str = "") -> str:
        if not self.values:
            return "n/a"
        low, high = min(self.values), max(self.values)
        suffix = f" {unit}" if unit else ""
        return f"{self.median:.{digits}f}{suffix} ({low:.{digits}f}–{high:.{digits}f})"


def timed(function: Callable[..., Any], *arguments: Any, **keywords: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function(*arguments, **keywords)
    return time.perf_counter() - started, result


def ratios(baseline: Series, measured: Series) -> Series:
    """Baseline time over measured time, repeat by repeat (above 1: stackmedic is faster)."""
    return Series([b / m for b, m in zip(baseline.values, measured.values) if m > 0])


# --- the report ------------------------------------------------------------------------


@dataclass
class Report:
    arguments: argparse.Namespace
    machine: dict[str, str]
    parts: list[str] = field(default_factory=list)
    summary: list[tuple[str, str, str, str]] = field(default_factory=list)
    memory_rows: list[list[str]] = field(default_factory=list)

    def section(self, title: str, text: str) -> None:
        self.parts.append(f"## {title}\n\n{text.strip()}\n")

    def goal(self, figure: str, result: str, goal: str, met: bool | None) -> None:
        verdict = "n/a"
        if met is not None:
            verdict = "met" if met else "not met"
        self.summary.append((figure, result, goal, verdict))

    def render(self) -> str:
        lines = [
            "# Benchmarks",
            "",
            "How fast stackmedic diagnoses, measured next to the plain tools in the same run.",
            f"Written by `{' '.join(['python benchmarks/run.py', *self.arguments.argv])}`;",
            "run it again to replace this page. Figures are the median of the repeats,",
            "with the lowest and highest value in brackets.",
            "",
            "## Machine and run",
            "",
            "| item | value |",
            "| --- | --- |",
        ]
        lines += [f"| {name} | {value} |" for name, value in self.machine.items()]
        lines += [
            "",
            "## Summary",
            "",
            "| figure | result | goal | goal met |",
            "| --- | --- | --- | --- |",
        ]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in self.summary]
        lines.append("")
        return "\n".join(lines) + "\n" + "\n".join(self.parts)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def machine_info(arguments: argparse.Namespace) -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        kilobytes = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kilobytes / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    docker = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    grep = subprocess.run(
        ["grep", "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[0]
    packages = []
    for package in ("hyperscan", "google-re2", "pyahocorasick", "ahocorasick-rs"):
        try:
            packages.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            packages.append(f"{package} not installed")
    return {
        "date (UTC)": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        "cores": str(os.cpu_count()),
        "CPU": cpu,
        "memory": memory,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "Docker Engine": docker,
        "grep": grep,
        "engine packages": ", ".join(packages),
        "repeats": str(arguments.repeats),
        "load average (1/5/15 min) at start": load_average(),
    }


def wait_for_quiet_machine(max_load: float, max_wait_minutes: float) -> str:
    """Wait until the 1-minute load average is below `max_load`, for at most `max_wait_minutes`."""
    deadline = time.monotonic() + max_wait_minutes * 60
    while os.getloadavg()[0] >= max_load:
        if time.monotonic() >= deadline:
            logger.warning(
                "load %s is still above %.2f after %.0f minutes; measuring anyway",
                load_average(),
                max_load,
                max_wait_minutes,
            )
            return f"still above {max_load} after {max_wait_minutes:.0f} minutes; measured anyway"
        logger.info("load average %s; waiting for it to drop below %.2f", load_average(), max_load)
        time.sleep(15)
    return f"below {max_load} when the run started"


# --- 1. evidence collection -----------------------------------------------------------------


def bench_collect(report: Report, arguments: argparse.Namespace, memory: bool) -> None:
    engine = DockerEngine.connect()
    scanner = LogScanner(LOG_SIGNATURES)
    rows: list[list[str]] = []
    analysis_rows: list[list[str]] = []
    notes = []
    for size in arguments.sizes:
        with BenchStack(size, log_lines=arguments.container_log_lines) as stack:
            logger.info("collect: starting %d containers (%s)", size, stack.name)
            stack.up()
            project = ComposeProject.open(stack.directory, name=stack.name)
            total, without_config, config_call, cli = Series(), Series(), Series(), Series()
            analysis, scan = Series(), Series()
            collect(project, engine)
            collect_with_cli(stack.name)
            for _ in range(arguments.repeats):
                seconds, evidence = timed(collect, project, engine)
                total.add(seconds)
                analysis.add(timed(analyse, evidence)[0])
                scan.add(timed(scan_tails, scanner, evidence)[0])
                seconds, config = timed(project.config)
                config_call.add(seconds)
                without_config.add(timed(collect, project, engine, config=config)[0])
                seconds, counted = timed(collect_with_cli, stack.name)
                cli.add(seconds)
                if counted["containers"] != size:
                    raise RuntimeError(f"the CLI saw {counted['containers']} of {size} containers")
            speedup = ratios(cli, total)
            rows.append(
                [
                    str(size),
                    total.show(),
                    without_config.show(),
                    config_call.show(),
                    cli.show(),
                    speedup.show(1) + " ×",
                ]
            )
            analysis_rows.append([str(size), analysis.show(2), scan.show(3)])
            report.goal(
                f"evidence collection, {size} containers",
                f"{speedup.median:.1f} × the CLI's speed",
                "faster than the CLI",
                speedup.median > 1,
            )
            if total.median > cli.median:
                notes.append(profile_collect(project, engine, size))
            if memory and size == max(arguments.sizes):
                bench_diagnose_memory(report, arguments, stack)

    text = f"""
Each container of a compose project (image stackmedic/python-base:bookworm)
wrote {arguments.container_log_lines:,} log lines and then idled.
`collect` is `stackmedic.evidence.collect.collect`: the project's
containers from `GET /containers/json`, an inspect and a 500-line log tail
per container over the Engine API (one HTTP connection), the resolved
configuration from `docker compose config` (one process), and the build
contexts (none here). The CLI baseline runs `docker ps -a` once and
`docker inspect` and `docker logs --timestamps --tail 500` once per
container, each a process. Times in seconds; speed-up = CLI time over
`collect` time, per repeat.

{
        table(
            [
                "containers",
                "collect",
                "collect without compose config",
                "docker compose config",
                "CLI baseline",
                "speed-up",
            ],
            rows,
        )
    }

The evidence then goes to the analysis. `analyse` (DIAGNOSE-02) runs every
pattern. The patterns that read logs start from one `LogScanner` pass per
container with the whole signature table (`patterns.common.candidate_lines`)
and apply their own regex to the candidate lines only, so the pass is part
of `analyse`'s time. The last column is that pass alone
({scanner.engine} engine) over the same log tails (seconds):

{table(["containers", "analyse", "LogScanner over the same tails"], analysis_rows)}
"""
    report.section("1. Evidence collection on a live stack", text + "\n".join(notes))


def scan_tails(scanner: LogScanner, evidence: Any) -> int:
    return sum(
        len(scanner.scan("\n".join(line.text for line in container.logs), container.name))
        for container in evidence.containers
    )


def profile_collect(project: ComposeProject, engine: DockerEngine, size: int) -> str:
    profiler = cProfile.Profile()
    profiler.runcall(collect, project, engine)
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(12)
    return f"\n`collect` was slower than the CLI at {size} containers; its profile:\n\n```\n{stream.getvalue()}\n```\n"


# --- 5a. peak memory of a diagnose ---------------------------------------------------------------


def bench_diagnose_memory(report: Report, arguments: argparse.Namespace, stack: BenchStack) -> None:
    peak, seconds = Series(), Series()
    command = [*STACKMEDIC, "diagnose", str(stack.directory), "-p", stack.name, "--format", "json"]
    for _ in range(arguments.repeats):
        maxrss_kib, took, status = run_child(command)
        if status not in (0, 1):
            raise RuntimeError(f"stackmedic diagnose exited with {status}")
        peak.add(maxrss_kib / 1024)
        seconds.add(took)
    size = stack.replicas
    report.memory_rows.append(
        [f"`stackmedic diagnose` on {size} containers", peak.show(1, "MiB"), seconds.show(2, "s")]
    )
    report.goal(
        f"peak memory, diagnose of {size} containers", peak.show(1, "MiB"), "recorded", None
    )


def run_child(
    command: list[str], *, stdout: int | None = subprocess.DEVNULL
) -> tuple[int, float, int]:
    """Run a command and return (its peak resident memory in KiB, wall seconds, exit status).

    The command runs under benchmarks/peak_rss.py, because a child forked
    from this process would count this process's memory as its own.
    """
    with tempfile.TemporaryDirectory(prefix="smbench-rss-") as folder:
        result = Path(folder) / "rss.json"
        launcher = [sys.executable, str(HERE / "peak_rss.py"), str(result), *command]
        started = time.perf_counter()
        subprocess.run(launcher, stdout=stdout, stderr=subprocess.DEVNULL, check=False)
        took = time.perf_counter() - started
        measured = json.loads(result.read_text(encoding="utf-8"))
    return int(measured["maxrss_kib"]), took, int(measured["status"])


# --- 2. log analysis ------------------------------------------------------------------------------


def bench_logs(report: Report, arguments: argparse.Namespace) -> None:
    regexes = distinct_signatures()
    with tempfile.TemporaryDirectory(prefix="smbench-logs-") as folder:
        path = Path(folder) / "mix.log"
        size = logmix.write_log(path, arguments.log_lines)
        data = path.read_bytes()
        lines = data.count(b"\n")
        patterns = Path(folder) / "patterns.txt"
        translations = [translate(regex) for regex in regexes]
        patterns.write_text("\n".join(t.ere for t in translations) + "\n", encoding="utf-8")
        approximated = sum(1 for t in translations if t.approximations)

        scanners: dict[str, LogScanner] = {}
        compile_seconds: dict[str, float] = {}
        for engine in ("hyperscan", "python"):
            try:
                compile_seconds[engine], scanners[engine] = timed(
                    lambda engine=engine: LogScanner(LOG_SIGNATURES, engine=engine)
                )
            except ImportError:
                logger.warning("hyperscan is not installed; its rows are left out")

        def scan(engine: str, threads: int) -> set[int]:
            matches = scanners[engine].scan_file(path, "mix", threads=threads)
            return {match.line_number for match in matches}

        def scan_in_memory(threads: int) -> set[int]:
            matches = scanners["hyperscan"].scan(data, "mix", threads=threads)
            return {match.line_number for match in matches}

        def hyperscan_pass() -> int:
            # The engine's candidates only: no line numbers, texts or LogMatch objects.
            finder = scanners["hyperscan"]._hyperscan
            assert finder is not None
            _, slices, _ = finder.candidate_slices(data, scanners["hyperscan"]._python)
            return sum(len(pairs) for _, pairs in slices)

        def grep(locale: str) -> int:
            output = Path(folder) / "grep.out"
            with output.open("wb") as sink:
                subprocess.run(
                    ["grep", "-n", "-E", "-f", str(patterns), str(path)],
                    stdout=sink,
                    env={**os.environ, "LC_ALL": locale},
                    check=False,
                )
            with output.open("rb") as written:
                return sum(1 for _ in written)

        threads = os.cpu_count() or 1
        runs: dict[str, Callable[[], Any]] = {"grep -E (LC_ALL=C)": lambda: grep("C")}
        if "hyperscan" in scanners:
            runs["stackmedic, Hyperscan, 1 thread"] = lambda: scan("hyperscan", 1)
            if threads > 1:
                runs[f"stackmedic, Hyperscan, {threads} threads"] = lambda: scan(
                    "hyperscan", threads
                )
            runs["stackmedic, Hyperscan, 1 thread, log already in memory"] = lambda: scan_in_memory(
                1
            )
            runs["Hyperscan pass alone, in memory (candidates, not lines)"] = hyperscan_pass
        runs["stackmedic, standard library (fallback)"] = lambda: scan("python", 1)
        runs["grep -E (LC_ALL=C.UTF-8)"] = lambda: grep("C.UTF-8")

        times = {name: Series() for name in runs}
        found: dict[str, int] = {}
        for repeat in range(arguments.repeats):
            for name, run in runs.items():
                logger.info("logs: %s, repeat %d", name, repeat + 1)
                seconds, result = timed(run)
                times[name].add(seconds)
                found[name] = result if isinstance(result, int) else len(result)

        sample_rows, sample_found = bench_log_alternatives(arguments, regexes, data)
        unicode_text = ""
        if "hyperscan" in scanners:
            seconds, _ = timed(scanners["hyperscan"].scan, "Überprüfung failed\n")
            unicode_text = (
                "Text that is not ASCII needs a second database compiled with Unicode"
                f" properties; the first such scan compiled it in {seconds:.2f} s."
            )

    grep_series = times["grep -E (LC_ALL=C)"]
    rows = []
    for name, series in times.items():
        rate = Series([lines / value for value in series.values])
        versus = ratios(grep_series, series)
        rows.append(
            [
                name,
                series.show(3),
                f"{rate.median / 1e6:.2f} M",
                versus.show(2) + " ×",
                f"{found[name]:,}",
            ]
        )
    hyperscan_name = "stackmedic, Hyperscan, 1 thread"
    if hyperscan_name in times:
        single = ratios(grep_series, times[hyperscan_name])
        report.goal(
            "log analysis, 1 thread, vs grep -E",
            f"{single.median:.2f} × grep's throughput",
            "at least grep's throughput",
            single.median >= 1,
        )
        name = f"stackmedic, Hyperscan, {threads} threads"
        if name in times:
            parallel = ratios(grep_series, times[name])
            report.goal(
                f"log analysis, {threads} threads, vs grep -E",
                f"{parallel.median:.2f} × grep's throughput",
                "at least grep's throughput",
                parallel.median >= 1,
            )

    exact = len(scanners["hyperscan"]._hyperscan.ascii_exact) if "hyperscan" in scanners else 0
    compile_text = ", ".join(
        f"{engine} {seconds:.2f} s" for engine, seconds in compile_seconds.items()
    )
    text = f"""
The whole signature table of the pattern library
(`stackmedic.patterns.signatures.LOG_SIGNATURES`: {len(LOG_SIGNATURES)} pattern codes,
{len(regexes)} distinct regexes) over {lines:,} log lines ({size / 1e6:.1f} MB) that
`benchmarks/logmix.py` writes with a fixed seed: Python logging, uvicorn,
logfmt, JSON, logback lines, about 1 % of them fault reports, bind
announcements and tracebacks. stackmedic runs `LogScanner.scan_file` and
collects every (line, signature) match with its line number and text; grep
runs `grep -n -E -f patterns.txt` with the same regexes in ERE syntax
(`benchmarks/grep_patterns.py`; {approximated} of them approximated, see
there), writing its output to a file. Both read the file from the page
cache. Compiling the scanner took {compile_text} and is not included.
"matching lines" must be equal in every row: it is the check that each way
finds the same lines.

{table(["engine", "seconds", "lines/s", "throughput vs grep -E (C)", "matching lines"], rows)}

Where stackmedic's time goes: the "Hyperscan pass alone" row is the one pass
of all regexes over the buffer, with the candidate offsets it reports
(its last column counts candidates, not lines). The "log already in memory" row adds
the work in Python for each candidate line: its number, its text, the
confirming `re` search and one `LogMatch` per (line, signature); the
`scan_file` rows add reading the file in pieces.

Other engines for the same job, on the first {arguments.sample_lines:,} lines
(`benchmarks/engines.py`); the per-line loop is what a pattern does when it
loops over `container.logs` with `re`:

{table(["engine", "seconds", "lines/s", "time vs LogScanner", "matching (line, regex) pairs"], sample_rows)}

All pairs counts equal: {"yes" if len(set(sample_found.values())) == 1 else "no"}.

Why Hyperscan: it is the only one of these that runs every regex over the
whole buffer in one pass in C and hands back only the matches. RE2's set
still needs a Python call per line, and an Aho-Corasick prefilter a Python
step per literal hit, and the short literals some signatures have occur on
most lines. A regex whose matches cannot leave their line is compiled
exactly, and on a clean ASCII buffer its matches are taken as they are
({exact} of the {len(regexes)} regexes). Every other regex is compiled in
prefilter mode, which takes it as Python wrote it, lookahead included. That
mode may match more than the regex but never less, so the Python regex
object confirms each candidate line. Without the hyperscan package,
`LogScanner` falls back to the standard-library engine (the "fallback" row
above). {unicode_text}
"""
    report.section("2. Log analysis", text)


def count_pairs(function: Callable[..., set[Any]], regexes: list[Any], sample: bytes) -> int:
    return len(function(regexes, sample))


def bench_log_alternatives(
    arguments: argparse.Namespace, regexes: list[Any], data: bytes
) -> tuple[list[list[str]], dict[str, int]]:
    cut = 0
    for _ in range(arguments.sample_lines):
        cut = data.index(b"\n", cut) + 1
    sample = data[:cut]
    scanner = LogScanner({"ALL": regexes})

    def library() -> int:
        return len(scanner.scan(sample))

    candidates: dict[str, Callable[[], int]] = {f"LogScanner ({scanner.engine})": library}
    for function in (
        engines.per_line_loop,
        engines.re2_set_per_line,
        engines.pyahocorasick_prefilter,
        engines.ahocorasick_rs_prefilter,
    ):
        try:
            function([], b"")
        except ImportError:
            logger.warning("%s left out: its package is not installed", function.__name__)
            continue
        candidates[function.__name__] = functools.partial(count_pairs, function, regexes, sample)
    rows = []
    found: dict[str, int] = {}
    times = {name: Series() for name in candidates}
    for repeat in range(arguments.repeats):
        for name, run in candidates.items():
            logger.info("logs (sample): %s, repeat %d", name, repeat + 1)
            seconds, found[name] = timed(run)
            times[name].add(seconds)
    reference = times[f"LogScanner ({scanner.engine})"]
    for name, series in times.items():
        rate = arguments.sample_lines / series.median
        slower = ratios(series, reference)
        rows.append(
            [name, series.show(3), f"{rate / 1e6:.3f} M", slower.show(1) + " ×", f"{found[name]:,}"]
        )
    return rows, found


# --- 5b. peak memory of a 1 GB scan -----------------------------------------------------------------


def bench_scan_memory(report: Report, arguments: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="smbench-gib-") as folder:
        base = Path(folder) / "mix.log"
        logmix.write_log(base, arguments.log_lines)
        block = base.read_bytes()
        path = Path(folder) / "big.log"
        with path.open("wb") as stream:
            written = 0
            while written < arguments.big_log_bytes:
                stream.write(block)
                written += len(block)
        base.unlink()
        patterns = Path(folder) / "patterns.txt"
        patterns.write_text("\n".join(translate(r).ere for r in distinct_signatures()) + "\n")

        scan_command = [sys.executable, str(HERE / "child_scan.py"), str(path)]
        grep_output = Path(folder) / "grep.out"
        runs = {
            "stackmedic scan_file (Hyperscan, 1 thread)": scan_command + ["--engine", "hyperscan"],
            "grep -n -E -f (LC_ALL=C)": [
                "env",
                "LC_ALL=C",
                "grep",
                "-n",
                "-E",
                "-f",
                str(patterns),
                str(path),
            ],
        }
        peak = {name: Series() for name in runs}
        seconds = {name: Series() for name in runs}
        for _ in range(arguments.repeats):
            for name, command in runs.items():
                with grep_output.open("wb") as sink:
                    maxrss, took, status = run_child(command, stdout=sink.fileno())
                if status != 0:
                    raise RuntimeError(f"{command[0]} exited with {status}")
                peak[name].add(maxrss / 1024)
                seconds[name].add(took)
        for name in runs:
            report.memory_rows.append(
                [
                    f"{name} over {written / GIB:.2f} GiB",
                    peak[name].show(1, "MiB"),
                    seconds[name].show(2, "s"),
                ]
            )
        name = "stackmedic scan_file (Hyperscan, 1 thread)"
        report.goal(
            f"peak memory, scan of a {written / GIB:.1f} GiB log",
            peak[name].show(1, "MiB"),
            "bounded (chunked reads)",
            peak[name].median < 1024,
        )


# --- 3. verification latency ----------------------------------------------------------------------


def bench_verify(report: Report, arguments: argparse.Namespace) -> None:
    engine = DockerEngine.connect()
    latency, detect, settle = Series(), Series(), Series()
    intervals = (1.0, 1.5, 2.0, 2.5, 3.0)
    with BenchStack(0, health_intervals=intervals) as stack:
        for repeat in range(arguments.repeats):
            logger.info("verify: repeat %d (%s)", repeat + 1, stack.name)
            stack.down()
            since = time.time()
            stack.up(wait_for_logs=False)
            result = wait_until_settled(engine, stack.name, timeout=120)
            if not result.settled:
                raise RuntimeError(f"the stack did not settle: {result.unsettled}")
            last_event = last_health_event(engine, stack.name, since, result.settled_at)
            latency.add(result.settled_at - last_event)
            settle.add(result.seconds)
            detected = getattr(result, "detect_seconds", None)
            if detected is not None:
                detect.add(detected)
    report.goal(
        "verification latency (last health event to settled)",
        latency.show(3, "s"),
        "under 0.5 s",
        latency.median < 0.5,
    )
    rows = [
        ["last health event (engine `timeNano`) → `settled_at`", latency.show(3, "s")],
        ["`SettleResult.detect_seconds` (the wait's own figure)", detect.show(3, "s")],
        ["whole wait, `docker compose up -d` done → settled", settle.show(2, "s")],
    ]
    text = f"""
Five containers with health checks (`true`, intervals {", ".join(f"{i:g}" for i in intervals)} s)
are started with `docker compose up -d`; then
`stackmedic.verify.wait.wait_until_settled` waits on the event stream. The
latency is the difference between the wait's `settled_at` and the
`timeNano` of the engine event of the last container to become healthy,
read back from `GET /events` afterwards. Both clocks are this machine's.

{table(["measure", "value"], rows)}
"""
    report.section("3. Verification latency", text)


def last_health_event(engine: DockerEngine, project: str, since: float, settled_at: float) -> float:
    """Return the engine time of the last container's first "healthy" event before `settled_at`."""
    first_healthy: dict[str, float] = {}
    stream = engine.events(project, since=since - 1, until=time.time() + 1)
    try:
        for event in iterate_stream(stream):
            action = str(event.get("Action") or event.get("status") or "")
            moment = int(event.get("timeNano") or 0) / 1e9
            if (
                action.startswith("health_status")
                and "healthy" in action
                and "unhealthy" not in action
            ):
                first_healthy.setdefault(str(event.get("id")), moment)
    finally:
        stream.close()
    settled = [moment for moment in first_healthy.values() if moment <= settled_at]
    if not settled:
        raise RuntimeError("no health_status event was recorded")
    return max(settled)


# --- 4. one full loop on the sample -------------------------------------------------------------------


def bench_loop(report: Report, arguments: argparse.Namespace) -> None:
    name = f"smbench-loop-{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    environment = {**os.environ, **LOCAL_IMAGES, "TACORESERVICE_HTTP_PORT": str(free_port())}
    phases: dict[str, Series] = {}
    totals, wall, outside = Series(), Series(), Series()
    outcomes = []
    first_copy = None
    try:
        for repeat in range(arguments.loop_repeats):
            copy = work / f"run-{repeat + 1}" / "tacoreservice"
            shutil.copytree(
                REPO / "examples" / "tacoreservice",
                copy,
                ignore=shutil.ignore_patterns(".stackmedic", "__pycache__"),
            )
            first_copy = first_copy or copy
            compose = ["docker", "compose", "--project-directory", str(copy), "-p", name]
            subprocess.run(
                compose + ["down", "-v", "--remove-orphans", "-t", "1"],
                env=environment,
                capture_output=True,
                check=False,
            )
            logger.info("loop: bringing up the broken sample, repeat %d", repeat + 1)
            subprocess.run(
                compose + ["up", "--build", "-d", "--quiet-pull"],
                env=environment,
                capture_output=True,
                check=True,
            )
            run_dir = copy.parent / "run"
            seconds, finished = timed(
                subprocess.run,
                [*STACKMEDIC, "run", str(copy), "-p", name, "--run-dir", str(run_dir), "--quiet"],
                env=environment,
                capture_output=True,
                text=True,
                check=False,
            )
            wall.add(seconds)
            if not (run_dir / "report.json").is_file():
                raise RuntimeError(
                    f"stackmedic run wrote no report (exit {finished.returncode}):"
                    f" {finished.stderr.strip()[-600:]}"
                )
            record = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
            whole = totals.add(span(record["started_at"], record["finished_at"]))
            in_phases = 0.0
            for cycle in record.get("cycles", []):
                for phase in cycle.get("phases", []):
                    key = f"cycle {cycle['number']} {phase['name']}"
                    seconds = span(phase["started_at"], phase["finished_at"])
                    in_phases += phases.setdefault(key, Series()).add(seconds)
            outside.add(whole - in_phases)
            outcomes.append(
                f"{record.get('verdict')} after {len(record.get('cycles', []))} cycles"
                f" (exit {finished.returncode})"
            )
    finally:
        if first_copy is not None:
            subprocess.run(
                [
                    "docker",
                    "compose",
                    "--project-directory",
                    str(first_copy),
                    "-p",
                    name,
                    "down",
                    "-v",
                    "--remove-orphans",
                    "--rmi",
                    "local",
                    "-t",
                    "1",
                ],
                env=environment,
                capture_output=True,
                check=False,
            )
        shutil.rmtree(work, ignore_errors=True)

    rows = [[key, series.show(2, "s"), str(len(series.values))] for key, series in phases.items()]
    rows.append(
        [
            "outside the phases (baseline checks, setup, report)",
            outside.show(2, "s"),
            str(len(outside.values)),
        ]
    )
    rows.append(
        [
            "whole run (record's started_at → finished_at)",
            totals.show(2, "s"),
            str(len(totals.values)),
        ]
    )
    rows.append(["`stackmedic run` process, wall time", wall.show(2, "s"), str(len(wall.values))])
    report.goal("one full loop on the sample", totals.show(1, "s"), "recorded, by phase", None)
    text = f"""
`stackmedic run` on a fresh copy of examples/tacoreservice (local base
images; the broken stack brought up with `docker compose up --build -d`
before each run, images already built), {arguments.loop_repeats} runs. Durations come from the
run record (report.json): each phase's `started_at` → `finished_at`. A
phase missing from some runs has fewer values. Outcomes: {"; ".join(outcomes)}.

{table(["phase", "seconds", "runs"], rows)}
"""
    report.section("4. One full loop on the sample, by phase", text)


def span(started: str, finished: str) -> float:
    return (
        dt.datetime.fromisoformat(finished) - dt.datetime.fromisoformat(started)
    ).total_seconds()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- main ------------------------------------------------------------------------------------------


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="Run this section (repeatable)."
    )
    parser.add_argument(
        "--quick", action="store_true", help="Small sizes and 2 repeats, to try the script."
    )
    parser.add_argument("--repeats", type=int, default=5, help="Repeats of every figure.")
    parser.add_argument("--loop-repeats", type=int, default=5, help="Full loops on the sample.")
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[5, 25, 100],
        help="Container counts for the collection benchmark, comma-separated.",
    )
    parser.add_argument(
        "--container-log-lines", type=int, default=10_000, help="Log lines per container."
    )
    parser.add_argument(
        "--log-lines", type=int, default=1_000_000, help="Lines of the generated log."
    )
    parser.add_argument(
        "--sample-lines", type=int, default=50_000, help="Lines for the slow engines."
    )
    parser.add_argument(
        "--big-log-bytes", type=int, default=GIB, help="Size of the peak-memory log."
    )
    parser.add_argument(
        "--max-load", type=float, default=1.0, help="Wait until the load average is below."
    )
    parser.add_argument(
        "--max-wait", type=float, default=60.0, help="Minutes to wait for the load to drop."
    )
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    arguments = parser.parse_args(argv)
    arguments.argv = argv
    if arguments.quick:
        arguments.repeats = 2
        arguments.loop_repeats = 1
        arguments.sizes = [3, 6]
        arguments.container_log_lines = 1000
        arguments.log_lines = 50_000
        arguments.sample_lines = 5_000
        arguments.big_log_bytes = 64 * 1024 * 1024
        arguments.max_load = 100.0
    return arguments


def main(argv: list[str] | None = None) -> int:
    # Child processes import the package from this checkout too.
    inherited = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "src"), *([inherited] if inherited else [])]
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    sections = arguments.only or list(SECTIONS)

    waited = wait_for_quiet_machine(arguments.max_load, arguments.max_wait)
    report = Report(arguments, machine_info(arguments))
    report.machine["load average"] = waited

    steps: list[tuple[str, Callable[[], None]]] = []
    if "collect" in sections or "memory" in sections:
        steps.append(
            ("collect", lambda: bench_collect(report, arguments, memory="memory" in sections))
        )
    if "logs" in sections:
        steps.append(("logs", lambda: bench_logs(report, arguments)))
    if "verify" in sections:
        steps.append(("verify", lambda: bench_verify(report, arguments)))
    if "loop" in sections:
        steps.append(("loop", lambda: bench_loop(report, arguments)))
    if "memory" in sections:
        steps.append(("memory", lambda: bench_scan_memory(report, arguments)))

    failed = 0
    for name, step in steps:
        started = time.perf_counter()
        report.machine[f"load average (1/5/15 min) before section {name}"] = load_average()
        logger.info("section %s: load average %s", name, load_average())
        try:
            step()
        except Exception as error:
            failed += 1
            logger.exception("section %s failed", name)
            report.section(
                f"{name}: failed", f"The section failed: `{type(error).__name__}: {error}`"
            )
        logger.info("section %s took %.0f s", name, time.perf_counter() - started)

    if report.memory_rows:
        report.section(
            "5. Peak memory",
            f"""
Peak resident memory (`ru_maxrss` from `wait4`) of a diagnose and of a scan
of a large log, which `scan_file` reads in 32 MiB pieces. Each command runs
under `benchmarks/peak_rss.py`, so the figure includes up to about 10 MiB of
that launcher (a bare `true` under it reports about that much).

{table(["run", "peak memory", "seconds"], report.memory_rows)}
""",
        )
    report.machine["load average (1/5/15 min) at end"] = load_average()
    markdown = report.render()
    print(markdown)
    arguments.output.write_text(markdown, encoding="utf-8")
    logger.info("wrote %s", arguments.output)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
