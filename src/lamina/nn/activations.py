"""DSSTNE's activations (spec section 1.4): one registry from :class:`Activation` to a factory.

Each factory takes the layer's config (for ``Slope``, ``ELUAlpha``, ``SELULambda``) and returns an
elementwise module, except SoftMax, which normalises over all units of an example. Activations
DSSTNE accepts but never defined (``RELUMax``, ``LinearMax``: no kernel in ``kActivation.cu``, no
formula in its docs; the engine silently computes the identity) raise :class:`NotSupportedError` at
build time rather than guessing. SoftPlus and SoftSign compute their real formulas (DSSTNE:
identity, a bug).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lamina.config.enums import Activation, label
from lamina.config.model import LayerConfig
from lamina.errors import NotSupportedError

__all__ = ["ACTIVATIONS", "SELU", "LeakyReLU", "UnitSoftmax", "make_activation"]

ActivationFactory = Callable[[LayerConfig], nn.Module]
ACTIVATIONS: dict[Activation, ActivationFactory] = {}


def _register(member: Activation) -> Callable[[ActivationFactory], ActivationFactory]:
    def wrap(factory: ActivationFactory) -> ActivationFactory:
        ACTIVATIONS[member] = factory
        return factory

    return wrap


class UnitSoftmax(nn.Module):
    """Softmax over all units of each example: (B, *S) -> (B, *S), each example sums to 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x.flatten(1), dim=1).view_as(x)


class LeakyReLU(nn.Module):
    """``x if x > 0 else slope * x``: DSSTNE's ``max(x, slope * x)`` for ``0 <= slope <= 1``, and
    the
    function whose derivative DSSTNE's backprop uses for any slope."""

    def __init__(self, slope: float) -> None:
        super().__init__()
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, x, self.slope * x)

    def extra_repr(self) -> str:
        return f"slope={self.slope}"


class SELU(nn.Module):
    """``lambda * (x if x > 0 else alpha * (exp(x) - 1))``: DSSTNE's SELULambda and ELUAlpha."""

    def __init__(self, alpha: float, lam: float) -> None:
        super().__init__()
        self.alpha, self.lam = alpha, lam

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lam * F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, lambda={self.lam}"


_register(Activation.SIGMOID)(lambda _: nn.Sigmoid())
_register(Activation.TANH)(lambda _: nn.Tanh())
_register(Activation.RELU)(lambda _: nn.ReLU())
_register(Activation.LINEAR)(lambda _: nn.Identity())
_register(Activation.SOFTPLUS)(lambda _: nn.Softplus())
_register(Activation.SOFTSIGN)(lambda _: nn.Softsign())
_register(Activation.SOFTMAX)(lambda _: UnitSoftmax())
_register(Activation.ELU)(lambda layer: nn.ELU(alpha=layer.elu_alpha))
_register(Activation.LRELU)(lambda layer: LeakyReLU(layer.relu_slope))
_register(Activation.SELU)(lambda layer: SELU(layer.elu_alpha, layer.selu_lambda))


def make_activation(layer: LayerConfig) -> nn.Module:
    """Build the activation module of ``layer``.

    Raises:
        NotSupportedError: the activation has no definition in DSSTNE (RELUMax, LinearMax, PRELU).
    """
    factory = ACTIVATIONS.get(layer.activation)
    if factory is None:
        raise NotSupportedError(
            f"layer {layer.name!r}: Activation {label_or_name(layer.activation)!r} is not "
            "supported: "
            "DSSTNE accepts the name but never defined it (its engine silently computes the "
            "identity)",
            hint="use 'Linear' for the identity, or one of "
            + ", ".join(label(a) for a in ACTIVATIONS),
        )
    return factory(layer)


def label_or_name(member: Activation) -> str:
    """DSSTNE's spelling of ``member``, or its enum name when it has none (PRELU)."""
    try:
        return label(member)
    except KeyError:
        return member.name
