"""TACoreService main process: `python -m tacore.main`.

Runs the ZeroMQ broker and the metrics loop in threads and the HTTP API
(uvicorn) in the main thread, which also handles SIGTERM and SIGINT.
"""

import json
import logging
import os
import socket
import sys
import threading
import time

import redis
import uvicorn

from tacore.api import WORKER_ALIVE_WINDOW_S, create_app
from tacore.broker import Broker
from tacore.database import DatabaseManager, to_timestamp, utc_now
from tacore.logging_setup import configure_logging

logger = logging.getLogger(__name__)

REDIS_CONNECT_ATTEMPTS = 5
REDIS_RETRY_DELAY_S = 1.0
REDIS_METRICS_KEY = "tacoreservice:metrics"


class TACoreService:
    def __init__(self) -> None:
        self.api_port = int(os.getenv("TACORESERVICE_API_PORT", "8080"))
        self.database_path = os.getenv("DATABASE_PATH", "data/tacoreservice.db")
        self.redis_url = os.getenv("REDIS_URL", "redis://localhost:6379/0")
        self.metrics_interval = float(os.getenv("TACORESERVICE_METRICS_INTERVAL", "5"))

        self.started_at = time.monotonic()
        self.db: DatabaseManager
        self.redis: redis.Redis | None = None
        self.broker: Broker
        self._stop = threading.Event()
        self._metrics_thread: threading.Thread | None = None

    def run(self) -> None:
        logger.info("Starting TACoreService...")
        self.db = DatabaseManager(self.database_path)
        self.redis = connect_redis(self.redis_url)

        self.broker = Broker(self.db)
        self.broker.bind()
        self.broker.start()

        self._metrics_thread = threading.Thread(
            target=self._metrics_loop, name="metrics", daemon=True
        )
        self._metrics_thread.start()
        logger.info(f"Metrics collection loop started (interval {self.metrics_interval:g}s)")

        try:
            self._serve_http()
        finally:
            self._shutdown()

    def _serve_http(self) -> None:
        # Binding the socket here, instead of letting uvicorn do it, means the
        # "listening" line is logged only once the port accepts connections.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", self.api_port))
        listener.listen(128)
        logger.info(f"HTTP API listening on 0.0.0.0:{self.api_port}")

        config = uvicorn.Config(
            create_app(self), log_config=None, log_level="warning", access_log=False
        )
        uvicorn.Server(config).run(sockets=[listener])

    def _shutdown(self) -> None:
        logger.info("Stopping TACoreService...")
        self._stop.set()
        if self._metrics_thread is not None:
            self._metrics_thread.join(timeout=5)
        self.broker.stop()
        self.db.close()
        logger.info("TACoreService stopped")

    def _metrics_loop(self) -> None:
        while not self._stop.wait(self.metrics_interval):
            try:
                self.db.mark_stale_workers(WORKER_ALIVE_WINDOW_S)
                active_workers = self.db.count_active_workers(WORKER_ALIVE_WINDOW_S)
                counters = self.broker.counters()
                self.db.record_service_metrics(
                    active_workers=active_workers,
                    requests_total=counters["requests_total"],
                    requests_failed=counters["requests_failed"],
                )
                if self.redis is not None:
                    snapshot = {
                        "recorded_at": to_timestamp(utc_now()),
                        "active_workers": active_workers,
                        **counters,
                    }
                    self.redis.set(REDIS_METRICS_KEY, json.dumps(snapshot), ex=60)
            except Exception as e:  # noqa: BLE001 - one failed round must not end the loop
                logger.error(f"Error in metrics collection loop: {e}")


def connect_redis(url: str) -> redis.Redis | None:
    """Connect and ping Redis, retrying while it starts; None when it stays unreachable."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    for attempt in range(1, REDIS_CONNECT_ATTEMPTS + 1):
        try:
            client.ping()
        except (redis.ConnectionError, redis.TimeoutError) as error:
            if attempt == REDIS_CONNECT_ATTEMPTS:
                logger.error(
                    f"Could not connect to Redis at {url} after {attempt} attempts ({error}), "
                    "continuing without Redis"
                )
                return None
            logger.warning(f"Redis not ready ({error}), retrying...")
            time.sleep(REDIS_RETRY_DELAY_S)
        else:
            logger.info(f"Connected to Redis at {url}")
            return client
    return None


def main() -> int:
    configure_logging()
    TACoreService().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
