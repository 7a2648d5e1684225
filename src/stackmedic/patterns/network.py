"""Patterns of addresses that lead nowhere: unknown host names, localhost, closed ports, TLS.

Each pattern starts from the client's log (see `patterns.connections`) and
checks the claim against the rest of the project: which services exist,
which ports they announce or their image is known to serve. When the
faulty address comes from a compose `environment` value, the repair
rewrites exactly that value.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from stackmedic.evidence.model import ContainerEvidence, Evidence, LogLine
from stackmedic.model import Category, ComposeEdit, EvidenceRef, Finding, Fixability
from stackmedic.patterns.base import COMPOSE, LOG, SOURCE, STATE, AnalysisContext
from stackmedic.patterns.common import (
    advice,
    candidate_lines,
    compose_ref,
    containers_by_service,
    either,
    log_message,
    log_ref,
    new_finding,
    no_summary_part,
    propose,
    sentences,
    summary_part,
)
from stackmedic.patterns.connections import (
    REFUSED,
    UNAVAILABLE,
    UNRESOLVED,
    EnvAddress,
    FailedConnection,
    env_addresses,
    failures_of,
)
from stackmedic.patterns.endpoints import binds_of, is_loopback, service_for_host, service_hosts
from stackmedic.patterns.images import DEFAULT_PORTS, service_kind, service_port

MAX_CITED_LINES = 3


def service_ports(context: AnalysisContext, service: str) -> dict[int, str]:
    """Return the ports a service listens on, each with how that is known."""
    evidence = context.evidence
    ports: dict[int, str] = {}
    for bind in binds_of(context, service):
        ports.setdefault(bind.port, bind.description)
    known = service_port(evidence, service)
    if known is not None:
        ports.setdefault(known, f"the default port of the {service_kind(evidence, service)} image")
    config = evidence.services.get(service, {})
    for entry in config.get("expose") or []:
        number = str(entry).split("/")[0]
        if number.isdigit():
            ports.setdefault(int(number), f"services.{service}.expose")
    return ports


def _cite(failures: list[FailedConnection]) -> list[EvidenceRef]:
    refs = []
    cited: set[str] = set()
    for index, failure in enumerate(failures):
        if index < MAX_CITED_LINES or failure.container.name not in cited:
            refs.append(log_ref(failure.container, failure.line))
            cited.add(failure.container.name)
    return refs


def _address_for(
    evidence: Evidence, service: str, host: str | None, port: int | None
) -> EnvAddress | None:
    """Return the environment value that names host (and port), best match first."""
    candidates = [
        a
        for a in env_addresses(evidence, service)
        if host is None or a.host == host or (is_loopback(a.host) and is_loopback(host))
    ]
    if port is not None:
        exact = [a for a in candidates if a.port == port]
        candidates = exact or [a for a in candidates if a.port is None]
    return candidates[0] if candidates else None


def _group(
    failures: list[FailedConnection],
) -> dict[tuple[str | None, int | None], list[FailedConnection]]:
    groups: dict[tuple[str | None, int | None], list[FailedConnection]] = {}
    for failure in failures:
        groups.setdefault((failure.host, failure.port), []).append(failure)
    return groups


@dataclass
class _Hostless:
    """Failures whose line names no host, matched to one address of the environment."""

    address: EnvAddress
    failures: list[FailedConnection] = field(default_factory=list)


def _attribute_hostless(
    evidence: Evidence, service: str, failures: list[FailedConnection], predicate: Any
) -> list[_Hostless]:
    """Give failures without a host the one environment address of their protocol, if any."""
    addresses = [a for a in env_addresses(evidence, service) if predicate(a)]
    result: dict[tuple[str, str], _Hostless] = {}
    for failure in failures:
        if failure.host is not None:
            continue
        matching = [a for a in addresses if failure.protocol in (None, a.protocol)]
        if len({(a.variable, a.host) for a in matching}) != 1:
            continue
        address = matching[0]
        result.setdefault((address.variable, address.host), _Hostless(address)).failures.append(
            failure
        )
    return list(result.values())


class HostNotResolved:
    """A service connects to a host name that neither the compose network nor DNS resolves.

    Symptom: "Name or service not known", "could not translate host name
    "postgres" to address", `getaddrinfo ENOTFOUND mongo`, "lookup
    redis-server: no such host", for a name that is not a service, alias or
    container name of the project.

    Remedy: use the service name. The finding names the service the host was
    meant for (a service whose image serves the protocol, else the closest
    name) and rewrites the compose environment value that holds the host.
    A name that is a service of the project but does not resolve means that
    service is not running; that is reported by CONNECTION_REFUSED with the
    service's own failure as its cause.
    """

    code: ClassVar[str] = "HOST_NOT_RESOLVED"
    summary: ClassVar[str] = "A service connects to a host name that does not resolve"
    category: ClassVar[Category] = Category.CONFIGURATION
    reads: ClassVar[frozenset[str]] = frozenset({LOG, COMPOSE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        evidence = context.evidence
        findings = []
        for service in sorted(containers_by_service(evidence)):
            failures = [f for f in failures_of(evidence, service) if f.kind == UNRESOLVED]
            if not failures:
                continue
            hostless = _attribute_hostless(
                evidence,
                service,
                failures,
                lambda a: service_for_host(evidence, a.host) is None and not is_loopback(a.host),
            )
            for item in hostless:
                findings.append(
                    self._finding(context, service, item.address.host, item.failures, item.address)
                )
            for (host, port), group in sorted(_group(failures).items(), key=str):
                if (
                    host is None
                    or service_for_host(evidence, host) is not None
                    or is_loopback(host)
                ):
                    continue
                address = _address_for(evidence, service, host, port)
                findings.append(self._finding(context, service, host, group, address))
        return findings

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        host: str,
        failures: list[FailedConnection],
        address: EnvAddress | None,
    ) -> Finding:
        evidence = context.evidence
        protocol = next((f.protocol for f in failures if f.protocol), None)
        if protocol is None and address is not None:
            protocol = address.protocol
        external = "." in host and not host.endswith((".local", ".internal", ".svc"))
        intended = None if external else intended_service(evidence, host, protocol, service)
        facts: dict[str, Any] = {
            "host": host,
            "intended_service": intended,
            "variable": address.variable if address is not None else None,
            "protocol": protocol,
            "external": external,
            "occurrences": len(failures),
            "first_line": log_message(failures[0].line.text),
        }
        facts["intended_part"] = (
            summary_part("HOST_NOT_RESOLVED.summary.intended", intended_service=intended)
            if intended
            else no_summary_part()
        )
        facts["variable_part"] = (
            summary_part("HOST_NOT_RESOLVED.summary.variable", variable=address.variable)
            if address is not None and address.variable
            else no_summary_part()
        )
        refs = _cite(failures)
        if address is not None:
            refs.append(compose_ref(evidence, service, "environment"))

        if external:
            remedy = advice("HOST_NOT_RESOLVED.recommendation.external", service=service, host=host)
        elif intended is not None and address is not None:
            remedy = advice(
                "HOST_NOT_RESOLVED.recommendation.variable",
                host=host,
                service=service,
                intended=intended,
                variable=address.variable,
            )
        elif intended is not None:
            remedy = advice(
                "HOST_NOT_RESOLVED.recommendation.configuration",
                host=host,
                service=service,
                intended=intended,
            )
        else:
            remedy = advice(
                "HOST_NOT_RESOLVED.recommendation.unknown",
                host=host,
                services=", ".join(sorted(evidence.services)),
            )
        can_edit = address is not None and intended is not None
        finding = new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.COMPOSE if can_edit else Fixability.HUMAN,
            confidence=_host_confidence(external, intended),
            facts=facts,
            evidence=refs,
            recommendation=remedy,
        )
        if can_edit:
            assert address is not None and intended is not None
            propose(
                context,
                finding,
                title=f"Point {address.variable} of {service} at {intended}",
                rationale=(
                    advice(
                        "HOST_NOT_RESOLVED.rationale.protocol",
                        service=service,
                        host=host,
                        intended=intended,
                        protocol=protocol,
                    )
                    if protocol
                    else advice(
                        "HOST_NOT_RESOLVED.rationale.closest",
                        service=service,
                        host=host,
                        intended=intended,
                    )
                ),
                edit=ComposeEdit(
                    "set_env",
                    service,
                    {"name": address.variable, "value": address.with_host(intended)},
                ),
            )
        return finding


def _host_confidence(external: bool, intended: str | None) -> float:
    if external:
        return 0.6
    return 0.85 if intended is not None else 0.7


def intended_service(
    evidence: Evidence, host: str, protocol: str | None, client: str
) -> str | None:
    """Return the service an unknown host name most likely meant.

    A single service whose image serves the protocol wins; else the closest
    service name (difflib ratio at least 0.6).
    """
    others = [s for s in sorted(evidence.services) if s != client]
    if protocol is not None:
        serving = [s for s in others if service_kind(evidence, s) == protocol]
        if len(serving) == 1:
            return serving[0]
    names = sorted(n for n, s in service_hosts(evidence).items() if s != client)
    close = difflib.get_close_matches(host, names, n=1, cutoff=0.6)
    if close:
        return service_hosts(evidence)[close[0]]
    return None


class LocalhostPeer:
    """A service connects to localhost for a port that another service of the project serves.

    Symptom: `connect ECONNREFUSED 127.0.0.1:5432`, "Connection to node -1
    (localhost/127.0.0.1:9092) could not be established", kafka's
    NoBrokersAvailable with KAFKA_BOOTSTRAP_SERVERS=localhost:9092, while the
    `db` (or `kafka`) service listens on that port. Inside a container,
    localhost is the container itself.

    Remedy: replace localhost with the service name in the compose
    environment value that contains the address.
    """

    code: ClassVar[str] = "LOCALHOST_PEER"
    summary: ClassVar[str] = "A service connects to localhost for a port another service serves"
    category: ClassVar[Category] = Category.CONFIGURATION
    reads: ClassVar[frozenset[str]] = frozenset({LOG, COMPOSE, SOURCE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        evidence = context.evidence
        findings = []
        for service in sorted(containers_by_service(evidence)):
            failures = [
                f for f in failures_of(evidence, service) if f.kind in (REFUSED, UNAVAILABLE)
            ]
            own_ports = set(service_ports(context, service))
            groups: dict[
                tuple[str, int | None], tuple[EnvAddress | None, list[FailedConnection]]
            ] = {}
            for failure in failures:
                if failure.host is not None and is_loopback(failure.host):
                    address = _address_for(evidence, service, failure.host, failure.port)
                    key = (failure.host, failure.port)
                    groups.setdefault(key, (address, []))[1].append(failure)
            for item in _attribute_hostless(
                evidence, service, failures, lambda a: is_loopback(a.host)
            ):
                key = (item.address.host, item.address.port)
                groups.setdefault(key, (item.address, []))[1].extend(item.failures)
            for (host, port), (address, group) in sorted(groups.items(), key=str):
                if port is None and address is not None:
                    port = address.port
                if port is not None and port in own_ports:
                    continue
                protocol = next((f.protocol for f in group if f.protocol), None)
                peer = self._peer(context, service, port, protocol)
                if peer is None:
                    continue
                findings.append(self._finding(context, service, host, port, peer, address, group))
        return findings

    @staticmethod
    def _peer(
        context: AnalysisContext, service: str, port: int | None, protocol: str | None
    ) -> tuple[str, str] | None:
        """Return (peer service, how its port is known) for the one service serving the port."""
        evidence = context.evidence
        serving = []
        for other in sorted(evidence.services):
            if other == service:
                continue
            ports = service_ports(context, other)
            if port is not None and port in ports:
                serving.append((other, ports[port]))
            elif (
                port is None and protocol is not None and service_kind(evidence, other) == protocol
            ):
                serving.append((other, f"the {protocol} image"))
        return serving[0] if len(serving) == 1 else None

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        host: str,
        port: int | None,
        peer: tuple[str, str],
        address: EnvAddress | None,
        failures: list[FailedConnection],
    ) -> Finding:
        evidence = context.evidence
        peer_service, known_by = peer
        facts: dict[str, Any] = {
            "host": host,
            "port": port,
            "peer_service": peer_service,
            "peer_port_source": known_by,
            "variable": address.variable if address is not None else None,
            "occurrences": len(failures),
            "first_line": log_message(failures[0].line.text),
        }
        refs = _cite(failures)
        if address is not None:
            refs.append(compose_ref(evidence, service, "environment"))
        finding = new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.COMPOSE if address is not None else Fixability.HUMAN,
            confidence=0.9 if address is not None else 0.75,
            facts=facts,
            evidence=refs,
            recommendation=sentences(
                advice(
                    "LOCALHOST_PEER.recommendation",
                    service=service,
                    host=host,
                    port=port if port is not None else "?",
                    peer_service=peer_service,
                    known_by=known_by,
                ),
                advice(
                    "LOCALHOST_PEER.recommendation.variable",
                    variable=address.variable,
                    peer_service=peer_service,
                )
                if address is not None
                else advice(
                    "LOCALHOST_PEER.recommendation.configure",
                    service=service,
                    peer_service=peer_service,
                ),
            ),
        )
        if address is not None:
            propose(
                context,
                finding,
                title=f"Point {address.variable} of {service} at {peer_service}",
                rationale=advice(
                    "LOCALHOST_PEER.rationale",
                    service=service,
                    host=host,
                    port=port,
                    peer_service=peer_service,
                ),
                edit=ComposeEdit(
                    "set_env",
                    service,
                    {"name": address.variable, "value": address.with_host(peer_service)},
                ),
            )
        return finding


class PortNotListening:
    """A service connects to a port that its running peer does not listen on.

    Symptom: `Error 111 connecting to cache:6380. Connection refused.` while
    `cache` runs and announces "Running mode=standalone, port=6379" (or its
    image is known to serve 6379), and the refusals go on after the peer
    became ready, so it is not a start-order problem.

    Remedy: use the port the peer listens on, in the compose environment
    value that contains the address.
    """

    code: ClassVar[str] = "PORT_NOT_LISTENING"
    summary: ClassVar[str] = "A service connects to a port its peer does not listen on"
    category: ClassVar[Category] = Category.CONFIGURATION
    reads: ClassVar[frozenset[str]] = frozenset({LOG, STATE, COMPOSE, SOURCE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        evidence = context.evidence
        findings = []
        for service in sorted(containers_by_service(evidence)):
            failures = [f for f in failures_of(evidence, service) if f.kind == REFUSED]
            for (host, port), group in sorted(_group(failures).items(), key=str):
                if host is None or port is None or is_loopback(host):
                    continue
                peer = service_for_host(evidence, host)
                if peer is None or peer == service:
                    continue
                if not any(c.is_running for c in evidence.containers_of(peer)):
                    continue
                ports = service_ports(context, peer)
                if not ports or port in ports:
                    continue
                expected = self._expected(evidence, peer, ports, group)
                findings.append(
                    self._finding(context, service, host, port, peer, ports, expected, group)
                )
        return findings

    @staticmethod
    def _expected(
        evidence: Evidence, peer: str, ports: dict[int, str], failures: list[FailedConnection]
    ) -> int | None:
        if len(ports) == 1:
            return next(iter(ports))
        protocol = next((f.protocol for f in failures if f.protocol), None)
        if protocol is not None and protocol in DEFAULT_PORTS:
            default = DEFAULT_PORTS[protocol]
            if default in ports:
                return default
        kind = service_kind(evidence, peer)
        if kind is not None and DEFAULT_PORTS.get(kind) in ports:
            return DEFAULT_PORTS[kind]
        return None

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        host: str,
        port: int,
        peer: str,
        ports: dict[int, str],
        expected: int | None,
        failures: list[FailedConnection],
    ) -> Finding:
        evidence = context.evidence
        address = _address_for(evidence, service, host, port)
        facts: dict[str, Any] = {
            "target": f"{host}:{port}",
            "port": port,
            "peer_service": peer,
            "peer_ports": sorted(ports),
            "expected": expected,
            "variable": (address.port_variable or address.variable)
            if address is not None
            else None,
            "occurrences": len(failures),
        }
        refs = _cite(failures)
        for known_by in list(ports.values())[:2]:
            refs.append(EvidenceRef("log" if " " in known_by else "compose", peer, known_by))
        if address is not None:
            refs.append(compose_ref(evidence, service, "environment"))
        can_edit = address is not None and expected is not None
        listening = ", ".join(f"{p} ({how})" for p, how in sorted(ports.items()))
        finding = new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.COMPOSE if can_edit else Fixability.HUMAN,
            confidence=0.85 if expected is not None else 0.65,
            facts=facts,
            evidence=refs,
            recommendation=sentences(
                advice(
                    "PORT_NOT_LISTENING.recommendation", peer=peer, listening=listening, port=port
                ),
                advice(
                    "PORT_NOT_LISTENING.recommendation.variable",
                    variable=facts["variable"],
                    service=service,
                    expected=expected,
                )
                if can_edit and address is not None
                else advice(
                    "PORT_NOT_LISTENING.recommendation.connect", service=service, peer=peer
                ),
            ),
        )
        if can_edit:
            assert address is not None and expected is not None
            variable = address.port_variable or address.variable
            propose(
                context,
                finding,
                title=f"Use port {expected} of {peer} in {variable} of {service}",
                rationale=advice(
                    "PORT_NOT_LISTENING.rationale",
                    peer=peer,
                    listening=listening,
                    service=service,
                    port=port,
                ),
                edit=ComposeEdit(
                    "set_env", service, {"name": variable, "value": address.with_port(expected)}
                ),
            )
        return finding


_TLS = [
    (
        re.compile(
            r"x509: certificate signed by unknown authority|unable to get local issuer"
            r" certificate|PKIX path building failed|UNABLE_TO_GET_ISSUER_CERT|"
            r"unable to verify the first certificate|UNABLE_TO_VERIFY_LEAF_SIGNATURE",
            re.IGNORECASE,
        ),
        "unknown_authority",
    ),
    (
        re.compile(
            r"self[- ]signed certificate|SELF_SIGNED_CERT_IN_CHAIN|"
            r"DEPTH_ZERO_SELF_SIGNED_CERT",
            re.IGNORECASE,
        ),
        "self_signed",
    ),
    (
        re.compile(
            r"certificate has expired|CERT_HAS_EXPIRED|x509: certificate has expired", re.IGNORECASE
        ),
        "expired",
    ),
    (
        re.compile(
            r"x509: certificate is valid for|Hostname mismatch|doesn't match|"
            r"ERR_TLS_CERT_ALTNAME_INVALID|No subject alternative names? matching",
            re.IGNORECASE,
        ),
        "hostname_mismatch",
    ),
    (
        re.compile(
            r"certificate verify failed|CERTIFICATE_VERIFY_FAILED|SSLCertVerificationError",
            re.IGNORECASE,
        ),
        "verify_failed",
    ),
]
_TLS_HOST = [
    re.compile(r"https://(?P<host>[\w.-]+)(?::\d+)?"),
    re.compile(r"host='(?P<host>[\w.-]+)'"),
    re.compile(r"Get \"?https?://(?P<host>[\w.-]+)"),
    re.compile(r"certificate is valid for [^,]+, not (?P<host>[\w.-]+)"),
]


class TlsCertificateError:
    """A TLS connection fails because the peer's certificate cannot be verified.

    Symptom: "certificate verify failed", "x509: certificate signed by
    unknown authority", "unable to get local issuer certificate",
    "self-signed certificate in certificate chain", "certificate has
    expired", "x509: certificate is valid for a, not b".

    Remedy: give the container the CA that signed the certificate (install
    ca-certificates in the image, or mount the CA file and point
    SSL_CERT_FILE, REQUESTS_CA_BUNDLE or NODE_EXTRA_CA_CERTS at it), renew an
    expired certificate, or connect with a name the certificate lists. No
    repair is proposed: turning verification off would hide the fault and
    open the connection to interception.
    """

    code: ClassVar[str] = "TLS_CERTIFICATE_ERROR"
    summary: ClassVar[str] = "A TLS certificate cannot be verified"
    category: ClassVar[Category] = Category.RUNTIME
    reads: ClassVar[frozenset[str]] = frozenset({LOG})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        for service, containers in sorted(containers_by_service(context.evidence).items()):
            hits: list[tuple[ContainerEvidence, LogLine, str, str | None]] = []
            for container in containers:
                for index in candidate_lines(container, *(regex for regex, _ in _TLS)):
                    line = container.logs[index]
                    kind = self._kind(line.text)
                    if kind is not None:
                        hits.append((container, line, kind, self._host(line.text)))
            if hits:
                findings.append(self._finding(context, service, hits))
        return findings

    @staticmethod
    def _kind(text: str) -> str | None:
        for pattern, kind in _TLS:
            if pattern.search(text):
                return kind
        return None

    @staticmethod
    def _host(text: str) -> str | None:
        for pattern in _TLS_HOST:
            match = pattern.search(text)
            if match is not None:
                return match.group("host")
        return None

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        hits: list[tuple[ContainerEvidence, LogLine, str, str | None]],
    ) -> Finding:
        # The most specific kind wins, because every kind also reports verify_failed.
        order = [kind for _, kind in _TLS]
        kind = min((k for _, _, k, _ in hits), key=order.index)
        host = next((h for _, _, _, h in hits if h), None)
        facts = {"kind": kind, "host": host, "occurrences": len(hits)}
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.HUMAN,
            confidence=0.85,
            facts=facts,
            evidence=[log_ref(c, l) for c, l, _, _ in hits[:MAX_CITED_LINES]],
            recommendation=advice(
                "TLS_CERTIFICATE_ERROR.recommendation",
                service=service,
                host=either(host, "TLS_CERTIFICATE_ERROR.its_peer"),
                remedy=advice(f"TLS_CERTIFICATE_ERROR.remedy.{kind}"),
            ),
        )
