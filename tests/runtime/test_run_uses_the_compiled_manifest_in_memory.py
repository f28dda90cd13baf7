"""Pipeline mode runs the compile result it holds in memory (equal to the verified files), not the
files read back."""

from __future__ import annotations

import json

from tests.runtime.conftest import events_of

ONE_STEP_PAIR = (
    'oml_version: "0.1.0"\nname: pair\nsteps:\n'
    "  - id: gen\n    component: test.generator\n    mode: read\n    config: {rows: 25, batch_rows: 10}\n"
    "  - id: sink\n    component: test.sink\n    mode: write\n    needs: [gen]\n"
)


def test_pipeline_mode_uses_the_compile_result_not_the_written_files(run_oml, monkeypatch):
    import osiris.compiler.manifest as manifest_module

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("load_manifest must not run in pipeline mode")

    monkeypatch.setattr(manifest_module, "load_manifest", refuse)
    outcome = run_oml(ONE_STEP_PAIR)
    assert outcome.exit_code == 0, outcome.status
    compiled = outcome.session.compiled_dir
    artifacts = outcome.compile_result.artifacts
    on_disk = {str(p.relative_to(compiled)): p.read_bytes() for p in compiled.rglob("*") if p.is_file()}
    assert on_disk == artifacts  # the session still holds exactly the compiled files
    (complete,) = events_of(outcome, "compile_complete")
    assert complete["manifest_fp"] == json.loads(artifacts["meta.json"])["fingerprints"]["manifest_fp"]
    assert outcome.status["manifest_fp"] == complete["manifest_fp"]


def test_the_in_memory_manifest_equals_the_verified_files(tmp_path):
    from osiris.compiler.api import CompileOptions, compile_text, write_output
    from osiris.compiler.manifest import load_manifest
    from tests.runtime.doubles import spec_registry

    result = compile_text(ONE_STEP_PAIR, "p.yaml", CompileOptions(search_connections=False),
                          registry=spec_registry(), connections=None)
    write_output(result, tmp_path / "out")
    compiled = result.compiled
    loaded = load_manifest(tmp_path / "out", registry=spec_registry())
    assert (compiled.manifest, compiled.cfgs, compiled.meta) == loaded
