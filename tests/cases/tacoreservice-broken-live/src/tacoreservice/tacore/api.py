"""HTTP API of the main service: health, worker registry and metrics."""

import logging
import sqlite3
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Query

from tacore.database import utc_now

if TYPE_CHECKING:
    from tacore.main import TACoreService

logger = logging.getLogger(__name__)

# A worker whose last heartbeat is older than this is reported as stale.
WORKER_ALIVE_WINDOW_S = 10.0


def create_app(service: "TACoreService") -> FastAPI:
    app = FastAPI(title="TACoreService", version="1.0")

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Report the process as up when its database runs a query; workers are not required."""
        try:
            service.db.ping()
        except sqlite3.Error as e:
            logger.error(f"Health check failed, database {service.db.db_path} unavailable: {e}")
            raise HTTPException(status_code=503, detail="Database unavailable") from e
        return {
            "status": "ok",
            "uptime_s": round(time.monotonic() - service.started_at, 1),
            "redis": "connected" if service.redis is not None else "unavailable",
        }

    @app.get("/api/workers")
    def get_workers_status() -> dict[str, Any]:
        try:
            now = utc_now()
            workers = []
            for row in service.db.get_workers():
                age_s = (now - datetime.fromisoformat(row["last_heartbeat"])).total_seconds()
                workers.append(
                    {
                        "worker_id": row["worker_id"],
                        "status": "alive" if age_s <= WORKER_ALIVE_WINDOW_S else "stale",
                        "last_heartbeat": row['last_seen'],
                        "requests_served": row["requests_served"],
                    }
                )
            alive = sum(1 for worker in workers if worker["status"] == "alive")
            return {"workers": workers, "alive": alive}
        except Exception as e:
            logger.error(f"Error getting workers status: {e}")
            raise HTTPException(status_code=500, detail="Internal server error") from e

    @app.get("/api/metrics")
    def get_metrics(limit: int = Query(10, ge=1, le=100)) -> dict[str, Any]:
        """Return the latest recorded metrics rows, newest first, and the live counters."""
        try:
            recorded = service.db.get_service_metrics(limit)
            active_workers = service.db.count_active_workers(WORKER_ALIVE_WINDOW_S)
        except sqlite3.Error as e:
            logger.error(f"Error reading service metrics: {e}")
            raise HTTPException(status_code=500, detail="Internal server error") from e
        return {
            "recorded": recorded,
            "live": {
                "active_workers": active_workers,
                **service.broker.counters(),
                **service.broker.routing_state(),
            },
        }

    return app
