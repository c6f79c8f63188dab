"""The key tables of DSSTNE's network language (spec sections 1.2-1.3, ``NNNetwork.cpp``
``LoadNeuralNetworkJSON``) plus Lamina's ``TrainingParameters`` block.

Parser, ``to_dict`` and ``json_schema`` all read these tables; nothing else lists the keys. Ranges
not
checked by DSSTNE's JSON reader come from its setters (``NNNetwork::SetDenoising``, ``SetSMCE``,
...).
"""

from __future__ import annotations

from typing import Any

from lamina.config.blocks import Block, BlockList, Key, KeyTable
from lamina.config.enums import (
    ACTIVATIONS,
    ERROR_FUNCTIONS,
    LAYER_KINDS,
    LAYER_TYPES,
    NETWORK_KINDS,
    OPTIMIZERS,
    POOLING_FUNCTIONS,
    WEIGHT_INITS,
    LayerKind,
    label,
)
from lamina.config.model import (
    LRN,
    SMCE,
    DeltaBoost,
    Denoising,
    MaxOut,
    SharedWeights,
    SparsenessPenalty,
    TrainingParameters,
    WeightInit,
)
from lamina.config.values import (
    Boolean,
    Dims,
    Enum,
    Integer,
    Names,
    Number,
    String,
    ValueType,
)

__all__ = [
    "DELTA_BOOST",
    "DENOISING",
    "KIND_KEYS",
    "LAYER_KEYS",
    "LRN_BLOCK",
    "MAXOUT",
    "NN_VERSION",
    "SHARED_WEIGHTS",
    "SMCE_BLOCK",
    "SPARSENESS_PENALTY",
    "TOP_KEYS",
    "TRAINING_PARAMETERS",
    "WEIGHT_INIT",
    "LayerList",
]

NN_VERSION = 0.9  # DSSTNE's NN_VERSION at HEAD: the version a config without "Version" gets
MIN_VERSION = 0.7  # "version %f (must be at least 0.7)"; DSSTNE compares against 0.6999

_ANY = Number()
_NON_NEGATIVE = Number(minimum=0.0)
_UNIT = Number(minimum=0.0, maximum=1.0)
_PROBABILITY = Number(minimum=0.0, maximum=1.0, exclusive_maximum=True)

LRN_BLOCK = Block(
    KeyTable(
        "LocalResponseNormalization",
        [
            Key("k", "k", _ANY),
            Key("n", "n", Integer(minimum=1)),
            Key("alpha", "alpha", _ANY),
            Key("beta", "beta", _ANY),
        ],
    ),
    LRN,
)
MAXOUT = Block(KeyTable("MaxOut", [Key("k", "k", Integer(minimum=1))]), MaxOut)
SPARSENESS_PENALTY = Block(
    KeyTable("SparsenessPenalty", [Key("p", "p", _UNIT), Key("beta", "beta", _NON_NEGATIVE)]),
    SparsenessPenalty,
)
DENOISING = Block(KeyTable("Denoising", [Key("p", "p", _PROBABILITY)]), Denoising)
DELTA_BOOST = Block(
    KeyTable("DeltaBoost", [Key("one", "one", _NON_NEGATIVE), Key("zero", "zero", _NON_NEGATIVE)]),
    DeltaBoost,
)
SMCE_BLOCK = Block(
    KeyTable(
        "ScaledMarginalCrossEntropy",
        [
            Key("oneTarget", "one_target", _UNIT),
            Key("zeroTarget", "zero_target", _UNIT),
            Key("oneScale", "one_scale", _NON_NEGATIVE),
            Key("zeroScale", "zero_scale", _NON_NEGATIVE),
        ],
    ),
    SMCE,
)
WEIGHT_INIT = Block(
    KeyTable(
        "WeightInit",
        [
            Key("Scheme", "scheme", Enum(WEIGHT_INITS)),
            Key("Scale", "scale", _ANY),
            Key("Bias", "bias", _ANY),
        ],
    ),
    WeightInit,
)
SHARED_WEIGHTS = Block(
    KeyTable(
        "SharedWeights",
        [
            Key("InputLayer", "input_layer", String(), required=True),
            Key("SourceInputLayer", "source_input_layer", String(), required=True),
            Key("SourceOutputLayer", "source_output_layer", String(), required=True),
            Key("Transposed", "transposed", Boolean()),
        ],
    ),
    SharedWeights,
)
TRAINING_PARAMETERS = Block(
    KeyTable(
        "TrainingParameters",
        [
            Key("Optimizer", "optimizer", Enum(OPTIMIZERS)),
            Key("Alpha", "alpha", Number(minimum=0.0, exclusive_minimum=True)),
            Key("Lambda", "lambda_l2", _NON_NEGATIVE),
            Key("Lambda1", "lambda_l1", _NON_NEGATIVE),
            Key("Mu", "mu", _PROBABILITY),
            Key("Mu1", "mu1", _PROBABILITY),
            Key("Batch", "batch", Integer(minimum=1)),
            Key("Epochs", "epochs", Integer(minimum=1)),
            Key("Decay", "decay", _NON_NEGATIVE),
            Key("CheckpointInterval", "checkpoint_interval", Integer(minimum=0)),
        ],
    ),
    TrainingParameters,
)

LAYER_KEYS = KeyTable(
    "layer",
    [
        Key("Name", "name", String()),
        Key("Kind", "kind", Enum(LAYER_KINDS)),
        Key("Type", "type", Enum(LAYER_TYPES)),
        Key("N", "n", Dims(4, allow_auto=True)),
        Key("Sparse", "sparse", Boolean()),
        Key("pDropout", "p_dropout", _PROBABILITY),
        Key("DataSet", "dataset", String()),
        Key("Source", "sources", Names()),
        Key("Skip", "skips", Names(allow_empty=True)),
        Key("Kernel", "kernel", Dims(3)),
        Key("KernelStride", "kernel_stride", Dims(3)),
        Key("BatchNormalization", "batch_normalization", Boolean()),
        Key("SparsenessPenalty", "sparseness_penalty", SPARSENESS_PENALTY),
        Key("Function", "pooling_function", Enum(POOLING_FUNCTIONS)),
        Key("Activation", "activation", Enum(ACTIVATIONS)),
        Key("RELUSlope", "relu_slope", _ANY, aliases=("Slope",)),
        Key("ELUAlpha", "elu_alpha", _ANY),
        Key("SELULambda", "selu_lambda", _ANY),
        Key("WeightNorm", "weight_norm", _NON_NEGATIVE),
        Key("DeltaNorm", "delta_norm", _NON_NEGATIVE),
        Key("WeightInit", "weight_init", WEIGHT_INIT),
        Key("SharedWeights", "shared_weights", BlockList(SHARED_WEIGHTS)),
    ],
)

_COMMON = ("Name", "Kind", "Type", "N", "Sparse", "pDropout")
_NON_INPUT = ("Source", "Kernel", "KernelStride")
_TRAINABLE = (
    "Function",
    "Skip",
    "Activation",
    "RELUSlope",
    "ELUAlpha",
    "SELULambda",
    "WeightNorm",
    "DeltaNorm",
    "WeightInit",
    "SharedWeights",
)

# Keys each layer Kind accepts, exactly as LoadNeuralNetworkJSON's branches read them. Function is
# further restricted to Type Pooling (checked by the loader).
KIND_KEYS: dict[LayerKind, frozenset[str]] = {
    LayerKind.INPUT: frozenset((*_COMMON, "DataSet")),
    LayerKind.HIDDEN: frozenset(
        (*_COMMON, *_NON_INPUT, "BatchNormalization", "SparsenessPenalty", *_TRAINABLE)
    ),
    LayerKind.OUTPUT: frozenset((*_COMMON, *_NON_INPUT, *_TRAINABLE, "DataSet")),
    LayerKind.TARGET: frozenset((*_COMMON, *_NON_INPUT)),
}


class LayerList(ValueType):
    """``"Layers"``: an array of layer objects, or a single layer object (DSSTNE accepts both).

    Parsing needs the whole network (defaults by position, inherited values), so the loader does it;
    this type describes the value for ``to_dict`` and the schema.
    """

    def parse(self, value: Any, path: str) -> Any:  # pragma: no cover - the loader parses Layers
        raise NotImplementedError("Layers are parsed by lamina.config.loader")

    def schema(self) -> dict[str, Any]:
        props = {s: k.type.schema() for k in LAYER_KEYS for s in k.spellings}
        rules = []
        for kind, allowed in KIND_KEYS.items():
            names = sorted(s for k in LAYER_KEYS if k.name in allowed for s in k.spellings)
            rules.append(
                {
                    "if": {"properties": {"Kind": {"const": label(kind)}}, "required": ["Kind"]},
                    "then": {"propertyNames": {"enum": names}},
                }
            )
        layer = {
            "type": "object",
            "title": "layer",
            "properties": props,
            "additionalProperties": False,
            "allOf": rules,
        }
        return {"anyOf": [{"type": "array", "items": layer, "minItems": 1}, layer]}


TOP_KEYS = KeyTable(
    "network",
    [
        Key("Version", "version", _ANY),
        Key("Name", "name", String()),
        Key("Kind", "kind", Enum(NETWORK_KINDS)),
        Key("WeightsData", "weights_data", String()),
        Key("LocalResponseNormalization", "lrn", LRN_BLOCK, aliases=("LRN",)),
        Key("MaxOut", "maxout", MAXOUT),
        Key("SparsenessPenalty", "sparseness_penalty", SPARSENESS_PENALTY),
        Key("Denoising", "denoising", DENOISING),
        Key("DeltaBoost", "delta_boost", DELTA_BOOST),
        Key(
            "ScaledMarginalCrossEntropy",
            "smce",
            SMCE_BLOCK,
            aliases=("DataScaledMarginalCrossEntropy",),
        ),
        Key("ShuffleIndices", "shuffle_indices", Boolean()),
        Key("RELUSlope", "relu_slope", _ANY, aliases=("Slope",)),
        Key("ELUAlpha", "elu_alpha", _ANY),
        Key("SELULambda", "selu_lambda", _ANY),
        Key("Decay", "decay", _NON_NEGATIVE),
        Key("ErrorFunction", "error_function", Enum(ERROR_FUNCTIONS)),
        Key("Layers", "layers", LayerList(), required=True),
        Key("TrainingParameters", "training", TRAINING_PARAMETERS),
    ],
)
