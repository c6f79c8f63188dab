"""Build and load Lamina's fused C kernels (``kernels.c``) at first use, with a safe fallback.

The shared library is compiled once per (source, compiler, flags, CPU) with the system C compiler
(``$CC``, else ``cc``) and cached under ``$LAMINA_CACHE_DIR`` or ``$XDG_CACHE_HOME/lamina/native``
(``~/.cache/lamina/native``), named by a hash of all four. Each build writes a private temporary
file beside the target and renames it into place (``lamina.atomic``), so processes building at
the same time (pytest-xdist workers) never load a half-written library: the last rename wins and
every candidate is complete.

Anything that goes wrong (no compiler, a failed build, a library that does not load, a non-x86
machine without libmvec) is logged once at debug level and :func:`load` returns None: callers then
run their pure-torch twin, which gives the same results up to float32 rounding. ``LAMINA_NATIVE=0``
forces that path.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from lamina.atomic import atomic_path

__all__ = ["FLAGS", "cache_dir", "compiler", "enabled", "load", "reset"]

_LOG = logging.getLogger(__name__)
SOURCE = Path(__file__).with_name("kernels.c")
# -fno-math-errno lets scalar tails inline; no -ffast-math: the kernels' rounding is as written
FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fPIC", "-shared")
_LIBS = ("-lm",)
_BUILD_TIMEOUT_S = 120

_SIGNATURES: dict[str, tuple[object, ...]] = {
    # name: argument types (all return void)
    "lamina_sigmoid": (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64),
    "lamina_sigmoid_softplus": (ctypes.c_void_p,) * 3 + (ctypes.c_int64,) * 2,
    "lamina_softplus_rows": (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_float, ctypes.c_void_p)
    + (ctypes.c_int64,) * 2,
    "lamina_scale_rows": (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_float, ctypes.c_int32)
    + (ctypes.c_void_p,)
    + (ctypes.c_int64,) * 2
    + (ctypes.c_void_p,) * 3,
    "lamina_embag_backward": (ctypes.c_void_p,) * 5 + (ctypes.c_int64,) * 3,
}
_RESTYPES: dict[str, object] = {"lamina_embag_backward": ctypes.c_int32}  # others: void

_state: dict[str, ctypes.CDLL | None] = {}


def enabled() -> bool:
    """False when ``LAMINA_NATIVE`` is ``0``/``false``/``no``/``off`` (force the torch path)."""
    return os.environ.get("LAMINA_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def compiler() -> str | None:
    """The C compiler to use: ``$CC`` if set, else ``cc`` (or ``gcc``) on PATH, else None."""
    cc = os.environ.get("CC")
    if cc:
        return shutil.which(cc) or (cc if os.path.isfile(cc) else None)
    return shutil.which("cc") or shutil.which("gcc")


def cache_dir() -> Path:
    """Where built libraries live (per user): ``$LAMINA_CACHE_DIR`` or the XDG cache."""
    explicit = os.environ.get("LAMINA_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lamina" / "native"


def _cpu_flags() -> str:
    """The CPU's feature flags (``-march=native`` depends on them), or the machine name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.machine()


def _version(cc: str) -> str:
    out = subprocess.run(
        [cc, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    return out.splitlines()[0] if out else cc


def _target(cc: str) -> Path:
    key = "\0".join(
        [SOURCE.read_text(), _version(cc), " ".join(FLAGS + _LIBS), _cpu_flags(), sys.platform]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return cache_dir() / f"lamina_kernels_{digest}.so"


def _build(cc: str, target: Path) -> None:
    with atomic_path(target, suffix=".so") as tmp:
        cmd = [cc, *FLAGS, "-o", str(tmp), str(SOURCE), *_LIBS]
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S, check=False
        )
        if done.returncode != 0:
            raise OSError(f"{' '.join(cmd)} failed: {done.stderr.strip()[-2000:]}")


STALE_AFTER_S = 7 * 24 * 3600  # other versions' builds unused this long are deleted


def _prune(keep: Path) -> None:
    """Delete other versions' libraries (older sources, compilers or flags) not modified for
    :data:`STALE_AFTER_S`: each source change leaves one more file otherwise. A library still
    mapped by a running process stays valid after its unlink (POSIX)."""
    cutoff = time.time() - STALE_AFTER_S
    for old in keep.parent.glob("lamina_kernels_*.so"):
        with contextlib.suppress(OSError):
            if old != keep and old.stat().st_mtime < cutoff:
                old.unlink()


def _open(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    for name, argtypes in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = list(argtypes), _RESTYPES.get(name)
    return lib


def load() -> ctypes.CDLL | None:
    """The kernels library (built on first use, then cached), or None to use the torch path.

    Never raises: a missing compiler or failed build logs one debug line and returns None (once
    per process; :func:`reset` forgets the outcome).
    """
    if not enabled():
        return None
    if "lib" in _state:
        return _state["lib"]
    lib = None
    try:
        if sys.platform != "linux":
            raise OSError(f"native kernels are built on Linux only (this is {sys.platform})")
        cc = compiler()
        if cc is None:
            raise OSError("no C compiler found ($CC, cc, gcc)")
        target = _target(cc)
        if not target.exists():
            _build(cc, target)
            _prune(target)
        try:
            lib = _open(target)
        except OSError as exc:  # a corrupt cached file (e.g. a disk filled up): build it anew
            _LOG.debug("rebuilding the unloadable %s: %s", target, exc)
            _build(cc, target)
            lib = _open(target)
    except (OSError, subprocess.SubprocessError, AttributeError) as exc:
        _LOG.debug("lamina native kernels unavailable, using the torch path: %s", exc)
    _state["lib"] = lib
    return lib


def reset() -> None:
    """Forget the loaded library (tests; the next :func:`load` builds or loads again)."""
    _state.clear()
