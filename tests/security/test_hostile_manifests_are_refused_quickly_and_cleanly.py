"""Manifest directories an adversarial review built against manifest version 3 (one cfg.json):
each is refused with a coded diagnostic (never an internal error), without a flood of
diagnostics, and without work that grows with the square of the input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from osiris.compiler.checks.config import MAX_SCHEMA_ERRORS, _identity
from osiris.compiler.diff import normalise_sql
from osiris.compiler.manifest import MAX_DIAGNOSTICS, MAX_EXTRA_KEYS_SHOWN, ManifestError, load_manifest
from osiris.oml.canonical import fingerprint
from tests.security.manifest_attacks import (
    assert_refused,
    compiled_project,
    osiris_run,
    snapshot,
    tamper,
)

pytestmark = pytest.mark.timeout(120)


def _load_problems(project: Path) -> list[tuple[str, str]]:
    with pytest.raises(ManifestError) as caught:
        load_manifest(project / "compiled", label="c", project_root=project)
    return [(d.code, d.message) for d in caught.value.diagnostics]


def test_a_lone_surrogate_in_cfg_json_is_malformed_not_an_internal_error(tmp_path: Path) -> None:
    """json.loads turns an unpaired \\ud800 escape into a string no UTF-8 file can hold: the event
    log and the report crashed on it. No fingerprint can cover it (its canonical JSON cannot be
    encoded), so this rule is what refuses it with a code."""
    project = compiled_project(tmp_path)
    cfgs = json.loads((project / "compiled" / "cfg.json").read_text(encoding="utf-8"))
    cfgs["write"]["\ud800"] = 1
    tamper(project / "compiled", lambda data, _: data)  # fingerprints as an attacker recomputes them
    text = json.dumps(cfgs)  # ensure_ascii: the surrogate is written as its escape
    (project / "compiled" / "cfg.json").write_text(text, encoding="utf-8")
    before = snapshot(tmp_path)
    status = assert_refused(tmp_path, project, before, osiris_run(project), "OML092")
    assert "lone UTF-16 surrogate" in status["error"]["message"]


def test_a_paired_surrogate_escape_is_an_ordinary_character(tmp_path: Path) -> None:
    project = compiled_project(tmp_path)

    def emoji(data, cfgs) -> None:  # noqa: ANN001
        cfgs["write"]["path"] = "out/\U0001f600.csv"

    tamper(project / "compiled", emoji)
    cfgs = json.loads((project / "compiled" / "cfg.json").read_text(encoding="utf-8"))
    (project / "compiled" / "cfg.json").write_text(json.dumps(cfgs), encoding="utf-8")  # \ud83d\ude00
    manifest, loaded, _ = load_manifest(project / "compiled", project_root=project)
    assert loaded["write"]["path"] == "out/\U0001f600.csv"
    assert fingerprint(loaded["write"]) == manifest.step("write").cfg_fp


def test_configs_for_thousands_of_keys_that_are_not_steps_are_summed_up(tmp_path: Path) -> None:
    project = compiled_project(tmp_path)

    def extra(data, cfgs) -> None:  # noqa: ANN001
        cfgs.update({f"ghost{i}": {} for i in range(5000)})

    tamper(project / "compiled", extra)
    problems = _load_problems(project)
    assert len(problems) == MAX_EXTRA_KEYS_SHOWN + 1 and {code for code, _ in problems} == {"OML092"}
    assert problems[-1][1].endswith(f"holds configs for {5000 - MAX_EXTRA_KEYS_SHOWN:,} more keys that are not "
                                    "steps of the manifest")


def test_a_manifest_error_carries_a_bounded_number_of_diagnostics(tmp_path: Path) -> None:
    project = compiled_project(tmp_path)

    def unknown_keys(data, cfgs) -> None:  # noqa: ANN001
        cfgs["write"].update({f"k{i}": i for i in range(MAX_DIAGNOSTICS + 50)})

    tamper(project / "compiled", unknown_keys)
    with pytest.raises(ManifestError) as caught:
        load_manifest(project / "compiled", label="c", project_root=project)
    assert len(caught.value.diagnostics) == MAX_DIAGNOSTICS
    assert f"(and {MAX_DIAGNOSTICS + 49} more problems)" in str(caught.value)


def test_a_long_list_of_distinct_objects_is_refused_with_a_bounded_report(tmp_path: Path) -> None:
    """`columns` takes unique strings; 20,000 distinct objects made jsonschema compare every pair
    (minutes) and report every item."""
    project = compiled_project(tmp_path)

    def objects(data, cfgs) -> None:  # noqa: ANN001
        cfgs["read"]["columns"] = [{"a": i} for i in range(20_000)]

    tamper(project / "compiled", objects)
    problems = _load_problems(project)
    assert 0 < len(problems) <= MAX_SCHEMA_ERRORS and {code for code, _ in problems} == {"OML096"}


@pytest.mark.parametrize(("items", "unique"), [
    (["a", "b"], True), (["a", "a"], False), ([{"a": 1}, {"a": 1}], False), ([{"a": 1}, {"a": 2}], True),
    ([1, 1.0], False), ([True, 1], True), ([None, False, 0], True), ([[1, {"x": [2]}], [1, {"x": [2]}]], False),
])
def test_unique_items_keeps_json_schema_equality(items: list, unique: bool) -> None:
    assert (len({_identity(item) for item in items}) == len(items)) is unique


def test_sql_too_deep_for_sqlglot_is_compared_as_text() -> None:
    deep = "SELECT " + "(" * 400 + "1" + ")" * 400
    assert normalise_sql(deep, "duckdb") == deep


HOSTILE_KEY = "\x1b[2K\r\x1b[32mAll checks passed; running.\x1b[0m\x1b]0;owned\x07\u202e"


def test_a_key_that_would_rewrite_the_terminal_is_shown_escaped(tmp_path: Path) -> None:
    """An unknown config key reaches the OML096 message: its escape sequences, carriage return and
    bidirectional override are printed as escapes, never acted on."""
    project = compiled_project(tmp_path)
    tamper(project / "compiled", lambda data, cfgs: cfgs["write"].update({HOSTILE_KEY: 1}))
    result = osiris_run(project)
    assert result.returncode == 1
    shown = result.stdout + result.stderr
    assert "\x1b" not in shown and "\r" not in shown and "\u202e" not in shown and "\x07" not in shown
    assert "\\x1b[2K\\x0d" in shown and "\\u202e" in shown


def test_terminal_safe_keeps_text_tabs_and_newlines() -> None:
    from osiris.compiler.render import terminal_safe

    assert terminal_safe("a\tb\nc é 表") == "a\tb\nc é 表"
    assert terminal_safe("\x00\x7f\x9b\u2066") == "\\x00\\x7f\\x9b\\u2066"
