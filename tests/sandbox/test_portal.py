"""The sandbox's own pages: home, callback, app registration, users; and the headers
every page carries."""

import html
import re

import pytest
import requests

from .conftest import Browser, exchange

PAGES = ["/", "/callback/?code=abc&state=xyz", "/sandbox/apps", "/sandbox/users", "/no-such-page"]


@pytest.mark.parametrize("path", PAGES)
def test_security_headers_on_every_page(info, path):
    response = requests.get(info.base_url + path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    # Never a referrer for another site; the callback page, which holds a code, none at all.
    assert response.headers["Referrer-Policy"] == ("no-referrer" if path.startswith("/callback") else "same-origin")


@pytest.mark.parametrize("path", PAGES)
def test_links_are_relative(info, path):
    text = requests.get(info.base_url + path).text
    for target in re.findall(r'(?:href|src|action)="([^"]*)"', text):
        assert not target.startswith("/") and "://" not in target, target


def test_cookies_are_httponly_and_samesite(browser):
    browser.sign_in()
    cookies = browser.http.cookies
    assert cookies
    for cookie in cookies:
        assert cookie.has_nonstandard_attr("HttpOnly")
        assert cookie.get_nonstandard_attr("SameSite") in ("Lax", "Strict")


def test_callback_page_shows_the_url_code_and_state(info, browser):
    response = browser.sign_in()
    url = f"{info.redirect_uri}?code={response['code']}&state={response['state']}"
    page = requests.get(url)
    assert page.status_code == 200
    assert html.escape(url) in page.text or url.replace("&", "&amp;") in page.text
    assert response["code"] in page.text and 'id="copy"' in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"


def test_callback_page_shows_an_error(info):
    page = requests.get(f"{info.redirect_uri}?error=access_denied&error_description=denied&state=s")
    assert "access_denied" in page.text


def test_callback_escapes_what_it_shows(info):
    page = requests.get(f"{info.redirect_uri}?code=<script>alert(1)</script>&state=\"><b>")
    assert "<script>alert" not in page.text and "<b>" not in page.text


def test_home_does_not_show_the_secret(info):
    text = requests.get(info.base_url + "/").text
    assert info.api_key in text and info.api_secret not in text and info.issuer in text


def test_register_an_app_with_json_and_use_it(info):
    response = requests.post(f"{info.base_url}/sandbox/apps", json={
        "name": "My Dealer App", "redirect_uris": ["http://localhost:8080/callback/", info.redirect_uri]})
    assert response.status_code == 201
    app = response.json()
    assert len(app["api_key"]) == 32 and app["api_secret"] and "subscription_id" not in app
    assert app["redirect_uris"] == ["http://localhost:8080/callback/", info.redirect_uri]
    # No Subscription-Id until a dealer activates the app (Fortellis' Marketplace).
    activated = requests.post(f"{info.base_url}/sandbox/subscriptions", json={
        "api_key": app["api_key"], "dealership": "Riverside Motors"})
    assert activated.status_code == 201 and activated.json()["dealership"] == "Riverside Motors"
    app["subscription_id"] = activated.json()["subscription_id"]
    browser = Browser(info)
    code = browser.sign_in(client_id=app["api_key"])["code"]
    token = requests.post(f"{info.issuer}/v1/token", auth=(app["api_key"], app["api_secret"]), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": info.redirect_uri})
    assert token.status_code == 200
    api = requests.get(f"{info.api_base_url}/sandbox/v1/dealership", headers={
        "Authorization": f"Bearer {token.json()['access_token']}", "Subscription-Id": app["subscription_id"]})
    assert api.status_code == 200 and api.json()["dealership"] == "Riverside Motors"
    # `test` works for every app at once.
    sample = requests.get(f"{info.api_base_url}/sandbox/v1/dealership", headers={
        "Authorization": f"Bearer {token.json()['access_token']}", "Subscription-Id": "test"})
    assert sample.status_code == 200 and sample.json()["dealership"] == "Test Dealership"
    # Another app's subscription is not this one's.
    other = requests.get(f"{info.api_base_url}/sandbox/v1/dealership", headers={
        "Authorization": f"Bearer {token.json()['access_token']}", "Subscription-Id": info.subscription_id})
    assert other.json()["code"] == "SUBSCRIPTION-MISMATCH"


@pytest.mark.parametrize("body", [
    {"name": "", "redirect_uris": ["https://a.example/"]},
    {"name": "x", "redirect_uris": []},
    {"name": "x", "redirect_uris": ["javascript:alert(1)"]},
    {"name": "x", "redirect_uris": ["https://a.example/#frag"]},
    {"name": "x", "redirect_uris": "not a url"},
    {"name": "x", "redirect_uris": [42]},
])
def test_bad_registrations_are_refused_clearly(info, body):
    response = requests.post(f"{info.base_url}/sandbox/apps", json=body)
    assert response.status_code == 400
    assert response.json()["error_description"]


def test_register_an_app_with_the_form(info):
    http = requests.Session()
    page = http.get(f"{info.base_url}/sandbox/apps")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    created = http.post(f"{info.base_url}/sandbox/apps", data={
        "csrf": csrf, "name": "Form App", "redirect_uris": "https://example.com/\nhttps://b.example/cb/"})
    assert created.status_code == 200 and "API Secret" in created.text
    assert "Form App" in requests.get(f"{info.base_url}/sandbox/apps").text


def test_the_form_needs_its_csrf_token(info):
    response = requests.post(f"{info.base_url}/sandbox/apps", data={
        "csrf": "guess", "name": "Sneaky", "redirect_uris": "https://example.com/"})
    assert response.status_code == 403
    assert "Sneaky" not in requests.get(f"{info.base_url}/sandbox/apps").text


def test_add_a_user_and_sign_in_as_them(info):
    response = requests.post(f"{info.base_url}/sandbox/users", json={
        "username": "pat@example.com", "password": "correct-horse", "name": "Pat"})
    assert response.status_code == 201 and response.json()["id"].startswith("00u")
    browser = Browser(info)
    page = browser.authorize()
    back = browser.submit(page, username="pat@example.com", password="correct-horse")
    assert back.status_code == 302
    body = exchange(info, re.search(r"code=([^&]+)", back.headers["Location"]).group(1)).json()
    assert body["access_token"]


@pytest.mark.parametrize("body", [
    {"username": "not-an-email", "password": "long-enough"},
    {"username": "a@example.com", "password": "short"},
    {"username": "learner@example.com", "password": "long-enough"},
])
def test_bad_users_are_refused(info, body):
    assert requests.post(f"{info.base_url}/sandbox/users", json=body).status_code == 400


def test_health(info):
    from fortellis_nb.sandbox.ids import build_id
    assert requests.get(f"{info.base_url}/sandbox/health").json() == {
        "status": "ok", "sandbox": True, "server_id": info.server_id, "issuer": info.issuer, "pid": info.pid,
        "build": build_id()}


def test_the_code_info_page_tells_a_code_s_issue_and_expiry_and_nothing_of_others(info, browser):
    code = browser.sign_in()["code"]
    answer = requests.post(f"{info.base_url}/sandbox/codes", json={"code": code}).json()
    assert answer["expires_at"] - answer["issued_at"] == answer["lifetime"] == 60 and answer["used_at"] is None
    unknown = requests.post(f"{info.base_url}/sandbox/codes", json={"code": "not-a-code-it-issued"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_code"
    bad = requests.post(f"{info.base_url}/sandbox/codes", json={"code": ["a list"]})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"


def test_instructor_activity_counts(info, tokens):
    requests.post(f"{info.issuer}/v1/token", auth=(info.api_key, info.api_secret),
                  data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    rows = requests.get(f"{info.base_url}/sandbox/admin/activity",
                        headers={"Authorization": f"Bearer {info.admin_token}"}).json()
    counts = {r["kind"]: r["count"] for r in rows if r["api_key"] == info.api_key}
    assert counts == {"exchange": 1, "refresh": 1}


def test_no_traceback_ever_reaches_the_browser(info):
    response = requests.post(f"{info.base_url}/sandbox/apps", data=b"\xff\xfe", headers={
        "Content-Type": "application/json"})
    assert response.status_code == 400
    assert "Traceback" not in response.text
