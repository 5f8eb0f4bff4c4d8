"""An independent client, Authlib, completes the flow against the sandbox: proof that the
sandbox speaks standard OAuth 2.0 and OpenID Connect, not just what our own code expects.

Only the person's part (the sign-in form) is played by the test's Browser; everything
the app does (authorize URL, state, nonce, PKCE, token requests, ID token checks) is
Authlib's."""

from __future__ import annotations

import secrets
import warnings

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken

with warnings.catch_warnings():
    # Authlib 1.6+ points to joserfc; authlib.jose still works and pairs with CodeIDToken.
    warnings.filterwarnings("ignore", "authlib.jose module is deprecated")
    from authlib.jose import JsonWebKey, jwt


@pytest.fixture
def discovery(info) -> dict:
    response = requests.get(f"{info.issuer}/.well-known/openid-configuration")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def jwks(discovery):
    return JsonWebKey.import_key_set(requests.get(discovery["jwks_uri"]).json())


def session(info, **kwargs) -> OAuth2Session:
    return OAuth2Session(client_id=info.api_key, client_secret=info.api_secret, scope="openid offline_access",
                         redirect_uri=info.redirect_uri, **kwargs)


def browse(browser, url: str) -> str:
    """The person's part: open the authorize URL, sign in, return where the browser is sent."""
    page = browser.http.get(url, allow_redirects=False)
    assert page.status_code == 200, page.text[:300]
    answer = browser.submit(page)
    assert answer.status_code == 302
    return answer.headers["Location"]


def check_id_token(info, jwks, clock, token: dict, nonce: str | None = None):
    params = {"client_id": info.api_key, "access_token": token["access_token"]}
    if nonce is not None:
        params["nonce"] = nonce
    claims = jwt.decode(token["id_token"], jwks, claims_cls=CodeIDToken,
                        claims_options={"iss": {"essential": True, "value": info.issuer}}, claims_params=params)
    claims.validate(now=int(clock.now))
    return claims


def sign_in_with_authlib(info, browser, discovery, client: OAuth2Session) -> tuple[dict, str]:
    nonce = secrets.token_urlsafe(16)
    url, _state = client.create_authorization_url(discovery["authorization_endpoint"], nonce=nonce)
    location = browse(browser, url)
    assert location.startswith(info.redirect_uri + "?")
    token = client.fetch_token(discovery["token_endpoint"], authorization_response=location)
    return token, nonce


def test_code_flow_with_nonce(info, browser, discovery, jwks, clock):
    client = session(info)
    token, nonce = sign_in_with_authlib(info, browser, discovery, client)

    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    assert {"access_token", "refresh_token", "id_token"} <= token.keys()
    claims = check_id_token(info, jwks, clock, token, nonce)
    assert claims["nonce"] == nonce
    assert claims["aud"] == info.api_key

    # The session puts the access token in the Authorization header of API calls.
    api = client.get(f"{info.api_base_url}/sandbox/v1/dealership", headers={"Subscription-Id": info.subscription_id})
    assert api.status_code == 200, api.text
    assert api.json()["caller"]["apiKey"] == info.api_key


def test_a_wrong_nonce_is_caught_by_authlib(info, browser, discovery, jwks, clock):
    token, _nonce = sign_in_with_authlib(info, browser, discovery, session(info))
    # Authlib's claim errors come from joserfc or authlib.jose depending on its version.
    with pytest.raises(Exception, match="nonce"):
        check_id_token(info, jwks, clock, token, nonce="not-the-nonce-sent")


def test_code_flow_with_pkce(info, browser, discovery, jwks, clock):
    client = session(info, code_challenge_method="S256")
    verifier = secrets.token_urlsafe(48)
    url, _state = client.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier)
    assert "code_challenge=" in url and "code_challenge_method=S256" in url
    location = browse(browser, url)

    token = client.fetch_token(discovery["token_endpoint"], authorization_response=location, code_verifier=verifier)

    assert {"access_token", "refresh_token", "id_token"} <= token.keys()
    check_id_token(info, jwks, clock, token)


def test_pkce_code_without_the_verifier_is_refused_to_authlib(info, browser, discovery):
    client = session(info, code_challenge_method="S256")
    url, _state = client.create_authorization_url(discovery["authorization_endpoint"],
                                                  code_verifier=secrets.token_urlsafe(48))
    location = browse(browser, url)
    with pytest.raises(OAuthError) as refused:
        client.fetch_token(discovery["token_endpoint"], authorization_response=location)
    assert refused.value.error == "invalid_request"
    assert refused.value.description == "PKCE code verifier is required by the application."


def test_refresh(info, browser, discovery, jwks, clock):
    client = session(info)
    token, _nonce = sign_in_with_authlib(info, browser, discovery, client)
    clock.advance(600)

    renewed = client.refresh_token(discovery["token_endpoint"])

    assert renewed["refresh_token"] == token["refresh_token"]
    assert renewed["access_token"] != token["access_token"]
    assert client.token["access_token"] == renewed["access_token"]
    claims = check_id_token(info, jwks, clock, renewed)
    assert claims["iat"] == int(clock.now)


def test_client_credentials(info, discovery, jwks):
    client = session(info)
    token = client.fetch_token(discovery["token_endpoint"], grant_type="client_credentials", scope="anonymous")

    assert token["scope"] == "anonymous"
    assert "refresh_token" not in token and "id_token" not in token
    claims = jwt.decode(token["access_token"], jwks)
    assert (claims["sub"], claims["cid"], claims["scp"]) == (info.api_key, info.api_key, ["anonymous"])
    assert "uid" not in claims


def test_introspect_and_revoke(info, browser, discovery):
    client = session(info)
    token, _nonce = sign_in_with_authlib(info, browser, discovery, client)
    introspect, revoke = discovery["introspection_endpoint"], discovery["revocation_endpoint"]

    described = client.introspect_token(introspect, token=token["access_token"]).json()
    assert described["active"] is True
    assert described["client_id"] == info.api_key
    assert set(described["scope"].split()) == {"openid", "offline_access"}
    assert client.introspect_token(introspect, token=token["refresh_token"],
                                   token_type_hint="refresh_token").json()["active"] is True

    assert client.revoke_token(revoke, token=token["access_token"], token_type_hint="access_token").status_code == 200
    assert client.introspect_token(introspect, token=token["access_token"]).json() == {"active": False}

    assert client.revoke_token(revoke, token=token["refresh_token"],
                               token_type_hint="refresh_token").status_code == 200
    assert client.introspect_token(introspect, token=token["refresh_token"]).json() == {"active": False}
    with pytest.raises(OAuthError) as refused:
        client.refresh_token(discovery["token_endpoint"], refresh_token=token["refresh_token"])
    assert refused.value.error == "invalid_grant"
