"""STARTUP_HANG patch rule: a bounded, logged poll before a ZeroMQ receive, or no patch."""

from __future__ import annotations

from stackmedic.analysis.patch_timeout import total_wait_seconds
from stackmedic.analysis.patches import propose_patches
from stackmedic.analysis.source import extract_facts
from stackmedic.evidence.facts import SourceFacts
from stackmedic.evidence.model import Evidence, SourceFile
from stackmedic.model import Category, Finding, Fixability, SourceLocation
from stackmedic.repair.code_patch import apply_file_patch, parse_patch

SERVICE = "worker"

WORKER = """\
import logging
import os

import zmq

logger = logging.getLogger(__name__)


class Worker:
    def __init__(self) -> None:
        self.context = zmq.Context()
        self.port = int(os.getenv("BACKEND_PORT", "5555"))

    def start(self) -> None:
        endpoint = f"tcp://broker:{self.port}"
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.connect(endpoint)
        self.socket.send_multipart([b"", b"READY"])
        reply = self.socket.recv_multipart()
        if reply != [b"", b"ACK"]:
            raise RuntimeError(f"unexpected reply {reply!r}")
"""
RECV_LINE = 19


def build(files: dict[str, str]) -> tuple[Evidence, SourceFacts]:
    sources = [SourceFile(SERVICE, path, text) for path, text in files.items()]
    built = Evidence(
        project_name="project",
        project_dir="/srv/project",
        compose_files=["/srv/project/docker-compose.yml"],
        compose_config={"services": {SERVICE: {}}},
        sources=sources,
    )
    return built, extract_facts(built)


def hang(line: int = RECV_LINE, endpoint: str = "tcp://broker:5555") -> Finding:
    return Finding(
        id="F003",
        code="STARTUP_HANG",
        service=SERVICE,
        summary="A container stopped making progress during startup without an error",
        confidence=0.9,
        category=Category.STARTUP,
        fixable_by=Fixability.HUMAN,
        location=SourceLocation("worker.py", line, "Worker.start"),
        facts={"blocking_call": "self.socket.recv_multipart()", "endpoint": endpoint},
        recommendation="Give the call a timeout.",
    )


def propose(text: str, line: int = RECV_LINE) -> Finding:
    built, facts = build({"worker.py": text})
    finding = hang(line)
    propose_patches([finding], built, facts)
    return finding


def patched_text(text: str, finding: Finding) -> str:
    (file_patch,) = parse_patch(finding.repairs[0].patch or "")
    return apply_file_patch(text, file_patch)


def test_poll_loop_inserted_before_receive() -> None:
    finding = propose(WORKER)

    assert len(finding.repairs) == 1
    patch = finding.repairs[0].patch or ""
    assert "+        poller = zmq.Poller()" in patch
    assert "+        poller.register(self.socket, zmq.POLLIN)" in patch
    assert "+        for attempt in range(1, 6):" in patch
    assert "+            if poller.poll(wait_ms):" in patch
    assert (
        '+            raise TimeoutError(f"no reply from {endpoint} after 5 attempts (23 s)")'
        in patch
    )
    assert " reply = self.socket.recv_multipart()" in patch


def test_warning_names_runtime_endpoint() -> None:
    finding = propose(WORKER)
    text = patched_text(WORKER, finding)

    assert '"No reply from %s after %.0f s (attempt %d of %d)"' in text
    assert "endpoint, wait_ms / 1000, attempt, 5" in text
    assert "(the value of endpoint at run time)" in finding.repairs[0].rationale


def test_patched_receive_is_no_longer_a_blocking_call() -> None:
    before, _ = build({"worker.py": WORKER})
    assert [c.line for c in extract_facts(before).blocking_calls] == [RECV_LINE]
    finding = propose(WORKER)

    after, _ = build({"worker.py": patched_text(WORKER, finding)})

    assert extract_facts(after).blocking_calls == []


def test_total_wait_is_bounded() -> None:
    finding = propose(WORKER)

    assert total_wait_seconds() == 23.0
    assert finding.facts["patch_wait_seconds"] == 23.0
    assert finding.repairs[0].rationale.startswith("Confidence 0.80.")


def test_receive_with_rcvtimeo_is_not_patched() -> None:
    worker = WORKER.replace(
        "        self.socket.connect(endpoint)\n",
        "        self.socket.setsockopt(zmq.RCVTIMEO, 5000)\n        self.socket.connect(endpoint)\n",
    )

    finding = propose(worker, RECV_LINE + 1)

    assert finding.repairs == []
    assert "already bounded (RCVTIMEO at line 17)" in finding.facts["patch_declined"]
    assert "look for the wait after it" in finding.recommendation


def test_receive_in_polling_function_is_not_patched() -> None:
    worker = WORKER.replace(
        "        reply = self.socket.recv_multipart()\n",
        "        if not self.socket.poll(5000):\n            raise TimeoutError()\n"
        "        reply = self.socket.recv_multipart()\n",
    )

    finding = propose(worker, RECV_LINE + 2)

    assert finding.repairs == []
    assert "poll() at line 19" in finding.facts["patch_declined"]


def test_nonblocking_receive_is_not_patched() -> None:
    worker = WORKER.replace("recv_multipart()", "recv_multipart(zmq.NOBLOCK)")

    finding = propose(worker)

    assert finding.repairs == []
    assert "flag NOBLOCK" in finding.facts["patch_declined"]


def test_other_blocking_call_is_not_patched() -> None:
    worker = WORKER.replace(
        "reply = self.socket.recv_multipart()", "reply = requests.get(endpoint)"
    )

    finding = propose(worker)

    assert finding.repairs == []
    assert "no single ZeroMQ receive" in finding.facts["patch_declined"]


def test_receive_in_loop_header_is_not_patched() -> None:
    worker = WORKER.replace(
        "        reply = self.socket.recv_multipart()\n",
        "        while self.socket.recv_multipart() != [b'', b'ACK']:\n            pass\n        reply = []\n",
    )

    finding = propose(worker)

    assert finding.repairs == []
    assert "no code can go before it" in finding.facts["patch_declined"]


def test_taken_names_get_a_suffix() -> None:
    worker = WORKER.replace(
        '        endpoint = f"tcp://broker:{self.port}"\n',
        '        endpoint = f"tcp://broker:{self.port}"\n        poller = None\n',
    )

    finding = propose(worker, RECV_LINE + 1)

    assert "+        poller_2 = zmq.Poller()" in (finding.repairs[0].patch or "")


def test_endpoint_expression_unknown_falls_back_to_resolved_text() -> None:
    worker = WORKER.replace(
        "self.socket.connect(endpoint)", 'self.socket.connect(f"tcp://broker:{self.port}")'
    )

    finding = propose(worker)
    text = patched_text(worker, finding)

    assert "'No reply from tcp://broker:5555 after %.0f s (attempt %d of %d)'" in text
    assert "raise TimeoutError('no reply from tcp://broker:5555 after 5 attempts (23 s)')" in text


def test_module_without_logger_uses_logging_module() -> None:
    worker = WORKER.replace("logger = logging.getLogger(__name__)\n", "")

    finding = propose(worker, RECV_LINE - 1)

    assert "+            logging.getLogger(__name__).warning(" in (finding.repairs[0].patch or "")


def test_module_importing_zmq_names_only_is_not_patched() -> None:
    worker = (
        WORKER.replace("import zmq\n", "from zmq import Context, DEALER\n")
        .replace("zmq.Context()", "Context()")
        .replace("zmq.DEALER", "DEALER")
    )

    finding = propose(worker)

    assert finding.repairs == []
    assert "does not `import zmq`" in finding.facts["patch_declined"]
