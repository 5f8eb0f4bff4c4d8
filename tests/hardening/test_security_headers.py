"""Security headers on every kind of sandbox answer (pages, JSON, errors, redirects, the admin
API, static files), cookies that scripts cannot read and other sites do not send, and a
sandbox that stays on loopback unless asked. tests/sandbox/test_portal.py checks the
portal's pages; this module covers everything else."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from fortellis_nb.sandbox import Sandbox, Settings

from ..sandbox.conftest import HIDDEN, Browser


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with Sandbox(Settings(state_dir=tmp_path_factory.mktemp("headers"))) as running:
        yield running


@pytest.fixture(scope="module")
def info(sandbox):
    return sandbox.info


def assert_secure(response: requests.Response) -> None:
    what = f"{response.request.method} {response.url} -> {response.status_code}"
    csp = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp, what
    assert response.headers.get("X-Content-Type-Options") == "nosniff", what
    assert response.headers.get("Referrer-Policy") in ("same-origin", "no-referrer"), what
    assert response.headers.get("X-Frame-Options") == "DENY", what


def answers(info) -> list[tuple[str, str, dict]]:
    issuer, basic = info.issuer, (info.api_key, info.api_secret)
    admin = {"Authorization": f"Bearer {info.admin_token}"}
    return [
        ("GET", f"{issuer}/.well-known/openid-configuration", {}),
        ("GET", f"{issuer}/.well-known/oauth-authorization-server", {}),
        ("GET", f"{issuer}/v1/keys", {}),
        ("GET", f"{issuer}/v1/authorize", {}),  # error page: no client_id
        ("GET", f"{issuer}/v1/authorize", {"params": {  # the sign-in page (its own CSP adds form-action)
            "client_id": info.api_key, "redirect_uri": info.redirect_uri, "response_type": "code",
            "scope": "openid", "state": "s"}}),
        ("GET", f"{issuer}/v1/authorize", {"params": {  # an error redirect back to the app
            "client_id": info.api_key, "redirect_uri": info.redirect_uri, "response_type": "token",
            "state": "s"}}),
        ("POST", f"{issuer}/v1/authorize", {"data": {"txn": "expired"}}),
        ("POST", f"{issuer}/v1/token", {}),  # 401 invalid_client
        ("POST", f"{issuer}/v1/token", {"auth": basic, "data": {"grant_type": "client_credentials",
                                                                "scope": "anonymous"}}),
        ("POST", f"{issuer}/v1/token", {"auth": basic, "data": {"grant_type": "x"}}),
        ("GET", f"{issuer}/v1/token", {}),  # 405
        ("GET", f"{issuer}/v1/userinfo", {}),
        ("POST", f"{issuer}/v1/introspect", {"auth": basic, "data": {"token": "x"}}),
        ("POST", f"{issuer}/v1/revoke", {"auth": basic, "data": {"token": "x"}}),
        ("GET", f"{issuer}/v1/logout", {}),
        ("GET", f"{info.base_url}/oauth2/another/v1/keys", {}),
        ("GET", f"{info.base_url}/oauth2/{info.server_id}/v1/nothing", {}),
        ("GET", f"{info.api_base_url}/sandbox/v1/dealership", {}),
        ("GET", f"{info.api_base_url}/sandbox/v1/nothing", {}),
        ("GET", f"{info.base_url}/sandbox/apps", {"headers": {"Accept": "application/json"}}),
        ("POST", f"{info.base_url}/sandbox/apps", {"json": {"name": ""}}),
        ("POST", f"{info.base_url}/sandbox/users", {"data": "{", "headers": {"Content-Type": "application/json"}}),
        ("GET", f"{info.base_url}/sandbox/health", {}),
        ("GET", f"{info.base_url}/sandbox/admin/activity", {}),
        ("GET", f"{info.base_url}/sandbox/admin/activity", {"headers": admin}),
        ("GET", f"{info.base_url}/sandbox/admin/nothing", {"headers": admin}),
        ("DELETE", f"{info.base_url}/sandbox/admin/activity", {"headers": admin}),
        ("GET", f"{info.base_url}/static/sandbox.css", {}),
        ("GET", f"{info.base_url}/static/callback.js", {}),
        ("GET", f"{info.base_url}/static/nothing.css", {}),
        ("GET", f"{info.base_url}/static/../server.py", {}),
        ("PUT", f"{info.base_url}/", {}),
    ]


def test_every_kind_of_answer_carries_the_security_headers(info):
    seen = set()
    for method, url, kwargs in answers(info):
        response = requests.request(method, url, allow_redirects=False, timeout=10, **kwargs)
        assert response.status_code < 500, (method, url, response.text[:200])
        assert_secure(response)
        seen.add(response.status_code)
    assert {200, 302, 400, 401, 404, 405} <= seen  # successes, redirects and errors alike


def test_static_files_are_served_with_their_type_and_nosniff(info):
    css = requests.get(f"{info.base_url}/static/sandbox.css", timeout=10)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    script = requests.get(f"{info.base_url}/static/callback.js", timeout=10)
    assert "javascript" in script.headers["Content-Type"]


def set_cookies(response: requests.Response) -> list[str]:
    return response.raw.headers.getlist("Set-Cookie")


def test_every_cookie_is_httponly_and_samesite(info):
    browser = Browser(info)
    page = browser.authorize()
    back = browser.submit(page)
    apps = browser.http.get(f"{info.base_url}/sandbox/apps", timeout=10)
    users = browser.http.get(f"{info.base_url}/sandbox/users", timeout=10)
    cookies = [c for r in (page, back, apps, users) for c in set_cookies(r)]
    names = {c.split("=", 1)[0].split("_")[1] for c in cookies}
    assert names == {"csrf", "session", "form"}, cookies
    for cookie in cookies:
        attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
        assert "httponly" in attributes, cookie
        assert any(a in ("samesite=lax", "samesite=strict") for a in attributes), cookie
        assert "path=/" in attributes, cookie


def test_a_failed_sign_in_keeps_its_cookie_safe_too(info):
    browser = Browser(info)
    page = browser.authorize()
    fields = dict(HIDDEN.findall(page.text), username=info.username, password="wrong", action="allow")
    again = browser.http.post(f"{info.issuer}/v1/authorize", data=fields, allow_redirects=False, timeout=10)
    assert again.status_code == 401
    assert_secure(again)
    for cookie in set_cookies(again):
        assert "httponly" in cookie.lower() and "samesite=" in cookie.lower()


# --- binding ---------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_settings_refuse_a_non_loopback_host(tmp_path, host):
    with pytest.raises(ValueError, match="allow_remote=True"):
        Settings(state_dir=tmp_path, host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts_need_nothing(tmp_path, host):
    assert Settings(state_dir=tmp_path, host=host).host == host


def test_binding_everywhere_works_when_asked(tmp_path):
    with Sandbox(Settings(state_dir=tmp_path, host="0.0.0.0", allow_remote=True)) as running:
        assert running.info.base_url.startswith("http://127.0.0.1:")  # reached on loopback
        assert requests.get(f"{running.info.base_url}/sandbox/health", timeout=10).status_code == 200


def run_cli(*args, timeout=20):
    return subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_the_command_line_refuses_a_remote_host_without_the_flag(tmp_path):
    result = run_cli("--host", "0.0.0.0", "--port", "0", "--state", str(tmp_path))
    assert result.returncode == 2
    assert "--allow-remote" in result.stderr and "Refusing" in result.stderr
    assert not result.stdout  # nothing started, no credentials printed


def test_the_default_host_is_loopback():
    result = run_cli("--help")
    assert "default 127.0.0.1" in result.stdout and "--allow-remote" in result.stdout
