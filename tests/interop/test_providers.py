"""The client's whole flow against three independent OpenID providers.

1. npm ``oidc-provider`` (a certified OpenID provider), configured strictly: PKCE required of
   every client, refresh tokens rotated on every refresh (the old one refused afterwards);
2. npm ``oauth2-mock-server`` with its defaults (no login page; JWT access tokens without
   Fortellis' audience);
3. a small provider built from Authlib's server parts (authlib_provider.py): ID tokens with
   ``aud`` a list and ``azp``, refresh tokens rotated and the old one revoked.

For each: discovery, the authorize URL, signing in (the provider's own pages, driven with
``requests``), ``parse_redirect``, ``exchange_code`` (which verifies the ID token: signature,
iss, aud = client id, nonce, at_hash), two refreshes, and ``userinfo``; with a confidential
client (API Secret) and with a public one (no secret, so PKCE).

The npm providers are installed on first use into a cache folder (npm_cache.py); without
node, npm or the registry their tests skip, or fail when CI=true.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest
import requests

from fortellis_nb.oauth import FortellisClient, errors
from fortellis_nb.oauth.config import Config
from fortellis_nb.local.headless import parse_forms
from fortellis_nb.oauth.verify import at_hash, decode

from .authlib_provider import USER as AUTHLIB_USER
from .authlib_provider import AuthlibProvider
from .npm_cache import NodeScript, npm_package

REDIRECT_URI = "https://example.com/"
SCOPES = ("openid", "offline_access")
CLIENT_ID = "interop-client"
CLIENT_SECRET = "interop-secret-0123456789"
PUBLIC_CLIENT_ID = "interop-public-client"

OIDC_PROVIDER = "oidc-provider@8.8.1"  # as test_independent_provider.py (9.x needs node 22)
OAUTH2_MOCK_SERVER = "oauth2-mock-server@8.2.3"  # the newest for node 20 (9.x needs node >= 22.12)


# --- helpers -----------------------------------------------------------------------

def client_for(issuer: str, public: bool = False, scopes=SCOPES) -> FortellisClient:
    if public:
        return FortellisClient(Config(issuer=issuer, api_key=PUBLIC_CLIENT_ID, api_secret=None,
                                      redirect_uri=REDIRECT_URI, scopes=scopes))
    return FortellisClient(Config(issuer=issuer, api_key=CLIENT_ID, api_secret=CLIENT_SECRET,
                                  redirect_uri=REDIRECT_URI, scopes=scopes))


def browse(authorization_url: str, username: str = "learner") -> str:
    """The person's part: follow the provider's redirects, fill in its sign-in form and submit
    its consent form (oidc-provider's development pages), until it sends the browser to the
    redirect URI; return that URL."""
    browser = requests.Session()
    response = browser.get(authorization_url, allow_redirects=False, timeout=10)
    for _ in range(10):
        if response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(REDIRECT_URI):
                return location
            response = browser.get(location, allow_redirects=False, timeout=10)
            continue
        assert response.status_code == 200, f"HTTP {response.status_code} from {response.url}: {response.text[:300]}"
        forms, _ = parse_forms(response.text)
        assert forms, f"no form and no redirect at {response.url}: {response.text[:300]}"
        form = forms[0]
        data = dict(form.fields)
        if "login" in form.inputs:
            data.update(login=username, password="any")
        response = browser.post(urljoin(response.url, form.action), data=data, allow_redirects=False, timeout=10)
    raise AssertionError("the provider never sent the browser back to the redirect URI")


def sign_in(client: FortellisClient, **authorize):
    """Authorize URL, sign-in, parse_redirect, exchange_code: the request, redirect and tokens."""
    request = client.authorization_url(**authorize)
    assert request.params["prompt"] == "consent"  # asked for offline_access from a non-Fortellis issuer
    if authorize.get("pkce") or client.config.public:
        assert request.params["code_challenge_method"] == "S256" and request.code_verifier
    response = client.parse_redirect(browse(request.url))
    assert response.request is request
    tokens = client.exchange_code(response)
    assert tokens.id_claims is not None, "the client verified no ID token"
    assert tokens.id_claims["nonce"] == request.nonce
    assert tokens.refresh_token
    return request, response, tokens


def refresh_twice(client: FortellisClient, tokens) -> list[str]:
    """Two refreshes, each answered with a new refresh token, each sending the one the previous
    answer brought; returns the refresh tokens in the order they came (the first from the code
    exchange)."""
    seen = [tokens.refresh_token]
    for _ in range(2):
        refreshed = client.refresh()
        assert client.tokens is refreshed and refreshed.access_token
        assert refreshed.refresh_token_status == "rotated"
        assert refreshed.refresh_token not in seen
        seen.append(refreshed.refresh_token)
        if refreshed.id_claims is not None:  # a refreshed ID token is verified and keeps iss and sub
            assert refreshed.id_claims["sub"] == tokens.id_claims["sub"]
            assert refreshed.id_claims["iss"] == tokens.id_claims["iss"]
    sent = [dict(e.form)["refresh_token"] for e in client.transcript if e.label == "Refresh"]
    assert sent == seen[:2], "each refresh must send the refresh token the previous answer brought"
    return seen


# --- 1. oidc-provider, strict -----------------------------------------------------------

@pytest.fixture(scope="module")
def strict_issuer(tmp_path_factory):
    folder = npm_package(OIDC_PROVIDER, "oidc-provider")
    node = NodeScript(folder, "oidc_provider_strict.mjs", CLIENT_ID, CLIENT_SECRET, PUBLIC_CLIENT_ID,
                      REDIRECT_URI, log=tmp_path_factory.mktemp("oidc-provider") / "stderr.log")
    try:
        yield node.ready["issuer"]
    finally:
        node.stop()


@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public"])
def test_strict_oidc_provider_requires_pkce_and_rotates_refresh_tokens(strict_issuer, public):
    client = client_for(strict_issuer, public=public)
    assert client.metadata.source == strict_issuer + "/.well-known/openid-configuration"
    assert client.metadata.code_challenge_methods_supported == ["S256"]

    _, response, tokens = sign_in(client, pkce=True)
    assert response.iss == strict_issuer  # RFC 9207, checked against the discovered issuer
    claims = tokens.id_claims
    assert claims["iss"] == strict_issuer and claims["aud"] == client.config.api_key and claims["sub"] == "learner"
    assert claims["at_hash"] == at_hash(tokens.access_token)  # checked by the client too
    assert client.userinfo()["sub"] == "learner"

    seen = refresh_twice(client, tokens)  # the second would fail had the client reused the first token
    assert client.userinfo()["sub"] == "learner"  # with the access token of the second refresh

    # Rotation means the used refresh tokens are dead (and reusing one revokes the grant).
    with pytest.raises(errors.InvalidGrantError) as caught:
        client.refresh(refresh_token=seen[0])
    assert "refresh token" in caught.value.hint
    assert client.tokens.refresh_token == seen[2]  # a refused refresh leaves the tokens as they were


def test_strict_oidc_provider_without_pkce_is_a_clear_error(strict_issuer):
    client = client_for(strict_issuer)
    request = client.authorization_url()  # a confidential client sends no PKCE unless asked
    assert "code_challenge" not in request.params
    with pytest.raises(errors.FortellisError) as caught:
        client.parse_redirect(browse(request.url))
    assert isinstance(caught.value, errors.AuthorizationError)
    assert caught.value.error == "invalid_request" and "PKCE" in caught.value.description
    assert "pkce=True" in caught.value.hint


# --- 2. oauth2-mock-server, defaults -------------------------------------------------
#
# What it does with its defaults (node_modules/oauth2-mock-server, dist/oauth2-server-*.mjs):
# the issuer is http://localhost:PORT; /authorize redirects at once (no sign-in, no consent),
# with the code and state only (no RFC 9207 iss); /token answers every grant but
# client_credentials with a JWT access token (sub "johndoe", scope, no aud at all), an ID token
# (sub "johndoe", aud = the client id of the Basic header or the body, the nonce of the code)
# and a fresh random refresh token. It checks no client secret and no refresh token: any
# refresh token, even a made-up one, gets new tokens, so "the old refresh token is refused"
# cannot be tested here (it is against the other two providers). It grants scope "dummy"
# unless the token request names a scope, and the client's code exchange names none; the
# client reports what the server said it granted. /userinfo answers {"sub": "johndoe"} to
# anyone. Its ID tokens have no at_hash, so the client has none to check.

@pytest.fixture(scope="module")
def mock_issuer(tmp_path_factory):
    folder = npm_package(OAUTH2_MOCK_SERVER, "oauth2-mock-server", min_node=(20, 19))
    node = NodeScript(folder, "oauth2_mock_server.mjs",
                      log=tmp_path_factory.mktemp("oauth2-mock-server") / "stderr.log")
    try:
        yield node.ready["issuer"]
    finally:
        node.stop()


@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public"])
def test_oauth2_mock_server_defaults_whole_flow(mock_issuer, public):
    client = client_for(mock_issuer, public=public)
    assert urlsplit(mock_issuer).hostname == "localhost"
    assert client.metadata.source == mock_issuer + "/.well-known/openid-configuration"
    assert client.metadata.userinfo_endpoint == mock_issuer + "/userinfo"

    _, response, tokens = sign_in(client, pkce=not public)  # PKCE both ways: forced, and public
    assert response.iss is None
    assert tokens.id_claims["aud"] == client.config.api_key and tokens.id_claims["sub"] == "johndoe"
    assert tokens.id_claims["iss"] == mock_issuer
    # The access token is a JWT not meant for Fortellis' APIs (no aud api_providers): the client
    # does not check access tokens at other issuers, so it takes it without a complaint.
    access = decode(tokens.access_token).claims
    assert access["iss"] == mock_issuer and access.get("aud") != "api_providers"
    assert client.access_audience is None and tokens.access_claims is None
    assert tokens.scope == "dummy" and tokens.dropped_scopes == SCOPES  # what the mock says it granted

    seen = refresh_twice(client, tokens)  # a new random refresh token each time
    assert client.userinfo() == {"sub": "johndoe"}
    # No rotation enforcement: the first refresh token still works (see above).
    assert client.refresh(refresh_token=seen[0]).refresh_token_status == "rotated"


# --- 3. a provider built with Authlib ----------------------------------------------------

@pytest.fixture(scope="module")
def authlib_provider():
    with AuthlibProvider({CLIENT_ID: CLIENT_SECRET, PUBLIC_CLIENT_ID: None}, REDIRECT_URI) as provider:
        yield provider


@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public"])
def test_authlib_provider_list_audience_and_rotation(authlib_provider, public):
    issuer = authlib_provider.issuer
    client = client_for(issuer, public=public, scopes=("openid", "email", "offline_access"))
    assert client.metadata.source == issuer + "/.well-known/openid-configuration"

    _, _, tokens = sign_in(client, pkce=True)
    claims = tokens.id_claims
    assert claims["aud"] == [client.config.api_key] and claims["azp"] == client.config.api_key
    assert claims["iss"] == issuer and claims["sub"] == AUTHLIB_USER["sub"]
    assert claims["at_hash"] == at_hash(tokens.access_token)  # checked by the client too
    assert tokens.scopes == ("openid", "email", "offline_access") and not tokens.dropped_scopes

    seen = refresh_twice(client, tokens)
    assert client.tokens.id_claims["aud"] == [client.config.api_key]  # the refreshed ID token, verified
    assert client.userinfo() == {"sub": AUTHLIB_USER["sub"], "email": AUTHLIB_USER["email"]}

    for used in seen[:2]:  # rotation revoked them
        with pytest.raises(errors.InvalidGrantError):
            client.refresh(refresh_token=used)
    assert client.refresh().refresh_token_status == "rotated"  # the current one still works


def test_authlib_provider_refuses_a_wrong_secret(authlib_provider):
    wrong = FortellisClient(client_for(authlib_provider.issuer).config.replace(api_secret="not-the-secret"))
    response = wrong.parse_redirect(browse(wrong.authorization_url(pkce=True).url))
    with pytest.raises(errors.InvalidClientError) as caught:
        wrong.exchange_code(response)
    assert caught.value.status == 401


def test_authlib_provider_wrong_code_verifier_gets_the_pkce_hint(authlib_provider):
    client = client_for(authlib_provider.issuer)
    response = client.parse_redirect(browse(client.authorization_url(pkce=True).url))
    with pytest.raises(errors.InvalidGrantError) as caught:
        client.exchange_code(response, code_verifier="x" * 43)  # not the verifier of this code's challenge
    assert caught.value.description == "Code challenge failed."
    assert "code_verifier" in caught.value.hint


def test_authlib_provider_userinfo_refusal_keeps_the_whole_description(authlib_provider):
    client = client_for(authlib_provider.issuer)
    tokens = client.exchange_code(client.parse_redirect(browse(client.authorization_url(pkce=True).url)))
    client.refresh()  # rotation revokes the old grant record, its access token with it
    with pytest.raises(errors.InvalidTokenError) as caught:
        client.userinfo(access_token=tokens.access_token)
    assert caught.value.status == 401
    assert caught.value.description == ("The access token provided is expired, revoked, malformed, or invalid "
                                        "for other reasons.")
