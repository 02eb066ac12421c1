"""The Kubernetes manifests, rendered as `kubectl apply -k` would render them, must be valid and match the code.

Each overlay of deploy/k8s is built with kustomize and checked offline: every core object against Kubernetes'
own schemas (strict: an unknown field is an error), the services' Deployments against the restricted Pod
Security profile and the settings their code reads, the KafkaTopics against the project's topic list, no
Secret committed, and a standard policy checker (checkov) finds nothing but the findings accepted for a reason.
Operator objects (Strimzi, MongoDB) are checked for what the services rely on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from migradesk_intake.settings import IntakeSettings
from migradesk_metrics.settings import MetricsSettings
from migradesk_referral.settings import ReferralSettings
from migradesk_shared.settings import ServiceSettings
from migradesk_shared.topics import TopicSpec, all_topic_specs
from scripts import k8s_topics

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "production")
SERVICES: dict[str, type[ServiceSettings]] = {"intake": IntakeSettings, "referral": ReferralSettings,
                                              "metrics": MetricsSettings}
# The Kubernetes version the manifests are checked against (the oldest a city is likely to run).
KUBERNETES_VERSION = "1.30.0"
CORE_GROUPS = ("v1", "apps/v1", "policy/v1", "networking.k8s.io/v1", "autoscaling/v2", "batch/v1")
# Keys of the Secret the operator creates by hand (README, "Deploying"); the databases' are the MongoDB operator's.
HAND_MADE_SECRET = "migradesk-secrets"
HAND_MADE_KEYS = {"API_TOKEN_SECRET", "METRICS_TOKEN", "REFERRAL_SMTP_USERNAME", "REFERRAL_SMTP_PASSWORD"}


def kustomize() -> str:
    found = shutil.which("kustomize") or str(ROOT / ".local" / "tools" / "bin" / "kustomize")
    if not Path(found).exists():
        if os.environ.get("CI"):
            pytest.fail("kustomize is missing: `make test` installs it (.local/tools/bin/kustomize)")
        pytest.skip("kustomize is not installed here: `make test` installs it")
    return found


@cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    out = subprocess.run([kustomize(), "build", str(K8S / "overlays" / overlay)], check=True, capture_output=True,
                         text=True).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def of_kind(overlay: str, kind: str) -> list[dict[str, Any]]:
    return [doc for doc in rendered(overlay) if doc["kind"] == kind]


def deployment(overlay: str, service: str) -> dict[str, Any]:
    [found] = [d for d in of_kind(overlay, "Deployment") if d["metadata"]["name"] == service]
    return found


def containers(overlay: str) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for service in SERVICES:
        pod = deployment(overlay, service)["spec"]["template"]["spec"]
        for container in pod["containers"]:
            yield service, pod, container


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_core_object_is_valid_for_kubernetes_strictly(overlay: str) -> None:
    checked = 0
    for doc in rendered(overlay):
        if doc["apiVersion"] in CORE_GROUPS:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            checked += 1
    assert checked >= 10, f"only {checked} core objects rendered"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_is_committed(overlay: str) -> None:
    # A Secret in the manifests would overwrite the real one (with empty values) on every `kubectl apply -k`.
    assert of_kind(overlay, "Secret") == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_meet_the_restricted_pod_security_profile(overlay: str) -> None:
    for service, pod, container in containers(overlay):
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True and security["seccompProfile"]["type"] == "RuntimeDefault", service
        assert pod["automountServiceAccountToken"] is False, service
        own = container["securityContext"]
        assert own["allowPrivilegeEscalation"] is False and own["readOnlyRootFilesystem"] is True, service
        assert own["capabilities"]["drop"] == ["ALL"] and "add" not in own["capabilities"], service
        # A read-only root needs somewhere to write temporary files.
        assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}, service  # noqa: S108


OTEL_SDK_VARIABLES = {"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_set_only_real_settings_probe_real_endpoints_and_bound_their_resources(overlay: str) -> None:
    config = {doc["metadata"]["name"]: doc["data"] for doc in of_kind(overlay, "ConfigMap")}
    connection_secrets = {user["connectionStringSecretName"] for db in of_kind(overlay, "MongoDBCommunity")
                          for user in db["spec"]["users"]}
    for service, _, container in containers(overlay):
        prefix = service.upper() + "_"
        fields = {name.upper() for name in SERVICES[service].model_fields}
        for env in container["env"]:
            if env["name"] in OTEL_SDK_VARIABLES:  # read by the OpenTelemetry SDK itself, not by the settings
                assert env["valueFrom"]["configMapKeyRef"]["key"] in config["migradesk-config"], env["name"]
                continue
            assert env["name"].startswith(prefix), env["name"]
            assert env["name"].removeprefix(prefix) in fields, f"{env['name']} is not a setting of {service}"
            source = env.get("valueFrom", {})
            if "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                assert ref["key"] in config[ref["name"]], f"{service}: {ref} is not in the config map"
            if "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                assert (ref["name"] == HAND_MADE_SECRET and ref["key"] in HAND_MADE_KEYS) or (
                    ref["name"] in connection_secrets and ref["key"] == "connectionString.standard"), ref
        names = {e["name"] for e in container["env"]}
        assert names >= {f"{prefix}MONGODB_URI", f"{prefix}KAFKA_BOOTSTRAP_SERVERS", f"{prefix}API_TOKEN_SECRET",
                         *OTEL_SDK_VARIABLES}
        assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert set(container["resources"]["requests"]) == {"cpu", "memory"}
        assert "memory" in container["resources"]["limits"]
        image, _, tag = container["image"].rpartition(":")
        assert image and tag and tag != "latest", container["image"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_selects_the_pods_of_its_deployment(overlay: str) -> None:
    pods = [d["spec"]["template"]["metadata"]["labels"] for d in of_kind(overlay, "Deployment")]
    for service in of_kind(overlay, "Service"):
        selector = service["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pods), service["metadata"]["name"]


def test_production_runs_two_processes_of_each_service_kept_through_drains() -> None:
    # Two processes of each service are proven to lose and double nothing (tests/e2e/test_replicas.py).
    budgets = {b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]: b
               for b in of_kind("production", "PodDisruptionBudget")}
    for service in SERVICES:
        assert deployment("production", service)["spec"]["replicas"] == 2
        assert budgets[service]["spec"]["minAvailable"] == 1
    [pool] = of_kind("production", "KafkaNodePool")
    [kafka] = of_kind("production", "Kafka")
    assert pool["spec"]["replicas"] == 3 and kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 2
    assert all(db["spec"]["members"] == 3 for db in of_kind("production", "MongoDBCommunity"))
    for service in SERVICES:
        image = deployment("production", service)["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.startswith("registry.example.gov.br/migradesk/"), image


def test_dev_runs_one_of_everything() -> None:
    assert all(deployment("dev", s)["spec"]["replicas"] == 1 for s in SERVICES)
    assert all(t["spec"]["replicas"] == 1 for t in of_kind("dev", "KafkaTopic"))
    [config] = of_kind("dev", "ConfigMap")
    assert config["data"]["KAFKA_REPLICATION_FACTOR"] == "1"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_services_are_denied_every_flow_but_those_the_topology_needs(overlay: str) -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in of_kind(overlay, "NetworkPolicy")}
    deny = policies["services-default-deny"]
    assert deny["podSelector"] == {"matchLabels": {"app.kubernetes.io/part-of": "migradesk"}}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"} and "ingress" not in deny and "egress" not in deny
    for service in SERVICES:
        labels = deployment(overlay, service)["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "migradesk"  # the default deny applies to it
        # A database takes its own service only.
        db_policy = policies[f"{service}-db-from-{service}"]
        allowed = [peer for rule in db_policy["ingress"] for peer in rule["from"]]
        assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": service}}} in allowed
        assert not any(peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
                       not in (None, service) for peer in allowed)


def test_the_pages_are_served_over_tls_and_each_path_reaches_its_service() -> None:
    [ingress] = of_kind("production", "Ingress")
    assert ingress["spec"]["tls"][0]["secretName"]
    paths = {p["path"]: p["backend"]["service"]["name"] for rule in ingress["spec"]["rules"]
             for p in rule["http"]["paths"]}
    assert (paths["/inbox"], paths["/dashboard"], paths["/"]) == ("referral", "metrics", "intake")


def test_the_generated_kafka_topics_are_up_to_date() -> None:
    assert k8s_topics.TOPICS_FILE.read_text(encoding="utf-8") == k8s_topics.render(), \
        "deploy/k8s/base/kafka-topics.yaml is stale: run `make k8s-topics`"


def topic_drift(specs: tuple[TopicSpec, ...], declared: list[dict[str, Any]]) -> list[str]:
    """What differs between the code's topics and the deployment's KafkaTopics, naming each topic."""
    by_name = {t["spec"]["topicName"]: t for t in declared}
    found = [f"topic {name} is in deploy/k8s but not in the code" for name in sorted(set(by_name) - {
        s.name for s in specs})]
    for spec in specs:
        if spec.name not in by_name:
            found.append(f"topic {spec.name} is in the code but not in deploy/k8s")
            continue
        topic, config = by_name[spec.name]["spec"], by_name[spec.name]["spec"]["config"]
        if topic["partitions"] != spec.partitions:
            found.append(f"topic {spec.name}: {topic['partitions']} partitions, the code has {spec.partitions}")
        if config.get("retention.ms") != str(spec.retention_ms):
            found.append(f"topic {spec.name}: retention {config.get('retention.ms')}, the code has {spec.retention_ms}")
        if (config.get("cleanup.policy") == "compact") != spec.compacted:
            found.append(f"topic {spec.name}: compaction differs from the code")
        if by_name[spec.name]["metadata"]["labels"].get("strimzi.io/cluster") != "migradesk":
            found.append(f"topic {spec.name}: not bound to the migradesk Kafka cluster")
    return found


def test_every_topic_of_the_code_is_declared_in_the_deployment_as_the_code_creates_it() -> None:
    topics = of_kind("production", "KafkaTopic")
    assert topic_drift(all_topic_specs(), topics) == []
    assert all(t["spec"]["replicas"] == 3 and t["spec"]["config"]["min.insync.replicas"] == "2" for t in topics)


def test_the_drift_check_names_the_topic_that_drifted() -> None:
    topics = of_kind("production", "KafkaTopic")
    new = TopicSpec("intake.new-thing.v1")
    assert topic_drift((*all_topic_specs(), new), topics) == [
        "topic intake.new-thing.v1 is in the code but not in deploy/k8s"]
    fewer = tuple(s for s in all_topic_specs() if s.name != "intake.activities.v1")
    assert topic_drift(fewer, topics) == ["topic intake.activities.v1 is in deploy/k8s but not in the code"]
    changed = tuple(replace(s, partitions=6) if s.name == "intake.case-events.v1" else s for s in all_topic_specs())
    assert topic_drift(changed, topics) == ["topic intake.case-events.v1: 3 partitions, the code has 6"]
    compacted = tuple(replace(s, compacted=not s.compacted) if s.name == "intake.person-profiles.v1" else s
                      for s in all_topic_specs())
    assert topic_drift(compacted, topics) == ["topic intake.person-profiles.v1: compaction differs from the code"]


def test_the_manifests_read_as_yaml_and_kustomize_lists_every_base_file() -> None:
    base = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    assert set(base["resources"]) == {p.name for p in (K8S / "base").glob("*.yaml")} - {"kustomization.yaml"}


def test_the_alerts_watch_metrics_the_services_export_and_prometheus_scrapes_them_with_the_token() -> None:
    import re

    from prometheus_client import REGISTRY

    import migradesk_shared.kafka
    import migradesk_shared.outbox  # registers the outbox's metrics

    families = list(REGISTRY.collect())
    # A counter is exposed as <name>_total, whether or not it has counted anything yet.
    exported = {f.name + ("_total" if f.type == "counter" else "") for f in families}
    [rules] = of_kind("production", "PrometheusRule")
    alerts = {rule["alert"]: rule["expr"] for group in rules["spec"]["groups"] for rule in group["rules"]}
    assert {"MigraDeskConsumerLagging", "MigraDeskMessagesDeadLettered", "MigraDeskOutboxNotDraining"} <= set(alerts)
    for alert, expr in alerts.items():
        for metric in re.findall(r"migradesk_[a-z_]+", expr):
            assert metric in exported, f"{alert} watches {metric}, which no service exports"
    assert migradesk_shared.kafka.LAG._labelnames == ("group", "topic", "partition")  # what the lag alert groups by
    [monitor] = of_kind("production", "ServiceMonitor")
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["credentials"] == {"name": HAND_MADE_SECRET, "key": "METRICS_TOKEN"}


def test_autoscaling_follows_the_lag_of_a_consumer_group_the_service_really_has() -> None:
    from migradesk_intake import channels as intake_channels
    from migradesk_metrics import channels as metrics_channels
    from migradesk_referral import channels as referral_channels

    subscribes = {"intake": intake_channels.SUBSCRIBES, "referral": referral_channels.SUBSCRIBES,
                  "metrics": metrics_channels.SUBSCRIBES}
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s["spec"] for s in of_kind("production", "ScaledObject")}
    assert set(scaled) == set(SERVICES)
    for service, spec in scaled.items():
        # Never below the two processes the disruption budget keeps, never beyond a topic's partitions.
        assert spec["minReplicaCount"] == deployment("production", service)["spec"]["replicas"] == 2
        topics = {t.name: t for t in subscribes[service]}
        for trigger in spec["triggers"]:
            meta = trigger["metadata"]
            assert meta["topic"] in topics, f"{service} does not consume {meta['topic']}"
            assert meta["consumerGroup"] == f"{service}.{meta['topic']}"  # the runtime's group naming
            assert spec["maxReplicaCount"] <= topics[meta["topic"]].partitions
            assert meta["bootstrapServers"] == of_kind("production", "ConfigMap")[0]["data"]["KAFKA_BOOTSTRAP_SERVERS"]


# The policy checker's findings the deployment accepts, each for a reason; any other finding fails the test.
ACCEPTED_FINDINGS = {
    # CPU limits throttle a latency-bound service under the kernel's quota long before its node is short of CPU;
    # the pods request CPU (scheduling) and have memory limits (what a leak would exhaust).
    "CKV_K8S_11": "no CPU limits, by design",
    # The release pins the image by digest when it is built (`kustomize edit set image …@sha256:…`); the
    # repository cannot know that digest.
    "CKV_K8S_43": "the digest is set by the release",
    # The services read their settings from the environment (pydantic-settings); the secrets come from Secrets by
    # reference, never written in a manifest. Reading them from mounted files is the next step.
    "CKV_K8S_35": "secrets by reference in the environment",
}


def checkov() -> str:
    found = ROOT / ".local" / "tools" / "checkov" / "bin" / "checkov"
    if not found.exists():
        if os.environ.get("CI"):
            pytest.fail("checkov is missing: `make test` installs it (.local/tools/checkov)")
        pytest.skip("checkov is not installed here: `make test` installs it")
    return str(found)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_standard_policy_checker_finds_nothing_but_the_accepted_findings(overlay: str,
                                                                           tmp_path: Path) -> None:
    manifests = tmp_path / f"{overlay}.yaml"
    manifests.write_text(yaml.safe_dump_all(rendered(overlay)))
    if overlay == "dev":  # dev pulls what the local cluster has; production pulls its release every time
        skipped = {**ACCEPTED_FINDINGS, "CKV_K8S_15": "local images"}
    else:
        skipped = ACCEPTED_FINDINGS
    run = subprocess.run([checkov(), "--file", str(manifests), "--framework", "kubernetes", "--output", "json",
                          "--skip-download", "--quiet", "--skip-check", ",".join(skipped)],
                         capture_output=True, text=True, check=False, timeout=300,
                         env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    report = json.loads(run.stdout or "{}")
    failed = [(f["check_id"], f["check_name"], f["resource"]) for f in report.get("results", {})
              .get("failed_checks", [])]
    assert failed == [], failed
    assert report["summary"]["passed"] > 100  # it did check the manifests
