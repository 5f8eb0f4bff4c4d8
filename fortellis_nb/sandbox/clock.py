"""Clocks a lesson can move, so that a notebook shows a code past its minute, a token past its
hour or a refresh token past its week unused without waiting for any of them.

The whole sandbox's clock (``MovableClock``), for a sandbox a lesson starts in its own process:

    lab_clock = MovableClock()
    lab = Sandbox(Settings(state_dir=..., clock=lab_clock))
    with lab_clock.later(days=7, seconds=1):
        client.refresh()        # the sandbox answers as it would a week and a second from now
    # here the sandbox's time is the real time again

Move it only around the call that should fail: a token minted while the sandbox's clock is
ahead says it was issued in the future, and a client checking it by its own clock (PyJWT's
``iat`` check) refuses it.

One app's clock (``AppClocks``), in a sandbox shared by a room or running for days: the
sandbox's clock plus that app's own offset, moved by the app's developer from the app's page
(``/sandbox/apps/<API Key>``) or from a cell (``/sandbox/clock``, which ``fortellis_nb.local``'s
``app_clock(client).later(...)`` asks), while every other app keeps the sandbox's time. Only the
rules that *judge* a time for a known app read it: a code's expiry at the exchange, a refresh
token's idle lifetime (and a rotated-out one's leeway) at the refresh and at introspection, an
access token's expiry at the gateway, /v1/userinfo and /v1/introspect. Whatever the sandbox
*records* or *mints* keeps the sandbox's own clock: a token's ``iat`` and ``exp``, a code's
expiry, the last use of a refresh token. So a token minted while the app's clock is ahead is no
token "from the future" (a client's PyJWT accepts it), but the sandbox judges it with the app's
clock: moved an hour ahead, the app's new access token is already expired at the gateway. Move
it, as the whole sandbox's, only around the call that should fail; moved back, everything is
as it was (nothing was changed, only when the sandbox looks). The offsets live in memory: a
restart sets every app back to the sandbox's time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from .inputs import BadInput

#: How far ahead an app's clock may go: a year, far past every lifetime a lesson shows (a refresh
#: token's idle week), and near enough that the arithmetic stays exact.
MOST_AHEAD = timedelta(days=365)


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


def offset_from(seconds) -> timedelta:
    """An app's offset from what a client sent: a JSON number of seconds (not a boolean), from 0
    (the sandbox's time) to ``MOST_AHEAD``; BadInput otherwise (none, text, NaN, negative, huge)."""
    if seconds is None:
        raise BadInput("Send 'offset_seconds': how many seconds ahead of the sandbox's time the app's clock is "
                       "(0: the sandbox's time).")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise BadInput(f"'offset_seconds' must be a number of seconds, not {type(seconds).__name__}.")
    if not 0 <= seconds <= MOST_AHEAD.total_seconds():  # NaN compares false, and is refused too
        raise BadInput(f"'offset_seconds' must be from 0 (the sandbox's time) to {MOST_AHEAD.total_seconds():g} "
                       "(a year ahead).")
    return timedelta(seconds=seconds)


class AppClocks:
    """Each app's clock: the sandbox's clock plus the app's offset, kept by API Key in memory
    (a restart sets every app back to the sandbox's time). The one place "now for this app" is
    computed (``now``): every rule that judges a time for an app asks here."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        # Written by one request and read by others: one dict operation each, atomic.
        self._offsets: dict[str, timedelta] = {}

    def now(self, api_key) -> float:
        """Now for this app (for None, or a value that is no API Key: the sandbox's time)."""
        return self._clock() + self.offset(api_key).total_seconds()

    def offset(self, api_key) -> timedelta:
        """How far ahead of the sandbox's clock this app's clock is."""
        return self._offsets.get(api_key, timedelta()) if isinstance(api_key, str) else timedelta()

    def set(self, api_key: str, offset: timedelta) -> None:
        """Set this app's clock ``offset`` ahead (checked by ``offset_from``; 0: the sandbox's time)."""
        if offset:
            self._offsets[api_key] = offset
        else:
            self._offsets.pop(api_key, None)
