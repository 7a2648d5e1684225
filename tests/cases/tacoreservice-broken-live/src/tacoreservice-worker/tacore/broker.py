"""ZeroMQ load-balancing broker between clients and workers.

Clients talk to the frontend ROUTER, workers to the backend ROUTER.

Frames as the broker's ROUTER sockets see them:

    client -> frontend:  [client_id, b"", request_json]
    frontend -> client:  [client_id, b"", reply_json]
    worker -> backend:   [worker_identity, b"", b"READY", worker_id]
                         [worker_identity, b"", b"HEARTBEAT", worker_id]
                         [worker_identity, b"", b"REPLY", client_id, reply_json]
    backend -> worker:   [worker_identity, b"", b"ACK"]
                         [worker_identity, b"", b"HEARTBEAT_ACK"]
                         [worker_identity, b"", b"REQUEST", client_id, request_json]

A request is a JSON object {"method": str, "params": object, "id": any}.
Each request goes to the ready worker that has waited longest; requests wait
in a queue while no worker is ready.
"""

import json
import logging
import os
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

import zmq

from tacore.database import DatabaseManager

logger = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 500
# A worker that sent nothing for this long gets no new requests.
WORKER_EXPIRY_S = 10.0
# A queued request older than this gets an error reply, because by then the
# client has given up (its default timeout is 10 s).
QUEUED_REQUEST_EXPIRY_S = 30.0


@dataclass
class QueuedRequest:
    client_id: bytes
    payload: bytes
    request_id: Any
    queued_at: float


class Broker:
    """Routes client requests to workers and tracks the workers in the database."""

    def __init__(self, db: DatabaseManager) -> None:
        self.db = db
        self.frontend_port = int(os.getenv("TACORESERVICE_FRONTEND_PORT", "5555"))
        self.backend_port = int(os.getenv("TACORESERVICE_BACKEND_PORT", "5556"))

        self.context = zmq.Context()
        self.frontend: zmq.Socket | None = None
        self.backend: zmq.Socket | None = None

        # worker identity -> worker id, for every worker heard from
        self.known_workers: dict[bytes, str] = {}
        # worker identity -> monotonic time of its last message
        self.last_seen: dict[bytes, float] = {}
        # ready workers, oldest first
        self.ready_workers: OrderedDict[bytes, None] = OrderedDict()
        self.queue: deque[QueuedRequest] = deque()

        self._counter_lock = threading.Lock()
        self.requests_total = 0
        self.requests_failed = 0

        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def bind(self) -> None:
        frontend = self.context.socket(zmq.ROUTER)
        frontend.setsockopt(zmq.LINGER, 0)
        frontend.bind(f"tcp://*:{self.frontend_port}")
        logger.info(f"ZMQ frontend bound to tcp://*:{self.frontend_port} (clients)")

        backend = self.context.socket(zmq.ROUTER)
        backend.setsockopt(zmq.LINGER, 0)
        backend.bind(f"tcp://*:{self.backend_port}")
        logger.info(f"ZMQ backend bound to tcp://*:{self.backend_port} (workers)")

        self.frontend = frontend
        self.backend = backend

    def start(self) -> None:
        """Run the routing loop in a thread; the sockets must be bound first."""
        self._thread = threading.Thread(target=self._run, name="broker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for sock in (self.frontend, self.backend):
            if sock is not None:
                sock.close(linger=0)
        self.context.term()

    def counters(self) -> dict[str, int]:
        with self._counter_lock:
            return {
                "requests_total": self.requests_total,
                "requests_failed": self.requests_failed,
            }

    def routing_state(self) -> dict[str, int]:
        """Sizes of the in-memory routing tables; read without a lock, so approximate."""
        return {"ready_workers": len(self.ready_workers), "queued_requests": len(self.queue)}

    def _run(self) -> None:
        assert self.frontend is not None and self.backend is not None
        poller = zmq.Poller()
        poller.register(self.frontend, zmq.POLLIN)
        poller.register(self.backend, zmq.POLLIN)

        while not self._stop.is_set():
            try:
                events = dict(poller.poll(POLL_TIMEOUT_MS))
                if self.backend in events:
                    self._handle_backend(self.backend.recv_multipart())
                if self.frontend in events:
                    self._handle_frontend(self.frontend.recv_multipart())
                self._expire_queued_requests()
                self._dispatch()
            except zmq.ContextTerminated:
                break
            except Exception:
                logger.exception("Error in broker loop")

    # Workers

    def _handle_backend(self, frames: list[bytes]) -> None:
        if len(frames) < 3 or frames[1] != b"":
            logger.warning(f"Dropping malformed worker message with {len(frames)} frames")
            return
        identity, command, args = frames[0], frames[2], frames[3:]
        self.last_seen[identity] = time.monotonic()

        if command == b"READY" and len(args) == 1:
            self._register(identity, args[0].decode("utf-8", "replace"))
            self._send_backend(identity, b"ACK")
        elif command == b"HEARTBEAT" and len(args) == 1:
            worker_id = args[0].decode("utf-8", "replace")
            if identity not in self.known_workers:
                # The broker restarted while this worker kept running.
                self._register(identity, worker_id)
            elif not self.db.touch_worker(worker_id):
                self.db.upsert_worker(worker_id, "alive")
            self._send_backend(identity, b"HEARTBEAT_ACK")
        elif command == b"REPLY" and len(args) == 2:
            self._forward_reply(identity, client_id=args[0], payload=args[1])
        else:
            logger.warning(
                f"Dropping unknown worker command {command!r} with {len(args)} arguments"
            )

    def _register(self, identity: bytes, worker_id: str) -> None:
        self.known_workers[identity] = worker_id
        self.db.upsert_worker(worker_id, "alive")
        self._mark_ready(identity)
        logger.info(f"Worker {worker_id} registered ({len(self.known_workers)} known)")

    def _mark_ready(self, identity: bytes) -> None:
        self.ready_workers.pop(identity, None)
        self.ready_workers[identity] = None

    def _forward_reply(self, identity: bytes, client_id: bytes, payload: bytes) -> None:
        worker_id = self.known_workers.get(identity, identity.decode("utf-8", "replace"))
        try:
            reply = json.loads(payload)
            failed = not isinstance(reply, dict) or reply.get("status") != "ok"
        except ValueError:
            failed = True
        if failed:
            with self._counter_lock:
                self.requests_failed += 1

        self.db.increment_requests_served(worker_id)
        assert self.frontend is not None
        self.frontend.send_multipart([client_id, b"", payload])
        self._mark_ready(identity)

    def _send_backend(self, identity: bytes, command: bytes, *args: bytes) -> None:
        assert self.backend is not None
        self.backend.send_multipart([identity, b"", command, *args])

    # Clients

    def _handle_frontend(self, frames: list[bytes]) -> None:
        request = parse_request(frames)
        if request is None:
            # NOTE: malformed messages are dropped without a reply, so a peer
            # that speaks the worker protocol to this port waits forever.
            logger.debug(f"Dropping malformed client message with {len(frames)} frames")
            return

        client_id, payload, request_id = request
        with self._counter_lock:
            self.requests_total += 1
        self.queue.append(QueuedRequest(client_id, payload, request_id, time.monotonic()))

    def _dispatch(self) -> None:
        while self.queue:
            identity = self._next_ready_worker()
            if identity is None:
                return
            request = self.queue.popleft()
            self._send_backend(identity, b"REQUEST", request.client_id, request.payload)

    def _next_ready_worker(self) -> bytes | None:
        """Pop the longest-waiting ready worker that is still sending heartbeats."""
        now = time.monotonic()
        while self.ready_workers:
            identity, _ = self.ready_workers.popitem(last=False)
            if now - self.last_seen.get(identity, 0.0) <= WORKER_EXPIRY_S:
                return identity
            logger.warning(
                f"Worker {self.known_workers.get(identity, identity)!r} sent no heartbeat "
                f"for {WORKER_EXPIRY_S:g} s, removed from the ready list"
            )
        return None

    def _expire_queued_requests(self) -> None:
        now = time.monotonic()
        while self.queue and now - self.queue[0].queued_at > QUEUED_REQUEST_EXPIRY_S:
            request = self.queue.popleft()
            with self._counter_lock:
                self.requests_failed += 1
            logger.warning(
                f"Request {request.request_id!r} waited {QUEUED_REQUEST_EXPIRY_S:g} s "
                "for a worker and was dropped"
            )
            reply = {
                "id": request.request_id,
                "status": "error",
                "error": f"no worker available within {QUEUED_REQUEST_EXPIRY_S:g} s",
            }
            assert self.frontend is not None
            self.frontend.send_multipart([request.client_id, b"", json.dumps(reply).encode()])


def parse_request(frames: list[bytes]) -> tuple[bytes, bytes, Any] | None:
    """Return (client_id, payload, request id) of a valid client request, else None."""
    if len(frames) != 3 or frames[1] != b"":
        return None
    try:
        request = json.loads(frames[2])
    except ValueError:
        return None
    if not isinstance(request, dict):
        return None
    if not isinstance(request.get("method"), str) or not isinstance(
        request.get("params", {}), dict
    ):
        return None
    return frames[0], frames[2], request.get("id")
