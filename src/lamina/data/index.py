"""Index files: one ``label<TAB>index`` per line, mapping feature or sample labels to 0-based rows.

Loading follows DSSTNE's ``loadIndex`` rules and its unit tests (``TestNetCDFhelper.cpp``): every
line has exactly two TAB-separated fields, a non-empty label and a label seen only once. Lamina is
stricter in two places: the index must be a non-negative integer (DSSTNE used ``atoi``, so ``"12x"``
was 12) and no two labels may share an index. Completely empty lines are skipped.

Lamina writes index files sorted by index (DSSTNE iterated an ``unordered_map``, so its line order
was arbitrary; both load the same) and atomically: an existing index file is only ever replaced
whole.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from lamina.atomic import atomic_path
from lamina.errors import DataError

__all__ = [
    "check_index_checksum",
    "file_sha256",
    "load_index",
    "write_index",
    "write_index_to",
]


def load_index(path: str | os.PathLike[str]) -> dict[str, int]:
    """Read an index file into a ``label -> index`` dict (in file order).

    Args:
        path: the index file.

    Returns:
        The mapping, in the order of the file's lines.

    Raises:
        DataError: ``FILE:LINE: expected ..., found ...`` for a malformed line, a duplicate label,
            a duplicate index, a negative or non-integer index, non-UTF-8 bytes, or an unreadable
            file.

    Example:
        >>> load_index("features_input")  # doctest: +SKIP
        {'110510': 26743, '121019': 26740, ...}
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read index file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where_bad = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{path}:{where_bad}: expected UTF-8 text, found byte 0x{raw[exc.start]:02x}"
        ) from None
    mapping: dict[str, int] = {}
    where: dict[int, int] = {}  # index -> line that assigned it
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            what = "no TAB" if len(fields) == 1 else f"{len(fields) - 1} TABs"
            raise DataError(
                f"{path}:{lineno}: expected 'label<TAB>index', found {what} in {line!r}"
            )
        label, text_index = fields
        if not label:
            raise DataError(f"{path}:{lineno}: expected a non-empty label, found {line!r}")
        if not text_index.isascii() or not text_index.isdigit():
            raise DataError(
                f"{path}:{lineno}: expected a non-negative integer index, found {text_index!r}"
            )
        index = int(text_index)
        if label in mapping:
            raise DataError(
                f"{path}:{lineno}: expected each label once, found duplicate label {label!r} "
                f"(already has index {mapping[label]})"
            )
        if index in where:
            raise DataError(
                f"{path}:{lineno}: expected each index once, found index {index} for {label!r} "
                f"(already used on line {where[index]})"
            )
        mapping[label] = index
        where[index] = lineno
    return mapping


def write_index(path: str | os.PathLike[str], mapping: Mapping[str, int]) -> None:
    """Write ``label<TAB>index`` lines sorted by index, atomically.

    Args:
        path: the index file to create or replace (replaced whole, or left untouched on error).
        mapping: label -> 0-based index.

    Raises:
        DataError: a label is empty or contains a TAB or a line break (it could not be read back).
    """
    with atomic_path(path) as tmp:
        write_index_to(tmp, mapping, name=path)


def write_index_to(
    tmp: Path, mapping: Mapping[str, int], *, name: str | os.PathLike[str] | None = None
) -> None:
    """Write an index to ``tmp`` directly (the caller renames it; see ``lamina.atomic``)."""
    items = sorted(mapping.items(), key=lambda kv: kv[1])
    text = "".join([f"{label}\t{index}\n" for label, index in items])
    # one C-speed check of all labels: exactly one TAB and one newline per line, no CR, none empty
    if (
        text.count("\t") != len(items)
        or text.count("\n") != len(items)
        or "\r" in text
        or text.startswith("\t")
        or "\n\t" in text
    ):
        bad = next(k for k in mapping if not k or any(c in k for c in "\t\n\r"))
        raise DataError(
            f"{name or tmp}: cannot write index label {bad!r}: expected a non-empty label "
            "without TAB or newline"
        )
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write(text)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_index_checksum(
    path: str | os.PathLike[str], recorded: Mapping[str, str], *, flag: str
) -> None:
    """Refuse an index file that is not the one a network was trained with.

    ``recorded`` maps index names to SHA-256 digests (``lamina train --feature-index NAME=PATH``
    stores them in the network file). A file is checked when its name is one of the recorded
    names (``features_input`` for ``.../features_input``); other files pass unchecked, since
    nothing says which recorded index they stand for.

    Raises:
        DataError: the file's name is recorded with another digest.
    """
    name = Path(path).name
    if name not in recorded:
        return
    found = file_sha256(path)
    if found != recorded[name]:
        raise DataError(
            f"{path} ({flag}): expected the feature index {name!r} the network was trained with "
            f"(sha256 {recorded[name][:12]}...), found a different file (sha256 {found[:12]}...)",
            hint="another index maps labels to other units: use the index files written when "
            "the training data was converted",
        )
