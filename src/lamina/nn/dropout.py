"""DSSTNE's dropout (``NNLayer::CalculateDropout``, spec section 2.2), active in training mode only.

One uniform ``r`` per unit per minibatch, drawn from torch's global generator:

* non-(S)ELU layers: ``x = target if r < p else scale * x`` with ``target = 0.5`` for Sigmoid layers
  (kept units not rescaled, ``scale = 1``) and ``target = 0``, ``scale = 1/(1-p)`` otherwise;
* ELU/SELU layers ("alpha dropout"): ``lam = SELULambda`` for SELU else 1, ``alpha' = -lam *
  ELUAlpha``, ``q = 1 - p``, ``a = 1/sqrt(q + alpha'^2 p q)``, ``b = -a p alpha'``; ``x = a alpha' +
  b if r < p else a x + b``.

Gradients are autograd's of this forward. DSSTNE's hand-written backprop differs (it does not
re-apply the mask: dropped Sigmoid units still pass ``a(1-a)`` of the stored 0.5, dropped Tanh units
pass their derivative), so training with dropout is close to, not bit-equal with, DSSTNE.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lamina.config.enums import Activation

__all__ = ["DsstneDropout"]


class DsstneDropout(nn.Module):
    """Dropout with DSSTNE's per-activation targets and scales.

    Args:
        p: drop probability, ``0 <= p < 1``.
        activation: the layer's activation (decides target/scale or alpha dropout).
        elu_alpha: the layer's ``ELUAlpha``.
        selu_lambda: the layer's ``SELULambda``.
    """

    def __init__(
        self, p: float, *, activation: Activation, elu_alpha: float = 1.0, selu_lambda: float = 1.0
    ) -> None:
        super().__init__()
        self.p = float(p)
        self.alpha_dropout = activation in (Activation.ELU, Activation.SELU)
        lam = selu_lambda if activation == Activation.SELU else 1.0
        alpha = -lam * elu_alpha
        q = 1.0 - self.p
        self.a = 1.0 / math.sqrt(q + alpha * alpha * self.p * q)
        self.b = -self.a * self.p * alpha
        self.dropped_alpha = self.a * alpha + self.b
        self.target = 0.5 if activation == Activation.SIGMOID else 0.0
        self.scale = 1.0 / q if self.target == 0.0 else 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *S) -> (B, *S); the identity in eval mode or when ``p == 0``."""
        if not self.training or self.p == 0.0:
            return x
        drop = torch.rand_like(x) < self.p
        if self.alpha_dropout:
            return torch.where(drop, torch.full_like(x, self.dropped_alpha), self.a * x + self.b)
        return torch.where(drop, torch.full_like(x, self.target), self.scale * x)

    def extra_repr(self) -> str:
        kind = "alpha" if self.alpha_dropout else f"target={self.target}, scale={self.scale:.4g}"
        return f"p={self.p}, {kind}"
