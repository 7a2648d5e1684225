"""TACoreService worker: registers with the broker's backend and serves analysis requests.

Run as `python -m tacore.worker`. The frames it exchanges with the broker are
listed in tacore/broker.py.
"""

import json
import logging
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import zmq

from tacore import indicators
from tacore.database import DatabaseManager
from tacore.logging_setup import configure_logging

logger = logging.getLogger(__name__)

# NOTE: in compose this folder is the tacore-data volume, which Docker fills
# from the image only when the volume is created.
MARKET_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,20}$")


class Worker:
    """One ZeroMQ DEALER connection to the broker and the request handlers behind it."""

    def __init__(self) -> None:
        logger.info("Initializing Worker instance...")
        self.broker_host = os.getenv("TACORESERVICE_HOST", "tacoreservice")
        self.broker_port = int(os.getenv("TACORESERVICE_BACKEND_PORT", "5555"))
        self.heartbeat_interval = float(os.getenv("TACORESERVICE_HEARTBEAT_INTERVAL", "2"))
        self.heartbeat_file = Path(
            os.getenv("TACORESERVICE_HEARTBEAT_FILE", "/tmp/tacore-worker-heartbeat")
        )
        self.worker_id = f"worker-{socket.gethostname()}-{secrets.token_hex(3)}"

        self.db = DatabaseManager(os.getenv("DATABASE_PATH", "data/tacoreservice.db"))
        self.db.upsert_worker(self.worker_id, "starting")

        self.context = zmq.Context()
        self.socket: zmq.Socket | None = None
        self._stop = threading.Event()
        logger.info("Worker instance initialized successfully")

    def start(self) -> None:
        """Register with the broker, then serve requests until stopped."""
        endpoint = f"tcp://{self.broker_host}:{self.broker_port}"
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.IDENTITY, self.worker_id.encode())
        self.socket.connect(endpoint)

        self.socket.send_multipart([b"", b"READY", self.worker_id.encode()])
        reply = self.socket.recv_multipart()
        if reply != [b"", b"ACK"]:
            raise RuntimeError(f"unexpected reply to READY from {endpoint}: {reply!r}")
        logger.info(f"Worker {self.worker_id} registered with broker at {endpoint}")

        self._serve()

    def stop(self) -> None:
        """Ask the serve loop to end and unblock any pending receive."""
        self._stop.set()
        # Terminating the context makes a blocked recv in the worker thread
        # raise ContextTerminated; term() returns once that thread has closed
        # its socket.
        self.context.term()

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close(linger=0)
        self.db.close()

    def _serve(self) -> None:
        assert self.socket is not None
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        next_heartbeat = time.monotonic()

        while not self._stop.is_set():
            if time.monotonic() >= next_heartbeat:
                self.socket.send_multipart([b"", b"HEARTBEAT", self.worker_id.encode()])
                next_heartbeat = time.monotonic() + self.heartbeat_interval

            timeout_ms = max(0.0, (next_heartbeat - time.monotonic()) * 1000)
            if self.socket in dict(poller.poll(timeout_ms)):
                self._handle(self.socket.recv_multipart())

    def _handle(self, frames: list[bytes]) -> None:
        assert self.socket is not None
        if frames == [b"", b"HEARTBEAT_ACK"]:
            self._write_heartbeat_file()
        elif len(frames) == 4 and frames[:2] == [b"", b"REQUEST"]:
            client_id, payload = frames[2], frames[3]
            reply = self.handle_request(payload)
            self.socket.send_multipart(
                [b"", b"REPLY", client_id, json.dumps(reply).encode("utf-8")]
            )
        else:
            logger.warning(f"Ignoring unexpected broker message {frames!r}")

    def _write_heartbeat_file(self) -> None:
        temporary = self.heartbeat_file.with_name(self.heartbeat_file.name + ".tmp")
        temporary.write_text(f"{time.time():.3f}\n", encoding="utf-8")
        os.replace(temporary, self.heartbeat_file)

    def handle_request(self, payload: bytes) -> dict[str, Any]:
        """Handle one request; every failure becomes an error reply, never an exception."""
        started = time.perf_counter()
        request_id = None
        try:
            request = json.loads(payload)
            request_id = request.get("id")
            method = request["method"]
            params = request.get("params") or {}
            result = self._call(method, params)
        except RequestError as error:
            logger.warning(f"Request {request_id!r} failed: {error}")
            return self._reply(request_id, "error", error=str(error))
        except Exception as error:
            logger.exception(f"Request {request_id!r} raised an unexpected error")
            return self._reply(request_id, "error", error=f"internal error: {error}")

        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.info(f"Served {method} for {params.get('symbol')} in {elapsed_ms:.1f} ms")
        return self._reply(request_id, "ok", result=result)

    def _reply(self, request_id: Any, status: str, **fields: Any) -> dict[str, Any]:
        return {"id": request_id, "status": status, "worker_id": self.worker_id, **fields}

    def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "scan.market":
            candles = load_candles(params.get("symbol"))
            return {"symbol": params["symbol"].upper(), **indicators.scan(candles)}
        if method == "analyze.symbol":
            candles = load_candles(params.get("symbol"))
            lookback = params.get("lookback", 24)
            if not isinstance(lookback, int) or not 2 <= lookback <= len(candles):
                raise RequestError(f"invalid lookback {lookback!r}: expected 2..{len(candles)}")
            return {"symbol": params["symbol"].upper(), **indicators.analyze(candles, lookback)}
        raise RequestError(f"unknown method {method!r}: expected scan.market or analyze.symbol")


class RequestError(Exception):
    """A request the worker cannot serve; the message goes back to the client."""


def load_candles(symbol: Any) -> list[indicators.Candle]:
    if not isinstance(symbol, str) or not SYMBOL_PATTERN.match(symbol.upper()):
        raise RequestError(f"invalid symbol {symbol!r}: expected letters and digits like BTCUSDT")
    path = MARKET_DATA_DIR / f"ohlcv_{symbol.lower()}.csv"
    if not path.is_file():
        raise RequestError(f"unknown symbol {symbol.upper()}: no market data file {path.name}")
    return indicators.load_ohlcv(path)


class WorkerProcess:
    """Runs one Worker in a thread and stops it on SIGTERM or SIGINT."""

    def __init__(self) -> None:
        self.worker: Worker | None = None
        self.thread: threading.Thread | None = None
        self.failed = False

    def setup(self) -> None:
        self.worker = Worker()
        logger.info("Worker process setup completed")

    def run(self) -> int:
        logger.info("Starting worker process...")
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

        if self.worker is None:
            logger.error("No worker instance, call setup() first")
            return 1
        logger.info("Worker instance exists, starting thread...")
        self.thread = threading.Thread(target=self._thread_main, name="worker")
        self.thread.start()
        self.thread.join()
        return 1 if self.failed else 0

    def _thread_main(self) -> None:
        assert self.worker is not None
        logger.info("Worker thread wrapper starting...")
        logger.info("Worker thread started")
        try:
            logger.info("About to call worker.start()")
            self.worker.start()
        except zmq.ContextTerminated:
            logger.info(f"Worker {self.worker.worker_id} stopped")
        except Exception:
            self.failed = True
            logger.exception("Worker thread failed")
        finally:
            self.worker.close()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info(f"Received {signal.Signals(signum).name}, stopping worker")
        if self.worker is not None:
            # Stopping blocks until the worker thread closes its socket, so it
            # runs in its own thread rather than inside this signal handler.
            threading.Thread(target=self.worker.stop, name="worker-stop", daemon=True).start()


def main() -> int:
    configure_logging()
    process = WorkerProcess()
    process.setup()
    return process.run()


if __name__ == "__main__":
    sys.exit(main())
