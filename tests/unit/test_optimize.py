"""The folded form of a model (BatchNorm folded, what DIGITS_INT8 and evaluation with --int8 start
from) answers as the trained one, and leaves it untouched. The ONNX Runtime form that serves is
checked in test_runtime."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.typing import NDArray
from torch import nn

from tests.conftest import CNN_LARGE_MODEL, MLP_MODEL, SERVED_MODEL
from training.artifacts import LoadedModel, load_artifact
from training.mnist import MnistSplit
from training.optimize import float_network, fold_batchnorm, for_serving
from training.preprocessing import normalize

COMPARED_IMAGES = 1000


def logits(model: nn.Module, inputs: torch.Tensor | NDArray[np.float32]) -> torch.Tensor:
    with torch.inference_mode():
        return model(torch.as_tensor(inputs))  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", [SERVED_MODEL, CNN_LARGE_MODEL, MLP_MODEL], ids=["compact", "cnn-large", "mlp"])
def test_folded_model_answers_as_the_trained_one(path: Path, mnist_test: MnistSplit) -> None:
    loaded = load_artifact(path)
    inputs = normalize(mnist_test.images[:COMPARED_IMAGES], loaded.normalization)
    trained, folded = logits(loaded.model, inputs), logits(fold_batchnorm(loaded.model), inputs)
    agreement = float((trained.argmax(1) == folded.argmax(1)).float().mean())
    assert agreement >= 0.999
    # Folding only reorders float arithmetic: differences at rounding level, logits being O(10).
    assert float((trained - folded).abs().max()) < 1e-3


@pytest.mark.parametrize("path", [SERVED_MODEL, CNN_LARGE_MODEL, MLP_MODEL], ids=["compact", "cnn-large", "mlp"])
def test_the_served_float_network_answers_as_the_trained_one(path: Path, mnist_test: MnistSplit) -> None:
    loaded = load_artifact(path)
    inputs = normalize(mnist_test.images[:COMPARED_IMAGES], loaded.normalization)
    trained, served = logits(loaded.model, inputs), logits(for_serving(loaded).model, inputs)
    assert float((trained.argmax(1) == served.argmax(1)).float().mean()) >= 0.999
    assert float((trained - served).abs().max()) < 1e-3


def test_convolutions_are_served_channels_last() -> None:
    # cnn-large: its 3x3 convolutions over several channels have weights whose two layouts differ.
    cnn = float_network(load_artifact(CNN_LARGE_MODEL).model)
    convs = [m for m in cnn.modules() if isinstance(m, nn.Conv2d)]
    assert convs
    assert all(conv.weight.is_contiguous(memory_format=torch.channels_last) for conv in convs)
    assert not all(conv.weight.is_contiguous() for conv in convs)  # really NHWC, not both at once
    mlp = load_artifact(MLP_MODEL).model
    served_mlp = float_network(mlp)
    assert all(p.is_contiguous() for p in served_mlp.parameters())  # no convolutions: layout left alone


@pytest.mark.parametrize(("path", "count"), [(CNN_LARGE_MODEL, 4), (SERVED_MODEL, 9)], ids=["cnn-large", "compact"])
def test_every_batchnorm_is_folded(path: Path, count: int) -> None:
    loaded = load_artifact(path)
    folded = fold_batchnorm(loaded.model)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in loaded.model.modules()) == count
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    convs = [m for m in folded.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == count
    assert all(conv.bias is not None for conv in convs)  # BatchNorm's shift became the conv's bias


def test_the_original_is_left_untouched() -> None:
    loaded = load_artifact(SERVED_MODEL)
    loaded.model.train()  # folding must not depend on, nor change, the original's mode
    before = copy.deepcopy(loaded.model.state_dict())
    structure = repr(loaded.model)
    folded = fold_batchnorm(loaded.model)
    assert loaded.model.training
    assert not folded.training
    assert repr(loaded.model) == structure
    after = loaded.model.state_dict()
    assert set(after) == set(before)
    for name, tensor in before.items():
        assert torch.equal(after[name], tensor), name
    # No storage shared either: a later change to the folded copy cannot reach the trained model.
    originals = {p.data_ptr() for p in loaded.model.parameters()}
    assert not originals & {p.data_ptr() for p in folded.parameters()}


def test_a_model_without_batchnorm_is_returned_equivalent(mnist_test: MnistSplit) -> None:
    loaded = load_artifact(MLP_MODEL)
    folded = fold_batchnorm(loaded.model)
    assert folded is not loaded.model
    assert repr(folded) == repr(loaded.model)
    inputs = normalize(mnist_test.images[:100], loaded.normalization)
    assert torch.equal(logits(folded, inputs), logits(loaded.model, inputs))


def toy(norm: nn.Module) -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), norm, nn.ReLU(), nn.Flatten(), nn.Linear(4 * 28 * 28, 3))
    model.train()
    with torch.no_grad():  # statistics far from the defaults, so that a wrong fold shows
        model(torch.randn(16, 1, 28, 28) * 3 + 1)
    return model.eval()


def fold_sequential(model: nn.Sequential) -> nn.Sequential:
    folded = fold_batchnorm(model)
    assert isinstance(folded, nn.Sequential)
    return folded


def test_batchnorm_using_batch_statistics_is_not_folded() -> None:
    # Without running statistics BatchNorm normalises by each batch's own: not a fixed map to fold.
    model = toy(nn.BatchNorm2d(4, track_running_stats=False))
    assert isinstance(fold_sequential(model)[1], nn.BatchNorm2d)


def test_only_adjacent_conv_batchnorm_pairs_fold() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.BatchNorm2d(4), nn.Linear(2, 2), nn.BatchNorm2d(4))
    folded = fold_sequential(model)
    assert [type(m) for m in folded] == [type(m) for m in model]


def test_a_toy_fold_is_exact_up_to_rounding() -> None:
    model = toy(nn.BatchNorm2d(4))
    inputs = torch.randn(8, 1, 28, 28)
    folded = fold_sequential(model)
    assert isinstance(folded[1], nn.Identity)
    assert torch.allclose(logits(folded, inputs), logits(model, inputs), atol=1e-4)


def test_serving_form_keeps_metadata_and_calibration() -> None:
    loaded = load_artifact(SERVED_MODEL)
    served = for_serving(loaded)
    assert isinstance(served, LoadedModel)
    assert served.model is not loaded.model
    assert (served.metadata, served.normalization, served.calibration) == (
        loaded.metadata,
        loaded.normalization,
        loaded.calibration,
    )
