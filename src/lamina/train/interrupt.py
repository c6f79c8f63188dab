"""Ctrl-C during training: a flag the loop polls after each minibatch, so the state is saved whole.

The first SIGINT only sets :attr:`Interrupt.requested`; the trainer finishes the current minibatch,
writes the network file and raises ``KeyboardInterrupt``. A second SIGINT raises at once. Signal
handlers can only be installed from the main thread; elsewhere (e.g. a Ray worker thread) the
default handling stays.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["Interrupt"]


class Interrupt:
    """SIGINT -> ``requested`` (main thread only)."""

    def __init__(self) -> None:
        self.requested = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Handle SIGINT with this flag inside the block; the previous handler after it."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handle(signum: int, frame: object) -> None:
            if self.requested:  # second Ctrl-C: stop now
                raise KeyboardInterrupt
            self.requested = True

        previous = signal.signal(signal.SIGINT, handle)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
