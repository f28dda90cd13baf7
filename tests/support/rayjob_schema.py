"""A reduced JSON Schema of KubeRay's RayJob (ray.io/v1) for the fields docs/kuberay/rayjob.yaml uses.

Hand-written from reading ray-project/kuberay `ray-operator/config/crd/bases/ray.io_rayjobs.yaml` and
`ray-operator/apis/ray/v1/rayjob_types.go` at commit feeaf72facab4881ba2b179248bb67315634e229
(v1.7.0-rc.0-5, August 2026). Why our own: the CRD is 25k lines of generated OpenAPI; this keeps only
the levels the example uses, closed (`additionalProperties: false`), because the API server prunes or
rejects an unknown key (depending on field validation) and a typo'd key would otherwise be lost quietly.
Key lists are the CRD's own at each level; keys the example does
not use are accepted as plain objects.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RAYJOB_SCHEMA", "SUBMISSION_MODES"]

# rayjob_types.go JobSubmissionMode (the CRD itself states only type: string, default K8sJobMode).
SUBMISSION_MODES = ("K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode")

_INT32 = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
_STR = {"type": "string"}
_BOOL = {"type": "boolean"}
_OBJ = {"type": "object"}
_STR_MAP = {"type": "object", "additionalProperties": _STR}
# resource.Quantity: an int or a string like "2", "200m", "4Gi" (the CRD's pattern).
_QUANTITY = {
    "anyOf": [
        {"type": "integer"},
        {"type": "string", "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
                                      r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"},
    ]
}


def _closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object with exactly these keys allowed (the CRD's key list at that level)."""
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def _open(names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Keys the CRD has at a level but the example does not use: present in the key list, shape unchecked."""
    return {name: {} for name in names}


_ENV_VAR = _closed({"name": _STR, "value": _STR, "valueFrom": _OBJ}, required=("name",))
_ENV_FROM = _closed({
    "prefix": _STR,
    "configMapRef": _closed({"name": _STR, "optional": _BOOL}),
    "secretRef": _closed({"name": _STR, "optional": _BOOL}),
})
_CONTAINER = _closed({
    "name": _STR,
    "image": _STR,
    "imagePullPolicy": {"enum": ["Always", "Never", "IfNotPresent"]},  # core/v1 PullPolicy
    "command": {"type": "array", "items": _STR},
    "args": {"type": "array", "items": _STR},
    "workingDir": _STR,
    "env": {"type": "array", "items": _ENV_VAR},
    "envFrom": {"type": "array", "items": _ENV_FROM},
    "ports": {"type": "array", "items": _closed({
        "containerPort": _INT32, "hostIP": _STR, "hostPort": _INT32, "name": _STR,
        "protocol": {"enum": ["TCP", "UDP", "SCTP"]},
    }, required=("containerPort",))},
    "volumeMounts": {"type": "array", "items": _closed({
        "name": _STR, "mountPath": _STR, "readOnly": _BOOL, "subPath": _STR, "subPathExpr": _STR,
        "mountPropagation": _STR, "recursiveReadOnly": _STR,
    }, required=("mountPath", "name"))},
    "resources": _closed({
        "requests": {"type": "object", "additionalProperties": _QUANTITY},
        "limits": {"type": "object", "additionalProperties": _QUANTITY},
        "claims": {"type": "array"},
    }),
    **_open(("lifecycle", "livenessProbe", "readinessProbe", "resizePolicy", "restartPolicy",
             "restartPolicyRules", "securityContext", "startupProbe", "stdin", "stdinOnce",
             "terminationMessagePath", "terminationMessagePolicy", "tty", "volumeDevices")),
}, required=("name",))
_VOLUME = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": _STR,
        "configMap": _closed({
            "name": _STR, "optional": _BOOL, "defaultMode": _INT32,
            "items": {"type": "array", "items": _closed({"key": _STR, "path": _STR, "mode": _INT32},
                                                        required=("key", "path"))},
        }),
    },
    # A Volume has some thirty sources (emptyDir, secret, persistentVolumeClaim, ...): not closed here.
}
# PodSpec: the keys the example uses are checked; the CRD's other keys are named (so allowed) but unchecked.
_POD_SPEC = {
    "type": "object",
    "required": ["containers"],
    "properties": {
        "containers": {"type": "array", "minItems": 1, "items": _CONTAINER},
        "initContainers": {"type": "array", "items": _CONTAINER},
        "volumes": {"type": "array", "items": _VOLUME},
        "restartPolicy": {"enum": ["Always", "OnFailure", "Never"]},
        "serviceAccountName": _STR,
        "nodeSelector": _STR_MAP,
        "tolerations": {"type": "array"},
        "affinity": _OBJ,
        "imagePullSecrets": {"type": "array"},
        "securityContext": _OBJ,
        **_open(("activeDeadlineSeconds", "automountServiceAccountToken", "dnsConfig", "dnsPolicy",
                 "enableServiceLinks", "ephemeralContainers", "hostAliases", "hostIPC", "hostNetwork",
                 "hostPID", "hostUsers", "hostname", "hostnameOverride", "nodeName", "os", "overhead",
                 "preemptionPolicy", "priority", "priorityClassName", "readinessGates", "resourceClaims",
                 "resources", "runtimeClassName", "schedulerName", "schedulingGates", "schedulingGroup",
                 "serviceAccount", "setHostnameAsFQDN", "shareProcessNamespace", "subdomain",
                 "terminationGracePeriodSeconds", "topologySpreadConstraints")),
    },
    "additionalProperties": False,
}
_POD_TEMPLATE = _closed({
    "metadata": _closed({"name": _STR, "namespace": _STR, "labels": _STR_MAP, "annotations": _STR_MAP,
                         "finalizers": {"type": "array", "items": _STR}}),
    "spec": _POD_SPEC,
})
_HEAD_GROUP = _closed({
    "rayStartParams": _STR_MAP,  # every value a string, even numbers ("0", not 0)
    "template": _POD_TEMPLATE,
    "serviceType": _STR,
    "labels": _STR_MAP,
    **_open(("enableIngress", "headService", "ingressOptions", "resources")),
}, required=("template",))
_WORKER_GROUP = _closed({
    "groupName": _STR,
    "replicas": _INT32,
    "minReplicas": _INT32,
    "maxReplicas": _INT32,
    "numOfHosts": _INT32,
    "idleTimeoutSeconds": _INT32,
    "rayStartParams": _STR_MAP,
    "template": _POD_TEMPLATE,
    "labels": _STR_MAP,
    "suspend": _BOOL,
    **_open(("priority", "resources", "scaleStrategy")),
}, required=("groupName", "maxReplicas", "minReplicas", "template"))
_RAY_CLUSTER_SPEC = _closed({
    "rayVersion": _STR,
    "headGroupSpec": _HEAD_GROUP,
    "workerGroupSpecs": {"type": "array", "items": _WORKER_GROUP},
    "enableInTreeAutoscaling": _BOOL,
    "suspend": _BOOL,
    "managedBy": _STR,
    **_open(("authOptions", "autoscalerOptions", "gcsFaultToleranceOptions", "headServiceAnnotations",
             "historyServerOptions", "networkPolicy", "tlsOptions", "upgradeStrategy")),
}, required=("headGroupSpec",))
_RAYJOB_SPEC = _closed({
    "entrypoint": _STR,
    "submissionMode": {"enum": list(SUBMISSION_MODES)},
    "shutdownAfterJobFinishes": _BOOL,
    "ttlSecondsAfterFinished": {**_INT32, "minimum": 0},  # minimum: the operator's validation
    "activeDeadlineSeconds": {**_INT32, "minimum": 0},
    "preRunningDeadlineSeconds": {**_INT32, "minimum": 0},
    "backoffLimit": {**_INT32, "minimum": 0},
    "entrypointNumCpus": {"type": "number"},
    "entrypointNumGpus": {"type": "number"},
    "entrypointResources": _STR,
    "runtimeEnvYAML": _STR,
    "jobId": _STR,
    "suspend": _BOOL,
    "managedBy": _STR,
    "metadata": _STR_MAP,
    "rayClusterSpec": _RAY_CLUSTER_SPEC,
    "submitterPodTemplate": _POD_TEMPLATE,
    **_open(("clusterSelector", "deletionStrategy", "submitterConfig")),
})
RAYJOB_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "KubeRay RayJob ray.io/v1 (the subset docs/kuberay/rayjob.yaml uses)",
    **_closed({
        "apiVersion": {"const": "ray.io/v1"},
        "kind": {"const": "RayJob"},
        "metadata": _closed({"name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                                      "maxLength": 63},
                             "namespace": _STR, "labels": _STR_MAP, "annotations": _STR_MAP}),
        "spec": _RAYJOB_SPEC,
    }, required=("apiVersion", "kind", "metadata", "spec")),
}
