"""One app's clock on a sandbox, moved from a cell: the sandbox then judges that app's code,
access token or refresh token as it would later, so a lesson shows each one expire without
waiting, while every other app on the same sandbox (a room's) keeps the real time.

    with app_clock(client).later(days=7, seconds=1):
        client.refresh()      # refused: the refresh token looks unused for a week and a second
    # here the app's clock is where it was again

The sandbox still issues tokens with its own time (its ``clock.py`` says why): move the clock
just around the call that should fail. Only a sandbox has such a clock; against any other
server :func:`app_clock` refuses (:class:`~fortellis_nb.oauth.errors.SandboxOnlyError`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from ..oauth import FortellisClient, errors
from ..oauth.config import Config
from ..oauth.transcript import Http
from . import pages


class AppClock:
    """The clock of the app ``config`` names, on the sandbox that is its issuer."""

    def __init__(self, config: Config, http: Http):
        self.config, self.http = config, http

    def _ask(self, offset: timedelta | None = None) -> timedelta:
        answer = pages.app_clock(self.config.issuer, self.config.api_key, self.config.api_secret, self.http,
                                 None if offset is None else offset.total_seconds())
        return timedelta(seconds=answer["offset_seconds"])

    @property
    def offset(self) -> timedelta:
        """How far ahead of the sandbox's time the app's clock is (asked of the sandbox)."""
        return self._ask()

    def set(self, offset: timedelta) -> timedelta:
        """Set the app's clock ``offset`` ahead of the sandbox's time (none: the real time again)."""
        return self._ask(offset)

    @contextmanager
    def later(self, *, days: float = 0, hours: float = 0, minutes: float = 0,
              seconds: float = 0) -> Iterator[AppClock]:
        """Move the app's clock forward by this much inside the block, and back to where it was
        after it, whatever the block raised, as the sandbox's ``MovableClock.later`` does for a
        whole sandbox. Blocks may nest: their moves add up."""
        before = self.offset
        self.set(before + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds))
        try:
            yield self
        finally:
            self.set(before)

    def __repr__(self) -> str:
        return f"AppClock({self.config.api_key!r} on {self.config.issuer})"


def app_clock(client: FortellisClient | Config, *, http: Http | None = None) -> AppClock:
    """The clock of ``client``'s app (a client, or its settings) on its sandbox; SandboxOnlyError
    for any other server (an https issuer, Fortellis' among them, is never asked)."""
    if isinstance(client, FortellisClient):
        config, http, known = client.config, http or client.http, client.is_sandbox
    else:
        config, http, known = client, http or Http(), client.is_sandbox
    if not (known or pages.serves_issuer(config.issuer, http)):
        raise errors.SandboxOnlyError(
            f"Only a sandbox's clock can be moved, and {config.issuer} is not a sandbox: a real identity server, "
            "Fortellis' included, keeps the real time.",
            hint="There, an authorization code expires after a minute, an access token after an hour and an unused "
                 "refresh token after 7 days: wait for it, or run this lesson on the sandbox.")
    return AppClock(config, http)
