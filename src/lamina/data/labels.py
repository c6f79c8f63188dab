"""Labels as numbers: vectorised factorisation of byte spans, and stable feature hashing.

``factorize_spans`` turns millions of ``buf[start:end]`` labels into integer codes without creating
a Python object per label: each label is packed into 64-bit words (8 bytes per word, gathered with
numpy), the words are factorised with pandas' C hash table (which numbers values in order of first
appearance) and combined; only the distinct labels are decoded to ``str``. The packing is exact
(no hashing), so two labels share a code only if their bytes are equal.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

__all__ = ["byte_windows", "factorize_spans", "hash_labels"]


# _MASKS[k] keeps the low k bytes of a little-endian 64-bit word.
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)


def _factorize(keys: np.ndarray) -> np.ndarray:
    codes, _ = pd.factorize(keys, sort=False)
    return codes.astype(np.int64, copy=False)


def byte_windows(buf: bytes) -> np.ndarray:
    """(len(buf) + 1,) little-endian uint64 view with a stride of one byte: element i holds
    ``buf[i:i + 8]`` (zero-padded past the end), so gathering labels' first 8 bytes is one take."""
    padded = np.zeros(len(buf) + 9, dtype=np.uint8)
    padded[: len(buf)] = np.frombuffer(buf, dtype=np.uint8)
    return np.ndarray(shape=(len(buf) + 1,), dtype="<u8", buffer=padded, strides=(1,))


def factorize_spans(
    buf: bytes, starts: np.ndarray, ends: np.ndarray, *, windows: np.ndarray | None = None
) -> tuple[np.ndarray, list[str]]:
    """Number the labels ``buf[starts[i]:ends[i]]`` in order of first appearance.

    Args:
        buf: UTF-8 bytes; every span must be valid UTF-8.
        starts: (n,) int64 span starts.
        ends: (n,) int64 span ends (exclusive), ``ends >= starts``.
        windows: ``byte_windows(buf)``, to share between calls on the same buffer.

    Returns:
        ``(codes, labels)``: (n,) int64 codes with ``labels[codes[i]] == buf[starts[i]:ends[i]]``,
        and the distinct labels as ``str`` in order of first appearance.

    Example:
        >>> codes, labels = factorize_spans(b"b a b", np.array([0, 2, 4]), np.array([1, 3, 5]))
        >>> codes.tolist(), labels
        ([0, 1, 0], ['b', 'a'])
    """
    n = int(starts.size)
    if n == 0:
        return np.zeros(0, dtype=np.int64), []
    starts = starts.astype(np.int64, copy=False)
    lengths = ends.astype(np.int64) - starts
    longest = int(lengths.max())
    if windows is None:
        windows = byte_windows(buf)
    if longest <= 7:  # one word: the bytes, and the length in the top byte
        word = windows[starts]
        word &= _MASKS[lengths]
        word |= lengths.astype(np.uint64) << np.uint64(56)
        codes = _factorize(word)
    else:
        codes = np.zeros(n, dtype=np.int64)
        for offset in range(0, longest, 8):
            word = windows[np.minimum(starts + offset, len(buf))]
            word &= _MASKS[np.clip(lengths - offset, 0, 8)]
            sub = _factorize(word)
            codes = _factorize(codes * (int(sub.max()) + 1) + sub)
        # Labels may contain NUL bytes, so the length is part of the key ("a" != "a\0").
        codes = _factorize(codes * (longest + 1) + lengths)
    running = np.maximum.accumulate(codes)
    firsts = np.flatnonzero(np.concatenate(([True], running[1:] > running[:-1])))
    labels = [
        buf[s:e].decode("utf-8")
        for s, e in zip(starts[firsts].tolist(), (starts + lengths)[firsts].tolist(), strict=True)
    ]
    return codes, labels


def hash_labels(labels: list[str], bits: int) -> np.ndarray:
    """Stable feature hashing: ``blake2b-64(label UTF-8) mod 2**bits`` for each label.

    Unlike Python's ``hash()`` this does not change between processes or machines.

    Args:
        labels: feature labels.
        bits: number of hash bits B (the hashed width is ``2**B``).

    Returns:
        (len(labels),) int64 feature indices in ``[0, 2**bits)``.

    Example:
        >>> hash_labels(["a", "b"], 10).tolist() == hash_labels(["a", "b"], 10).tolist()
        True
    """
    modulus = 1 << bits
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "little")
            % modulus
            for s in labels
        ),
        dtype=np.int64,
        count=len(labels),
    )
