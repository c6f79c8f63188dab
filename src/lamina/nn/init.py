"""Weight initialisation (``NNWeight::Randomize``), with DSSTNE's bugs fixed on purpose.

With ``S = WeightInit.Scale``, ``n_in``/``n_out`` the fan-in/fan-out of the connection (the layer
strides
for FullyConnected weights; ``C * prod(kernel)`` for convolutions):

=============  =========================================  =========================================
Scheme         Lamina                                      DSSTNE as coded
=============  =========================================  =========================================
Xavier         U(-s, s), s = S*sqrt(6/(n_in+n_out))        U(-s/2, s/2) (half the width)
CaffeXavier    U(-S*sqrt(3/n_out), +S*sqrt(3/n_out))       same
Uniform        U(-S, S)                                    same
Gaussian       N(0, std=S)                                 same
UnitBall       U(0, S)                                     same
SELU           N(0, std=S*sqrt(1/n_in)) (LeCun normal)     N(0, std=1/n_in), Scale ignored
Constant       w = +S                                      w = -S (sign bug)
=============  =========================================  =========================================

Biases are set to ``WeightInit.Bias`` for every scheme. All draws come from one ``torch.Generator``.
"""

from __future__ import annotations

import math

import torch

from lamina.config.enums import WeightInitScheme
from lamina.config.model import WeightInit

__all__ = ["init_bias", "init_weight"]


@torch.no_grad()
def init_weight(
    weight: torch.Tensor,
    init: WeightInit,
    *,
    fan_in: int,
    fan_out: int,
    generator: torch.Generator,
) -> None:
    """Fill ``weight`` in place according to ``init``.

    Args:
        weight: the weight tensor, any shape (float32 or float64).
        init: scheme and scale of the layer that owns the weight.
        fan_in: number of inputs feeding each output unit.
        fan_out: number of outputs each input feeds.
        generator: the random source (seeded by ``build_network``).
    """
    s, scheme = init.scale, init.scheme
    if scheme == WeightInitScheme.XAVIER:
        bound = s * math.sqrt(6.0 / (fan_in + fan_out))
        weight.uniform_(-bound, bound, generator=generator)
    elif scheme == WeightInitScheme.CAFFE_XAVIER:
        bound = s * math.sqrt(3.0 / fan_out)
        weight.uniform_(-bound, bound, generator=generator)
    elif scheme == WeightInitScheme.UNIFORM:
        weight.uniform_(-s, s, generator=generator)
    elif scheme == WeightInitScheme.GAUSSIAN:
        weight.normal_(0.0, s, generator=generator)
    elif scheme == WeightInitScheme.UNIT_BALL:
        weight.uniform_(0.0, s, generator=generator)
    elif scheme == WeightInitScheme.SELU:
        weight.normal_(0.0, s * math.sqrt(1.0 / fan_in), generator=generator)
    elif scheme == WeightInitScheme.CONSTANT:
        weight.fill_(s)
    else:  # pragma: no cover - the enum is closed
        raise ValueError(f"unknown weight init scheme {scheme!r}")


@torch.no_grad()
def init_bias(bias: torch.Tensor, init: WeightInit) -> None:
    """Set every entry of ``bias`` to ``init.bias``."""
    bias.fill_(init.bias)
