"""lamina.train.memory.keep_freed_memory: accepted by glibc, and freed blocks are reused."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from lamina.train.memory import keep_freed_memory

_CHILD = """
import ctypes, sys
import torch
from lamina.train.memory import keep_freed_memory
class Info(ctypes.Structure):  # glibc's struct mallinfo2 (size_t fields)
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
info = ctypes.CDLL("libc.so.6").mallinfo2
info.restype = Info
if sys.argv[1] == "keep":
    assert keep_freed_memory()
block = torch.empty(16 << 20)  # 64 MiB: above glibc's largest default mmap threshold (32 MiB)
block.fill_(1.0)
mapped = info().hblkhd  # bytes in separately mmap-ed blocks
del block
print(mapped, info().fordblks)  # and bytes kept free in the heap after the block is freed
"""
BLOCK = 64 << 20


def _mallinfo(mode: str) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, check=True
    )
    mapped, kept = out.stdout.split()
    return int(mapped), int(kept)


@pytest.mark.skipif(
    not sys.platform.startswith("linux")
    or platform.libc_ver()[0] != "glibc"
    or tuple(int(p) for p in platform.libc_ver()[1].split(".")[:2]) < (2, 33),
    reason="mallopt is glibc-only; mallinfo2 needs glibc >= 2.33",
)
def test_keep_freed_memory_serves_large_blocks_from_the_heap_and_keeps_them() -> None:
    assert keep_freed_memory()  # in this process too: accepted, idempotent
    assert keep_freed_memory()
    mapped, kept = _mallinfo("default")
    assert mapped >= BLOCK  # glibc's default: the 64 MiB block is its own mapping, unmapped on free
    mapped, kept = _mallinfo("keep")
    assert mapped < BLOCK  # kept: served from the heap ...
    assert kept >= BLOCK  # ... and still there for the next step after it is freed
