"""Batches: aligned inputs and targets, every example once per epoch, seeded order, and the chunked
(larger-than-memory) path yielding the same examples as the in-memory path."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from lamina.data.batch import SparseBatch
from lamina.data.batches import Batches
from lamina.data.nc_read import read_dataset
from lamina.data.nc_write import DatasetArrays, write_datasets
from lamina.data.schema import DatasetAttributes as A
from lamina.data.schema import DataType
from lamina.errors import DataError

E = 103


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """Input row i holds column i % 128 (+ i % 7 more); target i is class i % 5, weight i."""
    rows = [[i % 128] + [(i * 3 + k) % 128 for k in range(i % 7)] for i in range(E)]
    lens = np.array([len(r) for r in rows])
    end = np.cumsum(lens)
    flat = np.array([c for r in rows for c in r], dtype=np.uint32)
    x = DatasetArrays(
        "x",
        A.SPARSE,
        DataType.FLOAT,
        128,
        sparse_start=end - lens,
        sparse_end=end,
        sparse_index=flat,
        sparse_data=np.repeat(np.arange(E, dtype=np.float32), lens),
    )
    y = DatasetArrays(
        "y",
        A.BOOLEAN | A.WEIGHTED,
        DataType.UINT,
        5,
        data=(np.arange(E) % 5).astype(np.uint32),
        weights=np.arange(E, dtype=np.float32),
    )
    write_datasets(tmp_path / "x.nc", [x])
    write_datasets(tmp_path / "y.nc", [y])
    return tmp_path / "x.nc", tmp_path / "y.nc"


def make(files, **kw) -> Batches:
    return Batches({"x": (files[0], "x"), "y": (files[1], "y")}, **kw)


def check_aligned(batch) -> None:
    x, y = batch["x"], batch["y"]
    assert isinstance(x, SparseBatch) and isinstance(y, torch.Tensor)
    ids = batch.examples
    first = x.indices[x.offsets[:-1]]
    assert torch.equal(first, ids % 128)  # input row content matches its example id
    assert torch.equal(x.values[x.offsets[:-1]], ids.float())
    assert torch.equal(y.argmax(1), ids % 5) and torch.equal(y.sum(1), torch.ones(len(ids)))
    assert torch.equal(batch.weights["y"], ids.float())


def epoch_ids(batches: Batches, epoch: int) -> list[int]:
    out = []
    for b in batches.iter_epoch(epoch):
        check_aligned(b)
        out += b.examples.tolist()
    return out


@pytest.mark.parametrize("chunked", [False, True])
def test_each_example_once_aligned_and_seeded(files, chunked: bool):
    kw = {"memory_limit": 0, "chunk_examples": 10, "window_chunks": 3} if chunked else {}
    b = make(files, batch_size=16, seed=3, **kw)
    assert b.in_memory is not chunked
    e0, e1 = epoch_ids(b, 0), epoch_ids(b, 1)
    assert sorted(e0) == sorted(e1) == list(range(E))
    assert e0 != e1 and e0 != list(range(E))
    assert epoch_ids(make(files, batch_size=16, seed=3, **kw), 0) == e0
    assert epoch_ids(make(files, batch_size=16, seed=4, **kw), 0) != e0
    sizes = [bt.size for bt in b.iter_epoch(2)]
    assert sizes == [16] * 6 + [7] and len(b) == 7


def test_chunked_equals_in_memory_as_multiset(files):
    def rows(batches: Batches) -> Counter:
        out: Counter = Counter()
        for bt in batches.iter_epoch(0):
            x = bt["x"]
            for r in range(bt.size):
                lo, hi = int(x.offsets[r]), int(x.offsets[r + 1])
                out[
                    (
                        tuple(x.indices[lo:hi].tolist()),
                        tuple(x.values[lo:hi].tolist()),
                        int(bt["y"][r].argmax()),
                    )
                ] += 1
        return out

    mem = rows(make(files, batch_size=8))
    chunked = rows(make(files, batch_size=8, memory_limit=0, chunk_examples=7, window_chunks=2))
    assert mem == chunked and sum(mem.values()) == E


def test_no_shuffle_keeps_order_and_drop_last(files):
    b = make(
        files,
        batch_size=10,
        shuffle=False,
        drop_last=True,
        memory_limit=0,
        chunk_examples=25,
        window_chunks=1,
    )
    ids = [bt.examples.tolist() for bt in b]
    assert [i for batch in ids for i in batch] == list(range(100)) and len(b) == 10 == len(ids)


def test_to_dense_matches_file(files):
    b = make(files, batch_size=E, shuffle=False)
    batch = next(iter(b))
    dense = read_dataset(files[0]).read_sparse(0, E).to_dense()
    np.testing.assert_array_equal(batch["x"].to_dense().numpy(), dense)


def test_example_counts_must_match(files, tmp_path: Path):
    short = DatasetArrays("z", A.NONE, DataType.FLOAT, 2, data=np.zeros(4, np.float32))
    write_datasets(tmp_path / "z.nc", [short])
    with pytest.raises(
        DataError,
        match=r"expected datasets with the same number of examples, "
        r"found 'x' \(.*x.nc\): 103, 'z' \(.*z.nc\): 2",
    ):
        Batches({"x": (files[0], "x"), "z": (tmp_path / "z.nc", "z")}, batch_size=4)


def test_indexed_dataset_maps_examples_to_rows(tmp_path: Path):
    rows = DatasetArrays(
        "x",
        A.SPARSE | A.BOOLEAN | A.INDEXED,
        DataType.UINT,
        128,
        sparse_start=np.array([0, 1]),
        sparse_end=np.array([1, 3]),
        sparse_index=np.array([5, 6, 7], dtype=np.uint32),
        index=np.array([1, 0, 1, 1], dtype=np.uint32),
    )
    ids = DatasetArrays("id", A.NONE, DataType.FLOAT, 1, data=np.arange(4, dtype=np.float32))
    write_datasets(tmp_path / "i.nc", [rows, ids])
    b = Batches(read_dataset_all(tmp_path / "i.nc"), batch_size=3, seed=1)
    for batch in b:
        x = batch["x"]
        for r, example in enumerate(batch["id"][:, 0].long().tolist()):
            got = x.indices[x.offsets[r] : x.offsets[r + 1]].tolist()
            assert got == ([6, 7] if example in (0, 2, 3) else [5])
            assert batch.examples[r] == example


def read_dataset_all(path: Path):
    from lamina.data.nc_read import open_datasets

    return open_datasets(path)


# -- subsets (examples=) and resuming mid-epoch (start_batch=) --------------------------------

CHUNKED = {"memory_limit": 0, "chunk_examples": 10, "window_chunks": 2}


def flat(batches: list[list[int]]) -> list[int]:
    return [i for batch in batches for i in batch]


def batch_list(batches: Batches, epoch: int, start: int = 0) -> list[list[int]]:
    out = []
    for b in batches.iter_epoch(epoch, start_batch=start):
        check_aligned(b)  # the rows are those of the global example ids
        out.append(b.examples.tolist())
    return out


@pytest.mark.parametrize("chunked", [False, True])
def test_subset_serves_each_chosen_example_once_by_global_id(files, chunked: bool):
    subset = np.random.default_rng(0).permutation(E)[:61]
    kw = CHUNKED if chunked else {}
    b = make(files, batch_size=8, examples=subset, seed=5, **kw)
    assert b.in_memory is not chunked and b.examples == 61 and len(b) == 8
    e0, e1 = flat(batch_list(b, 0)), flat(batch_list(b, 1))
    assert sorted(e0) == sorted(e1) == sorted(subset.tolist()) and e0 != e1
    fixed = make(files, batch_size=8, examples=subset, shuffle=False, **kw)
    assert flat(batch_list(fixed, 0)) == subset.tolist()  # given order, unshuffled


@pytest.mark.parametrize("subset", [None, "sorted", "scattered"])
@pytest.mark.parametrize("chunked", [False, True])
def test_start_batch_continues_the_same_epoch(files, chunked: bool, subset: str | None):
    ids = None
    if subset is not None:
        ids = np.random.default_rng(1).permutation(E)[:77]
        ids = np.sort(ids) if subset == "sorted" else ids
    kw = CHUNKED if chunked else {}
    b = make(files, batch_size=6, examples=ids, seed=2, **kw)
    full = batch_list(b, 3)
    assert [len(x) for x in full] == [6] * (len(full) - 1) + [len(full[-1])]
    n = len(full)
    for start in sorted({1, 2, 3, 5, n // 2, n - 2, n - 1, n, n + 1}):
        assert batch_list(b, 3, start) == full[start:]
    again = make(files, batch_size=6, examples=ids, seed=2, **kw)  # as a resumed process
    assert batch_list(again, 3, 4) == full[4:]


def test_chunked_start_batch_reads_neither_skipped_windows_nor_more_than_a_chunk(
    files, monkeypatch: pytest.MonkeyPatch
):
    from lamina.data.nc_read import DatasetFile

    reads: list[int] = []
    original = DatasetFile.read_sparse

    def spy(self, start: int, stop: int):
        reads.append(stop - start)
        return original(self, start, stop)

    monkeypatch.setattr(DatasetFile, "read_sparse", spy)
    subset = np.random.default_rng(2).permutation(E)[:90]
    b = make(files, batch_size=4, examples=subset, seed=0, **CHUNKED)
    n = len(list(b.iter_epoch(0)))
    assert max(reads) <= 10  # every read within one chunk of the file
    whole = sum(reads)
    reads.clear()
    tail = list(b.iter_epoch(0, start_batch=n - 2))
    assert len(tail) == 2 and 0 < sum(reads) < whole / 2


def test_bad_subsets_and_start_batch_are_refused(files):
    with pytest.raises(DataError, match=r"expected example ids in \[0, 103\), found 0\.\.103"):
        make(files, batch_size=4, examples=np.array([0, 103]))
    with pytest.raises(DataError, match="non-empty 1-D array"):
        make(files, batch_size=4, examples=np.array([], dtype=np.int64))
    with pytest.raises(DataError, match="start_batch must be >= 0"):
        next(make(files, batch_size=4).iter_epoch(0, start_batch=-1))


def test_feature_index_beyond_the_width_is_a_data_error(tmp_path: Path):
    bad = DatasetArrays(
        "x",
        A.SPARSE | A.BOOLEAN,
        DataType.UINT,
        4,
        sparse_start=np.array([0]),
        sparse_end=np.array([2]),
        sparse_index=np.array([1, 9], dtype=np.uint32),
    )
    write_datasets(tmp_path / "bad.nc", [bad])
    b = Batches([read_dataset(tmp_path / "bad.nc")], batch_size=1)
    with pytest.raises(DataError, match=r"expected feature indices in \[0, 4\), found 1\.\.9"):
        next(iter(b))
