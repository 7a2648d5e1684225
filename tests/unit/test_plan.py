"""Loading and validating the plan file."""

from pathlib import Path

import pytest

from stackmedic.errors import PlanError
from stackmedic.plan import load_plan, parse_plan

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tacoreservice"


def test_missing_plan_gives_default_container_check(tmp_path):
    plan = load_plan(tmp_path)

    assert plan.id == "stackmedic-default"
    assert [check.type for check in plan.checks] == ["containers"]
    assert plan.has_functional_checks is False


def test_explicit_plan_path_must_exist(tmp_path):
    with pytest.raises(PlanError, match="plan file not found"):
        load_plan(tmp_path, tmp_path / "nope.yaml")


def test_invalid_yaml_plan_names_file_and_line(tmp_path):
    path = tmp_path / "stackmedic.yaml"
    path.write_text("plan:\n  id: x\nchecks: [\n  - oops: : :\n")

    with pytest.raises(PlanError, match=r"stackmedic\.yaml:\d+"):
        load_plan(tmp_path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "mapping at the top level"),
        ({"checks": [{"type": "smtp"}]}, "has type 'smtp'"),
        ({"checks": [{"type": ["http"]}]}, r"has type \['http'\]"),
        ({"checks": [{"type": "http"}]}, "missing url"),
        ({"checks": [{"type": "exec", "service": "a", "command": "ls -l"}]}, "list of arguments"),
        ({"settle_timeout": -5}, "positive number"),
        ({"target_services": "web"}, "list of service names"),
        ({"checks": [{"name": "a", "type": "tcp", "host": "h", "port": 1},
                     {"name": "a", "type": "tcp", "host": "h", "port": 2}]}, "duplicate check names"),
    ],
)
def test_plan_errors_name_the_problem(tmp_path, data, message):
    with pytest.raises(PlanError, match=message):
        parse_plan(data, tmp_path)


def test_sample_plan_loads_with_three_functional_checks():
    plan = load_plan(SAMPLE)

    assert plan.id == "AUTO-DIAGNOSE-REPAIR-TACORESERVICE-V1"
    assert plan.target_services == ["tacoreservice", "tacoreservice-worker"]
    assert [check.type for check in plan.checks] == ["http", "exec", "log_absent"]
    assert plan.has_functional_checks is True


# Unknown keys


def check(**fields):
    return {"name": "api", "type": "http", "url": "http://api:8000/", **fields}


def test_misspelt_checks_key_rejected(tmp_path):
    with pytest.raises(PlanError) as raised:
        parse_plan({"plan": {"id": "x"}, "chex": [check()]}, tmp_path)

    text = raised.value.message
    assert "unknown key 'chex'" in text
    assert "plan, target_services, settle_timeout, checks" in text
    assert "\n" not in text


def test_unknown_header_key_rejected(tmp_path):
    with pytest.raises(PlanError, match=r"unknown key 'title' in 'plan'; allowed keys: id, name, target"):
        parse_plan({"plan": {"id": "x", "title": "t"}}, tmp_path)


def test_unknown_check_key_names_allowed_keys(tmp_path):
    with pytest.raises(PlanError) as raised:
        parse_plan({"checks": [check(expect_statuss=200)]}, tmp_path)

    text = raised.value.message
    assert "check 'api' (http) has an unknown key 'expect_statuss'" in text
    assert "name, type, url, method, expect_status, expect_json, timeout" in text


def test_field_of_other_check_type_rejected(tmp_path):
    # `window` belongs to log checks; on an exec check it would be ignored.
    entry = {"name": "ping", "type": "exec", "service": "api", "command": ["true"], "window": 5}

    with pytest.raises(PlanError, match="unknown key 'window'"):
        parse_plan({"checks": [entry]}, tmp_path)


def test_unknown_expect_json_key_rejected(tmp_path):
    with pytest.raises(PlanError, match="unknown key 'min'"):
        parse_plan({"checks": [check(expect_json=[{"path": "workers", "min": 2}])]}, tmp_path)


# Values


def test_check_without_type_lists_types(tmp_path):
    entries = [check(), check(name="b"), {"name": "c", "url": "http://x/"}]

    with pytest.raises(PlanError) as raised:
        parse_plan({"checks": entries}, tmp_path)

    text = raised.value.message
    assert "check #3 has no type" in text
    assert "containers, exec, http, log_absent, log_present, tcp" in text
    assert "None" not in text


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"expect_status": "ok"}, "'expect_status' must be an HTTP status code (100-599), not 'ok'"),
        ({"expect_status": 999}, "'expect_status' must be an HTTP status code"),
        ({"expect_status": True}, "'expect_status' must be an HTTP status code"),
        ({"timeout": "5s"}, "'timeout' must be a positive number of seconds, not '5s'"),
        ({"timeout": -1}, "'timeout' must be a positive number of seconds, not -1"),
        ({"timeout": 0}, "'timeout' must be a positive number of seconds"),
        ({"url": "api:8000/health"}, "'url' must be an http:// or https:// URL with a host"),
        ({"method": ""}, "'method' must be a non-empty string"),
        ({"expect_json": {"path": "a"}}, "'expect_json' must be a list"),
        ({"expect_json": ["workers"]}, "'expect_json #1' must be a mapping with 'path'"),
        ({"expect_json": [{"path": "w", "min_count": "two"}]}, "'expect_json #1: min_count' must be a whole number"),
        ({"expect_json": [{"path": "w", "where": "alive"}]}, "'expect_json #1: where' must be a mapping"),
    ],
)
def test_invalid_http_values_rejected_at_load(tmp_path, fields, expected):
    with pytest.raises(PlanError) as raised:
        parse_plan({"checks": [check(**fields)]}, tmp_path)

    assert expected in raised.value.message
    assert "check 'api'" in raised.value.message


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"type": "log_absent", "service": "api", "pattern": "ERROR", "window": -30},
         "'window' must be a positive number of seconds, not -30"),
        ({"type": "log_present", "service": "api", "pattern": "ready", "window": "long"},
         "'window' must be a positive number of seconds"),
        ({"type": "log_absent", "service": "api", "pattern": "(ERROR"},
         "'pattern' must be a valid regular expression (missing ), unterminated subpattern"),
        ({"type": "tcp", "host": "db", "port": 70000}, "'port' must be a port number (1-65535), not 70000"),
        ({"type": "tcp", "host": "db", "port": "5432"}, "'port' must be a port number"),
        ({"type": "exec", "service": "api", "command": ["true"], "expect_exit": "0"},
         "'expect_exit' must be an exit code (0-255)"),
        ({"type": "exec", "service": "api", "command": []}, "'command' must be a list of arguments"),
        ({"type": "exec", "service": 5, "command": ["true"]}, "'service' must be a non-empty string"),
        ({"type": "containers", "services": "api"}, "'services' must be a list of service names"),
    ],
)
def test_invalid_values_of_other_types_rejected(tmp_path, entry, expected):
    with pytest.raises(PlanError) as raised:
        parse_plan({"checks": [entry]}, tmp_path)

    assert expected in raised.value.message


def test_boolean_settle_timeout_rejected(tmp_path):
    with pytest.raises(PlanError, match="positive number"):
        parse_plan({"settle_timeout": True}, tmp_path)


def test_valid_values_accepted(tmp_path):
    entries = [
        check(method="HEAD", expect_status=204, timeout=2.5,
              expect_json=[{"path": "workers", "where": {"status": "alive"}, "min_count": 2},
                           {"path": "version", "equals": "1"}]),
        {"name": "db", "type": "tcp", "host": "db", "port": 5432, "timeout": 3},
        {"name": "cli", "type": "exec", "service": "api", "command": ["python", "-V"],
         "expect_exit": 0, "expect_output": 3, "timeout": 10},
        {"name": "quiet", "type": "log_absent", "service": "api", "pattern": "ERROR|Traceback", "window": 30},
        {"name": "up", "type": "containers", "services": ["api", "db"]},
    ]

    plan = parse_plan({"plan": {"id": "p", "name": "n", "target": "t"}, "checks": entries}, tmp_path)

    assert [spec.type for spec in plan.checks] == ["http", "tcp", "exec", "log_absent", "containers"]
    assert plan.checks[0].params["expect_status"] == 204


def test_plan_value_error_in_chinese(tmp_path):
    from stackmedic.i18n import message_text

    with pytest.raises(PlanError) as raised:
        parse_plan({"checks": [check(expect_status="ok")]}, tmp_path)

    chinese = raised.value.localized("zh-CN")[0]
    assert "HTTP 状态码（100-599）" in chinese
    assert "'expect_status'" in chinese
    assert message_text(raised.value.translatable, "en") == raised.value.message
