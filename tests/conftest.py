"""Fixtures shared by every test folder."""

from __future__ import annotations

import time

import pytest

from fortellis_nb.sandbox import Sandbox, Settings


class FakeClock:
    """A clock the test moves by hand, so 60-second and one-hour rules need no sleeping."""

    def __init__(self, start: float | None = None):
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(tmp_path, clock):
    """A fresh sandbox on a free port, in this process, driven by the fake clock."""
    with Sandbox(Settings(state_dir=tmp_path / "sandbox", clock=clock)) as running:
        yield running
