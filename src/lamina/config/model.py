"""The typed, frozen tree a DSSTNE network config loads into (spec sections 1.2-1.3).

One class per block of the JSON. Field defaults are DSSTNE's descriptor defaults (``NNNetwork.cpp``,
``NNLayer.cpp``, ``NNWeight.cpp``); each non-obvious one says why. After ``load_config`` returns,
these
objects are trusted: layers and the trainer never re-validate them.

Shapes: a layer's ``n`` is a tuple of 1-4 ints ``(Nx, Ny, Nz, Nw)`` as DSSTNE orders them, or the
string
``"auto"`` until :meth:`NetworkConfig.resolve` replaces it with a dataset's dimensions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from lamina.config.enums import (
    Activation,
    ErrorFunction,
    LayerKind,
    LayerType,
    NetworkKind,
    Optimizer,
    PoolingFunction,
    WeightInitScheme,
)

__all__ = [
    "AUTO",
    "LRN",
    "SMCE",
    "DeltaBoost",
    "Denoising",
    "Dims",
    "LayerConfig",
    "MaxOut",
    "NetworkConfig",
    "SharedWeights",
    "SparsenessPenalty",
    "TrainingParameters",
    "WeightInit",
]

AUTO: Literal["auto"] = "auto"
Dims = tuple[int, ...]  # (Nx,) .. (Nx, Ny, Nz, Nw), each >= 1


@dataclass(frozen=True)
class WeightInit:
    """``WeightInit {Scheme, Scale, Bias}`` of a Hidden or Output layer."""

    scheme: WeightInitScheme = WeightInitScheme.XAVIER
    scale: float = 1.0
    bias: float = (
        0.0  # DSSTNE accepts only a number here, although LDL.txt says "<String> or <float>"
    )


@dataclass(frozen=True)
class SharedWeights:
    """``SharedWeights``: the connection ``input_layer`` -> this layer reuses the weight matrix of
    the
    connection ``source_input_layer`` -> ``source_output_layer`` (transposed if asked). Biases are
    never
    shared."""

    input_layer: str
    source_input_layer: str
    source_output_layer: str
    transposed: bool = False


@dataclass(frozen=True)
class SparsenessPenalty:
    """KL sparseness penalty ``beta * KL(p || mean activation)`` on sparse hidden layers; off while
    ``beta == 0`` (DSSTNE: ``_bSparsenessPenalty = beta > 0``)."""

    p: float = 0.0
    beta: float = 0.0


@dataclass(frozen=True)
class LRN:
    """Local response normalization parameters, used by ``Function: LRN`` pooling layers."""

    k: float = 2.0
    n: int = 5
    alpha: float = 0.0001
    beta: float = 0.75


@dataclass(frozen=True)
class MaxOut:
    """``MaxOut {k}``: group size of ``Function: Maxout`` pooling layers."""

    k: int = 2


@dataclass(frozen=True)
class Denoising:
    """``Denoising {p}``: drop each stored non-zero of every sparse input with probability p, one
    mask per
    epoch, survivors scaled by 1/(1-p). Off while ``p == 0``."""

    p: float = 0.0


@dataclass(frozen=True)
class DeltaBoost:
    """``DeltaBoost {one, zero}``: multipliers of output deltas on listed (one) and unlisted (zero)
    units of
    sparse targets, for L2 and CrossEntropy."""

    one: float = 1.0
    zero: float = 1.0


@dataclass(frozen=True)
class SMCE:
    """``ScaledMarginalCrossEntropy`` (or ``DataScaledMarginalCrossEntropy``) block; both JSON
    spellings
    fill these four fields. Defaults 0.9/0.1/1/1 are DSSTNE's, not the 1/0/1/1 its samples set."""

    one_target: float = 0.9
    zero_target: float = 0.1
    one_scale: float = 1.0
    zero_scale: float = 1.0


@dataclass(frozen=True)
class TrainingParameters:
    """Lamina's extension block ``"TrainingParameters"`` (DSSTNE rejected it: its issue 39).

    Every field is optional: ``None`` means "not set here", and then the ``train`` command-line
    flag or
    DSSTNE's ``train`` default applies. An explicit command-line flag overrides a value set here.
    """

    optimizer: Optimizer | None = None
    alpha: float | None = None  # learning rate
    lambda_l2: float | None = None  # JSON "Lambda"
    lambda_l1: float | None = None  # JSON "Lambda1"
    mu: float | None = None
    mu1: float | None = None
    batch: int | None = None
    epochs: int | None = None
    decay: float | None = (
        None  # same meaning as DSSTNE's top-level "Decay"; setting both is an error
    )
    checkpoint_interval: int | None = None


@dataclass(frozen=True)
class LayerConfig:
    """One element of ``"Layers"``, with every default filled in and references resolved.

    ``sources`` is never empty for non-Input layers: a missing ``Source`` means the previous layer
    in the
    JSON list. ``relu_slope``, ``elu_alpha`` and ``selu_lambda`` hold the network-level value when
    the
    layer does not set its own.
    """

    name: str
    kind: LayerKind
    type: LayerType = LayerType.FULLY_CONNECTED
    n: Dims | Literal["auto"] = (1,)  # DSSTNE's descriptor default Nx=Ny=Nz=Nw=1
    sparse: bool = False
    p_dropout: float = 0.0
    dataset: str | None = None
    sources: tuple[str, ...] = ()
    skips: tuple[str, ...] = ()
    kernel: Dims = (1,)
    kernel_stride: Dims = (1,)
    batch_normalization: bool = False
    sparseness_penalty: SparsenessPenalty | None = None  # per-layer override of the network's
    pooling_function: PoolingFunction | None = None  # JSON "Function"; only for Type Pooling
    activation: Activation = Activation.SIGMOID
    relu_slope: float = 1.0
    elu_alpha: float = 1.0
    selu_lambda: float = 1.050701
    weight_norm: float = 0.0  # 0 = no max-norm constraint
    delta_norm: float = 0.0  # 0 = no delta clipping
    weight_init: WeightInit = field(default_factory=WeightInit)
    shared_weights: tuple[SharedWeights, ...] = ()


@dataclass(frozen=True)
class NetworkConfig:
    """A whole network definition: DSSTNE's top-level keys plus Lamina's ``TrainingParameters``."""

    version: float
    layers: tuple[LayerConfig, ...]
    name: str = ""
    kind: NetworkKind = NetworkKind.FEED_FORWARD  # stored in model files only; no runtime effect
    weights_data: str | None = None  # parsed and ignored, as DSSTNE does
    lrn: LRN = field(default_factory=LRN)
    maxout: MaxOut = field(default_factory=MaxOut)
    sparseness_penalty: SparsenessPenalty = field(default_factory=SparsenessPenalty)
    denoising: Denoising = field(default_factory=Denoising)
    delta_boost: DeltaBoost = field(default_factory=DeltaBoost)
    smce: SMCE = field(default_factory=SMCE)
    shuffle_indices: bool = True  # DSSTNE's default, although every sample config sets false
    relu_slope: float = 1.0  # with 1.0 an LRelu layer is the identity: configs should set "Slope"
    elu_alpha: float = 1.0  # also SELU's alpha (not the canonical 1.6733) unless set
    selu_lambda: float = 1.050701
    decay: float = 0.0
    error_function: ErrorFunction = ErrorFunction.CROSS_ENTROPY
    training: TrainingParameters | None = None  # Lamina extension; None = block absent

    def to_dict(self) -> dict[str, Any]:
        """This config as JSON-native DSSTNE data, every default filled in (see
        :func:`lamina.config.serialize.to_dict`)."""
        from lamina.config.serialize import to_dict

        return to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, name: str | None = None) -> NetworkConfig:
        """Load a config from parsed JSON data, validating it as
        :func:`lamina.config.load_config`."""
        from lamina.config.serialize import from_dict

        return from_dict(data, name=name)

    @property
    def effective_decay(self) -> float:
        """The learning-rate decay in force: ``TrainingParameters.Decay`` if set, else ``Decay``."""
        if self.training is not None and self.training.decay is not None:
            return self.training.decay
        return self.decay

    def layer(self, name: str) -> LayerConfig:
        """Return the layer called ``name`` (exact, case-sensitive, as DSSTNE matches sources)."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def has_auto(self) -> bool:
        """True while some layer's ``n`` is still ``"auto"``."""
        return any(layer.n == AUTO for layer in self.layers)

    def resolve(self, widths: Mapping[str, Dims]) -> NetworkConfig:
        """Replace every ``"N": "auto"`` by the dimensions of the layer's dataset.

        Args:
            widths: dataset name -> dims ``(width,)``, ``(width, height)`` or
                ``(width, height, length)``, as stored in the dataset file (``width`` already
                padded to a multiple of 128).

        Returns:
            A config with no ``"auto"`` left (``self`` if there was none).

        Raises:
            KeyError: an auto-sized layer's dataset is not in ``widths``; the message names both, as
                DSSTNE's "Unable to find data set %s to determine dimensions for layer: %s".
        """
        if not self.has_auto:
            return self
        layers = []
        for layer in self.layers:
            if layer.n == AUTO:
                if layer.dataset is None or layer.dataset not in widths:
                    raise KeyError(
                        f"unable to find data set {layer.dataset!r} to determine dimensions for "
                        f"layer {layer.name!r} (known: {sorted(widths)})"
                    )
                layer = replace(layer, n=tuple(int(d) for d in widths[layer.dataset]))
            layers.append(layer)
        return replace(self, layers=tuple(layers))
