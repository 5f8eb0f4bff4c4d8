"""The whole flow, by discovery, against an independent OpenID provider: the npm package
``oidc-provider`` (a certified OpenID Connect implementation) with its development pages,
installed from the npm registry on first use into a cache folder (npm_cache.py) and run with
node; client credentials, introspection and revocation too."""

from __future__ import annotations

import pytest

from fortellis_nb.oauth.config import Config
from fortellis_nb.oauth import FortellisClient, errors

from .npm_cache import NodeScript, npm_package
from .test_providers import REDIRECT_URI, browse  # oidc-provider's sign-in and consent pages

PACKAGE = "oidc-provider@8.8.1"  # the 8.x line supports node 20 (9.x asks for node 22)
CLIENT_ID = "independent-client"
CLIENT_SECRET = "independent-secret-0123456789"


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    folder = npm_package(PACKAGE, "oidc-provider")
    log = tmp_path_factory.mktemp("oidc-provider") / "stderr.log"
    script = NodeScript(folder, "oidc_provider_server.mjs", CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, log=log)
    try:
        yield script.ready["issuer"]
    finally:
        script.stop()


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
    from fortellis_nb.local import SandboxClient

    pretending = SandboxClient(client.config, http=client.http)
    with pytest.raises(errors.SandboxOnlyError):
        pretending.sign_in_headless(pretending.authorization_url(), "learner", "any")
