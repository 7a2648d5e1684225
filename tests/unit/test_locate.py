"""Locating code: container paths, stack traces, snippets and Dockerfile parsing."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stackmedic.analysis.dockerfile import (
    container_path_map,
    dockerfile_for,
    env_defaults,
    healthcheck_of,
    parse_dockerfile,
    parse_instructions,
)
from stackmedic.analysis.locate import (
    location_for,
    location_for_traceback,
    map_container_path,
    parse_go_panics,
    parse_java_stacks,
    parse_node_stacks,
    parse_python_traceback,
    parse_python_tracebacks,
    parse_tracebacks,
    snippet,
)
from stackmedic.evidence.model import Evidence, LogLine, SourceFile

FIXTURE = Path(__file__).parent / "fixtures" / "source" / "tacoreservice"


def evidence_with(
    files: dict[str, str],
    build: dict | str | None = None,
    service: str = "app",
    container_paths: dict[str, str] | None = None,
) -> Evidence:
    container_paths = container_paths or {}
    sources = [
        SourceFile(service, path, textwrap.dedent(text), container_paths.get(path))
        for path, text in files.items()
    ]
    definition = {} if build is None else {"build": build}
    return Evidence("demo", "/demo", [], {"services": {service: definition}}, sources=sources)


# --- container paths ---------------------------------------------------------------------


def sample_evidence() -> Evidence:
    files = sorted(path for path in FIXTURE.rglob("*") if path.is_file())
    sources = [
        SourceFile("tacoreservice-worker", path.relative_to(FIXTURE).as_posix(), path.read_text())
        for path in files
    ]
    build = {"context": "/demo", "dockerfile": "Dockerfile.worker"}
    config = {"services": {"tacoreservice-worker": {"build": build}}}
    return Evidence("demo", "/demo", [], config, sources=sources)


def test_sample_container_path_maps_through_workdir_and_copy() -> None:
    evidence = sample_evidence()
    found = map_container_path(evidence, "tacoreservice-worker", "/app/tacore/worker.py")
    assert found is not None
    assert found.path == "tacore/worker.py"


def test_sample_relative_path_is_taken_from_workdir() -> None:
    evidence = sample_evidence()
    found = map_container_path(evidence, "tacoreservice-worker", "tacore/worker_health.py")
    assert found is not None
    assert found.path == "tacore/worker_health.py"


MAP_CASES = [
    (
        "directory_copy_into_subcontext",
        {
            "svc/Dockerfile": "FROM python\nWORKDIR /srv\nCOPY src/ ./code/\n",
            "svc/src/app/main.py": "",
        },
        {"context": "/demo/svc"},
        "/srv/code/app/main.py",
        "svc/src/app/main.py",
    ),
    (
        "directory_without_trailing_slash",
        {"Dockerfile": "FROM python\nCOPY app /opt/app\n", "app/run.py": ""},
        {"context": "/demo"},
        "/opt/app/run.py",
        "app/run.py",
    ),
    (
        "file_into_directory",
        {
            "Dockerfile": "FROM python\nWORKDIR /app\nCOPY main.py requirements.txt ./\n",
            "main.py": "",
            "requirements.txt": "",
        },
        {"context": "/demo"},
        "/app/main.py",
        "main.py",
    ),
    (
        "file_renamed",
        {
            "Dockerfile": "FROM python\nCOPY scripts/start.sh /usr/local/bin/start\n",
            "scripts/start.sh": "",
        },
        {"context": "/demo"},
        "/usr/local/bin/start",
        "scripts/start.sh",
    ),
    (
        "glob_source",
        {"Dockerfile": "FROM python\nCOPY *.py /app/\n", "a.py": "", "b.py": ""},
        {"context": "/demo"},
        "/app/b.py",
        "b.py",
    ),
    (
        "later_copy_wins",
        {
            "Dockerfile": "FROM python\nCOPY old/ /app/\nCOPY new/ /app/\n",
            "old/main.py": "",
            "new/main.py": "",
        },
        {"context": "/demo"},
        "/app/main.py",
        "new/main.py",
    ),
    (
        "custom_dockerfile_name",
        {"docker/api.Dockerfile": "FROM python\nWORKDIR /w\nCOPY . .\n", "api/server.py": ""},
        {"context": "/demo", "dockerfile": "docker/api.Dockerfile"},
        "/w/api/server.py",
        "api/server.py",
    ),
    (
        "suffix_without_dockerfile",
        {"pkg/tasks/run.py": "", "pkg/other/run.py": ""},
        None,
        "/usr/src/app/tasks/run.py",
        "pkg/tasks/run.py",
    ),
    (
        "file_url_from_node",
        {"Dockerfile": "FROM node\nWORKDIR /app\nCOPY . .\n", "index.mjs": ""},
        {"context": "/demo"},
        "file:///app/index.mjs",
        "index.mjs",
    ),
]


@pytest.mark.parametrize(
    ("files", "build", "container_path", "expected"),
    [case[1:] for case in MAP_CASES],
    ids=[case[0] for case in MAP_CASES],
)
def test_map_container_path_table(
    files: dict[str, str], build: dict | None, container_path: str, expected: str
) -> None:
    found = map_container_path(evidence_with(files, build), "app", container_path)
    assert found is not None
    assert found.path == expected


UNMAPPED_CASES = [
    # Installed libraries are never project files, even with a matching name.
    (
        "site_packages",
        {"zmq/sugar/socket.py": ""},
        "/usr/local/lib/python3.11/site-packages/zmq/sugar/socket.py",
    ),
    ("dist_packages", {"socket.py": ""}, "/usr/lib/python3/dist-packages/zmq/socket.py"),
    ("frozen_module", {"runpy.py": ""}, "<frozen runpy>"),
    # Two files share the name and nothing else: the mapping would be a guess.
    ("ambiguous_basename", {"a/main.py": "", "b/main.py": ""}, "/app/main.py"),
    ("no_such_file", {"main.py": ""}, "/app/other.py"),
    ("empty_path", {"main.py": ""}, ""),
]


@pytest.mark.parametrize(
    ("files", "container_path"),
    [case[1:] for case in UNMAPPED_CASES],
    ids=[case[0] for case in UNMAPPED_CASES],
)
def test_map_container_path_returns_none(files: dict[str, str], container_path: str) -> None:
    assert map_container_path(evidence_with(files), "app", container_path) is None


def test_collected_container_path_wins_over_dockerfile() -> None:
    files = {"Dockerfile": "FROM python\nCOPY . /app/\n", "x/main.py": "", "main.py": ""}
    evidence = evidence_with(
        files, {"context": "/demo"}, container_paths={"x/main.py": "/app/main.py"}
    )
    found = map_container_path(evidence, "app", "/app/main.py")
    assert found is not None
    assert found.path == "x/main.py"


def test_copy_from_stage_excluded_from_map() -> None:
    dockerfile = "FROM golang AS build\nFROM alpine\nCOPY --from=build /out/server /app/server\n"
    evidence = evidence_with({"Dockerfile": dockerfile, "server": ""}, {"context": "/demo"})
    # /app/server comes from the build stage, so the context's `server` is not it.
    assert map_container_path(evidence, "app", "/app/server") is None
    assert container_path_map(dockerfile) == []


# --- snippets and locations -------------------------------------------------------------

TEXT = "\n".join(f"line {number}" for number in range(1, 13))


def test_snippet_marks_line_with_context() -> None:
    assert snippet(TEXT, 10, context=2) == (
        "  8 | line 8\n  9 | line 9\n>10 | line 10\n 11 | line 11\n 12 | line 12"
    )


def test_snippet_clamps_at_file_start() -> None:
    assert snippet(TEXT, 1, context=1) == ">1 | line 1\n 2 | line 2"


@pytest.mark.parametrize("line", [0, 13, -1])
def test_snippet_outside_text_is_empty(line: int) -> None:
    assert snippet(TEXT, line) == ""


def test_location_for_sample_worker_frame() -> None:
    location = location_for(
        sample_evidence(), "tacoreservice-worker", "/app/tacore/worker.py", 36, "start"
    )
    assert location is not None
    assert (location.path, location.line, location.function) == ("tacore/worker.py", 36, "start")
    assert location.container_path == "/app/tacore/worker.py"
    assert location.snippet is not None
    assert ">36 |         reply = self.socket.recv_multipart()" in location.snippet


def test_location_for_line_past_end_has_no_snippet() -> None:
    location = location_for(sample_evidence(), "tacoreservice-worker", "/app/tacore/worker.py", 900)
    assert location is not None
    assert location.snippet is None


def test_location_for_unknown_path_is_none() -> None:
    assert (
        location_for(sample_evidence(), "tacoreservice-worker", "/usr/lib/python3/x.py", 3) is None
    )


# --- Python tracebacks --------------------------------------------------------------------

KEY_ERROR_LOG = """\
2026-12-04 20:31:40,551 - ERROR - Error getting workers status: 'last_seen'
Traceback (most recent call last):
  File "/usr/local/lib/python3.11/site-packages/starlette/routing.py", line 74, in app
    response = await func(request)
               ^^^^^^^^^^^^^^^^^^^
  File "/app/tacore/api.py", line 24, in workers
    {"worker_id": row["worker_id"], "status": row["status"], "last_seen": row['last_seen']}
                                                                          ~~~^^^^^^^^^^^^^
KeyError: 'last_seen'
2026-12-04 20:31:41,000 - INFO - next line
"""


def test_python_traceback_frames_and_exception() -> None:
    traceback = parse_python_traceback(KEY_ERROR_LOG.splitlines())
    assert traceback is not None
    assert (traceback.exception_type, traceback.message) == ("KeyError", "'last_seen'")
    assert [(f.file, f.line, f.function) for f in traceback.frames] == [
        ("/usr/local/lib/python3.11/site-packages/starlette/routing.py", 74, "app"),
        ("/app/tacore/api.py", 24, "workers"),
    ]
    assert traceback.frames[0].code == "response = await func(request)"
    assert (traceback.first_line, traceback.last_line) == (1, 8)


def test_python_traceback_location_skips_library_frames() -> None:
    traceback = parse_python_traceback(KEY_ERROR_LOG.splitlines())
    assert traceback is not None
    location = location_for_traceback(sample_evidence(), "tacoreservice-worker", traceback)
    assert location is not None
    assert (location.path, location.line, location.function) == ("tacore/api.py", 24, "workers")


def test_health_probe_output_traceback() -> None:
    output = (
        "Traceback (most recent call last):\n"
        '  File "<string>", line 1, in <module>\n'
        '  File "/usr/lib/python3.11/urllib/request.py", line 1348, in do_open\n'
        "    raise URLError(err)\n"
        "urllib.error.URLError: <urlopen error [Errno 111] Connection refused>\n"
    )
    traceback = parse_python_traceback(output.splitlines())
    assert traceback is not None
    assert traceback.exception_type == "urllib.error.URLError"
    assert traceback.message == "<urlopen error [Errno 111] Connection refused>"
    assert traceback.innermost is not None
    assert traceback.innermost.function == "do_open"


def test_chained_python_tracebacks_are_separate_and_last_wins() -> None:
    log = [
        "Traceback (most recent call last):",
        '  File "/app/a.py", line 3, in load',
        "KeyError: 'x'",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "/app/a.py", line 5, in load',
        "ValueError: bad config",
    ]
    tracebacks = parse_python_tracebacks(log)
    assert [t.exception_type for t in tracebacks] == ["KeyError", "ValueError"]
    last = parse_python_traceback(log)
    assert last is not None
    assert last.message == "bad config"


def test_python_traceback_with_compose_prefix_and_loglines() -> None:
    lines = [
        LogLine(1, "worker-1  | Traceback (most recent call last):"),
        LogLine(2, 'worker-1  |   File "/app/tacore/worker.py", line 38, in start'),
        LogLine(3, "worker-1  |     frames = self.socket.recv_multipart()"),
        LogLine(4, "worker-1  | KeyboardInterrupt"),
    ]
    traceback = parse_python_traceback(lines)
    assert traceback is not None
    assert (traceback.exception_type, traceback.message) == ("KeyboardInterrupt", "")
    assert traceback.frames[0].code == "frames = self.socket.recv_multipart()"


def test_truncated_python_traceback_keeps_frames() -> None:
    traceback = parse_python_traceback(
        ["Traceback (most recent call last):", '  File "/app/x.py", line 9, in f']
    )
    assert traceback is not None
    assert traceback.exception_type == ""
    assert [(f.file, f.line) for f in traceback.frames] == [("/app/x.py", 9)]


def test_no_traceback_in_plain_log() -> None:
    assert parse_python_traceback(["INFO started", "ERROR failed: KeyError: 'x'"]) is None
    assert parse_tracebacks(["INFO started", "urllib.error.URLError: refused"]) == []


# --- other languages -----------------------------------------------------------------------


def test_node_stack() -> None:
    log = [
        "/app/server.js:12",
        "TypeError: Cannot read properties of undefined (reading 'port')",
        "    at loadConfig (/app/lib/config.js:12:5)",
        "    at async main (file:///app/server.mjs:30:3)",
        "    at /app/server.js:40:1",
        "    at node:internal/main/run_main_module:28:49",
    ]
    (stack,) = parse_node_stacks(log)
    assert stack.exception_type == "TypeError"
    assert stack.message == "Cannot read properties of undefined (reading 'port')"
    assert [(f.file, f.line, f.function) for f in stack.frames] == [
        ("node:internal/main/run_main_module", 28, None),
        ("/app/server.js", 40, None),
        ("/app/server.mjs", 30, "main"),
        ("/app/lib/config.js", 12, "loadConfig"),
    ]


def test_java_stack_with_cause_and_package_paths() -> None:
    log = [
        'Exception in thread "main" java.lang.IllegalStateException: broker unreachable',
        "\tat com.example.tacore.Worker.start(Worker.java:42)",
        "\tat com.example.tacore.Main.main(Main.java:10)",
        "Caused by: java.net.ConnectException: Connection refused",
        "\tat java.base/sun.nio.ch.Net.connect0(Native Method)",
        "\tat com.example.tacore.Client$Inner.open(Client.java:7)",
        "\t... 2 more",
    ]
    first, cause = parse_java_stacks(log)
    assert (first.exception_type, first.message) == (
        "java.lang.IllegalStateException",
        "broker unreachable",
    )
    assert [(f.file, f.line) for f in first.frames] == [
        ("com/example/tacore/Main.java", 10),
        ("com/example/tacore/Worker.java", 42),
    ]
    assert cause.exception_type == "java.net.ConnectException"
    # The native frame has no line and is left out.
    assert [(f.file, f.line) for f in cause.frames] == [("com/example/tacore/Client.java", 7)]


def test_go_panic() -> None:
    log = [
        "panic: runtime error: index out of range [3] with length 3",
        "",
        "goroutine 1 [running]:",
        "main.handle(...)",
        "\t/app/handlers.go:17",
        "main.main()",
        "\t/app/main.go:42 +0x1d",
        "exit status 2",
    ]
    (panic,) = parse_go_panics(log)
    assert (panic.exception_type, panic.message) == (
        "panic",
        "runtime error: index out of range [3] with length 3",
    )
    assert [(f.file, f.line, f.function) for f in panic.frames] == [
        ("/app/main.go", 42, "main.main()"),
        ("/app/handlers.go", 17, "main.handle(...)"),
    ]


def test_go_fatal_error_is_parsed() -> None:
    log = [
        "fatal error: all goroutines are asleep - deadlock!",
        "",
        "goroutine 1 [chan receive]:",
        "main.main()",
        "\t/src/main.go:9 +0x2a",
    ]
    (panic,) = parse_go_panics(log)
    assert (panic.exception_type, panic.message) == (
        "fatal error",
        "all goroutines are asleep - deadlock!",
    )
    assert panic.frames[0].line == 9


def test_parse_tracebacks_orders_languages_by_position() -> None:
    log = ["panic: boom", "goroutine 1 [running]:", "main.main()", "\t/app/main.go:3 +0x1", ""]
    log += KEY_ERROR_LOG.splitlines()
    assert [t.language for t in parse_tracebacks(log)] == ["go", "python"]


# --- Dockerfile parsing ----------------------------------------------------------------------


def test_sample_worker_healthcheck_in_compose_form() -> None:
    text = (FIXTURE / "Dockerfile.worker").read_text()
    assert healthcheck_of(text) == {
        "test": ["CMD", "python", "-m", "tacore.worker_health"],
        "interval": "5s",
        "timeout": "3s",
        "start_period": "10s",
        "retries": 3,
    }


def test_sample_main_healthcheck_spans_continuation() -> None:
    check = healthcheck_of((FIXTURE / "Dockerfile").read_text())
    assert check is not None
    assert check["test"][:3] == ["CMD", "python", "-c"]
    assert check["interval"] == "10s"


HEALTHCHECK_CASES = [
    (
        "shell_form",
        "FROM x\nHEALTHCHECK CMD curl -f http://localhost/ || exit 1\n",
        {"test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]},
    ),
    ("none", "FROM x\nHEALTHCHECK NONE\n", {"test": ["NONE"]}),
    (
        "last_one_applies",
        "FROM x\nHEALTHCHECK CMD a\nHEALTHCHECK --retries=5 CMD b\n",
        {"test": ["CMD-SHELL", "b"], "retries": 5},
    ),
    (
        "start_interval",
        'FROM x\nHEALTHCHECK --start-interval=1s CMD ["true"]\n',
        {"test": ["CMD", "true"], "start_interval": "1s"},
    ),
    (
        "inherited_from_stage",
        "FROM x AS base\nHEALTHCHECK CMD ok\nFROM base\nENV A=1\n",
        {"test": ["CMD-SHELL", "ok"]},
    ),
    # A new stage from an image starts without the earlier stage's check.
    ("not_inherited_from_image", "FROM x AS base\nHEALTHCHECK CMD ok\nFROM alpine\n", None),
    ("absent", "FROM x\nCMD run\n", None),
    # A check with no command is invalid and ignored.
    ("missing_command", "FROM x\nHEALTHCHECK --interval=5s CMD\n", None),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in HEALTHCHECK_CASES],
    ids=[case[0] for case in HEALTHCHECK_CASES],
)
def test_healthcheck_of_table(text: str, expected: dict | None) -> None:
    assert healthcheck_of(text) == expected


def test_instructions_join_continuations_and_skip_comments() -> None:
    text = (
        "# syntax=docker/dockerfile:1\n"
        "FROM python:3.11 AS base\n"
        "RUN apt-get update && \\\n"
        "    # a comment inside the continuation\n"
        "\n"
        "    apt-get install -y curl\n"
        "env A=1\n"
    )
    instructions = parse_instructions(text)
    assert [(i.keyword, i.line, i.end_line) for i in instructions] == [
        ("FROM", 2, 2),
        ("RUN", 3, 6),
        ("ENV", 7, 7),
    ]
    assert instructions[1].arguments == "apt-get update && apt-get install -y curl"


def test_escape_directive_changes_continuation_character() -> None:
    text = "# escape=`\nFROM mcr.microsoft.com/windows\nRUN dir `\n    c:\\\n"
    instructions = parse_instructions(text)
    assert [(i.keyword, i.arguments) for i in instructions] == [
        ("FROM", "mcr.microsoft.com/windows"),
        ("RUN", "dir c:\\"),
    ]


def test_heredoc_body_is_not_parsed_as_instructions() -> None:
    text = 'FROM python\nRUN <<EOF\necho hi\nCMD not-an-instruction\nEOF\nCMD ["run"]\n'
    instructions = parse_instructions(text)
    assert [i.keyword for i in instructions] == ["FROM", "RUN", "CMD"]
    assert instructions[1].heredocs == ["echo hi\nCMD not-an-instruction"]
    final = parse_dockerfile(text).final
    assert final is not None
    assert final.cmd is not None
    assert final.cmd.argv == ["run"]


def test_stage_state_env_workdir_user_expose_commands() -> None:
    text = textwrap.dedent(
        """\
        ARG VERSION=3.11
        FROM python:${VERSION}-slim AS base
        ENV APP_HOME=/srv/app
        WORKDIR $APP_HOME
        WORKDIR src
        USER app
        EXPOSE 8080 9090/udp
        FROM base
        ARG VERSION
        ENV URL=http://${HOST:-localhost}:8080 VERSION_SEEN=$VERSION
        ENTRYPOINT ["python", "-m"]
        CMD app.main --port 8080
        """
    )
    parsed = parse_dockerfile(text)
    assert parsed.stages[0].base == "python:3.11-slim"

    final = parsed.final
    assert final is not None
    assert final.workdir == "/srv/app/src"
    assert final.user == "app"
    assert final.expose == ["8080", "9090/udp"]

    # The second stage re-declares the global ARG and inherits ENV from `base`.
    assert final.env["URL"] == ("http://localhost:8080", 10)
    assert final.env["VERSION_SEEN"] == ("3.11", 10)
    assert final.env["APP_HOME"] == ("/srv/app", 3)

    assert final.entrypoint is not None
    assert final.entrypoint.argv == ["python", "-m"]
    assert final.cmd is not None
    assert final.cmd.shell_form
    assert final.cmd.argv == ["/bin/sh", "-c", "app.main --port 8080"]


def test_container_path_map_pairs() -> None:
    text = textwrap.dedent(
        """\
        FROM python
        WORKDIR /app
        COPY --chown=app:app requirements.txt ./
        COPY ["src/", "lib/", "/opt/code/"]
        ADD https://example.org/tool.tar.gz /tmp/
        ADD vendor.tar.gz /vendor
        COPY --from=builder /out/bin /usr/bin/tool
        WORKDIR sub
        COPY conf conf
        """
    )
    assert container_path_map(text) == [
        ("requirements.txt", "/app/"),
        ("src/", "/opt/code/"),
        ("lib/", "/opt/code/"),
        ("vendor.tar.gz", "/vendor"),
        ("conf", "/app/sub/conf"),
    ]


def test_env_defaults_of_final_stage() -> None:
    text = "FROM a AS one\nENV X=1\nFROM b\nENV Y=2\n"
    assert env_defaults(text) == {"Y": ("2", 4)}


def test_dockerfile_for_uses_compose_build_settings() -> None:
    files = {"Dockerfile": "FROM a\n", "Dockerfile.worker": "FROM b\n"}
    evidence = evidence_with(files, {"context": "/demo", "dockerfile": "Dockerfile.worker"})
    found = dockerfile_for(evidence, "app")
    assert found is not None
    assert found.path == "Dockerfile.worker"
    image_only = Evidence("demo", "/demo", [], {"services": {"db": {"image": "postgres"}}})
    assert dockerfile_for(image_only, "db") is None


def test_parse_dockerfile_tolerates_garbage() -> None:
    text = "this is not\n  a dockerfile \\\n\nCOPY\nHEALTHCHECK --interval\nENV\nFROM\n"
    parsed = parse_dockerfile(text)
    assert parsed.final is not None
    assert parsed.final.base == ""
    assert healthcheck_of(text) is None
