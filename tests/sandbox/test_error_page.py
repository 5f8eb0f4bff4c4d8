"""The sandbox's pages as a script reads them: the error page's machine-readable contract
(``data-error``, ``data-error-description``, ``data-registered-callback``) and the home
page's word on where the demo app's API Secret is shown."""

import json
import shlex
import subprocess
import sys
from html.parser import HTMLParser

import requests

from fortellis_nb.sandbox import ensure_sandbox, stop_sandbox
from fortellis_nb.sandbox.okta import ERRORS


class Contract(HTMLParser):
    """What a headless client reads: the error card's attributes and the registered callbacks."""

    def __init__(self):
        super().__init__()
        self.card: dict | None = None
        self.registered: list[str] = []
        self.commands: list[str] = []
        self._collect: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if "data-error" in found:
            self.card = found
        if tag == "code" and "data-registered-callback" in found:
            self._collect = self.registered
        if tag == "code" and "data-secret-command" in found:
            self._collect = self.commands

    def handle_data(self, data):
        if self._collect is not None:
            self._collect.append(data)
            self._collect = None


def read(page: str) -> Contract:
    parser = Contract()
    parser.feed(page)
    return parser


def test_a_redirect_uri_mismatch_page_carries_the_error_its_text_and_the_registered_callbacks(browser):
    response = browser.authorize(redirect_uri="https://evil.example/cb?x=<'\">")
    assert response.status_code == 400 and response.headers["Content-Type"].startswith("text/html")
    page = read(response.text)
    okta = ERRORS["illegal_redirect_uri"]
    assert page.card is not None
    assert page.card["data-error"] == okta.error == "invalid_request"
    assert page.card["data-error-description"] == okta.description
    assert "callback URLs registered" in page.card["data-hint"]  # what to do, the page's own advice
    assert browser.info.redirect_uri in page.registered
    assert "https://evil.example/cb?x=<'\">" not in page.registered


def test_a_missing_redirect_uri_page_names_its_own_error(browser):
    page = read(browser.authorize(redirect_uri=None).text)
    assert page.card["data-error"] == ERRORS["missing_redirect_uri"].error
    assert page.card["data-error-description"] == ERRORS["missing_redirect_uri"].description
    assert browser.info.redirect_uri in page.registered


def test_the_home_page_names_the_command_that_shows_the_demo_app_secret(tmp_path):
    state = tmp_path / "state with space"
    try:
        info = ensure_sandbox(state)
        (command,) = read(requests.get(f"{info.base_url}/", timeout=10).text).commands
        words = shlex.split(command)  # as a POSIX shell reads it (the path of the state has a space)
        assert words[1:3] == ["-m", "fortellis_nb.sandbox"] and "status" in words
        shown = subprocess.run(words, capture_output=True, text=True, timeout=30)  # exactly as shown
        assert shown.returncode == 0, shown.stderr
        secret = json.loads(shown.stdout)["api_secret"]
        # What it prints is the demo app's secret: the token endpoints take it, and no other.
        introspect = f"{info.issuer}/v1/introspect"
        assert requests.post(introspect, data={"token": "x"}, auth=(info.api_key, secret), timeout=10).status_code == 200
        assert requests.post(introspect, data={"token": "x"}, auth=(info.api_key, secret + "x"),
                             timeout=10).status_code == 401
    finally:
        stop_sandbox(state)
