"""DSSTNE's dataset vocabulary: attribute bits, data-type codes and the width rounding rule.

The numeric codes are those DSSTNE stores in netCDF files (``NNEnum.h``; spec section 3.4).
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

__all__ = [
    "WIDTH_MULTIPLE",
    "DataType",
    "DatasetAttributes",
    "round_up_width",
]

WIDTH_MULTIPLE = 128  # generateNetCDF's roundUpMaxIndex: widths are padded to a multiple of 128


class DatasetAttributes(IntFlag):
    """The ``attributes{N}`` bit field of a dataset."""

    NONE = 0
    SPARSE = 1
    BOOLEAN = 2
    COMPRESSED = 4
    RECURRENT = 8
    MUTABLE = 16
    SPARSE_IGNORE_ZERO = 32
    INDEXED = 64
    WEIGHTED = 128


class DataType(IntEnum):
    """The ``dataType{N}`` code of a dataset (the C++ element type of its values)."""

    UINT = 0
    INT = 1
    LLINT = 2
    ULLINT = 3
    FLOAT = 4
    DOUBLE = 5
    RGB8 = 6
    RGB16 = 7
    UCHAR = 8
    CHAR = 9


# numpy dtype of the values stored for each data type (``data{N}`` / ``sparseData{N}``).
NUMPY_DTYPES: dict[DataType, str] = {
    DataType.UINT: "u4",
    DataType.INT: "i4",
    DataType.LLINT: "i8",
    DataType.ULLINT: "u8",
    DataType.FLOAT: "f4",
    DataType.DOUBLE: "f8",
    DataType.RGB8: "u1",
    DataType.RGB16: "u2",
    DataType.UCHAR: "u1",
    DataType.CHAR: "i1",
}


def round_up_width(n: int) -> int:
    """Round a feature count up to a multiple of 128 (DSSTNE's ``roundUpMaxIndex``).

    Example:
        >>> round_up_width(8), round_up_width(128), round_up_width(129)
        (128, 128, 256)
    """
    return ((max(int(n), 0) + WIDTH_MULTIPLE - 1) // WIDTH_MULTIPLE) * WIDTH_MULTIPLE
