"""The compiled manifest as a typed model: built by `emit`, loaded and verified by runtimes.

See docs/manifest.md for the contract. Field order here is the order written to
manifest.yaml, which is part of the byte-for-byte determinism the compiler promises.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from oml.canonical import fingerprint

MANIFEST_VERSION = "1"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True, populate_by_name=True)


class InputSource(_Model):
    step: str
    output: str


class Retry(_Model):
    max_attempts: int = 1
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0


class ManifestStep(_Model):
    id: str
    component: str
    component_version: str
    kind: Literal["extractor", "transform", "writer"]
    mode: Literal["extract", "transform", "write"]
    connection: str | None
    cfg: str
    cfg_fp: str
    needs: list[str]
    inputs: dict[str, InputSource]
    outputs: list[str]
    level: int
    retry: Retry


class ManifestEdge(_Model):
    from_: str = Field(alias="from")
    output: str
    to: str
    input: str


class PipelineInfo(_Model):
    name: str
    oml_version: str


class Manifest(_Model):
    manifest_version: str = MANIFEST_VERSION
    pipeline: PipelineInfo
    steps: list[ManifestStep]
    order: list[str]
    levels: list[list[str]]
    edges: list[ManifestEdge]
    connections: list[str]

    def to_data(self) -> dict[str, Any]:
        """Plain data in documented key order (`from` spelled as in the file)."""
        return self.model_dump(mode="json", by_alias=True)

    def fingerprint(self) -> str:
        return fingerprint(self.to_data())

    def step(self, step_id: str) -> ManifestStep:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


class ManifestError(Exception):
    """A manifest directory is missing, unreadable or fails verification."""


def load_manifest(
    directory: Path, *, label: str | None = None
) -> tuple[Manifest, dict[str, dict[str, Any]], dict[str, Any]]:
    """Read and verify a compiled directory: (manifest, cfg by step id, meta).

    Every cfg file must match its `cfg_fp`, and the manifest must match `manifest_fp` in
    meta.json, so a hand-edited or half-copied directory is refused instead of half-run.
    Every problem is a ManifestError naming the file (`label` is how messages name
    `directory`, e.g. as the user typed it); a damaged file must not surface as a parser crash.
    """
    from ruamel.yaml import YAML, YAMLError

    where = label or str(directory)
    try:
        data = YAML(typ="safe", pure=True).load((directory / "manifest.yaml").read_text(encoding="utf-8"))
    except YAMLError as error:
        raise ManifestError(f"{where}/manifest.yaml is not valid YAML{_yaml_problem(error)}; recompile it") from None
    except (OSError, ValueError) as error:
        raise ManifestError(f"cannot read the manifest in {where}: {error}") from None
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ManifestError(f"cannot read {where}/meta.json: {error}") from None
    if not isinstance(meta, dict):
        raise ManifestError(f"{where}/meta.json is not a JSON object; recompile it")
    try:
        manifest = Manifest.model_validate(data)
    except ValueError as error:
        raise ManifestError(f"{where}/manifest.yaml is not a valid manifest: {error}") from None
    if manifest.manifest_version != MANIFEST_VERSION:
        raise ManifestError(f"manifest_version {manifest.manifest_version!r} is not supported "
                            f"(this runtime reads {MANIFEST_VERSION!r}); recompile with this omlc")
    fingerprints = meta.get("fingerprints")
    expected = fingerprints.get("manifest_fp") if isinstance(fingerprints, dict) else None
    if expected != manifest.fingerprint():
        raise ManifestError(f"{where}/manifest.yaml does not match manifest_fp in meta.json; recompile it")
    cfgs: dict[str, dict[str, Any]] = {}
    for step in manifest.steps:
        try:
            cfg = json.loads((directory / step.cfg).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ManifestError(f"cannot read {where}/{step.cfg}: {error}") from None
        if fingerprint(cfg) != step.cfg_fp:
            raise ManifestError(f"{where}/{step.cfg} does not match its cfg_fp; recompile the pipeline")
        cfgs[step.id] = cfg
    return manifest, cfgs, meta


def _yaml_problem(error: Exception) -> str:
    """` (line 1, column 3: expected ...)` from a ruamel error, without its multi-line excerpt."""
    problem = getattr(error, "problem", None) or getattr(error, "context", None)
    if not problem:
        problem = next(iter(str(error).strip().splitlines()), "")
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    text = ": ".join(part for part in (where, problem) if part)
    return f" ({text})" if text else ""
