"""Click options shared by several commands, declared once so flags and help stay identical."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["EXISTING_FILE", "validation_options"]

F = TypeVar("F", bound=Callable[..., Any])

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def validation_options(func: F) -> F:
    """``--validation FILE`` (repeatable) and ``--validation-fraction F``, for train and search."""
    func = click.option(
        "--validation-fraction",
        type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
        help="Hold out this fraction of the training examples for validation.",
    )(func)
    return click.option(
        "--validation",
        "validation",
        multiple=True,
        type=EXISTING_FILE,
        help="Validation dataset file(s) (repeat for separate input/target files).",
    )(func)
