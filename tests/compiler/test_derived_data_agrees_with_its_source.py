"""Data the compiler derives agrees with what it derives from: each cfg_fp is the fingerprint of its
cfg file (one serialisation), the plan's level_of matches its levels and is not serialised, the
config explainer is cached per spec name and fingerprint."""

from __future__ import annotations

import json

import yaml

from osiris.compiler.checks.config import explainer_for
from osiris.compiler.spec_cache import default_registry
from osiris.oml.canonical import fingerprint
from osiris.oml.records import record_fields
from tests.compiler.golden_harness import compile_valid, valid_cases


def test_cfg_fingerprints_match_the_cfg_files() -> None:
    for case in valid_cases():
        result = compile_valid(case)
        manifest = yaml.safe_load(result.artifacts["manifest.yaml"])
        for step in manifest["steps"]:
            cfg = json.loads(result.artifacts["cfg.json"])[step["id"]]
            assert step["cfg_fp"] == fingerprint(cfg), (case.name, step["id"])


def test_plan_levels_and_level_of_agree() -> None:
    for case in valid_cases():
        result = compile_valid(case)
        plan = result.pipeline.plan
        assert plan is not None
        level_of = plan.level_of
        assert sorted(level_of) == sorted(plan.order)
        for n, level in enumerate(plan.levels):
            assert all(level_of[s] == n for s in level)
        for step in result.pipeline.steps:
            assert all(level_of[d] < level_of[step.id] for d in step.depends_on)
        stored = {item.name for item in record_fields(plan)}
        assert "level_of" not in stored and "needs" not in stored


def test_explainer_is_cached_per_name_and_fingerprint() -> None:
    registry = default_registry()
    spec = next(iter(registry.components.values()))
    assert explainer_for(spec) is explainer_for(spec)
    changed = spec.evolve(fingerprint=spec.fingerprint + "x")
    assert explainer_for(changed) is not explainer_for(spec)
