"""Atomic file output: write to a temporary file beside the target, then rename over it.

A crash, a kill or an exception at any moment leaves either the old file or the complete new one,
never a half-written file (``os.replace`` is atomic within one file system).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_text"]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; on success rename it to ``target``.

    On any exception the temporary file is removed and ``target`` is left untouched.

    Example:
        >>> with atomic_path("out.nc") as tmp:   # doctest: +SKIP
        ...     write_netcdf(tmp)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files; give the result the usual umask-based mode
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
