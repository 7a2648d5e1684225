"""Facts read out of a service's source code by static analysis.

`stackmedic.analysis.source` produces them; patterns read them. They live
beside the evidence model because they are evidence too: what the code reads
from the environment, which endpoints it binds and connects to, where it logs
a given message, and which calls can block.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EnvRead:
    """A read of an environment variable, with its in-code default if any."""

    service: str
    variable: str
    default: str | None
    path: str
    line: int
    required: bool = False


@dataclass
class Endpoint:
    """A socket endpoint the code binds or connects to.

    `role` is "bind" or "connect". `host` and `port` hold the resolved values
    when they are literals or come from an environment variable's default;
    `host_variable` and `port_variable` name those variables, so a compose
    `environment` entry can override the default.
    """

    service: str
    role: str
    scheme: str
    host: str | None
    port: int | None
    path: str
    line: int
    host_variable: str | None = None
    port_variable: str | None = None
    expression: str = ""


@dataclass
class LogCallSite:
    """A logging call whose message text is known statically."""

    service: str
    level: str
    message: str
    path: str
    line: int
    function: str | None = None


@dataclass
class BlockingCall:
    """A call that can wait forever (receive without timeout, connect, get)."""

    service: str
    call: str
    path: str
    line: int
    function: str | None = None
    reason: str = ""


@dataclass
class SourceFacts:
    """All facts found in the build contexts of a project."""

    env_reads: list[EnvRead] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    log_sites: list[LogCallSite] = field(default_factory=list)
    blocking_calls: list[BlockingCall] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def env_reads_of(self, service: str) -> list[EnvRead]:
        return [r for r in self.env_reads if r.service == service]

    def endpoints_of(self, service: str, role: str | None = None) -> list[Endpoint]:
        return [
            e for e in self.endpoints if e.service == service and (role is None or e.role == role)
        ]
