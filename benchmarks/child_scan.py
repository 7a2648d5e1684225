"""Scan one log file with the pattern library in this process, for the peak-memory benchmark.

Usage: python benchmarks/child_scan.py PATH [--engine hyperscan|python] [--threads N]
Prints one JSON object: lines, matches, matching lines, seconds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from stackmedic.analysis.logscan import LogScanner
from stackmedic.patterns.signatures import LOG_SIGNATURES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    arguments = parser.parse_args()

    started = time.perf_counter()
    scanner = LogScanner(LOG_SIGNATURES, engine=arguments.engine)
    matches = 0
    lines: set[int] = set()
    for match in scanner.scan_file(arguments.path, threads=arguments.threads):
        matches += 1
        lines.add(match.line_number)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "engine": scanner.engine,
                "matches": matches,
                "matching_lines": len(lines),
                "seconds": round(seconds, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
