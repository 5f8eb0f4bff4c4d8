"""Edges a battery of hostile requests from outside found, each pinned to its answer:
numbers that are digits but not ASCII, proxy headers on a sandbox that is not behind one,
look-alike usernames, form fields that are not what they seem, wrong methods, media types
in capitals, and the static files' own errors."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import pytest
import requests

from fortellis_nb.sandbox import Sandbox, Settings

from ..sandbox.conftest import HIDDEN, Browser, redirect_params


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    settings = Settings(state_dir=tmp_path_factory.mktemp("edges"), hub_prefix=None,
                        sign_in_failures_per_address=10_000, sign_in_failures_per_user=10_000)
    with Sandbox(settings) as running:
        yield running


@pytest.fixture(scope="module")
def info(sandbox):
    return sandbox.info


def signed_in_browser(info) -> Browser:
    browser = Browser(info)
    browser.sign_in()
    return browser


@pytest.mark.parametrize("max_age", ["²", "①", "٣", "9" * 5000, "2147483648", "-1", "1.5", ""])
@pytest.mark.parametrize("prompt", [None, "none"])
def test_a_max_age_that_is_not_a_number_of_seconds_goes_back_as_invalid_request(info, max_age, prompt):
    browser = signed_in_browser(info)  # with a session: the path that compares max_age with its age
    response = browser.authorize(max_age=max_age, prompt=prompt)
    assert response.status_code == 302, response.text[:300]
    params = redirect_params(response)
    assert params["error"] == "invalid_request"
    assert params["error_description"] == ("Invalid value for 'max_age' parameter. It should be within range "
                                           "0 - 2^31-1.")


def test_a_max_age_of_digits_within_range_is_served(info):
    assert "code" in redirect_params(signed_in_browser(info).authorize(max_age="2147483647"))


def forged(info, **extra) -> dict:
    port = urlsplit(info.base_url).port
    return {"X-Forwarded-Context": f"/proxy/{port}", "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https", **extra}


def test_proxy_headers_on_a_sandbox_that_is_not_on_a_hub_change_nothing(info):
    made = requests.post(f"{info.base_url}/sandbox/apps", timeout=10, json={
        "name": "Forged", "redirect_uris": ["https://example.com/"]},
        headers=forged(info, Origin="https://evil.example"))
    assert made.status_code == 403
    browser = Browser(info)
    browser.http.headers.update(forged(info))
    page = browser.authorize()
    assert "evil.example" not in page.headers["Content-Security-Policy"]
    location = browser.submit(page).headers["Location"]
    assert location.startswith(info.redirect_uri + "?")


@pytest.mark.parametrize("username", ["learner\u200b@example.com", "\ufeffdealer@example.com",
                                      "learner\u202e@example.com", "learner＠example.com", "lеarner@example.com"])
def test_look_alike_usernames_are_refused(info, username):
    response = requests.post(f"{info.base_url}/sandbox/users", timeout=10,
                             json={"username": username, "password": "long-enough-password"})
    assert response.status_code == 400
    assert "username" in response.json()["error_description"]


def portal_form(info, path: str, fields: str) -> requests.Response:
    http = requests.Session()
    csrf = dict(HIDDEN.findall(http.get(info.base_url + path, timeout=10).text))["csrf"]
    return http.post(info.base_url + path, data=f"csrf={csrf}&{fields}".encode(), timeout=10,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})


@pytest.mark.parametrize("path, fields, words", [
    ("/sandbox/apps", "name=a%00b&redirect_uris=https://example.com/", "control character (U+0000)"),
    ("/sandbox/apps", "name=Two&redirect_uris=https://f3.example/%01https://f4.example/", "control character (U+0001)"),
    ("/sandbox/apps", "name=A&name=B&redirect_uris=https://example.com/", "'name' parameter was given more than once"),
    ("/sandbox/apps", "name=%FF&redirect_uris=https://example.com/", "'name' parameter is not valid UTF-8"),
    ("/sandbox/users", "username=u1%40example.com&password=pass%00word-long", "control character (U+0000)"),
    ("/sandbox/users", "username=u2%40example.com&password=%ED%A0%80%ED%A0%80x12345", "not valid UTF-8"),
])
def test_form_fields_are_read_as_sent_and_refused_with_what_is_wrong(info, path, fields, words):
    response = portal_form(info, path, fields)
    assert response.status_code == 400
    message = re.search(r'<p class="error" role="alert">(.*?)</p>', response.text, re.S).group(1)
    assert words in html.unescape(message)


def test_a_username_with_a_control_character_signs_nobody_in(info):
    browser = Browser(info)
    response = browser.submit(browser.authorize(), username=info.username + "\x00")
    assert response.status_code == 400 and "control character" in response.text
    assert "Location" not in response.headers


@pytest.mark.parametrize("method, path, allow, use", [
    ("GET", "/v1/token", "POST, OPTIONS", "POST"), ("PUT", "/v1/authorize", "GET, POST", "GET or POST"),
    ("DELETE", "/v1/keys", "GET, OPTIONS", "GET"),
])
def test_a_wrong_method_says_which_one_to_use(info, method, path, allow, use):
    response = requests.request(method, info.issuer + path, timeout=10)
    assert response.status_code == 405 and response.headers["Allow"] == allow
    assert f"use {use}." in response.json()["error_description"]


def test_a_json_media_type_in_capitals_is_json(info):
    response = requests.post(f"{info.base_url}/sandbox/apps", timeout=10, data=b'{"name": ""}',
                             headers={"Content-Type": "Application/JSON; charset=UTF-8"})
    assert response.status_code == 400 and "app name" in response.json()["error_description"]


@pytest.mark.parametrize("path", ["nothing.css", "%FF", "%C0%AE%C0%AE/server.py", "%ED%A0%80.css"])
def test_the_static_files_errors_are_short_and_logged_by_nobody(info, path, caplog):
    response = requests.get(f"{info.base_url}/static/{path}", timeout=10)
    assert response.status_code in (400, 404)
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "sandbox.css" in response.text and "<html" not in response.text
    assert not [r for r in caplog.records if r.name.startswith(("tornado", "fortellis_nb"))]


def test_an_undecodable_path_says_so(info):
    response = requests.get(f"{info.base_url}/oauth2/%FF/v1/keys", timeout=10)
    assert response.status_code == 400 and "Invalid unicode" in response.json()["error_description"]


@pytest.mark.parametrize("method, action, status, words", [
    ("GET", "shutdown", 405, "shutdown is asked for with POST"), ("GET", "rotate-keys", 405, "with POST"),
    ("POST", "progress", 405, "with GET"), ("POST", "explode", 404, "no admin action 'explode'"),
])
def test_admin_actions_say_what_there_is(info, method, action, status, words):
    response = requests.request(method, f"{info.base_url}/sandbox/admin/{action}", timeout=10,
                                headers={"Authorization": f"Bearer {info.admin_token}"})
    assert response.status_code == status and words in response.json()["error_description"]
