"""Functional checks from the plan: HTTP/JSON, TCP, exec, log windows, containers.

A host name in a check that names a compose service is resolved to the
address of one of that service's running containers on the project's own
network, so checks need no published ports.
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
from stackmedic.model import CheckResult, CheckSpec

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
            passed, detail, observed = False, f"could not run: {error}", {}
        result = CheckResult(
            name=spec.name,
            type=spec.type,
            passed=passed,
            detail=detail,
            duration_s=round(time.monotonic() - started, 3),
            observed=observed,
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
            reason = getattr(error, "reason", error)
            return False, f"{method} {url}: no response ({reason})", observed
        text = body.decode("utf-8", errors="replace")
        observed.update(status=status, body=text[:2000])

        expected_status = int(params.get("expect_status", 200))
        if status != expected_status:
            return False, f"{method} {url} answered {status}, expected {expected_status}: {text[:200]}", observed
        expectations = params.get("expect_json") or []
        if expectations:
            try:
                document = json.loads(text)
            except json.JSONDecodeError:
                return False, f"{method} {url} answered {status} but the body is not JSON", observed
            for expectation in expectations:
                ok, detail = evaluate_json_expectation(document, expectation)
                if not ok:
                    return False, f"{method} {url} answered {status}; {detail}", observed
        return True, f"{method} {url} answered {status}", observed

    def _check_tcp(self, params: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        host, port = str(params["host"]), int(params["port"])
        address = self._resolve_host(host)
        timeout = float(params.get("timeout", DEFAULT_TIMEOUT))
        try:
            with socket.create_connection((address, port), timeout=timeout):
                pass
        except OSError as error:
            return False, f"tcp {host}:{port}: {error}", {"resolved": address}
        return True, f"tcp {host}:{port} accepted a connection", {"resolved": address}

    def _check_exec(self, params: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        service = str(params["service"])
        command = [str(part) for part in params["command"]]
        containers = self._service_containers(service)
        if not containers:
            return False, f"no running container of service {service}", {}
        container = containers[0]
        name = (container.get("Names") or [""])[0].lstrip("/")
        result = self.engine.exec(container["Id"], command, timeout=float(params.get("timeout", 30)))
        observed = {"container": name, "exit_code": result.exit_code, "output": result.output[-2000:]}
        shown = " ".join(command)
        if result.timed_out:
            return False, f"`{shown}` in {name} timed out", observed
        expected_exit = int(params.get("expect_exit", 0))
        last_line = _last_line(result.output)
        if result.exit_code != expected_exit:
            return False, f"`{shown}` in {name} exited {result.exit_code}: {last_line}", observed
        expected_output = params.get("expect_output")
        if expected_output and str(expected_output) not in result.output:
            return False, f"`{shown}` in {name}: output lacks {expected_output!r}", observed
        return True, f"`{shown}` in {name} exited {result.exit_code}: {last_line}", observed

    def _check_log_absent(self, params: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        return self._watch_logs(params, want_match=False)

    def _check_log_present(self, params: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        return self._watch_logs(params, want_match=True)

    def _check_containers(self, params: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        services = params.get("services")
        problems = []
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
                problems.append(f"{name} is {state.get('Status')} (exit {state.get('ExitCode')})")
            elif health and health != "healthy":
                problems.append(f"{name} is {health}")
        if seen == 0:
            return False, "no containers found", {}
        if problems:
            return False, "; ".join(problems), {"containers": seen}
        return True, f"all {seen} containers running and healthy where checked", {"containers": seen}

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
            return False, f"no container of service {service}", {}

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
        if matched:
            observed["line"] = f"{matched[0]}: {matched[1]}"
        if want_match:
            if matched:
                return True, f"{matched[0]} logged: {matched[1]}", observed
            return False, f"no line of {service} matched {pattern.pattern!r} within {window:.0f} s", observed
        if matched:
            return False, f"{matched[0]} logged: {matched[1]}", observed
        return True, f"no line of {service} matched {pattern.pattern!r} over {window:.0f} s", observed


def _pump(stream: Any, name: str, lines: queue.Queue[tuple[str, str]]) -> None:
    buffer = b""
    for chunk in iterate_stream(stream):
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for raw in complete:
            for line in parse_log_bytes(raw):
                lines.put((name, line.text))


def evaluate_json_expectation(document: Any, expectation: dict[str, Any]) -> tuple[bool, str]:
    """Check one `expect_json` entry: path, optional where filter, min_count or equals."""
    path = str(expectation.get("path", ""))
    value: Any = document
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, f"JSON path {path!r} not found"
    where = expectation.get("where") or {}
    if where:
        if not isinstance(value, list):
            return False, f"JSON path {path!r} is not a list"
        value = [
            item for item in value
            if isinstance(item, dict) and all(item.get(k) == v for k, v in where.items())
        ]
    if "min_count" in expectation:
        count = len(value) if isinstance(value, (list, dict)) else 0
        if count < int(expectation["min_count"]):
            condition = f" with {where}" if where else ""
            return False, f"{path}{condition}: {count} item(s), expected at least {expectation['min_count']}"
    if "equals" in expectation and value != expectation["equals"]:
        return False, f"{path} is {value!r}, expected {expectation['equals']!r}"
    return True, "ok"


def _last_line(text: str) -> str:
    """Return a command's output folded to one line of at most 200 characters."""
    folded = " ".join(text.split())
    if not folded:
        return "(no output)"
    return folded if len(folded) <= 200 else folded[-200:]
