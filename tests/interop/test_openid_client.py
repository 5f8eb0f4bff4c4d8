"""The certified relying party openid-client (npm) completes the whole flow against the sandbox,
once with client_secret_basic (openid-client form-urlencodes the id and secret, as RFC 6749
2.3.1 asks) and once with client_secret_post: discovery, the code flow with PKCE, state and
nonce, userinfo, refresh, introspection, revocation, client credentials."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fortellis_nb.sandbox import Sandbox, Settings

from .npm_cache import npm_package

PACKAGE = "openid-client@6.9.0"
SCRIPT = Path(__file__).with_name("openid_client_flow.mjs")


@pytest.fixture(scope="module")
def openid_client():
    folder = npm_package(PACKAGE, "openid-client")
    copy = folder / f".{SCRIPT.name}.{os.getpid()}.tmp"  # ESM resolves packages from the script's folder:
    shutil.copyfile(SCRIPT, copy)                        # copied there, atomically (workers may race)
    os.replace(copy, folder / SCRIPT.name)
    return folder


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with Sandbox(Settings(state_dir=tmp_path_factory.mktemp("openid-client"))) as running:
        yield running


@pytest.fixture(scope="module")
def odd_secret(sandbox):
    """An app whose secret form-urlencoding changes (a space, '+', '/', '=', '%'), to see that the
    sandbox decodes what openid-client encodes."""
    import time

    secret = "an odd+secret/with=chars%"
    app, _ = sandbox.store.add_app("Odd secret", [sandbox.info.redirect_uri], time.time(), api_secret=secret)
    return app.api_key, secret


@pytest.mark.parametrize("method, secret", [("basic", "demo"), ("post", "demo"), ("basic", "odd")])
def test_openid_client_completes_the_whole_flow(openid_client, sandbox, odd_secret, method, secret):
    info = sandbox.info
    if secret == "odd":
        info = info.__class__(**{**info.as_dict(), "api_key": odd_secret[0], "api_secret": odd_secret[1]})
    done = subprocess.run(["node", SCRIPT.name, info.issuer, info.api_key, info.api_secret, info.redirect_uri,
                           info.username, info.password, method], cwd=openid_client, capture_output=True,
                          text=True, timeout=60)
    steps = {line["step"]: line for line in map(json.loads, done.stdout.splitlines())}
    assert done.returncode == 0, done.stderr[-2000:]
    assert steps["discovery"]["issuer"] == info.issuer
    assert steps["signed in"] == {"step": "signed in", "status": 302, "to_redirect_uri": True}
    assert steps["tokens"]["has_refresh_token"] and steps["tokens"]["nonce_ok"]
    assert steps["tokens"]["aud"] == info.api_key
    assert steps["userinfo"]["email"] == info.username and steps["userinfo"]["name"]
    assert steps["refresh"]["same_refresh_token"] and steps["refresh"]["new_access_token"]
    assert steps["introspect"] == {"step": "introspect", "active": True, "client_id": info.api_key,
                                   "refresh_active": True}
    assert steps["revoke"]["active_after"] is False
    assert steps["client_credentials"] == {"step": "client_credentials", "scope": "anonymous",
                                           "token_type": "bearer"}
