"""DSSTNE's regularizers: the KL sparseness penalty on sparse hidden layers (spec 2.5 step 2) and
the reported L2/L1 weight-decay error (spec 2.3; the decay itself is applied inside the
optimizers).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from lamina.config.enums import LayerKind
from lamina.config.model import NetworkConfig

__all__ = ["RHO_MAX", "RHO_MIN", "penalized_layers", "regularization_error", "sparseness_penalty"]

RHO_MIN, RHO_MAX = 1e-6, 0.999999  # DSSTNE's clamp of the mean activation (kDelta.cu)


def sparseness_penalty(a: torch.Tensor, *, p: float, beta: float) -> torch.Tensor:
    """``beta * sum_j KL(p || rho_j)``, rho_j = mean over the batch of unit j's activation.

    Add it to the objective ``loss_sum / B``: its gradient
    ``beta * (-p/rho_j + (1-p)/(1-rho_j)) / B`` w.r.t. ``a[b, j]`` is exactly DSSTNE's penalty,
    which DSSTNE adds to every example's delta before ``f'`` and then divides (with the weight
    gradient) by B. rho is clamped to [1e-6, 0.999999] as DSSTNE does, with the gradient passed
    straight through the clamp (DSSTNE applies the penalty at the clamped rho, not zero). DSSTNE
    never reports this term in its error figures.

    Args:
        a: (B, N) (or (B, ...)) activations of one hidden layer.
        p: target mean activation, in [0, 1].
        beta: penalty weight.

    Returns:
        0-d tensor of ``a``'s dtype.
    """
    rho = a.reshape(a.shape[0], -1).mean(dim=0)  # (N,)
    rho = rho + (rho.clamp(RHO_MIN, RHO_MAX) - rho).detach()  # straight-through clamp
    p_t = torch.tensor(p, dtype=a.dtype, device=a.device)
    kl = (
        torch.xlogy(p_t, p_t)
        - p * torch.log(rho)
        + torch.xlogy(1.0 - p_t, 1.0 - p_t)
        - (1.0 - p) * torch.log1p(-rho)
    )
    return beta * kl.sum()


def penalized_layers(config: NetworkConfig) -> dict[str, tuple[float, float]]:
    """Which layers get the sparseness penalty, with their ``(p, beta)``.

    DSSTNE's rule (``NNLayer::BackPropagate*``): Hidden layers with ``"Sparse": true``, only when
    the network-level beta > 0; a layer's own ``SparsenessPenalty`` p or beta replaces the
    network's when it is > 0.

    Returns:
        layer name -> (p, beta), in layer order; empty when the network's beta is 0.
    """
    net = config.sparseness_penalty
    if net.beta <= 0:
        return {}
    out: dict[str, tuple[float, float]] = {}
    for layer in config.layers:
        if layer.kind != LayerKind.HIDDEN or not layer.sparse:
            continue
        own = layer.sparseness_penalty
        p = own.p if own is not None and own.p > 0 else net.p
        beta = own.beta if own is not None and own.beta > 0 else net.beta
        out[layer.name] = (p, beta)
    return out


def regularization_error(
    params: Iterable[torch.Tensor], lambda_l2: float, lambda_l1: float = 0.0
) -> float:
    """DSSTNE's reported regularization error ``sum(0.5 * lambda * w^2 + lambda1 * |w|)``.

    Args:
        params: the weight matrices to count: non-shared ones only, biases excluded (DSSTNE's
            ``kCalculateRegularizationError`` runs once per owned weight matrix).
        lambda_l2: L2 coefficient (the optimizers apply ``lambda * w``, the gradient of this term).
        lambda_l1: L1 coefficient.

    Returns:
        The error as a Python float (per matrix a float32 cascade sum, ~1e-7 relative; the
        matrices and terms added in float64). It is only reported, never differentiated: a
        float64 norm cost ~15 ms per minibatch on a 6.8 M-weight network, this ~9 ms.
    """
    if not lambda_l2 and not lambda_l1:
        return 0.0
    total = 0.0
    with torch.no_grad():
        for w in params:
            if lambda_l2:
                w32 = w.detach()
                total += 0.5 * lambda_l2 * float((w32 * w32).sum())
            if lambda_l1:
                l1 = float(torch.linalg.vector_norm(w.detach(), ord=1, dtype=torch.float64))
                total += lambda_l1 * l1
    return total
