"""The built network: a ``torch.nn.Module`` that evaluates DSSTNE layers in dependency order.

Built by :func:`lamina.nn.build_network`; see :mod:`lamina.nn.geometry` for the tensor shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from lamina.config.enums import Activation, LayerKind, LayerType
from lamina.config.model import LayerConfig, NetworkConfig
from lamina.data.batch import SparseBatch
from lamina.errors import ModelError, did_you_mean
from lamina.nn.dropout import DsstneDropout
from lamina.nn.geometry import LayerGeometry
from lamina.nn.layers import FullyConnected, LayerInput, LayerModule

__all__ = ["Connection", "Network", "NetworkOutputs"]


@dataclass
class NetworkOutputs:
    """What one forward pass produces, for every non-input layer.

    Attributes:
        activations: layer name -> (B, *shape) activations after dropout (what the next layer sees).
        preactivations: layer name -> (B, *shape) z: after skips and batch norm, before the
        activation
            (the trainer's losses use the output layer's z for numerical stability).
    """

    activations: dict[str, torch.Tensor]
    preactivations: dict[str, torch.Tensor]


@dataclass(frozen=True)
class Connection:
    """One DSSTNE weight: ``input_layer -> output_layer`` (the model file's ``weight{i}_*``).

    Attributes:
        weight: ``(n_in, n_out)`` for FullyConnected, ``(C_out, C_in, *kernel)`` for convolutions;
        for a
            shared connection, the very Parameter of ``source`` (use ``weight.t()`` when
            transposed).
        bias: ``(n_out,)`` or ``(C_out,)``; never shared.
        source: ``(source_input_layer, source_output_layer)`` of a shared weight, else None.
        sharing_count: how many connections use ``weight`` (DSSTNE divides gradients by it).
    """

    input_layer: str
    output_layer: str
    weight: nn.Parameter
    bias: nn.Parameter
    transposed: bool = False
    source: tuple[str, str] | None = None
    sharing_count: int = 1

    @property
    def shared(self) -> bool:
        """True when this connection reuses another connection's weight."""
        return self.source is not None


class Network(nn.Module):
    """A DSSTNE network on PyTorch.

    Attributes:
        config: the resolved config (no ``"auto"`` left).
        order: layer names in evaluation order (sources and skips before their consumers).
        geometry: layer name -> :class:`LayerGeometry` (DSSTNE dims, tensor shape).
        connections: every weight, in config order of (layer, source).
        layers: module key -> layer module (keys are layer names unless a name holds a ``.``).
    """

    def __init__(
        self,
        config: NetworkConfig,
        *,
        order: tuple[str, ...],
        geometry: dict[str, LayerGeometry],
        modules: Mapping[str, LayerModule],
        keys: dict[str, str],
    ) -> None:
        super().__init__()
        self.config = config
        self.order = order
        self.geometry = geometry
        self._keys = keys
        self._configs = {layer.name: layer for layer in config.layers}
        self.layers = nn.ModuleDict({keys[name]: module for name, module in modules.items()})
        self.input_dropout = nn.ModuleDict(
            {
                keys[lay.name]: DsstneDropout(lay.p_dropout, activation=Activation.LINEAR)
                for lay in config.layers
                if lay.kind == LayerKind.INPUT and lay.p_dropout > 0
            }
        )
        self.connections: tuple[Connection, ...] = ()

    @property
    def input_layers(self) -> tuple[str, ...]:
        """Names of the Input layers, in config order: the keys ``forward`` expects."""
        return tuple(lay.name for lay in self.config.layers if lay.kind == LayerKind.INPUT)

    @property
    def output_layers(self) -> tuple[str, ...]:
        """Names of the Output layers, in config order."""
        return tuple(lay.name for lay in self.config.layers if lay.kind == LayerKind.OUTPUT)

    def layer(self, name: str) -> LayerModule:
        """The module of the non-input layer called ``name`` (``.weights[source]``, ``.biases``)."""
        return cast(LayerModule, self.layers[self._keys[name]])

    def layer_config(self, name: str) -> LayerConfig:
        """The config of the layer called ``name``."""
        return self._configs[name]

    def forward(self, inputs: Mapping[str, LayerInput]) -> NetworkOutputs:
        """Evaluate every layer.

        Args:
            inputs: Input layer name -> dense (B, stride) or (B, *tensor_shape) tensor, or a
                :class:`SparseBatch` (FullyConnected consumers use it without densifying it).

        Returns:
            Activations and pre-activations of every non-input layer.

        Raises:
            ModelError: an input is missing, unknown, or of the wrong size.
        """
        self._check_input_names(inputs)
        values: dict[str, LayerInput] = {}
        acts: dict[str, torch.Tensor] = {}
        pre: dict[str, torch.Tensor] = {}
        for name in self.order:
            cfg = self._configs[name]
            if cfg.kind == LayerKind.INPUT:
                values[name] = self._input_value(cfg, inputs[name])
                continue
            module = self.layer(name)
            sparse_ok = isinstance(module, FullyConnected)
            srcs = [self._feed(values[s], s, sparse_ok) for s in cfg.sources]
            skips = [self._feed(values[s], s, False) for s in cfg.skips]
            z, a = module(srcs, skips)
            values[name], acts[name], pre[name] = a, a, z
        return NetworkOutputs(activations=acts, preactivations=pre)

    @torch.no_grad()
    def apply_weight_norm(self) -> None:
        """Apply every layer's ``WeightNorm`` (max L2 norm of each unit's incoming weights).

        DSSTNE re-normalises after every weight update; the trainer calls this after each optimizer
        step. Layers with ``WeightNorm == 0`` are untouched. (``DeltaNorm`` is the trainer's job.)
        """
        for module in self.layers.values():
            cast(LayerModule, module).apply_weight_norm()

    def _check_input_names(self, inputs: Mapping[str, LayerInput]) -> None:
        expected = self.input_layers
        for name in inputs:
            if name not in self._configs or self._configs[name].kind != LayerKind.INPUT:
                raise ModelError(
                    f"inputs must be keyed by Input layer names {list(expected)}. Got {name!r}."
                    + did_you_mean(name, expected)
                )
        missing = [name for name in expected if name not in inputs]
        if missing:
            raise ModelError(
                f"no input given for Input layer(s) {missing} (expected {list(expected)})"
            )

    def _dtype(self) -> torch.dtype:
        for p in self.parameters():
            return p.dtype
        return torch.get_default_dtype()

    def _input_value(self, cfg: LayerConfig, x: LayerInput) -> LayerInput:
        geo = self.geometry[cfg.name]
        if isinstance(x, SparseBatch):
            if x.width > geo.stride:
                raise ModelError(
                    f"Input layer {cfg.name!r} has {geo.stride} units but its sparse batch is "
                    f"{x.width} wide"
                )
            return x
        if x.dim() == 0 or x[0].numel() != geo.stride:
            raise ModelError(
                f"Input layer {cfg.name!r} expects {geo.stride} values per example "
                f"{geo.tensor_shape}. Got a tensor of shape {tuple(x.shape)}."
            )
        x = x.reshape(x.shape[0], *geo.tensor_shape).to(self._dtype())
        key = self._keys[cfg.name]
        if key in self.input_dropout:
            x = self.input_dropout[key](x)
        return x

    def _feed(self, value: LayerInput, name: str, sparse_ok: bool) -> torch.Tensor | SparseBatch:
        if not isinstance(value, SparseBatch) or sparse_ok:
            return value
        stride = self.geometry[name].stride
        dense = SparseBatch(value.indices, value.offsets, value.values, stride).to_dense()
        return dense.to(self._dtype())


def layer_type_name(cfg: LayerConfig) -> str:
    """``FullyConnected``, ``Convolutional`` or ``Pooling(<Function>)`` for tables."""
    from lamina.config.enums import label

    if cfg.type == LayerType.POOLING and cfg.pooling_function is not None:
        return f"Pooling({label(cfg.pooling_function)})"
    return label(cfg.type)
