"""The served form of an artifact, without torch: its network as an ONNX Runtime session.

Serving needs the trained function only, not autograd or the training stack; importing torch costs
a serving process ~220 MiB and ~1 s of start-up, and torch's per-operator overhead dominates a
network this small (bench.inference_cost). So the server reads the safetensors weights with numpy,
folds each BatchNorm into the convolution before it, and builds the ONNX graph of the same network
here, in memory, from the architecture named in the metadata; no model file other than safetensors
+ JSON is ever read. training.models stays the definition the network is trained with: a test
checks, for every architecture, that these graphs expect exactly its tensors and compute its
outputs (within float rounding).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load as load_tensors

from training.artifact_format import (
    ArtifactError,
    TensorSpecs,
    build_described,
    check_tensors,
    check_weights,
    has_reject_class,
    input_and_calibration,
    read_artifact,
    read_tensors,
)
from training.calibration import Calibration
from training.preprocessing import Normalization
from training.scoring import Scores, score_outputs

# torch's BatchNorm2d default, which every architecture in training.models uses.
BATCHNORM_EPS = 1e-5
OPSET = 17
Forward = Callable[[NDArray[np.float32]], NDArray[np.float32]]


@dataclass(frozen=True)
class Conv:
    """A bias-free convolution followed by a BatchNorm2d (prefixes of their tensors), then ReLU."""

    conv: str
    norm: str
    fan_in: int
    fan_out: int
    kernel: int
    stride: int = 1
    groups: int = 1


@dataclass(frozen=True)
class Dense:
    """A Linear layer (prefix of its tensors), then ReLU unless it is the last layer."""

    prefix: str
    fan_in: int
    fan_out: int


@dataclass(frozen=True)
class MaxPool:
    pass


@dataclass(frozen=True)
class Flatten:
    """Global average pooling first when POOL (the compact architecture), then (N, C*H*W)."""

    pool: bool = False


Layer = Conv | Dense | MaxPool | Flatten


def _arguments(name: str, given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"invalid arguments for {name}: unexpected {', '.join(unknown)}")
    return {**defaults, **given}


def _mlp(kwargs: dict[str, Any]) -> list[Layer]:
    args = _arguments("mlp", kwargs, {"in_features": 784, "hidden": [125, 65], "classes": 10})
    sizes = [int(args["in_features"]), *(int(h) for h in args["hidden"]), int(args["classes"])]
    # nn.Sequential(Flatten, Linear, ReLU, ..., Linear): the k-th Linear is module 2k + 1.
    return [
        Flatten(),
        *(
            Dense(f"net.{2 * k + 1}", fan_in, fan_out)
            for k, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:], strict=False))
        ),
    ]


def _cnn(kwargs: dict[str, Any]) -> list[Layer]:
    args = _arguments("cnn", kwargs, {"channels": [32, 64], "hidden": 128, "dropout": 0.3, "classes": 10})
    c1, c2 = (int(c) for c in args["channels"])
    hidden, classes = int(args["hidden"]), int(args["classes"])
    return [
        Conv("features.0", "features.1", 1, c1, 3),
        Conv("features.3", "features.4", c1, c1, 3),
        MaxPool(),
        Conv("features.7", "features.8", c1, c2, 3),
        Conv("features.10", "features.11", c2, c2, 3),
        MaxPool(),
        Flatten(),
        Dense("classifier.2", c2 * 7 * 7, hidden),
        Dense("classifier.5", hidden, classes),
    ]


def _separable(first: int, fan_in: int, fan_out: int, stride: int) -> list[Layer]:
    return [
        Conv(f"features.{first}", f"features.{first + 1}", fan_in, fan_in, 3, stride, groups=fan_in),
        Conv(f"features.{first + 3}", f"features.{first + 4}", fan_in, fan_out, 1),
    ]


def _compact(kwargs: dict[str, Any]) -> list[Layer]:
    defaults = {"channels": [16, 32, 64, 128, 112], "dropout": 0.1, "classes": 10, "separable_down": True}
    args = _arguments("compact", kwargs, defaults)
    stem, down, mid, wide, last = (int(c) for c in args["channels"])
    layers: list[Layer] = [Conv("features.0", "features.1", 1, stem, 3)]
    if args["separable_down"]:
        layers += _separable(3, stem, down, 2)
        first = 9
    else:
        layers.append(Conv("features.3", "features.4", stem, down, 3, 2))
        first = 6
    layers += _separable(first, down, mid, 1)
    layers += _separable(first + 6, mid, wide, 2)
    layers += _separable(first + 12, wide, last, 1)
    return [*layers, Flatten(pool=True), Dense("classifier.3", last, int(args["classes"]))]


LAYERS: dict[str, Callable[[dict[str, Any]], list[Layer]]] = {"mlp": _mlp, "cnn": _cnn, "compact": _compact}


def layers_of(name: str, kwargs: dict[str, Any] | None) -> list[Layer]:
    """The layers of a named architecture, as training.models builds it; ValueError if unknown."""
    if name not in LAYERS:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(sorted(LAYERS))}")
    if not isinstance(kwargs, dict):
        raise ValueError(f"invalid arguments for {name}: {kwargs!r}")
    try:
        return LAYERS[name](kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid arguments for {name}: {exc}") from exc


def expected_tensors(layers: list[Layer]) -> TensorSpecs:
    """Every tensor the layers' state dict holds: name -> (shape, dtype)."""
    expected: TensorSpecs = {}
    for layer in layers:
        if isinstance(layer, Conv):
            shape = (layer.fan_out, layer.fan_in // layer.groups, layer.kernel, layer.kernel)
            expected[f"{layer.conv}.weight"] = (shape, "float32")
            for buffer in ("weight", "bias", "running_mean", "running_var"):
                expected[f"{layer.norm}.{buffer}"] = ((layer.fan_out,), "float32")
            expected[f"{layer.norm}.num_batches_tracked"] = ((), "int64")
        elif isinstance(layer, Dense):
            expected[f"{layer.prefix}.weight"] = ((layer.fan_out, layer.fan_in), "float32")
            expected[f"{layer.prefix}.bias"] = ((layer.fan_out,), "float32")
    return expected


def folded(tensors: dict[str, NDArray[Any]], layer: Conv) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The convolution's weight and bias with its BatchNorm (eval mode) multiplied in."""
    gamma, beta = tensors[f"{layer.norm}.weight"], tensors[f"{layer.norm}.bias"]
    mean, var = tensors[f"{layer.norm}.running_mean"], tensors[f"{layer.norm}.running_var"]
    scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + BATCHNORM_EPS)
    weight = tensors[f"{layer.conv}.weight"].astype(np.float64) * scale[:, None, None, None]
    bias = beta.astype(np.float64) - mean.astype(np.float64) * scale
    return weight.astype(np.float32), bias.astype(np.float32)


def onnx_graph(layers: list[Layer], tensors: dict[str, NDArray[Any]], outputs: int) -> bytes:
    """The serialized ONNX model of these layers with these (checked) tensors: input "x" (N, 1, 28, 28)."""
    nodes, initializers = [], []
    current = "x"
    last_dense = max(k for k, layer in enumerate(layers) if isinstance(layer, Dense))
    for k, layer in enumerate(layers):
        out = f"h{k}"
        if isinstance(layer, Conv):
            weight, bias = folded(tensors, layer)
            initializers += [numpy_helper.from_array(weight, f"w{k}"), numpy_helper.from_array(bias, f"b{k}")]
            pad = layer.kernel // 2
            nodes.append(
                helper.make_node(
                    "Conv",
                    [current, f"w{k}", f"b{k}"],
                    [f"{out}c"],
                    kernel_shape=[layer.kernel, layer.kernel],
                    strides=[layer.stride, layer.stride],
                    pads=[pad] * 4,
                    group=layer.groups,
                )
            )
            nodes.append(helper.make_node("Relu", [f"{out}c"], [out]))
        elif isinstance(layer, Dense):
            initializers += [
                numpy_helper.from_array(tensors[f"{layer.prefix}.weight"], f"w{k}"),
                numpy_helper.from_array(tensors[f"{layer.prefix}.bias"], f"b{k}"),
            ]
            final = k == last_dense
            nodes.append(helper.make_node("Gemm", [current, f"w{k}", f"b{k}"], ["y" if final else f"{out}d"], transB=1))
            if final:
                break
            nodes.append(helper.make_node("Relu", [f"{out}d"], [out]))
        elif isinstance(layer, MaxPool):
            nodes.append(helper.make_node("MaxPool", [current], [out], kernel_shape=[2, 2], strides=[2, 2]))
        else:
            if layer.pool:
                nodes.append(helper.make_node("GlobalAveragePool", [current], [f"{out}p"]))
                current = f"{out}p"
            nodes.append(helper.make_node("Flatten", [current], [out], axis=1))
        current = out
    graph = helper.make_graph(
        nodes,
        "digits",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", outputs])],
        initializers,
    )
    return bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)]).SerializeToString())


_threads = 1


def set_threads(threads: int) -> None:
    """Intra-op threads of the sessions built from now on in this process (as torch.set_num_threads).

    Parallelism comes from the server's processes and batcher threads; one thread per forward pass
    (the default) keeps it from competing with them.
    """
    global _threads
    _threads = max(1, threads)


def threads() -> int:
    return _threads


def session(graph: bytes) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = _threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class ServedModel:
    """An artifact as a serving process holds it: its checked metadata and weights, and a forward pass."""

    metadata: dict[str, Any]
    normalization: Normalization
    calibration: Calibration
    weights: bytes  # as checked against the metadata: explanations rebuild the torch network from them
    forward: Forward = field(repr=False)  # normalised (N, 1, 28, 28) float32 -> (N, 10 or 11) outputs
    form: str = "float"

    @property
    def id(self) -> str:
        return str(self.metadata["id"])

    @property
    def rejects(self) -> bool:
        return has_reject_class(self.metadata)

    def score(self, batch: NDArray[np.float32]) -> Scores:
        """Answers for a normalised (N, 1, 28, 28) batch (training.scoring)."""
        return score_outputs(self.forward(batch), self.calibration, self.rejects)


def load_served(weights_path: Path | str) -> ServedModel:
    """An artifact ready to answer requests, or ArtifactError (the torch loader's refusals)."""
    blob, metadata = read_artifact(weights_path)
    return load_served_bytes(blob, metadata, str(weights_path))


def load_served_bytes(blob: bytes, metadata: dict[str, Any], origin: str) -> ServedModel:
    """An artifact from weights held in memory and its validated metadata; ORIGIN names it in errors."""
    check_weights(blob, metadata, origin)
    layers = build_described(metadata, origin, layers_of)
    normalization, calibration = input_and_calibration(metadata, origin)
    tensors = read_tensors(blob, origin, load_tensors)
    found = {name: (tuple(t.shape), str(t.dtype)) for name, t in tensors.items()}
    check_tensors(found, expected_tensors(layers), origin)  # the torch loader's refusals
    try:
        network = session(onnx_graph(layers, tensors, len(metadata["classes"])))
    except Exception as exc:  # ONNX Runtime's own errors (Fail, InvalidGraph, ...) derive from Exception only
        raise ArtifactError(f"{origin}: ONNX Runtime cannot run this network ({exc})") from exc

    def forward(batch: NDArray[np.float32]) -> NDArray[np.float32]:
        outputs: NDArray[np.float32] = network.run(None, {"x": batch})[0]
        return outputs

    return ServedModel(metadata, normalization, calibration, blob, forward)
