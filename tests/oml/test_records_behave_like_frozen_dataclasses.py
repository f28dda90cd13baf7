"""oml.records gives the IR, the specs and the settings what frozen keyword-only dataclasses
would (without their per-class code generation); these are the promises the compiler relies on."""

from __future__ import annotations

import pickle
from dataclasses import FrozenInstanceError, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osiris.oml.ir import DEFAULT_RETRY, RetryPolicy, Step
from osiris.oml.records import Record, described, record, record_fields
from osiris.oml.span import Span


@record
class Base(Record):
    span: str
    tags: dict[str, int] = field(default_factory=dict)


@record
class Child(Base):
    name: str = described(description="what it is called")
    size: int = 1
    text: str = field(default="", repr=False)


def test_fields_are_ordered_inherited_first_with_their_metadata() -> None:
    assert [item.name for item in record_fields(Child)] == ["span", "tags", "name", "size", "text"]
    assert record_fields(Child)[2].metadata["description"] == "what it is called"
    assert Child.size == 1 and not hasattr(Child, "name")  # a default stays readable on the class


def test_construction_fills_defaults_and_refuses_missing_or_unknown_names() -> None:
    first, second = Child(span="a", name="x"), Child(span="b", name="y")
    assert (first.size, first.text, first.tags) == (1, "", {})
    assert first.tags is not second.tags  # each instance gets its own factory value
    with pytest.raises(TypeError, match="'name'"):
        Child(span="a")
    with pytest.raises(TypeError, match="colour"):
        Child(span="a", name="x", colour="red")


def test_records_are_frozen() -> None:
    item = Child(span="a", name="x")
    with pytest.raises(FrozenInstanceError):
        item.size = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del item.name  # type: ignore[misc]
    assert item.size == 1


def test_equality_hash_and_repr_follow_the_fields() -> None:
    assert Child(span="a", name="x") == Child(span="a", name="x")
    assert Child(span="a", name="x") != Child(span="a", name="y")
    assert Child(span="a", name="x") != Base(span="a")  # another class is never equal
    assert hash(RetryPolicy(max_attempts=3)) == hash(RetryPolicy(max_attempts=3))
    assert RetryPolicy() == DEFAULT_RETRY
    assert repr(Child(span="a", name="x", text="hidden")) == "Child(span='a', tags={}, name='x', size=1)"


def test_evolve_copies_with_changes_and_leaves_the_original_alone() -> None:
    item = Child(span="a", name="x")
    changed = item.evolve(size=5, name="z")
    assert (changed.size, changed.name, changed.span) == (5, "z", "a")
    assert (item.size, item.name) == (1, "x")
    with pytest.raises(TypeError, match="colour"):
        item.evolve(colour="red")


def test_ir_records_survive_pickling() -> None:
    span = Span("p.yaml", 1, 1, 1, 2)
    step = Step(span=span, pointer="/steps/0", index=0, id="a", id_span=span, component="x.y",
                component_span=span)
    assert pickle.loads(pickle.dumps(step)) == step


@given(st.integers(1, 20), st.floats(0, 86400), st.floats(0, 86400))
def test_evolve_equals_construction(attempts: int, backoff: float, ceiling: float) -> None:
    built = RetryPolicy(max_attempts=attempts, backoff_seconds=backoff, max_backoff_seconds=ceiling)
    assert DEFAULT_RETRY.evolve(max_attempts=attempts, backoff_seconds=backoff,
                                max_backoff_seconds=ceiling) == built
