"""A deterministic, realistic container log for the log-analysis benchmark.

`write_log` writes lines in formats that services of a compose stack print:
Python logging, uvicorn, logfmt, JSON and Java logback. About one line in a
hundred is one that the pattern library looks for, such as a failed
connection, a traceback, a bind announcement or a missing table. The same
seed always gives the same bytes.
"""

from __future__ import annotations

import random
from pathlib import Path

SEED = 20261204
DEFAULT_LINES = 1_000_000
# Share of lines taken from SIGNAL_LINES; the rest come from BACKGROUND.
SIGNAL_SHARE = 0.01

SERVICES = ("api", "worker", "billing", "gateway", "scheduler")
WORDS = (
    "order",
    "invoice",
    "session",
    "cart",
    "report",
    "batch",
    "ticket",
    "quote",
    "payment",
    "shipment",
    "profile",
    "token",
    "metric",
    "snapshot",
    "export",
)

# Lines no log signature matches. Each is a format string over `fields`.
BACKGROUND = (
    "{date} {time},{ms:03d} - INFO - Processed {word} {n} for account acct-{m} in {ms} ms",
    "{date} {time},{ms:03d} - DEBUG - Cache hit for {word}:{n} (ttl {m}s)",
    "{date} {time},{ms:03d} - INFO - Worker {service}-{m} picked up {word} batch {n}",
    '{date}T{time}.{ms:03d}Z level=info msg="{word} saved" id={n} duration={ms}ms',
    '{date}T{time}.{ms:03d}Z level=debug msg="queue depth" queue={word}s depth={m}',
    '{{"ts":"{date}T{time}.{ms:03d}Z","level":"info","msg":"{word} updated","id":{n},"user":{m}}}',
    (
        "{date} {time}.{ms:03d}  INFO 1 --- [nio-8080-exec-{m}] c.e.{service}.{word}Service"
        "         : Handled {word} {n} in {ms} ms"
    ),
    "[{date} {time}] {service}: scheduled {word} job #{n} to run in {m}s",
    "{date} {time},{ms:03d} - WARNING - Slow {word} query took {ms} ms (threshold 200 ms)",
    "{date} {time},{ms:03d} - INFO - Heartbeat from {service}-{m}: {n} {word}s pending",
)

# Lines the pattern library reports on; some are several lines of one report.
SIGNAL_LINES = (
    "{date} {time},{ms:03d} - ERROR - Error getting workers status: 'last_seen'",
    (
        "{date} {time},{ms:03d} - ERROR - Failed to record metrics: 'DatabaseManager' object has no"
        " attribute 'record_service_metrics'"
    ),
    "redis.exceptions.ConnectionError: Error 111 connecting to redis:6379. Connection refused.",
    (
        'psycopg2.OperationalError: could not translate host name "postgres" to address: Name or'
        " service not known"
    ),
    "Error: connect ECONNREFUSED 127.0.0.1:5432",
    (
        "Traceback (most recent call last):\n"
        '  File "/app/src/worker.py", line {m}, in run\n'
        "    self.db.record_service_metrics(metrics)\n"
        "AttributeError: 'DatabaseManager' object has no attribute 'record_service_metrics'"
    ),
    "ModuleNotFoundError: No module named 'zmq'",
    "INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)",
    'INFO:     10.0.{m}.7:5{n:04d} - "GET /api/workers HTTP/1.1" 200 OK',
    "{date} {time},{ms:03d} - ERROR - sqlite3.OperationalError: no such table: service_metrics",
    'FATAL:  password authentication failed for user "app"',
    "PermissionError: [Errno 13] Permission denied: '/data/tacoreservice.db'",
    "OSError: [Errno 28] No space left on device",
    "exec /usr/local/bin/entrypoint.sh: exec format error",
    "ERROR: DATABASE_URL environment variable is not set",
    "panic: runtime error: invalid memory address or nil pointer dereference",
    "Error: Cannot find module 'express'",
    "requests.exceptions.SSLError: certificate verify failed: unable to get local issuer certificate",
    "OSError: [Errno 98] Address already in use",
    "1:M {date} {time}.{ms:03d} * Ready to accept connections tcp",
)


def _fields(rng: random.Random, moment: int) -> dict[str, object]:
    hours, rest = divmod(moment // 1000 % 86400, 3600)
    minutes, seconds = divmod(rest, 60)
    return {
        "date": "2026-12-04",
        "time": f"{hours:02d}:{minutes:02d}:{seconds:02d}",
        "ms": moment % 1000,
        "n": rng.randrange(10_000),
        "m": rng.randrange(1, 64),
        "word": rng.choice(WORDS),
        "service": rng.choice(SERVICES),
    }


def generate_lines(count: int, seed: int = SEED) -> list[str]:
    """Return at least `count` log lines (a multi-line report is never cut)."""
    rng = random.Random(seed)
    lines: list[str] = []
    moment = 36_000_000
    while len(lines) < count:
        moment += rng.randrange(1, 40)
        fields = _fields(rng, moment)
        if rng.random() < SIGNAL_SHARE:
            template = rng.choice(SIGNAL_LINES)
        else:
            template = rng.choice(BACKGROUND)
        lines.extend(template.format(**fields).split("\n"))
    return lines


def write_log(path: Path, count: int = DEFAULT_LINES, seed: int = SEED) -> int:
    """Write the log to `path` and return its size in bytes."""
    data = ("\n".join(generate_lines(count, seed)) + "\n").encode("utf-8")
    path.write_bytes(data)
    return len(data)
