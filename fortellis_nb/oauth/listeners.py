"""Callbacks a view registers to hear of a change (the transcript's new exchanges, a state
used up), held weakly: a bound method whose object is gone is dropped, so a closed widget
is not kept alive by the client it listened to."""

from __future__ import annotations

import contextlib
import weakref


class Listeners:
    def __init__(self):
        self._refs: list = []

    def add(self, callback) -> None:
        self._refs.append(weakref.WeakMethod(callback) if hasattr(callback, "__self__") else (lambda: callback))

    def remove(self, callback) -> None:
        self._refs = [ref for ref in self._refs if ref() not in (None, callback)]

    def __call__(self, *args) -> None:
        """Call each listener in turn; one that fails does not stop the others, nor the caller
        (a view that fails to update must not fail a request)."""
        for ref in list(self._refs):
            callback = ref()
            if callback is None:
                self._refs.remove(ref)
                continue
            with contextlib.suppress(Exception):  # see the docstring: the caller's work goes on
                callback(*args)
