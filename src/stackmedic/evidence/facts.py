"""Facts read out of a service's source code by static analysis.

`stackmedic.analysis.source` produces them; patterns read them. They live
beside the evidence model because they are evidence too: what the code reads
from the environment, which endpoints it binds and connects to, where it logs
a given message, and which calls can block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass
class EnvRead:
    """A read of an environment variable, with its in-code default if any."""

    service: str
    variable: str
    default: str | None
    path: str
    line: int
    required: bool = False
    function: str | None = None


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
    function: str | None = None


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


class MethodSignature(NamedTuple):
    """A method's parameter list as written (`name(self, x: int = 1) -> str`) and its line."""

    signature: str
    line: int


@dataclass
class ClassInfo:
    """A Python class: where it is defined, its methods and the attributes it assigns.

    `attributes` maps each class-body name and each `self.<name> = ...` target to
    the line of its first assignment. `bases` are the base classes as written.
    """

    path: str
    line: int
    methods: dict[str, MethodSignature] = field(default_factory=dict)
    service: str = ""
    name: str = ""
    bases: list[str] = field(default_factory=list)
    attributes: dict[str, int] = field(default_factory=dict)
    end_line: int | None = None


@dataclass
class TableSchema:
    """A table created by a `CREATE TABLE` statement in a .sql file or a Python string.

    `column_types` maps each column to its declared type as written ("" when none).
    """

    name: str
    columns: list[str]
    path: str
    line: int
    service: str = ""
    column_types: dict[str, str] = field(default_factory=dict)


@dataclass
class KeyUse:
    """A lookup of a literal key: `x["key"]` (kind "subscript") or `x.get("key")`/`x.pop("key")`."""

    service: str
    path: str
    line: int
    function: str | None
    key: str
    expression: str
    kind: str = "subscript"


@dataclass
class AttributeCall:
    """A method call `receiver.attribute(...)`, with the receiver as source text."""

    service: str
    path: str
    line: int
    function: str | None
    receiver: str
    attribute: str
    expression: str


@dataclass
class ImageEnv:
    """A variable a service's Dockerfile sets with ENV (set in the container) or ARG.

    ARG values exist only while the image builds. A container gets them only when
    an ENV line copies them, so only `instruction == "ENV"` reaches the process.
    """

    service: str
    variable: str
    value: str | None
    path: str
    line: int
    instruction: str = "ENV"


@dataclass
class SourceFacts:
    """All facts found in the build contexts of a project."""

    env_reads: list[EnvRead] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    log_sites: list[LogCallSite] = field(default_factory=list)
    blocking_calls: list[BlockingCall] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # One entry per name, the first definition found; `class_definitions` keeps
    # every definition with its service, as does `table_definitions`.
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    class_definitions: list[ClassInfo] = field(default_factory=list)
    tables: dict[str, TableSchema] = field(default_factory=dict)
    table_definitions: list[TableSchema] = field(default_factory=list)
    key_uses: list[KeyUse] = field(default_factory=list)
    attribute_calls: list[AttributeCall] = field(default_factory=list)
    image_env: list[ImageEnv] = field(default_factory=list)

    def env_reads_of(self, service: str) -> list[EnvRead]:
        return [r for r in self.env_reads if r.service == service]

    def endpoints_of(self, service: str, role: str | None = None) -> list[Endpoint]:
        return [
            e for e in self.endpoints if e.service == service and (role is None or e.role == role)
        ]

    def classes_of(self, service: str) -> dict[str, ClassInfo]:
        """Return a service's classes by name; the first definition wins on a clash."""
        found: dict[str, ClassInfo] = {}
        for info in self.class_definitions:
            if info.service == service:
                found.setdefault(info.name, info)
        return found

    def tables_of(self, service: str) -> dict[str, TableSchema]:
        """Return a service's tables by name; the first definition wins on a clash."""
        found: dict[str, TableSchema] = {}
        for table in self.table_definitions:
            if table.service == service:
                found.setdefault(table.name, table)
        return found

    def image_env_of(self, service: str) -> dict[str, ImageEnv]:
        """Return the ENV variables of a service's Dockerfile (final stage), by name."""
        return {
            item.variable: item
            for item in self.image_env
            if item.service == service and item.instruction == "ENV"
        }
