"""The `stackmedic` command line: run, diagnose, report.

Errors a user can cause go through `main()`'s single handler: one line on
stderr with a hint, exit code 2, and a traceback only with --debug.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stackmedic import __version__
from stackmedic.errors import ExitCode, StackmedicError
from stackmedic.i18n import (
    LANGUAGES,
    language_from_environment,
    message,
    normalize_language,
    translate,
)
from stackmedic.model import RunRecord, Verdict, to_jsonable
from stackmedic.progress import Progress
from stackmedic.redact import redact_record
from stackmedic.report.localize import finding_summary, localized

app = typer.Typer(
    name="stackmedic",
    help="Diagnose, repair and verify a failing Docker Compose stack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
logger = logging.getLogger("stackmedic")


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    sarif = "sarif"


class ReportFormat(str, Enum):
    md = "md"
    json = "json"
    html = "html"
    sarif = "sarif"


class _Context:
    """Options shared by every command, set in the callback."""

    lang = "en"
    lang_given = False
    quiet = False
    debug = False
    verbose = 0
    progress: Progress | None = None
    # soft_wrap keeps one message on one line when the output is not a terminal.
    console = Console(stderr=False, highlight=False, soft_wrap=True)
    error_console = Console(stderr=True, highlight=False, soft_wrap=True)


state = _Context()

ProjectDir = Annotated[Path, typer.Argument(help="Directory of the compose project.", show_default=False)]
ComposeFiles = Annotated[
    list[str] | None,
    typer.Option("--file", "-f", help="Compose file, relative to PROJECT_DIR; repeat for overrides."),
]
ProjectName = Annotated[
    str | None, typer.Option("--project-name", "-p", help="Compose project name (default: from Compose).")
]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"stackmedic {__version__}")
        raise typer.Exit()


LangOption = Annotated[
    str | None,
    typer.Option("--lang", help=f"Language of messages and reports: {', '.join(LANGUAGES)} (default: from the locale)."),
]
VerboseOption = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output; -vv for debug.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the final result and errors.")]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")]


@app.callback()
def configure(
    lang: LangOption = None,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
    debug: DebugOption = False,
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version.")
    ] = None,
) -> None:
    """Diagnose, repair and verify a failing Docker Compose stack."""
    state.lang = language_from_environment()
    apply_common_options(lang, verbose, quiet, debug)


def apply_common_options(lang: str | None, verbose: int, quiet: bool, debug: bool) -> None:
    """Apply --lang, -v, --quiet and --debug, given before or after the command name."""
    if lang is not None:
        if not _is_known_language(lang):
            raise typer.BadParameter(f"unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}")
        state.lang = normalize_language(lang)
        state.lang_given = True
    state.quiet = state.quiet or quiet
    state.debug = state.debug or debug
    state.verbose = max(state.verbose, verbose)
    # NOTE: without -v only ERROR records reach the console. The commands
    # print the run's warnings themselves, translated, so a WARNING record
    # would show the same warning a second time, in English.
    level = logging.ERROR
    if state.verbose == 1:
        level = logging.INFO
    if state.verbose >= 2 or state.debug:
        level = logging.DEBUG
    if state.quiet:
        level = logging.ERROR
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger().setLevel(level)


def t(key: str, **fields: Any) -> str:
    return translate(key, state.lang, **fields)


def progress() -> Progress:
    """Return the progress printer, made on first use so that late --lang and --quiet apply."""
    if state.progress is None:
        state.progress = Progress(state.console, state.lang, quiet=state.quiet)
    return state.progress


def notify(key: str, **fields: Any) -> None:
    """Report one step of the loop: a spinner on a terminal, a timestamped line elsewhere."""
    progress().notify(key, **fields)


@app.command()
def run(
    project_dir: ProjectDir,
    file: ComposeFiles = None,
    project_name: ProjectName = None,
    plan: Annotated[Path | None, typer.Option(help="Plan file (default: PROJECT_DIR/stackmedic.yaml).")] = None,
    max_cycles: Annotated[int, typer.Option(min=1, max=20, help="Maximum number of cycles.")] = 3,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Diagnose and plan repairs; change no file.")] = False,
    allow_code_changes: Annotated[
        bool, typer.Option("--allow-code-changes", help="Allow patches to the services' source code.")
    ] = False,
    run_dir: Annotated[
        Path | None, typer.Option(help="Folder for the report and backups (default: PROJECT_DIR/.stackmedic/runs/RUN_ID).")
    ] = None,
    lang: LangOption = None,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Run the full DIAGNOSE -> REPAIR -> VERIFY loop on PROJECT_DIR and write a report."""
    apply_common_options(lang, verbose, quiet, debug)
    from stackmedic.engine import ComposeProject, DockerEngine
    from stackmedic.loop import LoopOptions, RunInterrupted, run_loop
    from stackmedic.plan import load_plan
    from stackmedic.report.render import write_reports

    engine = DockerEngine.connect()
    project = ComposeProject.open(project_dir, file, project_name)
    loaded_plan = load_plan(project.project_dir, plan)
    notify("run.start", project=project.name, plan=loaded_plan.id, checks=len(loaded_plan.checks))
    options = LoopOptions(max_cycles=max_cycles, dry_run=dry_run, allow_code_changes=allow_code_changes,
                          run_dir=run_dir.resolve() if run_dir else None, lang=state.lang)
    try:
        record = run_loop(project, engine, loaded_plan, options, notify=notify)
    except RunInterrupted as interrupted:
        # The loop has rolled back what it had not verified and completed the
        # record, so the report still shows what happened before Ctrl-C.
        progress().close()
        record = interrupted.record
        target_dir = options.run_dir or project.project_dir / ".stackmedic" / "runs" / record.run_id
        for path in write_reports(record, target_dir, state.lang):
            state.error_console.print(t("cli.run.report", path=str(path)))
        state.error_console.print(f"stackmedic: {t('cli.interrupted')}")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    progress().close()
    target_dir = options.run_dir or project.project_dir / ".stackmedic" / "runs" / record.run_id
    paths = write_reports(record, target_dir, state.lang)
    _print_run_summary(record, paths)
    raise typer.Exit(int(ExitCode.HEALTHY if record.verdict == Verdict.HEALTHY else ExitCode.PROBLEMS_REMAIN))


@app.command()
def diagnose(
    project_dir: Annotated[
        Path | None,
        typer.Argument(help="Directory of the compose project (not needed with --evidence).", show_default=False),
    ] = None,
    file: ComposeFiles = None,
    project_name: ProjectName = None,
    evidence_dir: Annotated[
        Path | None,
        typer.Option("--evidence", help="Analyse a saved or hand-written evidence bundle; no engine needed."),
    ] = None,
    output_format: Annotated[OutputFormat, typer.Option("--format", help="Output format: table, json or sarif.")] = OutputFormat.table,
    lang: LangOption = None,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Collect evidence (or load a bundle) and analyse it; change nothing. Exits 1 when findings exist."""
    apply_common_options(lang, verbose, quiet, debug)
    from stackmedic.analysis import analyse

    if evidence_dir is not None:
        from stackmedic.evidence.bundle import load_bundle

        evidence = load_bundle(evidence_dir)
    elif project_dir is not None:
        evidence = _collect_live(project_dir, file, project_name)
    else:
        raise StackmedicError(
            message("errors.cli.diagnose_needs_input"),
            hint=message("errors.cli.hint.diagnose_help"),
        )
    result = analyse(evidence)
    warnings = result.warnings + evidence.warnings

    if output_format == OutputFormat.json:
        payload = {
            "schema": "stackmedic.diagnosis/v1",
            "project": evidence.project_name,
            "collected_at": evidence.collected_at,
            "containers": len(evidence.containers),
            "missing_evidence": evidence.missing_evidence,
            "findings": [to_jsonable(asdict(f)) for f in result.findings],
            "warnings": warnings,
        }
        typer.echo(json.dumps(redact_record(payload), indent=2, ensure_ascii=False))
    elif output_format == OutputFormat.sarif:
        from stackmedic.report.sarif import render_sarif

        typer.echo(render_sarif(result.findings, __version__, evidence.project_dir, warnings))
    else:
        _print_findings(result.findings, len(evidence.containers))
        for warning in warnings:
            text = localized(warning, evidence.warning_messages + result.warning_messages, state.lang)
            state.error_console.print(f"[yellow]{escape(t('cli.warning', text=text))}[/yellow]")
    raise typer.Exit(int(ExitCode.PROBLEMS_REMAIN if result.findings else ExitCode.HEALTHY))


@app.command()
def collect(
    project_dir: ProjectDir,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write the evidence bundle to.")],
    file: ComposeFiles = None,
    project_name: ProjectName = None,
    lang: LangOption = None,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Save the project's evidence as a bundle folder (secrets masked), to analyse later or share."""
    apply_common_options(lang, verbose, quiet, debug)
    from stackmedic.evidence.bundle import save_bundle

    evidence = _collect_live(project_dir, file, project_name)
    save_bundle(evidence, output)
    state.console.print(t("cli.collect.saved", path=str(output), containers=len(evidence.containers)))


def _collect_live(project_dir: Path, file: list[str] | None, project_name: str | None) -> Any:
    from stackmedic.engine import ComposeProject, DockerEngine
    from stackmedic.evidence.collect import collect as collect_evidence

    engine = DockerEngine.connect()
    project = ComposeProject.open(project_dir, file, project_name)
    evidence = collect_evidence(project, engine)
    if not evidence.containers:
        raise StackmedicError(
            message("errors.cli.no_containers", project=project.name),
            hint=message("errors.cli.hint.bring_up"),
        )
    return evidence


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder holding report.json.")],
    output_format: Annotated[ReportFormat, typer.Option("--format", help="Output format: md, json, html or sarif.")] = ReportFormat.md,
    lang: LangOption = None,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Render a stored run again, in the chosen format and language."""
    apply_common_options(lang, verbose, quiet, debug)
    from stackmedic.report.render import load_run, render

    folder = run_dir if run_dir.is_dir() else run_dir.parent
    typer.echo(render(load_run(run_dir), output_format.value, state.lang, folder.resolve()), nl=False)


@app.command()
def rollback(
    run_id: Annotated[str, typer.Argument(help="The run to undo: the name of its folder under .stackmedic/runs.")],
    project_dir: Annotated[Path, typer.Option(help="Directory of the compose project.")] = Path("."),
    runs_dir: Annotated[
        Path | None, typer.Option(help="Folder holding the run folders (default: PROJECT_DIR/.stackmedic/runs).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Restore files even if they changed after the run.")] = False,
    lang: LangOption = None,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Restore every file a run changed, newest change first, from the run's backups."""
    from stackmedic.repair import rollback_run

    apply_common_options(lang, verbose, quiet, debug)
    restored = rollback_run(project_dir.resolve(), run_id, runs_dir, force=force)
    if not restored:
        state.console.print(t("cli.rollback.nothing", run_id=run_id))
    for path in restored:
        state.console.print(t("cli.rollback.restored", path=str(path)))


def _print_findings(findings: list[Any], containers: int) -> None:
    if not findings:
        state.console.print(t("cli.diagnose.none", containers=containers))
        return
    if not state.console.is_terminal:
        # Off a terminal (a pipe, a CI log) one finding is one line, for grep.
        state.console.print(t("cli.diagnose.title", count=len(findings), containers=containers))
        for finding in findings:
            indent = "  ↳ " if finding.caused_by else ""
            location = f" [{finding.location}]" if finding.location else ""
            state.console.print(escape(f"{indent}{finding.code} {finding.service} "
                                       f"({finding.confidence:.2f}) {finding_summary(finding, state.lang)}{location}"))
        return
    table = Table(title=t("cli.diagnose.title", count=len(findings), containers=containers))
    for column in ("code", "service", "confidence", "summary", "location"):
        table.add_column(t(f"cli.column.{column}"), overflow="fold")
    for finding in findings:
        summary = finding_summary(finding, state.lang)
        indent = "  ↳ " if finding.caused_by else ""
        table.add_row(indent + finding.code, finding.service, f"{finding.confidence:.2f}",
                      escape(summary), str(finding.location or ""))
    state.console.print(table)


def _print_run_summary(record: RunRecord, paths: list[Path]) -> None:
    checks = record.final_checks
    passed = sum(1 for check in checks if check.passed)
    progress().result(t("cli.run.verdict", verdict=t(f"cli.verdict.{record.verdict.value}"),
                        cycles=len(record.cycles), passed=passed, total=len(checks)))
    # Progress.result escapes markup itself, so these lines go in as plain text.
    for finding in record.remaining:
        if finding.location is None:
            progress().result(t("cli.run.remaining", code=finding.code, service=finding.service))
        else:
            progress().result(t("cli.run.remaining_at", code=finding.code, service=finding.service,
                                location=str(finding.location)))
    for path in paths:
        progress().result(t("cli.run.report", path=str(path)))


def _close_progress() -> None:
    if state.progress is not None:
        state.progress.close()


def _show_click_error(error: Exception, show: Any) -> None:
    """Print a Click usage error as one line in the CLI's language, with the help command as hint.

    `stackmedic` without arguments prints the help instead, as Click does.
    """
    if any(cls.__name__ == "NoArgsIsHelpError" for cls in type(error).__mro__):
        show()
        return
    if not state.lang_given:
        state.lang = _language_from_arguments(sys.argv[1:]) or state.lang
    format_message = getattr(error, "format_message", None)
    # NOTE: the message body is Click's own and stays English. Only the
    # prefix and the hint follow --lang.
    text = format_message() if callable(format_message) else str(error)
    command = _command_name(error)
    help_command = f"stackmedic {command} --help" if command else "stackmedic --help"
    hint = t("cli.usage.hint", help=help_command)
    state.error_console.print(
        f"stackmedic: {t('cli.error')}: {escape(text)} ({t('cli.hint')}: {escape(hint)})", soft_wrap=True
    )


def _command_name(error: Exception) -> str:
    """Return the name of the subcommand a Click error was raised in, or "" for the top level."""
    ctx = getattr(error, "ctx", None)
    if ctx is None or getattr(ctx, "parent", None) is None:
        return ""
    return str(getattr(ctx, "info_name", "") or "")


def _language_from_arguments(arguments: list[str]) -> str | None:
    """Return the language of a valid `--lang X` or `--lang=X` among `arguments`.

    Click may reject the command line before any command has applied
    --lang, so the usage error looks for it here.
    """
    for index, argument in enumerate(arguments):
        value: str | None = None
        if argument == "--lang" and index + 1 < len(arguments):
            value = arguments[index + 1]
        elif argument.startswith("--lang="):
            value = argument.removeprefix("--lang=")
        if value is not None and _is_known_language(value):
            return normalize_language(value)
    return None


def _is_known_language(value: str) -> bool:
    return normalize_language(value) == value or value.replace("_", "-").lower() in ("zh-cn", "en-us")


def main() -> None:
    """Entry point: run the app and turn errors into one line and an exit code."""
    try:
        code = app(standalone_mode=False)
    except StackmedicError as error:
        _close_progress()
        if state.debug:
            logger.exception("failed")
        text, hint_text = error.localized(state.lang)
        hint = f" ({t('cli.hint')}: {hint_text})" if hint_text else ""
        state.error_console.print(f"stackmedic: {t('cli.error')}: {escape(text)}{escape(hint)}",
                                  soft_wrap=True)
        sys.exit(int(ExitCode.USAGE))
    except KeyboardInterrupt:
        _close_progress()
        state.error_console.print(f"stackmedic: {t('cli.interrupted')}")
        sys.exit(int(ExitCode.INTERRUPTED))
    except typer.Abort:
        _close_progress()
        state.error_console.print(f"stackmedic: {t('cli.interrupted')}")
        sys.exit(int(ExitCode.INTERRUPTED))
    except Exception as error:
        # Usage errors of the Click layer under Typer. Typer 0.20+ ships its
        # own copy of Click, so they are recognised by their interface.
        show, exit_code = getattr(error, "show", None), getattr(error, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            _close_progress()
            _show_click_error(error, show)
            sys.exit(int(ExitCode.USAGE) if exit_code else 0)
        if state.debug:
            raise
        state.error_console.print(
            f"stackmedic: {t('cli.internal_error')}: {type(error).__name__}: {escape(str(error))} "
            f"({t('cli.hint')}: {t('cli.rerun_debug')})",
            soft_wrap=True,
        )
        sys.exit(int(ExitCode.USAGE))
    sys.exit(int(code or 0))
