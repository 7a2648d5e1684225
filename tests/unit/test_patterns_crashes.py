"""Crash patterns of Node.js, Java and Go services, located in project files."""

from __future__ import annotations

from evidence_builders import container, evidence, logs, run

from stackmedic.evidence.model import SourceFile
from stackmedic.patterns.crashes import GoPanic, JavaException, NodeException, NodeModuleNotFound

NODE_SOURCES = [
    SourceFile(
        "api", "Dockerfile", 'FROM node:20\nWORKDIR /app\nCOPY . .\nCMD ["node", "src/server.js"]\n'
    ),
    SourceFile("api", "src/server.js", "const x = 1;\n" * 30),
]


def node(*lines: str, **services: object) -> object:
    config = {"api": {"build": {"context": ".", "dockerfile": "Dockerfile"}, **services}}
    return evidence(config, [container("p-api-1", "api", lines=logs(*lines))], NODE_SOURCES)


# --- NODE_MODULE_NOT_FOUND ------------------------------------------------------------


def test_missing_package_recommends_install() -> None:
    built = node("Error: Cannot find module 'express'", "Require stack:", "- /app/src/server.js")
    [finding] = run(NodeModuleNotFound(), built)

    assert finding.facts["module"] == "express"
    assert finding.facts["local"] is False
    assert finding.facts["hidden_by_mount"] is None
    assert finding.location is not None
    assert finding.location.path == "src/server.js"
    assert "package.json" in finding.recommendation


def test_bind_mount_over_app_folder_is_named() -> None:
    built = node(
        "Error: Cannot find module 'express'",
        "Require stack:",
        "- /app/src/server.js",
        volumes=[{"type": "bind", "source": ".", "target": "/app"}],
    )
    [finding] = run(NodeModuleNotFound(), built)

    assert finding.facts["hidden_by_mount"] == "/app"
    assert "/app/node_modules" in finding.recommendation


def test_volume_for_node_modules_clears_the_mount_suspicion() -> None:
    built = node(
        "Error: Cannot find module 'express'",
        volumes=[".:/app", "/app/node_modules"],
    )
    [finding] = run(NodeModuleNotFound(), built)

    assert finding.facts["hidden_by_mount"] is None


def test_esm_package_and_local_file() -> None:
    built = node(
        "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'zod' imported from /app/src/server.js",
        "Error: Cannot find module './config'",
    )
    modules = {f.facts["module"]: f.facts["local"] for f in run(NodeModuleNotFound(), built)}

    assert modules == {"zod": False, "./config": True}


# --- NODE_EXCEPTION --------------------------------------------------------------------


def test_uncaught_type_error_is_located() -> None:
    built = node(
        "TypeError: Cannot read properties of undefined (reading 'id')",
        "    at handler (/app/src/server.js:12:9)",
        "    at Layer.handle (/app/node_modules/express/lib/router/layer.js:95:5)",
    )
    [finding] = run(NodeException(), built)

    assert finding.facts["exception_type"] == "TypeError"
    assert finding.location is not None
    assert (finding.location.path, finding.location.line) == ("src/server.js", 12)


def test_unhandled_rejection_without_stack_is_reported() -> None:
    built = node(
        "[UnhandledPromiseRejection: This error originated either by throwing inside of an async"
        ' function without a catch block. The promise rejected with the reason "quota exceeded".]'
        " { code: 'ERR_UNHANDLED_REJECTION' }"
    )
    [finding] = run(NodeException(), built)

    assert finding.facts["message"] == "quota exceeded"
    assert finding.facts["unhandled_rejection"] is True


def test_connection_errors_and_missing_modules_are_left_to_their_patterns() -> None:
    built = node(
        "Error: connect ECONNREFUSED 127.0.0.1:5432",
        "    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1595:16)",
        "Error: Cannot find module 'pg'",
        "    at Module._resolveFilename (node:internal/modules/cjs/loader:1144:15)",
    )

    assert run(NodeException(), built) == []


# --- JAVA_EXCEPTION --------------------------------------------------------------------

JAVA_SOURCES = [
    SourceFile("svc", "src/main/java/com/example/Settings.java", "class Settings {}\n" * 60),
]


def java(*lines: str) -> object:
    return evidence({"svc": {}}, [container("p-svc-1", "svc", lines=logs(*lines))], JAVA_SOURCES)


def test_last_caused_by_is_reported_at_its_project_frame() -> None:
    built = java(
        'Exception in thread "main" java.lang.IllegalStateException: invalid configuration',
        "\tat com.example.Settings.load(Settings.java:31)",
        'Caused by: java.lang.NumberFormatException: For input string: "5m"',
        "\tat java.base/java.lang.Long.parseLong(Long.java:709)",
        "\tat com.example.Settings.ttl(Settings.java:44)",
        "\t... 1 more",
    )
    [finding] = run(JavaException(), built)

    assert finding.facts["exception_type"] == "java.lang.NumberFormatException"
    assert finding.location is not None
    assert (finding.location.path, finding.location.line) == (
        "src/main/java/com/example/Settings.java",
        44,
    )


def test_java_connection_refused_is_left_to_connection_patterns() -> None:
    built = java(
        "org.postgresql.util.PSQLException: Connection to db:5432 refused.",
        "\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java:342)",
        "Caused by: java.net.ConnectException: Connection refused",
        "\tat java.base/sun.nio.ch.Net.connect0(Native Method)",
        "\tat java.base/java.net.Socket.connect(Socket.java:751)",
    )

    assert run(JavaException(), built) == []


# --- GO_PANIC ----------------------------------------------------------------------------


def test_panic_located_in_innermost_project_frame() -> None:
    built = evidence(
        {"rl": {}},
        [
            container(
                "p-rl-1",
                "rl",
                lines=logs(
                    "panic: assignment to entry in nil map",
                    "",
                    "goroutine 34 [running]:",
                    "example.test/rl/internal/bucket.(*Store).Take(0xc0000a6000)",
                    "\t/build/internal/bucket/store.go:41 +0x1a5",
                    "net/http.HandlerFunc.ServeHTTP(0x0)",
                    "\t/usr/local/go/src/net/http/server.go:2166 +0x29",
                ),
            )
        ],
        [SourceFile("rl", "internal/bucket/store.go", "package bucket\n" * 50)],
    )
    [finding] = run(GoPanic(), built)

    assert finding.facts["message"] == "assignment to entry in nil map"
    assert finding.location is not None
    assert (finding.location.path, finding.location.line) == ("internal/bucket/store.go", 41)


def test_panic_on_lookup_failure_is_left_to_connection_patterns() -> None:
    built = evidence(
        {"rl": {}},
        [
            container(
                "p-rl-1",
                "rl",
                lines=logs(
                    "panic: dial tcp: lookup db on 127.0.0.11:53: no such host",
                    "",
                    "goroutine 1 [running]:",
                    "main.main()",
                    "\t/src/main.go:9 +0x1",
                ),
            )
        ],
    )

    assert run(GoPanic(), built) == []
