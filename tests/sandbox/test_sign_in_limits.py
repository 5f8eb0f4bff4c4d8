"""Failed sign-ins are limited, per username and per client address, and the sign-in page
says for how long (the test's clock moves instead of the test waiting)."""

from __future__ import annotations

import re

import pytest

from fortellis_nb.sandbox import Sandbox, Settings

from .conftest import Browser, redirect_params


def attempt(browser: Browser, password: str, username: str | None = None):
    return browser.submit(browser.authorize(), username=username, password=password)


def error_text(response) -> str:
    match = re.search(r'<p class="error" role="alert">(.*?)</p>', response.text, re.S)
    return match.group(1) if match else ""


def test_five_wrong_passwords_make_the_user_wait_and_the_page_says_how_long(browser, clock):
    for _ in range(4):
        assert attempt(browser, "wrong-password").status_code == 401
    locked = attempt(browser, "wrong-password")
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "30"
    message = error_text(locked)
    assert "Sign-in failed" in message and "wait 30 seconds" in message and "UTC" in message
    # While it waits, even the right password is refused (and not checked).
    right = attempt(browser, browser.info.password)
    assert right.status_code == 429 and "Sign-in failed" not in error_text(right)
    assert 0 < int(right.headers["Retry-After"]) <= 30
    clock.advance(31)
    assert "code" in redirect_params(attempt(browser, browser.info.password))


def test_each_failure_after_the_limit_doubles_the_wait(browser, clock):
    for _ in range(5):
        attempt(browser, "wrong-password")
    clock.advance(31)
    again = attempt(browser, "wrong-password")
    assert again.status_code == 429 and again.headers["Retry-After"] == "60"
    clock.advance(61)
    again = attempt(browser, "wrong-password")
    assert again.headers["Retry-After"] == "120"


def test_a_successful_sign_in_starts_the_count_again(browser):
    for _ in range(4):
        attempt(browser, "wrong-password")
    assert attempt(browser, browser.info.password).status_code == 302
    browser.http.cookies.clear()  # signed out: the password is asked for again
    for _ in range(4):
        assert attempt(browser, "wrong-password").status_code == 401


def test_an_unknown_username_is_counted_and_answered_like_a_known_one(browser):
    known = [attempt(browser, "wrong-password").status_code for _ in range(5)]
    unknown = [attempt(browser, "wrong-password", username="nobody@example.com").status_code for _ in range(5)]
    assert known == unknown == [401, 401, 401, 401, 429]


@pytest.fixture
def few_per_address(tmp_path, clock):
    with Sandbox(Settings(state_dir=tmp_path / "sandbox", clock=clock, sign_in_failures_per_address=3)) as running:
        yield Browser(running.info)


def test_guessing_across_usernames_from_one_address_is_limited_too(few_per_address, clock):
    browser = few_per_address
    for n in range(3):
        attempt(browser, "wrong-password", username=f"guess{n}@example.com")
    refused = attempt(browser, browser.info.password)  # another username, the right password
    assert refused.status_code == 429 and "from this address" in error_text(refused)
    clock.advance(31)
    assert attempt(browser, browser.info.password).status_code == 302
