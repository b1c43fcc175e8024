"""Build the Docker image, run it, and predict real MNIST digits over HTTP (skipped without an engine).

Settings, from the environment: DOCKER (the client; default /usr/bin/docker, Debian's, which does
BuildKit, else `docker` on PATH), DOCKER_HOST (the engine), DIGITS_DOCKER_BASE (default
localbase:bookworm), DIGITS_TORCH_WHEELS (a directory holding a torch CPU cp311 wheel; default
/opt/wheels; without one the build asks PyTorch's index).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.local import free_port
from tests.availability import unavailable
from tests.conftest import MLP_MODEL, SERVED_MODEL, png_bytes
from training.mnist import MnistSplit

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
IMAGE = "digit-service:test"
SOURCE_DIR = "/srv/digits"  # WORKDIR in the Dockerfile
BUILD_TIMEOUT_S = 800
START_TIMEOUT_S = 90


def _docker_cli() -> str | None:
    explicit = os.environ.get("DOCKER")
    if explicit:
        return shutil.which(explicit)
    # Another client may come first on PATH and lack BuildKit (no buildx plugin).
    if Path("/usr/bin/docker").is_file():
        return "/usr/bin/docker"
    return shutil.which("docker")


def _run(cli: str, *args: str, timeout: float = 60, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}  # RUN --mount needs BuildKit; Docker 20.10 defaults to legacy
    return subprocess.run(
        [cli, *args], input=stdin, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def _check(result: subprocess.CompletedProcess[str], what: str) -> str:
    assert result.returncode == 0, f"{what} failed (exit {result.returncode}):\n{result.stderr[-4000:]}"
    return result.stdout.strip()


@pytest.fixture(scope="module")
def docker() -> str:
    cli = _docker_cli()
    if cli is None:
        unavailable("no docker client installed (or DOCKER names none)")
    try:
        version = _run(cli, "version", "--format", "{{.Server.Version}}", timeout=30)
    except subprocess.TimeoutExpired:
        unavailable("no Docker engine reachable: `docker version` timed out")
    if version.returncode != 0:
        reason = (version.stderr.strip().splitlines() or ["no output"])[-1]
        unavailable(f"no Docker engine reachable (start one with ../shared/docker/engine.sh start): {reason}")
    return cli


def _wheels_image(docker: str) -> str | None:
    """An image holding the local torch wheel, for `--build-arg WHEELS`; None to use PyTorch's index."""
    wheel_dir = Path(os.environ.get("DIGITS_TORCH_WHEELS", "/opt/wheels"))
    wheels = sorted(wheel_dir.glob("torch-*+cpu-cp311-*.whl"))
    if not wheels:
        return None
    wheel = wheels[-1]
    tag = "digits-torch-wheels:" + hashlib.sha256(f"{wheel.name}:{wheel.stat().st_size}".encode()).hexdigest()[:12]
    # Built once and kept, so that later runs do not send the 190 MB wheel to the engine again.
    if _run(docker, "image", "inspect", tag).returncode != 0:
        with tempfile.TemporaryDirectory() as context:
            try:
                os.link(wheel, Path(context) / wheel.name)
            except OSError:
                shutil.copy(wheel, context)
            result = _run(docker, "build", "-t", tag, "-f-", context, stdin=f"FROM scratch\nCOPY {wheel.name} /\n")
            _check(result, "building the wheels image")
    return tag


@pytest.fixture(scope="module")
def image(docker: str) -> str:
    base = os.environ.get("DIGITS_DOCKER_BASE", "localbase:bookworm")
    args = ["build", "--network", "host", "--progress", "plain", "--build-arg", f"BASE={base}", "-t", IMAGE]
    wheels = _wheels_image(docker)
    if wheels is not None:
        args += ["--build-arg", f"WHEELS={wheels}"]
    started = time.monotonic()
    _check(_run(docker, *args, str(REPO), timeout=BUILD_TIMEOUT_S), f"docker {' '.join(args)}")
    log.info("built %s in %.1fs", IMAGE, time.monotonic() - started)
    return IMAGE


@dataclass(frozen=True)
class Container:
    id: str
    url: str
    model_id: str


def _wait_until_up(docker: str, container: str, url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if _run(docker, "inspect", "-f", "{{.State.Running}}", container).stdout.strip() != "true":
            logs = _run(docker, "logs", container).stderr[-4000:]
            pytest.fail(f"the container exited before answering /health:\n{logs}")
        time.sleep(0.5)
    pytest.fail(f"no answer from {url}/health within {START_TIMEOUT_S}s")


@pytest.fixture(scope="module")
def container(docker: str, image: str) -> Iterator[Container]:
    # The image serves models/cnn.safetensors by default; until it is committed, serve the MLP.
    model = SERVED_MODEL if SERVED_MODEL.with_suffix(".json").is_file() else MLP_MODEL
    model_id = str(json.loads(model.with_suffix(".json").read_text())["id"])
    override = [] if model == SERVED_MODEL else ["--env", f"DIGITS_MODEL={SOURCE_DIR}/models/{model.name}"]
    port = free_port()
    run = _run(
        docker,
        "run",
        "--detach",
        "--network",
        "host",
        "--health-interval",
        "1s",
        "--env",
        f"PORT={port}",
        *override,
        image,
    )
    container_id = _check(run, "docker run")
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(docker, container_id, url)
        yield Container(container_id, url, model_id)
    finally:
        _run(docker, "rm", "--force", container_id)


def test_serves_the_committed_model_and_predicts_mnist_digits(container: Container, mnist_test: MnistSplit) -> None:
    ready = httpx.get(f"{container.url}/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["model"] == container.model_id
    sample = mnist_test.head(3)
    for pixels, label in zip(sample.images, sample.labels, strict=True):
        files = {"file": ("digit.png", png_bytes(pixels), "image/png")}
        response = httpx.post(f"{container.url}/predict", files=files, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["digit"] == int(label)


def test_runs_as_non_root(docker: str, container: Container) -> None:
    status = _check(_run(docker, "exec", container.id, "grep", "^Uid:", "/proc/1/status"), "reading PID 1's uids")
    uids = [int(uid) for uid in status.split()[1:]]
    assert uids, status
    assert 0 not in uids, f"the server runs with uid 0: {status}"


def test_healthcheck_reports_healthy_on_the_overridden_port(docker: str, container: Container) -> None:
    deadline = time.monotonic() + 30
    health = ""
    while time.monotonic() < deadline:
        health = _check(_run(docker, "inspect", "-f", "{{.State.Health.Status}}", container.id), "docker inspect")
        if health != "starting":
            break
        time.sleep(0.5)
    assert health == "healthy"
