"""Keep freed memory in the process during training (glibc ``mallopt``), to stop page faults.

Every training step allocates and frees the same few (B, N) float32 tensors (27 MiB each for the
MovieLens autoencoder at B = 256). With glibc's default policy, blocks of that size are ``mmap``-ed
and ``munmap``-ed (or the heap top is trimmed), so every step faults all of them in again: on the
machine measured, 7,000-14,000 minor page faults and 20-35 ms of system time per step, 15-30 % of
the step (benchmarks/README.md). :func:`keep_freed_memory` tells glibc to serve every block from
the heap and keep freed memory for reuse: the same work, no faults after the first step.
The cost: memory freed by the process is not returned to the OS while it runs (peak RSS is
unchanged; it just stays mapped).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import sys

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4  # glibc malloc.h
_KEEP_TOP = 1 << 30  # return free heap top to the OS only past 1 GiB
_TOP_PAD = 64 << 20  # grow the heap 64 MiB at a time


def keep_freed_memory() -> bool:
    """Make glibc's malloc reuse freed memory instead of unmapping it (process-wide).

    Sets ``M_MMAP_MAX = 0`` (no ``mmap`` per large block), ``M_TRIM_THRESHOLD = 1 GiB`` and
    ``M_TOP_PAD = 64 MiB``. Call once, early (before the first large allocation); calling again is
    harmless. Numerical results are unaffected.

    Returns:
        True if glibc accepted the settings; False on other platforms / C libraries (no-op).
    """
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    settings = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _KEEP_TOP), (_M_TOP_PAD, _TOP_PAD))
    return all(mallopt(param, value) == 1 for param, value in settings)
