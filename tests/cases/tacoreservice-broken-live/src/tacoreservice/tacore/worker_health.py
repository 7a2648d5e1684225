"""Container health check for a worker: `python -m tacore.worker_health`.

Exits 0 when the worker received a heartbeat acknowledgement from the broker
recently, that is when the heartbeat file it rewrites on every
HEARTBEAT_ACK is at most 3 heartbeat intervals old (at least 6 s).
Otherwise prints the reason to stderr and exits 1.
"""

import os
import sys
import time
from pathlib import Path

MIN_MAX_AGE_S = 6.0


def check(heartbeat_file: Path, interval_s: float, now: float) -> str | None:
    """Return why the worker is unhealthy, or None when it is healthy."""
    max_age_s = max(3 * interval_s, MIN_MAX_AGE_S)
    try:
        content = heartbeat_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return f"no heartbeat file {heartbeat_file}: the worker has not heard back from the broker"
    except OSError as error:
        return f"cannot read heartbeat file {heartbeat_file}: {error}"

    try:
        last_heartbeat = float(content)
    except ValueError:
        return f"invalid heartbeat file {heartbeat_file}: {content[:40]!r} is not a Unix time"

    age_s = now - last_heartbeat
    if age_s > max_age_s:
        return f"last broker heartbeat {age_s:.1f} s ago, more than {max_age_s:g} s"
    return None


def main() -> int:
    heartbeat_file = Path(os.getenv("TACORESERVICE_HEARTBEAT_FILE", "/tmp/tacore-worker-heartbeat"))
    interval_s = float(os.getenv("TACORESERVICE_HEARTBEAT_INTERVAL", "2"))
    problem = check(heartbeat_file, interval_s, time.time())
    if problem is not None:
        sys.stderr.write(f"unhealthy: {problem}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
