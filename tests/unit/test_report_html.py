"""The HTML report: one self-contained page with the Markdown report's sections and a timeline."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
import run_builders as builders
from markupsafe import Markup

from stackmedic.i18n import LANGUAGES, translate
from stackmedic.model import RunRecord
from stackmedic.report.html import HtmlView
from stackmedic.report.render import render_html

SCENARIOS = sorted(builders.ALL_SCENARIOS.items())
RAW_KEY = re.compile(r"\breport\.[a-z_]+\.[a-z_.]+")
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr", "source", "area", "base"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def all_text(self) -> str:
        return "".join(self.text) + "".join(child.all_text() for child in self.children)

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        found = []
        for child in self.children:
            if (tag is None or child.tag == tag) and all(
                attrs_match(child.attrs.get(name.replace("_", "-").strip("-")), value)
                for name, value in attrs.items()
            ):
                found.append(child)
            found.extend(child.find_all(tag, **attrs))
        return found


def attrs_match(actual: str | None, expected: str) -> bool:
    if actual is None:
        return False
    return expected in actual.split() if " " not in expected else actual == expected


class TreeBuilder(HTMLParser):
    """Builds a tree of elements and records markup errors instead of guessing."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if self.stack[-1].tag != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1].tag}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].text.append(data)


def parse(page: str) -> tuple[Element, list[str]]:
    builder = TreeBuilder()
    builder.feed(page)
    builder.close()
    errors = list(builder.errors)
    if len(builder.stack) != 1:
        errors.append(f"unclosed: {[element.tag for element in builder.stack[1:]]}")
    return builder.root, errors


def page_of(run: RunRecord, lang: str = "en") -> Element:
    root, errors = parse(render_html(run, lang))
    assert errors == []
    return root


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("name", "build"), SCENARIOS)
def test_markup_is_well_nested(name: str, build: Callable[[], RunRecord], lang: str) -> None:
    _root, errors = parse(render_html(build(), lang))

    assert errors == [], name


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("name", "build"), SCENARIOS)
def test_page_has_no_raw_keys_or_missing_messages(
    name: str, build: Callable[[], RunRecord], lang: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="stackmedic.report"):
        page = render_html(build(), lang)

    assert RAW_KEY.findall(page) == [], name
    assert not [r for r in caplog.records if "missing" in r.getMessage()], name


@pytest.mark.parametrize(("name", "build"), SCENARIOS)
def test_page_loads_nothing_from_outside(name: str, build: Callable[[], RunRecord]) -> None:
    root = page_of(build())

    assert root.find_all("link") == []
    assert root.find_all("img") == []
    assert all("src" not in element.attrs for element in root.find_all("script"))
    for element in root.find_all():
        for attribute in ("href", "src", "action", "poster", "data"):
            value = element.attrs.get(attribute)
            if value is not None:
                assert value.startswith("#"), (element.tag, attribute, value)
    page = render_html(build(), "en")
    assert "@import" not in page
    assert re.search(r"url\((?!#)", page) is None


def test_ids_are_unique() -> None:
    root = page_of(builders.run_with_remaining_problems())

    ids = [element.attrs["id"] for element in root.find_all() if "id" in element.attrs]

    assert len(ids) == len(set(ids))


def test_every_anchor_link_has_a_target() -> None:
    root = page_of(builders.run_with_remaining_problems())
    ids = {element.attrs["id"] for element in root.find_all() if "id" in element.attrs}

    targets = [a.attrs["href"][1:] for a in root.find_all("a") if "href" in a.attrs]

    assert targets
    assert [target for target in targets if target not in ids] == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_sections_appear_in_required_order(lang: str) -> None:
    page = render_html(builders.run_with_remaining_problems(), lang)
    ids = [
        'id="summary"',
        'id="timeline"',
        'id="baseline"',
        'id="cycle-1"',
        'id="cycle-2"',
        'id="final"',
        'id="recommendations"',
        'id="conclusion"',
    ]

    positions = [page.index(marker) for marker in ids]

    assert positions == sorted(positions)
    assert page.index("<header") < positions[0]


def test_phases_show_times_and_calls() -> None:
    root = page_of(builders.run_with_remaining_problems())
    cycle = root.find_all("section", id="cycle-1")[0]

    phases = cycle.find_all("div", _class="phase")

    assert [phase.attrs["data-phase"] for phase in phases] == [
        "DIAGNOSE-01",
        "DIAGNOSE-02",
        "REPAIR-01",
        "VERIFY-01",
    ]
    first = phases[0]
    assert "2026-12-04 20:30:10 UTC → 20:30:12 (2.0 s)" in first.all_text()
    calls = [li.all_text() for li in first.find_all("ol", _class="calls")[0].find_all("li")]
    assert (
        calls[0] == "GET /containers/json?all=1&filters={label=com.docker.compose.project=tacore}"
    )


def test_header_lists_run_metadata() -> None:
    run = builders.run_with_remaining_problems()
    header = page_of(run).find_all("header")[0].all_text()

    for value in (
        run.plan_id,
        run.plan_name,
        run.project_dir,
        run.project_name,
        run.run_id,
        run.stackmedic_version,
        run.engine_version,
        run.compose_version,
        "2026-12-04 20:30:00 UTC",
        "2026-12-04 20:34:12 UTC",
    ):
        assert value in header, value


def test_summary_shows_success_rate_of_functional_checks_only() -> None:
    run = builders.healthy_containers_failing_checks()

    summary = page_of(run).find_all("section", id="summary")[0].all_text()

    assert "0/2 (0%)" in summary
    assert "100%" not in summary


def test_key_outcomes_carry_ok_warn_and_bad_marks() -> None:
    root = page_of(builders.run_with_remaining_problems())
    outcomes = root.find_all("ul", _class="outcomes")[0].find_all("li")

    marks = [item.attrs["class"] for item in outcomes]

    assert marks.count("ok") == 3 + 1  # three fixed findings, one passed check
    assert "warn" in marks
    assert marks.count("bad") == 3 + 2  # three remaining findings, two failed checks
    assert marks.index("warn") < marks.index("bad")


def test_timeline_has_one_row_per_container() -> None:
    root = page_of(builders.run_with_remaining_problems())

    rows = root.find_all("g", _class="timeline-row")

    assert [row.attrs["data-container"] for row in rows] == [
        "tacore-redis-1",
        "tacore-tacoreservice-1",
        "tacore-tacoreservice-worker-1",
        "tacore-tacoreservice-worker-2",
    ]
    worker = rows[2]
    states = [rect.attrs["data-state"] for rect in worker.find_all("rect", _class="seg")]
    assert states == ["unhealthy", "unobserved", "healthy"]
    titles = [
        rect.find_all("title")[0].all_text() for rect in worker.find_all("rect", _class="seg")
    ]
    assert titles[0].startswith("tacore-tacoreservice-worker-1 (tacoreservice-worker) · unhealthy")


def test_timeline_marks_phases_and_cycle_starts() -> None:
    root = page_of(builders.run_with_remaining_problems())
    svg = root.find_all("svg", _class="timeline")[0]

    phases = [
        (rect.attrs["data-cycle"], rect.attrs["data-phase"])
        for rect in svg.find_all("rect", _class="ph")
    ]
    cycle_lines = svg.find_all("line", _class="cycle-line")

    assert phases[0] == ("0", "baseline")
    assert ("1", "VERIFY-01") in phases
    assert ("2", "REPAIR-01") in phases
    assert len(cycle_lines) == 2
    labels = [text.all_text() for text in svg.find_all("text", _class="band-label")]
    assert "Cycle 1" in labels
    assert "Cycle 2" in labels


def test_timeline_shows_crashes_with_exit_codes() -> None:
    root = page_of(builders.crash_loop_run())
    worker = next(
        row
        for row in root.find_all("g", _class="timeline-row")
        if row.attrs["data-container"] == "tacore-tacoreservice-worker-1"
    )

    titles = [
        rect.find_all("title")[0].all_text() for rect in worker.find_all("rect", _class="seg")
    ]

    oom = [title for title in titles if "OOM killed" in title]
    assert len(oom) == 1
    assert "Exit code: 137" in oom[0]
    assert "Restarts: 1" in oom[0]
    legend = root.find_all("section", id="timeline")[0].all_text()
    for state in ("crashed", "restarting", "exited", "not observed (redeploying)"):
        assert state in legend, state


def test_timeline_is_left_out_without_snapshots() -> None:
    run = builders.healthy_run()
    for cycle in run.cycles:
        cycle.snapshots = []

    root = page_of(run)

    assert root.find_all("svg") == []
    assert root.find_all("section", id="timeline") == []
    assert [a for a in root.find_all("a") if a.attrs.get("href") == "#timeline"] == []


def test_diff_lines_are_coloured_by_kind() -> None:
    root = page_of(builders.run_with_remaining_problems())
    diff = root.find_all("pre", _class="diff")[0]

    lines = [(span.attrs["class"], span.all_text()) for span in diff.find_all("span")]

    assert ("line add", "+      - TACORESERVICE_BACKEND_PORT=5556") in lines
    assert ("line meta", "--- a/docker-compose.yml") in lines
    assert ("line hunk", "@@ -24,6 +24,7 @@") in lines
    assert ("line context", "     depends_on:") in lines
    healthcheck = root.find_all("pre", _class="diff")[1]
    removed = [
        text
        for kind, text in [(s.attrs["class"], s.all_text()) for s in healthcheck.find_all("span")]
        if kind == "line del"
    ]
    old_test = (
        '-      test: ["CMD", "python", "-c", "import urllib.request; '
        "urllib.request.urlopen('http://localhost:8080/health', timeout=3)\"]"
    )
    assert removed == [old_test, "-      interval: 30s"]


def test_findings_expand_to_their_evidence_and_location() -> None:
    run = builders.run_with_remaining_problems()
    root = page_of(run)
    cycle = root.find_all("section", id="cycle-1")[0]

    details = cycle.find_all("details", _class="finding")
    key_error = next(d for d in details if d.attrs["id"] == "c1-f-F005")

    assert len(details) == len(run.cycles[0].findings) + len(run.cycles[0].log_findings)
    assert "open" not in key_error.attrs
    summary = key_error.find_all("summary")[0].all_text()
    assert "KEY_ERROR" in summary
    assert "tacore/api.py:41" in summary
    body = key_error.all_text()
    assert "Error getting workers status: 'last_seen'" in body
    assert "[log] tacore-tacoreservice-1:31 2026-12-04T20:31:40.000+00:00" in body
    assert "/app/tacore/api.py" in body
    target = key_error.find_all("span", _class="target")
    assert [line.all_text() for line in target] == [
        '> 41 |                 "last_seen": row["last_seen"],'
    ]


def test_consequence_links_to_its_cause() -> None:
    root = page_of(builders.run_with_remaining_problems())
    hang = next(
        d for d in root.find_all("details", _class="finding") if d.attrs["id"] == "c1-f-F002"
    )

    links = [a.attrs["href"] for a in hang.find_all("a")]

    assert links == ["#c1-f-F001"]


def test_repairs_show_status_reason_and_diff() -> None:
    root = page_of(builders.run_with_remaining_problems())
    repairs = root.find_all("section", id="cycle-1")[0].find_all("article", _class="repair")

    statuses = [(r.attrs["id"], r.attrs["data-status"]) for r in repairs]

    assert statuses == [
        ("c1-r-R001", "applied"),
        ("c1-r-R002", "rejected"),
        ("c1-r-R003", "applied"),
    ]
    rejected = repairs[1]
    assert (
        "no effect: TACORESERVICE_HOST is already tacoreservice"
        in rejected.find_all("span", _class="reason")[0].all_text()
    )
    assert rejected.find_all("pre") == []
    assert len(repairs[0].find_all("pre", _class="diff")) == 1


def test_rolled_back_repair_and_cycle_are_flagged() -> None:
    root = page_of(builders.rolled_back_run())
    cycle = root.find_all("section", id="cycle-1")[0]

    repair = cycle.find_all("article", _class="repair")[0]

    assert repair.attrs["data-status"] == "rolled_back"
    assert "bad" in repair.attrs["class"].split()
    assert translate("report.cycle.rolled_back", "en") in cycle.all_text()
    assert translate("report.outcome.settle_timed_out", "en") in root.all_text()


def test_rollback_checks_are_shown_and_final() -> None:
    root = page_of(builders.crash_loop_run())

    verify = root.find_all("div", data_phase="VERIFY-01")[0].all_text()
    summary = root.find_all("section", id="summary")[0].all_text()

    assert "Functional checks after the rollback" in verify
    assert "200 after the rollback" in verify
    assert "1/1 (100%)" in summary
    assert "run after cycle 1 was rolled back" in summary


def test_dry_run_is_announced_and_repairs_not_applied() -> None:
    root = page_of(builders.dry_run())

    text = root.all_text()

    assert translate("report.header.dry_run", "en") in text
    repair = root.find_all("article", _class="repair")[0]
    assert repair.find_all("span", _class="badge")[0].all_text() == translate(
        "report.repair.status.planned_dry_run", "en"
    )


def test_recommendations_grouped_by_priority_with_where_to_act() -> None:
    root = page_of(builders.run_with_remaining_problems(), "zh-CN")
    section = root.find_all("section", id="recommendations")[0]

    titles = [h3.all_text() for h3 in section.find_all("h3")]
    text = section.all_text()

    assert titles == ["高优先级修复项", "中优先级改进项", "低优先级事项"]
    assert "修改位置: tacore/api.py:41" in text


def test_record_text_is_escaped() -> None:
    run = builders.healthy_containers_failing_checks()
    run.cycles[0].checks[0].detail = '<script>alert("x")</script> & <b>bold</b>'
    run.plan_name = "<img src=x onerror=alert(1)>"

    page = render_html(run, "en")
    root, errors = parse(page)

    assert errors == []
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert root.find_all("img") == []
    assert root.find_all("b") == []
    assert len(root.find_all("script")) == 1


def test_chinese_page_is_translated_and_keeps_identifiers() -> None:
    page = render_html(builders.run_with_remaining_problems(), "zh-CN")
    root, _errors = parse(page)

    assert '<html lang="zh-CN">' in page
    headings = [h2.all_text() for h2 in root.find_all("h2")]
    assert "执行摘要" in headings
    assert "容器时间线" in headings
    assert "Executive summary" not in page
    for identifier in (
        "ENDPOINT_MISMATCH",
        "tacoreservice-worker",
        "tacore/api.py:41",
        "docker-compose.yml",
    ):
        assert identifier in page, identifier


def test_run_without_cycles_renders() -> None:
    root = page_of(builders.base_run())

    text = root.all_text()

    assert "No cycle was run." in text
    assert "No functional check was run." in text
    assert "Nothing to report" in text


def test_repair_links_to_the_finding_it_answers() -> None:
    root = page_of(builders.run_with_remaining_problems())
    repairs = root.find_all("section", id="cycle-1")[0].find_all("article", _class="repair")

    links = [a.attrs["href"] for a in repairs[0].find_all("a")]

    assert links == ["#c1-f-F001"]


def test_translated_html_escapes_text_but_keeps_markup_fields() -> None:
    view = HtmlView(builders.healthy_run(), "en")

    html = view.t_html("report.repair.for_finding", finding=Markup("<code>F1</code>"))
    escaped = view.t_html("report.repair.for_finding", finding="<b>")

    assert html == Markup("for finding <code>F1</code>")
    assert escaped == Markup("for finding &lt;b&gt;")
