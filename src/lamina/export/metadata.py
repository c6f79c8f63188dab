"""What an exported ``.onnx`` file says about itself: ONNX ``metadata_props``, JSON values.

Keys (all prefixed ``lamina.``):

* ``lamina.format`` -- version of this layout (``1``);
* ``lamina.version`` -- the Lamina release that exported the file;
* ``lamina.config`` -- the resolved network config (``lamina.config.to_dict``), so ``predict``
  finds input and scoring layers exactly as with the ``.nc`` file;
* ``lamina.inputs`` -- Input layer -> ``{"onnx": name, "units": n, "dataset": name, "form": f,
  "values": name}``: form ``dense`` takes ``onnx`` = ``dense_<layer>`` (B, units) float32; form
  ``sparse`` takes ``onnx`` = ``indices_<layer>`` (B, L) int64 and ``values`` = ``values_<layer>``
  (B, L) float32 (files without ``form`` are dense);
* ``lamina.outputs`` -- exported layer -> ``{"onnx": "<layer>", "units": n}``;
* ``lamina.output_layer`` -- the layer ``predict`` ranks by default;
* ``lamina.index_checksums`` -- feature index file -> sha256 (from the training state, may be
  empty);
* ``lamina.data_attributes`` -- dataset -> DSSTNE attribute bits of the training data (decides
  ``predict -t auto``);
* ``lamina.quantization`` -- :class:`~lamina.export.settings.ExportSettings` as JSON;
* ``lamina.verification`` -- the :class:`~lamina.export.verify.VerifyReport` of the export.

numpy-free and torch-free: the runtime reads it without importing torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lamina.errors import CheckpointError

__all__ = ["METADATA_FORMAT", "ExportMetadata", "LayerPort"]

METADATA_FORMAT = 1
_PREFIX = "lamina."


@dataclass(frozen=True)
class LayerPort:
    """One graph input or output.

    Attributes:
        onnx: the ONNX value name.
        units: values per example (the layer's stride).
        dataset: the layer's ``DataSet`` (inputs; ``""`` when unset).
        form: ``dense`` or ``sparse`` (inputs; see :mod:`lamina.export.onnx_graph`).
        values: the ONNX name of the values input of the sparse form (``onnx`` names its
            indices); ``""`` for the dense form.
    """

    onnx: str
    units: int
    dataset: str = ""
    form: str = "dense"
    values: str = ""


@dataclass(frozen=True)
class ExportMetadata:
    """The ``lamina.*`` metadata of an exported model (see the module docstring for the keys)."""

    lamina_version: str
    config: dict[str, Any]
    inputs: dict[str, LayerPort]
    outputs: dict[str, LayerPort]
    output_layer: str
    index_checksums: dict[str, str] = field(default_factory=dict)
    data_attributes: dict[str, int] = field(default_factory=dict)
    quantization: dict[str, Any] = field(default_factory=dict)
    verification: dict[str, Any] = field(default_factory=dict)
    format: int = METADATA_FORMAT

    def to_props(self) -> dict[str, str]:
        """``metadata_props`` entries: key -> JSON text."""
        ports = {
            "inputs": {k: vars(v) for k, v in self.inputs.items()},
            "outputs": {k: {"onnx": v.onnx, "units": v.units} for k, v in self.outputs.items()},
        }
        values: dict[str, Any] = {
            "format": self.format,
            "version": self.lamina_version,
            "config": self.config,
            **ports,
            "output_layer": self.output_layer,
            "index_checksums": self.index_checksums,
            "data_attributes": self.data_attributes,
            "quantization": self.quantization,
            "verification": self.verification,
        }
        return {_PREFIX + k: json.dumps(v, sort_keys=True) for k, v in values.items()}

    @classmethod
    def from_props(cls, props: Mapping[str, str], *, where: str = "model") -> ExportMetadata:
        """Parse ``metadata_props``.

        Raises:
            CheckpointError: a key is missing or not valid JSON (not a Lamina export).
        """
        values: dict[str, Any] = {}
        for key in ("format", "version", "config", "inputs", "outputs", "output_layer"):
            text = props.get(_PREFIX + key)
            if text is None:
                raise CheckpointError(
                    f"{where}: expected ONNX metadata {_PREFIX + key!r} (a model exported by "
                    f"'lamina export'), found keys {sorted(props)}"
                )
            values[key] = _json(text, where, key)
        if values["format"] != METADATA_FORMAT:
            raise CheckpointError(
                f"{where}: expected lamina.format {METADATA_FORMAT}, found {values['format']!r}",
                hint="re-export the network with this Lamina",
            )
        optional = {
            key: _json(props[_PREFIX + key], where, key)
            for key in ("index_checksums", "data_attributes", "quantization", "verification")
            if _PREFIX + key in props
        }
        return cls(
            lamina_version=str(values["version"]),
            config=values["config"],
            inputs={k: LayerPort(**v) for k, v in values["inputs"].items()},
            outputs={k: LayerPort(**v) for k, v in values["outputs"].items()},
            output_layer=str(values["output_layer"]),
            **optional,
        )


def _json(text: str, where: str, key: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(
            f"{where}: ONNX metadata {_PREFIX + key!r} must be JSON, found {text[:60]!r} ({exc})"
        ) from None
