"""The form of a trained model that serving runs: the same function, fewer operations per image.

The artifact on disk stays exactly as trained (safetensors + JSON, checked by training.artifacts);
what is derived here lives only in the serving process's memory.
"""

from __future__ import annotations

import copy
import dataclasses

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from training.artifacts import LoadedModel


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


def for_serving(loaded: LoadedModel) -> LoadedModel:
    """LOADED with its network in the form serving runs (BatchNorm folded); metadata and calibration kept."""
    return dataclasses.replace(loaded, model=fold_batchnorm(loaded.model))
