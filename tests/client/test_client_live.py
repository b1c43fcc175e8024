"""The Python client and the `digits` command against a real `python -m app` server."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digit_service import AsyncClient, Client, DigitServiceError, Epoch, JobState, Progress
from digit_service.cli import main
from tests.conftest import DATA_DIR
from tests.live import LiveServer, live_server
from training.evalset import split_pool
from training.evalset.numbers import generate_numbers

SAMPLES = Path(__file__).resolve().parents[2] / "scripts" / "samples"
TOKEN = "client-test-token"
SEVEN = SAMPLES / "digit-7.png"
SMALL_JOB = {"arch": "mlp", "epochs": 2, "learning_rate": 1e-3, "train_limit": 1000, "activate": False}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("client"), {"DIGITS_ADMIN_TOKEN": TOKEN}) as running:
        yield running


@pytest.fixture
def client(server: LiveServer) -> Iterator[Client]:
    with Client(server.url, token=TOKEN) as client:
        yield client


def test_predict_takes_a_path_bytes_a_pil_image_and_an_array(client: Client) -> None:
    image = Image.open(SEVEN)
    for given in (SEVEN, str(SEVEN), SEVEN.read_bytes(), image, np.asarray(image), np.asarray(image) / 255.0):
        prediction = client.predict(given)
        assert prediction.digit == 7, type(given)
        assert prediction.confidence is not None
        assert prediction.confidence > 0.9
        assert prediction.probabilities is not None
        assert len(prediction.probabilities) == 10
    assert client.predict(SEVEN, preprocess="raw").framed is False
    framed = client.predict(SEVEN, preprocess="mnist", return_frame=True)
    assert framed.framed is True
    assert framed.frame is not None
    assert Image.open(io.BytesIO(framed.frame)).size == (28, 28)


def test_predict_many_frame_and_model(client: Client) -> None:
    predictions = client.predict_many(SAMPLES / f"digit-{digit}.png" for digit in (1, 2, 3))
    assert [p.digit for p in predictions] == [1, 2, 3]
    blank = client.predict(np.zeros((64, 64), np.uint8) + 255)
    assert blank.digit is None
    assert blank.reason
    frame = Image.open(io.BytesIO(client.frame(SEVEN, scale=4)))
    assert frame.size == (112, 112)
    model = client.model()
    assert model.id == predictions[0].model
    assert model.test_accuracy is not None
    assert model.architecture["name"] in ("compact", "cnn", "mlp")


def test_a_number_warns_and_segment_reads_each_digit(client: Client) -> None:
    [sample] = generate_numbers(1, 3, split_pool(10000, "dev"), DATA_DIR)
    whole = client.predict(sample.data)
    assert whole.warning is not None
    assert whole.digits is None
    segmented = client.predict(sample.data, segment=True)
    assert segmented.digits is not None
    assert [d.box[0] for d in segmented.digits] == sorted(d.box[0] for d in segmented.digits)
    assert segmented.number == sample.number
    assert client.predict(SEVEN).warning is None


def test_errors_are_one_type_with_the_status_and_the_servers_detail(server: LiveServer) -> None:
    with Client(server.url) as anonymous:
        with pytest.raises(DigitServiceError) as not_image:
            anonymous.predict(b"this is not an image")
        assert not_image.value.status == 415
        assert "not a readable image" in not_image.value.detail
        with pytest.raises(DigitServiceError) as no_token:
            anonymous.train(arch="mlp", epochs=1)
        assert no_token.value.status == 401
        assert no_token.value.detail == "missing bearer token: send Authorization: Bearer <token>"
        with pytest.raises(DigitServiceError) as missing:
            anonymous.job("0" * 32)
        assert missing.value.status == 404
    with Client(server.url, token=TOKEN) as admin, pytest.raises(DigitServiceError) as invalid:
        admin.train(arch="mlp", epochs=1000)
    assert invalid.value.status == 422
    assert invalid.value.detail[0]["loc"] == ["body", "epochs"]
    with Client("http://127.0.0.1:9", timeout=2) as nowhere, pytest.raises(DigitServiceError) as unreachable:
        nowhere.model()
    assert unreachable.value.status == 0
    with Client(server.url) as anonymous, pytest.raises(TypeError):
        anonymous.predict(12345)


def test_train_iterate_epochs_wait_and_cancel(client: Client) -> None:
    job = client.train(**SMALL_JOB)  # type: ignore[arg-type]
    assert job.last.status in ("queued", "running")
    epochs = list(job)
    assert [epoch.epoch for epoch in epochs] == [1, 2]
    assert all(isinstance(epoch, Epoch) for epoch in epochs)
    final = job.wait(timeout=120)
    assert final.status == "succeeded"
    assert final.history == epochs
    assert final.model_id is not None

    assert final.activation_note == "not activated: the request set activate=false"

    long = client.train(arch="mlp", epochs=100, learning_rate=1e-3, activate=False, force_activate=True)
    assert long.last.request["force_activate"] is True
    cancelled = long.cancel()
    assert cancelled.status in ("cancelled", "running")  # 202 while it stops
    assert long.wait(timeout=60).status == "cancelled"


def test_progress_within_an_epoch_reaches_the_event_stream(client: Client) -> None:
    # 4,000 images in batches of 8: 500 batches, a second or more per epoch on a busy machine.
    job = client.train(arch="mlp", epochs=1, learning_rate=1e-3, batch_size=8, train_limit=4000, activate=False)
    updates = list(job.updates())
    progress = [update for update in updates if isinstance(update, Progress)]
    assert progress, updates
    assert all(p.epoch == 1 and p.batches == 500 and 1 <= p.batch <= 500 and p.total_epochs == 1 for p in progress)
    assert [p.batch for p in progress] == sorted(p.batch for p in progress)
    assert isinstance(updates[-2], Epoch)
    assert isinstance(updates[-1], JobState)
    assert updates[-1].status == "succeeded"


def test_async_client(server: LiveServer) -> None:
    async def use() -> tuple[int | None, list[int | None], str, list[int]]:
        async with AsyncClient(server.url, token=TOKEN) as client:
            one = await client.predict(SEVEN)
            many = await client.predict_many([SAMPLES / "digit-4.png", SAMPLES / "digit-5.png"])
            model = await client.model()
            job = await client.train(**SMALL_JOB)  # type: ignore[arg-type]
            epochs = [epoch.epoch async for epoch in job]
            assert (await job.wait(timeout=120)).status == "succeeded"
            return one.digit, [p.digit for p in many], model.id, epochs

    # A thread of its own: Playwright's sync API (browser tests in the same session) keeps an event
    # loop running in the main thread, where asyncio.run() refuses to start another.
    with ThreadPoolExecutor(1) as pool:
        digit, digits, model_id, epochs = pool.submit(lambda: asyncio.run(use())).result()
    assert (digit, digits, epochs) == (7, [4, 5], [1, 2])
    assert model_id


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_predict_one_and_several(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run_cli("--url", server.url, "predict", str(SEVEN))
    assert code == 0
    assert out.startswith(f"{SEVEN}: 7 (confidence ")
    monkeypatch.setenv("DIGITS_URL", server.url)  # no --url: the environment names the server
    code, out, _ = run_cli("predict", *(str(SAMPLES / f"digit-{d}.png") for d in (0, 8, 9)))
    assert code == 0
    assert [line.split(": ")[1].split(" ")[0] for line in out.splitlines()] == ["0", "8", "9"]
    code, _, err = run_cli("predict", "no-such-file.png")
    assert code == 1
    assert "no such file: no-such-file.png" in err


def test_cli_model_and_errors(server: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, out, _ = run_cli("--url", server.url, "model")
    assert code == 0
    with Client(server.url) as client:
        assert client.model().id in out
    monkeypatch.delenv("DIGITS_ADMIN_TOKEN", raising=False)
    monkeypatch.setenv("DIGITS_STATE_DIR", str(tmp_path))  # no token file there
    code, _, err = run_cli("--url", server.url, "train", "--epochs", "1")
    assert code == 1
    assert "401 missing bearer token" in err
    code, _, err = run_cli("--url", "http://127.0.0.1:9", "model")
    assert code == 1
    assert "cannot reach http://127.0.0.1:9" in err


def test_cli_train_watch(server: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    monkeypatch.delenv("DIGITS_ADMIN_TOKEN", raising=False)
    monkeypatch.setenv("DIGITS_ADMIN_TOKEN_FILE", str(token_file))
    argv = ["--url", server.url, "train", "--arch", "mlp", "--epochs", "2", "--lr", "0.001"]
    code, out, _ = run_cli(*argv, "--train-limit", "1000", "--no-activate", "--watch")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("started job ")
    assert lines[1].startswith("epoch 1/2 train_loss=")
    assert lines[2].startswith("epoch 2/2 train_loss=")
    assert " succeeded: model mlp-" in lines[3]
    assert lines[3].endswith("(not activated)")
    assert lines[4] == "  not activated: the request set activate=false"


def test_python_dash_m_runs_the_command(server: LiveServer) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "digit_service", "--url", server.url, "predict", str(SEVEN)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{SEVEN}: 7 ")
