"""rpiboot.record: the dataclass stand-in of the boot path behaves like a frozen dataclass."""

from __future__ import annotations

from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rpiboot.record import FrozenRecordError, asdict, field, fields, record, replace


@record
class Point:
    x: int
    y: int = 0
    tag: ClassVar[str] = "point"


@record
class Labelled(Point):
    label: str = ""
    hidden: object = field(default=None, compare=False, repr=False)


@record(frozen=False)
class Bag:
    items: list[int] = field(default_factory=list)


def test_init_positional_keyword_and_defaults() -> None:
    assert (Point(1).x, Point(1).y) == (1, 0)
    assert Point(1, 2) == Point(x=1, y=2)
    assert fields(Labelled) == ("x", "y", "label", "hidden")
    assert Point.tag == "point" and "tag" not in fields(Point)


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    ((), {}, "missing argument 'x'"),
    ((1, 2, 3), {}, "takes 2 positional arguments"),
    ((1,), {"x": 2}, "multiple values"),
    ((1,), {"z": 2}, "unexpected arguments: z"),
])
def test_bad_calls_are_type_errors(args: tuple[int, ...], kwargs: dict[str, int],
                                   message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Point(*args, **kwargs)


def test_frozen_records_refuse_assignment_and_hash_by_value() -> None:
    point = Point(1, 2)
    with pytest.raises(FrozenRecordError):
        point.x = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del point.y  # type: ignore[misc]
    assert hash(point) == hash(Point(1, 2)) and {point, Point(1, 2)} == {point}
    assert Point(1, 2) != Labelled(1, 2)  # another class is never equal


def test_compare_false_and_repr_false_fields() -> None:
    assert Labelled(1, hidden=object()) == Labelled(1, hidden=object())
    assert repr(Labelled(1, 2, "a")) == "Labelled(x=1, y=2, label='a')"


def test_mutable_records_get_fresh_defaults_and_no_hash() -> None:
    first, second = Bag(), Bag()
    first.items.append(1)
    assert second.items == [] and first != second
    first.items = [2]
    with pytest.raises(TypeError):
        hash(first)


def test_asdict_and_replace() -> None:
    assert asdict(Bag([1])) == {"items": [1]}
    assert asdict(Labelled(1, 2, "a"))["label"] == "a"
    assert replace(Point(1, 2), y=5) == Point(1, 5)


def test_a_required_field_after_a_default_is_refused() -> None:
    with pytest.raises(TypeError, match="without a default"):
        @record
        class Bad:
            a: int = 0
            b: int


@given(st.integers(), st.integers())
def test_equality_is_the_fields_equality(x: int, y: int) -> None:
    assert (Point(x, y) == Point(y, x)) == (x == y)
    assert replace(Point(x), y=y) == Point(x, y)


def test_keyword_only_records_refuse_positional_arguments() -> None:
    @record(kw_only=True)
    class Named:
        a: int
        b: int = 2

    assert Named(a=1) == Named(a=1, b=2)
    with pytest.raises(TypeError, match="keyword arguments only"):
        Named(1)  # type: ignore[misc]
