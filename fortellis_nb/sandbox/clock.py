"""A clock a lesson can move: the real time plus an offset, so that a notebook shows a code
past its minute, a token past its hour or a refresh token past its week unused without
waiting for any of them.

    lab_clock = MovableClock()
    lab = Sandbox(Settings(state_dir=..., clock=lab_clock))
    with lab_clock.later(days=7, seconds=1):
        client.refresh()        # the sandbox answers as it would a week and a second from now
    # here the sandbox's time is the real time again

Move it only around the call that should fail: a token minted while the sandbox's clock is
ahead says it was issued in the future, and a client checking it by its own clock (PyJWT's
``iat`` check) refuses it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta


class MovableClock:
    """The real time plus an offset that ``later()`` sets for the length of a ``with`` block.
    A notebook's cell moves it while the server's thread reads it."""

    def __init__(self, real: Callable[[], float] = time.time):
        self._real = real
        # A timedelta (whole microseconds), so that moves undone in any order add up to exactly
        # nothing, as floats would not.
        self._offset = timedelta()
        # A move is a read, then a write: two threads moving it at once must not lose a move.
        # Reading needs no lock (the server's thread): one attribute, an immutable value.
        self._moving = threading.Lock()

    def __call__(self) -> float:
        return self._real() + self._offset.total_seconds()

    @property
    def offset(self) -> timedelta:
        """How far ahead of the real time the clock is."""
        return self._offset

    @contextmanager
    def later(self, *, days: float = 0, hours: float = 0, minutes: float = 0,
              seconds: float = 0) -> Iterator[MovableClock]:
        """Move the clock forward by this much inside the block, and back by as much after it,
        whatever the block raised. Blocks may nest: their moves add up."""
        step = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        self._move(step)
        try:
            yield self
        finally:
            self._move(-step)

    def _move(self, step: timedelta) -> None:
        with self._moving:
            self._offset += step

    def __repr__(self) -> str:
        return f"MovableClock(real time + {self._offset})" if self._offset else "MovableClock(real time)"
