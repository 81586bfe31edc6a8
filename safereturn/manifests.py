"""The Kubernetes base under deploy/kubernetes/base, generated from the platform's own names
(services, ports, streams, consumer groups) so the manifests cannot drift from the code:
``python -m safereturn.manifests`` (``make manifests``) writes them; a test checks the
committed files are what this makes.

Per service: a Deployment (probes, requests and limits, non-root, read-only root, its own
secret mounted at /run/secrets), a Service, a PodDisruptionBudget, and its autoscaler — a
HorizontalPodAutoscaler on CPU for intake (HTTP), a KEDA ScaledObject on its consumer groups'
lag (Redis ≥ 7) for the others (stats also on CPU: it serves the forms). Besides: the migration
Job, the KEDA TriggerAuthentication (the ``monitor`` Redis user) and the NetworkPolicies."""

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from shared.names import HTTP_PORTS, Service, Stream, consumer_group
from shared.redis_acl import CONSUMES

BASE = Path(__file__).parents[1] / "deploy" / "kubernetes" / "base"
NAMESPACE = "safereturn"
DATA_NAMESPACE = "safereturn-data"  # Redis and the databases (operators' or managed)
IMAGE = "safereturn"
PART_OF = {"app.kubernetes.io/part-of": "safereturn"}
SCALED_STREAMS = {s: [x for x in CONSUMES[s] if x != Stream.PLATFORM] for s in Service}
HTTP_AUTOSCALED = (Service.INTAKE,)
LAG_PER_REPLICA = "200"  # entries behind per replica before KEDA adds one
RESOURCES = {"requests": {"cpu": "250m", "memory": "192Mi"},
             "limits": {"cpu": "1", "memory": "384Mi"}}  # fmt: skip


def labels(service: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": service, **PART_OF}


def _secret_volume(service: Service) -> dict[str, Any]:
    """The service's own Secret (from `safereturn secrets init`, see the production overlay)
    and the platform's public signing keys, under the names its settings read."""
    own = [("redis-url", "SAFERETURN_REDIS_URL"), ("database-url", "SAFERETURN_DATABASE_URL"),
           ("vault.json", "vault.json"), ("events.pem", "events.pem")]  # fmt: skip
    return {"name": "secrets", "projected": {"defaultMode": 0o400, "sources": [
        {"secret": {"name": f"safereturn-{service}",
                    "items": [{"key": key, "path": path} for key, path in own]}},
        {"configMap": {"name": "safereturn-event-public-keys",
                       "items": [{"key": "event-public-keys.json",
                                  "path": "SAFERETURN_EVENT_PUBLIC_KEYS"}]}},
    ]}}  # fmt: skip


def _environment(service: Service) -> list[dict[str, Any]]:
    values = {
        "SAFERETURN_HTTP_PORT": str(HTTP_PORTS[service]),
        "SAFERETURN_VAULT_KEYRING": "/run/secrets/vault.json",
        "SAFERETURN_EVENT_SIGNING_KEY_FILE": "/run/secrets/events.pem",
    }
    fields = [{"name": "SAFERETURN_CONSUMER_NAME",
               "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]  # fmt: skip
    return fields + [{"name": k, "value": v} for k, v in values.items()]


def _container(service: Service, command: list[str]) -> dict[str, Any]:
    return {
        "name": str(service), "image": IMAGE, "command": command,
        "envFrom": [{"configMapRef": {"name": "safereturn-settings"}}],
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "secrets", "mountPath": "/run/secrets", "readOnly": True},
                         {"name": "data", "mountPath": "/var/lib/safereturn"}],
    }  # fmt: skip


def _pod(service: Service, containers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "automountServiceAccountToken": False,
        "containers": containers,
        "volumes": [_secret_volume(service), {"name": "data", "emptyDir": {}}],
    }  # fmt: skip


def deployment(service: Service) -> dict[str, Any]:
    port = HTTP_PORTS[service]
    container = _container(service, ["python", "-m", f"services.{service}"]) | {
        "env": _environment(service),
        "ports": [{"name": "http", "containerPort": port}],
        "resources": RESOURCES,
        "startupProbe": {"httpGet": {"path": "/health", "port": "http"},
                         "periodSeconds": 2, "failureThreshold": 60},
        "livenessProbe": {"httpGet": {"path": "/health", "port": "http"},
                          "periodSeconds": 10, "failureThreshold": 3},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"},
                           "periodSeconds": 5, "failureThreshold": 2},
    }  # fmt: skip
    pod = _pod(service, [container]) | {"terminationGracePeriodSeconds": 40}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": str(service), "labels": labels(service)},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels(service)},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": labels(service)}, "spec": pod},
        },
    }  # fmt: skip


def service_of(service: Service) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": str(service), "labels": labels(service)},
        "spec": {"selector": labels(service),
                 "ports": [{"name": "http", "port": HTTP_PORTS[service], "targetPort": "http"}]},
    }  # fmt: skip


def disruption_budget(service: Service) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": str(service), "labels": labels(service)},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": labels(service)}},
    }  # fmt: skip


def autoscaler(service: Service) -> dict[str, Any]:
    if service in HTTP_AUTOSCALED:
        return {
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": str(service), "labels": labels(service)},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                   "name": str(service)},
                "minReplicas": 2, "maxReplicas": 10,
                "metrics": [{"type": "Resource", "resource": {
                    "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
            },
        }  # fmt: skip
    triggers: list[dict[str, Any]] = [
        {"type": "redis-streams", "name": f"lag-{stream.split(':', 1)[1].strip('{}')}",
         "metadata": {"addressFromEnv": "SAFERETURN_REDIS_ADDRESS", "stream": str(stream),
                      "consumerGroup": consumer_group(service), "lagCount": LAG_PER_REPLICA,
                      "activationLagCount": "0"},
         "authenticationRef": {"name": "redis-monitor"}}
        for stream in SCALED_STREAMS[service]
    ]  # fmt: skip
    if service == Service.STATS:  # it also answers the forms: CPU too
        triggers.append({"type": "cpu", "metricType": "Utilization",
                         "metadata": {"value": "70"}})  # fmt: skip
    return {
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": str(service), "labels": labels(service)},
        "spec": {"scaleTargetRef": {"name": str(service)}, "minReplicaCount": 2,
                 "maxReplicaCount": 10, "pollingInterval": 15, "cooldownPeriod": 300,
                 "triggers": triggers},
    }  # fmt: skip


def migration_job() -> dict[str, Any]:
    """Every service's schema, as a one-shot Job before a rollout (the services never migrate
    on start): each service's database URL and keyring under the names ``safereturn migrate``
    reads."""
    sources = [{"secret": {"name": f"safereturn-{service}", "items": [
        {"key": "database-url", "path": f"SAFERETURN_{service.upper()}_DATABASE_URL"},
        {"key": "vault.json", "path": f"{service}-vault.json"},
    ]}} for service in Service]  # fmt: skip
    container = _container(Service.INTAKE, ["safereturn", "migrate"]) | {
        "name": "migrate", "resources": RESOURCES,
        "env": [{"name": f"SAFERETURN_{service.upper()}_VAULT_KEYRING",
                 "value": f"/run/secrets/{service}-vault.json"} for service in Service],
    }  # fmt: skip
    pod = _pod(Service.INTAKE, [container]) | {"restartPolicy": "OnFailure"}
    pod["volumes"][0] = {"name": "secrets", "projected": {"defaultMode": 0o400, "sources": sources}}
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate", "labels": labels("migrate")},
        "spec": {"backoffLimit": 4, "ttlSecondsAfterFinished": 86400,
                 "template": {"metadata": {"labels": labels("migrate")}, "spec": pod}},
    }  # fmt: skip


def trigger_authentication() -> dict[str, Any]:
    """KEDA reads the groups' lag as the ``monitor`` Redis user (no entry's content)."""
    return {
        "apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication",
        "metadata": {"name": "redis-monitor", "labels": PART_OF},
        "spec": {"secretTargetRef": [
            {"parameter": "username", "name": "safereturn-redis-monitor", "key": "username"},
            {"parameter": "password", "name": "safereturn-redis-monitor", "key": "password"},
        ]},
    }  # fmt: skip


def _policy(name: str, selector: dict[str, Any], *, ingress: list[Any] | None = None,
            egress: list[Any] | None = None) -> dict[str, Any]:  # fmt: skip
    spec: dict[str, Any] = {"podSelector": selector, "policyTypes": []}
    for kind, rules in (("Ingress", ingress), ("Egress", egress)):
        if rules is not None:
            spec["policyTypes"].append(kind)
            spec[kind.lower()] = rules
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "labels": PART_OF}, "spec": spec}  # fmt: skip


def _namespace(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def _data(name: str, port: int) -> dict[str, Any]:
    """An egress rule to ``name`` (Redis, a database) in the data namespace."""
    pod = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": name}}}
    return {"to": [_namespace(DATA_NAMESPACE) | pod], "ports": [{"protocol": "TCP", "port": port}]}


def network_policies() -> list[dict[str, Any]]:
    """Nothing in or out unless allowed: services reach DNS, Redis, their own database and
    intake's JWKS through the ingress (notify also the agencies' mail and webhooks, outside the
    cluster); only the ingress controller reaches intake and stats, and Prometheus scrapes all.
    Integrators reach nothing but the ingress; Redis's own namespace should admit only this
    one, KEDA's and monitoring (deploy/README.md, "Kubernetes")."""
    dns = {"to": [_namespace("kube-system")],
           "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}  # fmt: skip
    redis = _data("redis", 6379)
    # intake's JWKS (and, for notify, its contacts) over https, through the ingress
    jwks = {"to": [_namespace("ingress-nginx")], "ports": [{"protocol": "TCP", "port": 443}]}
    outside = {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]}}],
        "ports": [{"protocol": "TCP", "port": p} for p in (443, 587, 465, 25)]}  # fmt: skip
    policies = [_policy("default-deny", {}, ingress=[], egress=[])]
    for service in Service:
        egress = [dns, redis, _data(f"postgres-{service}", 5432)]
        if service != Service.INTAKE:
            egress.append(jwks)
        if service == Service.NOTIFY:
            egress.append(outside)
        port = [{"protocol": "TCP", "port": HTTP_PORTS[service]}]
        ingress = [{"from": [_namespace("monitoring")], "ports": port}]
        if service in (Service.INTAKE, Service.STATS):
            ingress.append({"from": [_namespace("ingress-nginx")], "ports": port})
        policies.append(_policy(str(service), {"matchLabels": labels(service)},
                                ingress=ingress, egress=egress))  # fmt: skip
    migrate_egress = [dns, *(_data(f"postgres-{s}", 5432) for s in Service)]
    policies.append(_policy("migrate", {"matchLabels": labels("migrate")}, egress=migrate_egress))
    return policies


def files() -> dict[str, list[dict[str, Any]]]:
    made = {f"{service}.yaml": [deployment(service), service_of(service),
                                disruption_budget(service), autoscaler(service)]
            for service in Service}  # fmt: skip
    made["migrate.yaml"] = [migration_job()]
    made["keda.yaml"] = [trigger_authentication()]
    made["network-policies.yaml"] = network_policies()
    made["kustomization.yaml"] = [{
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "namespace": NAMESPACE, "resources": [*WRITTEN, *sorted(made)],
    }]  # fmt: skip
    return made


WRITTEN = ("namespace.yaml", "settings.yaml", "ingress.yaml")  # by hand, beside the generated
HEADER = "# Generated by `python -m safereturn.manifests` (make manifests): edit that, not this.\n"


def rendered(documents: list[dict[str, Any]]) -> str:
    plain = json.loads(json.dumps(documents))  # the names' enums as the strings they are
    return HEADER + "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in plain)


def main() -> int:
    for name, documents in files().items():
        (BASE / name).write_text(rendered(documents))
    return 0


if __name__ == "__main__":
    sys.exit(main())
