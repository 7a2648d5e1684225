"""Rebuilding dataclasses from dicts: nested types, optionals, enums, errors."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

from stackmedic.model import (
    Category,
    ComposeEdit,
    Finding,
    Fixability,
    Repair,
    RepairStatus,
    SourceLocation,
    to_jsonable,
)
from stackmedic.report.record_io import RecordFormatError, from_dict


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Leaf:
    name: str
    weight: float = 1.0


@dataclass
class Tree:
    leaves: list[Leaf]
    colour: Colour
    parent: Leaf | None = None
    tags: dict[str, int] = field(default_factory=dict)
    pair: tuple[int, str] = (0, "")
    anything: Any = None


def test_nested_dataclasses_lists_and_enums_are_rebuilt() -> None:
    data = {
        "leaves": [{"name": "a", "weight": 2}, {"name": "b"}],
        "colour": "blue",
        "parent": {"name": "root"},
        "tags": {"x": 1},
        "pair": [3, "three"],
        "anything": {"free": ["form"]},
    }

    tree = from_dict(Tree, data)

    assert tree == Tree(
        leaves=[Leaf("a", 2.0), Leaf("b", 1.0)],
        colour=Colour.BLUE,
        parent=Leaf("root"),
        tags={"x": 1},
        pair=(3, "three"),
        anything={"free": ["form"]},
    )
    assert isinstance(tree.leaves[0].weight, float)


def test_optional_accepts_null_and_defaults_fill_missing_fields() -> None:
    tree = from_dict(Tree, {"leaves": [], "colour": "red", "parent": None})

    assert tree.parent is None
    assert tree.tags == {}
    assert tree.pair == (0, "")


def test_model_finding_with_repair_round_trips() -> None:
    finding = Finding(
        id="F001",
        code="ENDPOINT_MISMATCH",
        service="worker",
        summary="s",
        confidence=0.5,
        category=Category.CONFIGURATION,
        fixable_by=Fixability.COMPOSE,
        location=SourceLocation("w.py", 3),
        repairs=[
            Repair(
                id="R1",
                finding_id="F001",
                code="ENDPOINT_MISMATCH",
                service="worker",
                title="t",
                edit=ComposeEdit("set_env", "worker", {"name": "A", "value": "1"}),
                status=RepairStatus.PLANNED,
            )
        ],
    )
    assert from_dict(Finding, to_jsonable(asdict(finding))) == finding


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"colour": "red"}, r"Tree\.leaves: required field is missing"),
        ({"leaves": {}, "colour": "red"}, r"Tree\.leaves: expected a list, got dict"),
        (
            {"leaves": [{"name": 3}], "colour": "red"},
            r"Tree\.leaves\[0\]\.name: expected str, got int",
        ),
        ({"leaves": [], "colour": "green"}, r"Tree\.colour: 'green' is not a valid Colour"),
        ({"leaves": [], "colour": None}, r"Tree\.colour: value must not be null"),
        (
            {"leaves": [{"name": "a", "weight": True}], "colour": "red"},
            r"weight: expected float, got bool",
        ),
        ({"leaves": [], "colour": "red", "pair": [1]}, r"Tree\.pair: expected 2 items, got 1"),
        (
            {"leaves": [], "colour": "red", "parent": "root"},
            r"Tree\.parent: expected an object, got str",
        ),
    ],
)
def test_invalid_values_name_their_path(data: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordFormatError, match=message):
        from_dict(Tree, data)


def test_non_dataclass_target_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        from_dict(dict, {})  # type: ignore[type-var]
