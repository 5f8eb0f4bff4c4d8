"""The token endpoint: client authentication, the three grants, and the exact errors."""

import base64

import jwt
import pytest
import requests

from .conftest import exchange, token_request


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_code_exchange_returns_the_tutorials_token_shape(tokens):
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == "openid offline_access"
    assert {"access_token", "id_token", "refresh_token"} <= tokens.keys()


def test_no_refresh_token_without_offline_access(info, browser):
    body = exchange(info, browser.sign_in(scope="openid")["code"]).json()
    assert "refresh_token" not in body and "id_token" in body


def test_no_id_token_without_openid(info, browser):
    body = exchange(info, browser.sign_in(scope="offline_access")["code"]).json()
    assert "id_token" not in body and "refresh_token" in body
    assert claims(body["access_token"])["scp"] == ["offline_access"]


def test_credentials_in_the_body_work_too(info, browser):
    code = browser.sign_in()["code"]
    response = token_request(info, {"grant_type": "authorization_code", "code": code,
                                    "redirect_uri": info.redirect_uri}, auth="body")
    assert response.status_code == 200


def test_parameters_in_the_query_work_as_in_the_tutorials_curl(info, browser):
    code = browser.sign_in()["code"]
    response = token_request(info, {}, params={"grant_type": "authorization_code", "code": code,
                                               "redirect_uri": info.redirect_uri})
    assert response.status_code == 200


def test_credentials_in_both_places_is_invalid_request(info, browser):
    code = browser.sign_in()["code"]
    response = requests.post(f"{info.issuer}/v1/token", auth=(info.api_key, info.api_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": info.redirect_uri,
        "client_id": info.api_key, "client_secret": info.api_secret})
    assert response.status_code == 401  # Okta's status for this one
    assert response.json()["error"] == "invalid_request"


def test_no_credentials(info):
    response = token_request(info, {"grant_type": "client_credentials", "scope": "anonymous"}, auth=None)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client", "error_description": "No client credentials found."}
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_wrong_secret(info):
    response = token_request(info, {"grant_type": "client_credentials", "scope": "anonymous"},
                             auth=(info.api_key, "wrong"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "secret" in response.json()["error_description"]


def test_swapped_key_and_secret_is_an_unknown_client_as_okta_says(info):
    # The client's hint explains the swap (it knows what it sent); the wire says what Okta says.
    response = token_request(info, {"grant_type": "client_credentials", "scope": "anonymous"},
                             auth=(info.api_secret, info.api_key))
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client", "error_description": "Client authentication failed. "
                               "Either the client or the client credentials are invalid."}


def test_a_malformed_basic_header(info):
    response = requests.post(f"{info.issuer}/v1/token", headers={"Authorization": "Basic not-base64!"},
                             data={"grant_type": "client_credentials", "scope": "anonymous"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_the_basic_header_built_by_hand(info):
    header = base64.b64encode(f"{info.api_key}:{info.api_secret}".encode()).decode()
    response = requests.post(f"{info.issuer}/v1/token", headers={"Authorization": f"Basic {header}"},
                             data={"grant_type": "client_credentials", "scope": "anonymous"})
    assert response.status_code == 200


def test_expired_code(info, browser, clock):
    code = browser.sign_in()["code"]
    clock.advance(61)
    response = exchange(info, code)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant",
                               "error_description": "The authorization code is invalid or has expired."}


def test_code_still_valid_just_before_60_seconds(info, browser, clock):
    code = browser.sign_in()["code"]
    clock.advance(59)
    assert exchange(info, code).status_code == 200


def test_redirect_uri_must_be_the_same(info, browser):
    code = browser.sign_in()["code"]
    response = exchange(info, code, redirect_uri=info.redirect_uri.rstrip("/"))
    assert response.status_code == 400
    assert response.json()["error_description"] == (
        "The 'redirect_uri' does not match the redirection URI used in the authorization request.")
    # A failed attempt does not use the code up: the corrected request succeeds.
    assert exchange(info, code).status_code == 200


def test_code_of_another_app(info, browser):
    code = browser.sign_in()["code"]
    other = requests.post(f"{info.base_url}/sandbox/apps",
                          json={"name": "Other", "redirect_uris": [info.redirect_uri]}).json()
    response = token_request(info, {"grant_type": "authorization_code", "code": code,
                                    "redirect_uri": info.redirect_uri},
                             auth=(other["api_key"], other["api_secret"]))
    assert response.json()["error"] == "invalid_grant"
    assert exchange(info, code).status_code == 200


def test_unknown_grant_type(info):
    response = token_request(info, {"grant_type": "password"})
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def test_missing_grant_type(info):
    assert token_request(info, {}).json()["error"] == "invalid_request"


def test_json_body_is_refused(info):
    response = requests.post(f"{info.issuer}/v1/token", auth=(info.api_key, info.api_secret),
                             json={"grant_type": "client_credentials", "scope": "anonymous"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_token_responses_are_not_cached(info):
    response = token_request(info, {"grant_type": "client_credentials", "scope": "anonymous"})
    assert response.headers["Cache-Control"] == "no-store"


# --- refresh ---

def test_refresh_returns_the_same_refresh_token_and_new_tokens(info, tokens, clock):
    clock.advance(5)
    response = token_request(info, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert response.status_code == 200
    fresh = response.json()
    assert fresh["refresh_token"] == tokens["refresh_token"]
    old, new = claims(tokens["access_token"]), claims(fresh["access_token"])
    assert new["jti"] != old["jti"] and new["iat"] > old["iat"] and new["exp"] > old["exp"]
    assert claims(fresh["id_token"])["sub"] == claims(tokens["id_token"])["sub"]
    assert claims(fresh["id_token"])["iss"] == claims(tokens["id_token"])["iss"]


def test_refresh_with_a_subset_of_the_scopes(info, tokens):
    response = token_request(info, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                    "scope": "offline_access"})
    assert response.status_code == 200
    assert claims(response.json()["access_token"])["scp"] == ["offline_access"]
    assert "id_token" not in response.json()


def test_refresh_with_a_scope_not_in_the_original_grant(info, tokens):
    response = token_request(info, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                    "scope": "openid offline_access profile"})
    assert response.status_code == 400
    assert response.json() == {"error": "access_denied", "error_description": "Some of the scopes requested for the "
                               "refresh request were not granted in the original authorize request. Denied scopes: "
                               "profile."}


def test_refresh_token_bound_to_its_client(info, tokens):
    other = requests.post(f"{info.base_url}/sandbox/apps",
                          json={"name": "Other", "redirect_uris": ["https://example.com/"]}).json()
    response = token_request(info, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                             auth=(other["api_key"], other["api_secret"]))
    assert response.json()["error"] == "invalid_grant"


def test_unknown_refresh_token(info):
    response = token_request(info, {"grant_type": "refresh_token", "refresh_token": "made-up"})
    assert response.json() == {"error": "invalid_grant",
                               "error_description": "The refresh token is invalid or expired."}


def test_refresh_token_expires_after_seven_idle_days(info, tokens, clock):
    clock.advance(6 * 86400)
    assert token_request(info, {"grant_type": "refresh_token",
                                "refresh_token": tokens["refresh_token"]}).status_code == 200
    clock.advance(7 * 86400 + 1)
    assert token_request(info, {"grant_type": "refresh_token",
                                "refresh_token": tokens["refresh_token"]}).status_code == 400


# --- client credentials ---

def test_client_credentials_token(info):
    response = token_request(info, {"grant_type": "client_credentials", "scope": "anonymous"})
    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "anonymous" and "refresh_token" not in body and "id_token" not in body
    access = claims(body["access_token"])
    assert access["scp"] == ["anonymous"]
    assert access["sub"] == access["cid"] == info.api_key
    assert "uid" not in access


@pytest.mark.parametrize("scope", [None, "openid", "anonymous offline_access"])
def test_client_credentials_scope_rules(info, scope):
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    response = token_request(info, data)
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"


# --- a public client (a single-page app): PKCE instead of a secret ---

def test_public_client_needs_pkce_and_no_secret(info, browser):
    from .conftest import Browser, pkce_pair

    app = requests.post(f"{info.base_url}/sandbox/apps", json={
        "name": "SPA", "redirect_uris": [info.redirect_uri], "public": True}).json()
    assert app["api_secret"] is None
    spa = Browser(info)
    back = spa.sign_in(client_id=app["api_key"])
    assert back["error"] == "invalid_request" and "PKCE" in back["error_description"]
    verifier, challenge = pkce_pair()
    code = spa.sign_in(client_id=app["api_key"], code_challenge=challenge, code_challenge_method="S256")["code"]
    response = requests.post(f"{info.issuer}/v1/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": info.redirect_uri,
        "client_id": app["api_key"], "code_verifier": verifier})
    assert response.status_code == 200, response.text
