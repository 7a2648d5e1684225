"""Functional checks from the plan: HTTP/JSON, TCP, exec, log windows, containers.

A host name in a check that names a compose service is resolved to the
address of one of that service's running containers on the project's own
network, so checks need no published ports. Each outcome is written in
English and kept in catalogue form (messages/<lang>/verify.json) in
`CheckResult.detail_message`, so reports show it in their language.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from stackmedic.engine import DockerEngine
from stackmedic.engine.docker_api import SERVICE_LABEL, iterate_stream
from stackmedic.errors import EngineError, StackmedicError
from stackmedic.evidence.logs import parse_log_bytes
from stackmedic.i18n import Message, message
from stackmedic.model import (
    CheckResult,
    CheckSpec,
    MessageText,
    english_text,
    join_messages,
    message_of,
)

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
MAX_BODY_BYTES = 1024 * 1024


class CheckRunner:
    """Runs plan checks against one deployed compose project.

    `since` is the Unix time of the deploy: log checks read the log from
    then, so errors written before the check started still count.
    """

    def __init__(self, engine: DockerEngine, project: str, since: float) -> None:
        self.engine = engine
        self.project = project
        self.since = since

    def run_all(self, specs: list[CheckSpec]) -> list[CheckResult]:
        return [self.run(spec) for spec in specs]

    def run(self, spec: CheckSpec) -> CheckResult:
        started = time.monotonic()
        handler = getattr(self, f"_check_{spec.type}")
        try:
            passed, detail, observed = handler(spec.params)
        except StackmedicError as error:
            detail = english_text("verify.check.could_not_run", error=error.translatable)
            passed, observed = False, {}
        result = CheckResult(
            name=spec.name,
            type=spec.type,
            passed=passed,
            detail=str(detail),
            duration_s=round(time.monotonic() - started, 3),
            observed=observed,
            detail_message=message_of(detail),
        )
        logger.info("check %s: %s (%s)", spec.name, "passed" if passed else "failed", detail)
        return result

    # -- lookups ---------------------------------------------------------

    def _service_containers(self, service: str, *, running_only: bool = True) -> list[dict[str, Any]]:
        found = []
        for entry in self.engine.project_containers(self.project):
            labels = entry.get("Labels") or {}
            if labels.get(SERVICE_LABEL) != service:
                continue
            if running_only and entry.get("State") != "running":
                continue
            found.append(entry)
        return sorted(found, key=lambda item: (item.get("Names") or [""])[0])

    def _resolve_host(self, host: str) -> str:
        containers = self._service_containers(host)
        if not containers:
            return host
        networks = ((containers[0].get("NetworkSettings") or {}).get("Networks")) or {}
        for network in networks.values():
            address = network.get("IPAddress")
            if address:
                return str(address)
        return host

    # -- check types -----------------------------------------------------

    def _check_http(self, params: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        url = str(params["url"])
        parsed = urllib.parse.urlsplit(url)
        host = parsed.hostname or ""
        address = self._resolve_host(host)
        netloc = address + (f":{parsed.port}" if parsed.port else "")
        target = urllib.parse.urlunsplit(parsed._replace(netloc=netloc))
        method = str(params.get("method", "GET")).upper()
        timeout = float(params.get("timeout", DEFAULT_TIMEOUT))
        request = urllib.request.Request(target, method=method, headers={"Accept": "application/json"})
        observed: dict[str, Any] = {"url": url, "resolved": target}
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status = response.status
                body = response.read(MAX_BODY_BYTES)
        except urllib.error.HTTPError as error:
            status = error.code
            body = error.read(MAX_BODY_BYTES)
        except (urllib.error.URLError, OSError) as error:
            reason = str(getattr(error, "reason", error))
            detail = english_text("verify.check.http.no_response", method=method, url=url, reason=reason)
            return False, detail, observed
        text = body.decode("utf-8", errors="replace")
        observed.update(status=status, body=text[:2000])
        answered = {"method": method, "url": url, "status": status}

        expected_status = int(params.get("expect_status", 200))
        if status != expected_status:
            detail = english_text("verify.check.http.unexpected_status", **answered,
                                  expected=expected_status, body=text[:200])
            return False, detail, observed
        expectations = params.get("expect_json") or []
        if expectations:
            try:
                document = json.loads(text)
            except json.JSONDecodeError:
                return False, english_text("verify.check.http.not_json", **answered), observed
            for expectation in expectations:
                ok, unmet = evaluate_json_expectation(document, expectation)
                if not ok:
                    unmet_detail = message_of(unmet) or unmet
                    detail = english_text("verify.check.http.expectation_failed", **answered,
                                          detail=unmet_detail)
                    return False, detail, observed
        return True, english_text("verify.check.http.passed", **answered), observed

    def _check_tcp(self, params: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        host, port = str(params["host"]), int(params["port"])
        address = self._resolve_host(host)
        timeout = float(params.get("timeout", DEFAULT_TIMEOUT))
        try:
            with socket.create_connection((address, port), timeout=timeout):
                pass
        except OSError as error:
            detail = english_text("verify.check.tcp.failed", host=host, port=port, error=str(error))
            return False, detail, {"resolved": address}
        detail = english_text("verify.check.tcp.passed", host=host, port=port)
        return True, detail, {"resolved": address}

    def _check_exec(self, params: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        service = str(params["service"])
        command = [str(part) for part in params["command"]]
        containers = self._service_containers(service)
        if not containers:
            return False, english_text("verify.check.exec.no_container", service=service), {}
        container = containers[0]
        name = (container.get("Names") or [""])[0].lstrip("/")
        result = self.engine.exec(container["Id"], command, timeout=float(params.get("timeout", 30)))
        observed = {"container": name, "exit_code": result.exit_code, "output": result.output[-2000:]}
        ran = {"command": " ".join(command), "container": name}
        if result.timed_out:
            return False, english_text("verify.check.exec.timed_out", **ran), observed
        expected_exit = int(params.get("expect_exit", 0))
        excerpt = output_excerpt(result.output)
        exited = english_text("verify.check.exec.exited", **ran, exit_code=result.exit_code,
                              output=message_of(excerpt) or excerpt)
        if result.exit_code != expected_exit:
            return False, exited, observed
        expected_output = params.get("expect_output")
        if expected_output and str(expected_output) not in result.output:
            detail = english_text("verify.check.exec.output_missing", **ran,
                                  expected=repr(expected_output))
            return False, detail, observed
        return True, exited, observed

    def _check_log_absent(self, params: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        return self._watch_logs(params, want_match=False)

    def _check_log_present(self, params: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        return self._watch_logs(params, want_match=True)

    def _check_containers(self, params: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        services = params.get("services")
        problems: list[Message] = []
        seen = 0
        for entry in self.engine.project_containers(self.project):
            labels = entry.get("Labels") or {}
            if services and labels.get(SERVICE_LABEL) not in services:
                continue
            seen += 1
            attrs = self.engine.inspect_container(entry["Id"])
            state = attrs.get("State") or {}
            health = (state.get("Health") or {}).get("Status")
            name = str(attrs.get("Name", "")).lstrip("/")
            if state.get("Status") != "running":
                problems.append(message("verify.check.containers.not_running", container=name,
                                        state=str(state.get("Status")),
                                        exit_code=str(state.get("ExitCode"))))
            elif health and health != "healthy":
                problems.append(message("verify.check.containers.unhealthy", container=name,
                                        health=health))
        if seen == 0:
            return False, english_text("verify.check.containers.none"), {}
        if problems:
            joined = join_messages(problems, "verify.join")
            return False, MessageText(joined.text, joined), {"containers": seen}
        detail = english_text("verify.check.containers.passed", count=seen)
        return True, detail, {"containers": seen}

    def _watch_logs(self, params: dict[str, Any], *, want_match: bool) -> tuple[bool, str, dict[str, Any]]:
        """Follow a service's logs until the pattern shows or the window closes.

        Lines from the deploy on count. `log_absent` fails at the first
        matching line; `log_present` passes at the first one.
        """
        service = str(params["service"])
        pattern = re.compile(str(params["pattern"]))
        window = float(params.get("window", 30))
        containers = self._service_containers(service, running_only=False)
        if not containers:
            return False, english_text("verify.check.log.no_container", service=service), {}

        lines: queue.Queue[tuple[str, str]] = queue.Queue()
        streams = []
        for container in containers:
            name = (container.get("Names") or [""])[0].lstrip("/")
            try:
                stream = self.engine.stream_logs(container["Id"], since=self.since)
            except EngineError as error:
                logger.warning("cannot follow logs of %s: %s", name, error)
                continue
            streams.append(stream)
            threading.Thread(target=_pump, args=(stream, name, lines), daemon=True).start()

        deadline = time.monotonic() + window
        matched: tuple[str, str] | None = None
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                try:
                    name, text = lines.get(timeout=remaining)
                except queue.Empty:
                    break
                if pattern.search(text):
                    matched = (name, text)
                    break
        finally:
            for stream in streams:
                stream.close()

        observed = {"window_s": window, "service": service, "pattern": pattern.pattern}
        searched = {"service": service, "pattern": repr(pattern.pattern), "window": f"{window:.0f}"}
        if matched:
            observed["line"] = f"{matched[0]}: {matched[1]}"
            logged = english_text("verify.check.log.matched", container=matched[0], line=matched[1])
            return want_match, logged, observed
        if want_match:
            return False, english_text("verify.check.log.not_seen", **searched), observed
        return True, english_text("verify.check.log.absent", **searched), observed


def _pump(stream: Any, name: str, lines: queue.Queue[tuple[str, str]]) -> None:
    buffer = b""
    for chunk in iterate_stream(stream):
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for raw in complete:
            for line in parse_log_bytes(raw):
                lines.put((name, line.text))


def evaluate_json_expectation(document: Any, expectation: dict[str, Any]) -> tuple[bool, str]:
    """Check one `expect_json` entry: path, optional where filter, min_count or equals.

    The returned text is a `MessageText` in English.
    """
    path = str(expectation.get("path", ""))
    value: Any = document
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, english_text("verify.json.path_missing", path=repr(path))
    where = expectation.get("where") or {}
    if where:
        if not isinstance(value, list):
            return False, english_text("verify.json.not_list", path=repr(path))
        value = [
            item for item in value
            if isinstance(item, dict) and all(item.get(k) == v for k, v in where.items())
        ]
    if "min_count" in expectation:
        count = len(value) if isinstance(value, (list, dict)) else 0
        if count < int(expectation["min_count"]):
            counted = {"path": path, "count": count, "minimum": str(expectation["min_count"])}
            if where:
                return False, english_text("verify.json.too_few_where", **counted, where=str(where))
            return False, english_text("verify.json.too_few", **counted)
    if "equals" in expectation and value != expectation["equals"]:
        return False, english_text("verify.json.not_equal", path=path, value=repr(value),
                                   expected=repr(expectation["equals"]))
    return True, english_text("verify.json.ok")


OUTPUT_SHOWN_CHARS = 200
"""Maximum length of a command's output in a check detail, cut marker included."""

OUTPUT_CUT = " … "


def output_excerpt(text: str) -> str:
    """Fold a command's output to one line of at most `OUTPUT_SHOWN_CHARS` characters.

    A longer output keeps its head and its tail with `OUTPUT_CUT` between
    them, so the detail starts where the output starts and still shows how
    it ended.
    """
    folded = " ".join(text.split())
    if not folded:
        return english_text("verify.output.none")
    if len(folded) <= OUTPUT_SHOWN_CHARS:
        return folded
    room = OUTPUT_SHOWN_CHARS - len(OUTPUT_CUT)
    head = room * 2 // 3
    tail = room - head
    return folded[:head].rstrip() + OUTPUT_CUT + folded[-tail:].lstrip()
