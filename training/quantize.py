"""int8 inference with PyTorch's own eager-mode post-training quantization (torch.ao, x86 engine).

Static quantization needs the range of each layer's activations, measured on real images. Serving
has no training data, so the ranges are measured once, offline (`python -m training.quantize`), and
recorded in the artifact's JSON sidecar as one (scale, zero point) per quantized activation; the
weights file is not touched (its checksum still holds) and the int8 network is rebuilt from the
float weights at load time. Weights are quantized per output channel from the weights themselves.

The last Linear layer (the logits) stays in float: the calibrated temperature and refusal thresholds
are read off logits, and 8 bits over their whole range (steps of ~0.3) would move them; it costs
little, being the network's smallest layer.

torch.ao.quantization is deprecated upstream in favour of torchao, whose CPU path for convolutions
goes through torch.compile (seconds of cold start and a C++ compiler at run time); its eager API still
works in torch 2.13 (the image) and 2.14 (development), which the tests check. Its deprecation
warnings are silenced here, where it is used on purpose.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

ENGINE = "x86"


def engine_available() -> bool:
    """Whether this torch build and CPU have the x86 quantized kernels (not on ARM, for one)."""
    return ENGINE in torch.backends.quantized.supported_engines


class QuantizationError(ValueError):
    """int8 metadata that does not fit the network (other layers, bad numbers) or a network it cannot handle."""


@contextmanager
def _quiet() -> Iterator[None]:
    # The deprecation notices of torch.ao.quantization and quantized tensors: known, see the module docstring.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*torch\.ao\.quantization is deprecated", category=DeprecationWarning
        )
        warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions", category=UserWarning)
        warnings.filterwarnings("ignore", message=r".*reduce_range will be deprecated", category=UserWarning)
        yield


def _fuse(model: nn.Module) -> None:
    """Fuse [Conv2d, BatchNorm2d, ReLU?] and [Conv2d | Linear, ReLU] runs of each nn.Sequential in place.

    fuse_modules folds the BatchNorm into the convolution (as training.optimize does for float) and
    lets the ReLU run inside the int8 kernel.
    """
    from torch.ao.quantization import fuse_modules

    for sequential in [module for module in model.modules() if isinstance(module, nn.Sequential)]:
        names = list(sequential._modules)
        kinds = [type(sequential._modules[name]) for name in names]
        index = 0
        while index < len(names):
            after = kinds[index + 1 : index + 3]
            if kinds[index] is nn.Conv2d and after[:1] == [nn.BatchNorm2d]:
                width = 3 if after[1:] == [nn.ReLU] else 2
            elif kinds[index] in (nn.Conv2d, nn.Linear) and after[:1] == [nn.ReLU]:
                width = 2
            else:
                width = 1
            if width > 1:
                fuse_modules(sequential, [names[index : index + width]], inplace=True)  # type: ignore[no-untyped-call]
            index += width


def _last_linear_in_float(model: nn.Module) -> None:
    """Run the network's last Linear in float: a DeQuantStub before it, and no qconfig of its own."""
    from torch.ao.quantization import DeQuantStub

    # named_modules is in definition order, which is the order these networks run their layers in.
    paths = [path for path, module in model.named_modules() if type(module) is nn.Linear]
    if not paths:
        raise QuantizationError("the network has no Linear layer to end on")
    parent_path, _, name = paths[-1].rpartition(".")
    parent = model.get_submodule(parent_path)
    linear = getattr(parent, name)
    linear.qconfig = None
    setattr(parent, name, nn.Sequential(DeQuantStub(), linear))


def _prepared(model: nn.Module, activations: dict[str, tuple[float, int]] | None) -> nn.Module:
    """A fused, observed copy of MODEL (in eval mode): histogram observers, or fixed ACTIVATIONS ranges."""
    from torch.ao import quantization as tq
    from torch.ao.quantization.observer import FixedQParamsObserver

    network = copy.deepcopy(model).eval()
    _fuse(network)
    _last_linear_in_float(network)
    # The network ends in float (the DeQuantStub above), so only its input needs a stub.
    wrapped = nn.Sequential(tq.QuantStub(), network).eval()
    wrapped.qconfig = tq.get_default_qconfig(ENGINE)  # type: ignore[no-untyped-call]
    tq.prepare(wrapped, inplace=True)  # type: ignore[no-untyped-call]
    if activations is not None:
        observed = _observers(wrapped)
        if set(observed) != set(activations):
            missing, extra = sorted(set(observed) - set(activations)), sorted(set(activations) - set(observed))
            raise QuantizationError(f"int8 ranges do not match the network (missing {missing}, unexpected {extra})")
        for path, (scale, zero_point) in activations.items():
            observer = observed[path]
            fixed = FixedQParamsObserver(  # type: ignore[no-untyped-call]
                scale, zero_point, dtype=observer.dtype, quant_min=observer.quant_min, quant_max=observer.quant_max
            )
            wrapped.get_submodule(path).activation_post_process = fixed
    return wrapped


def _observers(wrapped: nn.Module) -> dict[str, Any]:
    """Each module that quantizes its output, by path, with its activation observer."""
    return {
        path: module.activation_post_process
        for path, module in wrapped.named_modules()
        if hasattr(module, "activation_post_process")
    }


def calibrate(model: nn.Module, inputs: torch.Tensor, chunk: int = 250) -> dict[str, tuple[float, int]]:
    """The (scale, zero point) of each quantized activation, from MODEL's activations on INPUTS."""
    with _quiet():
        torch.backends.quantized.engine = ENGINE
        wrapped = _prepared(model, None)
        with torch.inference_mode():
            for start in range(0, len(inputs), chunk):
                wrapped(inputs[start : start + chunk])
        ranges = {}
        for path, observer in _observers(wrapped).items():
            scale, zero_point = observer.calculate_qparams()
            ranges[path] = (float(scale), int(zero_point))
    return ranges


def quantize(model: nn.Module, activations: dict[str, tuple[float, int]]) -> nn.Module:
    """The int8 form of MODEL with the activation ranges calibrate() measured; MODEL is left untouched."""
    for path, pair in activations.items():
        scale, zero_point = pair
        if not (isinstance(scale, float) and scale > 0 and torch.isfinite(torch.tensor(scale))):
            raise QuantizationError(f"int8 range of {path}: scale {scale!r} is not a positive number")
        if not (isinstance(zero_point, int) and 0 <= zero_point <= 255):
            raise QuantizationError(f"int8 range of {path}: zero point {zero_point!r} is not in 0..255")
    from torch.ao import quantization as tq

    with _quiet():
        torch.backends.quantized.engine = ENGINE
        wrapped = _prepared(model, activations)
        tq.convert(wrapped, inplace=True)  # type: ignore[no-untyped-call]
    return wrapped


def ranges_to_json(ranges: dict[str, tuple[float, int]]) -> dict[str, list[float | int]]:
    return {path: [scale, zero_point] for path, (scale, zero_point) in ranges.items()}


def ranges_from_json(data: Any) -> dict[str, tuple[float, int]]:
    """Parse the sidecar's int8 "activations" ({path: [scale, zero point]}), or raise QuantizationError."""
    if not isinstance(data, dict) or not data:
        raise QuantizationError("int8 activations must be a non-empty object of path: [scale, zero point]")
    ranges = {}
    for path, pair in data.items():
        if not (isinstance(pair, list) and len(pair) == 2):
            raise QuantizationError(f"int8 range of {path}: expected [scale, zero point], got {pair!r}")
        scale, zero_point = pair
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            raise QuantizationError(f"int8 range of {path}: scale {scale!r} is not a number")
        if isinstance(zero_point, bool) or not isinstance(zero_point, int):
            raise QuantizationError(f"int8 range of {path}: zero point {zero_point!r} is not an integer")
        ranges[str(path)] = (float(scale), zero_point)
    return ranges
