"""Command-line client: `python -m tacore.client METHOD SYMBOL [--timeout S]`.

Sends one request to the broker's frontend and prints the JSON reply.
Exits 0 when the reply has "status": "ok", 1 on an error reply or a timeout.
"""

import argparse
import json
import os
import sys
import uuid

import zmq


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tacore.client", description=__doc__)
    parser.add_argument("method", help="request method, e.g. scan.market or analyze.symbol")
    parser.add_argument("symbol", help="market symbol, e.g. BTCUSDT")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the reply (default 10)"
    )
    return parser.parse_args(argv)


def request(endpoint: str, payload: dict, timeout_s: float) -> dict | None:
    """Send one request; return the decoded reply, or None when none arrives within timeout_s."""
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(endpoint)
        sock.send_multipart([b"", json.dumps(payload).encode("utf-8")])
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        if not poller.poll(timeout_s * 1000):
            return None
        frames = sock.recv_multipart()
        return json.loads(frames[-1])
    finally:
        sock.close(linger=0)
        context.term()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    host = os.getenv("TACORESERVICE_HOST", "localhost")
    port = os.getenv("TACORESERVICE_FRONTEND_PORT", "5555")
    endpoint = f"tcp://{host}:{port}"
    payload = {"method": args.method, "params": {"symbol": args.symbol}, "id": uuid.uuid4().hex}

    try:
        reply = request(endpoint, payload, args.timeout)
    except (zmq.ZMQError, ValueError) as error:
        sys.stderr.write(f"error: request to {endpoint} failed: {error}\n")
        return 1
    if reply is None:
        sys.stderr.write(
            f"error: timed out after {args.timeout:g} s waiting for a reply from {endpoint}\n"
        )
        return 1

    sys.stdout.write(json.dumps(reply, indent=2) + "\n")
    if not isinstance(reply, dict) or reply.get("status") != "ok":
        message = reply.get("error") if isinstance(reply, dict) else reply
        sys.stderr.write(f"error: the service replied with an error: {message}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
