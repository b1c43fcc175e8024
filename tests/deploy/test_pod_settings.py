"""The image runs under the pod settings of deploy/'s Deployments (skipped without a Docker engine).

Each Deployment's container spec is turned into `docker run` options the way the kubelet would apply
it: its user, a read-only root filesystem with a fresh 0777 directory for every emptyDir, no capabilities, no
privilege escalation, its memory and CPU limits, its environment (the Secrets replaced by test
values, DIGITS_DATABASE_URL a new PostgreSQL database both pods share, as in the cluster), MNIST
bind-mounted read-only where the trainer's volume goes. The server must start within its startup
probe's budget, pass its probes and predict; the trainer must also run a training job, which writes its
artifact and plot under that read-only root and its model into the database, and the serving pod must
then serve that model.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.local import free_port
from tests.backends import postgres_url
from tests.conftest import DATA_DIR, png_bytes
from tests.deploy.test_manifests import container, server, trainer
from tests.docker import test_image
from training.mnist import MnistSplit

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

# The image fixtures of the Docker image test, shared rather than built a second way.
docker = test_image.docker
image = test_image.image

TOKEN = "test-admin-token-0123456789abcdef"


def memory_option(quantity: str) -> str:
    match = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
    assert match, quantity
    return f"{match[1]}{'m' if match[2] == 'Mi' else 'g'}"


def run_options(deployment: dict[str, Any], port: int, scratch: Path, database_url: str) -> list[str]:
    """`docker run` options that give the container what the pod spec gives it (emptyDirs under SCRATCH)."""
    pod = deployment["spec"]["template"]["spec"]
    spec = container(deployment)
    security = spec["securityContext"]
    options = ["--network", "host", "--user", f"{security['runAsUser']}:{security['runAsGroup']}"]
    if security["readOnlyRootFilesystem"]:
        options.append("--read-only")
    if security["capabilities"]["drop"] == ["ALL"]:
        options += ["--cap-drop", "ALL"]
    if security["allowPrivilegeEscalation"] is False:
        options += ["--security-opt", "no-new-privileges"]
    limits = spec["resources"]["limits"]
    options += ["--memory", memory_option(limits["memory"]), "--cpus", str(limits["cpu"])]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for mount in spec["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            # What the kubelet makes of an emptyDir: a new host directory, mode 0777, bind-mounted.
            # (Docker 20.10's --tmpfs ignores its mode= option and leaves the mount root's 0755.)
            directory = scratch / mount["name"]
            directory.mkdir()
            directory.chmod(0o777)
            options += ["--volume", f"{directory}:{mount['mountPath']}"]
        elif "persistentVolumeClaim" in volume:  # the only claim is the trainer's MNIST
            options += ["--volume", f"{DATA_DIR}:{mount['mountPath']}:ro"]
    for variable in spec["env"]:
        if "value" in variable:
            options += ["--env", f"{variable['name']}={variable['value']}"]
        elif variable["name"] == "DIGITS_ADMIN_TOKEN":
            options += ["--env", f"DIGITS_ADMIN_TOKEN={TOKEN}"]
        elif variable["name"] == "DIGITS_DATABASE_URL":  # host networking: the test's PostgreSQL is local
            options += ["--env", f"DIGITS_DATABASE_URL={database_url}"]
    # Host networking here: the pod's port 8000 becomes a free one.
    return [*options, "--env", f"PORT={port}"]


@dataclass(frozen=True)
class Pod:
    id: str
    url: str
    spec: dict[str, Any]


def start(docker: str, image: str, deployment: dict[str, Any], scratch: Path, database_url: str) -> Iterator[Pod]:
    port = free_port()
    options = run_options(deployment, port, scratch, database_url)
    container_id = test_image._check(test_image._run(docker, "run", "--detach", *options, image), "docker run")
    spec = container(deployment)
    startup = spec["startupProbe"]
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + budget
        while True:
            try:
                if httpx.get(url + startup["httpGet"]["path"], timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            state = test_image._run(docker, "inspect", "-f", "{{.State.Running}}", container_id).stdout.strip()
            if state != "true":
                logs = test_image._run(docker, "logs", container_id).stderr[-4000:]
                pytest.fail(f"the container exited under the pod's settings:\n{logs}")
            if time.monotonic() > deadline:
                pytest.fail(f"not up within the startup probe's {budget}s")
            time.sleep(0.5)
        yield Pod(container_id, url, spec)
    finally:
        test_image._run(docker, "rm", "--force", container_id)


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with postgres_url() as url:
        yield url


@pytest.fixture(scope="module")
def server_pod(docker: str, image: str, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pod]:
    yield from start(docker, image, server(), tmp_path_factory.mktemp("server-pod"), database_url)


@pytest.fixture(scope="module")
def trainer_pod(docker: str, image: str, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pod]:
    yield from start(docker, image, trainer(), tmp_path_factory.mktemp("trainer-pod"), database_url)


def logs(docker: str, pod: Pod) -> str:
    result = test_image._run(docker, "logs", pod.id)
    return result.stdout + result.stderr


def assert_probes_pass(pod: Pod) -> None:
    for probe in ("readinessProbe", "livenessProbe"):
        response = httpx.get(pod.url + pod.spec[probe]["httpGet"]["path"], timeout=10)
        assert response.status_code == 200, f"{probe}: {response.status_code} {response.text}"


def assert_nothing_failed_to_write(docker: str, pod: Pod) -> None:
    text = logs(docker, pod)
    assert "Read-only file system" not in text
    assert "Matplotlib created a temporary cache directory" not in text  # MPLCONFIGDIR is not writable


def test_a_serving_pod_starts_passes_its_probes_and_predicts(
    docker: str, server_pod: Pod, mnist_test: MnistSplit
) -> None:
    assert_probes_pass(server_pod)
    sample = mnist_test.head(3)
    for pixels, label in zip(sample.images, sample.labels, strict=True):
        files = {"file": ("digit.png", png_bytes(pixels), "image/png")}
        response = httpx.post(f"{server_pod.url}/predict", files=files, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["digit"] == int(label)
    assert_nothing_failed_to_write(docker, server_pod)


def test_the_trainer_pod_trains_and_the_serving_pod_serves_the_new_model(
    docker: str, trainer_pod: Pod, server_pod: Pod
) -> None:
    assert_probes_pass(trainer_pod)
    # Forced past the quality gate: a 2,000-image mlp is below the committed cnn.
    request = {"arch": "mlp", "epochs": 1, "train_limit": 2000, "activate": True, "force_activate": True}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    started = httpx.post(f"{trainer_pod.url}/train", json=request, headers=headers, timeout=30)
    assert started.status_code == 202, started.text
    job_url = f"{trainer_pod.url}/train/{started.json()['id']}"
    deadline = time.monotonic() + 240
    job = started.json()
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(1)
        job = httpx.get(job_url, timeout=10).json()
    assert job["status"] == "succeeded", job
    plot = httpx.get(f"{job_url}/plot.png", timeout=30)
    assert plot.status_code == 200
    assert plot.content.startswith(b"\x89PNG")
    ready = httpx.get(f"{trainer_pod.url}/ready", timeout=10).json()
    assert ready["model"] == job["model_id"]
    assert_nothing_failed_to_write(docker, trainer_pod)
    # The serving pod shares nothing with the trainer but the database.
    assert httpx.get(f"{server_pod.url}/train/{job['id']}", timeout=10).json()["status"] == "succeeded"
    deadline = time.monotonic() + 10
    while httpx.get(f"{server_pod.url}/ready", timeout=10).json()["model"] != job["model_id"]:
        assert time.monotonic() < deadline, "the serving pod did not follow the activation"
        time.sleep(0.2)
