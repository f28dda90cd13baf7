"""Frozen records: the value classes of the IR, the component specs and the project settings.

`@record` gives a class what `@dataclass(frozen=True, kw_only=True)` would: keyword-only
construction with defaults and `field(default_factory=...)`, `==`, `hash`, a readable repr,
immutability, plus `evolve(**changes)` (a changed copy). It exists for start-up time alone: on
Python 3.11 the dataclass decorator compiles six methods per class with `exec` (~0.6 ms a
class, a quarter of `omlc compile`'s 0.1 s for the ~30 classes it loads), while these methods
are written once, here, and shared. Type checkers read it as a dataclass (`dataclass_transform`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, Field, FrozenInstanceError, field
from typing import Any, ClassVar, NamedTuple, Self, TypeVar, dataclass_transform

__all__ = ["Record", "RecordField", "described", "record", "record_fields"]

T = TypeVar("T", bound=type)


class RecordField(NamedTuple):
    name: str
    type: str
    """The annotation as written (a string: the modules use `from __future__ import annotations`)."""
    default: Any
    factory: Any
    metadata: Mapping[str, Any]
    repr: bool


def described(default: Any = MISSING, *, description: str, default_factory: Any = MISSING,  # noqa: ANN401
              ge: float | None = None, le: float | None = None) -> Any:  # noqa: ANN401
    """A field with the text (and bounds) that the JSON Schema export and the checks read."""
    return field(default=default, default_factory=default_factory,
                 metadata={"description": description, "ge": ge, "le": le})


class Record:
    """The shared methods of every `@record` class."""

    __slots__ = ()
    __record_fields__: ClassVar[tuple[RecordField, ...]] = ()

    def __init__(self, **values: Any) -> None:  # noqa: ANN401
        state = self.__dict__
        for item in self.__record_fields__:
            if item.name in values:
                state[item.name] = values.pop(item.name)
            elif item.factory is not MISSING:
                state[item.name] = item.factory()
            elif item.default is not MISSING:
                state[item.name] = item.default
            else:
                raise TypeError(f"{type(self).__name__}() needs the keyword argument '{item.name}'")
        if values:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments {', '.join(sorted(values))}")

    def evolve(self, **changes: Any) -> Self:  # noqa: ANN401
        """A copy with `changes` applied, without re-running `__init__` (the compiler's passes copy
        every step several times)."""
        unknown = changes.keys() - self.__dict__.keys()
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(sorted(unknown))}")
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.__dict__.update(changes)
        return clone

    def _values(self) -> tuple[Any, ...]:
        return tuple(self.__dict__[item.name] for item in self.__record_fields__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{item.name}={self.__dict__[item.name]!r}" for item in self.__record_fields__ if item.repr)
        return f"{type(self).__name__}({shown})"

    def __setattr__(self, name: str, value: Any) -> None:  # noqa: ANN401
        raise FrozenInstanceError(f"cannot assign to field '{name}' of a frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field '{name}' of a frozen {type(self).__name__}")


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field, described))
def record(cls: T) -> T:
    """Make `cls` (a subclass of `Record`) a frozen record of its annotated fields, the
    inherited ones first, as a dataclass would order them."""
    if not issubclass(cls, Record):
        raise TypeError(f"@record needs a subclass of Record, not {cls.__name__}")
    inherited = {item.name: item for item in cls.__record_fields__}
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
            continue
        value = cls.__dict__.get(name, MISSING)
        if isinstance(value, Field):
            item = RecordField(name, str(annotation), value.default, value.default_factory, value.metadata,
                               bool(value.repr))
            if value.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, value.default)
        else:
            item = RecordField(name, str(annotation), value, MISSING, {}, True)
        inherited.pop(name, None)
        inherited[name] = item
    cls.__record_fields__ = tuple(inherited.values())
    return cls


def record_fields(cls_or_record: type[Record] | Record) -> tuple[RecordField, ...]:
    """The fields of a record class or instance, in order (what `dataclasses.fields` gives a dataclass)."""
    return cls_or_record.__record_fields__
