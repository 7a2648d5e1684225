"""Verdicts from functional checks, and the comparison that triggers a rollback."""

from __future__ import annotations

from stackmedic.model import CheckResult, ContainerSnapshot, Finding, Verdict, english_text


def verdict_of(checks: list[CheckResult]) -> Verdict:
    """Healthy only when at least one check ran and every check passed."""
    if not checks:
        return Verdict.NOT_VERIFIED
    return Verdict.HEALTHY if all(check.passed for check in checks) else Verdict.PROBLEMS_REMAIN


def state_verdict(checks: list[CheckResult], findings: list[Finding], *,
                  functional_checks: bool) -> Verdict:
    """Return the verdict on a state of the project: its checks, and its findings without functional checks.

    A plan without functional checks has only the `containers` check, and
    running containers do not show that the application works. So then a
    state with findings left is PROBLEMS_REMAIN even when that check passes.
    With functional checks, the checks alone decide.
    """
    verdict = verdict_of(checks)
    if verdict == Verdict.HEALTHY and findings and not functional_checks:
        return Verdict.PROBLEMS_REMAIN
    return verdict


def regressions(
    before: list[CheckResult],
    after: list[CheckResult],
    containers_before: list[ContainerSnapshot],
    containers_after: list[ContainerSnapshot],
) -> list[str]:
    """List what got worse: checks that passed and now fail, services that ran and now crash.

    Each reason is a `MessageText` in English (messages/<lang>/verify.json).
    """
    reasons: list[str] = []
    passed_before = {check.name for check in before if check.passed}
    for check in after:
        if check.name in passed_before and not check.passed:
            detail = check.detail_message or check.detail
            reasons.append(english_text("verify.regression.check_fails", name=check.name, detail=detail))

    running_before = {c.service for c in containers_before if c.state == "running"}
    for service in sorted(running_before):
        now = [c for c in containers_after if c.service == service]
        crashed = [c for c in now if c.state in ("exited", "dead", "restarting") and c.exit_code != 0]
        if crashed:
            names = ", ".join(c.name for c in crashed)
            reasons.append(english_text("verify.regression.service_crashes", service=service,
                                        containers=names))
    return reasons


def success_rate(checks: list[CheckResult]) -> float | None:
    if not checks:
        return None
    return sum(1 for check in checks if check.passed) / len(checks)
