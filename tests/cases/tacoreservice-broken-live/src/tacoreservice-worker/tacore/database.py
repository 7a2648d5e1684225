"""SQLite storage for the worker registry and the service metrics.

The main service and the workers open the same file (on the tacore-data
volume), so every statement runs in its own short transaction and waits up to
`BUSY_TIMEOUT_S` for another process's lock.
"""

import logging
import os
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 10.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_timestamp(moment: datetime) -> str:
    """Format a UTC time so that timestamps sort as strings in time order."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


class DatabaseManager:
    """The registry of workers and the history of service metrics."""

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        directory = os.path.dirname(db_path)
        if directory:
            os.makedirs(directory, exist_ok=True)

        self._lock = threading.Lock()
        self._connection = sqlite3.connect(
            db_path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
        )
        self._connection.row_factory = sqlite3.Row

        self.init_tables()
        logger.info(f"DatabaseManager initialized with database: {db_path}")

    def init_tables(self) -> None:
        with self._lock:
            self._connection.execute(
                """
                CREATE TABLE IF NOT EXISTS workers (
                    worker_id TEXT PRIMARY KEY,
                    status TEXT NOT NULL,
                    last_heartbeat TEXT NOT NULL,
                    registered_at TEXT NOT NULL,
                    requests_served INTEGER NOT NULL DEFAULT 0
                )
                """
            )
            self._connection.execute(
                """
                CREATE TABLE IF NOT EXISTS service_metrics (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    recorded_at TEXT NOT NULL,
                    active_workers INTEGER NOT NULL,
                    requests_total INTEGER NOT NULL,
                    requests_failed INTEGER NOT NULL
                )
                """
            )
        logger.info("Database tables initialized successfully")

    def ping(self) -> bool:
        """Run a trivial query; raises sqlite3.Error when the database is unusable."""
        with self._lock:
            row = self._connection.execute("SELECT 1").fetchone()
        return row is not None and row[0] == 1

    def upsert_worker(self, worker_id: str, status: str) -> None:
        """Register a worker, or set its status and heartbeat if it is known."""
        now = to_timestamp(utc_now())
        with self._lock:
            self._connection.execute(
                """
                INSERT INTO workers (worker_id, status, last_heartbeat, registered_at)
                VALUES (?, ?, ?, ?)
                ON CONFLICT(worker_id) DO UPDATE SET
                    status = excluded.status,
                    last_heartbeat = excluded.last_heartbeat
                """,
                (worker_id, status, now, now),
            )

    def touch_worker(self, worker_id: str) -> bool:
        """Record a heartbeat; returns False when the worker is not registered."""
        now = to_timestamp(utc_now())
        with self._lock:
            cursor = self._connection.execute(
                "UPDATE workers SET last_heartbeat = ?, status = 'alive' WHERE worker_id = ?",
                (now, worker_id),
            )
        return cursor.rowcount > 0

    def increment_requests_served(self, worker_id: str) -> None:
        with self._lock:
            self._connection.execute(
                "UPDATE workers SET requests_served = requests_served + 1 WHERE worker_id = ?",
                (worker_id,),
            )

    def mark_stale_workers(self, max_age_s: float) -> int:
        """Set status 'stale' on workers silent for more than max_age_s; returns how many."""
        cutoff = to_timestamp(utc_now() - timedelta(seconds=max_age_s))
        with self._lock:
            cursor = self._connection.execute(
                "UPDATE workers SET status = 'stale' WHERE last_heartbeat < ? AND status != 'stale'",
                (cutoff,),
            )
        return cursor.rowcount

    def get_workers(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT * FROM workers ORDER BY registered_at, worker_id"
            ).fetchall()
        return [dict(row) for row in rows]

    def count_active_workers(self, max_age_s: float) -> int:
        cutoff = to_timestamp(utc_now() - timedelta(seconds=max_age_s))
        with self._lock:
            row = self._connection.execute(
                "SELECT COUNT(*) FROM workers WHERE last_heartbeat >= ?", (cutoff,)
            ).fetchone()
        return int(row[0])

    def get_service_metrics(self, limit: int) -> list[dict[str, Any]]:
        """Return the latest service_metrics rows, newest first."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT * FROM service_metrics ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [dict(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._connection.close()
