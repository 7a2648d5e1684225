"""Health checks that cannot tell a working service from a broken one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from stackmedic.evidence.model import ContainerEvidence, Evidence, HealthProbe
from stackmedic.i18n import Message
from stackmedic.model import Category, ComposeEdit, EvidenceRef, Finding, Fixability
from stackmedic.patterns import lookup
from stackmedic.patterns.base import COMPOSE, HEALTH_LOG, LOG, SOURCE, AnalysisContext
from stackmedic.patterns.common import (
    NO_TEXT,
    HealthcheckSpec,
    advice,
    build_dockerfile,
    compose_ref,
    effective_healthcheck,
    health_ref,
    new_finding,
    normalize_test,
    propose,
    summary_part,
)
from stackmedic.patterns.endpoints import binds_of, scheme_family

# A probe to localhost on a port nothing listens on. Python's urllib reports the
# error of the last address it tried: where a container has no IPv6, that is
# "[Errno 99] Cannot assign requested address" for ::1, not "Connection refused".
_REFUSED = re.compile(
    r"Connection refused|Errno 111|ECONNREFUSED|curl: \(7\)|Failed to connect|"
    r"Errno 99|Cannot assign requested address|EADDRNOTAVAIL",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(r"\b404\b|HTTP Error 404|Not Found", re.IGNORECASE)
# The engine's output for a probe that ran longer than the health check's timeout.
_TIMED_OUT = re.compile(r"Health check exceeded timeout", re.IGNORECASE)
# The engine's message for a missing CMD program, and the shell's for CMD-SHELL.
_MISSING_PROGRAM = re.compile(
    r'exec: "(?P<exec>[^"]+)": executable file not found|'
    r"\b(?:ba)?sh: (?:line )?(?:\d+: )?(?P<shell>[\w./-]+): (?:command )?not found"
)
_URL = re.compile(
    r"(?P<scheme>https?)://(?P<host>\[[^\]]+\]|[^/:'\"\s]+)"
    r"(?::(?P<port>\d+))?(?P<path>/[^'\"\s)]*)?"
)
# Probes that succeed whatever the service does.
_ALWAYS_TRUE = re.compile(r"^\s*(?:/bin/|/usr/bin/)?(?:true|:|exit 0)\s*;?\s*$")
_IGNORES_FAILURE = re.compile(r"\|\|\s*(?:true|exit 0|:)\s*;?\s*$")
_FILE_EXISTS = re.compile(
    r"\btest\s+-[efsd]\b|\[\s+-[efsd]\s|os\.path\.(?:exists|isfile)|"
    r"Path\([^)]*\)\.exists\(|^\s*ls\s"
)
_ECHO_ONLY = re.compile(r"^\s*echo\b[^|;&]*$")
_HEALTH_ROUTE = re.compile(
    r"""(?:@\w+\.(?:get|route|api_route)|\bapp\.get|\brouter\.get)\(\s*['"](?P<path>/[^'"]*)['"]"""
)
_HEALTHY_PATH = re.compile(r"health|ready|live|ping|status", re.IGNORECASE)
DOCKER_DEFAULT_INTERVAL = "30s"
DOCKER_DEFAULT_TIMEOUT = "30s"
DOCKER_DEFAULT_RETRIES = 3
DOCKER_DEFAULT_START_PERIOD = "0s"


def vacuous_reason(test: list[str]) -> str | None:
    """Return why a health check test passes whatever the service does, or None."""
    spec = HealthcheckSpec(test=test)
    command = spec.command
    if _ALWAYS_TRUE.match(command):
        return "always succeeds"
    if _IGNORES_FAILURE.search(command):
        return "ignores the probe's failure"
    if _FILE_EXISTS.search(command):
        return "only checks that a file exists"
    if _ECHO_ONLY.match(command):
        return "only prints text"
    return None


def format_duration(seconds: float | None, default: str) -> str:
    if seconds is None:
        return default
    whole = int(seconds)
    if whole != seconds:
        return f"{int(seconds * 1000)}ms"
    minutes, rest = divmod(whole, 60)
    if minutes and rest:
        return f"{minutes}m{rest}s"
    return f"{minutes}m" if minutes else f"{rest}s"


@dataclass
class ProbeFault:
    kind: str
    probe: HealthProbe
    container: ContainerEvidence
    confidence: float
    port: int | None = None
    path: str | None = None
    program: str | None = None


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def served_routes(evidence: Evidence, service: str) -> list[str]:
    routes = []
    for source in evidence.sources_of(service):
        for match in _HEALTH_ROUTE.finditer(source.text):
            routes.append(match.group("path"))
    return routes


def python_based(evidence: Evidence, service: str) -> bool:
    """Tell whether the service's image runs Python (by image name, Dockerfile FROM/ARG or CMD)."""
    if any("python" in c.image.lower() for c in evidence.containers_of(service)):
        return True
    image = str(evidence.services.get(service, {}).get("image") or "")
    if "python" in image.lower():
        return True
    dockerfile = build_dockerfile(evidence, service)
    if dockerfile is None:
        return False
    return (
        re.search(
            r"^\s*(?:FROM|ARG|CMD|ENTRYPOINT)\b.*python",
            dockerfile.text,
            re.IGNORECASE | re.MULTILINE,
        )
        is not None
    )


class HealthcheckMisconfigured:
    """The health check probes something the service does not do, or cannot fail.

    Symptom: probe output "Connection refused" / "Errno 111" / "curl: (7)" for
    a port the service does not listen on, "404" for a path it does not serve,
    "curl: not found" / "executable file not found" (exit 127) for a program
    missing from the image, or a test such as `exit 0`, `true` or a
    file-exists check that passes whatever the service does.

    Remedy: use the image's own HEALTHCHECK from the service's Dockerfile;
    else probe an HTTP route the service really serves with a program the
    image has (Python's urllib on Python images); else write a probe that
    exercises the service's function.
    """

    code: ClassVar[str] = "HEALTHCHECK_MISCONFIGURED"
    summary: ClassVar[str] = "The health check does not test what the service does"
    category: ClassVar[Category] = Category.HEALTHCHECK
    reads: ClassVar[frozenset[str]] = frozenset({COMPOSE, HEALTH_LOG, LOG, SOURCE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service in sorted(evidence.services):
            spec = effective_healthcheck(evidence, service)
            if spec is None:
                continue
            vacuous = vacuous_reason(spec.test)
            if vacuous is not None:
                findings.append(self._finding(context, service, spec, None, vacuous))
                continue
            fault = self._probe_fault(context, service, spec)
            if fault is not None:
                findings.append(self._finding(context, service, spec, fault, None))
        return findings

    def _probe_fault(
        self, context: AnalysisContext, service: str, spec: HealthcheckSpec
    ) -> ProbeFault | None:
        """Classify the latest failing probe; None when it failed for a reason of the service.

        A container whose latest probe passed is skipped: its earlier
        failures happened while it started, and the probe works.
        """
        failing = [
            (container, probe)
            for container in sorted(context.evidence.containers_of(service), key=lambda c: c.name)
            if not (container.health_log and container.health_log[-1].exit_code == 0)
            for probe in container.health_log
            if probe.exit_code != 0 and not _TIMED_OUT.search(probe.output)
        ]
        if not failing:
            return None
        container, probe = failing[-1]

        missing = _MISSING_PROGRAM.search(probe.output)
        if probe.exit_code == 127 or missing is not None:
            program = None
            if missing is not None:
                program = missing.group("exec") or missing.group("shell")
            program = program or (spec.argv[0] if spec.argv else None)
            return ProbeFault("missing_program", probe, container, 0.9, program=program)

        url = _URL.search(spec.command)
        if url is None:
            return None
        port = (
            int(url.group("port"))
            if url.group("port")
            else (443 if url.group("scheme") == "https" else 80)
        )
        path = url.group("path") or "/"
        bound = {b.port for b in binds_of(context, service)}
        if _REFUSED.search(probe.output):
            if port in bound:
                return None
            has_source = bool(context.evidence.sources_of(service))
            confidence = 0.85 if bound or has_source else 0.55
            return ProbeFault("unserved_port", probe, container, confidence, port=port, path=path)
        if _NOT_FOUND.search(probe.output):
            if path in served_routes(context.evidence, service):
                return None
            return ProbeFault("unserved_path", probe, container, 0.8, port=port, path=path)
        return None

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        spec: HealthcheckSpec,
        fault: ProbeFault | None,
        vacuous: str | None,
    ) -> Finding:
        evidence = context.evidence
        refs: list[EvidenceRef] = []
        if spec.origin == "compose":
            refs.append(compose_ref(evidence, service, "healthcheck"))
        else:
            refs.append(EvidenceRef("state", service, f"healthcheck test: {spec.test}"))
        failures = 0
        for container in sorted(evidence.containers_of(service), key=lambda c: c.name):
            failing = [p for p in container.health_log if p.exit_code != 0]
            failures += len(failing)
            if failing:
                refs.append(health_ref(container, failing[-1]))

        replacement = self._replacement(context, service, spec)
        kind = fault.kind if fault is not None else "vacuous"
        facts: dict[str, Any] = {
            "kind": kind,
            "probe": spec.quoted_command,
            "probe_output": _last_line(fault.probe.output) if fault is not None else vacuous,
            "port": fault.port if fault is not None else None,
            "path": fault.path if fault is not None else None,
            "program": fault.program if fault is not None else None,
            "failures": failures,
            "replacement": replacement.get("source") if replacement else None,
        }
        facts["kind_part"] = summary_part(
            f"HEALTHCHECK_MISCONFIGURED.summary.{kind}",
            port=facts["port"],
            path=facts["path"],
            program=facts["program"],
        )
        if replacement is not None:
            facts["proposed_test"] = replacement["test"]
        finding = new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.COMPOSE if replacement else Fixability.HUMAN,
            # A vacuous test is certain from its text; 0.7 leaves room for a
            # check that is vacuous on purpose (a sidecar with nothing to probe).
            confidence=fault.confidence if fault is not None else 0.7,
            facts=facts,
            evidence=refs,
            recommendation=self._recommendation(service, facts, replacement),
        )
        if replacement is not None:
            propose(
                context,
                finding,
                title=f"Replace the health check of {service} with {replacement['source']}",
                rationale=self._rationale(service, facts, replacement),
                edit=ComposeEdit("set_healthcheck", service, replacement),
            )
        return finding

    def _replacement(
        self, context: AnalysisContext, service: str, current: HealthcheckSpec
    ) -> dict[str, Any] | None:
        """Return set_healthcheck params for a probe that tests the service, or None."""
        from_image = self._image_healthcheck(context.evidence, service)
        if (
            from_image is not None
            and from_image["test"] != current.test
            and vacuous_reason(from_image["test"]) is None
        ):
            return from_image
        from_routes = self._http_healthcheck(context, service, current)
        if from_routes is not None:
            return from_routes
        return self._corrected_probe(context, service, current)

    def _corrected_probe(
        self, context: AnalysisContext, service: str, current: HealthcheckSpec
    ) -> dict[str, Any] | None:
        """Return the current HTTP probe with only its fault removed, or None.

        The probe's URL names what its author meant to test. A missing program
        is replaced by one the image has: Python's urllib on Python images,
        node on Node images, busybox wget on Alpine. A wrong port is replaced
        by the one port the service announces for HTTP.
        """
        evidence = context.evidence
        fault = self._probe_fault(context, service, current)
        url = _URL.search(current.command)
        if fault is None or url is None:
            return None
        port = int(url.group("port")) if url.group("port") else 80
        path = url.group("path") or "/"
        host = url.group("host")
        program = fault.program if fault.kind == "missing_program" else None
        if fault.kind == "unserved_port":
            http_ports = sorted(
                {
                    b.port
                    for b in binds_of(context, service)
                    if scheme_family(b.scheme) in ("http", None)
                }
            )
            if len(http_ports) != 1:
                return None
            port = http_ports[0]
            source = f"the current probe on port {port}, where {service} listens"
        elif fault.kind == "missing_program":
            source = f"the same URL, fetched with a program the image has instead of {program}"
        else:
            return None
        target = f"http://{host}:{port}{path}"
        test = self._fetch_command(
            evidence, service, target, keep=current if program is None else None
        )
        if test is None or test == current.test:
            return None
        return {
            "test": test,
            "interval": format_duration(current.interval, DOCKER_DEFAULT_INTERVAL),
            "timeout": format_duration(current.timeout, DOCKER_DEFAULT_TIMEOUT),
            "retries": current.retries or DOCKER_DEFAULT_RETRIES,
            "start_period": format_duration(current.start_period, DOCKER_DEFAULT_START_PERIOD),
            "source": source,
        }

    @staticmethod
    def _fetch_command(
        evidence: Evidence, service: str, url: str, keep: HealthcheckSpec | None
    ) -> list[str] | None:
        """Return a probe that fetches `url`: the current command with the URL swapped, or a new one."""
        if keep is not None:
            found = _URL.search(keep.command)
            if found is not None:
                return [part.replace(found.group(0), url) for part in keep.test]
        if python_based(evidence, service):
            return [
                "CMD",
                "python",
                "-c",
                f"import urllib.request; urllib.request.urlopen('{url}', timeout=3)",
            ]
        image = " ".join(
            [str(evidence.services.get(service, {}).get("image") or "")]
            + [c.image for c in evidence.containers_of(service)]
        ).lower()
        if "node" in image:
            return [
                "CMD",
                "node",
                "-e",
                (
                    f"require('http').get('{url}', r => process.exit(r.statusCode < 400 ? 0 : 1))"
                    ".on('error', () => process.exit(1))"
                ),
            ]
        if "alpine" in image or "busybox" in image:
            return ["CMD", "wget", "-q", "-O", "/dev/null", url]
        return None

    @staticmethod
    def _image_healthcheck(evidence: Evidence, service: str) -> dict[str, Any] | None:
        dockerfile = build_dockerfile(evidence, service)
        if dockerfile is None:
            return None
        declared = lookup.image_healthcheck(dockerfile.text)
        if not declared:
            return None
        test = normalize_test(declared.get("test"))
        if not test or test[0] == "NONE":
            return None
        line = lookup.healthcheck_line(dockerfile.text)
        retries = declared.get("retries")
        return {
            "test": test,
            "interval": str(declared.get("interval") or DOCKER_DEFAULT_INTERVAL),
            "timeout": str(declared.get("timeout") or DOCKER_DEFAULT_TIMEOUT),
            "retries": int(str(retries)) if retries is not None else DOCKER_DEFAULT_RETRIES,
            "start_period": str(declared.get("start_period") or DOCKER_DEFAULT_START_PERIOD),
            "source": f"{dockerfile.path}:{line} HEALTHCHECK",
        }

    @staticmethod
    def _http_healthcheck(
        context: AnalysisContext, service: str, current: HealthcheckSpec
    ) -> dict[str, Any] | None:
        evidence = context.evidence
        http_ports = [
            b.port for b in binds_of(context, service) if scheme_family(b.scheme) == "http"
        ]
        routes = [r for r in served_routes(evidence, service) if _HEALTHY_PATH.search(r)]
        if not http_ports or not routes:
            return None
        route = "/health" if "/health" in routes else routes[0]
        url = f"http://localhost:{http_ports[0]}{route}"
        if python_based(evidence, service):
            test = [
                "CMD",
                "python",
                "-c",
                f"import urllib.request; urllib.request.urlopen('{url}', timeout=3)",
            ]
        else:
            test = ["CMD", "wget", "-q", "-O", "/dev/null", url]
        if test == current.test:
            return None
        return {
            "test": test,
            "interval": format_duration(current.interval, DOCKER_DEFAULT_INTERVAL),
            "timeout": format_duration(current.timeout, DOCKER_DEFAULT_TIMEOUT),
            "retries": current.retries or DOCKER_DEFAULT_RETRIES,
            "start_period": format_duration(current.start_period, DOCKER_DEFAULT_START_PERIOD),
            "source": f"GET {route} on port {http_ports[0]} served by {service}",
        }

    @staticmethod
    def _rationale(service: str, facts: dict[str, Any], replacement: dict[str, Any]) -> Message:
        if facts["kind"] == "unserved_port":
            problem = advice(
                "HEALTHCHECK_MISCONFIGURED.problem.unserved_port",
                service=service,
                port=facts["port"],
            )
        elif facts["kind"] == "unserved_path":
            problem = advice(
                "HEALTHCHECK_MISCONFIGURED.problem.unserved_path",
                service=service,
                path=facts["path"],
            )
        elif facts["kind"] == "missing_program":
            problem = advice(
                "HEALTHCHECK_MISCONFIGURED.problem.missing_program", program=facts["program"]
            )
        else:
            problem = advice(
                "HEALTHCHECK_MISCONFIGURED.problem.other", probe_output=facts["probe_output"]
            )
        return advice(
            "HEALTHCHECK_MISCONFIGURED.rationale",
            probe=facts["probe"],
            problem=problem,
            source=replacement["source"],
        )

    @staticmethod
    def _recommendation(
        service: str, facts: dict[str, Any], replacement: dict[str, Any] | None
    ) -> Message:
        if replacement is not None:
            command = HealthcheckSpec(test=replacement["test"]).quoted_command
            return advice(
                "HEALTHCHECK_MISCONFIGURED.recommendation.replace",
                source=replacement["source"],
                service=service,
                command=command,
            )
        return advice(
            "HEALTHCHECK_MISCONFIGURED.recommendation.write", service=service, probe=facts["probe"]
        )


# A probe under this timeout that times out is too tight for any real request.
TIGHT_TIMEOUT_SECONDS = 2.0
MIN_PROPOSED_TIMEOUT_SECONDS = 5.0
TIMEOUT_FACTOR = 3.0


class HealthcheckTimeout:
    """The health check's timeout is shorter than the probe needs.

    Symptom: probe output "Health check exceeded timeout (1s)" (exit code
    -1): some probes pass and others time out, or the timeout is so short
    (2 s or less) that an ordinary request cannot finish. A service that
    times out every probe with a generous timeout does not respond at all,
    and that is not this pattern.

    Remedy: keep the probe and raise `timeout` (the proposal is three times
    the current one, at least 5 s); keep `interval` at least as long.
    """

    code: ClassVar[str] = "HEALTHCHECK_TIMEOUT"
    summary: ClassVar[str] = "The health check times out before the probe can answer"
    category: ClassVar[Category] = Category.HEALTHCHECK
    reads: ClassVar[frozenset[str]] = frozenset({HEALTH_LOG, COMPOSE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        findings = []
        evidence = context.evidence
        for service in sorted(evidence.services):
            spec = effective_healthcheck(evidence, service)
            if spec is None:
                continue
            probes = [
                (container, probe)
                for container in sorted(evidence.containers_of(service), key=lambda c: c.name)
                for probe in container.health_log
            ]
            timed_out = [(c, p) for c, p in probes if _TIMED_OUT.search(p.output)]
            if not timed_out:
                continue
            passed = [(c, p) for c, p in probes if p.exit_code == 0]
            timeout = spec.timeout if spec.timeout is not None else 30.0
            if not passed and timeout > TIGHT_TIMEOUT_SECONDS:
                continue
            findings.append(self._finding(context, service, spec, timed_out, passed, timeout))
        return findings

    def _finding(
        self,
        context: AnalysisContext,
        service: str,
        spec: HealthcheckSpec,
        timed_out: list[tuple[ContainerEvidence, HealthProbe]],
        passed: list[tuple[ContainerEvidence, HealthProbe]],
        timeout: float,
    ) -> Finding:
        evidence = context.evidence
        proposed = max(MIN_PROPOSED_TIMEOUT_SECONDS, timeout * TIMEOUT_FACTOR)
        interval = max(spec.interval or 30.0, proposed)
        params: dict[str, Any] = {
            "test": spec.test,
            "interval": format_duration(interval, DOCKER_DEFAULT_INTERVAL),
            "timeout": format_duration(proposed, DOCKER_DEFAULT_TIMEOUT),
            "retries": spec.retries or DOCKER_DEFAULT_RETRIES,
            "start_period": format_duration(spec.start_period, DOCKER_DEFAULT_START_PERIOD),
            "source": f"the current probe with timeout {format_duration(proposed, '')}",
        }
        facts: dict[str, Any] = {
            "timeout": format_duration(timeout, DOCKER_DEFAULT_TIMEOUT),
            "timed_out": len(timed_out),
            "passed": len(passed),
            "proposed_timeout": params["timeout"],
            "probe": spec.quoted_command,
        }
        refs: list[EvidenceRef] = []
        if spec.origin == "compose":
            refs.append(compose_ref(evidence, service, "healthcheck"))
        refs.extend(health_ref(c, p) for c, p in timed_out[-2:])
        if passed:
            refs.append(health_ref(*passed[-1]))
        finding = new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.COMPOSE,
            confidence=0.85 if passed else 0.7,
            facts=facts,
            evidence=refs,
            recommendation=advice(
                "HEALTHCHECK_TIMEOUT.recommendation",
                timed_out=len(timed_out),
                service=service,
                timeout=facts["timeout"],
                passed=(
                    advice("HEALTHCHECK_TIMEOUT.recommendation.passed", passed=len(passed))
                    if passed
                    else NO_TEXT
                ),
                proposed=params["timeout"],
            ),
        )
        propose(
            context,
            finding,
            title=f"Raise the health check timeout of {service} to {params['timeout']}",
            rationale=advice(
                "HEALTHCHECK_TIMEOUT.rationale", command=spec.command, timeout=facts["timeout"]
            ),
            edit=ComposeEdit("set_healthcheck", service, params),
        )
        return finding
