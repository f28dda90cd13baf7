"""Targeted mutations of a valid pipeline, each with the one diagnostic it must produce.

A mutation breaks one rule in a generated pipeline and says which code the compiler must
report, at which node (a JSON Pointer into the mutated document, and whether the key or the
value there). Where that node is in the text is worked out independently of the compiler, by
ruamel's round-trip loader, so a diagnostic at the wrong line or column fails the property.
"""

from __future__ import annotations

import copy
import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from tests.property.strategies import EXTRACTORS, TRANSFORMS, WRITERS, dump

Part = Literal["key", "value", "file"]


@dataclass(frozen=True)
class Expected:
    code: str
    pointer: str
    """The diagnostic's JSON Pointer."""
    part: Part
    """Where it points: the key or the value at `at`, or the file as a whole (1:1)."""
    at: str | None = None
    """The node it points at, when not `pointer` itself (a missing key: its parent)."""
    offset: int | None = None
    """Characters into the value's text (after an opening quote), for errors inside a scalar."""
    position: tuple[int, int] | None = None
    """(line, column) worked out from the text, where a YAML loader cannot say (repeated keys)."""


@dataclass(frozen=True)
class Mutated:
    text: str
    expected: Expected
    also: frozenset[str] = frozenset()
    """Other error codes the same change may cause (a consequence, never the point)."""


Mutation = Callable[[dict[str, Any], random.Random], Mutated | None]
"""Returns None when the pipeline has nothing this mutation can break."""


def _steps(data: dict[str, Any], components: tuple[str, ...]) -> list[int]:
    return [i for i, s in enumerate(data["steps"]) if s["component"] in components]


def _ids(data: dict[str, Any]) -> set[str]:
    return {s["id"].lower() for s in data["steps"]}


def _fresh_id(data: dict[str, Any], rng: random.Random) -> str:
    while True:
        candidate = f"ghost{rng.randrange(10**6)}"
        if candidate not in _ids(data):
            return candidate


def _done(data: dict[str, Any], code: str, pointer: str, part: Part, also: tuple[str, ...] = (), *,
          at: str | None = None, offset: int | None = None) -> Mutated:
    return Mutated(dump(data), Expected(code, pointer, part, at, offset), frozenset(also))


def _unneeded(data: dict[str, Any]) -> list[int]:
    """Steps no other step refers to (writers, or an extractor whose output nobody reads)."""
    return [i for i, s in enumerate(data["steps"]) if not _needed(data, s["id"])]


def drop_name(data: dict[str, Any], rng: random.Random) -> Mutated:
    del data["name"]
    return _done(data, "OML003", "/name", "file")


def version_as_number(data: dict[str, Any], rng: random.Random) -> Mutated:
    data["oml_version"] = rng.choice([1, 0.1, 2])
    return _done(data, "OML004", "/oml_version", "value")


def unknown_top_level_key(data: dict[str, Any], rng: random.Random) -> Mutated:
    data[rng.choice(["stepz", "nme", "parameters", "owner"])] = "x"
    return _done(data, "OML006", f"/{list(data)[-1]}", "key")


def steps_not_a_list(data: dict[str, Any], rng: random.Random) -> Mutated:
    data["steps"] = rng.choice(["x", 3, {"a": 1}])
    return _done(data, "OML007", "/steps", "value")


def empty_steps(data: dict[str, Any], rng: random.Random) -> Mutated:
    data["steps"] = []
    return _done(data, "OML008", "/steps", "value")


def invalid_name(data: dict[str, Any], rng: random.Random) -> Mutated:
    data["name"] = rng.choice(["has space", "-dash", "", "a/b"])
    return _done(data, "OML010", "/name", "value")


def step_not_a_mapping(data: dict[str, Any], rng: random.Random) -> Mutated | None:
    candidates = _unneeded(data)  # nothing may refer to the step that disappears
    if not candidates:
        return None
    i = rng.choice(candidates)
    data["steps"][i] = rng.choice(["write it", 7, ["a"]])
    return _done(data, "OML020", f"/steps/{i}", "value")


def _needed(data: dict[str, Any], step_id: str) -> bool:
    text = repr([(s.get("needs"), s.get("inputs")) for s in data["steps"]])
    return repr(step_id) in text or "${" + step_id + "." in text


def drop_component(data: dict[str, Any], rng: random.Random) -> Mutated | None:
    candidates = _unneeded(data)  # steps that refer to a step without a component get OML032
    if not candidates:
        return None
    i = rng.choice(candidates)
    del data["steps"][i]["component"]
    return _done(data, "OML021", f"/steps/{i}/component", "value", at=f"/steps/{i}")


def unknown_step_key(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.randrange(len(data["steps"]))
    key = rng.choice(["neds", "retries", "configuration", "after"])
    data["steps"][i][key] = ["x"]
    return _done(data, "OML022", f"/steps/{i}/{key}", "key")


def invalid_step_id(data: dict[str, Any], rng: random.Random) -> Mutated | None:
    candidates = _unneeded(data)
    if not candidates:
        return None
    i = rng.choice(candidates)
    data["steps"][i]["id"] = rng.choice(["has space", "-lead", "a.b", "x" * 65, "é"])
    return _done(data, "OML023", f"/steps/{i}/id", "value")


def bad_retry(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.randrange(len(data["steps"]))
    data["steps"][i]["retry"] = rng.choice([0, -1, "often", {"max_attempts": 0}, [3]])
    return _done(data, "OML024", f"/steps/{i}/retry", "value")


def duplicate_step(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.randrange(len(data["steps"]))
    data["steps"].append(copy.deepcopy(data["steps"][i]))
    last = len(data["steps"]) - 1
    # The copy of an extractor feeding nothing, or of a writer, adds no other problem.
    return _done(data, "OML031", f"/steps/{last}/id", "value")


def needs_unknown_step(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.randrange(len(data["steps"]))
    step = data["steps"][i]
    ghost = _fresh_id(data, rng)
    if step["component"] in EXTRACTORS:
        step["needs"] = [ghost]  # an order-only need is allowed on an extractor
        return _done(data, "OML032", f"/steps/{i}/needs/0", "value")
    step.pop("inputs", None)
    needs = step.get("needs")
    needs = [needs] if isinstance(needs, str) else list(needs or [])
    producers = [n for n in needs if n in {s["id"] for s in data["steps"]}]
    step["needs"] = [*producers[:1], ghost] if producers else [ghost]
    also = ("OML034",) if not producers else ()
    return _done(data, "OML032", f"/steps/{i}/needs/{len(step['needs']) - 1}", "value", also)


def self_dependency(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.randrange(len(data["steps"]))
    step = data["steps"][i]
    step.pop("inputs", None)
    step["needs"] = [step["id"]]
    also = ("OML034",) if step["component"] not in EXTRACTORS else ()
    return _done(data, "OML039", f"/steps/{i}/needs/0", "value", also)


def writer_without_input(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.choice(_steps(data, WRITERS))
    data["steps"][i].pop("needs", None)
    data["steps"][i].pop("inputs", None)
    return _done(data, "OML034", f"/steps/{i}/needs", "value", at=f"/steps/{i}/id")


def unknown_component(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.randrange(len(data["steps"]))
    data["steps"][i]["component"] = rng.choice(["filesystem.csv_extracter", "nope.thing", "mysql"])
    # A writer that orders after this step can no longer tell it produces nothing: OML035.
    return _done(data, "OML040", f"/steps/{i}/component", "value", ("OML035",))


def unsupported_mode(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.choice(_steps(data, EXTRACTORS))
    data["steps"][i]["mode"] = "write"
    return _done(data, "OML041", f"/steps/{i}/mode", "value")


def unknown_config_key(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.randrange(len(data["steps"]))
    key = rng.choice(["pathh", "bogus", "querry", "over_write"])
    data["steps"][i]["config"][key] = 1
    return _done(data, "OML042", f"/steps/{i}/config/{key}", "key")


def missing_required_config(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.randrange(len(data["steps"]))
    config = data["steps"][i]["config"]
    required = "query" if data["steps"][i]["component"] in TRANSFORMS else "path"
    del config[required]
    return _done(data, "OML043", f"/steps/{i}/config/{required}", "key", at=f"/steps/{i}/config")


def wrong_config_type(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.randrange(len(data["steps"]))
    config = data["steps"][i]["config"]
    key = "query" if data["steps"][i]["component"] in TRANSFORMS else "path"
    config[key] = rng.choice([12, True, ["a"], {"a": 1}])
    return _done(data, "OML044", f"/steps/{i}/config/{key}", "value")


MALFORMED = {"${params.": 8, "x/${}.csv": 4, "${params.a b}": 10, "${ params.p }": 2, "${1}": 2,
             "a${params.p}}b${": 14}
"""Malformed expressions and where in them the parser stops (the first character it cannot take)."""


def malformed_expression(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.choice(_steps(data, EXTRACTORS + WRITERS))
    text = rng.choice(sorted(MALFORMED))
    data["steps"][i]["config"]["path"] = text
    return _done(data, "OML050", f"/steps/{i}/config/path", "value", offset=MALFORMED[text])


def unknown_param(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.choice(_steps(data, EXTRACTORS + WRITERS))
    name = "undeclared_" + str(rng.randrange(1000))
    data["steps"][i]["config"]["path"] = "${params." + name + "}"
    return _done(data, "OML051", f"/steps/{i}/config/path", "value")


def step_ref_in_config(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.choice(_steps(data, WRITERS))
    source = data["steps"][_steps(data, EXTRACTORS)[0]]["id"]
    data["steps"][i]["config"]["path"] = "${" + source + ".df}"
    return _done(data, "OML052", f"/steps/{i}/config/path", "value")


BAD_CONNECTIONS = {"@": 0, "filesystem.local": 0, "@filesystem": 1, "@a.b.c": 4, "@filesystem.": 11, "@.x": 1}
"""Malformed connection references and the offset the diagnostic points at."""


def bad_connection_ref(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.choice(_steps(data, EXTRACTORS + WRITERS))
    text = rng.choice(sorted(BAD_CONNECTIONS))
    data["steps"][i]["config"]["connection"] = text
    return _done(data, "OML053", f"/steps/{i}/config/connection", "value", offset=BAD_CONNECTIONS[text])


def document_not_a_mapping(data: dict[str, Any], rng: random.Random) -> Mutated:
    return Mutated(dump(data["steps"]), Expected("OML002", "", "value", at=""))


def forbidden_top_level_key(data: dict[str, Any], rng: random.Random) -> Mutated:
    key = rng.choice(["tasks", "connectors", "outputs", "version"])
    data[key] = [] if key != "version" else 1
    return _done(data, "OML005", f"/{key}", "key")


def repeated_yaml_key(data: dict[str, Any], rng: random.Random) -> Mutated:
    """The text repeats a step's `id:` line; YAML would keep only one of them."""
    i = rng.randrange(len(data["steps"]))
    lines = dump(data).splitlines(keepends=True)
    first = _step_line(lines, i)
    indent = len(lines[first]) - len(lines[first].lstrip(" -"))
    lines.insert(first + 1, " " * indent + f"id: {_fresh_id(data, rng)}\n")
    return Mutated("".join(lines), Expected("OML009", f"/steps/{i}/id", "key", position=(first + 2, indent + 1)))


def _step_line(lines: list[str], index: int) -> int:
    """The line of the `- id: ...` that starts step `index` (dump() writes id first, at column 0)."""
    starts = [n for n, line in enumerate(lines) if line.startswith("- id:")]
    return starts[index]


def cycle(data: dict[str, Any], rng: random.Random) -> Mutated | None:
    transforms = _steps(data, TRANSFORMS)
    if not transforms:
        return None
    i = rng.choice(transforms)
    step = data["steps"][i]
    step.pop("inputs", None)
    source = data["steps"][_steps(data, EXTRACTORS)[0]]["id"]
    loop = {"id": _fresh_id(data, rng), "component": "duckdb.processor", "needs": [step["id"]],
            "config": {"query": "SELECT 1"}}
    step["needs"] = [source, loop["id"]]
    data["steps"].append(loop)
    # Reported once, at the id of the cycle's step with the smallest id, naming its `needs`.
    first = i if step["id"] < loop["id"] else len(data["steps"]) - 1
    return _done(data, "OML033", f"/steps/{first}/needs", "value", at=f"/steps/{first}/id")


def writer_with_two_inputs(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.choice(_steps(data, WRITERS))
    producers = [data["steps"][j]["id"] for j in _steps(data, EXTRACTORS + TRANSFORMS)]
    step = data["steps"][i]
    step.pop("inputs", None)
    first = rng.choice(producers)
    second = rng.choice([p for p in producers if p != first] or [first])
    if second == first:
        step["inputs"] = {"a": "${" + first + ".df}", "b": "${" + first + ".df}"}
        return _done(data, "OML035", f"/steps/{i}/inputs/b", "value")
    step["needs"] = [first, second]
    return _done(data, "OML035", f"/steps/{i}/needs/1", "value")


def input_not_a_reference(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.choice(_steps(data, TRANSFORMS + WRITERS))
    step = data["steps"][i]
    step.pop("needs", None)
    step["inputs"] = {"src": rng.choice(["orders", "${params.x}", 3, "a ${x.df}"])}
    return _done(data, "OML036", f"/steps/{i}/inputs/src", "value", ("OML034",))


def unknown_output(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.choice(_steps(data, TRANSFORMS + WRITERS))
    step = data["steps"][i]
    step.pop("needs", None)
    source = data["steps"][_steps(data, EXTRACTORS)[0]]["id"]
    step["inputs"] = {"src": "${" + source + "." + rng.choice(["rows", "data", "output"]) + "}"}
    return _done(data, "OML037", f"/steps/{i}/inputs/src", "value")


def extractor_with_input(data: dict[str, Any], rng: random.Random) -> Mutated:
    i = rng.choice(_steps(data, EXTRACTORS))
    source = {"id": _fresh_id(data, rng), "component": "filesystem.csv_extractor", "config": {"path": "in.csv"}}
    data["steps"].append(source)
    data["steps"][i]["inputs"] = {"src": "${" + source["id"] + ".df}"}
    return _done(data, "OML038", f"/steps/{i}/inputs", "value", at=f"/steps/{i}/inputs/src")


def invalid_param_declaration(data: dict[str, Any], rng: random.Random) -> Mutated:
    params = data.setdefault("params", {})
    name = "fresh_" + str(rng.randrange(1000))
    params[name] = {"type": rng.choice(["int", "str", "date"]), "default": 1}
    return _done(data, "OML060", f"/params/{name}/type", "value")


MUTATIONS: dict[str, Mutation] = {f.__name__: f for f in (
    document_not_a_mapping, forbidden_top_level_key, repeated_yaml_key, cycle, writer_with_two_inputs,
    input_not_a_reference, unknown_output, extractor_with_input, invalid_param_declaration,
    drop_name, version_as_number, unknown_top_level_key, steps_not_a_list, empty_steps, invalid_name,
    step_not_a_mapping, drop_component, unknown_step_key, invalid_step_id, bad_retry, duplicate_step,
    needs_unknown_step, self_dependency, writer_without_input, unknown_component, unsupported_mode,
    unknown_config_key, missing_required_config, wrong_config_type, malformed_expression, unknown_param,
    step_ref_in_config, bad_connection_ref,
)}


def locate(text: str, expected: Expected) -> tuple[int, int]:
    """1-based (line, column) of the node `expected` names, from ruamel's round-trip loader."""
    if expected.position is not None:
        return expected.position
    if expected.part == "file":
        return 1, 1
    node: Any = YAML().load(io.StringIO(text))
    where = expected.pointer if expected.at is None else expected.at
    if not where:  # the document itself
        return node.lc.line + 1, node.lc.col + 1
    *parents, last = [_token(t) for t in where.split("/")[1:]]
    for token in parents:
        node = node[int(token)] if isinstance(node, CommentedSeq) else node[token]
    if isinstance(node, CommentedSeq):
        line, column = node.lc.item(int(last))
    elif expected.part == "key":
        line, column = node.lc.key(last)
    else:
        assert isinstance(node, CommentedMap)
        line, column = node.lc.value(last)
    if expected.offset is not None:
        quoted = text.splitlines()[line][column] in "'\""
        column += quoted + expected.offset
    return line + 1, column + 1


def _token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")
