"""Parameter precedence (CLI > env > profile > default), types and fingerprints."""

from __future__ import annotations

import json

from osiris.compiler.api import CompileOptions, compile_text

OML = """oml_version: "0.1.0"
name: p
params:
  limit: {type: integer, default: 10, minimum: 1}
  ratio: {type: number, default: 0.5}
  flag: {type: boolean, default: false}
profiles:
  prod: {limit: 1000}
steps:
  - id: e
    component: filesystem.parquet_extractor
    config:
      path: a.parquet
      limit: ${params.limit}
  - id: w
    component: filesystem.csv_writer
    needs: [e]
    config:
      path: out/${params.limit}.csv
      header: ${params.flag}
"""


def _compile(**kwargs: object):  # noqa: ANN202
    kwargs.setdefault("env", {})
    return compile_text(OML, "p.yaml", CompileOptions(search_connections=False, **kwargs))


def _effective(result) -> dict:  # noqa: ANN001
    return json.loads(result.artifacts["effective_config.json"])["params"]


def test_defaults_keep_their_types() -> None:
    result = _compile()
    cfg_e = json.loads(result.artifacts["cfg.json"])["e"]
    cfg_w = json.loads(result.artifacts["cfg.json"])["w"]
    assert cfg_e["limit"] == 10 and isinstance(cfg_e["limit"], int)
    assert cfg_w["header"] is False and cfg_w["path"] == "out/10.csv"


def test_precedence_cli_over_env_over_profile_over_default() -> None:
    assert _effective(_compile(profile="prod"))["limit"] == {"source": "profile", "value": 1000}
    env = {"OSIRIS_PARAM_LIMIT": "77"}
    assert _effective(_compile(profile="prod", env=env))["limit"] == {"source": "env", "value": 77}
    got = _effective(_compile(profile="prod", env=env, params={"limit": "5"}))["limit"]
    assert got == {"source": "cli", "value": 5}


def test_no_profile_unless_asked() -> None:
    assert _effective(_compile())["limit"]["source"] == "default"


def test_unrelated_env_does_not_change_fingerprints() -> None:
    a = json.loads(_compile().artifacts["meta.json"])["fingerprints"]
    b = json.loads(_compile(env={"OSIRIS_PARAM_OTHER": "x"}).artifacts["meta.json"])["fingerprints"]
    assert a == b


def test_changed_value_changes_params_and_manifest_fingerprints() -> None:
    a = json.loads(_compile().artifacts["meta.json"])["fingerprints"]
    b = json.loads(_compile(params={"limit": "11"}).artifacts["meta.json"])["fingerprints"]
    assert a["params_fp"] != b["params_fp"] and a["manifest_fp"] != b["manifest_fp"]
    assert a["oml_fp"] == b["oml_fp"]


def test_bad_values_are_reported_with_their_source() -> None:
    result = _compile(params={"limit": "0"})
    assert [d.code for d in result.diagnostics] == ["OML061"]
    assert "minimum" in result.diagnostics[0].message
    result = _compile(env={"OSIRIS_PARAM_FLAG": "maybe"})
    assert "OSIRIS_PARAM_FLAG" in result.diagnostics[0].message
