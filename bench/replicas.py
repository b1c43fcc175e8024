"""Replicas over PostgreSQL: activation propagation, /predict throughput against the embedded backend, and
the start-up of a replica that fetches its live model from the database. All in one run.

Creates a scratch database on the PostgreSQL server (DIGITS_BENCH_POSTGRES, default the machine's
postgresql://postgres@127.0.0.1:5432/test), starts `python -m app` processes with separate state
directories, and drops the database afterwards. Needs wrk for the throughput part (apt-get install wrk).

    python -m bench.replicas [--activations 20] [--seconds 10] [--rounds 3] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from bench.local import free_port
from bench.throughput import load

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("DIGITS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
TOKEN = "bench-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MODEL = ROOT / "models" / "mlp.safetensors"
OTHER = ROOT / "models" / "cnn-large.safetensors"
PNG = ROOT / "scripts" / "samples" / "digit-7.png"
log = logging.getLogger("bench.replicas")


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    url: str
    started_in: float  # seconds from spawn until /ready answered and /model served the live model


@contextmanager
def scratch_database() -> Iterator[str]:
    name = f"digits_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield f"{ADMIN_URL.rpartition('/')[0]}/{name}"
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def replica(state: Path, database_url: str | None, expect_model: str | None = None) -> Iterator[Replica]:
    port = free_port()
    env = {
        **os.environ,
        "DIGITS_HOST": "127.0.0.1",
        "DIGITS_PORT": str(port),
        "DIGITS_STATE_DIR": str(state),
        "DIGITS_MODEL": str(MODEL),
        "DIGITS_ADMIN_TOKEN": TOKEN,
        "DIGITS_INFERENCE_WORKERS": "1",
    }
    if database_url:
        env["DIGITS_DATABASE_URL"] = database_url
    url = f"http://127.0.0.1:{port}"
    output = (state.parent / f"{state.name}.log").open("wb")
    began = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "app"], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
    )
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"replica exited with {process.returncode}; see {output.name}")
            try:
                ready = httpx.get(f"{url}/ready", timeout=1)
                if ready.status_code == 200 and (expect_model is None or ready.json()["model"] == expect_model):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
        yield Replica(process, url, time.monotonic() - began)
    finally:
        process.terminate()
        process.wait(timeout=20)
        output.close()


def served(url: str, http: httpx.Client) -> str:
    model_id: str = http.get(f"{url}/model").json()["id"]
    return model_id


def propagation(first: Replica, second: Replica, model_ids: list[str], count: int) -> list[float]:
    """Seconds from sending POST /models/{id}/activate to the first replica until the second serves it."""
    samples: list[float] = []
    with httpx.Client(timeout=30) as http, httpx.Client(timeout=30) as watcher:
        for index in range(count):
            target = model_ids[index % 2]
            seen = threading.Event()
            when: list[float] = []

            def watch(target: str = target, seen: threading.Event = seen, when: list[float] = when) -> None:
                while served(second.url, watcher) != target:
                    pass
                when.append(time.monotonic())
                seen.set()

            thread = threading.Thread(target=watch)
            sent = time.monotonic()
            thread.start()
            response = http.post(f"{first.url}/models/{target}/activate", headers=AUTH)
            response.raise_for_status()
            if not seen.wait(10):
                raise RuntimeError(f"the second replica did not follow activation {index}")
            thread.join()
            samples.append(when[0] - sent)
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def throughput(url: str, args: argparse.Namespace, label: str) -> float:
    fields = load(f"{url}/predict", PNG, args.concurrency, args.seconds, 2, label, raw=False)
    return float(fields["rps"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--activations", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    ids = [str(json.loads(path.with_suffix(".json").read_text())["id"]) for path in (MODEL, OTHER)]

    with tempfile.TemporaryDirectory() as tmp, scratch_database() as database_url, ExitStack() as stack:
        root = Path(tmp)
        first = stack.enter_context(replica(root / "a", database_url))
        second = stack.enter_context(replica(root / "b", database_url))
        samples = propagation(first, second, ids, args.activations)
        log.info(
            f"activation propagation over {len(samples)} activations (POST on one replica -> the other serves it):"
        )
        log.info(
            f"  p50 {percentile(samples, 0.5) * 1000:.1f} ms   p99 {percentile(samples, 0.99) * 1000:.1f} ms   "
            f"max {max(samples) * 1000:.1f} ms"
        )

        # The other model is live now (an even count ends on the first id; make it the database one).
        with httpx.Client(timeout=30) as http:
            http.post(f"{first.url}/models/{ids[1]}/activate", headers=AUTH).raise_for_status()
        with replica(root / "c", database_url, expect_model=ids[1]) as late:
            fetched = late.started_in
        with replica(root / "d", None) as embedded_start:
            embedded = embedded_start.started_in
        log.info("start-up to ready (seconds):")
        log.info(f"  replica fetching its live model ({ids[1]}) from PostgreSQL: {fetched:.2f}")
        log.info(f"  embedded server serving DIGITS_MODEL from a file:          {embedded:.2f}")

        embedded_server = stack.enter_context(replica(root / "e", None))
        with httpx.Client(timeout=30) as http:  # the same model on both sides
            http.post(f"{embedded_server.url}/models/{ids[1]}/activate", headers=AUTH).raise_for_status()
        pg, local = [], []
        for index in range(args.rounds):  # interleaved, so machine noise hits both alike
            pg.append(throughput(first.url, args, f"postgres-{index}"))
            local.append(throughput(embedded_server.url, args, f"embedded-{index}"))
        pg_rps, local_rps = statistics.median(pg), statistics.median(local)
        log.info(
            f"/predict throughput, c={args.concurrency}, median of {args.rounds} interleaved {args.seconds}s runs:"
        )
        log.info(
            f"  postgres replica {pg_rps:.0f} req/s   embedded {local_rps:.0f} req/s   ratio {pg_rps / local_rps:.3f}"
        )
        log.info(f"  (runs: postgres {[round(r) for r in pg]}, embedded {[round(r) for r in local]})")


if __name__ == "__main__":
    main()
