"""Rebuild dataclasses from the plain dicts that `RunRecord.to_dict()` produces.

`from_dict(cls, data)` reads the type hints of `cls` and converts each field:
nested dataclasses, `list[X]`, `tuple[X, ...]`, `dict[K, V]`, `X | None`,
enums by value, and the JSON scalars (an int is accepted where a float is
declared). Keys the dataclass does not declare are ignored, so a report
written by a newer stackmedic with added fields still loads. A missing field
without a default, or a value of the wrong type, raises `RecordFormatError`
with the path of the value (`cycles[0].checks[2].passed`).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import logging
import types
import typing
from typing import Any, TypeVar

from stackmedic.errors import StackmedicError
from stackmedic.i18n import Message, message

logger = logging.getLogger(__name__)

T = TypeVar("T")

_NONE_TYPE = type(None)


class RecordFormatError(StackmedicError):
    """A stored run record does not match the dataclasses it should fill."""


def from_dict(cls: type[T], data: Any, path: str = "") -> T:
    """Build an instance of the dataclass `cls` from `data`.

    Raises:
        RecordFormatError: `data` is not a dict, lacks a required field, or
            contains a value of the wrong type. The message names the path.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    return _convert(cls, data, path or cls.__name__)  # type: ignore[no-any-return]


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(annotation: Any, value: Any, path: str) -> Any:
    if annotation is Any:
        return value

    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return _convert_union(annotation, value, path)
    if value is None:
        raise RecordFormatError(message("errors.record.null", path=path))
    if origin is list:
        return _convert_list(annotation, value, path)
    if origin is tuple:
        return _convert_tuple(annotation, value, path)
    if origin is dict:
        return _convert_dict(annotation, value, path)

    if isinstance(annotation, type):
        if dataclasses.is_dataclass(annotation):
            return _convert_dataclass(annotation, value, path)
        if issubclass(annotation, enum.Enum):
            return _convert_enum(annotation, value, path)
        return _convert_scalar(annotation, value, path)

    raise RecordFormatError(
        message("errors.record.unsupported_type", path=path, annotation=repr(annotation))
    )


def _convert_dataclass(cls: type, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise RecordFormatError(
            message("errors.record.not_object", path=path, found=_type_name(value))
        )

    hints = _field_types(cls)
    arguments: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        if not item.init:
            continue
        field_path = f"{path}.{item.name}"
        if item.name in value:
            arguments[item.name] = _convert(hints[item.name], value[item.name], field_path)
        elif _has_default(item):
            continue
        else:
            raise RecordFormatError(message("errors.record.missing_field", path=field_path))

    unknown = set(value) - {item.name for item in dataclasses.fields(cls)}
    if unknown:
        logger.debug("ignoring unknown fields at %s: %s", path, ", ".join(sorted(unknown)))
    return cls(**arguments)


def _has_default(item: dataclasses.Field[Any]) -> bool:
    return (
        item.default is not dataclasses.MISSING or item.default_factory is not dataclasses.MISSING
    )


def _convert_union(annotation: Any, value: Any, path: str) -> Any:
    members = typing.get_args(annotation)
    if value is None:
        if _NONE_TYPE in members:
            return None
        raise RecordFormatError(message("errors.record.null", path=path))

    errors: list[Message] = []
    for member in members:
        if member is _NONE_TYPE:
            continue
        try:
            return _convert(member, value, path)
        except RecordFormatError as error:
            errors.append(error.translatable)
    if len(errors) == 1:
        raise RecordFormatError(errors[0])
    joined = errors[0]
    for error_message in errors[1:]:
        joined = message("errors.record.joined", first=joined, second=error_message)
    raise RecordFormatError(message("errors.record.no_member_fits", path=path, errors=joined))


def _convert_list(annotation: Any, value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise RecordFormatError(
            message("errors.record.not_list", path=path, found=_type_name(value))
        )
    (item_type,) = typing.get_args(annotation) or (Any,)
    return [_convert(item_type, item, f"{path}[{index}]") for index, item in enumerate(value)]


def _convert_tuple(annotation: Any, value: Any, path: str) -> tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise RecordFormatError(
            message("errors.record.not_list", path=path, found=_type_name(value))
        )
    arguments = typing.get_args(annotation)
    if len(arguments) == 2 and arguments[1] is Ellipsis:
        item_types = [arguments[0]] * len(value)
    elif not arguments:
        item_types = [Any] * len(value)
    else:
        if len(arguments) != len(value):
            raise RecordFormatError(
                message(
                    "errors.record.item_count", path=path, expected=len(arguments), found=len(value)
                )
            )
        item_types = list(arguments)
    return tuple(
        _convert(item_type, item, f"{path}[{index}]")
        for index, (item_type, item) in enumerate(zip(item_types, value, strict=True))
    )


def _convert_dict(annotation: Any, value: Any, path: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise RecordFormatError(
            message("errors.record.not_object", path=path, found=_type_name(value))
        )
    key_type, value_type = typing.get_args(annotation) or (Any, Any)
    return {
        _convert(key_type, key, f"{path} key {key!r}"): _convert(
            value_type, item, f"{path}[{key!r}]"
        )
        for key, item in value.items()
    }


def _convert_enum(cls: type[enum.Enum], value: Any, path: str) -> enum.Enum:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(repr(member.value) for member in cls)
        raise RecordFormatError(
            message(
                "errors.record.invalid_enum",
                path=path,
                value=repr(value),
                type=cls.__name__,
                expected=allowed,
            )
        ) from None


def _convert_scalar(cls: type, value: Any, path: str) -> Any:
    # bool is a subclass of int: reject True where a number is declared and
    # 1 where a bool is declared.
    if cls is bool:
        if isinstance(value, bool):
            return value
    elif cls is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif cls is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, cls):
        return value
    raise RecordFormatError(
        message(
            "errors.record.wrong_scalar", path=path, expected=cls.__name__, found=_type_name(value)
        )
    )


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__
