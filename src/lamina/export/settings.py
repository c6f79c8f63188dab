"""Export settings: one frozen value object with a JSON form, validated in its constructor.

The settings travel into the exported file (``lamina.quantization`` metadata), so a served model
says how it was made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from lamina.errors import UsageError, did_you_mean

__all__ = ["INPUT_FORMS", "INT8_MODES", "TASKS", "WEIGHT_TYPES", "ExportSettings"]

INT8_MODES = ("none", "dynamic", "static")
WEIGHT_TYPES = ("qint8", "quint8")
TASKS = ("auto", "ranking", "classification")
INPUT_FORMS = ("sparse", "dense")  # as lamina.export.onnx_graph.INPUT_FORMS (no onnx import here)


@dataclass(frozen=True)
class ExportSettings:
    """How to export, quantize and verify a network.

    Attributes:
        int8: ``none`` (fp32 ONNX), ``dynamic`` (weights int8, activations quantized per batch at
            run time) or ``static`` (activations quantized with ranges from calibration data, QDQ).
        weight_type: int8 weight encoding for dynamic quantization. ``qint8`` by default: with
            per-channel scales it kept top-10 agreement >= 0.99 on every trained autoencoder we
            measured and runs 2-3x faster than ``quint8`` on CPUs with VNNI
            (benchmarks/README.md). On CPUs without VNNI, u8 x s8 products can saturate; if the
            verification fails there, ``quint8`` is the fallback.
        per_channel: one scale per output unit / channel (default) instead of one per tensor.
        task: ``ranking`` (top-k agreement is the bound), ``classification`` (accuracy drop is
            the bound), or ``auto``: classification when the scored layer is SoftMax.
        topk: k of the top-k agreement.
        max_topk_disagreement: fail when ``1 - agreement`` exceeds this (ranking).
        max_accuracy_drop: fail when fp32 accuracy minus int8 accuracy exceeds this many points
            (classification).
        verify_rows: rows of the data used for verification (the first ones).
        calibration_rows: rows of the calibration data used for static quantization.
        output_layers: layers exported as graph outputs (empty: the network's Output layers).
        input_form: ``sparse`` (default): Input layers marked ``Sparse`` take padded
            ``indices_<layer>``/``values_<layer>`` (their first layer is a Gather of weight
            rows, as torch's ``embedding_bag``), the others ``dense_<layer>``; ``dense``: every
            Input layer takes ``dense_<layer>`` (B, units).
    """

    int8: str = "none"
    weight_type: str = "qint8"  # fast s8 kernels; verification guards its accuracy
    per_channel: bool = True  # per-tensor scales lost top-10 agreement on filtered recs (0.990)
    task: str = "auto"
    topk: int = 10
    max_topk_disagreement: float = 0.01  # issue default: top-10 agreement >= 0.99
    max_accuracy_drop: float = 0.5  # percentage points
    verify_rows: int = 1000
    calibration_rows: int = 512
    output_layers: tuple[str, ...] = ()
    input_form: str = "sparse"

    def __post_init__(self) -> None:
        for name, allowed in (
            ("int8", INT8_MODES),
            ("weight_type", WEIGHT_TYPES),
            ("task", TASKS),
            ("input_form", INPUT_FORMS),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise UsageError(
                    f"export setting {name} must be one of {list(allowed)}. Got {value!r}."
                    + did_you_mean(str(value), allowed)
                )
        for name in ("topk", "verify_rows", "calibration_rows"):
            if int(getattr(self, name)) < 1:
                raise UsageError(f"export setting {name} must be >= 1. Got {getattr(self, name)}.")
        if not 0.0 <= self.max_topk_disagreement <= 1.0:
            raise UsageError(
                "export setting max_topk_disagreement must be in [0, 1]. "
                f"Got {self.max_topk_disagreement}."
            )
        if not 0.0 <= self.max_accuracy_drop <= 100.0:
            raise UsageError(
                "export setting max_accuracy_drop must be in [0, 100] (points). "
                f"Got {self.max_accuracy_drop}."
            )
        object.__setattr__(self, "output_layers", tuple(self.output_layers))

    @property
    def quantized(self) -> bool:
        """True when the export produces an int8 model."""
        return self.int8 != "none"

    def to_dict(self) -> dict[str, Any]:
        """JSON-native form; ``from_dict(to_dict(s)) == s``."""
        out = asdict(self)
        out["output_layers"] = list(self.output_layers)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExportSettings:
        """Inverse of :meth:`to_dict`.

        Raises:
            UsageError: an unknown key or a bad value.
        """
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                raise UsageError(
                    f"export settings keys must be in {known}. Got {key!r}."
                    + did_you_mean(key, known)
                )
        values = dict(data)
        if "output_layers" in values:
            values["output_layers"] = tuple(values["output_layers"])
        return cls(**values)
