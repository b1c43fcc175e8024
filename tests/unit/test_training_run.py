from __future__ import annotations

import json
import logging
import math
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from tests.conftest import DATA_DIR, MODELS_DIR
from training.artifacts import load_artifact
from training.cli import main
from training.config import TrainConfig
from training.history import EpochMetrics
from training.loop import Distillation, Tensors, fit, split_train_val, training_loss
from training.mnist import MnistSplit, load_split


@pytest.fixture(scope="module")
def train_split() -> MnistSplit:
    return load_split(DATA_DIR, "train")


def test_cli_smoke_run_writes_artifact_with_one_epoch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "smoke.safetensors"
    caplog.set_level(logging.INFO, logger="training")
    code = main(
        [
            "--arch",
            "mlp",
            "--epochs",
            "1",
            "--train-limit",
            "2000",
            "--batch-size",
            "50",
            "--data-dir",
            str(DATA_DIR),
            "--out",
            str(out),
            "--lr",
            "1e-3",
        ]
    )
    assert code == 0
    metadata = json.loads(out.with_suffix(".json").read_text())
    (record,) = metadata["history"]
    assert set(record) == {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"}
    assert record["epoch"] == 1
    assert 0 < record["train_accuracy"] <= 1
    assert 0 < record["val_accuracy"] <= 1
    assert record["train_loss"] > 0
    assert record["seconds"] > 0
    assert metadata["data"]["train_size"] == 2000
    assert metadata["data"]["val_size"] == 5000
    assert metadata["preprocessing"] == {"size": 28, "mean": 0.5, "std": 0.5}
    assert metadata["hyperparameters"]["learning_rate"] == 1e-3
    assert metadata["data"]["train_fingerprint"].startswith("sha256:")
    assert 0.5 < metadata["test"]["accuracy"] <= 1  # 40 steps: far above chance (0.1)
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any("epoch 1/1" in message for message in caplog.messages)
    assert load_artifact(out).id == metadata["id"]
    caplog.clear()
    assert main(["evaluate", str(out), "--data-dir", str(DATA_DIR)]) == 0
    assert any(f"test_accuracy={metadata['test']['accuracy']:.4f}" in m for m in caplog.messages)


def test_cli_reports_bad_data_dir_as_one_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert main(["--epochs", "1", "--data-dir", str(tmp_path), "--out", str(tmp_path / "x.safetensors")]) == 2
    assert any("train-images-idx3-ubyte" in m and "not found" in m for m in caplog.messages)
    assert not (tmp_path / "x.safetensors").exists()


def test_fit_is_seeded_and_calls_back_every_epoch(train_split: MnistSplit) -> None:
    test = load_split(DATA_DIR, "test").head(500)
    config = TrainConfig.for_arch("mlp", epochs=2, train_limit=300, learning_rate=1e-3, val_size=500, threads=1)
    seen: list[EpochMetrics] = []
    first = fit(config, train_split, test, on_epoch_end=seen.append)
    second = fit(config, train_split, test)
    assert [m.epoch for m in seen] == [1, 2]
    assert seen == first.history
    assert [m.train_loss for m in first.history] == [m.train_loss for m in second.history]
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[name])


def test_validation_is_held_out_from_training(train_split: MnistSplit) -> None:
    fit_part, val_part = split_train_val(train_split, TrainConfig(val_size=5000))
    assert val_part is not None
    assert len(fit_part) == 55000
    assert len(val_part) == 5000
    assert (val_part.images == train_split.images[55000:]).all()
    on_test, none = split_train_val(train_split, TrainConfig(validate_on_test=True, train_limit=10))
    assert none is None
    assert len(on_test) == 10


def test_augment_keeps_shape_and_background(train_split: MnistSplit) -> None:
    from training.augment import augment_batch
    from training.loop import Tensors

    batch = Tensors.from_split(train_split.head(64)).inputs
    out = augment_batch(batch, torch.Generator().manual_seed(0))
    assert out.shape == batch.shape
    assert not torch.equal(out, batch)
    assert float(out[:, :, 0, 0].mean()) == pytest.approx(-1.0, abs=1e-5)  # corners stay background


def test_cli_default_output_never_touches_committed_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--epochs", "1", "--train-limit", "100", "--data-dir", str(DATA_DIR)]) == 0
    (written,) = (tmp_path / "runs").glob("mlp-*.safetensors")
    assert load_artifact(written).metadata["data"]["train_size"] == 100
    assert not (tmp_path / "models").exists()


def test_training_on_served_frames_learns_the_not_a_digit_class(tmp_path: Path) -> None:
    """--rendered / --nondigits: framed renderings of training digits and generated non-digits join
    the training data, the artifact gets the eleventh class, and the bank is cached for the next run."""
    from training.run import run_training

    config = TrainConfig.for_arch(
        "mlp", epochs=1, train_limit=500, learning_rate=1e-3, rendered=40, nondigits=24, threads=1
    )
    cache = tmp_path / "cache"
    metadata = run_training(config, DATA_DIR, tmp_path / "m.safetensors", cache_dir=cache)
    assert metadata["classes"][-1] == "not a digit"
    assert metadata["architecture"]["kwargs"]["classes"] == 11
    assert metadata["data"]["rendered"] == 40
    assert metadata["data"]["nondigits"] == 24
    assert metadata["calibration"]["reject_threshold"] >= 0
    assert metadata["calibration"]["energy_threshold"] is None
    loaded = load_artifact(tmp_path / "m.safetensors")
    assert loaded.rejects
    [bank] = list(cache.glob("*.npz"))
    cached_at = bank.stat().st_mtime_ns
    run_training(config, DATA_DIR, tmp_path / "again.safetensors", cache_dir=cache)
    assert [p.stat().st_mtime_ns for p in cache.glob("*.npz")] == [cached_at]  # read back, not rebuilt


def test_distillation_loss_is_cross_entropy_where_the_teacher_has_no_answer() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0] + [0.0] * 8, [0.1] * 11])
    labels = torch.tensor([0, 10])
    distillation = Distillation(weight=0.7, temperature=3.0)
    unknown = torch.full((2, 10), math.nan)
    plain = F.cross_entropy(logits, labels)
    assert torch.allclose(training_loss(logits, labels, None, distillation), plain)
    assert torch.allclose(training_loss(logits, labels, unknown, distillation), plain)
    assert torch.allclose(training_loss(logits, labels, unknown, None), plain)


def test_distillation_loss_blends_in_the_tempered_divergence_from_the_teacher() -> None:
    torch.manual_seed(0)
    student, teacher = torch.randn(4, 11), torch.randn(4, 10)
    labels = torch.tensor([1, 2, 3, 4])
    soft = teacher.clone()
    soft[3] = math.nan  # a rendered or non-digit row: labels only
    weight, temperature = 0.25, 2.0
    hard = F.cross_entropy(student, labels, reduction="none")
    divergence = (
        F.kl_div(
            F.log_softmax(student[:, :10] / temperature, dim=1),
            F.softmax(teacher / temperature, dim=1),
            reduction="none",
        ).sum(dim=1)
        * temperature**2
    )
    expected = torch.cat([(1 - weight) * hard[:3] + weight * divergence[:3], hard[3:]]).mean()
    got = training_loss(student, labels, soft, Distillation(weight, temperature))
    assert torch.allclose(got, expected)
    # A student that already answers as the teacher on the digits owes it nothing.
    agreeing = torch.cat([teacher, torch.zeros(4, 1)], dim=1)
    own = training_loss(agreeing, labels, teacher, Distillation(1.0, temperature))
    assert float(own) == pytest.approx(0.0, abs=1e-5)


def test_joined_tensors_mark_rows_without_a_teacher_answer() -> None:
    mnist = Tensors(torch.zeros(2, 1, 28, 28), torch.tensor([3, 5]), torch.ones(2, 10))
    extra = Tensors(torch.zeros(3, 1, 28, 28), torch.tensor([10, 1, 2]))
    joined = mnist + extra
    assert joined.soft is not None
    assert joined.soft.shape == (5, 10)
    assert torch.equal(joined.soft[:2], torch.ones(2, 10))
    assert bool(torch.isnan(joined.soft[2:]).all())
    assert (extra + extra).soft is None


def test_distilled_run_records_its_teacher(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "student.safetensors"
    args = ["--arch", "mlp", "--epochs", "1", "--train-limit", "1000", "--lr", "1e-3", "--data-dir", str(DATA_DIR)]
    teacher = str(MODELS_DIR / "mlp.safetensors")
    assert main([*args, "--teacher", teacher, "--distill-weight", "0.8", "--out", str(out)]) == 0
    metadata = json.loads(out.with_suffix(".json").read_text())
    teacher_metadata = json.loads((MODELS_DIR / "mlp.json").read_text())
    assert metadata["data"]["teacher"] == {
        "id": teacher_metadata["id"],
        "test_accuracy": teacher_metadata["test"]["accuracy"],
    }
    assert metadata["hyperparameters"]["teacher"] == teacher
    assert metadata["hyperparameters"]["distill_weight"] == 0.8
    assert metadata["test"]["accuracy"] > 0.5
    # Runs without a teacher keep their metadata as before.
    assert "teacher" not in TrainConfig.for_arch("mlp").hyperparameters()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--distill-weight", "1.5"], "distillation weight"),
        (["--distill-temperature", "0"], "distillation weight"),
    ],
)
def test_bad_distillation_settings_are_one_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, flags: list[str], message: str
) -> None:
    out = tmp_path / "student.safetensors"
    teacher = str(MODELS_DIR / "mlp.safetensors")
    args = ["--arch", "mlp", "--epochs", "1", "--train-limit", "100", "--data-dir", str(DATA_DIR), "--out", str(out)]
    assert main([*args, "--teacher", teacher, *flags]) == 2
    assert any(message in m for m in caplog.messages)
    assert not out.exists()


def test_a_teacher_reading_its_input_differently_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for suffix in (".safetensors", ".json"):
        shutil.copy(MODELS_DIR / f"mlp{suffix}", tmp_path / f"teacher{suffix}")
    sidecar = tmp_path / "teacher.json"
    metadata = json.loads(sidecar.read_text())
    metadata["preprocessing"] = {"size": 28, "mean": 0.1307, "std": 0.3081}
    sidecar.write_text(json.dumps(metadata))
    out = tmp_path / "student.safetensors"
    args = ["--arch", "mlp", "--epochs", "1", "--train-limit", "100", "--data-dir", str(DATA_DIR), "--out", str(out)]
    assert main([*args, "--teacher", str(tmp_path / "teacher.safetensors")]) == 2
    assert any("normalises its input differently" in m for m in caplog.messages)
    assert not out.exists()


def test_ema_serves_the_moving_average_of_the_weights(train_split: MnistSplit) -> None:
    test = load_split(DATA_DIR, "test").head(200)
    config = TrainConfig.for_arch("mlp", epochs=1, train_limit=300, learning_rate=1e-3, val_size=500, threads=1)
    last = fit(config, train_split, test).model.state_dict()
    # Averaging leaves the training itself alone: a decay near 0 keeps just the last step's weights.
    nearly_last = fit(replace(config, ema=1e-9), train_split, test).model.state_dict()
    averaged = fit(replace(config, ema=0.9), train_split, test)
    assert set(averaged.model.state_dict()) == set(last)
    for name, tensor in last.items():
        assert torch.allclose(nearly_last[name], tensor, atol=1e-6)
    assert any(not torch.allclose(averaged.model.state_dict()[n], t) for n, t in last.items())
    assert replace(config, ema=0.9).hyperparameters()["ema"] == 0.9
    assert "ema" not in config.hyperparameters()


@pytest.mark.parametrize("decay", [0.0, 1.0, 1.5])
def test_ema_decay_outside_zero_to_one_is_refused(decay: float) -> None:
    with pytest.raises(ValueError, match="ema must be between 0 and 1"):
        TrainConfig.for_arch("mlp", epochs=1, train_limit=100, val_size=500, threads=1, ema=decay)


def test_init_starts_from_an_artifacts_weights(tmp_path: Path) -> None:
    out = tmp_path / "again.safetensors"
    start = MODELS_DIR / "mlp.safetensors"
    args = ["--arch", "mlp", "--epochs", "1", "--train-limit", "200", "--lr", "1e-12", "--data-dir", str(DATA_DIR)]
    assert main([*args, "--init", str(start), "--out", str(out)]) == 0
    metadata = json.loads(out.with_suffix(".json").read_text())
    committed = json.loads((MODELS_DIR / "mlp.json").read_text())
    assert metadata["data"]["init"] == {"id": committed["id"], "test_accuracy": committed["test"]["accuracy"]}
    assert metadata["hyperparameters"]["init"] == str(start)
    # A step this small leaves the weights where they started: the committed model's accuracy.
    assert metadata["test"]["accuracy"] == pytest.approx(committed["test"]["accuracy"], abs=2e-4)
    again, original = load_artifact(out).model.state_dict(), load_artifact(start).model.state_dict()
    assert all(torch.allclose(again[name], tensor, atol=1e-6) for name, tensor in original.items())
    assert "init" not in TrainConfig.for_arch("mlp").hyperparameters()


def test_init_from_another_architecture_is_one_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "x.safetensors"
    args = ["--arch", "cnn", "--epochs", "1", "--train-limit", "100", "--data-dir", str(DATA_DIR), "--out", str(out)]
    assert main([*args, "--init", str(MODELS_DIR / "mlp.safetensors")]) == 2
    assert any("is not a cnn with the settings this run trains" in m for m in caplog.messages)
    assert not out.exists()
