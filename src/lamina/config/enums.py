"""DSSTNE's enumerations, with the numeric codes its model files store, and the string registries
its JSON parser accepts (case-insensitive; aliases as in ``NNNetwork.cpp``, spec section 1.4).

Each enum member's value is DSSTNE's code (``NNTypes.h``); ``LABELS`` gives the spelling Lamina
writes
back (``config show``, ``to_dict``). Strings DSSTNE rejects (``SMCE``, ``PRelu``, ``MaxOut`` as an
activation) are not registered.
"""

from __future__ import annotations

from enum import IntEnum

from lamina.registry import Registry

__all__ = [
    "ACTIVATIONS",
    "ERROR_FUNCTIONS",
    "LABELS",
    "LAYER_KINDS",
    "LAYER_TYPES",
    "NETWORK_KINDS",
    "OPTIMIZERS",
    "POOLING_FUNCTIONS",
    "WEIGHT_INITS",
    "Activation",
    "ErrorFunction",
    "LayerKind",
    "LayerType",
    "NetworkKind",
    "Optimizer",
    "PoolingFunction",
    "WeightInitScheme",
    "label",
]


class NetworkKind(IntEnum):
    FEED_FORWARD = 0
    AUTO_ENCODER = 1


class LayerKind(IntEnum):
    INPUT = 0
    HIDDEN = 1
    OUTPUT = 2
    TARGET = 3


class LayerType(IntEnum):
    FULLY_CONNECTED = 0
    CONVOLUTIONAL = 1
    POOLING = 2


class Activation(IntEnum):
    SIGMOID = 0
    TANH = 1
    RELU = 2
    LINEAR = 3
    PRELU = 4  # has a code in DSSTNE but no accepted string
    SOFTPLUS = 5
    SOFTSIGN = 6
    SOFTMAX = 7
    RELUMAX = 8
    LINEARMAX = 9
    ELU = 10
    LRELU = 11
    SELU = 12


class ErrorFunction(IntEnum):
    L1 = 0
    L2 = 1
    CROSS_ENTROPY = 2
    SCALED_MARGINAL_CROSS_ENTROPY = 3
    DATA_SCALED_MARGINAL_CROSS_ENTROPY = 4
    HINGE = 5
    L2_HINGE = 6


class WeightInitScheme(IntEnum):
    XAVIER = 0
    CAFFE_XAVIER = 1
    GAUSSIAN = 2
    UNIFORM = 3
    UNIT_BALL = 4
    CONSTANT = 5
    SELU = 6


class PoolingFunction(IntEnum):
    NONE = 0
    MAX = 1
    AVERAGE = 2
    LRN = 3
    MAXOUT = 4
    DOT_PRODUCT = 5
    COSINE = 6
    STOCHASTIC = 7
    LCN = 8
    GLOBAL_TEMPORAL = 9


class Optimizer(IntEnum):
    """DSSTNE's ``TrainingMode`` codes. Selectable only through Lamina's extensions."""

    SGD = 0
    MOMENTUM = 1
    ADAGRAD = 2
    NESTEROV = 3
    RMSPROP = 4
    ADADELTA = 5
    ADAM = 6


class _Labels(dict):  # type: ignore[type-arg]
    """member -> label. Keyed by (enum class, code): IntEnum members of different enums with the
    same
    code are equal and hash alike (``NetworkKind.FEED_FORWARD == Optimizer.SGD == 0``), so a plain
    dict keyed by member would mix them up."""

    def __setitem__(self, member: IntEnum, name: str) -> None:
        super().__setitem__((type(member), member), name)

    def __getitem__(self, member: IntEnum) -> str:
        return str(super().__getitem__((type(member), member)))

    def __contains__(self, member: object) -> bool:
        return isinstance(member, IntEnum) and super().__contains__((type(member), member))


LABELS: dict[IntEnum, str] = _Labels()


def _registry(kind: str, table: list[tuple[IntEnum, str, tuple[str, ...]]]) -> Registry[IntEnum]:
    reg: Registry[IntEnum] = Registry(kind)
    for member, name, aliases in table:
        reg.register(name, member, aliases=aliases)
        LABELS[member] = name
    return reg


NETWORK_KINDS = _registry(
    "network kind",
    [(NetworkKind.FEED_FORWARD, "FeedForward", ()), (NetworkKind.AUTO_ENCODER, "AutoEncoder", ())],
)
LAYER_KINDS = _registry(
    "layer kind",
    [
        (LayerKind.INPUT, "Input", ()),
        (LayerKind.HIDDEN, "Hidden", ()),
        (LayerKind.OUTPUT, "Output", ()),
        (LayerKind.TARGET, "Target", ()),
    ],
)
LAYER_TYPES = _registry(
    "layer type",
    [
        (LayerType.FULLY_CONNECTED, "FullyConnected", ()),
        (LayerType.CONVOLUTIONAL, "Convolutional", ()),
        (LayerType.POOLING, "Pooling", ()),
    ],
)
ACTIVATIONS = _registry(
    "activation",
    [
        (Activation.SIGMOID, "Sigmoid", ()),
        (Activation.TANH, "Tanh", ()),
        (Activation.RELU, "RectifiedLinear", ("ReLU",)),
        (Activation.LINEAR, "Linear", ()),
        (Activation.SOFTPLUS, "SoftPlus", ()),
        (Activation.SOFTSIGN, "SoftSign", ()),
        (Activation.SOFTMAX, "SoftMax", ()),
        (Activation.RELUMAX, "RELUMax", ()),
        (Activation.LINEARMAX, "LinearMax", ()),
        (Activation.ELU, "ExponentialLinear", ("ELU",)),
        (Activation.LRELU, "LeakyRectifiedLinear", ("LRelu",)),
        (Activation.SELU, "ScaledExponentialLinear", ("SELU",)),
    ],
)
ERROR_FUNCTIONS = _registry(
    "error function",
    [
        (ErrorFunction.L1, "L1", ()),
        (ErrorFunction.L2, "L2", ()),
        (ErrorFunction.CROSS_ENTROPY, "CrossEntropy", ("Cross Entropy",)),
        (ErrorFunction.SCALED_MARGINAL_CROSS_ENTROPY, "ScaledMarginalCrossEntropy", ()),
        (ErrorFunction.DATA_SCALED_MARGINAL_CROSS_ENTROPY, "DataScaledMarginalCrossEntropy", ()),
        (ErrorFunction.HINGE, "Hinge", ()),
        (ErrorFunction.L2_HINGE, "L2Hinge", ()),
    ],
)
WEIGHT_INITS = _registry(
    "weight init scheme",
    [
        (WeightInitScheme.XAVIER, "Xavier", ()),
        (WeightInitScheme.CAFFE_XAVIER, "CaffeXavier", ()),
        (WeightInitScheme.GAUSSIAN, "Gaussian", ()),
        (WeightInitScheme.UNIFORM, "Uniform", ()),
        (WeightInitScheme.UNIT_BALL, "UnitBall", ()),
        (WeightInitScheme.CONSTANT, "Constant", ()),
        (WeightInitScheme.SELU, "SELU", ()),
    ],
)
POOLING_FUNCTIONS = _registry(
    "pooling function",
    [
        (PoolingFunction.MAX, "Max", ()),
        (PoolingFunction.MAXOUT, "Maxout", ()),
        (PoolingFunction.DOT_PRODUCT, "DotProduct", ()),
        (PoolingFunction.COSINE, "Cosine", ()),
        (PoolingFunction.AVERAGE, "Average", ()),
        (PoolingFunction.LRN, "LRN", ("LocalResponseNormalization",)),
    ],
)
OPTIMIZERS = _registry(
    "optimizer",
    [
        (Optimizer.SGD, "SGD", ()),
        (Optimizer.MOMENTUM, "Momentum", ()),
        (Optimizer.ADAGRAD, "AdaGrad", ()),
        (Optimizer.NESTEROV, "Nesterov", ()),
        (Optimizer.RMSPROP, "RMSProp", ()),
        (Optimizer.ADADELTA, "AdaDelta", ()),
        (Optimizer.ADAM, "Adam", ()),
    ],
)


def label(member: IntEnum) -> str:
    """The spelling Lamina writes for an enum member (e.g. ``Activation.RELU`` ->
    ``"RectifiedLinear"``)."""
    return LABELS[member]
