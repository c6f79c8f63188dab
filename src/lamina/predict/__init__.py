"""Prediction: top-k recommendations with DSSTNE's filters, its recommendation files, and metrics.

The modules re-exported here use numpy only (no torch): the trainer passes torch tensors through
``np.asarray``, the ONNX Runtime path passes numpy arrays.
"""

from __future__ import annotations

from lamina.predict.filters import FilterStats, SampleFilters, load_filters
from lamina.predict.metrics import (
    evaluate_rankings,
    hit_matrix,
    most_popular_items,
    ndcg_at_k,
    popularity_scores,
    popularity_top_k,
    precision_at_k,
    recall_at_k,
)
from lamina.predict.recs import Csr, as_csr, labels_by_column, top_k
from lamina.predict.recs_file import RecsWriter, format_recs_line, parse_recs_line, printf_format

__all__ = [
    "Csr",
    "FilterStats",
    "RecsWriter",
    "SampleFilters",
    "as_csr",
    "evaluate_rankings",
    "format_recs_line",
    "hit_matrix",
    "labels_by_column",
    "load_filters",
    "most_popular_items",
    "ndcg_at_k",
    "parse_recs_line",
    "popularity_scores",
    "popularity_top_k",
    "precision_at_k",
    "printf_format",
    "recall_at_k",
    "top_k",
]
