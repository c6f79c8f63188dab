"""One minibatch update as DSSTNE's ``NNNetwork::Train`` makes it, and the state that must survive a
resume (optimizer, brake, learning-rate schedule, RNG).

Per minibatch: forward in training mode (dropout; denoised sparse inputs) -> error summed over the
minibatch -> divergence brake -> backward of ``loss_sum / B + sparseness penalties`` (DSSTNE's 1/B
gradient scale; shared weights' gradients divided by their sharing count, as DSSTNE does) ->
optimizer step (L2/L1 decay of weight matrices inside it, biases never decayed) -> ``WeightNorm``.
On the CPU, constructing a :class:`Stepper` calls :func:`lamina.train.memory.keep_freed_memory`
(process-wide; same results, no page faults per step: benchmarks/README.md, "Training throughput").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lamina.config.enums import LayerKind
from lamina.config.model import NetworkConfig
from lamina.data.batch import SparseBatch
from lamina.data.batches import Batch, Batches
from lamina.nn import Network, NetworkOutputs
from lamina.train.brake import DivergenceBrake
from lamina.train.denoising import DenoisingMask
from lamina.train.losses import output_loss_and_error
from lamina.train.memory import keep_freed_memory
from lamina.train.optimizers import make_optimizer
from lamina.train.options import Hyperparameters
from lamina.train.regularization import penalized_layers, regularization_error, sparseness_penalty
from lamina.train.schedule import AlphaSchedule, set_learning_rate
from lamina.train.weights import parameter_groups

__all__ = ["StepResult", "Stepper"]

_RNG_KEY = "trainer.torch_rng_state"


def _to(x: SparseBatch | torch.Tensor, device: torch.device) -> SparseBatch | torch.Tensor:
    """``x`` on ``device`` (itself if already there)."""
    if isinstance(x, SparseBatch):
        return x if x.indices.device == device else x.to(device)
    return x.to(device)


def _weights(batch: Batch, name: str, device: torch.device) -> torch.Tensor | None:
    """(B,) example weights of dataset ``name`` (Weighted data), else None."""
    w = batch.weights.get(name)
    return None if w is None else w.to(device)


@dataclass(frozen=True)
class StepResult:
    """What one minibatch reports.

    Attributes:
        error: summed training error of the minibatch (DSSTNE's ``error_training``).
        regularization: the regularization error before the update (½λ‖W‖² + λ1‖W‖₁).
        learning_rate: the step size used (0 when the brake skipped the update).
        event: the brake's message if it fired on this minibatch.
    """

    error: float
    regularization: float
    learning_rate: float
    event: str | None = None


class Stepper:
    """Trains ``network`` one minibatch at a time; owns the optimizer, brake and schedule.

    Args:
        network: the network (already on ``device``), in training mode.
        hyper: resolved hyper-parameters.
        seed: the run's seed (denoising masks hash on it).
        device: where batches go.
        brake: enable the divergence brake.
    """

    def __init__(
        self,
        network: Network,
        hyper: Hyperparameters,
        *,
        seed: int,
        device: torch.device,
        brake: bool = True,
    ) -> None:
        config: NetworkConfig = network.config
        self.network, self.config, self.hyper, self.device = network, config, hyper, device
        if device.type == "cpu":
            keep_freed_memory()  # glibc: reuse freed (B, N) blocks, no page faults every step
        self.weights, others = parameter_groups(network)
        self.optimizer = make_optimizer(
            hyper.optimizer,
            self.weights,
            others,
            alpha=hyper.alpha,
            lambda_l2=hyper.lambda_l2,
            lambda_l1=hyper.lambda_l1,
            mu=hyper.mu,
            mu1=hyper.mu1,
            adam_t_offset=1,  # DSSTNE's Adam: t = 2 on the first update
        )
        self.schedule = AlphaSchedule(alpha=hyper.alpha, decay=hyper.decay)
        self.brake = DivergenceBrake(enabled=brake)
        self.denoise = (
            DenoisingMask(p=config.denoising.p, seed=seed) if config.denoising.p else None
        )
        self.penalized = penalized_layers(config)
        self.inputs = [
            (lay.name, lay.dataset, lay.sparse)
            for lay in config.layers
            if lay.kind == LayerKind.INPUT
        ]
        self.outputs = [lay for lay in config.layers if lay.kind == LayerKind.OUTPUT]
        self.datasets = sorted(
            {str(d) for _, d, _ in self.inputs} | {str(o.dataset) for o in self.outputs}
        )
        self.delta_norms = {lay.name: lay.delta_norm for lay in config.layers if lay.delta_norm > 0}
        self.sharing = [
            (c.weight, c.sharing_count)
            for c in network.connections
            if c.sharing_count > 1 and not c.shared
        ]

    # -- forward and loss ---------------------------------------------------------------
    def forward(
        self, batch: Batch, *, epoch: int | None
    ) -> tuple[NetworkOutputs, torch.Tensor, torch.Tensor]:
        """Forward one minibatch; returns (outputs, loss used for gradients, reported loss).

        ``epoch`` None means evaluation: no denoising. Denoising masks hash on the global example
        ids ``batch.examples``. Losses are sums over the minibatch.
        """
        data = {name: _to(batch[name], self.device) for name in self.datasets}
        inputs: dict[str, SparseBatch | torch.Tensor] = {}
        for name, dataset, sparse in self.inputs:
            x = data[str(dataset)]
            if (
                self.denoise is not None
                and epoch is not None
                and sparse
                and isinstance(x, SparseBatch)
            ):
                x = self.denoise.apply(x, epoch=epoch, example_ids=batch.examples)
            inputs[name] = x
        out = self.network(inputs)
        loss = torch.zeros((), device=self.device)
        reported = torch.zeros((), device=self.device)
        for lay in self.outputs:
            z, a = out.preactivations[lay.name], out.activations[lay.name]
            if z.dim() != 2:  # (B, N) ones as they are: the fused loss recognises them
                z, a = z.reshape(z.shape[0], -1), a.reshape(a.shape[0], -1)
            kwargs: dict[str, Any] = {
                "error_function": self.config.error_function,
                "activation": lay.activation,
                "smce": self.config.smce,
                "weights": _weights(batch, str(lay.dataset), self.device),
            }
            target = data[str(lay.dataset)]
            # one pass gives the boosted loss (for gradients) and DSSTNE's unboosted reported error
            term, error = output_loss_and_error(
                z, a, target, delta_boost=self.config.delta_boost, **kwargs
            )
            loss = loss + term
            reported = reported + error.detach()
        return out, loss, reported

    # -- one update -----------------------------------------------------------------------
    def step(self, batch: Batch, *, epoch: int) -> StepResult:
        """Train on one minibatch of ``epoch``."""
        self.network.train()
        out, loss, reported = self.forward(batch, epoch=epoch)
        self._delta_norm_hooks(out, batch.size)
        objective = loss / batch.size
        for name, (p, beta) in self.penalized.items():
            objective = objective + sparseness_penalty(out.activations[name], p=p, beta=beta)
        regularization = regularization_error(
            self.weights, self.hyper.lambda_l2, self.hyper.lambda_l1
        )
        error = float(reported)
        decision = self.brake.observe(error)
        if decision.skip_update:
            return StepResult(error, regularization, 0.0, self.brake.last_event)
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        for weight, count in self.sharing:
            if weight.grad is not None:
                weight.grad.div_(count)  # DSSTNE: G = -X^T delta / (sharingCount * B)
        lr = self.schedule.alpha_now() * decision.lr_scale
        set_learning_rate(self.optimizer, lr)
        self.optimizer.step()
        self.schedule.step()
        self.network.apply_weight_norm()
        return StepResult(error, regularization, lr, self.brake.last_event)

    def _delta_norm_hooks(self, out: NetworkOutputs, batch: int) -> None:
        """DSSTNE's ``DeltaNorm``: clip each example's delta (dL/dz, unscaled) to an L2 norm."""
        for name, limit in self.delta_norms.items():
            z = out.preactivations.get(name)
            if z is None or not z.requires_grad:
                continue
            bound = limit / batch  # our gradients are DSSTNE's deltas divided by B

            def clip(g: torch.Tensor, bound: float = bound) -> torch.Tensor:
                norms = g.reshape(g.shape[0], -1).norm(dim=1).clamp_min(1e-30)
                scale = (bound / norms).clamp(max=1.0)
                return g * scale.view(-1, *([1] * (g.dim() - 1)))

            z.register_hook(clip)

    # -- evaluation -----------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(
        self,
        batches: Batches,
        *,
        on_batch: Callable[[Batch, NetworkOutputs], None] | None = None,
    ) -> float:
        """Summed error over ``batches`` (one pass) / examples, in evaluation mode (no dropout,
        no denoising)."""
        self.network.eval()
        total = 0.0
        try:
            for batch in batches.iter_epoch(0):
                out, _, reported = self.forward(batch, epoch=None)
                total += float(reported)
                if on_batch is not None:
                    on_batch(batch, out)
        finally:
            self.network.train()
        return total / max(1, batches.examples)

    # -- resumable state --------------------------------------------------------------------
    def state_arrays(self, *, with_rng: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Optimizer state as flat arrays ``opt.<param>.<key>`` (plus the torch RNG state when
        ``with_rng``) and JSON-able meta (brake, schedule, which entries were Python ints)."""
        arrays: dict[str, np.ndarray] = {}
        ints: list[str] = []
        for index, entry in self.optimizer.state_dict()["state"].items():
            for key, value in entry.items():
                name = f"opt.{index}.{key}"
                if isinstance(value, torch.Tensor):
                    arrays[name] = value.detach().cpu().numpy().copy()
                else:
                    arrays[name] = np.asarray(value)
                    ints.append(name)
        if with_rng:
            arrays[_RNG_KEY] = torch.get_rng_state().numpy().copy()
        meta = {
            "brake": self.brake.state_dict(),
            "schedule": self.schedule.state_dict(),
            "python_scalars": ints,
        }
        return arrays, meta

    def load_state_arrays(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> bool:
        """Restore :meth:`state_arrays` output; returns True if a torch RNG state was restored.

        The current hyper-parameters win over stored ones (an explicit flag on resume), except the
        counters: applied updates (decay, Adam's step) and the brake's state.
        """
        scalars = set(meta.get("python_scalars", []))
        state: dict[int, dict[str, Any]] = {}
        for name, value in arrays.items():
            if not name.startswith("opt."):
                continue
            _, index, key = name.split(".", 2)
            item: Any = value.item() if name in scalars else torch.from_numpy(np.array(value))
            state.setdefault(int(index), {})[key] = item
        current = self.optimizer.state_dict()
        self.optimizer.load_state_dict({"state": state, "param_groups": current["param_groups"]})
        enabled = self.brake.enabled
        self.brake.load_state_dict(meta["brake"])
        self.brake.enabled = enabled
        self.schedule.batches = int(meta["schedule"]["batches"])
        if _RNG_KEY in arrays:
            torch.set_rng_state(torch.from_numpy(np.array(arrays[_RNG_KEY], dtype=np.uint8)))
            return True
        return False
