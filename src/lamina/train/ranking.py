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
from collections.abc import Mapping

import numpy as np
import torch

from lamina.config.enums import LayerKind
from lamina.data.batch import SparseBatch
from lamina.data.batches import Batch
from lamina.data.nc_read import DatasetFile
from lamina.nn import Network, NetworkOutputs

__all__ = ["RankingAccumulator"]

RECALL_K, NDCG_K = 20, 10


def _mask(x: SparseBatch | torch.Tensor, width: int) -> torch.Tensor:
    """(B, width) bool: True at the columns a sparse minibatch row lists (columns past ``width``
    dropped)."""
    assert isinstance(x, SparseBatch)
    indices, offsets = x.indices.cpu(), x.offsets.cpu()
    rows = torch.repeat_interleave(torch.arange(offsets.numel() - 1), offsets.diff())
    keep = indices < width
    mask = torch.zeros(offsets.numel() - 1, width, dtype=torch.bool)
    mask[rows[keep], indices[keep]] = True
    return mask


class RankingAccumulator:
    """Accumulates recall@20 and NDCG@10 over validation minibatches.

    Args:
        output: the Output layer's name.
        inputs: the Input layer's (sparse) dataset name.
        targets: the Output layer's (sparse) dataset name.
        width: the target dataset's width.
    """

    def __init__(self, output: str, inputs: str, targets: str, width: int) -> None:
        self.output, self.inputs, self.targets, self.width = output, inputs, targets, width
        self.recall = self.ndcg = 0.0
        self.users = 0
        self._discount = 1.0 / np.log2(np.arange(2, NDCG_K + 2))

    @classmethod
    def for_network(
        cls, network: Network, datasets: Mapping[str, DatasetFile]
    ) -> RankingAccumulator | None:
        """An accumulator if the network has one Output layer with a sparse target and one Input
        layer with sparse data of the same width; else None."""
        cfg = network.config
        outs = [lay for lay in cfg.layers if lay.kind == LayerKind.OUTPUT]
        ins = [lay for lay in cfg.layers if lay.kind == LayerKind.INPUT]
        if len(outs) != 1 or len(ins) != 1:
            return None
        target, source = (
            datasets.get(str(outs[0].dataset)),
            datasets.get(str(ins[0].dataset)),
        )
        if target is None or source is None or not (target.is_sparse and source.is_sparse):
            return None
        if target.stride != source.stride:
            return None
        return cls(outs[0].name, str(ins[0].dataset), str(outs[0].dataset), target.stride)

    def add(self, batch: Batch, out: NetworkOutputs) -> None:
        """Score one minibatch with its forward outputs (vectorized over its rows)."""
        size = batch.size
        scores = out.activations[self.output].reshape(size, -1).detach().float().cpu()
        width = min(scores.shape[1], self.width)
        seen = _mask(batch[self.inputs], width)  # (B, width)
        relevant = _mask(batch[self.targets], width) & ~seen  # (B, width)
        scores = scores[:, :width].masked_fill(seen, -math.inf)
        k = min(RECALL_K, width)
        top = torch.topk(scores, k, dim=1).indices  # (B, k)
        hits = relevant.gather(1, top).double()  # (B, k)
        counts = relevant.sum(dim=1)  # (B,)
        users = counts > 0
        if not bool(users.any()):
            return
        hits, counts = hits[users], counts[users].double()
        discount = torch.from_numpy(self._discount)
        n = min(NDCG_K, k)
        recall = hits[:, :RECALL_K].sum(dim=1) / counts.clamp(max=RECALL_K)
        ideal = torch.cumsum(discount, 0)[(counts.clamp(max=NDCG_K) - 1).long()]
        ndcg = (hits[:, :n] * discount[:n]).sum(dim=1) / ideal
        self.recall += float(recall.sum())
        self.ndcg += float(ndcg.sum())
        self.users += int(users.sum())

    def result(self) -> dict[str, float]:
        """``{"recall@20": ..., "ndcg@10": ...}``, or ``{}`` if no example had relevant items."""
        if self.users == 0:
            return {}
        return {
            f"recall@{RECALL_K}": float(self.recall / self.users),
            f"ndcg@{NDCG_K}": float(self.ndcg / self.users),
        }
