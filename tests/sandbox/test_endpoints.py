"""userinfo, introspect and revoke."""

import requests

from .conftest import token_request


def post(info, path, data, auth="basic"):
    return requests.post(f"{info.issuer}/v1/{path}", data=data,
                         auth=(info.api_key, info.api_secret) if auth == "basic" else auth)


def test_userinfo(info, tokens):
    response = requests.get(f"{info.issuer}/v1/userinfo",
                            headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200
    assert response.json()["sub"].startswith("00u")


def test_userinfo_without_a_valid_token(info):
    response = requests.get(f"{info.issuer}/v1/userinfo", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_userinfo_needs_openid(info):
    token = token_request(info, {"grant_type": "client_credentials", "scope": "anonymous"}).json()["access_token"]
    response = requests.get(f"{info.issuer}/v1/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403


def test_introspect_access_and_refresh_tokens(info, tokens):
    access = post(info, "introspect", {"token": tokens["access_token"], "token_type_hint": "access_token"}).json()
    assert access["active"] is True and access["client_id"] == info.api_key
    assert access["scope"] == "openid offline_access" and access["username"] == info.username
    refresh = post(info, "introspect", {"token": tokens["refresh_token"]}).json()
    # Okta's members for a refresh token: no iat, aud, iss or jti.
    assert set(refresh) == {"active", "token_type", "scope", "client_id", "username", "exp", "sub"}
    assert refresh["active"] is True and refresh["token_type"] == "Bearer" and refresh["sub"] == info.username


def test_introspect_unknown_or_expired(info, tokens, clock):
    assert post(info, "introspect", {"token": "nonsense"}).json() == {"active": False}
    clock.advance(3601)
    assert post(info, "introspect", {"token": tokens["access_token"]}).json() == {"active": False}


def test_introspect_needs_client_authentication(info, tokens):
    response = post(info, "introspect", {"token": tokens["access_token"]}, auth=None)
    assert response.status_code == 401


def test_revoking_the_refresh_token_ends_the_grant(info, tokens):
    assert post(info, "revoke", {"token": tokens["refresh_token"]}).status_code == 200
    refreshed = token_request(info, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.json()["error"] == "invalid_grant"
    assert post(info, "introspect", {"token": tokens["access_token"]}).json() == {"active": False}


def test_revoking_an_access_token(info, tokens):
    assert post(info, "revoke", {"token": tokens["access_token"]}).status_code == 200
    assert post(info, "introspect", {"token": tokens["access_token"]}).json() == {"active": False}
    # The refresh token lives on.
    refreshed = token_request(info, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200


def test_revoking_an_unknown_token_is_still_200(info):
    assert post(info, "revoke", {"token": "never-issued"}).status_code == 200


def test_revoke_without_token_is_invalid_request(info):
    response = post(info, "revoke", {})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
