"""Ranking metrics on validation data for autoencoder-style networks (sparse input and target).

For each validation example the output scores are ranked with the example's input items removed
(they are known; recommending them is trivial), and the target items not in the input are the
relevant set R. ``recall@20 = hits@20 / min(20, |R|)`` and ``ndcg@10`` (IDCG over ``min(10, |R|)``
hits), averaged over examples with ``|R| >= 1``: the definitions of ``lamina.predict.metrics``
(which ``lamina.train`` may not import). When every target item is also an input item (plain
reconstruction) no example qualifies and no metric is reported.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lamina.config.enums import LayerKind
from lamina.nn import Network, NetworkOutputs
from lamina.train.data import Column, TrainingData

__all__ = ["RankingAccumulator"]

RECALL_K, NDCG_K = 20, 10


def _rows(col: Column, ids: np.ndarray) -> list[np.ndarray]:
    assert col.offsets is not None and col.indices is not None
    return [col.indices[col.offsets[i] : col.offsets[i + 1]] for i in ids]


class RankingAccumulator:
    """Accumulates recall@20 and NDCG@10 over validation minibatches."""

    def __init__(self, output: str, inputs: Column, targets: Column) -> None:
        self.output, self.inputs, self.targets = output, inputs, targets
        self.recall = self.ndcg = 0.0
        self.users = 0
        self._discount = 1.0 / np.log2(np.arange(2, NDCG_K + 2))

    @classmethod
    def for_network(cls, network: Network, data: TrainingData) -> RankingAccumulator | None:
        """An accumulator if the network has one Output layer with a sparse target and one Input
        layer with sparse data of the same width; else None."""
        cfg = network.config
        outs = [lay for lay in cfg.layers if lay.kind == LayerKind.OUTPUT]
        ins = [lay for lay in cfg.layers if lay.kind == LayerKind.INPUT]
        if len(outs) != 1 or len(ins) != 1:
            return None
        target, source = (
            data.columns.get(str(outs[0].dataset)),
            data.columns.get(str(ins[0].dataset)),
        )
        if target is None or source is None or not (target.sparse and source.sparse):
            return None
        if target.stride != source.stride:
            return None
        return cls(outs[0].name, source, target)

    def add(self, ids: np.ndarray, out: NetworkOutputs) -> None:
        """Score one minibatch of examples ``ids`` (B,) with its forward outputs."""
        scores = out.activations[self.output].reshape(len(ids), -1).detach().float().cpu().clone()
        width = min(scores.shape[1], self.targets.stride)
        scores = scores[:, :width]
        seen, wanted = _rows(self.inputs, ids), _rows(self.targets, ids)
        for b, items in enumerate(seen):
            scores[b, torch.from_numpy(items[items < width])] = -math.inf
        k = min(RECALL_K, width)
        top = torch.topk(scores, k, dim=1).indices.numpy()  # (B, k)
        for b in range(len(ids)):
            relevant = np.setdiff1d(wanted[b], seen[b])
            if relevant.size == 0:
                continue
            hits = np.isin(top[b], relevant)  # (k,)
            self.recall += hits[:RECALL_K].sum() / min(RECALL_K, relevant.size)
            n = min(NDCG_K, k)
            dcg = float((hits[:n] * self._discount[:n]).sum())
            idcg = float(self._discount[: min(NDCG_K, relevant.size)].sum())
            self.ndcg += dcg / idcg
            self.users += 1

    def result(self) -> dict[str, float]:
        """``{"recall@20": ..., "ndcg@10": ...}``, or ``{}`` if no example had relevant items."""
        if self.users == 0:
            return {}
        return {
            f"recall@{RECALL_K}": float(self.recall / self.users),
            f"ndcg@{NDCG_K}": float(self.ndcg / self.users),
        }
