"""The three DSSTNE layer types as modules: FullyConnected, Convolutional, Pooling.

Every layer maps its sources' activations (and its skips') to ``(z, a)``: the pre-activation and the
activation. Order of operations, as in ``NNLayer::ForwardPropagate*``: sum over sources of (source
contribution + that connection's bias), plus every skip source elementwise, then batch
normalisation, activation, dropout (training only). Pooling layers apply neither activation nor
dropout (DSSTNE's ``ForwardPropagatePooling`` does not either): ``z == a``.

Weights are stored per source in ``weights[source_key]`` and biases in ``biases[source_key]``; a
shared weight is the very ``Parameter`` of the connection it shares (registered twice, counted once
by ``parameters()``), biases are never shared.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lamina.config.enums import PoolingFunction
from lamina.config.model import LRN
from lamina.data.batch import SparseBatch
from lamina.errors import ModelError
from lamina.nn.affine import affine_parameters, dense_affine
from lamina.nn.geometry import crop_to
from lamina.nn.native import sigmoid_training, sparse_affine

__all__ = ["Convolutional", "FullyConnected", "LayerInput", "LayerModule", "Pooling", "SourceSpec"]

LayerInput = torch.Tensor | SparseBatch
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


class SourceSpec:
    """How one source feeds a Convolutional or Pooling layer (torch axis order throughout).

    Attributes:
        key: the source's module key.
        in_shape: ``(C, *spatial)`` view of the source's activations.
        kernel, stride, padding: per spatial axis.
        out_spatial: DSSTNE's output size per spatial axis (torch's may be larger: cropped).
    """

    def __init__(
        self,
        key: str,
        in_shape: tuple[int, ...],
        *,
        kernel: tuple[int, ...] = (),
        stride: tuple[int, ...] = (),
        padding: tuple[int, ...] = (),
        out_spatial: tuple[int, ...] = (),
    ) -> None:
        self.key, self.in_shape = key, in_shape
        self.kernel, self.stride, self.padding = kernel, stride, padding
        self.out_spatial = out_spatial


class LayerModule(nn.Module):
    """Shared tail: skips, batch norm, activation, dropout; and the max-norm constraint."""

    def __init__(
        self,
        *,
        out_shape: tuple[int, ...],
        activation: nn.Module | None,
        dropout: nn.Module | None,
        batch_norm: nn.Module | None,
        weight_norm: float,
    ) -> None:
        super().__init__()
        self.out_shape = out_shape
        self.activation = activation if activation is not None else nn.Identity()
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.weight_norm = weight_norm
        self.weights = nn.ParameterDict()
        self.biases = nn.ParameterDict()
        self.transposed: dict[str, bool] = {}
        self.shared: set[str] = set()

    def finish(
        self, z: torch.Tensor, skips: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Add skips, normalise, activate, drop: returns ``(z, a)``, both (B, *out_shape).

        In training (grad enabled), a Sigmoid on a (B, N) layer runs
        :func:`lamina.nn.native.sigmoid_training`: torch's values to float32 rounding, in one pass
        that also leaves the softplus row sums the sigmoid cross-entropy losses need.
        """
        for skip in skips:
            z = z + skip.reshape(z.shape)
        if self.batch_norm is not None:
            z = self.batch_norm(z)
        if (
            type(self.activation) is nn.Sigmoid
            and self.training
            and z.dim() == 2
            and z.requires_grad
        ):
            a = sigmoid_training(z)  # one fused pass; leaves softplus(z) row sums for the loss
        else:
            a = self.activation(z)
        if self.dropout is not None:
            a = self.dropout(a)
        return z, a

    @torch.no_grad()
    def apply_weight_norm(self) -> None:
        """DSSTNE's ``WeightNorm``: rescale each output unit's incoming weight vector to an L2 norm
        of at most ``weight_norm``. Only weights this layer owns (shared ones belong to their
        source)."""
        if self.weight_norm <= 0:
            return
        for key, w in self.weights.items():
            if key in self.shared:
                continue
            norms = self._unit_norms(w)
            w.mul_(
                torch.clamp(self.weight_norm / norms.clamp_min(1e-30), max=1.0).view(
                    self._norm_view(w)
                )
            )

    def _unit_norms(self, w: torch.Tensor) -> torch.Tensor:
        return w.norm(dim=0)

    def _norm_view(self, w: torch.Tensor) -> tuple[int, ...]:
        return (1, w.shape[1])


class FullyConnected(LayerModule):
    """``Z = sum_s (X_s . W_s + b_s)``; ``W_s`` is ``(n_in, n_out)`` as DSSTNE stores it.

    A source given as a :class:`SparseBatch` goes through ``F.embedding_bag`` (sum of the weight
    rows of its non-zeros, times their values) and is never densified; its weight gradient is
    written directly (:func:`lamina.nn.native.sparse_affine`). Each connection's ``W`` and
    ``b`` share one ``[W; b]`` buffer so that a dense source's bias work is folded into the GEMMs
    (:mod:`lamina.nn.affine`); both stay ordinary Parameters of shapes (n_in, n_out) and (n_out,).
    """

    def __init__(self, *, sources: Sequence[tuple[str, int]], n_out: int, **kwargs: object) -> None:
        super().__init__(out_shape=(n_out,), **kwargs)  # type: ignore[arg-type]
        self.source_keys = tuple(key for key, _ in sources)
        for key, n_in in sources:
            self.weights[key], self.biases[key] = affine_parameters(n_in, n_out)
            self.transposed[key] = False

    def forward(
        self, inputs: Sequence[LayerInput], skips: Sequence[torch.Tensor] = ()
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``inputs[i]``: (B, *) tensor or SparseBatch of source i; returns (z, a), each (B, N)."""
        z: torch.Tensor | None = None
        for key, x in zip(self.source_keys, inputs, strict=True):
            w = (
                self.weights[key].t() if self.transposed[key] else self.weights[key]
            )  # (n_in, n_out)
            if isinstance(x, SparseBatch):
                if x.width > w.shape[0]:
                    raise ModelError(
                        f"sparse input of width {x.width} feeds a connection with "
                        f"{w.shape[0]} inputs"
                    )
                y = sparse_affine(x, w, self.biases[key])  # (B, n_out)
            else:  # b + X W with the bias folded into the GEMMs (addmm if W is shared)
                y = dense_affine(x.reshape(x.shape[0], -1), w, self.biases[key])
            z = y if z is None else z + y
        assert z is not None  # sources are never empty for non-input layers
        return self.finish(z, skips)


class Convolutional(LayerModule):
    """Cross-correlation per source (cuDNN's ``CUDNN_CROSS_CORRELATION``), summed, plus one bias per
    output channel and source. Weights ``(C_out, C_in, *kernel)`` as DSSTNE's filter descriptor."""

    def __init__(
        self, *, specs: Sequence[SourceSpec], out_shape: tuple[int, ...], **kwargs: object
    ):
        super().__init__(out_shape=out_shape, **kwargs)  # type: ignore[arg-type]
        self.specs = tuple(specs)
        c_out = out_shape[0]
        for spec in self.specs:
            self.weights[spec.key] = nn.Parameter(
                torch.empty(c_out, spec.in_shape[0], *spec.kernel)
            )
            self.biases[spec.key] = nn.Parameter(torch.empty(c_out))
            self.transposed[spec.key] = False

    def forward(
        self, inputs: Sequence[torch.Tensor], skips: Sequence[torch.Tensor] = ()
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``inputs[i]``: source i's activations (any shape of the right size); returns (z, a),
        each (B, C_out, *spatial)."""
        z: torch.Tensor | None = None
        for spec, x in zip(self.specs, inputs, strict=True):
            x = x.reshape(x.shape[0], *spec.in_shape)  # (B, C_in, *spatial_in)
            conv = _CONV[len(spec.kernel)]
            y = conv(x, self.weights[spec.key], None, spec.stride, spec.padding)
            bias = self.biases[spec.key].view(-1, *([1] * len(spec.kernel)))
            y = crop_to(y, spec.out_spatial) + bias
            z = y if z is None else z + y
        assert z is not None
        return self.finish(z, skips)

    def _unit_norms(self, w: torch.Tensor) -> torch.Tensor:
        return w.flatten(1).norm(dim=1)

    def _norm_view(self, w: torch.Tensor) -> tuple[int, ...]:
        return (w.shape[0],) + (1,) * (w.dim() - 1)


class Pooling(LayerModule):
    """Max / Average (padding excluded) / LRN pooling of each source, summed over sources (cuDNN
    with beta = 1 after the first source); Maxout takes the elementwise max over sources."""

    def __init__(
        self,
        *,
        function: PoolingFunction,
        specs: Sequence[SourceSpec],
        out_shape: tuple[int, ...],
        lrn: LRN,
    ) -> None:
        super().__init__(
            out_shape=out_shape, activation=None, dropout=None, batch_norm=None, weight_norm=0.0
        )
        self.function, self.specs, self.lrn = function, tuple(specs), lrn

    def forward(
        self, inputs: Sequence[torch.Tensor], skips: Sequence[torch.Tensor] = ()
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``inputs[i]``: source i's activations; returns (z, a), ``z is a``, (B, *out_shape)."""
        pooled = [self._pool(spec, x) for spec, x in zip(self.specs, inputs, strict=True)]
        if self.function == PoolingFunction.MAXOUT:
            z = pooled[0]
            for y in pooled[1:]:
                z = torch.maximum(z, y)
        else:
            z = torch.stack(pooled).sum(0) if len(pooled) > 1 else pooled[0]
        for skip in skips:
            z = z + skip.reshape(z.shape)
        return z, z

    def _pool(self, spec: SourceSpec, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        x = x.reshape(b, *spec.in_shape)  # (B, C, *spatial)
        if self.function == PoolingFunction.MAXOUT:
            return x.reshape(b, *self.out_shape)
        if self.function == PoolingFunction.LRN:
            y = x if x.dim() >= 3 else x.unsqueeze(-1)
            y = F.local_response_norm(y, self.lrn.n, self.lrn.alpha, self.lrn.beta, self.lrn.k)
            return y.reshape(b, *self.out_shape)
        k = len(spec.kernel)
        if self.function == PoolingFunction.MAX:
            y = _MAX_POOL[k](x, spec.kernel, spec.stride, spec.padding)
        else:
            y = _AVG_POOL[k](x, spec.kernel, spec.stride, spec.padding, count_include_pad=False)
        return crop_to(y, spec.out_spatial).reshape(b, *self.out_shape)
