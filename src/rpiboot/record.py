"""Small typed record classes for the boot path, without the start-up cost of dataclasses.

``@record`` turns a class with annotated fields into a frozen value type (``__init__``,
``__repr__``, ``__eq__``, ``__hash__``, read-only attributes); ``@record(frozen=False)``
makes a mutable one, ``@record(kw_only=True)`` one built from keyword arguments only.
Type checkers see it as a dataclass (PEP 681 ``dataclass_transform``), so constructor calls
are checked exactly as for ``@dataclass(frozen=True)``.

Why not :mod:`dataclasses`: on the boot path (process start -> first USB request) importing
``dataclasses`` (which imports ``inspect``) and generating the methods of ~25 classes with
``exec`` cost ~20 ms, a third of rpiboot's own start-up (benchmarks/bench_startup.py).  Here
the methods are shared functions driven by each class's field list: nothing is compiled at
import, and ``typing`` is not imported at run time either.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    from typing_extensions import dataclass_transform

    T = TypeVar("T")
else:
    def dataclass_transform(**_kwargs):
        return lambda decorated: decorated

_MISSING = object()


class FrozenRecordError(AttributeError):
    """Assignment to a field of a frozen record."""


class _Field:
    """One field: its default (or default factory), and whether it counts in ``==``/repr."""

    __slots__ = ("compare", "default", "default_factory", "name", "shown")

    def __init__(self, name: str, default: Any = _MISSING,
                 default_factory: Callable[[], Any] | None = None, *, compare: bool = True,
                 shown: bool = True) -> None:
        self.name = name
        self.default = default
        self.default_factory = default_factory
        self.compare = compare
        self.shown = shown


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | None = None,
          compare: bool = True, repr: bool = True) -> Any:
    """A field with options: ``default_factory`` (a fresh default per instance),
    ``compare=False`` (left out of ``==`` and ``hash``), ``repr=False``."""
    return _Field("", default, default_factory, compare=compare, shown=repr)


def _own_fields(cls: type) -> list[_Field]:
    found = []
    own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 - inspect costs start-up
    for name, annotation in own.items():
        if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
            continue
        value = cls.__dict__.get(name, _MISSING)
        if isinstance(value, _Field):
            value.name = name
            found.append(value)
            if value.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, value.default)
        else:
            found.append(_Field(name, value))
    return found


def _collect(cls: type) -> tuple[_Field, ...]:
    by_name: dict[str, _Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for spec in getattr(base, "__record_fields__", ()):
            by_name[spec.name] = spec
    for spec in _own_fields(cls):
        by_name[spec.name] = spec
    specs = tuple(by_name.values())
    seen_default = False
    for spec in specs:
        has_default = spec.default is not _MISSING or spec.default_factory is not None
        if seen_default and not has_default:
            raise TypeError(f"{cls.__name__}: field {spec.name!r} without a default "
                            "follows one with a default")
        seen_default = seen_default or has_default
    return specs


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    specs: tuple[_Field, ...] = type(self).__record_fields__
    if args and type(self).__record_kw_only__:
        raise TypeError(f"{type(self).__name__}() takes keyword arguments only")
    if len(args) > len(specs):
        raise TypeError(f"{type(self).__name__}() takes {len(specs)} positional arguments "
                        f"but {len(args)} were given")
    for spec, value in zip(specs, args, strict=False):
        if spec.name in kwargs:
            raise TypeError(f"{type(self).__name__}() got multiple values for {spec.name!r}")
        object.__setattr__(self, spec.name, value)
    for spec in specs[len(args):]:
        if spec.name in kwargs:
            value = kwargs.pop(spec.name)
        elif spec.default_factory is not None:
            value = spec.default_factory()
        elif spec.default is not _MISSING:
            value = spec.default
        else:
            raise TypeError(f"{type(self).__name__}() missing argument {spec.name!r}")
        object.__setattr__(self, spec.name, value)
    if kwargs:  # what is left matched no field
        unknown = ", ".join(sorted(kwargs))
        raise TypeError(f"{type(self).__name__}() got unexpected arguments: {unknown}")
    post_init = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _compared(obj: Any) -> tuple[Any, ...]:
    """The values ``==`` and ``hash`` look at, in field order."""
    return tuple(getattr(obj, spec.name) for spec in type(obj).__record_fields__
                 if spec.compare)


def _repr(self: Any) -> str:
    inner = ", ".join(f"{spec.name}={getattr(self, spec.name)!r}"
                      for spec in type(self).__record_fields__ if spec.shown)
    return f"{type(self).__qualname__}({inner})"


def _eq(self: Any, other: object) -> Any:  # bool, or NotImplemented
    if other.__class__ is not self.__class__:
        return NotImplemented
    same: bool = _compared(self) == _compared(other)
    return same


def _hash(self: Any) -> int:
    return hash((type(self), _compared(self)))


def _frozen_setattr(self: Any, name: str, _value: object) -> None:
    raise FrozenRecordError(f"cannot assign to field {name!r} of a frozen "
                            f"{type(self).__name__}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenRecordError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")


def _build(cls: type[T], frozen: bool, kw_only: bool) -> type[T]:
    setattr(cls, "__record_fields__", _collect(cls))  # noqa: B010 - not a plain attribute
    setattr(cls, "__record_kw_only__", kw_only)  # noqa: B010
    for name, method in (("__init__", _init), ("__repr__", _repr), ("__eq__", _eq)):
        setattr(cls, name, method)
    if frozen:
        setattr(cls, "__hash__", _hash)  # noqa: B010
        setattr(cls, "__setattr__", _frozen_setattr)  # noqa: B010
        setattr(cls, "__delattr__", _frozen_delattr)  # noqa: B010
    else:
        setattr(cls, "__hash__", None)  # noqa: B010 - mutable: unhashable, like dataclasses
    return cls


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T] | None = None, *, frozen: bool = True, kw_only: bool = False) -> Any:
    """Class decorator: a record class (frozen unless ``frozen=False``; ``kw_only``: its
    constructor takes keyword arguments only)."""
    if cls is None:
        return lambda decorated: _build(decorated, frozen, kw_only)
    return _build(cls, frozen, kw_only)


def fields(obj: Any) -> tuple[str, ...]:
    """The field names of a record class or instance, in order."""
    cls: Any = obj if isinstance(obj, type) else type(obj)
    return tuple(spec.name for spec in cls.__record_fields__)


def asdict(obj: Any) -> Any:
    """A record (and the records, lists, tuples and dicts inside it) as plain data."""
    if hasattr(type(obj), "__record_fields__"):
        return {spec.name: asdict(getattr(obj, spec.name))
                for spec in type(obj).__record_fields__}
    if isinstance(obj, (list, tuple)):
        return [asdict(item) for item in obj]
    if isinstance(obj, dict):
        return {key: asdict(value) for key, value in obj.items()}
    return obj


def replace(obj: T, **changes: Any) -> T:
    """A copy of a record with some fields changed."""
    cls: Any = type(obj)
    current = {spec.name: getattr(obj, spec.name) for spec in cls.__record_fields__}
    current.update(changes)
    copy: T = cls(**current)
    return copy
