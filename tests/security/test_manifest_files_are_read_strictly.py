"""Reading a manifest directory, in process: each damaged file is refused with its exact
OML092/OML093 diagnostic, and the reader's limits hold at their boundaries.

test_manifest_variants_are_refused.py performs these attacks through the CLI, in a subprocess
that mutation testing cannot see into; these pin compiler/manifest.py itself (`make mutate`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from osiris.compiler.manifest import (
    MAX_JSON_DEPTH,
    ManifestError,
    _error,
    _RepeatedKey,
    _span,
    _unique_keys,
    load_manifest,
    max_file_bytes,
    read_regular,
)
from osiris.compiler.manifest_records import manifest_from_data
from osiris.oml.canonical import fingerprint, nests_deeper_than
from osiris.oml.diagnostics import Diagnostics
from osiris.oml.span import Span
from tests.security.manifest_attacks import compiled_project, step, tamper

OMLC = "recompile the pipeline with omlc"
Found = list[tuple[str, str, str, str, str | None]]


def _found(project: Path, env: dict[str, str] | None = None) -> Found:
    try:
        load_manifest(project / "compiled", label="c", project_root=project, env=env)
    except ManifestError as error:
        return [(d.code, f"{d.span.file}:{d.span.line}:{d.span.column}{'*' if d.span.file_level else ''}",
                 d.pointer, d.message, d.help) for d in error.diagnostics]
    return []


def _write(name: str, text: str | bytes):  # noqa: ANN202
    def raw(compiled: Path) -> None:
        target = compiled / name
        target.unlink()
        target.write_bytes(text.encode() if isinstance(text, str) else text)
    return raw


def _json_edit(name: str, change):  # noqa: ANN001, ANN202
    def raw(compiled: Path) -> None:
        data = json.loads((compiled / name).read_text(encoding="utf-8"))
        change(data)
        (compiled / name).write_text(json.dumps(data), encoding="utf-8")
    return raw


def _nested(depth: int) -> Any:  # noqa: ANN401
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _deep_cfg(depth: int):  # noqa: ANN202
    """The write step's config with a key whose value nests `depth` lists (the config itself is level
    1, one level below cfg.json's)."""
    def edit(data: dict[str, Any], cfgs: dict[str, Any]) -> None:
        cfgs["write"]["x"] = _nested(depth - 1)
    return edit


def _symlinked_cfg(compiled: Path) -> None:
    target = compiled.parent / "elsewhere.json"
    (compiled / "cfg.json").rename(target)
    (compiled / "cfg.json").symlink_to(target)


def _fifo_cfg(compiled: Path) -> None:
    (compiled / "cfg.json").unlink()
    os.mkfifo(compiled / "cfg.json")


def _config_of_no_step_and_unknown_key(data: dict[str, Any], cfgs: dict[str, Any]) -> None:
    cfgs["ghost"] = dict(cfgs["write"])
    cfgs["write"]["zz"] = 1


def _nan(compiled: Path) -> None:
    text = (compiled / "cfg.json").read_text(encoding="utf-8")
    (compiled / "cfg.json").write_text(text.replace('"write": {', '"write": {\n    "x": NaN,', 1), encoding="utf-8")


def _sixty_bad_steps(compiled: Path) -> None:
    text = (compiled / "manifest.yaml").read_text(encoding="utf-8")
    (compiled / "manifest.yaml").write_text(text.replace("steps:\n", "steps:\n" + "- {}\n" * 60, 1), encoding="utf-8")


def _as_version_2(data: dict[str, Any], cfgs: dict[str, Any]) -> None:
    """What omlc wrote before version 3: a `cfg/<id>.json` file per step, named by the step."""
    data["manifest_version"] = "2"
    for entry in data["steps"]:
        entry["cfg"] = f"cfg/{entry['id']}.json"


def _as_version_1(data: dict[str, Any], cfgs: dict[str, Any]) -> None:
    """What omlc wrote before version 2: no `family`, the reference repeated in the cfg."""
    data["manifest_version"] = "1"
    for entry in data["steps"]:
        del entry["family"]
        if entry["connection"]:
            cfgs[entry["id"]]["connection"] = entry["connection"]


SCENARIOS: dict[str, dict[str, Any]] = {name: {"raw": raw} for name, raw in {
    "cfg-repeats-a-key": _write("cfg.json", '{"write": {"path": "a", "path": "b"}}'),
    "cfg-repeats-a-step": _write("cfg.json", '{"write": {}, "write": {}}'),
    "meta-repeats-a-key": _write("meta.json", '{"fingerprints": {}, "fingerprints": {}}'),
    "cfg-too-deep-to-parse": _write("cfg.json", "[" * 100_000 + "]" * 100_000),
    "cfg-not-json": _write("cfg.json", "{nope"),
    "cfg-not-an-object": _write("cfg.json", "[]"),
    "cfg-not-utf8": _write("cfg.json", b'{"path": "\xff"}'),
    "cfg-symlink": _symlinked_cfg,
    "cfg-fifo": _fifo_cfg,
    "cfg-missing": lambda compiled: (compiled / "cfg.json").unlink(),
    "meta-missing": lambda compiled: (compiled / "meta.json").unlink(),
    "manifest-empty": _write("manifest.yaml", ""),
    "manifest-not-yaml": _write("manifest.yaml", "a: [\n"),
    "manifest-a-list": _write("manifest.yaml", "[]\n"),
    "manifest-fingerprints-not-an-object": _json_edit("meta.json", lambda meta: meta.update(fingerprints=[])),
    "cfg-nan": _nan,
}.items()} | {
    "cfg-at-max-depth": {"edit": _deep_cfg(MAX_JSON_DEPTH)},
    "cfg-past-max-depth": {"edit": _deep_cfg(MAX_JSON_DEPTH + 1)},
    "schema-value": {"edit": lambda data, cfgs: step(data, "write").update(level=-1)},
    "manifest-version-1": {"edit": _as_version_1},
    "manifest-version-2": {"edit": _as_version_2},
    "manifest-version-unknown": {"edit": lambda data, cfgs: data.update(manifest_version="4")},
    "config-of-no-step-and-unknown-key": {"edit": _config_of_no_step_and_unknown_key},
    "manifest-edited": {"edit": lambda data, cfgs: data["pipeline"].update(name="other"), "refingerprint": False},
    "cfg-edited": {"edit": lambda data, cfgs: cfgs["write"].update(path="out/other.csv"), "refingerprint": False},
}


def _scenario(tmp_path: Path, edit=None, raw=None, refingerprint: bool = True) -> Found:  # noqa: ANN001
    project = compiled_project(tmp_path)
    if edit is not None:
        tamper(project / "compiled", edit, refingerprint=refingerprint)
    if raw is not None:
        raw(project / "compiled")
    return _found(project)

R = "recompile the pipeline with omlc; an edited manifest is not run"
EXPECTED: dict[str, Found] = {
    "cfg-repeats-a-key": [
        ("OML092", "c/cfg.json:1:1*", "", "c/cfg.json repeats the key 'path' in one object", OMLC),
    ],
    "cfg-repeats-a-step": [
        ("OML092", "c/cfg.json:1:1*", "", "c/cfg.json repeats the key 'write' in one object", OMLC),
    ],
    "meta-repeats-a-key": [
        ("OML092", "c/meta.json:1:1*", "", "c/meta.json repeats the key 'fingerprints' in one object", OMLC),
    ],
    "cfg-too-deep-to-parse": [
        ("OML092", "c/cfg.json:1:1*", "", "c/cfg.json nests more than 101 levels deep", OMLC),
    ],
    "cfg-not-json": [
        ("OML092", "c/cfg.json:1:1*", "",
         "c/cfg.json is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 "
         "(char 1)",
         OMLC),
    ],
    "cfg-not-an-object": [
        ("OML092", "c/cfg.json:1:1*", "", "c/cfg.json is not a JSON object", OMLC),
    ],
    "cfg-not-utf8": [
        ("OML092", "c/cfg.json:1:1*", "", "c/cfg.json is not UTF-8 text (byte 10)", OMLC),
    ],
    "cfg-symlink": [
        ("OML092", "c/cfg.json:1:1*", "",
         "c/cfg.json is a symbolic link; a manifest directory holds plain files",
         OMLC),
    ],
    "cfg-fifo": [
        ("OML092", "c/cfg.json:1:1*", "", "c/cfg.json is not a regular file", OMLC),
    ],
    "cfg-missing": [
        ("OML092", "c/cfg.json:1:1*", "", "cannot read c/cfg.json: No such file or directory", OMLC),
    ],
    "meta-missing": [
        ("OML092", "c/meta.json:1:1*", "", "cannot read c/meta.json: No such file or directory", OMLC),
    ],
    "manifest-empty": [
        ("OML092", "c/manifest.yaml:1:1*", "", "c/manifest.yaml is empty", OMLC),
    ],
    "manifest-not-yaml": [
        ("OML092", "c/manifest.yaml:1:5", "",
         "c/manifest.yaml is not valid YAML (line 1, column 5: YAML syntax error: expected the node content, but "
         "found '<stream end>'); recompile it",
         OMLC),
    ],
    "manifest-a-list": [
        ("OML092", "c/manifest.yaml:1:1", "",
         "c/manifest.yaml does not match the manifest schema at /: Input should be a valid dictionary or instance "
         "of Manifest",
         OMLC),
    ],
    "manifest-fingerprints-not-an-object": [
        ("OML093", "c/manifest.yaml:1:1*", "",
         "c/manifest.yaml does not match manifest_fp in meta.json",
         "the manifest was edited or half-copied after compiling; recompile it"),
    ],
    "cfg-nan": [
        ("OML093", "c/cfg.json:1:1*", "",
         "c/cfg.json: the config of step 'write' does not match its cfg_fp",
         "the file was edited or half-copied after compiling; recompile the pipeline"),
        ("OML096", "c/cfg.json:13:10", "/x",
         "step 'write': unknown config key 'x' for filesystem.csv_writer",
         "filesystem.csv_writer accepts 'compression', 'connection', 'create_dirs', 'delimiter', 'encoding', "
         "'header', 'newline', 'overwrite', 'path', 'quotechar' or 'quoting'"),
    ],
    "cfg-at-max-depth": [
        ("OML096", "c/cfg.json:1:1*", "/x",
         "step 'write': unknown config key 'x' for filesystem.csv_writer",
         "filesystem.csv_writer accepts 'compression', 'connection', 'create_dirs', 'delimiter', 'encoding', "
         "'header', 'newline', 'overwrite', 'path', 'quotechar' or 'quoting'"),
    ],
    "cfg-past-max-depth": [
        ("OML092", "c/cfg.json:1:1*", "", "c/cfg.json nests more than 101 levels deep", OMLC),
    ],
    "schema-value": [
        ("OML092", "c/manifest.yaml:35:10", "/steps/1/level",
         "c/manifest.yaml does not match the manifest schema at /steps/1/level: Input should be greater than "
         "or equal to 0",
         OMLC),
    ],
    "manifest-version-1": [
        ("OML092", "c/manifest.yaml:7:19", "/manifest_version",
         "c/manifest.yaml is a version 1 manifest; this runtime reads version 3",
         "recompile with omlc compile (this omlc writes manifest_version 3)"),
    ],
    "manifest-version-2": [
        ("OML092", "c/manifest.yaml:7:19", "/manifest_version",
         "c/manifest.yaml is a version 2 manifest; this runtime reads version 3",
         "recompile with omlc compile (this omlc writes manifest_version 3)"),
    ],
    "manifest-version-unknown": [
        ("OML092", "c/manifest.yaml:7:19", "/manifest_version",
         "manifest_version '4' is not supported (this runtime reads '3')",
         "recompile with omlc compile (this omlc writes manifest_version 3)"),
    ],
    "config-of-no-step-and-unknown-key": [
        ("OML092", "c/cfg.json:1:1*", "",
         "c/cfg.json holds a config for 'ghost', which is not a step of the manifest",
         OMLC),
        ("OML096", "c/cfg.json:35:11", "/zz",
         "step 'write': unknown config key 'zz' for filesystem.csv_writer",
         "filesystem.csv_writer accepts 'compression', 'connection', 'create_dirs', 'delimiter', 'encoding', "
         "'header', 'newline', 'overwrite', 'path', 'quotechar' or 'quoting'"),
    ],
    "manifest-edited": [
        ("OML093", "c/manifest.yaml:1:1*", "",
         "c/manifest.yaml does not match manifest_fp in meta.json",
         "the manifest was edited or half-copied after compiling; recompile it"),
    ],
    "cfg-edited": [
        ("OML093", "c/cfg.json:1:1*", "",
         "c/cfg.json: the config of step 'write' does not match its cfg_fp",
         "the file was edited or half-copied after compiling; recompile the pipeline"),
    ],
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_damaged_file_is_refused_with_its_diagnostic(tmp_path: Path, name: str) -> None:
    assert _scenario(tmp_path, **SCENARIOS[name]) == EXPECTED[name]


def test_at_most_fifty_schema_problems_are_listed(tmp_path: Path) -> None:
    project = compiled_project(tmp_path)
    _sixty_bad_steps(project / "compiled")
    found = _found(project)
    assert len(found) == 50 and {code for code, *_ in found} == {"OML092"}


# -- sizes ------------------------------------------------------------------------------------------
def test_the_file_limit_follows_the_input_cap_and_has_a_floor() -> None:
    assert max_file_bytes({}) == 64 * 2**20
    assert max_file_bytes({"OSIRIS_MAX_INPUT_SIZE": "8MB"}) == 16 * 8_000_000
    assert max_file_bytes({"OSIRIS_MAX_INPUT_SIZE": "much"}) == 64 * 2**20  # malformed: the default cap


def test_a_larger_input_cap_lets_a_larger_manifest_file_be_read(tmp_path: Path) -> None:
    """64 MiB + 1 (sparse) is past the default limit; with a cap of 8 MiB the limit is 128 MiB, so
    the file is read, and refused for what it holds."""
    project = compiled_project(tmp_path)
    with open(project / "compiled" / "cfg.json", "r+b") as file:
        file.truncate(64 * 2**20 + 1)
    (default,) = _found(project)
    assert default[3] == ("c/cfg.json is 67,108,865 bytes, more than a manifest file may be (67,108,864: "
                          "16 times OSIRIS_MAX_INPUT_SIZE, at least 67,108,864)")
    (larger,) = _found(project, env={"OSIRIS_MAX_INPUT_SIZE": "8MB"})
    assert larger[3].startswith("c/cfg.json is not valid JSON: ")


def test_a_manifest_larger_than_the_input_cap_is_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """manifest.yaml is parsed with the manifest file limit, not the YAML input cap of the
    environment: what omlc writes, osiris runs."""
    project = compiled_project(tmp_path)
    monkeypatch.setenv("OSIRIS_MAX_INPUT_SIZE", "500")
    assert (project / "compiled" / "manifest.yaml").stat().st_size > 500
    assert _found(project) == []


def test_read_regular_reads_up_to_its_limit_exactly(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"12345")
    assert read_regular(path, "f", 5) == b"12345"
    with pytest.raises(ManifestError) as caught:
        read_regular(path, "f", 4)
    assert str(caught.value) == ("f is 5 bytes, more than a manifest file may be (4: 16 times OSIRIS_MAX_INPUT_SIZE, "
                                 "at least 67,108,864)")
    with pytest.raises(ManifestError) as caught:
        read_regular(tmp_path / "missing", "m")
    assert str(caught.value) == "cannot read m: No such file or directory"


def test_a_file_of_several_chunks_is_returned_whole(tmp_path: Path) -> None:
    path = tmp_path / "f"
    data = os.urandom(3 * 2**19 + 3)  # a MiB and a half: read in two chunks
    path.write_bytes(data)
    assert read_regular(path, "f", len(data)) == data


def test_files_are_opened_without_following_links_blocking_or_leaking(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """O_NOFOLLOW (a link is refused), O_NONBLOCK (a FIFO cannot hang the reader) and O_CLOEXEC
    (no child process inherits the descriptor)."""
    path = tmp_path / "f"
    path.write_bytes(b"{}")
    seen: list[int] = []
    real_open = os.open

    def spy(file, flags, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append(flags)
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    read_regular(path, "f")
    (flags,) = seen
    for flag in (os.O_NOFOLLOW, os.O_NONBLOCK, os.O_CLOEXEC):
        assert flags & flag, flag


@pytest.mark.skipif(not os.access("/proc/self/status", os.R_OK), reason="needs Linux /proc")
def test_a_file_longer_than_its_size_says_is_cut_off_at_the_limit() -> None:
    """/proc files report size 0 and then yield data, like a file that grows while it is read."""
    with pytest.raises(ManifestError) as caught:
        read_regular(Path("/proc/self/status"), "s", 10)
    assert str(caught.value) == "s grew beyond 10 bytes while being read"
    with pytest.raises(ManifestError) as caught:
        read_regular(Path("/proc/self/mem"), "m", 10)  # reading address 0 fails
    assert str(caught.value) == "cannot read m: Input/output error"


@pytest.mark.skipif(not os.access("/proc/self/pagemap", os.R_OK), reason="needs Linux /proc")
@pytest.mark.parametrize("limit", [2 * 2**20, 2 * 2**20 + 7])
def test_a_growing_file_is_counted_across_chunks(limit: int) -> None:
    """pagemap is endless and reads in 8-byte units: past a limit of whole MiB chunks the reader
    asks for one more byte (refused), and never returns a file cut short at its limit."""
    with pytest.raises(ManifestError) as caught:
        read_regular(Path("/proc/self/pagemap"), "p", limit)
    if limit % 8:
        assert str(caught.value) == f"p grew beyond {limit:,} bytes while being read"


# -- the helpers ------------------------------------------------------------------------------------
def test_depth_counts_the_outer_container_as_one() -> None:
    assert not nests_deeper_than({}, 1) and not nests_deeper_than({"a": 1, "b": "x"}, 1)
    assert nests_deeper_than({"a": {}}, 1) and not nests_deeper_than({"a": {}}, 2)
    assert not nests_deeper_than({"a": [[{"b": []}]]}, 5) and nests_deeper_than({"a": [[{"b": []}]]}, 4)
    assert nests_deeper_than([[[]]], 2) and not nests_deeper_than([[[]]], 3)
    assert not nests_deeper_than({"a": [1], "b": {"c": 2}}, 2)


def test_repeated_keys_are_named() -> None:
    assert _unique_keys([("a", 1), ("b", 2)]) == {"a": 1, "b": 2}
    with pytest.raises(_RepeatedKey) as caught:
        _unique_keys([("a", 1), ("b", 2), ("b", 3)])
    assert caught.value.args == ("b",)


def test_a_schema_problem_is_shown_at_its_nearest_node() -> None:
    spans = {"": Span.point("m", 1), "/a": Span.point("m", 2), "/a/b/c/d": Span.point("m", 5)}
    assert _span(spans, "/a/b/c/d/e", "m").line == 5
    assert _span(spans, "/a/b/c", "m").line == 2
    assert _span(spans, "/x/y", "m").line == 1
    assert _span({}, "/x", "m") == Span.whole_file("m")


def test_a_missing_step_is_a_key_error_naming_it() -> None:
    no_steps = manifest_from_data({"manifest_version": "3", "pipeline": {"name": "p", "oml_version": "0.1.0"},
                                   "steps": [], "order": [], "levels": [], "edges": [], "connections": []})
    with pytest.raises(KeyError) as caught:
        no_steps.step("ghost")
    assert caught.value.args == ("ghost",)


@pytest.mark.parametrize(("count", "suffix"), [(1, ""), (2, " (and 1 more problem)"), (3, " (and 2 more problems)")])
def test_the_error_names_the_first_problem_and_counts_the_others(count: int, suffix: str) -> None:
    d = Diagnostics()
    for line in range(count, 0, -1):
        d.add("OML094", Span.point("c/manifest.yaml", line), f"problem {line}")
    assert str(_error(d)) == f"c/manifest.yaml:1:1: problem 1{suffix}"
    whole = Diagnostics()
    whole.add("OML093", Span.whole_file("c/m"), "c/m does not match")
    assert str(_error(whole)) == "c/m does not match"


def test_cfg_fingerprints_are_checked_against_the_exact_file(tmp_path: Path) -> None:
    project = compiled_project(tmp_path)
    cfg = json.loads((project / "compiled" / "cfg.json").read_text(encoding="utf-8"))["write"]
    assert fingerprint(cfg) == step(_manifest_data(project), "write")["cfg_fp"]


def _manifest_data(project: Path) -> dict[str, Any]:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load((project / "compiled" / "manifest.yaml").read_text(encoding="utf-8"))
