"""Run a command and write its peak resident memory (KiB) and exit status to a file.

Usage: python benchmarks/peak_rss.py RESULT_FILE COMMAND [ARGUMENTS...]

Linux counts the memory a process had before `exec` in the `ru_maxrss` of
the program it becomes, so a child forked straight from the benchmark (whose
process contains hundreds of MiB of log) would report at least that much. This small
process forks the command instead; the figure then includes at most this
launcher's own few MiB.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    result_file, command = sys.argv[1], sys.argv[2:]
    child = os.fork()
    if child == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(child, 0)
    with open(result_file, "w", encoding="utf-8") as stream:
        json.dump(
            {"maxrss_kib": usage.ru_maxrss, "status": os.waitstatus_to_exitcode(status)}, stream
        )


if __name__ == "__main__":
    main()
