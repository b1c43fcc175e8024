"""/predict latency, idle vs while a training job runs, in one run against a real server.

Starts uvicorn on a free 127.0.0.1 port over a temporary state directory, sends N sequential single-image
predictions idle, starts a training job, waits until it is training, sends N more, then cancels the job and
stops the server. Prints p50/p99 for both and the ratio (target: p50 during training <= 3x idle).
Run: python -m bench.latency_during_training [--requests 300] [--model models/compact.safetensors]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from app.core.config import DEFAULT_MODEL, PROJECT_ROOT
from bench.local import free_port
from training.mnist import load_split

log = logging.getLogger("bench.latency_during_training")
DATA_DIR = PROJECT_ROOT.parent / "shared" / "data" / "mnist"
# Long enough to outlast the measurement; it is cancelled afterwards.
TRAINING_JOB: dict[str, Any] = {"arch": "cnn", "epochs": 1}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def measure(http: httpx.Client, image: bytes, count: int) -> list[float]:
    """Milliseconds per sequential single-image /predict; any non-200 aborts the benchmark."""
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        response = http.post("/predict", files={"file": ("digit.png", image, "image/png")})
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return latencies


def trainer_cpu_seconds(server_pid: int) -> float | None:
    """CPU time used so far by the server's training child (Linux /proc), to show it really was training."""
    try:
        children = [
            int(pid)
            for task in Path(f"/proc/{server_pid}/task").iterdir()
            for pid in (task / "children").read_text().split()
        ]
        fields = Path(f"/proc/{children[0]}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def wait_ready(http: httpx.Client, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited:\n{log_path.read_text()[-2000:]}")
        try:
            if http.get("/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("server not ready after 120 s")


def wait_training(http: httpx.Client, job_id: str, settle: float) -> None:
    """Until the job's process runs, then SETTLE more seconds for it to load data and start its epochs."""
    while (status := http.get(f"/train/{job_id}").json()["status"]) == "queued":
        time.sleep(0.1)
    if status != "running":
        raise SystemExit(f"training job ended before the measurement: {status}")
    time.sleep(settle)


def report(name: str, latencies: list[float]) -> float:
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    log.info(
        "%-16s n=%d  p50 %7.2f ms  p99 %7.2f ms  mean %7.2f ms",
        name,
        len(latencies),
        p50,
        p99,
        statistics.mean(latencies),
    )
    return p50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="predictions per phase")
    default_model = DEFAULT_MODEL if DEFAULT_MODEL.exists() else PROJECT_ROOT / "models" / "mlp.safetensors"
    parser.add_argument("--model", type=Path, default=default_model, help="artifact the server serves")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--training-threads", type=int, help="DIGITS_TRAINING_THREADS (default: the server's)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds between job start and measuring")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would bury the figures

    buffer = io.BytesIO()
    Image.fromarray(load_split(args.data_dir, "test").images[0]).save(buffer, format="PNG")
    image, token, port = buffer.getvalue(), secrets.token_urlsafe(24), free_port()
    with tempfile.TemporaryDirectory(prefix="latency-bench-") as tmp:
        env = {
            **os.environ,
            "DIGITS_MODEL": str(args.model.resolve()),
            "DIGITS_DATA_DIR": str(args.data_dir.resolve()),
            "DIGITS_STATE_DIR": tmp,
            "DIGITS_ADMIN_TOKEN": token,
        }
        if args.training_threads:
            env["DIGITS_TRAINING_THREADS"] = str(args.training_threads)
        log_path = Path(tmp) / "server.log"
        command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
        with log_path.open("wb") as server_log:
            server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                wait_ready(http, server, log_path)
                log.info(
                    "model %s, %d CPUs, load average %.2f",
                    http.get("/model").json()["id"],
                    os.cpu_count(),
                    os.getloadavg()[0],
                )
                measure(http, image, 30)  # warm-up: first-call allocations, connection
                idle = measure(http, image, args.requests)
                job = http.post("/train", json=TRAINING_JOB, headers={"Authorization": f"Bearer {token}"}).json()
                wait_training(http, job["id"], args.settle)
                cpu_before, started = trainer_cpu_seconds(server.pid), time.perf_counter()
                busy = measure(http, image, args.requests)
                cpu_after, busy_seconds = trainer_cpu_seconds(server.pid), time.perf_counter() - started
                still = http.get(f"/train/{job['id']}").json()
                http.delete(f"/train/{job['id']}", headers={"Authorization": f"Bearer {token}"})
        finally:
            server.terminate()
            server.wait(30)
    if still["status"] != "running":
        raise SystemExit(f"the job stopped during the measurement ({still['status']}); the figures are not valid")
    log.info("training job: %s", job["request"])
    if cpu_before is not None and cpu_after is not None:
        log.info("trainer used %.0f%% of a core while measured", 100 * (cpu_after - cpu_before) / busy_seconds)
    idle_p50, busy_p50 = report("idle", idle), report("during training", busy)
    ratio = busy_p50 / idle_p50
    log.info("p50 ratio during/idle: %.2fx (target <= 3x): %s", ratio, "met" if ratio <= 3 else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
