"""KEDA's custom resources as its CRDs (keda.sh/v1alpha1, KEDA 2.20) constrain them, restated
as JSON Schema for the fields the platform uses — strict, so a misspelt field fails — with the
two rules the CRDs state outside their schema: ``minReplicaCount ≤ maxReplicaCount`` and, for
the ``redis-streams`` scaler, the metadata its code requires (a stream; an address; a consumer
group whenever a lag target is given). ``kubernetes-validate`` knows no CRD (it only warns), and
KEDA's own CRD files cannot be fetched on a machine without GitHub."""

from typing import Any

import jsonschema

STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
NAME = {"type": "string", "minLength": 1}
METADATA = {"type": "object", "required": ["name"], "properties": {"name": NAME}}


def _strict(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required,
            "additionalProperties": False}  # fmt: skip


TRIGGER = _strict({
    "type": NAME,
    "name": NAME,
    "metadata": STRING_MAP,  # every value a string: lagCount: "200", not 200
    "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
    "useCachedMetrics": {"type": "boolean"},
    "authenticationRef": _strict(
        {"name": NAME, "kind": {"enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]}},
        ["name"],
    ),
}, ["type", "metadata"])  # fmt: skip

SCALED_OBJECT = _strict({
    "apiVersion": {"const": "keda.sh/v1alpha1"},
    "kind": {"const": "ScaledObject"},
    "metadata": METADATA,
    "spec": _strict({
        "scaleTargetRef": _strict({"name": NAME, "apiVersion": {"type": "string"},
                                   "kind": {"type": "string"},
                                   "envSourceContainerName": {"type": "string"}}, ["name"]),
        "pollingInterval": {"type": "integer", "minimum": 1},
        "cooldownPeriod": {"type": "integer", "minimum": 0},
        "initialCooldownPeriod": {"type": "integer", "minimum": 0},
        "minReplicaCount": {"type": "integer", "minimum": 0},
        "maxReplicaCount": {"type": "integer", "minimum": 1},
        "idleReplicaCount": {"type": "integer", "minimum": 0},
        "triggers": {"type": "array", "minItems": 1, "items": TRIGGER},
        "advanced": {"type": "object"},
        "fallback": _strict({"failureThreshold": {"type": "integer"},
                             "replicas": {"type": "integer"}},
                            ["failureThreshold", "replicas"]),
    }, ["scaleTargetRef", "triggers"]),
}, ["apiVersion", "kind", "metadata", "spec"])  # fmt: skip

TRIGGER_AUTHENTICATION = _strict({
    "apiVersion": {"const": "keda.sh/v1alpha1"},
    "kind": {"const": "TriggerAuthentication"},
    "metadata": METADATA,
    "spec": _strict({
        "secretTargetRef": {"type": "array", "items": _strict(
            {"parameter": NAME, "name": NAME, "key": NAME}, ["parameter", "name", "key"])},
        "env": {"type": "array", "items": _strict(
            {"parameter": NAME, "name": NAME, "containerName": {"type": "string"}},
            ["parameter", "name"])},
    }, []),
}, ["apiVersion", "kind", "metadata", "spec"])  # fmt: skip

SCHEMAS = {"ScaledObject": SCALED_OBJECT, "TriggerAuthentication": TRIGGER_AUTHENTICATION}
ADDRESS_KEYS = {"address", "addresses", "addressFromEnv", "addressesFromEnv", "host", "hosts",
                "hostFromEnv", "hostsFromEnv"}  # fmt: skip


def problems(document: dict[str, Any]) -> list[str]:
    """What KEDA would refuse in ``document`` (empty: nothing)."""
    validator = jsonschema.Draft7Validator(SCHEMAS[document["kind"]])
    found = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(document)]
    if found or document["kind"] != "ScaledObject":
        return found
    spec = document["spec"]
    if spec.get("minReplicaCount", 0) > spec.get("maxReplicaCount", 100):
        found.append("spec: minReplicaCount is above maxReplicaCount")
    for trigger in spec["triggers"]:
        if trigger["type"] not in ("redis-streams", "redis-cluster-streams"):
            continue
        metadata = trigger["metadata"]
        if "stream" not in metadata:
            found.append(f"trigger {trigger.get('name')}: no stream")
        if not ADDRESS_KEYS & set(metadata):
            found.append(f"trigger {trigger.get('name')}: no Redis address")
        if "lagCount" in metadata and "consumerGroup" not in metadata:
            found.append(f"trigger {trigger.get('name')}: lagCount without consumerGroup")
    return found
