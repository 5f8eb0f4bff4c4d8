"""Failed sign-ins, limited: passwords cannot be guessed at full speed.

Okta locks a user out after a configured number of failed sign-ins; the sandbox makes the
learner wait instead, and says for how long. Failures are counted per key, a username and
a client address each: after ``limit`` failures in a row the key waits ``lockout`` seconds,
twice as long after each further failure (at most ``ceiling``). A successful sign-in clears
its username; a key without a failure for ``forget_after`` seconds is forgotten. Kept in
this process's memory: a restart forgets them, as it should for a sandbox."""

from __future__ import annotations

import threading
from collections.abc import Callable


class FailureLimit:
    def __init__(self, limit: int, lockout: float, clock: Callable[[], float], *, ceiling: float = 900.0,
                 forget_after: float = 900.0, max_keys: int = 10_000):
        self.limit, self.lockout, self.clock = limit, lockout, clock
        self.ceiling, self.forget_after, self.max_keys = ceiling, forget_after, max_keys
        self._failures: dict[str, tuple[int, float, float]] = {}  # key -> (count, last failure, free at)
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        """Seconds before ``key`` may try again; 0 when it may now."""
        with self._lock:
            entry = self._current(key)
            return max(0.0, entry[2] - self.clock()) if entry else 0.0

    def failed(self, key: str) -> float:
        """Count one failure of ``key``; the seconds it must now wait."""
        now = self.clock()
        with self._lock:
            count, _last, free_at = self._current(key) or (0, now, now)
            count += 1
            if count >= self.limit:
                free_at = now + min(self.ceiling, self.lockout * 2 ** (count - self.limit))
            if len(self._failures) >= self.max_keys and key not in self._failures:
                self._failures.pop(next(iter(self._failures)))  # the oldest key
            self._failures[key] = (count, now, free_at)
            return max(0.0, free_at - now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _current(self, key: str):
        entry = self._failures.get(key)
        if entry is not None and self.clock() - entry[1] > self.forget_after and self.clock() >= entry[2]:
            del self._failures[key]
            return None
        return entry


RATE_LIMIT_HEADERS = ("X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset")


class RequestLimit:
    """Okta's rate limits: requests per minute in a bucket (an endpoint and a client here), with
    the three X-Rate-Limit headers Okta sends: the ceiling, what is left in the window, and when
    the window resets (UTC epoch seconds). Windows are the clock's minutes."""

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self._counts: dict[str, tuple[int, int]] = {}  # bucket -> (window start, requests in it)
        self._lock = threading.Lock()

    def take(self, bucket: str, limit: int) -> tuple[bool, dict[str, str]]:
        """Count one request; (allowed, the headers for its answer). ``limit`` 0: no limit."""
        now = self.clock()
        window = int(now // 60) * 60
        with self._lock:
            start, count = self._counts.get(bucket, (window, 0))
            if start != window:
                start, count = window, 0
                if len(self._counts) > 10_000:  # forget the buckets of windows gone by
                    self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
            count += 1
            self._counts[bucket] = (start, count)
        if limit <= 0:
            return True, {}
        headers = dict(zip(RATE_LIMIT_HEADERS, (str(limit), str(max(0, limit - count)), str(window + 60)), strict=True))
        return count <= limit, headers
