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
from tests.conftest import DATA_DIR, MLP_MODEL, SERVED_MODEL, png_bytes
from training.mnist import MnistSplit

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
# One tag per checkout: several checkouts may share one engine.
IMAGE = "digit-service:test-" + hashlib.sha256(str(REPO).encode()).hexdigest()[:8]
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
    # The Dockerfile needs no BuildKit: whatever builder the client picks (the classic one here) builds it.
    return subprocess.run([cli, *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False)


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
    """An image holding the local torch wheel under /wheels/, for `--build-arg WHEELS`; None to use PyTorch's index."""
    wheel_dir = Path(os.environ.get("DIGITS_TORCH_WHEELS", "/opt/wheels"))
    wheels = sorted(wheel_dir.glob("torch-*+cpu-cp311-*.whl"))
    if not wheels:
        return None
    wheel = wheels[-1]
    tag = "digits-torch-wheels-dir:" + hashlib.sha256(f"{wheel.name}:{wheel.stat().st_size}".encode()).hexdigest()[:12]
    # Built once and kept, so that later runs do not send the 190 MB wheel to the engine again.
    if _run(docker, "image", "inspect", tag).returncode != 0:
        with tempfile.TemporaryDirectory() as context:
            try:
                os.link(wheel, Path(context) / wheel.name)
            except OSError:
                shutil.copy(wheel, context)
            result = _run(
                docker, "build", "-t", tag, "-f-", context, stdin=f"FROM scratch\nCOPY {wheel.name} /wheels/\n"
            )
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
    # The image serves models/compact.safetensors by default; until it is committed, serve the MLP.
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


def _train_small_job(url: str, token: str) -> str:
    job = {"arch": "mlp", "epochs": 1, "learning_rate": 1e-3, "train_limit": 1000, "activate": False}
    response = httpx.post(f"{url}/train", json=job, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 202, response.text
    job_id = str(response.json()["id"])
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/train/{job_id}", timeout=10).json()["status"]
        if status in ("succeeded", "failed", "cancelled"):
            assert status == "succeeded", httpx.get(f"{url}/train/{job_id}", timeout=10).text
            return job_id
        time.sleep(1)
    pytest.fail(f"job {job_id} did not finish within 180 s")


def test_a_root_owned_bind_mount_keeps_jobs_and_the_live_model_across_a_restart(
    docker: str, image: str, tmp_path: Path
) -> None:
    """The README's run command with a host directory on the state path, as root made it (mode 0755)."""
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    assert state.stat().st_uid == os.getuid()  # root here and in CI: the case that used to fail
    port = free_port()
    run = _run(
        docker,
        *("run", "--detach", "--network", "host", "--env", f"PORT={port}"),
        *("--volume", f"{state}:{SOURCE_DIR}/state"),
        *("--volume", f"{DATA_DIR}:/data/mnist:ro", "--env", "DIGITS_DATA_DIR=/data/mnist"),
        image,
    )
    container_id = _check(run, "docker run with a bind-mounted state directory")
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(docker, container_id, url)
        # The README's way to the generated token; the same file is on the host side of the mount.
        token = _check(_run(docker, "exec", container_id, "cat", f"{SOURCE_DIR}/state/admin-token"), "reading token")
        assert token == (state / "admin-token").read_text().strip()
        job_id = _train_small_job(url, token)
        trained = httpx.get(f"{url}/train/{job_id}", timeout=10).json()["model_id"]
        assert trained is not None
        # Serve the trained model through the registry, as a user rolling forward would.
        activate = httpx.post(
            f"{url}/models/{trained}/activate", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        assert activate.status_code == 200, activate.text
        assert httpx.get(f"{url}/model", timeout=10).json()["id"] == trained
        _check(_run(docker, "restart", "--time", "20", container_id, timeout=90), "docker restart")
        _wait_until_up(docker, container_id, url)
        job = httpx.get(f"{url}/train/{job_id}", timeout=10).json()
        assert job["status"] == "succeeded"
        assert len(job["history"]) == 1
        assert job["model_id"] == trained
        # The restart serves what was last activated, with the same token as before.
        assert httpx.get(f"{url}/model", timeout=10).json()["id"] == trained
        assert (state / "admin-token").read_text().strip() == token
        assert (state / "jobs.sqlite3").is_file()
        files = {"file": ("seven.png", (REPO / "scripts" / "samples" / "digit-7.png").read_bytes(), "image/png")}
        assert httpx.post(f"{url}/predict", files=files, timeout=30).json()["digit"] == 7
    finally:
        logs = _run(docker, "logs", container_id)
        log.info("container log:\n%s", (logs.stdout + logs.stderr)[-3000:])
        _run(docker, "rm", "--force", container_id)


def test_the_admin_token_from_a_mounted_secret_file(docker: str, image: str, tmp_path: Path) -> None:
    secret = tmp_path / "digits-token"
    secret.write_text("token-from-a-secret-file\n")
    secret.chmod(0o444)  # as Docker and Kubernetes mount secrets: readable, not writable
    port = free_port()
    run = _run(
        docker,
        *("run", "--detach", "--network", "host", "--env", f"PORT={port}"),
        *("--volume", f"{secret}:/run/secrets/digits-token:ro"),
        *("--env", "DIGITS_ADMIN_TOKEN_FILE=/run/secrets/digits-token"),
        image,
    )
    container_id = _check(run, "docker run with DIGITS_ADMIN_TOKEN_FILE")
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(docker, container_id, url)
        wrong = httpx.post(f"{url}/train", json={"epochs": 0}, headers={"Authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == 401
        right_token = {"Authorization": "Bearer token-from-a-secret-file"}
        # A valid token reaches validation: 422 for epochs=0, so no job is started.
        assert httpx.post(f"{url}/train", json={"epochs": 0}, headers=right_token, timeout=10).status_code == 422
    finally:
        _run(docker, "rm", "--force", container_id)


def test_with_user_an_unwritable_state_directory_is_named(docker: str, image: str, tmp_path: Path) -> None:
    """`--user` skips the ownership fix: a state directory that user cannot write stops it with a hint."""
    state = tmp_path / "state"
    state.mkdir(mode=0o755)  # root's
    run = _run(
        docker,
        "run",
        "--rm",
        "--network",
        "host",
        "--user",
        "4321:4321",
        "--volume",
        f"{state}:{SOURCE_DIR}/state",
        image,
    )
    assert run.returncode == 1
    assert f"{SOURCE_DIR}/state is not writable by uid 4321" in run.stderr
    assert "chown 4321" in run.stderr
