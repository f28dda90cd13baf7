"""docs/kuberay/rayjob.yaml is a RayJob the KubeRay operator accepts, and it keeps secrets out of Ray.

The example is copied by users, so a typo'd key (silently pruned by the API server) or an inlined
password would be copied too. The schema is our reduced, hand-written reading of the RayJob CRD
(tests/support/rayjob_schema.py names the KubeRay commit it was read from).
"""

from __future__ import annotations

import copy
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.support.rayjob_schema import RAYJOB_SCHEMA

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "kuberay" / "rayjob.yaml"


def _load() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def _errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(RAYJOB_SCHEMA)
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document))


def _pod_templates(job: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    cluster = job["spec"]["rayClusterSpec"]
    yield "head", cluster["headGroupSpec"]["template"]
    for group in cluster["workerGroupSpecs"]:
        yield f"worker group {group['groupName']}", group["template"]
    if "submitterPodTemplate" in job["spec"]:
        yield "submitter", job["spec"]["submitterPodTemplate"]


def test_the_schema_itself_is_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(RAYJOB_SCHEMA)


def test_the_example_matches_the_crd() -> None:
    assert _errors(_load()) == []


@pytest.mark.parametrize(("where", "breakage"), [
    ("a typo'd RayJob key", lambda j: j["spec"].__setitem__("shutdownAfterJobFinish", True)),
    ("a typo'd cluster key", lambda j: j["spec"]["rayClusterSpec"].__setitem__("workerGroupSpec", [])),
    ("a typo'd container key", lambda j: j["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
        ["containers"][0].__setitem__("envfrom", [])),
    ("an unknown submission mode", lambda j: j["spec"].__setitem__("submissionMode", "K8sMode")),
    ("a number in rayStartParams", lambda j: j["spec"]["rayClusterSpec"]["headGroupSpec"]
        ["rayStartParams"].__setitem__("num-cpus", 0)),
    ("a worker group without maxReplicas", lambda j: j["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
        .pop("maxReplicas")),
    ("a bad quantity", lambda j: j["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]
        ["containers"][0]["resources"]["limits"].__setitem__("memory", "4 GB")),
    ("a secretRef without name shape", lambda j: j["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
        ["template"]["spec"]["containers"][0]["envFrom"][0]["secretRef"].__setitem__("key", "x")),
    ("the old apiVersion", lambda j: j.__setitem__("apiVersion", "ray.io/v1alpha1")),
])
def test_a_broken_example_fails_the_schema(where: str, breakage: Any) -> None:
    job = copy.deepcopy(_load())
    breakage(job)
    assert _errors(job), f"the schema accepted {where}"


def test_every_pod_container_has_a_name_and_an_image() -> None:
    for where, template in _pod_templates(_load()):
        for container in template["spec"]["containers"]:
            assert container.get("name") and container.get("image"), f"{where}: container needs name and image"


def test_head_and_workers_run_the_same_image_and_mount_the_pipeline() -> None:
    job = _load()
    cluster = [(w, t) for w, t in _pod_templates(job) if w != "submitter"]
    assert len(cluster) >= 2, "expected a head and at least one worker group"
    images = {t["spec"]["containers"][0]["image"] for _, t in cluster}
    assert len(images) == 1, f"head and workers must share one image (Ray and Osiris versions): {images}"
    for where, template in cluster:
        container = template["spec"]["containers"][0]
        mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
        assert mounts.get("/work", {}).get("readOnly") is True, f"{where}: /work must be mounted read-only"
        volumes = {v["name"]: v for v in template["spec"].get("volumes", [])}
        assert "configMap" in volumes.get(mounts["/work"]["name"], {}), f"{where}: /work must come from a ConfigMap"


def test_secrets_come_only_from_a_secret_ref() -> None:
    for where, template in _pod_templates(_load()):
        if where == "submitter":
            continue
        for container in template["spec"]["containers"]:
            refs = [source["secretRef"]["name"] for source in container.get("envFrom", []) if "secretRef" in source]
            assert refs, f"{where}: secrets must arrive as envFrom secretRef (workers open their own connections)"
            for variable in container.get("env", []):
                name = variable["name"].upper()
                looks_secret = any(word in name for word in ("PASSWORD", "SECRET", "TOKEN", "KEY", "DSN"))
                assert not (looks_secret and "value" in variable), f"{where}: {variable['name']} is inlined"


def test_nothing_secret_goes_through_ray() -> None:
    spec = _load()["spec"]
    assert "runtimeEnvYAML" not in spec, "runtime_env is stored in Ray's control store and shown on the dashboard"
    assert "${" not in spec["entrypoint"] and "=" not in spec["entrypoint"], "no values on the driver's command line"


def test_the_entrypoint_runs_the_pipeline_on_ray() -> None:
    spec = _load()["spec"]
    words = shlex.split(spec["entrypoint"])
    assert words[:3] == ["osiris", "run", "/work/pipeline.yaml"]
    assert words[words.index("--backend") + 1] == "ray"
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] >= 0
