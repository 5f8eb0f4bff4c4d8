"""The whole flow, by discovery, against an independent OpenID provider: the npm package
``oidc-provider`` (a certified OpenID Connect implementation), installed from the npm
registry on first use into a cache folder and run with node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from fortellis_nb.oauth.config import Config
from fortellis_nb.oauth import FortellisClient, errors
from fortellis_nb.oauth.headless import parse_forms

PACKAGE = "oidc-provider@8.8.1"  # the 8.x line supports node 20 (9.x asks for node 22)
CLIENT_ID = "independent-client"
CLIENT_SECRET = "independent-secret-0123456789"
REDIRECT_URI = "https://example.com/"
SCRIPT = Path(__file__).with_name("oidc_provider_server.mjs")


def _install(package: str) -> Path:
    """npm-install ``package`` once into a cache folder shared by test runs and xdist workers.

    Each installs into a folder of its own and renames it into place; when two race, the
    first rename wins and the other's copy is thrown away (no file lock: Windows has none
    of POSIX's)."""
    root = Path(os.environ.get("FORTELLIS_NB_TEST_CACHE", Path.home() / ".cache" / "fortellis-nb-tests"))
    root.mkdir(parents=True, exist_ok=True)
    target = root / package.replace("/", "_")
    if not (target / "node_modules" / "oidc-provider" / "package.json").exists():
        staging = Path(tempfile.mkdtemp(dir=root))
        subprocess.run(["npm", "install", "--prefix", str(staging), "--no-audit", "--no-fund",
                        "--no-save", "--loglevel=error", package], check=True, capture_output=True,
                       timeout=300, shell=os.name == "nt")
        try:
            staging.rename(target)
        except OSError:  # another worker's copy is in place already
            shutil.rmtree(staging, ignore_errors=True)
    # ESM resolves packages from the script's own folder, so the script runs from there.
    shutil.copy(SCRIPT, target / SCRIPT.name)
    return target


@pytest.fixture(scope="module")
def provider():
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node and npm are needed to run the independent OpenID provider (oidc-provider)")
    folder = _install(PACKAGE)
    process = subprocess.Popen(["node", SCRIPT.name, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI], cwd=folder,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 30
        issuer = None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("READY "):
                issuer = json.loads(line[len("READY "):])["issuer"]
                break
        assert issuer, "oidc-provider did not start"
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=10)


def browse(authorization_url: str, username: str = "learner") -> str:
    """The person's part at oidc-provider's development sign-in and consent pages."""
    browser = requests.Session()
    response = browser.get(authorization_url, allow_redirects=False, timeout=10)
    for _ in range(10):
        if response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(REDIRECT_URI):
                return location
            response = browser.get(location, allow_redirects=False, timeout=10)
            continue
        forms, _ = parse_forms(response.text)
        form = forms[0]
        data = dict(form.fields)
        if "login" in form.inputs:
            data.update(login=username, password="any")
        response = browser.post(urljoin(response.url, form.action), data=data, allow_redirects=False, timeout=10)
    raise AssertionError("no redirect back from oidc-provider")


@pytest.fixture
def client(provider):
    config = Config(issuer=provider, api_key=CLIENT_ID, api_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI,
                    scopes=("openid", "offline_access"))
    return FortellisClient(config)


def test_whole_flow_by_discovery(client, provider):
    assert client.metadata.source == provider + "/.well-known/openid-configuration"
    assert client.metadata.token_endpoint == provider + "/token"  # not the Okta /v1 paths

    request = client.authorization_url(pkce=True, prompt="consent")
    response = client.parse_redirect(browse(request.url))
    assert response.iss == provider  # RFC 9207, checked against the discovered issuer

    tokens = client.exchange_code(response)
    assert tokens.id_claims["aud"] == CLIENT_ID and tokens.id_claims["nonce"] == request.nonce
    assert tokens.id_claims["iss"] == provider and tokens.id_claims["sub"] == "learner"
    assert tokens.refresh_token

    assert client.userinfo()["sub"] == "learner"
    assert client.introspect()["active"] is True

    refreshed = client.refresh()
    assert refreshed.refresh_token_status in ("same", "rotated")
    assert refreshed.id_claims is None or refreshed.id_claims["sub"] == "learner"

    client.revoke()
    assert client.introspect()["active"] is False

    app_token = client.client_credentials(scopes=("anonymous",))
    assert app_token.access_token and app_token.scope == "anonymous"

    for exchange in client.transcript:
        assert CLIENT_SECRET not in exchange.as_curl()


def test_reused_code_and_wrong_secret_are_typed_errors(client, provider):
    response = client.parse_redirect(browse(client.authorization_url(pkce=True).url))
    client.exchange_code(response)
    with pytest.raises(errors.InvalidGrantError) as caught:
        client.exchange_code(response)
    assert "already exchanged" in caught.value.hint

    wrong = FortellisClient(client.config.replace(api_secret="not-the-secret"))
    with pytest.raises(errors.InvalidClientError):
        wrong.client_credentials(scopes=("anonymous",))


def test_headless_sign_in_refuses_the_independent_provider(client):
    with pytest.raises(errors.SandboxOnlyError):
        client.sign_in_headless(client.authorization_url(), "learner", "any")
