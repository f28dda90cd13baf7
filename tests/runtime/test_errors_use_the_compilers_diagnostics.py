"""`osiris` reports compile and connections-file errors in the compiler's diagnostic shape and through
its renderer (events, --json and text agree with `omlc`)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.runtime.conftest import osiris_inproc, read_jsonl, validate_session


def test_compile_error_events_and_json_output_use_the_compilers_diagnostic_shape(tmp_path):
    from osiris.compiler.render import diagnostic_json

    (tmp_path / "p.yaml").write_text('oml_version: "0.1.0"\nname: bad\nsteps: 3\n', encoding="utf-8")
    result = osiris_inproc("run", "p.yaml", "--json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    body = json.loads(result.stdout)
    session = Path(tmp_path / body["session_dir"])
    (event,) = [e for e in read_jsonl(session / "events.jsonl") if e["event"] == "compile_error"]
    assert event["diagnostics"] == body["diagnostics"]
    from osiris.compiler.api import compile_path

    expected = compile_path(tmp_path / "p.yaml", label="p.yaml").diagnostics
    assert body["diagnostics"] == [diagnostic_json(d) for d in expected]
    validate_session(session)


def test_connections_errors_are_rendered_by_the_compilers_renderer(tmp_path):
    (tmp_path / "conns.yaml").write_text("connections: [1, 2]\n", encoding="utf-8")
    result = osiris_inproc("connections", "list", "--connections", "conns.yaml", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("osiris connections: error:")
    assert any(line.startswith("conns.yaml:") and ": error[OML" in line for line in lines[1:]), lines
    assert lines[-1].endswith("in 1 file")  # render_text's summary line
