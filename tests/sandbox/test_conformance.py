"""The server-side basics the OpenID Foundation's conformance suite checks on an
authorization server, each as its own test: code reuse, registered redirect URIs,
request errors, nonce handling, unknown parameters, PKCE, refresh tokens bound to
their client, and parameters given more than once."""

from __future__ import annotations

import hashlib
import json

import jwt
import pytest
import requests

from .conftest import exchange, pkce_pair, redirect_params, token_request

CODE_ERROR = {"error": "invalid_grant", "error_description": "The authorization code is invalid or has expired."}


# --- helpers ---

def call_api(info, access_token: str) -> requests.Response:
    return requests.get(f"{info.api_base_url}/sandbox/v1/dealership",
                        headers={"Authorization": f"Bearer {access_token}", "Subscription-Id": info.subscription_id})


def refresh(info, refresh_token: str, auth="basic") -> requests.Response:
    return token_request(info, {"grant_type": "refresh_token", "refresh_token": refresh_token}, auth=auth)


def verified_id_token(info, id_token: str) -> dict:
    """Check the ID token the way a relying party must: signature from the published
    keys, RS256 only, audience = the API Key, issuer = this server."""
    kid = jwt.get_unverified_header(id_token)["kid"]
    jwks = requests.get(f"{info.issuer}/v1/keys").json()
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == kid]
    key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk))
    # The sandbox's fake clock may run ahead of the real one, which PyJWT would call a token from the future.
    return jwt.decode(id_token, key, algorithms=["RS256"], audience=info.api_key, issuer=info.issuer,
                      options={"verify_iat": False})


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return jwt.utils.base64url_encode(digest[:16]).decode("ascii")


def register_app(info, name: str, redirect_uris: list[str]) -> dict:
    response = requests.post(f"{info.base_url}/sandbox/apps", json={"name": name, "redirect_uris": redirect_uris})
    assert response.status_code == 201, response.text
    return response.json()


def assert_error_page(response: requests.Response, *phrases: str) -> None:
    """An error shown to the person, not sent to a redirect URI that cannot be trusted."""
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")
    for phrase in phrases:
        assert phrase in response.text


# --- the authorization code is single use ---

@pytest.mark.parametrize("wait", [0, 30], ids=["at-once", "after-30-seconds"])
def test_code_reuse_is_refused_and_revokes_the_tokens_it_gave(info, browser, clock, wait):
    code = browser.sign_in()["code"]
    first = exchange(info, code)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert call_api(info, tokens["access_token"]).status_code == 200

    clock.advance(wait)
    second = exchange(info, code)
    assert second.status_code == 400
    assert second.json() == CODE_ERROR

    api = call_api(info, tokens["access_token"])
    assert api.status_code == 401
    assert api.json()["code"] == "INVALID-TOKEN"
    refreshed = refresh(info, tokens["refresh_token"])
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"


def test_code_reuse_also_revokes_tokens_already_refreshed_from_it(info, browser):
    code = browser.sign_in()["code"]
    tokens = exchange(info, code).json()
    refreshed = refresh(info, tokens["refresh_token"]).json()
    assert call_api(info, refreshed["access_token"]).status_code == 200

    assert exchange(info, code).status_code == 400

    api = call_api(info, refreshed["access_token"])
    assert (api.status_code, api.json()["code"]) == (401, "INVALID-TOKEN")


def test_userinfo_refuses_the_access_token_of_a_reused_code(info, browser):
    code = browser.sign_in()["code"]
    access_token = exchange(info, code).json()["access_token"]
    bearer = {"Authorization": f"Bearer {access_token}"}
    assert requests.get(f"{info.issuer}/v1/userinfo", headers=bearer).status_code == 200

    exchange(info, code)

    assert requests.get(f"{info.issuer}/v1/userinfo", headers=bearer).status_code == 401


# --- the registered redirect URI ---

def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(info, browser):
    response = browser.authorize(redirect_uri="https://attacker.example/callback/")
    assert_error_page(response, "must be a Login redirect URI in the client app settings")
    assert "attacker.example" not in response.headers.get("Location", "")


@pytest.mark.parametrize("registered", ["callback", "https://example.com/"])
def test_redirect_uri_differing_only_by_the_trailing_slash_is_named(info, browser, registered):
    uri = info.redirect_uri if registered == "callback" else registered
    response = browser.authorize(redirect_uri=uri.rstrip("/"))
    assert_error_page(response, "trailing slash", uri)


def test_missing_redirect_uri_gets_an_error_page(info, browser):
    assert_error_page(browser.authorize(redirect_uri=None), "redirect_uri is missing.")


def test_token_request_with_another_registered_redirect_uri_is_refused(info, browser):
    code = browser.sign_in(redirect_uri="https://example.com/")["code"]
    response = exchange(info, code, redirect_uri=info.redirect_uri)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


# --- request errors and tolerated omissions ---

def test_missing_response_type_is_redirected_as_unsupported_response_type_with_state(info, browser):
    response = browser.authorize(response_type=None, state="st-123")
    assert response.status_code == 302
    params = redirect_params(response)
    assert response.headers["Location"].startswith(info.redirect_uri + "?")
    assert params["error"] == "unsupported_response_type"
    assert params["state"] == "st-123"
    assert "code" not in params


def test_request_without_nonce_succeeds_and_the_id_token_has_no_nonce(info, browser):
    params = browser.sign_in(nonce=None)
    tokens = exchange(info, params["code"]).json()
    claims = verified_id_token(info, tokens["id_token"])
    assert "nonce" not in claims
    assert claims["at_hash"] == at_hash(tokens["access_token"])


def test_a_nonce_sent_comes_back_in_the_id_token(info, browser):
    params = browser.sign_in(nonce="n-0S6_WzA2Mj")
    tokens = exchange(info, params["code"]).json()
    assert verified_id_token(info, tokens["id_token"])["nonce"] == "n-0S6_WzA2Mj"


def test_unknown_authorize_parameter_is_ignored(info, browser):
    params = browser.sign_in(extra="foobar", claims_locales="xx")
    assert "error" not in params
    assert exchange(info, params["code"]).status_code == 200


def test_unknown_token_parameter_is_ignored(info, browser):
    code = browser.sign_in()["code"]
    assert exchange(info, code, extra="foobar").status_code == 200


def test_scopes_in_another_order_succeed(info, browser):
    params = browser.sign_in(scope="offline_access openid")
    tokens = exchange(info, params["code"]).json()
    assert set(tokens["scope"].split()) == {"openid", "offline_access"}
    assert {"id_token", "refresh_token"} <= tokens.keys()


# --- PKCE (RFC 7636) ---

def test_pkce_s256_with_the_right_verifier_succeeds(info, browser):
    verifier, challenge = pkce_pair()
    code = browser.sign_in(code_challenge=challenge, code_challenge_method="S256")["code"]
    response = exchange(info, code, code_verifier=verifier)
    assert response.status_code == 200, response.text
    assert {"access_token", "id_token", "refresh_token"} <= response.json().keys()


def test_pkce_wrong_verifier_fails(info, browser):
    _verifier, challenge = pkce_pair()
    other_verifier, _ = pkce_pair()
    code = browser.sign_in(code_challenge=challenge, code_challenge_method="S256")["code"]
    response = exchange(info, code, code_verifier=other_verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_pkce_missing_verifier_fails(info, browser):
    _verifier, challenge = pkce_pair()
    code = browser.sign_in(code_challenge=challenge, code_challenge_method="S256")["code"]
    response = exchange(info, code)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request",
                               "error_description": "PKCE code verifier is required by the application."}


def test_pkce_verifier_without_a_challenge_fails(info, browser):
    verifier, _challenge = pkce_pair()
    code = browser.sign_in()["code"]
    response = exchange(info, code, code_verifier=verifier)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": "PKCE code challenge should be "
                               "specified in the authorize request for code verification."}


def test_pkce_plain_method_is_refused(info, browser):
    verifier, _challenge = pkce_pair()
    response = browser.authorize(code_challenge=verifier, code_challenge_method="plain", state="st-plain")
    params = redirect_params(response)
    assert (params["error"], params["state"]) == ("invalid_request", "st-plain")


# --- refresh tokens ---

def test_another_clients_refresh_token_fails(info, tokens):
    other = register_app(info, "Other App", ["https://other.example/callback/"])
    other_auth = (other["api_key"], other["api_secret"])
    # The second app's credentials are good, so the refusal is about whose token it is.
    assert token_request(info, {"grant_type": "client_credentials", "scope": "anonymous"},
                         auth=other_auth).status_code == 200

    stolen = refresh(info, tokens["refresh_token"], auth=other_auth)
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    assert "access_token" not in stolen.json()
    assert refresh(info, tokens["refresh_token"]).status_code == 200


def test_refreshed_id_token_keeps_the_original_identity(info, tokens, clock):
    original = verified_id_token(info, tokens["id_token"])
    clock.advance(120)
    body = refresh(info, tokens["refresh_token"]).json()
    renewed = verified_id_token(info, body["id_token"])
    # OpenID Connect Core section 12.2.
    for claim in ("iss", "sub", "aud", "auth_time"):
        assert renewed[claim] == original[claim], claim
    assert renewed["iat"] >= original["iat"] + 120
    assert renewed["at_hash"] == at_hash(body["access_token"])


# --- parameters given more than once (RFC 6749 section 3.1) ---

def authorize_with(browser, pairs: list[tuple[str, str]]) -> requests.Response:
    return browser.http.get(f"{browser.info.issuer}/v1/authorize", params=pairs, allow_redirects=False)


def test_authorize_scope_twice_is_redirected_as_invalid_request(info, browser):
    pairs = list(browser.authorize_params(state="st-dup").items()) + [("scope", "openid")]
    response = authorize_with(browser, pairs)
    assert response.status_code == 302
    params = redirect_params(response)
    assert response.headers["Location"].startswith(info.redirect_uri + "?")
    assert (params["error"], params["state"]) == ("invalid_request", "st-dup")
    assert "code" not in params


@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
def test_authorize_client_id_or_redirect_uri_twice_gets_an_error_page(info, browser, name):
    base = browser.authorize_params()
    pairs = list(base.items()) + [(name, base[name])]
    assert_error_page(authorize_with(browser, pairs), f"Duplicated parameters: [{name}]")


def test_token_code_twice_in_the_body_is_invalid_request(info, browser):
    code = browser.sign_in()["code"]
    body = [("grant_type", "authorization_code"), ("code", code), ("code", code),
            ("redirect_uri", info.redirect_uri)]
    response = requests.post(f"{info.issuer}/v1/token", data=body, auth=(info.api_key, info.api_secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "code" in response.json()["error_description"]


def test_token_parameter_in_both_query_and_body_is_invalid_request(info, browser):
    code = browser.sign_in()["code"]
    response = token_request(info, {"grant_type": "authorization_code", "code": code,
                                    "redirect_uri": info.redirect_uri}, params={"code": code})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_a_refused_duplicate_does_not_spend_the_code(info, browser):
    code = browser.sign_in()["code"]
    token_request(info, {"grant_type": "authorization_code", "code": code, "redirect_uri": info.redirect_uri},
                  params={"code": code})
    assert exchange(info, code).status_code == 200


def test_authorize_by_post_with_scope_twice_is_redirected_as_invalid_request(info, browser):
    # OpenID Connect Core 3.1.2.1: the authorization endpoint supports GET and POST alike.
    pairs = list(browser.authorize_params(state="st-post").items()) + [("scope", "openid")]
    response = browser.http.post(f"{info.issuer}/v1/authorize", data=pairs, allow_redirects=False)
    assert response.status_code == 302, response.text[:300]
    params = redirect_params(response)
    assert (params["error"], params["state"]) == ("invalid_request", "st-post")


# --- token responses are not cached (RFC 6749 section 5.1) ---

def test_token_response_carries_both_no_cache_headers(info, browser):
    code = browser.sign_in()["code"]
    response = exchange(info, code)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers.get("Pragma") == "no-cache"
