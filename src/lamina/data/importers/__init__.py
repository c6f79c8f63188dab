"""Importers: rating and interaction tables -> DSSTNE text (``sample<TAB>feature[,value]:...``).

``import_movielens`` reads every MovieLens layout (u.data, ratings.dat, ratings.csv, one user per
line); ``import_csv`` reads any delimited (sample, feature[, value]) table; ``import_libsvm`` reads
LibSVM files into a feature file and a label file. The first two group records by
sample with numpy (memory ~ a few arrays per interaction; the input need not be sorted), write
atomically, and report bad input as ``FILE:LINE: expected ..., found ...``.
"""

from __future__ import annotations

from lamina.data.importers.generic import import_csv, parse_delimiter
from lamina.data.importers.interactions import (
    DUPLICATE_POLICIES,
    DuplicatePolicy,
    ImportSummary,
    Interactions,
)
from lamina.data.importers.libsvm import import_libsvm
from lamina.data.importers.movielens import (
    MOVIELENS_FORMATS,
    MovieLensData,
    ValuesMode,
    detect_movielens_format,
    import_movielens,
    read_movielens,
)
from lamina.data.importers.writer import write_dsstne_text

__all__ = [
    "DUPLICATE_POLICIES",
    "MOVIELENS_FORMATS",
    "DuplicatePolicy",
    "ImportSummary",
    "Interactions",
    "MovieLensData",
    "ValuesMode",
    "detect_movielens_format",
    "import_csv",
    "import_libsvm",
    "import_movielens",
    "parse_delimiter",
    "read_movielens",
    "write_dsstne_text",
]
