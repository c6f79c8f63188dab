"""factorize_spans numbers labels exactly like a dict in first-appearance order."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.data.labels import factorize_spans, hash_labels


def reference(labels: list[bytes]) -> tuple[list[int], list[str]]:
    seen: dict[bytes, int] = {}
    codes = [seen.setdefault(x, len(seen)) for x in labels]
    return codes, [x.decode() for x in seen]


def spans(labels: list[bytes]) -> tuple[bytes, np.ndarray, np.ndarray]:
    buf, starts, ends, pos = b"", [], [], 0
    for x in labels:
        buf += x + b"|"
        starts.append(pos)
        ends.append(pos + len(x))
        pos += len(x) + 1
    return buf, np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(st.characters(exclude_characters="|"), max_size=19), min_size=1))
def test_matches_a_dict(texts: list[str]):
    labels = [t.encode() for t in texts]
    codes, uniques = factorize_spans(*spans(labels))
    want_codes, want_uniques = reference(labels)
    assert codes.tolist() == want_codes and uniques == want_uniques


def test_edge_labels():
    labels = [b"a", b"a\x00", b"", b"abcdefg", b"abcdefgh", b"abcdefgh\x00", b"a", b"\xc3\xa9"]
    codes, uniques = factorize_spans(*spans(labels))
    assert codes.tolist() == [0, 1, 2, 3, 4, 5, 0, 6]
    assert uniques[-1] == "é"


def test_hash_is_fixed():
    # blake2b-64 little-endian of b"1" modulo 2**20, computed once; guards against salted hash()
    import hashlib

    want = int.from_bytes(hashlib.blake2b(b"1", digest_size=8).digest(), "little") % (1 << 20)
    assert hash_labels(["1"], 20).tolist() == [want]
    assert 0 <= int(hash_labels(["x" * 100], 3)[0]) < 8
