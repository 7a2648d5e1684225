"""Patterns of database and cache servers that refuse a client's credentials, names or data.

The clients' errors are public and stable (libpq, the MySQL protocol, Redis
replies), and so are the images' settings: POSTGRES_USER, POSTGRES_DB,
MYSQL_DATABASE, `--requirepass`. Each pattern compares the client's request
with what the server was configured to create, and names the side to
change. A data volume initialised by an earlier run keeps its users and
databases whatever the environment says now; the official images print
"Skipping initialization" in that case, and no compose edit can help then.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, ClassVar

from stackmedic.evidence.model import ContainerEvidence, Evidence, LogLine
from stackmedic.i18n import Message, message
from stackmedic.model import Category, ComposeEdit, EvidenceRef, Finding, Fixability
from stackmedic.patterns import lookup
from stackmedic.patterns.base import COMPOSE, LOG, SOURCE, STATE, AnalysisContext
from stackmedic.patterns.common import (
    NO_TEXT,
    advice,
    candidate_lines,
    compose_environment,
    compose_ref,
    compose_value,
    containers_by_service,
    depends_on_conditions,
    either,
    log_ref,
    new_finding,
    propose,
    sentences,
)
from stackmedic.patterns.connections import EnvAddress, connection_target, env_addresses
from stackmedic.patterns.endpoints import service_for_host
from stackmedic.patterns.images import service_image, service_kind
from stackmedic.patterns.runtime import mount_for
from stackmedic.redact import MASK

MAX_CITED_LINES = 3
# The official images print this when the data directory already contains a database.
_ALREADY_INITIALISED = re.compile(
    r"Skipping initialization|Database directory appears to contain a database|"
    r"data directory .* is not empty|--initialize specified but the data directory has files",
    re.IGNORECASE,
)


@dataclass
class Hit:
    container: ContainerEvidence
    line: LogLine
    match: re.Match[str]


def _hits(evidence: Evidence, service: str, pattern: re.Pattern[str]) -> list[Hit]:
    found = []
    for container in sorted(evidence.containers_of(service), key=lambda c: c.name):
        for index in candidate_lines(container, pattern):
            line = container.logs[index]
            match = pattern.search(line.text)
            if match is not None:
                found.append(Hit(container, line, match))
    return found


def _refs(hits: list[Hit]) -> list[EvidenceRef]:
    return [log_ref(hit.container, hit.line) for hit in hits[:MAX_CITED_LINES]]


def database_server(
    evidence: Evidence, client: str, kinds: tuple[str, ...], hits: list[Hit]
) -> tuple[str | None, EnvAddress | None]:
    """Return the server a client's failing connection goes to, and the env value naming it.

    The host the error names wins; else the client's one environment address
    of the protocol; else the project's one service of that protocol.
    """
    addresses = [a for a in env_addresses(evidence, client) if a.protocol in kinds]
    for hit in hits:
        target = connection_target(hit.line.text)
        if target is not None:
            server = service_for_host(evidence, target[0])
            if server is not None and server != client:
                address = next((a for a in addresses if a.host == target[0]), None)
                return server, address
    for address in addresses:
        server = service_for_host(evidence, address.host)
        if server is not None and server != client:
            return server, address
    servers = [
        s for s in sorted(evidence.services) if s != client and service_kind(evidence, s) in kinds
    ]
    if len(servers) == 1:
        return servers[0], addresses[0] if addresses else None
    return None, addresses[0] if addresses else None


def already_initialised(evidence: Evidence, server: str | None) -> list[Hit]:
    if server is None:
        return []
    return _hits(evidence, server, _ALREADY_INITIALISED)


# --- credentials -----------------------------------------------------------------


_USER_VARIABLES = (
    "DB_USER",
    "DATABASE_USER",
    "DB_USERNAME",
    "DATABASE_USERNAME",
    "POSTGRES_USER",
    "PGUSER",
    "MYSQL_USER",
    "SQL_USER",
)
_PASSWORD_VARIABLES = (
    "DB_PASSWORD",
    "DATABASE_PASSWORD",
    "DB_PASS",
    "POSTGRES_PASSWORD",
    "PGPASSWORD",
    "MYSQL_PASSWORD",
    "SQL_PASSWORD",
)
_NAME_VARIABLES = (
    "DB_NAME",
    "DATABASE_NAME",
    "DB_DATABASE",
    "POSTGRES_DB",
    "PGDATABASE",
    "MYSQL_DATABASE",
    "SQL_DATABASE",
)


@dataclass
class ClientSettings:
    """The user, password and database a client is configured with, and where each is set."""

    user: str | None = None
    user_variable: str | None = None
    password: str | None = None
    password_variable: str | None = None
    database: str | None = None
    database_variable: str | None = None
    url: EnvAddress | None = None


def client_settings(evidence: Evidence, client: str, address: EnvAddress | None) -> ClientSettings:
    settings = ClientSettings(url=address if address is not None and address.url else None)
    if settings.url is not None:
        parts = urllib.parse.urlsplit(settings.url.value)
        if parts.username:
            settings.user = urllib.parse.unquote(parts.username)
            settings.user_variable = settings.url.variable
        if parts.password is not None:
            settings.password = urllib.parse.unquote(parts.password)
            settings.password_variable = settings.url.variable
        database = parts.path.lstrip("/").split("?")[0]
        if database:
            settings.database = database
            settings.database_variable = settings.url.variable
    environment = compose_environment(evidence, client)
    for names, attribute in (
        (_USER_VARIABLES, "user"),
        (_PASSWORD_VARIABLES, "password"),
        (_NAME_VARIABLES, "database"),
    ):
        if getattr(settings, attribute) is not None:
            continue
        for name in names:
            if environment.get(name) is not None:
                setattr(settings, attribute, environment[name])
                setattr(settings, f"{attribute}_variable", name)
                break
    return settings


@dataclass
class ServerSettings:
    user: str | None
    user_explicit: bool
    password: str | None
    password_variable: str | None
    database: str | None
    database_explicit: bool
    database_variable: str | None


def server_settings(evidence: Evidence, server: str) -> ServerSettings:
    kind = service_kind(evidence, server)
    value = lambda name: compose_value(evidence, server, name)
    if kind == "mysql":
        user = value("MYSQL_USER") or value("MARIADB_USER")
        password_variable = "MYSQL_PASSWORD" if user else "MYSQL_ROOT_PASSWORD"
        database = value("MYSQL_DATABASE") or value("MARIADB_DATABASE")
        return ServerSettings(
            user or "root",
            user is not None,
            value(password_variable),
            password_variable,
            database,
            database is not None,
            "MYSQL_DATABASE",
        )
    user = value("POSTGRES_USER")
    database = value("POSTGRES_DB")
    return ServerSettings(
        user or "postgres",
        user is not None,
        value("POSTGRES_PASSWORD"),
        "POSTGRES_PASSWORD",
        database or user or "postgres",
        database is not None,
        "POSTGRES_DB",
    )


def _with_url_part(
    address: EnvAddress,
    *,
    user: str | None = None,
    password: str | None = None,
    database: str | None = None,
) -> str:
    """Return a URL value with its user, password or database path replaced."""
    parts = urllib.parse.urlsplit(address.value)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    name, colon, secret = userinfo.partition(":")
    if user is not None:
        name = urllib.parse.quote(user, safe="")
    if password is not None:
        secret = urllib.parse.quote(password, safe="")
        colon = ":"
    userinfo = name + (colon + secret if colon else "")
    netloc = f"{userinfo}@{hosts}" if userinfo else hosts
    path = "/" + database if database is not None else parts.path
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, path=path))


_AUTH_FAILED = re.compile(
    r'password authentication failed for user "(?P<pg_user>[^"]+)"|'
    r'role "(?P<pg_role>[^"]+)" does not exist|'
    r"Access denied for user '(?P<my_user>[^']*)'@'[^']*'(?: \(using password: (?P<using>YES|NO)\))?|"
    r"(?P<mongo>MongoServerError: Authentication failed|SCRAM authentication failed|"
    r"Authentication failed\.? ?\(?code 18)",
)


class DatabaseAuthFailed:
    """A database server rejects the client's user or password.

    Symptom: `password authentication failed for user "app"`, `role "app"
    does not exist` (PostgreSQL), `Access denied for user 'app'@'172.18.0.3'
    (using password: YES)` (MySQL), "Authentication failed" (MongoDB).

    Remedy: make the client's credentials match the server's. When compose
    gives the client a different user or password than the server's
    POSTGRES_USER/POSTGRES_PASSWORD (MYSQL_USER/MYSQL_PASSWORD), the client's
    value is changed. When they match, the data volume was initialised
    earlier with other credentials, and the server logged "Skipping
    initialization". The environment no longer applies then: change the
    password inside the database (ALTER USER), or recreate the volume if
    its data can be lost. No edit is proposed.
    """

    code: ClassVar[str] = "DB_AUTH_FAILED"
    summary: ClassVar[str] = "The database rejects the client's user or password"
    category: ClassVar[Category] = Category.CONFIGURATION
    reads: ClassVar[frozenset[str]] = frozenset({LOG, COMPOSE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        evidence = context.evidence
        findings = []
        server_services = {
            s
            for s in evidence.services
            if service_kind(evidence, s) in ("postgresql", "mysql", "mongodb")
        }
        for service in sorted(containers_by_service(evidence)):
            hits = _hits(evidence, service, _AUTH_FAILED)
            if not hits:
                continue
            if service in server_services and self._clients_report(evidence, service):
                continue
            findings.append(self._finding(context, service, hits))
        return findings

    @staticmethod
    def _clients_report(evidence: Evidence, server: str) -> bool:
        """Tell whether some other service logs the same rejection (then it gets the finding)."""
        return any(
            _hits(evidence, other, _AUTH_FAILED) for other in evidence.services if other != server
        )

    def _finding(self, context: AnalysisContext, service: str, hits: list[Hit]) -> Finding:
        evidence = context.evidence
        first = hits[0].match
        user = first.group("pg_user") or first.group("pg_role") or first.group("my_user")
        server, address = database_server(
            evidence, service, ("postgresql", "mysql", "mongodb"), hits
        )
        if server == service:
            server, address = None, None
        client = client_settings(evidence, service, address)
        configured = server_settings(evidence, server) if server is not None else None
        initialised = already_initialised(evidence, server)

        kind, edit = self._diagnose(service, user, client, configured, initialised)
        facts: dict[str, Any] = {
            "user": user,
            "server_service": server,
            "server_user": configured.user if configured else None,
            "kind": kind,
            "initialised_earlier": bool(initialised),
            "occurrences": len(hits),
        }
        refs = _refs(hits)
        if server is not None:
            refs.append(compose_ref(evidence, server, "environment"))
            refs.extend(log_ref(h.container, h.line) for h in initialised[:1])
        if address is not None or client.user_variable or client.password_variable:
            refs.append(compose_ref(evidence, service, "environment"))

        finding = new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.COMPOSE if edit else Fixability.HUMAN,
            confidence=0.9 if kind != "unknown" else 0.75,
            facts=facts,
            evidence=refs,
            recommendation=self._advice(service, server, user, kind, client, configured),
        )
        if edit is not None:
            name, value, what = edit
            propose(
                context,
                finding,
                title=f"Give {service} the {what} {server} was configured with ({name})",
                rationale=advice(
                    "DB_AUTH_FAILED.rationale", server=server, what=what, service=service
                ),
                edit=ComposeEdit("set_env", service, {"name": name, "value": value}),
            )
        return finding

    @staticmethod
    def _diagnose(
        service: str,
        user: str | None,
        client: ClientSettings,
        server: ServerSettings | None,
        initialised: list[Hit],
    ) -> tuple[str, tuple[str, str, str] | None]:
        """Return the kind of mismatch and (variable, value, what) of the edit that removes it."""
        if server is None:
            return "unknown", None
        client_user = client.user or user
        if server.user_explicit and client_user is not None and client_user != server.user:
            assert server.user is not None
            if client.user_variable is None:
                return "user_mismatch", None
            if client.url is not None and client.user_variable == client.url.variable:
                return "user_mismatch", (
                    client.user_variable,
                    _with_url_part(client.url, user=server.user),
                    "user",
                )
            return "user_mismatch", (client.user_variable, server.user, "user")
        secrets_known = (
            client.password is not None
            and server.password is not None
            and MASK not in (client.password, server.password)
        )
        if secrets_known and client.password != server.password:
            assert server.password is not None
            if client.password_variable is None:
                return "password_mismatch", None
            if client.url is not None and client.password_variable == client.url.variable:
                value = _with_url_part(client.url, password=server.password)
                return "password_mismatch", (client.password_variable, value, "password")
            return "password_mismatch", (client.password_variable, server.password, "password")
        if initialised:
            return "initialised_earlier", None
        return "unknown", None

    @staticmethod
    def _advice(
        service: str,
        server: str | None,
        user: str | None,
        kind: str,
        client: ClientSettings,
        configured: ServerSettings | None,
    ) -> Message:
        peer = either(server, "DB_AUTH_FAILED.the_database")
        if kind == "user_mismatch" and configured is not None:
            return advice(
                "DB_AUTH_FAILED.recommendation.user_mismatch",
                service=service,
                client_user=client.user or user,
                peer=peer,
                server_user=configured.user,
                setting=either(client.user_variable, "DB_AUTH_FAILED.client_configuration"),
            )
        if kind == "password_mismatch":
            return advice(
                "DB_AUTH_FAILED.recommendation.password_mismatch",
                service=service,
                peer=peer,
                setting=(
                    configured.password_variable
                    if configured
                    else advice("DB_AUTH_FAILED.password_setting")
                ),
                variable=client.password_variable,
            )
        if kind == "initialised_earlier":
            return advice(
                "DB_AUTH_FAILED.recommendation.initialised_earlier",
                peer=peer,
                user=user or "...",
            )
        return advice(
            "DB_AUTH_FAILED.recommendation.rejected", peer=peer, user=user or "?", service=service
        )


_DATABASE_MISSING = re.compile(
    r'database "(?P<pg>[^"]+)" does not exist|Unknown database \'(?P<my>[^\']+)\''
)


class DatabaseMissing:
    """The client asks for a database that the server never created.

    Symptom: `FATAL: database "orders" does not exist` (PostgreSQL) or
    `Unknown database 'orders'` (MySQL). The images create one database on
    first start: POSTGRES_DB (default: the user name) or MYSQL_DATABASE.

    Remedy: when the server creates another database by name, point the
    client at it. When the server sets none, set POSTGRES_DB (MYSQL_DATABASE)
    to the client's name; that takes effect only on an empty data volume.
    A volume initialised earlier keeps its databases: create the database
    by hand (CREATE DATABASE).
    """

    code: ClassVar[str] = "DATABASE_MISSING"
    summary: ClassVar[str] = "The client asks for a database the server does not have"
    category: ClassVar[Category] = Category.CONFIGURATION
    reads: ClassVar[frozenset[str]] = frozenset({LOG, COMPOSE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        evidence = context.evidence
        findings = []
        for service in sorted(containers_by_service(evidence)):
            hits = _hits(evidence, service, _DATABASE_MISSING)
            if not hits:
                continue
            if service_kind(evidence, service) in ("postgresql", "mysql") and any(
                _hits(evidence, other, _DATABASE_MISSING)
                for other in evidence.services
                if other != service
            ):
                continue
            findings.append(self._finding(context, service, hits))
        return findings

    def _finding(self, context: AnalysisContext, service: str, hits: list[Hit]) -> Finding:
        evidence = context.evidence
        wanted = hits[0].match.group("pg") or hits[0].match.group("my")
        server, address = database_server(evidence, service, ("postgresql", "mysql"), hits)
        if server == service:
            server, address = None, None
        configured = server_settings(evidence, server) if server is not None else None
        client = client_settings(evidence, service, address)
        initialised = already_initialised(evidence, server)

        edit: ComposeEdit | None = None
        rationale: Message = NO_TEXT
        if (
            configured is not None
            and configured.database_explicit
            and configured.database != wanted
        ):
            if client.database_variable is not None:
                value = configured.database or ""
                if client.url is not None and client.database_variable == client.url.variable:
                    value = _with_url_part(client.url, database=configured.database)
                edit = ComposeEdit(
                    "set_env", service, {"name": client.database_variable, "value": value}
                )
                rationale = advice(
                    "DATABASE_MISSING.rationale.client",
                    server=server,
                    database=configured.database,
                    variable=configured.database_variable,
                    service=service,
                    wanted=wanted,
                )
        elif configured is not None and not configured.database_explicit and not initialised:
            assert server is not None
            edit = ComposeEdit(
                "set_env", server, {"name": configured.database_variable, "value": wanted}
            )
            rationale = advice(
                "DATABASE_MISSING.rationale.server",
                server=server,
                variable=configured.database_variable,
                database=configured.database,
                service=service,
                wanted=wanted,
            )

        facts: dict[str, Any] = {
            "database": wanted,
            "server_service": server,
            "server_database": configured.database if configured else None,
            "variable": client.database_variable,
            "initialised_earlier": bool(initialised),
            "occurrences": len(hits),
        }
        refs = _refs(hits)
        if server is not None:
            refs.append(compose_ref(evidence, server, "environment"))
            refs.extend(log_ref(h.container, h.line) for h in initialised[:1])
        if edit is not None:
            remedy = message(
                "patterns.sentences",
                first=rationale,
                rest=advice(
                    "DATABASE_MISSING.recommendation.set",
                    variable=edit.params["name"],
                    service=edit.service,
                ),
            )
        elif initialised:
            remedy = advice(
                "DATABASE_MISSING.recommendation.initialised_earlier", server=server, wanted=wanted
            )
        else:
            remedy = advice(
                "DATABASE_MISSING.recommendation.create",
                wanted=wanted,
                server=either(server, "DATABASE_MISSING.the_server"),
                service=service,
            )
        finding = new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.COMPOSE if edit else Fixability.HUMAN,
            confidence=0.9 if server is not None else 0.75,
            facts=facts,
            evidence=refs,
            recommendation=remedy,
        )
        if edit is not None:
            propose(
                context,
                finding,
                title=f"Set {edit.params['name']} of {edit.service} to use the database that exists",
                rationale=rationale,
                edit=edit,
            )
        return finding


_INCOMPATIBLE = [
    re.compile(r"database files are incompatible with server"),
    re.compile(
        r"initialized by PostgreSQL version (?P<old>[\d.]+), which is not compatible with this"
        r" version (?P<new>[\d.]+)"
    ),
    re.compile(
        r"Cannot boot server version (?P<new>\d+) on data directory built by version (?P<old>\d+)"
    ),
    re.compile(r"Upgrade after a crash is not supported|Downgrade is not supported", re.IGNORECASE),
    re.compile(r"UPGRADE PROBLEM: Found an invalid featureCompatibilityVersion"),
]
_DATA_TARGETS = {
    "postgresql": "/var/lib/postgresql/data",
    "mysql": "/var/lib/mysql",
    "mongodb": "/data/db",
}


class DataDirIncompatible:
    """A database server refuses a data directory written by another major version.

    Symptom: "database files are incompatible with server" with "The data
    directory was initialized by PostgreSQL version 13, which is not
    compatible with this version 16.2"; MySQL's "Cannot boot server version
    80036 on data directory built by version 80100"; MongoDB's "UPGRADE
    PROBLEM". The image tag changed (often `postgres:latest`) while the data
    volume stayed.

    Remedy: pin the image to the version that wrote the data (the finding
    names it), then migrate deliberately: pg_upgrade or a dump and restore
    into a new volume. No edit is proposed, because changing the image or
    the volume decides what happens to the data.
    """

    code: ClassVar[str] = "DATA_DIR_INCOMPATIBLE"
    summary: ClassVar[str] = "The database's data files are from an incompatible version"
    category: ClassVar[Category] = Category.RUNTIME
    reads: ClassVar[frozenset[str]] = frozenset({LOG, COMPOSE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        evidence = context.evidence
        findings = []
        for service in sorted(containers_by_service(evidence)):
            hits: list[Hit] = []
            for pattern in _INCOMPATIBLE:
                hits.extend(_hits(evidence, service, pattern))
            if not hits:
                continue
            hits.sort(key=lambda h: (h.container.name, h.line.number))
            findings.append(self._finding(context, service, hits))
        return findings

    def _finding(self, context: AnalysisContext, service: str, hits: list[Hit]) -> Finding:
        evidence = context.evidence
        versions = next(
            (h.match for h in hits if "old" in h.match.groupdict() and h.match.group("old")), None
        )
        old = versions.group("old") if versions else None
        new = versions.group("new") if versions else None
        image = service_image(evidence, service)
        kind = service_kind(evidence, service)
        target = _DATA_TARGETS.get(kind or "", "")
        mount = mount_for(evidence, service, target) if target else None
        repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
        pinned = f"{repository}:{old.split('.')[0]}" if old and kind == "postgresql" else None
        facts: dict[str, Any] = {
            "old_version": old,
            "new_version": new,
            "image": image,
            "volume": mount[0] if mount else None,
            "pinned_image": pinned,
        }
        refs = _refs(hits)
        if mount is not None:
            refs.append(compose_ref(evidence, service, "volumes"))
        refs.append(compose_ref(evidence, service, "image"))
        remedy = advice(
            "DATA_DIR_INCOMPATIBLE.recommendation",
            volume=(
                advice("DATA_DIR_INCOMPATIBLE.in_volume", volume=mount[0]) if mount else NO_TEXT
            ),
            old_version=old or "?",
            image=either(image, "DATA_DIR_INCOMPATIBLE.the_image"),
            new_version=either(new, "DATA_DIR_INCOMPATIBLE.another_version"),
            pin=(
                advice("DATA_DIR_INCOMPATIBLE.pin_image", pinned=pinned)
                if pinned
                else advice("DATA_DIR_INCOMPATIBLE.pin_old")
            ),
        )
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.HUMAN,
            confidence=0.95 if old else 0.85,
            facts=facts,
            evidence=refs,
            recommendation=remedy,
        )


_TABLE_MISSING = re.compile(
    r'relation "(?P<pg>[^"]+)" does not exist|no such table: (?P<sqlite>[\w.]+)|'
    r"Table '(?:[^'.]+\.)?(?P<my>[^']+)' doesn't exist|"
    r"Invalid object name '(?P<mssql>[^']+)'"
)
_MIGRATION_COMMAND = re.compile(
    r"migrat|alembic\s+upgrade|flyway|liquibase|db:migrate|prisma\s+migrate|knex\s+migrate|"
    r"sequelize\s+db:migrate|goose\s+up|diesel\s+migration",
    re.IGNORECASE,
)


def migration_services(evidence: Evidence, exclude: str) -> list[str]:
    found = []
    for service, config in sorted(evidence.services.items()):
        if service == exclude or not isinstance(config, dict):
            continue
        command = config.get("command") or config.get("entrypoint") or ""
        text = (
            " ".join(str(part) for part in command) if isinstance(command, list) else str(command)
        )
        if _MIGRATION_COMMAND.search(service) or _MIGRATION_COMMAND.search(text):
            found.append(service)
    return found


class TableMissing:
    """The code queries a table that the database does not have: a migration did not run.

    Symptom: `relation "users" does not exist` (PostgreSQL), `no such table:
    users` (SQLite), `Table 'app.users' doesn't exist` (MySQL).

    Remedy: run the schema migrations before the service starts. A
    migration service is one named or commanded like `migrate`, `alembic
    upgrade`, `manage.py migrate` or flyway. When the project has one, the
    service must wait for it with `depends_on: {migrate: {condition:
    service_completed_successfully}}`, and that edit is proposed. Without one,
    the finding says which table is missing and whether the code creates it.
    """

    code: ClassVar[str] = "TABLE_MISSING"
    summary: ClassVar[str] = "The code queries a table the database does not have"
    category: ClassVar[Category] = Category.APPLICATION
    reads: ClassVar[frozenset[str]] = frozenset({LOG, COMPOSE, STATE, SOURCE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        evidence = context.evidence
        findings = []
        for service in sorted(containers_by_service(evidence)):
            hits = _hits(evidence, service, _TABLE_MISSING)
            if not hits:
                continue
            if service_kind(evidence, service) in ("postgresql", "mysql") and any(
                _hits(evidence, other, _TABLE_MISSING)
                for other in evidence.services
                if other != service
            ):
                continue
            groups: dict[str, list[Hit]] = {}
            for hit in hits:
                groups.setdefault(self._table(hit.match), []).append(hit)
            for table, group in sorted(groups.items()):
                findings.append(self._finding(context, service, table, group))
        return findings

    @staticmethod
    def _table(match: re.Match[str]) -> str:
        return next(v for v in match.groupdict().values() if v).split(".")[-1]

    def _finding(
        self, context: AnalysisContext, service: str, table: str, hits: list[Hit]
    ) -> Finding:
        evidence = context.evidence
        migrations = migration_services(evidence, service)
        conditions = depends_on_conditions(evidence, service)
        waiting = [m for m in migrations if conditions.get(m) != "service_completed_successfully"]
        created_in = next(
            (t for t in lookup.tables(context, service) if t.name.lower() == table.lower()), None
        )
        failed = [
            m
            for m in migrations
            if any(
                c.state == "exited" and c.exit_code not in (None, 0)
                for c in evidence.containers_of(m)
            )
        ]
        facts: dict[str, Any] = {
            "table": table,
            "migration_services": migrations,
            "failed_migrations": failed,
            "created_in_code": f"{created_in.path}:{created_in.line}"
            if created_in and created_in.path
            else None,
            "occurrences": len(hits),
        }
        refs = _refs(hits)
        if migrations:
            refs.append(compose_ref(evidence, service, "depends_on"))
        if failed:
            remedy = advice(
                "TABLE_MISSING.recommendation.failed", migrations=", ".join(failed), table=table
            )
        elif waiting:
            remedy = advice(
                "TABLE_MISSING.recommendation.waiting",
                service=service,
                migrations=", ".join(waiting),
            )
        elif migrations:
            remedy = advice(
                "TABLE_MISSING.recommendation.not_created",
                migrations=", ".join(migrations),
                table=table,
                service=service,
            )
        else:
            remedy = advice("TABLE_MISSING.recommendation.no_migrations", service=service)
        finding = new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.COMPOSE if waiting and not failed else Fixability.HUMAN,
            confidence=0.85,
            facts=facts,
            evidence=refs,
            recommendation=remedy,
        )
        if waiting and not failed:
            wanted = {m: "service_completed_successfully" for m in waiting}
            propose(
                context,
                finding,
                title=f"Start {service} after {', '.join(waiting)} completed",
                rationale=advice("TABLE_MISSING.rationale", service=service, table=table),
                edit=ComposeEdit("set_depends_on_conditions", service, {"conditions": wanted}),
            )
        return finding


_REDIS_AUTH = re.compile(
    r"(?P<required>NOAUTH Authentication required|Authentication required\.?$|"
    r"AuthenticationError: Authentication required)|"
    r"(?P<wrong>WRONGPASS invalid username-password pair|ERR invalid password|"
    r"invalid username-password pair)|"
    r"(?P<unset>AUTH <password> called without any password configured|"
    r"Client sent AUTH, but no password is set)"
)


class RedisAuthFailed:
    """Redis rejects the client: a password is required, wrong, or sent to a server without one.

    Symptom: "NOAUTH Authentication required", "WRONGPASS invalid
    username-password pair", "AUTH <password> called without any password
    configured".

    Remedy: give the client the password the server's `--requirepass` (or
    REDIS_PASSWORD) sets, usually inside REDIS_URL as
    `redis://:PASSWORD@redis:6379/0`; or drop the password from the client
    when the server sets none. No edit is proposed, because the value is a
    secret the evidence masks.
    """

    code: ClassVar[str] = "REDIS_AUTH_FAILED"
    summary: ClassVar[str] = "Redis rejects the client's authentication"
    category: ClassVar[Category] = Category.CONFIGURATION
    reads: ClassVar[frozenset[str]] = frozenset({LOG, COMPOSE})

    def match(self, context: AnalysisContext) -> list[Finding]:
        evidence = context.evidence
        findings = []
        for service in sorted(containers_by_service(evidence)):
            if service_kind(evidence, service) == "redis":
                continue
            hits = _hits(evidence, service, _REDIS_AUTH)
            if hits:
                findings.append(self._finding(context, service, hits))
        return findings

    def _finding(self, context: AnalysisContext, service: str, hits: list[Hit]) -> Finding:
        evidence = context.evidence
        first = hits[0].match
        if first.group("required"):
            kind = "required"
        elif first.group("wrong"):
            kind = "wrong"
        else:
            kind = "unset"
        server, address = database_server(evidence, service, ("redis",), hits)
        server_password = self._server_password(evidence, server) if server else None
        client_password = None
        if address is not None and address.url:
            client_password = urllib.parse.urlsplit(address.value).password
        facts: dict[str, Any] = {
            "kind": kind,
            "server_service": server,
            "server_requires_password": server_password,
            "variable": address.variable if address is not None else None,
            "client_sends_password": client_password is not None,
            "occurrences": len(hits),
        }
        where = (
            address.variable if address is not None else advice("REDIS_AUTH_FAILED.its_settings")
        )
        remedy = sentences(
            advice(
                f"REDIS_AUTH_FAILED.recommendation.{kind}",
                peer=server or "Redis",
                setting=server_password or "requirepass",
                service=service,
                where=where,
            ),
            advice("REDIS_AUTH_FAILED.recommendation.no_edit"),
        )
        refs = _refs(hits)
        if server is not None:
            refs.append(compose_ref(evidence, server, "command"))
        return new_finding(
            context,
            code=self.code,
            service=service,
            category=self.category,
            fixable_by=Fixability.HUMAN,
            confidence=0.9,
            facts=facts,
            evidence=refs,
            recommendation=remedy,
        )

    @staticmethod
    def _server_password(evidence: Evidence, server: str) -> str | None:
        """Return how the server sets its password (`--requirepass` or a variable), if it does."""
        command = evidence.services.get(server, {}).get("command") or []
        text = (
            " ".join(str(part) for part in command) if isinstance(command, list) else str(command)
        )
        if "--requirepass" in text or "requirepass" in text:
            return "--requirepass"
        for name in ("REDIS_PASSWORD", "REDIS_ARGS"):
            if compose_value(evidence, server, name):
                return name
        return None
