"""Patterns of wrong or missing settings: endpoints, environment variables, binds, ports."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from stackmedic.evidence.facts import EnvRead
from stackmedic.evidence.model import ContainerEvidence, Evidence, LogLine
from stackmedic.i18n import Message
from stackmedic.model import Category, ComposeEdit, EvidenceRef, Finding, Fixability, SourceLocation
from stackmedic.patterns import connections
from stackmedic.patterns.base import COMPOSE, LOG, SOURCE, STATE, AnalysisContext
from stackmedic.patterns.common import (
    NO_TEXT,
    advice,
    candidate_lines,
    compose_environment,
    compose_ref,
    compose_value,
    containers_by_service,
    location_in,
    log_ref,
    new_finding,
    no_summary_part,
    propose,
    sentences,
    source_file,
    source_ref,
    summary_part,
    unique,
)
from stackmedic.patterns.endpoints import (
    Bind,
    Connection,
    HostMismatch,
    PortMismatch,
    binds_of,
    code_default,
    connections_of,
    host_mismatch,
    log_binds,
    port_mismatch,
    service_for_host,
    source_binds,
    value_for_variable,
)
from stackmedic.patterns.hang import find_hangs


def _bind_refs(bind: Bind, evidence: Evidence) -> list[EvidenceRef]:
    refs = []
    if bind.log_text is not None and bind.log_container is not None:
        refs.append(
            EvidenceRef("log", bind.log_container, bind.log_text, bind.log_line, bind.log_timestamp)
        )
    if bind.path is not None and bind.line is not None:
        refs.append(
            source_ref(source_file(evidence, bind.service, bind.path), bind.path, bind.line)
        )
    return refs


def _env_read(
    context: AnalysisContext, service: str, variable: str | None, near: str | None = None
) -> EnvRead | None:
    """Return where the service reads `variable`: in file `near` first, then with a default."""
    if variable is None:
        return None
    reads = [r for r in context.facts.env_reads_of(service) if r.variable == variable]
    reads.sort(key=lambda r: (r.path != near, r.default is None, r.path, r.line))
    return reads[0] if reads else None


def _code_default_part(default: str | None) -> dict[str, Any]:
    """Return the ENDPOINT_MISMATCH summary clause naming the code default, when the code has one."""
    if default is None:
        return no_summary_part()
    return summary_part("ENDPOINT_MISMATCH.summary.code_default", default=default)


def _env_values_part(default: str | None, proposed: str | None) -> dict[str, Any]:
    """Return the MISSING_ENV summary clause naming the code default and the proposed value, when known."""
    if default is not None and proposed is not None:
        return summary_part(
            "MISSING_ENV.summary.default_proposed", default=default, proposed=proposed
        )
    if default is not None:
        return summary_part("MISSING_ENV.summary.default", default=default)
    if proposed is not None:
        return summary_part("MISSING_ENV.summary.proposed", proposed=proposed)
    return no_summary_part()


def _connection_refs(context: AnalysisContext, connection: Connection) -> list[EvidenceRef]:
    evidence = context.evidence
    endpoint = connection.endpoint
    source = source_file(evidence, connection.service, endpoint.path)
    refs = [source_ref(source, endpoint.path, endpoint.line)]
    for variable in unique(v for v in (endpoint.host_variable, endpoint.port_variable) if v):
        read = _env_read(context, connection.service, variable, endpoint.path)
        if read is not None:
            refs.append(
                source_ref(source_file(evidence, read.service, read.path), read.path, read.line)
            )
    refs.append(compose_ref(evidence, connection.service, "environment"))
    return refs


class EndpointMismatch:
    """A service connects to an address its peer does not serve for it.

    Symptom: the worker connects to tcp://tacoreservice:5555, the code default
    of TACORESERVICE_BACKEND_PORT, while tacoreservice binds that same
    variable on 5556 ("ZMQ backend bound to tcp://*:5556"). Other forms: a
    service connects to localhost for a port that another service serves, or
    to a host name that is no service of the project.

    Remedy: set the endpoint's variable in the service's compose environment
    to the port (or service name) the peer really serves.
    """

    code: ClassVar[str] = "ENDPOINT_MISMATCH"
    summary: ClassVar[str] = "A service connects to an address its peer does not serve"
    category: ClassVar[Category] = Category.CONFIGURATION
    reads: ClassVar[frozenset[str]] = frozenset({SOURCE, COMPOSE, LOG})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        for service in sorted(context.evidence.services):
            for connection in connections_of(context, service):
                ports = port_mismatch(context, connection)
                if ports is not None:
                    findings.append(self._port_finding(context, ports))
                    continue
                hosts = host_mismatch(context, connection)
                if hosts is not None:
                    findings.append(self._host_finding(context, hosts))
        return findings

    def _port_finding(self, context: AnalysisContext, mismatch: PortMismatch) -> Finding:
        connection = mismatch.connection
        service = connection.service
        endpoint = connection.endpoint
        variable = endpoint.port_variable
        expected = str(mismatch.expected.port)
        facts: dict[str, Any] = {
            "service": service,
            "kind": "port",
            "endpoint": connection.url,
            "variable": variable,
            "code_default": code_default(context, service, variable, endpoint.path),
            "current": str(connection.port),
            "expected": expected,
            "peer_service": connection.peer,
            "peer_bind_line": mismatch.expected.description,
            "peer_variable": mismatch.expected.variable,
            "same_variable": mismatch.same_variable,
            "occupied_by": mismatch.occupied_by.description if mismatch.occupied_by else None,
        }
        facts["code_default_part"] = _code_default_part(facts["code_default"])

        refs = _connection_refs(context, connection)
        refs.extend(_bind_refs(mismatch.expected, context.evidence))
        if mismatch.occupied_by is not None:
            refs.extend(_bind_refs(mismatch.occupied_by, context.evidence))

        confidence = 0.85 if mismatch.same_variable else 0.65
        if mismatch.expected.log_text is not None:
            confidence += 0.05
        finding = new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.COMPOSE if variable else Fixability.CODE,
            confidence=confidence,
            facts=facts,
            evidence=refs,
            location=self._location(context, service, variable, connection),
            recommendation=self._port_recommendation(context, mismatch, facts),
        )
        if variable:
            value = value_for_variable(
                context, service, variable, port=mismatch.expected.port, near=endpoint.path
            )
            propose(
                context,
                finding,
                title=f"Set {variable}={value} for {service}",
                rationale=self._port_rationale(mismatch, facts),
                edit=ComposeEdit("set_env", service, {"name": variable, "value": value}),
            )
        return finding

    @staticmethod
    def _port_rationale(mismatch: PortMismatch, facts: dict[str, Any]) -> Message:
        peer = facts["peer_service"]
        same_variable = (
            advice("ENDPOINT_MISMATCH.rationale.same_variable", variable=facts["variable"])
            if mismatch.same_variable
            else NO_TEXT
        )
        is_default = facts["code_default"] is not None and facts["current"] == facts["code_default"]
        occupied = (
            advice(
                "ENDPOINT_MISMATCH.rationale.occupied",
                peer_service=peer,
                socket=mismatch.occupied_by.description,
            )
            if mismatch.occupied_by is not None
            else NO_TEXT
        )
        return advice(
            "ENDPOINT_MISMATCH.rationale.port",
            peer_service=peer,
            expected=facts["expected"],
            peer_bind_line=facts["peer_bind_line"],
            same_variable=same_variable,
            service=facts["service"],
            current=facts["current"],
            code_default=advice("ENDPOINT_MISMATCH.rationale.code_default")
            if is_default
            else NO_TEXT,
            occupied=occupied,
        )

    @staticmethod
    def _port_recommendation(
        context: AnalysisContext, mismatch: PortMismatch, facts: dict[str, Any]
    ) -> Message:
        endpoint = mismatch.connection.endpoint
        service = facts["service"]
        if facts["variable"]:
            read = _env_read(context, service, facts["variable"], endpoint.path)
            default = NO_TEXT
            if read is not None and read.default is not None:
                default = advice(
                    "ENDPOINT_MISMATCH.recommendation.default",
                    default=read.default,
                    path=read.path,
                    line=read.line,
                )
            return advice(
                "ENDPOINT_MISMATCH.recommendation.variable",
                variable=facts["variable"],
                expected=facts["expected"],
                service=service,
                default=default,
                peer_service=facts["peer_service"],
            )
        if endpoint.expression:
            return advice(
                "ENDPOINT_MISMATCH.recommendation.port",
                expression=endpoint.expression,
                path=endpoint.path,
                line=endpoint.line,
                expected=facts["expected"],
            )
        return advice(
            "ENDPOINT_MISMATCH.recommendation.port_in_call",
            path=endpoint.path,
            line=endpoint.line,
            expected=facts["expected"],
        )

    def _host_finding(self, context: AnalysisContext, mismatch: HostMismatch) -> Finding:
        connection = mismatch.connection
        service = connection.service
        variable = connection.endpoint.host_variable
        bind = mismatch.expected_bind
        facts: dict[str, Any] = {
            "service": service,
            "kind": "host_" + mismatch.kind,
            "endpoint": connection.url,
            "variable": variable,
            "code_default": code_default(context, service, variable, connection.endpoint.path),
            "current": connection.host,
            "expected": mismatch.expected,
            "peer_service": mismatch.expected,
            "peer_bind_line": bind.description if bind is not None else None,
        }
        facts["code_default_part"] = _code_default_part(facts["code_default"])
        refs = _connection_refs(context, connection)
        if bind is not None:
            refs.extend(_bind_refs(bind, context.evidence))

        if mismatch.kind == "loopback":
            reason = advice(
                "ENDPOINT_MISMATCH.reason.loopback",
                host=connection.host,
                expected=mismatch.expected,
                port=connection.port,
            )
        else:
            reason = advice(
                "ENDPOINT_MISMATCH.reason.unknown_host",
                host=connection.host,
                services=", ".join(mismatch.candidates),
            )
        facts["reason"] = reason.text
        confidence = 0.8 if mismatch.kind == "loopback" else 0.6
        can_edit = variable is not None and mismatch.expected is not None
        finding = new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.COMPOSE if can_edit else Fixability.HUMAN,
            confidence=confidence,
            facts=facts,
            evidence=refs,
            location=self._location(context, service, variable, connection),
            recommendation=sentences(
                advice(
                    "ENDPOINT_MISMATCH.recommendation.host",
                    service=service,
                    endpoint=connection.url,
                    reason=reason,
                ),
                advice("ENDPOINT_MISMATCH.recommendation.use_host", expected=mismatch.expected)
                if mismatch.expected
                else None,
            ),
        )
        if can_edit:
            assert variable is not None and mismatch.expected is not None
            value = value_for_variable(
                context, service, variable, host=mismatch.expected, near=connection.endpoint.path
            )
            propose(
                context,
                finding,
                title=f"Set {variable}={value} for {service}",
                rationale=advice("ENDPOINT_MISMATCH.rationale.host", reason=reason),
                edit=ComposeEdit("set_env", service, {"name": variable, "value": value}),
            )
        return finding

    @staticmethod
    def _location(
        context: AnalysisContext, service: str, variable: str | None, connection: Connection
    ) -> SourceLocation:
        read = _env_read(context, service, variable, connection.endpoint.path)
        if read is not None:
            return location_in(context.evidence, service, read.path, read.line)
        endpoint = connection.endpoint
        return location_in(context.evidence, service, endpoint.path, endpoint.line)


_KEY_ERROR_ENV = re.compile(r"KeyError: ['\"](?P<name>[A-Z][A-Z0-9_]{2,})['\"]")
_NOT_SET = re.compile(
    r"\b(?P<name>[A-Z][A-Z0-9_]{2,})\b['\"]?(?: environment variable)?"
    r" (?:is not set|is not defined|is required|must be set|is missing|not set|not defined)|"
    # The shell's message for ${NAME:?} and ${NAME?} on an unset variable.
    r"\b(?P<shell>[A-Z][A-Z0-9_]{2,}): parameter (?:null or )?not set"
)
_ENV_NAMED = re.compile(
    r"(?:environment variable|env var)s? ['\"`]?(?P<name>[A-Z][A-Z0-9_]{2,})\b", re.IGNORECASE
)
# An _ENV_NAMED line counts only when it also reports the variable missing.
_MISSING_WORDS = re.compile(
    r"missing|not set|not defined|undefined|required|must be (?:set|provided|defined)|is empty",
    re.IGNORECASE,
)
# Lines shortly before `KeyError: 'X'` that show the lookup went through os.environ.
_ENVIRON_FRAME = re.compile(r"environ|<frozen os>|os\.py")


def env_key_error_names(container: ContainerEvidence) -> dict[str, LogLine]:
    """Return variables whose lookup in os.environ raised KeyError, with the line."""
    found: dict[str, LogLine] = {}
    logs = container.logs
    for index, line in enumerate(logs):
        match = _KEY_ERROR_ENV.search(line.text)
        if match is None:
            continue
        before = logs[max(0, index - 6) : index]
        if any(_ENVIRON_FRAME.search(previous.text) for previous in before):
            found.setdefault(match.group("name"), line)
    return found


def _log_mentions(container: ContainerEvidence, known: set[str]) -> dict[str, LogLine]:
    """Return variables that a log line reports missing, with the first such line.

    A KeyError counts when the traceback shows os.environ or the variable is
    one the code reads; a named variable in an ERROR-like sentence counts too.
    """
    found = dict(env_key_error_names(container))
    for index in candidate_lines(container, _KEY_ERROR_ENV, _NOT_SET, _ENV_NAMED):
        line = container.logs[index]
        key_error = _KEY_ERROR_ENV.search(line.text)
        if key_error is not None and key_error.group("name") in known:
            found.setdefault(key_error.group("name"), line)
        for match in _NOT_SET.finditer(line.text):
            found.setdefault(match.group("name") or match.group("shell"), line)
        if _MISSING_WORDS.search(line.text):
            for match in _ENV_NAMED.finditer(line.text):
                found.setdefault(match.group("name"), line)
    return found


def _set_anywhere(evidence: Evidence, service: str, variable: str) -> bool:
    if compose_value(evidence, service, variable) is not None:
        return True
    return any(variable in c.env for c in evidence.containers_of(service))


class MissingEnv:
    """An environment variable the code needs is not set for the service.

    Symptom: the code reads `os.environ["X"]` (no default) and compose does
    not set X; or the log shows `KeyError: 'X'`, "X is not set", "environment
    variable X ...". Also: a variable on the path of a hung or mismatched
    endpoint that compose leaves to the code default; the proposal sets it
    to the value the evidence points at, with low confidence, so the planner
    can show whether it changes anything.

    Remedy: set X in the service's compose `environment`.
    """

    code: ClassVar[str] = "MISSING_ENV"
    summary: ClassVar[str] = "An environment variable the code needs is not set"
    category: ClassVar[Category] = Category.CONFIGURATION
    reads: ClassVar[frozenset[str]] = frozenset({SOURCE, COMPOSE, LOG, STATE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = self._required(context)
        reported = {(f.service, f.facts["variable"]) for f in findings}
        findings.extend(self._endpoint_variables(context, reported))
        return findings

    # -- variables read with no default, or reported missing in a log ---------

    def _required(self, context: AnalysisContext) -> list[Finding]:
        evidence = context.evidence
        findings = []
        for service in sorted(evidence.services):
            reads = context.facts.env_reads_of(service)
            known = {r.variable for r in reads}
            required = {r.variable: r for r in reads if r.required}
            mentioned: dict[str, tuple[ContainerEvidence, LogLine]] = {}
            for container in containers_by_service(evidence).get(service, []):
                for name, line in _log_mentions(container, known).items():
                    mentioned.setdefault(name, (container, line))

            defaulted = {r.variable for r in reads if r.default is not None}
            for variable in sorted(set(required) | set(mentioned)):
                # A variable with an in-code default is optional: a log line
                # about it reports the fallback, not a failure.
                if _set_anywhere(evidence, service, variable) or variable in defaulted:
                    continue
                findings.append(
                    self._required_finding(
                        context, service, variable, required.get(variable), mentioned.get(variable)
                    )
                )
        return findings

    def _required_finding(
        self,
        context: AnalysisContext,
        service: str,
        variable: str,
        read: EnvRead | None,
        mention: tuple[ContainerEvidence, LogLine] | None,
    ) -> Finding:
        evidence = context.evidence
        refs: list[EvidenceRef] = []
        if mention is not None:
            refs.append(log_ref(*mention))
        if read is None:
            read = _env_read(context, service, variable)
        location = None
        if read is not None:
            refs.append(source_ref(source_file(evidence, service, read.path), read.path, read.line))
            location = location_in(evidence, service, read.path, read.line)
        refs.append(compose_ref(evidence, service, "environment"))

        facts: dict[str, Any] = {
            "variable": variable,
            "code_default": read.default if read is not None else None,
            "proposed": None,
            "reason": "required" if read is not None and read.required else "log",
        }
        facts["values_part"] = _env_values_part(facts["code_default"], facts["proposed"])
        where = (
            advice("MISSING_ENV.recommendation.read_at", path=read.path, line=read.line)
            if read is not None
            else NO_TEXT
        )
        confidence = 0.75
        if mention is not None:
            confidence = 0.9 if read is not None else 0.7
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.HUMAN,
            confidence=confidence,
            facts=facts,
            evidence=refs,
            location=location,
            recommendation=advice(
                "MISSING_ENV.recommendation.set", variable=variable, service=service, where=where
            ),
        )

    # -- variables on the path of a hang or an endpoint mismatch ---------------

    def _endpoint_variables(
        self, context: AnalysisContext, reported: set[tuple[str, Any]]
    ) -> list[Finding]:
        covered: set[tuple[str, str]] = set()
        on_path: list[Connection] = []
        for service in sorted(context.evidence.services):
            for connection in connections_of(context, service):
                endpoint = connection.endpoint
                if port_mismatch(context, connection) is not None and endpoint.port_variable:
                    covered.add((service, endpoint.port_variable))
                    on_path.append(connection)
                host = host_mismatch(context, connection)
                if host is not None and endpoint.host_variable:
                    covered.add((service, endpoint.host_variable))
                    on_path.append(connection)
        for hang in find_hangs(context):
            if hang.site.connection is not None:
                on_path.append(hang.site.connection)
            else:
                on_path.extend(connections_of(context, hang.service))

        findings = []
        seen = set(covered) | {(s, str(v)) for s, v in reported}
        for connection in on_path:
            for variable, proposed in self._proposals(context, connection):
                key = (connection.service, variable)
                if key in seen:
                    continue
                seen.add(key)
                findings.append(self._endpoint_finding(context, connection, variable, proposed))
        return findings

    @staticmethod
    def _proposals(context: AnalysisContext, connection: Connection) -> list[tuple[str, str]]:
        """Return (variable, value the evidence supports) for the connect's unset variables."""
        evidence = context.evidence
        endpoint = connection.endpoint
        service = connection.service
        proposals: list[tuple[str, str]] = []
        peer = connection.peer
        if peer is None:
            return proposals
        near = endpoint.path

        host_variable = endpoint.host_variable
        if host_variable and compose_value(evidence, service, host_variable) is None:
            value = value_for_variable(context, service, host_variable, host=peer, near=near)
            proposals.append((host_variable, value))

        port_variable = endpoint.port_variable
        if port_variable and compose_value(evidence, service, port_variable) is None:
            same = [b for b in binds_of(context, peer) if b.variable == port_variable]
            if same:
                value = value_for_variable(
                    context, service, port_variable, port=same[0].port, near=near
                )
                proposals.append((port_variable, value))
        return proposals

    def _endpoint_finding(
        self, context: AnalysisContext, connection: Connection, variable: str, proposed: str
    ) -> Finding:
        service = connection.service
        default = code_default(context, service, variable, connection.endpoint.path)
        facts = {
            "variable": variable,
            "code_default": default,
            "proposed": proposed,
            "reason": "endpoint",
            "endpoint": connection.url,
            "values_part": _env_values_part(default, proposed),
        }
        read = _env_read(context, service, variable, connection.endpoint.path)
        location = location_in(context.evidence, service, read.path, read.line) if read else None
        finding = new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.COMPOSE,
            confidence=0.3,
            facts=facts,
            evidence=_connection_refs(context, connection),
            location=location,
            recommendation=advice(
                "MISSING_ENV.recommendation.endpoint",
                variable=variable,
                service=service,
                default=default,
                endpoint=connection.url,
                proposed=proposed,
            ),
        )
        propose(
            context,
            finding,
            title=f"Set {variable}={proposed} for {service}",
            rationale=advice(
                "MISSING_ENV.rationale.endpoint",
                service=service,
                endpoint=connection.url,
                variable=variable,
                proposed=proposed,
                default=default,
            ),
            edit=ComposeEdit("set_env", service, {"name": variable, "value": proposed}),
        )
        return finding


# Bind addresses that accept connections from inside the container only.
_LOOPBACK_BIND_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]", "ip6-localhost"}


class BindLocalhost:
    """A server listens on 127.0.0.1 inside its container, so other containers cannot reach it.

    Symptom: "Uvicorn running on http://127.0.0.1:8000" (or a bind to
    localhost in the source) in a service that other services connect to, or
    whose port is published.

    Remedy: bind to 0.0.0.0 (set the bind's host variable when it has one).
    """

    code: ClassVar[str] = "BIND_LOCALHOST"
    summary: ClassVar[str] = "A server binds to localhost inside its container"
    category: ClassVar[Category] = Category.CONFIGURATION
    reads: ClassVar[frozenset[str]] = frozenset({LOG, SOURCE, COMPOSE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service in sorted(evidence.services):
            for bind, variable in self._loopback_binds(context, service):
                clients = self._clients(context, service, bind.port)
                published = self._published(evidence, service, bind.port)
                if not clients and not published:
                    continue
                value = None
                if variable is None:
                    variable, value = self._env_setting(evidence, service, bind)
                findings.append(
                    self._finding(context, service, bind, variable, clients, published, value)
                )
        return findings

    @staticmethod
    def _env_setting(evidence: Evidence, service: str, bind: Bind) -> tuple[str | None, str | None]:
        """Return the compose variable that sets the loopback bind address, and its fixed value.

        A variable counts when its name says host, bind, address or listen and
        its value is a loopback address (alone or as host:port).
        """
        for name, value in compose_environment(evidence, service).items():
            if not value or not _BIND_VARIABLE.search(name):
                continue
            host, _, port = (
                value.strip().rpartition(":") if ":" in value else (value.strip(), "", "")
            )
            if host.strip("[]") in _LOOPBACK_BIND_HOSTS and (not port or port == str(bind.port)):
                return name, value.replace(host, "0.0.0.0", 1)
        return None, None

    @staticmethod
    def _loopback_binds(context: AnalysisContext, service: str) -> list[tuple[Bind, str | None]]:
        """Return the service's binds to a loopback address, each with its host variable."""
        found: dict[int, tuple[Bind, str | None]] = {}
        evidence = context.evidence
        by_place = {(b.path, b.line): b for b in source_binds(context, service)}
        for endpoint in context.facts.endpoints_of(service, "bind"):
            bind = by_place.get((endpoint.path, endpoint.line))
            if bind is not None and bind.host in _LOOPBACK_BIND_HOSTS:
                found.setdefault(bind.port, (bind, endpoint.host_variable))
        for logged in log_binds(evidence, service):
            if logged.host not in _LOOPBACK_BIND_HOSTS:
                continue
            existing = found.get(logged.port)
            if existing is None:
                found[logged.port] = (logged, None)
                continue
            existing[0].log_text = logged.log_text
            existing[0].log_container = logged.log_container
            existing[0].log_line = logged.log_line
            existing[0].log_timestamp = logged.log_timestamp
        return [found[port] for port in sorted(found)]

    @staticmethod
    def _clients(context: AnalysisContext, service: str, port: int) -> list[str]:
        """Return the services that connect to this one on `port`, by their source or their logs."""
        evidence = context.evidence
        clients = []
        for other in sorted(evidence.services):
            if other == service:
                continue
            in_source = any(
                connection.peer == service and connection.port == port
                for connection in connections_of(context, other)
            )
            in_logs = any(
                failure.host is not None
                and failure.port == port
                and service_for_host(evidence, failure.host) == service
                for failure in connections.failures_of(evidence, other)
            )
            if in_source or in_logs:
                clients.append(other)
        return clients

    @staticmethod
    def _published(evidence: Evidence, service: str, port: int) -> bool:
        for entry in evidence.services.get(service, {}).get("ports") or []:
            if isinstance(entry, dict) and str(entry.get("target")) == str(port):
                return True
            if isinstance(entry, (str, int)) and str(entry).split("/")[0].split(":")[-1] == str(
                port
            ):
                return True
        return False

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        bind: Bind,
        variable: str | None,
        clients: list[str],
        published: bool,
        value: str | None = None,
    ) -> Finding:
        facts = {
            "bind_address": bind.host,
            "port": bind.port,
            "variable": variable,
            "clients": clients,
            "published": published,
        }
        refs = _bind_refs(bind, context.evidence)
        if published:
            refs.append(compose_ref(context.evidence, service, "ports"))
        if value is not None:
            refs.append(compose_ref(context.evidence, service, "environment"))
        value = value or "0.0.0.0"
        location = None
        if bind.path is not None and bind.line is not None:
            location = location_in(context.evidence, service, bind.path, bind.line)
        finding = new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.COMPOSE if variable else Fixability.CODE,
            confidence=0.85 if clients else 0.7,
            facts=facts,
            evidence=refs,
            location=location,
            recommendation=advice(
                "BIND_LOCALHOST.recommendation",
                service=service,
                port=bind.port,
                host=bind.host,
                how=(
                    advice("BIND_LOCALHOST.recommendation.set", variable=variable, value=value)
                    if variable
                    else advice("BIND_LOCALHOST.recommendation.at", location=str(location))
                    if location
                    else NO_TEXT
                ),
            ),
        )
        if variable:
            propose(
                context,
                finding,
                title=f"Set {variable}={value} for {service}",
                rationale=(
                    advice(
                        "BIND_LOCALHOST.rationale.clients",
                        service=service,
                        host=bind.host,
                        port=bind.port,
                        clients=", ".join(clients),
                    )
                    if clients
                    else advice(
                        "BIND_LOCALHOST.rationale.published",
                        service=service,
                        host=bind.host,
                        port=bind.port,
                    )
                ),
                edit=ComposeEdit("set_env", service, {"name": variable, "value": value}),
            )
        return finding


_BIND_VARIABLE = re.compile(r"HOST|BIND|ADDR|LISTEN|INTERFACE", re.IGNORECASE)

_ALLOCATED = re.compile(
    r"(?:Bind for (?P<host>\S+?):(?P<port>\d+) failed: )?port is already allocated", re.IGNORECASE
)
# nginx reports every failed bind as "bind() to ... failed (N: reason)"; only
# errno 98 means the port is taken (13, for one, is a privileged port).
_IN_USE = re.compile(
    r"address already in use|EADDRINUSE|Errno 98|bind\(\) to \S+ failed \(98:", re.IGNORECASE
)


def _published_key(entry: Any) -> tuple[str, str, str] | None:
    """Return (host ip, host port, protocol) a ports entry publishes, or None when it publishes none."""
    if isinstance(entry, dict):
        published = str(entry.get("published") or "")
        if not published:
            return None
        host_ip = str(entry.get("host_ip") or "0.0.0.0")
        return host_ip, published, str(entry.get("protocol") or "tcp")
    text = str(entry)
    protocol = "tcp"
    if "/" in text:
        text, protocol = text.split("/", 1)
    parts = text.rsplit(":", 2)
    if len(parts) < 2 or not parts[-2]:
        return None
    host_ip = parts[0] if len(parts) == 3 else "0.0.0.0"
    return host_ip, parts[-2], protocol


_PORT_NEAR = re.compile(r"(?::|port )(?P<port>\d{2,5})\b")
_ENDPOINT_CONTAINER = re.compile(r"on endpoint (?P<name>[\w.-]+)")


class PortAlreadyAllocated:
    """A port is taken: on the host (publishing) or inside the container (binding).

    Symptom: the engine reports "Bind for 0.0.0.0:8080 failed: port is already
    allocated" when starting the container; or the process logs "Address
    already in use".

    Remedy: change the host side of the service's `ports` mapping, or stop
    whatever else uses the port.
    """

    code: ClassVar[str] = "PORT_ALREADY_ALLOCATED"
    summary: ClassVar[str] = "A port the service needs is already in use"
    category: ClassVar[Category] = Category.CONFIGURATION
    reads: ClassVar[frozenset[str]] = frozenset({STATE, LOG, COMPOSE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        evidence = context.evidence
        hits: dict[str, list[tuple[str, EvidenceRef, str | None]]] = {}
        for container in sorted(evidence.containers, key=lambda c: c.name):
            if container.error:
                scope, port = self._classify(container.error)
                if scope is not None:
                    ref = EvidenceRef(
                        "state",
                        container.name,
                        f"error={container.error}",
                        None,
                        container.finished_at,
                    )
                    hits.setdefault(container.service, []).append((scope, ref, port))
            for line in container.logs:
                scope, port = self._classify(line.text)
                if scope is not None:
                    hits.setdefault(container.service, []).append(
                        (scope, log_ref(container, line), port)
                    )
        for warning in evidence.warnings:
            scope, port = self._classify(warning)
            named = _ENDPOINT_CONTAINER.search(warning)
            if scope is None or named is None:
                continue
            service = service_for_host(evidence, named.group("name"))
            if service is not None:
                ref = EvidenceRef("state", named.group("name"), warning)
                hits.setdefault(service, []).append((scope, ref, port))
        shared = self._published_twice(evidence)
        for service, (port, other) in shared.items():
            ref = compose_ref(evidence, service, "ports")
            hits.setdefault(service, []).append(("compose", ref, port))
        return [
            self._finding(context, service, found, shared.get(service, (None, None))[1])
            for service, found in sorted(hits.items())
        ]

    @staticmethod
    def _published_twice(evidence: Evidence) -> dict[str, tuple[str, str]]:
        """Return service -> (host port, other service) for host ports two services publish.

        The service reported is the one whose container did not start (state
        created or exited with an engine error), else the later one by name.
        """
        owners: dict[tuple[str, str, str], list[str]] = {}
        for service, config in sorted(evidence.services.items()):
            for entry in config.get("ports") or []:
                key = _published_key(entry)
                if key is not None:
                    owners.setdefault(key, []).append(service)
        result: dict[str, tuple[str, str]] = {}
        for (_, port, _), services in owners.items():
            unique_services = sorted(set(services))
            if len(unique_services) < 2:
                continue
            failed = [
                s
                for s in unique_services
                if any(
                    c.state in ("created", "exited") and not c.is_running
                    for c in evidence.containers_of(s)
                )
            ]
            victim = failed[0] if failed else unique_services[-1]
            other = next(s for s in unique_services if s != victim)
            result[victim] = (port, other)
        return result

    @staticmethod
    def _classify(text: str) -> tuple[str | None, str | None]:
        allocated = _ALLOCATED.search(text)
        if allocated is not None:
            return "host", allocated.group("port")
        if _IN_USE.search(text):
            near = _PORT_NEAR.search(text)
            return "container", near.group("port") if near else None
        return None, None

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        found: list[tuple[str, EvidenceRef, str | None]],
        other: str | None = None,
    ) -> Finding:
        scopes = {s for s, _, _ in found}
        if other:
            scope = "compose"
        elif "host" in scopes:
            scope = "host"
        else:
            scope = "container"
        port = next((p for s, _, p in found if p is not None and s == scope), None)
        port = port or next((p for _, _, p in found if p is not None), None)
        refs = [ref for _, ref, _ in found[:3]]
        if scope == "compose":
            refs.append(compose_ref(context.evidence, str(other), "ports"))
            advice_form = advice(
                "PORT_ALREADY_ALLOCATED.recommendation.compose",
                service=service,
                other_service=other,
                port=port,
            )
        elif scope == "host":
            refs.append(compose_ref(context.evidence, service, "ports"))
            advice_form = advice(
                "PORT_ALREADY_ALLOCATED.recommendation.host", service=service, port=port or "?"
            )
        else:
            advice_form = advice(
                "PORT_ALREADY_ALLOCATED.recommendation.container", service=service, port=port or "?"
            )
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.HUMAN,
            confidence=0.9 if scope in ("host", "compose") else 0.8,
            facts={"port": port, "scope": scope, "occurrences": len(found), "other_service": other},
            evidence=refs,
            recommendation=advice_form,
        )
