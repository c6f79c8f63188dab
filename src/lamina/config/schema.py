"""``json_schema()``: a JSON Schema (draft 2020-12) of DSSTNE's network language with Lamina's
``TrainingParameters``, generated from the parser's key tables and registries.

JSON Schema cannot say "case-insensitive": the schema lists the canonical spellings of keys and enum
values (and DSSTNE's aliases), while the parser also accepts any other letter case. Cross-field
rules
(sources exist, no cycles, ``"auto"`` only with a DataSet, ...) are checked by the loader only.
"""

from __future__ import annotations

from typing import Any

from lamina.config.blocks import Block
from lamina.config.keys import TOP_KEYS
from lamina.config.model import NetworkConfig

__all__ = ["SCHEMA_ID", "json_schema"]

SCHEMA_ID = "https://lamina.invalid/schemas/network.schema.json"


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema of a network config.

    Example:
        >>> s = json_schema()
        >>> s["$schema"], "Layers" in s["required"]
        ('https://json-schema.org/draft/2020-12/schema', True)
    """
    body = Block(TOP_KEYS, NetworkConfig).schema()
    body["title"] = "DSSTNE network definition (Lamina)"
    body["description"] = (
        "DSSTNE's JSON network language plus Lamina's TrainingParameters block. Keys and enum "
        "values are case-insensitive in the parser; this schema lists their canonical spellings."
    )
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **body}
