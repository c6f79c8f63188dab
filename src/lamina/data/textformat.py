"""DSSTNE's text data format, read in large byte chunks with vectorised numpy parsing.

One sample per line (spec section 3.1)::

    sample<TAB>feature[,value]:feature[,value]:...

Reading never holds the whole file in Python objects: the file is read in chunks of whole lines
(``chunk_bytes``, 8 MB by default); each chunk is split into lines, elements and labels with numpy
on its bytes, and only the *distinct* labels of a chunk become Python strings.

Rules (Lamina is strict where DSSTNE warned and went on; every error is ``FILE:LINE: expected ...,
found ...``):

* A line must contain exactly one TAB and a non-empty sample label before it. A trailing ``\\r`` is
  removed (CRLF files). Empty lines are ignored, as in DSSTNE.
* Elements are separated by ``:``; an empty element (``a::b``, a trailing ``:``) is skipped, as in
  DSSTNE (its own ``predict`` output ends lines with ``:``). A line may have no features at all.
* An element is ``feature`` or ``feature,value``: more than one comma and an empty feature label
  before a comma are errors.
* Indicator data: the value text is ignored whatever it is (DSSTNE parsed it with ``stof`` and
  discarded it, crashing on text that is not a number); analog data: the value must be a finite
  number, and an element without a value has value 0.0 (as in DSSTNE).
* The file must be UTF-8.

With ``skip_bad_lines=True`` a bad line is left out and recorded in ``Chunk.errors`` instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from lamina.data.text_chunk import Chunk, LineError
from lamina.data.text_parse import parse_clean, parse_general
from lamina.errors import DataError

__all__ = ["DEFAULT_CHUNK_BYTES", "Chunk", "LineError", "read_chunks"]

DEFAULT_CHUNK_BYTES = 8 << 20  # 8 MB: fast (cache-friendly), small temporaries


def read_chunks(
    path: str | os.PathLike[str],
    *,
    analog: bool = False,
    skip_bad_lines: bool = False,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Iterator[Chunk]:
    """Parse a text data file chunk by chunk.

    Args:
        path: the text file.
        analog: parse and keep values (``-t analog``); otherwise value text is ignored.
        skip_bad_lines: record bad lines in ``Chunk.errors`` instead of raising.
        chunk_bytes: approximate bytes per chunk (whole lines; a longer line makes a larger chunk).

    Yields:
        One ``Chunk`` per block of whole lines.

    Raises:
        DataError: ``FILE:LINE: expected ..., found ...`` for the first bad line (unless skipped),
            or ``FILE: cannot read ...``.
    """
    path = Path(path)
    first_line = 1
    try:
        with open(path, "rb") as fh:
            tail = b""
            while True:
                block = fh.read(chunk_bytes)
                data = tail + block
                if not block:
                    if data:
                        yield _parse(path, data + b"\n", first_line, analog, skip_bad_lines)
                    return
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    tail = data
                    continue
                tail = data[cut:]
                chunk = _parse(path, data[:cut], first_line, analog, skip_bad_lines)
                first_line += chunk.n_lines
                yield chunk
    except OSError as exc:
        raise DataError(f"{path}: cannot read input file ({exc.strerror or exc})") from None


def _parse(path: Path, buf: bytes, first_line: int, analog: bool, skip: bool) -> Chunk:
    """Parse whole lines (``buf`` ends with a newline): the fast path for clean chunks, else the
    general one (which also finds and reports bad lines)."""
    chunk = parse_clean(path, buf, first_line, analog)
    return chunk if chunk is not None else parse_general(path, buf, first_line, analog, skip)
