"""The Kubernetes manifests must match the code: every variable a Deployment sets is a setting of its service."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from migradesk_intake.settings import IntakeSettings
from migradesk_metrics.settings import MetricsSettings
from migradesk_referral.settings import ReferralSettings
from migradesk_shared.settings import ServiceSettings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
SERVICES: dict[str, type[ServiceSettings]] = {"intake": IntakeSettings, "referral": ReferralSettings,
                                              "metrics": MetricsSettings}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_deployment_sets_only_real_settings_and_probes_real_endpoints(service: str) -> None:
    docs = list(yaml.safe_load_all((K8S / f"{service}.yaml").read_text()))
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    prefix = service.upper() + "_"
    fields = {name.upper() for name in SERVICES[service].model_fields}
    for env in container["env"]:
        assert env["name"].startswith(prefix), env["name"]
        assert env["name"].removeprefix(prefix) in fields, f"{env['name']} is not a setting of {service}"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert {e["name"] for e in container["env"]} >= {f"{prefix}MONGODB_URI", f"{prefix}KAFKA_BOOTSTRAP_SERVERS",
                                                     f"{prefix}API_TOKEN_SECRET"}


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_runs_two_replicas(service: str) -> None:
    # Two processes of each service are proven to lose and double nothing (tests/e2e/test_replicas.py).
    docs = list(yaml.safe_load_all((K8S / f"{service}.yaml").read_text()))
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 2
