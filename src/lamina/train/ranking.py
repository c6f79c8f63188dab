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


def _rows(x: SparseBatch | torch.Tensor) -> list[np.ndarray]:
    """The column indices of each row of a sparse minibatch."""
    assert isinstance(x, SparseBatch)
    indices, offsets = x.indices.cpu().numpy(), x.offsets.cpu().numpy()
    return [indices[offsets[i] : offsets[i + 1]] for i in range(offsets.size - 1)]


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
        """Score one minibatch with its forward outputs."""
        size = batch.size
        scores = out.activations[self.output].reshape(size, -1).detach().float().cpu().clone()
        width = min(scores.shape[1], self.width)
        scores = scores[:, :width]
        seen, wanted = _rows(batch[self.inputs]), _rows(batch[self.targets])
        for b, items in enumerate(seen):
            scores[b, torch.from_numpy(items[items < width])] = -math.inf
        k = min(RECALL_K, width)
        top = torch.topk(scores, k, dim=1).indices.numpy()  # (B, k)
        for b in range(size):
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
