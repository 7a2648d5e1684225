"""Evidence built from recorded Engine payloads and raw log bytes."""

import json
from pathlib import Path

from stackmedic.evidence.collect import container_from_inspect
from stackmedic.evidence.logs import MAX_LINE_CHARS, parse_log_bytes

FIXTURES = Path(__file__).parent / "fixtures" / "engine"


def load_inspect(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_inspect_payload_gives_state_health_and_labels():
    container = container_from_inspect(load_inspect("inspect-unhealthy-worker.json"))

    assert container.service == "worker"
    assert container.replica == 2
    assert container.state == "running"
    assert container.health == "unhealthy"
    assert container.health_log, "the engine keeps the last probe results"
    assert all(probe.exit_code == 1 for probe in container.health_log)
    assert "URLError" in container.health_log[-1].output
    assert container.healthcheck is not None
    assert container.healthcheck["Test"][0] == "CMD-SHELL"
    assert container.env["APP_MODE"] == "demo"
    assert container.oom_killed is False
    assert container.finished_at is None, "a never-finished container has no finish time"


def test_inspect_payload_of_oom_killed_container():
    payload = load_inspect("inspect-unhealthy-worker.json")
    payload["State"].update(Status="exited", ExitCode=137, OOMKilled=True, Health=None,
                            FinishedAt="2026-12-04T20:00:00.5Z")
    payload["RestartCount"] = 4

    container = container_from_inspect(payload)

    assert container.state == "exited"
    assert container.exit_code == 137
    assert container.oom_killed is True
    assert container.restart_count == 4
    assert container.health is None
    assert container.finished_at == "2026-12-04T20:00:00.5Z"


def test_log_lines_keep_engine_timestamps_and_numbers():
    raw = (b"2026-12-04T20:31:02.118000000Z 2026-12-04 20:31:02,118 - INFO - Worker thread started\n"
           b"2026-12-04T20:31:02.120000000Z 2026-12-04 20:31:02,120 - INFO - About to call worker.start()\n")

    lines = parse_log_bytes(raw)

    assert [line.number for line in lines] == [1, 2]
    assert lines[1].timestamp == "2026-12-04T20:31:02.120000000Z"
    assert lines[1].text.endswith("About to call worker.start()")


def test_binary_log_output_is_made_safe():
    raw = b"2026-12-04T20:31:02Z \x00\x01\xff\xfebinary\x1b[31mred\r\n"

    lines = parse_log_bytes(raw)

    assert len(lines) == 1
    assert "\x00" not in lines[0].text
    assert "\x1b" not in lines[0].text
    assert "\ufffd" in lines[0].text, "undecodable bytes become the replacement character"
    assert lines[0].text.endswith("red")


def test_huge_log_line_is_cut_with_marker():
    raw = b"x" * (MAX_LINE_CHARS * 3) + b"\nnext\n"

    lines = parse_log_bytes(raw)

    assert len(lines) == 2
    assert len(lines[0].text) < MAX_LINE_CHARS + 40
    assert "[cut" in lines[0].text
    assert lines[1].text == "next"
    assert lines[0].timestamp is None
