"""The clock a lesson moves: what the sandbox answers after a code's minute, a token's hour or
a refresh token's idle week, without waiting for any of them, and the real time again after."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from fortellis_nb.sandbox.clock import MovableClock

from .conftest import exchange, token_request
from .test_gateway import call


@pytest.fixture
def clock() -> MovableClock:
    """The sandbox of these tests (tests/conftest.py) reads this clock."""
    return MovableClock()


def test_later_moves_the_clock_for_the_block_and_back_after_it():
    clock = MovableClock(real=lambda: 1000.0)
    with clock.later(minutes=1, seconds=1) as moved:
        assert moved is clock and clock() == 1061.0
        assert repr(clock) == "MovableClock(real time + 0:01:01)"
    assert clock() == 1000.0 and clock.offset == timedelta()
    assert repr(clock) == "MovableClock(real time)"


def test_moves_nest_and_are_undone_when_the_block_raises():
    clock = MovableClock(real=lambda: 0.0)
    with pytest.raises(LookupError), clock.later(days=7):
        with clock.later(seconds=0.1), clock.later(seconds=0.2):
            assert clock.offset == timedelta(days=7, seconds=0.3)
        raise LookupError("a refused call")
    assert clock.offset == timedelta() and repr(clock) == "MovableClock(real time)"


def test_it_follows_the_real_time():
    clock = MovableClock()
    before = time.time()
    now = clock()
    assert before <= now <= time.time()


def test_a_code_expires_by_the_moved_clock(sandbox, info, browser, clock):
    code = browser.sign_in()["code"]
    with clock.later(seconds=sandbox.settings.code_lifetime + 1):
        refused = exchange(info, code)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant",
                              "error_description": "The authorization code is invalid or has expired."}
    # After the block the sandbox's time is the real time again: a code as young is exchanged.
    assert exchange(info, browser.sign_in()["code"]).status_code == 200


def test_an_access_token_expires_by_the_moved_clock(sandbox, info, tokens, clock):
    with clock.later(seconds=sandbox.settings.token_lifetime + 1):
        refused = call(info, tokens["access_token"])
    assert refused.status_code == 401 and refused.json()["code"] == "TOKEN-EXPIRED"
    assert call(info, tokens["access_token"]).status_code == 200


def test_a_refresh_token_unused_past_okta_s_idle_limit_is_refused(sandbox, info, tokens, clock):
    assert sandbox.settings.refresh_idle_lifetime == timedelta(days=7).total_seconds()  # Okta's default
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    with clock.later(days=7, seconds=1):
        refused = token_request(info, refresh)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": "The refresh token is invalid or expired."}
    # Back at the real time the same token was used a moment ago: it still refreshes.
    assert token_request(info, refresh).status_code == 200
