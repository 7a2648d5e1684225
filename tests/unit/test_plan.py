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
