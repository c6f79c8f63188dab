"""Denoising (spec 2.2): one draw per stored non-zero per epoch, keep iff r >= p, scale 1/(1-p)."""

from __future__ import annotations

import pytest
import torch

from lamina.data.batch import SparseBatch
from lamina.errors import ConfigError
from lamina.train.denoising import DenoisingMask


def batch_of(rows: list[list[int]], *, values: bool = False) -> SparseBatch:
    indices = torch.tensor([c for r in rows for c in r], dtype=torch.int64)
    offsets = torch.tensor([0] + [len(r) for r in rows]).cumsum(0)
    vals = torch.arange(1, indices.numel() + 1, dtype=torch.float32) if values else None
    return SparseBatch(indices, offsets, vals, width=1000)


ROW_A = list(range(0, 400, 2))  # 200 non-zeros
ROW_B = list(range(1, 300, 3))  # 100 non-zeros


def test_same_epoch_same_mask_whatever_the_minibatch() -> None:
    mask = DenoisingMask(p=0.3, seed=11)
    alone = mask.keep(batch_of([ROW_A]), epoch=4, example_ids=torch.tensor([7]))
    together = mask.keep(batch_of([ROW_B, ROW_A]), epoch=4, example_ids=torch.tensor([3, 7]))
    assert torch.equal(alone, together[len(ROW_B) :])
    again = mask.keep(batch_of([ROW_A]), epoch=4, example_ids=torch.tensor([7]))
    assert torch.equal(alone, again)


def test_new_epoch_new_mask_and_seed_matters() -> None:
    mask = DenoisingMask(p=0.3, seed=11)
    b = batch_of([ROW_A])
    e0 = mask.keep(b, epoch=0, example_ids=torch.tensor([7]))
    e1 = mask.keep(b, epoch=1, example_ids=torch.tensor([7]))
    other_seed = DenoisingMask(p=0.3, seed=12).keep(b, epoch=0, example_ids=torch.tensor([7]))
    other_row = mask.keep(b, epoch=0, example_ids=torch.tensor([8]))
    for other in (e1, other_seed, other_row):
        assert not torch.equal(e0, other)


def test_kept_fraction_is_one_minus_p() -> None:
    rows = [list(range(100))] * 400  # 40,000 non-zeros
    keep = DenoisingMask(p=0.2, seed=0).keep(batch_of(rows), epoch=3, example_ids=torch.arange(400))
    assert keep.double().mean().item() == pytest.approx(0.8, abs=0.01)


def test_apply_drops_and_scales() -> None:
    mask = DenoisingMask(p=0.5, seed=5)
    ids = torch.tensor([0, 1, 2])
    for values in (False, True):
        b = batch_of([ROW_A, [], ROW_B], values=values)
        keep = mask.keep(b, epoch=2, example_ids=ids)
        out = mask.apply(b, epoch=2, example_ids=ids)
        assert torch.equal(out.indices, b.indices[keep])
        expected = (b.values[keep] if values else torch.ones(int(keep.sum()))) * 2.0
        torch.testing.assert_close(out.values, expected)
        counts = out.offsets[1:] - out.offsets[:-1]
        assert counts.tolist() == [int(keep[:200].sum()), 0, int(keep[200:].sum())]
        assert out.width == b.width


def test_p_zero_is_identity_and_bad_p_rejected() -> None:
    b = batch_of([ROW_A])
    assert DenoisingMask(p=0.0).apply(b, epoch=0, example_ids=torch.tensor([0])) is b
    for p in (-0.1, 1.0):
        with pytest.raises(ConfigError, match=r"\[0, 1\)"):
            DenoisingMask(p=p)
