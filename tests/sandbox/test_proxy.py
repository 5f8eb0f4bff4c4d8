"""The sandbox behind jupyter-server-proxy (JupyterHub, Binder): the browser reaches it at
``{origin}{prefix}proxy/{port}/``, the kernel at ``http://127.0.0.1:{port}/``. A browser that
came through the proxy is sent to the sandbox's own callback page at the address it used;
the redirect_uri itself, and every other redirect target, stays exactly as registered."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from fortellis_nb.sandbox import Sandbox, Settings

from .conftest import Browser, exchange, redirect_params

HUB_PREFIX = "/user/learner/"


@pytest.fixture
def sandbox(tmp_path, clock):
    """A sandbox started on a JupyterHub: the kernel's environment named its server prefix."""
    with Sandbox(Settings(state_dir=tmp_path / "sandbox", clock=clock, hub_prefix=HUB_PREFIX)) as running:
        yield running


def proxy_headers(info, *, host="hub.example.org", proto="https", prefix="/user/learner/", port=None):
    """What jupyter-server-proxy adds to (and keeps of) the browser's request."""
    port = port or urlsplit(info.base_url).port
    headers = {"Host": host, "X-Forwarded-Context": f"{prefix}proxy/{port}"}
    if proto:
        headers["X-Forwarded-Proto"] = proto
    return headers


def test_a_proxied_browser_lands_on_the_proxied_callback_and_the_code_exchanges(browser):
    info = browser.info
    headers = proxy_headers(info)
    browser.http.headers.update(headers)
    page = browser.authorize()
    assert page.status_code == 200 and "SANDBOX" in page.text
    port = urlsplit(info.base_url).port
    # The sign-in page says where this browser will go: the proxied callback, not 127.0.0.1's.
    assert f"straight back to <code>https://hub.example.org/user/learner/proxy/{port}/callback/</code>" in page.text
    response = browser.submit(page)
    assert response.headers["Location"].startswith(f"https://hub.example.org/user/learner/proxy/{port}/callback/?")
    code = redirect_params(response)["code"]
    callback = browser.http.get(f"{info.base_url}/callback/?code={code}&state=s")
    assert f"https://hub.example.org/user/learner/proxy/{port}/callback/?code={code}" in callback.text
    # The kernel talks to the sandbox directly, with the redirect_uri of the authorize request.
    browser.http.headers.clear()
    tokens = exchange(info, code)
    assert tokens.status_code == 200, tokens.text


def test_without_the_proxy_nothing_changes(browser):
    response = browser.submit(browser.authorize())
    assert response.headers["Location"].startswith(browser.info.redirect_uri + "?")


def test_a_second_x_forwarded_proto_or_host_is_the_inner_proxy_s(browser):
    headers = {**proxy_headers(browser.info, host="127.0.0.1:8888", proto="https, http"),
               "X-Forwarded-Host": "hub.example.org, 10.0.0.4:8000"}
    browser.http.headers.update(headers)
    location = browser.submit(browser.authorize()).headers["Location"]
    assert location.startswith("https://hub.example.org/user/learner/proxy/")


@pytest.mark.parametrize("change", [
    {"port": 1},                                               # another server's context
    {"prefix": "https://evil.example/"},                       # not a path
    {"X-Forwarded-Host": "evil.example/path?"},               # not a host
    {"X-Forwarded-Host": "evil.example@hub"},
    {"proto": "javascript"},
])
def test_headers_that_do_not_describe_this_server_behind_the_proxy_change_nothing(browser, change):
    forwarded_host = change.pop("X-Forwarded-Host", None)
    headers = proxy_headers(browser.info, **change)
    if forwarded_host:
        headers["X-Forwarded-Host"] = forwarded_host
    # With the hub's Host they do not pass the gate: they do not come from this server's proxy.
    browser.http.headers.update(headers)
    assert browser.authorize().status_code == 403
    # Sent to the sandbox's own address, they change nothing.
    headers["Host"] = urlsplit(browser.info.base_url).netloc
    browser.http.headers.update(headers)
    location = browser.submit(browser.authorize()).headers["Location"]
    assert location.startswith(browser.info.redirect_uri + "?")


def test_only_the_sandbox_s_own_callback_is_delivered_through_the_proxy(browser):
    browser.http.headers.update(proxy_headers(browser.info))
    location = browser.submit(browser.authorize(redirect_uri="https://example.com/")).headers["Location"]
    assert location.startswith("https://example.com/?")


def test_errors_go_to_the_proxied_callback_too(browser):
    browser.http.headers.update(proxy_headers(browser.info))
    response = browser.authorize(scope="openid not-a-scope")
    assert response.status_code == 302
    assert "/proxy/" in response.headers["Location"]
    assert redirect_params(response)["error"] == "invalid_scope"


def test_the_hub_s_host_is_refused_by_a_sandbox_that_is_not_on_a_hub(tmp_path):
    with Sandbox(Settings(state_dir=tmp_path / "laptop", hub_prefix=None)) as laptop:
        browser = Browser(laptop.info)
        browser.http.headers.update(proxy_headers(laptop.info))
        page = browser.authorize()
        assert page.status_code == 403 and "'hub.example.org' is not one of them" in page.text


def test_the_proxy_context_must_name_the_hub_s_own_prefix(browser):
    browser.http.headers.update(proxy_headers(browser.info, prefix="/user/someone-else/"))
    assert browser.authorize().status_code == 403


def test_the_subscriptions_service_through_the_proxy(sandbox):
    import requests

    from .test_subscriptions_service import client_token

    info = sandbox.info
    answer = requests.get(f"{info.subscriptions_url}/v1/solution/subscriptions", headers={
        **proxy_headers(info), "Authorization": f"Bearer {client_token(info)}"})
    assert answer.status_code == 200
    assert info.subscription_id in {s["subscriptionId"] for s in answer.json()["subscriptions"]}
