"""On JupyterHub and Binder the learner's browser reaches the local sandbox through
jupyter-server-proxy while the kernel talks to it directly: the authorize link and the
callback are proxied addresses, everything the kernel sends is not."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from fortellis_nb.local import headless, sandbox_client
from fortellis_nb.oauth import errors
from fortellis_nb.oauth.config import sandbox_browser_base


@pytest.mark.parametrize("env, expected", [
    ({}, None),
    ({"JUPYTERHUB_SERVICE_PREFIX": "/user/learner/"}, "/user/learner/proxy/8765"),
    ({"JUPYTERHUB_SERVICE_PREFIX": "/"}, "/proxy/8765"),
    ({"JUPYTERHUB_SERVICE_PREFIX": "/user/a/", "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/user/a/"},
     "https://hub.example.org/user/a/proxy/8765"),
    ({"JUPYTERHUB_SERVICE_PREFIX": "/user/a/", "FORTELLIS_PUBLIC_ORIGIN": "https://room.example.org",
      "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/user/a/"}, "https://room.example.org/user/a/proxy/8765"),
])
def test_the_browser_base_of_a_loopback_sandbox(env, expected):
    assert sandbox_browser_base("http://127.0.0.1:8765", env) == expected


def test_a_sandbox_the_browser_reaches_directly_is_not_proxied():
    # A room's shared sandbox (--host 0.0.0.0 --public-url ...): browsers go straight there.
    assert sandbox_browser_base("http://10.0.0.5:8765", {"JUPYTERHUB_SERVICE_PREFIX": "/user/a/"}) is None


@pytest.fixture(scope="module")
def shared_sandbox(tmp_path_factory):
    """This module's sandbox runs on a JupyterHub: its environment names the server prefix."""
    from fortellis_nb.sandbox import Sandbox, Settings

    with Sandbox(Settings(state_dir=tmp_path_factory.mktemp("hub-sandbox"), hub_prefix="/user/learner/")) as running:
        yield running


@pytest.fixture
def hub_client(info):
    return sandbox_client(info, env={"JUPYTERHUB_SERVICE_PREFIX": "/user/learner/"})


def test_the_link_is_proxied_the_request_is_not(hub_client, info):
    port = urlsplit(info.base_url).port
    request = hub_client.authorization_url(scopes="openid")
    assert request.url.startswith(info.issuer)  # what the kernel built, with its redirect_uri
    assert request.params["redirect_uri"] == info.redirect_uri
    link = hub_client.config.browser_url(request.url)
    assert link == f"/user/learner/proxy/{port}" + request.url[len(info.base_url):]


def test_the_whole_flow_with_the_browser_behind_the_proxy(hub_client, info):
    port = urlsplit(info.base_url).port
    request = hub_client.authorization_url(scopes="openid offline_access")
    browser = requests.Session()  # plays the proxy: the browser's Host, the proxy's context
    browser.headers.update({"Host": "hub.example.org", "X-Forwarded-Proto": "https",
                            "X-Forwarded-Context": f"/user/learner/proxy/{port}"})
    landed = hub_client.sign_in_headless(request)  # direct: what unattended runs do
    assert landed.startswith(info.redirect_uri)
    request = hub_client.authorization_url(scopes="openid offline_access")
    landed = headless.sign_in(request.url, username=info.username, password=info.password,
                              http=hub_client.http, session=browser)
    assert landed.startswith(f"https://hub.example.org/user/learner/proxy/{port}/callback/?code=")
    tokens = hub_client.exchange_code(hub_client.parse_redirect(landed))
    assert tokens.access_token
    token_request = hub_client.transcript.last
    assert token_request.url.startswith(info.issuer) and ("redirect_uri", info.redirect_uri) in token_request.form


def test_another_path_is_still_a_mismatch(hub_client):
    hub_client.authorization_url(scopes="openid")
    with pytest.raises(errors.RedirectMismatchError):
        hub_client.parse_redirect("https://hub.example.org/user/someone-else/proxy/1/callback/?code=x&state=y")
