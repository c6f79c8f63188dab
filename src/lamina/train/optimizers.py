"""DSSTNE's seven update rules (spec 2.6, ``kernels.cu``) as ``torch.optim.Optimizer`` subclasses.

All consume ordinary positive gradients, ``p.grad = d(loss_sum / B) / dp`` (DSSTNE's weight
"gradient" G is the negative of this). Each parameter group carries ``lr`` (alpha),
``lambda_l2``, ``lambda_l1``, ``mu`` and ``mu1``; ``make_optimizer`` puts weight matrices in a
group with the decay and biases in one without, because DSSTNE never decays biases. With
``g = grad + lambda*w + lambda1*sgn(w)``:

    SGD       w -= lr*g
    Momentum  v = mu*v - lr*g;  w += v
    Nesterov  v' = mu*v - lr*g;  w += v' + mu*(v' - v)
    AdaGrad   s += g^2;  w -= lr*g / sqrt(max(1e-9, s))
    RMSProp   s = mu*s + (1-mu)*g^2;  w -= lr*g / sqrt(max(1e-9, s))
    AdaDelta  s_g = mu*s_g + (1-mu)*g^2;  d = sqrt(max(1e-9, s_d) / max(1e-9, s_g))*g;
              s_d = mu*s_d + (1-mu)*d^2;  w -= d                      (no learning rate)
    Adam      m = mu*m + (1-mu)*g;  s = mu1*s + (1-mu1)*g^2;  t = step + t_offset;
              w -= lr * (m / (1-mu^t)) / (sqrt(s / (1-mu1^t)) + 1e-8)

Adam's first step uses t = 1 (Kingma & Ba). DSSTNE passes ``t = _batches + 1`` so its first step
uses t = 2; ``t_offset=1`` reproduces that.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import torch

from lamina.config.enums import OPTIMIZERS, Optimizer

__all__ = [
    "OPTIMIZER_CLASSES",
    "SGD",
    "AdaDelta",
    "AdaGrad",
    "Adam",
    "DsstneOptimizer",
    "Momentum",
    "Nesterov",
    "RMSProp",
    "make_optimizer",
]

_EPS = 1e-9  # DSSTNE's floor under second-moment estimates before sqrt


class DsstneOptimizer(torch.optim.Optimizer):
    """Base class: adds DSSTNE's coupled decay to the gradient, then applies the mode's rule.

    Args:
        params: parameters or parameter groups (groups may override any hyper-parameter).
        lr: alpha, the learning rate (unused by AdaDelta).
        lambda_l2: L2 weight decay lambda (the update uses ``lambda * w``).
        lambda_l1: L1 weight decay lambda1 (the update uses ``lambda1 * sgn(w)``).
        mu: momentum / first decay rate.
        mu1: second decay rate (Adam).
    """

    mode: ClassVar[Optimizer]

    def __init__(
        self,
        params: Iterable[Any],
        *,
        lr: float,
        lambda_l2: float = 0.0,
        lambda_l1: float = 0.0,
        mu: float = 0.0,
        mu1: float = 0.0,
        **extra: float,
    ) -> None:
        defaults = {"lr": lr, "lambda_l2": lambda_l2, "lambda_l1": lambda_l1, "mu": mu, "mu1": mu1}
        super().__init__(params, {**defaults, **extra})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """Apply one update to every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group([p for p in group["params"] if p.grad is not None], group)
        return loss

    def _step_group(self, params: list[torch.Tensor], group: dict[str, Any]) -> None:
        """Update ``params`` (all with a gradient) of ``group``; one parameter at a time here."""
        for p in params:
            grad = p.grad
            assert grad is not None  # step() passes only parameters with a gradient
            g = grad.to_dense() if grad.is_sparse else grad
            if group["lambda_l2"] or group["lambda_l1"]:
                g = g + group["lambda_l2"] * p + group["lambda_l1"] * torch.sign(p)
            self._update(p, g, self.state[p], group)

    def _update(
        self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        raise NotImplementedError

    @staticmethod
    def _buffer(state: dict[str, Any], name: str, p: torch.Tensor) -> torch.Tensor:
        """The state tensor ``name`` (zeros like ``p`` on first use)."""
        if name not in state:
            state[name] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state[name]


class SGD(DsstneOptimizer):
    """``w -= lr * g`` (the ``train`` CLI's only mode)."""

    mode = Optimizer.SGD

    def _update(self, p, g, state, group):  # type: ignore[no-untyped-def]
        p.add_(g, alpha=-group["lr"])


class Momentum(DsstneOptimizer):
    """``v = mu*v - lr*g; w += v``."""

    mode = Optimizer.MOMENTUM

    def _update(self, p, g, state, group):  # type: ignore[no-untyped-def]
        v = self._buffer(state, "velocity", p)
        v.mul_(group["mu"]).add_(g, alpha=-group["lr"])
        p.add_(v)


class Nesterov(DsstneOptimizer):
    """``v' = mu*v - lr*g; w += v' + mu*(v' - v)``."""

    mode = Optimizer.NESTEROV

    def _update(self, p, g, state, group):  # type: ignore[no-untyped-def]
        v = self._buffer(state, "velocity", p)
        v_new = v * group["mu"] - group["lr"] * g
        p.add_(v_new + group["mu"] * (v_new - v))
        v.copy_(v_new)


class AdaGrad(DsstneOptimizer):
    """``s += g^2; w -= lr*g/sqrt(max(1e-9, s))``."""

    mode = Optimizer.ADAGRAD

    def _update(self, p, g, state, group):  # type: ignore[no-untyped-def]
        s = self._buffer(state, "sum_sq", p)
        s.addcmul_(g, g)
        p.sub_(group["lr"] * g * torch.rsqrt(s.clamp(min=_EPS)))


class RMSProp(DsstneOptimizer):
    """``s = mu*s + (1-mu)*g^2; w -= lr*g/sqrt(max(1e-9, s))``."""

    mode = Optimizer.RMSPROP

    def _update(self, p, g, state, group):  # type: ignore[no-untyped-def]
        s = self._buffer(state, "mean_sq", p)
        s.mul_(group["mu"]).addcmul_(g, g, value=1.0 - group["mu"])
        p.sub_(group["lr"] * g * torch.rsqrt(s.clamp(min=_EPS)))


class AdaDelta(DsstneOptimizer):
    """Zeiler's AdaDelta with decay ``mu``; the learning rate is not used."""

    mode = Optimizer.ADADELTA

    def _update(self, p, g, state, group):  # type: ignore[no-untyped-def]
        mu = group["mu"]
        s_g = self._buffer(state, "mean_sq_grad", p)
        s_d = self._buffer(state, "mean_sq_delta", p)
        s_g.mul_(mu).addcmul_(g, g, value=1.0 - mu)
        d = torch.sqrt(s_d.clamp(min=_EPS) / s_g.clamp(min=_EPS)) * g
        s_d.mul_(mu).addcmul_(d, d, value=1.0 - mu)
        p.sub_(d)


class Adam(DsstneOptimizer):
    """Adam with beta1 = ``mu``, beta2 = ``mu1``, eps 1e-8 outside the sqrt; ``t_offset`` (group
    key, default 0) shifts the bias-correction step (1 = DSSTNE's t = 2 on the first step).

    Without L1 decay (``lambda_l1 == 0``, DSSTNE's usual case) and with dense gradients, every
    parameter of a group is updated by PyTorch's fused Adam kernel (as
    ``torch.optim.Adam(fused=True)`` with coupled L2 ``weight_decay = lambda_l2``): one pass over
    parameter, gradient and both moments instead of about ten. With ``t_offset == 0`` the result
    is ``torch.optim.Adam(fused=True)``'s, bit for bit; the slow path agrees to rounding.
    """

    mode = Optimizer.ADAM

    def __init__(self, params: Iterable[Any], *, t_offset: int = 0, **hyper: float) -> None:
        super().__init__(params, t_offset=t_offset, **hyper)  # type: ignore[arg-type]

    def _step_group(self, params: list[torch.Tensor], group: dict[str, Any]) -> None:
        fusable: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
        rest = []
        for p in params:
            grad = p.grad
            ok = not group["lambda_l1"] and grad is not None and grad.layout == torch.strided
            if ok and p.dtype.is_floating_point and p.device.type in ("cpu", "cuda"):
                fusable.setdefault((p.device, p.dtype), []).append(p)
            else:
                rest.append(p)
        for same in fusable.values():
            self._fused_update(same, group)
        super()._step_group(rest, group)

    def _fused_update(self, params: list[torch.Tensor], group: dict[str, Any]) -> None:
        """One ``torch._fused_adam_`` call over ``params`` (one device and dtype)."""
        moments, steps = [], []
        for p in params:
            state = self.state[p]
            m, s = self._buffer(state, "exp_avg", p), self._buffer(state, "exp_avg_sq", p)
            moments.append((m, s))
            state["step"] = int(state.get("step", 0)) + 1
            t = state["step"] + int(group["t_offset"])
            steps.append(torch.tensor(float(t), dtype=torch.float32, device=p.device))
        torch._fused_adam_(
            params,
            [p.grad for p in params],  # type: ignore[misc]
            [m for m, _ in moments],
            [s for _, s in moments],
            [],
            steps,
            lr=float(group["lr"]),
            beta1=float(group["mu"]),
            beta2=float(group["mu1"]),
            weight_decay=float(group["lambda_l2"]),
            eps=1e-8,
            amsgrad=False,
            maximize=False,
        )

    def _update(self, p, g, state, group):  # type: ignore[no-untyped-def]
        mu, mu1 = group["mu"], group["mu1"]
        m = self._buffer(state, "exp_avg", p)
        s = self._buffer(state, "exp_avg_sq", p)
        state["step"] = int(state.get("step", 0)) + 1
        t = state["step"] + int(group["t_offset"])
        m.mul_(mu).add_(g, alpha=1.0 - mu)
        s.mul_(mu1).addcmul_(g, g, value=1.0 - mu1)
        m_hat = m / (1.0 - math.pow(mu, t))
        s_hat = s / (1.0 - math.pow(mu1, t))
        p.sub_(group["lr"] * m_hat / (torch.sqrt(s_hat) + 1e-8))


OPTIMIZER_CLASSES: dict[Optimizer, type[DsstneOptimizer]] = {
    cls.mode: cls for cls in (SGD, Momentum, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam)
}


def make_optimizer(
    name: Optimizer | str,
    params_weights: Iterable[torch.nn.Parameter],
    params_biases: Iterable[torch.nn.Parameter],
    *,
    alpha: float,
    lambda_l2: float = 0.0,
    lambda_l1: float = 0.0,
    mu: float = 0.0,
    mu1: float = 0.0,
    adam_t_offset: int = 0,
) -> DsstneOptimizer:
    """Build DSSTNE's optimizer ``name`` with weights decayed and biases not.

    Args:
        name: an ``Optimizer`` or its name (any case: ``"sgd"``, ``"Nesterov"``, ...).
        params_weights: weight matrices (decayed by ``lambda_l2``/``lambda_l1``); pass each shared
            matrix once.
        params_biases: bias vectors (never decayed).
        alpha: learning rate.
        lambda_l2, lambda_l1: L2 and L1 decay of the weights.
        mu, mu1: decay rates (see the module table).
        adam_t_offset: Adam only; 1 reproduces DSSTNE's bias correction (t = 2 on the first step).

    Returns:
        The optimizer; group 0 holds the weights, group 1 the biases (groups are omitted if empty).

    Raises:
        ConfigError: unknown optimizer name (the message lists the allowed ones).
        ValueError: no parameters at all.

    Example:
        >>> w = torch.nn.Parameter(torch.ones(2, 2)); b = torch.nn.Parameter(torch.zeros(2))
        >>> opt = make_optimizer("nesterov", [w], [b], alpha=0.1, lambda_l2=1e-4, mu=0.9)
        >>> type(opt).__name__, opt.param_groups[1]["lambda_l2"]
        ('Nesterov', 0.0)
    """
    mode = Optimizer(OPTIMIZERS.get(name, path="optimizer") if isinstance(name, str) else name)
    groups: list[dict[str, Any]] = []
    weights, biases = list(params_weights), list(params_biases)
    if weights:
        groups.append({"params": weights, "name": "weights"})
    if biases:
        groups.append({"params": biases, "name": "biases", "lambda_l2": 0.0, "lambda_l1": 0.0})
    hyper: dict[str, Any] = {"lr": alpha, "lambda_l2": lambda_l2, "lambda_l1": lambda_l1}
    hyper.update(mu=mu, mu1=mu1)
    if mode == Optimizer.ADAM:
        hyper["t_offset"] = adam_t_offset
    return OPTIMIZER_CLASSES[mode](groups, **hyper)
