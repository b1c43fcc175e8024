"""The Kubernetes manifests in deploy/: valid against the API's own schemas, and safe as written.

Validation uses kubernetes-validate, which ships the JSON schemas of each Kubernetes release inside
the package, so it needs no network and no cluster. Its strict schemas refuse unknown fields, which
catches a misspelt key that the API server would otherwise drop silently (a `readinessprobe` that is
never probed).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

from app.core.config import PROJECT_ROOT, Settings

DEPLOY = PROJECT_ROOT / "deploy"
# The oldest release still common on managed clusters, and the newest the package knows.
K8S_VERSIONS = ["1.30", "1.37"]
IMAGE_UID = 10001  # the Dockerfile's `useradd --uid`
IMAGE_PORT = 8000  # the Dockerfile's PORT
STATE_DIR = "/srv/digits/state"  # the Dockerfile's one writable directory
SERVING_RESIDENT_MIB = 260  # one serving process with the image's CPU torch (README, Benchmarks)

Manifest = dict[str, Any]


def manifest_files() -> list[Path]:
    return sorted(path for path in DEPLOY.rglob("*.yaml") if path.name != "kustomization.yaml")


def load(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def all_manifests() -> Iterator[tuple[Path, Manifest]]:
    for path in manifest_files():
        for manifest in load(path):
            yield path, manifest


def validate(manifest: Manifest, version: str) -> None:
    """Raise unless MANIFEST is valid for Kubernetes VERSION; an unknown kind raises too."""
    kubernetes_validate.validate(manifest, version, strict=True)


def the(kind: str, name: str) -> Manifest:
    found = [m for _, m in all_manifests() if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name} in deploy/, found {len(found)}"
    return found[0]


def server() -> Manifest:
    return the("Deployment", "digit-service-server")


def trainer() -> Manifest:
    return the("Deployment", "digit-service-trainer")


def pod_specs() -> list[tuple[str, Manifest]]:
    specs = []
    for _, manifest in all_manifests():
        name = f"{manifest['kind']}/{manifest['metadata']['name']}"
        if manifest["kind"] == "Deployment":
            specs.append((name, manifest["spec"]["template"]["spec"]))
        elif manifest["kind"] == "Pod":
            specs.append((name, manifest["spec"]))
    return specs


def container(deployment: Manifest) -> Manifest:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: Manifest = containers[0]
    return result


def env(deployment: Manifest) -> dict[str, Manifest]:
    return {var["name"]: var for var in container(deployment)["env"]}


def mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", quantity)
    assert match, f"memory quantity {quantity!r} is not in Ki/Mi/Gi"
    return int(match[1]) * units[match[2]]


def cpus(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


# --- schema validation ----------------------------------------------------------------------------


def test_deploy_holds_the_manifests_the_issue_names() -> None:
    kinds = {m["kind"] for _, m in all_manifests()}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "Secret"} <= kinds


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_manifest_is_valid_for_kubernetes(path: Path, version: str) -> None:
    manifests = load(path)
    assert manifests, f"{path} holds no manifest"
    for manifest in manifests:
        validate(manifest, version)


def broken_field_name(m: Manifest) -> None:
    container(m)["readinessprobe"] = container(m).pop("readinessProbe")


def broken_type(m: Manifest) -> None:
    container(m)["ports"][0]["containerPort"] = "eight thousand"


def broken_missing_required(m: Manifest) -> None:
    del m["spec"]["template"]["spec"]["containers"]


def broken_probe_without_handler(m: Manifest) -> None:
    container(m)["livenessProbe"] = {"periodSeconds": "often"}


def broken_kind(m: Manifest) -> None:
    m["kind"] = "Deploymnet"


@pytest.mark.parametrize(
    "breakage",
    [broken_field_name, broken_type, broken_missing_required, broken_probe_without_handler, broken_kind],
)
def test_a_broken_manifest_is_rejected(breakage: Any) -> None:
    """The check can fail: the server Deployment with one thing wrong does not validate."""
    manifest = copy.deepcopy(server())
    validate(manifest, K8S_VERSIONS[-1])  # as committed, it passes
    breakage(manifest)
    with pytest.raises((ValidationError, SchemaNotFoundError)):
        validate(manifest, K8S_VERSIONS[-1])


def test_kustomization_applies_every_manifest_but_the_secrets_and_tools() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    for name in listed:
        assert (DEPLOY / name).is_file(), f"kustomization.yaml lists {name}, which does not exist"
    expected = {
        str(path.relative_to(DEPLOY))
        for path in manifest_files()
        if path.name != "secrets.example.yaml" and path.parent.name != "tools"
    }
    assert listed == expected
    assert kustomization["namespace"] == the("Namespace", "digit-service")["metadata"]["name"]
    images = {container["image"].split(":")[0] for _, spec in pod_specs() for container in spec["containers"]}
    assert images == {image["name"] for image in kustomization["images"]}


# --- what matters about them -----------------------------------------------------------------------


@pytest.mark.parametrize("deployment", [server, trainer], ids=["server", "trainer"])
def test_probes_ask_ready_and_health_on_the_service_port(deployment: Any) -> None:
    spec = container(deployment())
    [port] = spec["ports"]
    assert port["containerPort"] == IMAGE_PORT
    assert spec["readinessProbe"]["httpGet"] == {"path": "/ready", "port": port["name"]}
    assert spec["livenessProbe"]["httpGet"] == {"path": "/health", "port": port["name"]}
    # Liveness must not kill a pod that is still loading torch and the model.
    assert spec["startupProbe"]["httpGet"]["path"] == "/health"
    startup = spec["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


@pytest.mark.parametrize(("name", "spec"), pod_specs(), ids=[name for name, _ in pod_specs()])
def test_every_pod_runs_unprivileged_on_a_read_only_root(name: str, spec: Manifest) -> None:
    assert spec["automountServiceAccountToken"] is False
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == IMAGE_UID
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    for each in spec["containers"]:
        security = each["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] == IMAGE_UID
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert "privileged" not in security


@pytest.mark.parametrize("deployment", [server, trainer], ids=["server", "trainer"])
def test_the_places_the_app_writes_are_scratch_volumes(deployment: Any) -> None:
    manifest = deployment()
    volumes = {v["name"]: v for v in manifest["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in container(manifest)["volumeMounts"]}
    for path in ("/tmp", STATE_DIR):
        assert path in mounts, f"{path} is not writable on a read-only root"
        assert "emptyDir" in volumes[mounts[path]["name"]]
        assert not mounts[path].get("readOnly", False)
    variables = env(manifest)
    assert variables["DIGITS_STATE_DIR"]["value"] == STATE_DIR
    assert variables["MPLCONFIGDIR"]["value"].startswith("/tmp/")


def test_one_trainer_with_the_trainer_role_and_servers_without_it() -> None:
    assert trainer()["spec"]["replicas"] == 1
    # Never two trainers during an update: the old one stops before the new one starts.
    assert trainer()["spec"]["strategy"] == {"type": "Recreate"}
    assert env(trainer())["DIGITS_TRAINER"]["value"] == "true"
    assert env(server())["DIGITS_TRAINER"]["value"] == "false"
    # The HPA owns the servers' count; a replicas: in the file would reset it at every apply.
    assert "replicas" not in server()["spec"]
    assert server()["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_the_trainer_reads_mnist_from_its_volume() -> None:
    manifest = trainer()
    mounts = {m["name"]: m for m in container(manifest)["volumeMounts"]}
    volumes = {v["name"]: v for v in manifest["spec"]["template"]["spec"]["volumes"]}
    [name] = [n for n, v in volumes.items() if "persistentVolumeClaim" in v]
    assert env(manifest)["DIGITS_DATA_DIR"]["value"] == mounts[name]["mountPath"]
    assert mounts[name]["readOnly"] is True
    claim = volumes[name]["persistentVolumeClaim"]["claimName"]
    assert the("PersistentVolumeClaim", claim)


@pytest.mark.parametrize("deployment", [server, trainer], ids=["server", "trainer"])
def test_secrets_are_referenced_never_inlined(deployment: Any) -> None:
    secrets = {m["metadata"]["name"]: m for _, m in all_manifests() if m["kind"] == "Secret"}
    variables = env(deployment())
    for name in ("DIGITS_ADMIN_TOKEN", "DIGITS_DATABASE_URL"):
        assert "value" not in variables[name], f"{name} is written into the manifest"
        reference = variables[name]["valueFrom"]["secretKeyRef"]
        assert reference["key"] in secrets[reference["name"]]["stringData"]
        assert not reference.get("optional", False), f"{name} must stop the pod when its Secret is missing"
    for _, manifest in all_manifests():
        if manifest["kind"] != "Secret":
            text = yaml.safe_dump(manifest)
            assert "postgresql://" not in text
            assert "postgres://" not in text


def test_the_secret_examples_are_never_applied() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert "secrets.example.yaml" not in kustomization["resources"]
    assert all(m["kind"] == "Secret" for m in load(DEPLOY / "secrets.example.yaml"))


@pytest.mark.parametrize("deployment", [server, trainer], ids=["server", "trainer"])
def test_every_setting_is_one_the_service_reads(deployment: Any) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    names = {name.removeprefix("DIGITS_") for name in env(deployment()) if name.startswith("DIGITS_")}
    assert names <= fields, names - fields


@pytest.mark.parametrize("deployment", [server, trainer], ids=["server", "trainer"])
def test_every_value_parses_as_the_service_reads_it(deployment: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pod's environment, Secrets filled in with values of their shape, makes a valid Settings."""
    for name in list(os.environ):
        if name.startswith("DIGITS_"):
            monkeypatch.delenv(name)
    from_secrets = {"DIGITS_DATABASE_URL": "postgresql://digits:pw@digits-db-rw:5432/digits", "DIGITS_ADMIN_TOKEN": "t"}
    variables = env(deployment())
    for name, variable in variables.items():
        monkeypatch.setenv(name, variable["value"] if "value" in variable else from_secrets[name])
    settings = Settings()
    assert not settings.embedded
    assert settings.is_trainer is (deployment is trainer)
    assert settings.state_dir == Path(STATE_DIR)
    assert settings.inference_workers == int(variables["DIGITS_INFERENCE_WORKERS"]["value"])


def test_resources_fit_the_measured_footprint() -> None:
    for deployment in (server(), trainer()):
        resources = container(deployment)["resources"]
        assert cpus(resources["requests"]["cpu"]) <= cpus(resources["limits"]["cpu"])
        assert mebibytes(resources["requests"]["memory"]) <= mebibytes(resources["limits"]["memory"])
        assert mebibytes(resources["requests"]["memory"]) >= 1.5 * SERVING_RESIDENT_MIB
        # os.cpu_count() in a pod counts the node's CPUs: the thread counts must be set explicitly.
        threads = int(env(deployment)["DIGITS_INFERENCE_WORKERS"]["value"])
        assert threads <= cpus(resources["limits"]["cpu"])
    # The trainer runs a training child beside its server process.
    trainer_memory = container(trainer())["resources"]["requests"]["memory"]
    assert mebibytes(trainer_memory) >= 2 * SERVING_RESIDENT_MIB + 190  # + MNIST as float tensors
    training_threads = int(env(trainer())["DIGITS_TRAINING_THREADS"]["value"])
    assert training_threads <= cpus(container(trainer())["resources"]["limits"]["cpu"])


def test_the_autoscaler_scales_the_serving_deployment() -> None:
    hpa = the("HorizontalPodAutoscaler", "digit-service-server")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", "digit-service-server")
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert "cpu" in container(server())["resources"]["requests"]  # Utilization is measured against it


def selects(selector: dict[str, str], deployment: Manifest) -> bool:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    return all(labels.get(key) == value for key, value in selector.items())


def test_the_service_sends_traffic_to_the_serving_pods_only() -> None:
    service = the("Service", "digit-service")
    selector = service["spec"]["selector"]
    assert selects(selector, server())
    assert not selects(selector, trainer())
    [port] = service["spec"]["ports"]
    assert port["targetPort"] == container(server())["ports"][0]["name"]


def test_deployments_select_their_own_pods_and_the_budget_the_servers() -> None:
    for deployment in (server(), trainer()):
        assert selects(deployment["spec"]["selector"]["matchLabels"], deployment)
    assert not selects(server()["spec"]["selector"]["matchLabels"], trainer())
    budget = the("PodDisruptionBudget", "digit-service-server")
    assert selects(budget["spec"]["selector"]["matchLabels"], server())
    hpa = the("HorizontalPodAutoscaler", "digit-service-server")
    assert budget["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
