"""torch forms of a trained model with fewer operations per image: BatchNorm folded, channels-last,
and the int8 network that DIGITS_INT8 serves and `realworld --int8` measures.

The float network a server answers with is built without torch (training.runtime); these forms are
for int8 serving and evaluation. The artifact on disk stays exactly as trained (safetensors + JSON,
checked by training.artifacts); what is derived here lives only in memory.
"""

from __future__ import annotations

import copy
import dataclasses
import logging

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from training import runtime
from training.artifacts import LoadedModel, load_artifact_bytes, numpy_forward
from training.runtime import ServedModel

log = logging.getLogger("training")


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of MODEL in eval mode with each BatchNorm2d folded into the Conv2d just before it.

    In eval mode a BatchNorm2d is a fixed per-channel affine map, so it can be multiplied into the
    preceding convolution's weights and bias (torch's own fuse_conv_bn_eval): one pass over the
    activations fewer, the same function up to float rounding. Only pairs that are adjacent in an
    nn.Sequential are folded, since only there is it certain the convolution's output feeds nothing
    else; the BatchNorm's place is taken by an nn.Identity (as torch.ao's fuse_modules does), so
    indices keep their meaning. MODEL itself is left untouched (weights and training mode).
    """
    folded = copy.deepcopy(model).eval()
    for sequential in [module for module in folded.modules() if isinstance(module, nn.Sequential)]:
        names = list(sequential._modules)
        for first, second in zip(names, names[1:], strict=False):
            conv, norm = sequential._modules[first], sequential._modules[second]
            # Exact types: a subclass may change forward() in ways the fold would not reproduce.
            if type(conv) is nn.Conv2d and type(norm) is nn.BatchNorm2d and norm.track_running_stats:
                sequential._modules[first] = fuse_conv_bn_eval(conv, norm)
                sequential._modules[second] = nn.Identity()
    return folded


def for_serving(loaded: LoadedModel, int8: bool = False) -> LoadedModel:
    """LOADED with BatchNorm folded and convolutions channels-last; with INT8, also its int8 network if
    it has one (what DIGITS_INT8 serves, training.optimize.int8_served).

    An artifact has an int8 form when `python -m training quantize` recorded its activation ranges
    (metadata "int8"), which it does only for a model whose int8 answers kept its test accuracy. If
    that record does not fit the network, or this CPU has no x86 quantized engine, the model is
    served in float and the reason logged: the float network is the one the artifact promises.
    Metadata and calibration are kept.
    """
    quantized = None
    record = loaded.metadata.get("int8")
    if int8 and record is not None:
        quantized = _int8_network(loaded, record)
    elif int8:
        log.info("model %s has no int8 ranges (python -m training quantize): serving it in float", loaded.id)
    return dataclasses.replace(loaded, model=float_network(loaded.model), quantized=quantized)


def int8_served(served: ServedModel) -> ServedModel:
    """SERVED answering with its int8 form (torch, DIGITS_INT8) if it has one, else as it was.

    The int8 network is derived from the same checked weights; the float ONNX Runtime session keeps
    serving when there is no int8 form (for_serving logs why).
    """
    loaded = for_serving(load_artifact_bytes(served.weights, served.metadata, served.id), int8=True)
    quantized = loaded.quantized
    if quantized is None:
        return served
    torch.set_num_threads(runtime.threads())  # as the ONNX Runtime sessions: one thread per forward pass
    return dataclasses.replace(served, forward=numpy_forward(quantized), form="int8")


def float_network(model: nn.Module) -> nn.Module:
    """A copy of MODEL with BatchNorm folded and, if it has convolutions, their weights channels-last.

    oneDNN runs these convolutions faster on NHWC (channels-last) weights: on the cnn and the compact
    architecture about 0.6-0.85x the time per image at batch 1 to 32 (bench.inference_cost); the
    1-channel input needs no conversion, being NCHW and NHWC at once. A model without convolutions
    gains nothing and is left in the default layout.
    """
    network = fold_batchnorm(model)
    if any(isinstance(module, nn.Conv2d) for module in network.modules()):
        network = network.to(memory_format=torch.channels_last)
    return network


def _int8_network(loaded: LoadedModel, record: object) -> nn.Module | None:
    # Imported on use: torch.ao.quantization is needed only with DIGITS_INT8.
    from training import quantize

    if not quantize.engine_available():
        log.warning("model %s: this CPU has no %s quantized engine; serving it in float", loaded.id, quantize.ENGINE)
        return None
    try:
        if not isinstance(record, dict) or record.get("engine") != quantize.ENGINE:
            raise quantize.QuantizationError(f"int8 record for another engine than {quantize.ENGINE}")
        return quantize.quantize(loaded.model, quantize.ranges_from_json(record.get("activations")))
    except quantize.QuantizationError as exc:
        log.error("model %s: int8 form unusable (%s); serving it in float", loaded.id, exc)
        return None
