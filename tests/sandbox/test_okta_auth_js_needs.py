"""What Okta's single-page-app SDK, okta-auth-js 8, sends that the sandbox had to take as Okta
does, request by request (tests/browser/test_okta_auth_js.py runs the SDK itself; each finding
is in docs/fidelity.md, "Okta's own browser SDK")."""

from __future__ import annotations

import base64

import pytest
import requests

from .conftest import token_request
from .test_fidelity import public_app_tokens

#: What okta-auth-js sends with every request (lib/http/OktaUserAgent.ts).
SDK_HEADER = {"X-Okta-User-Agent-Extended": "okta-auth-js/8.0.1"}


def lone_client_id(client_id: str) -> dict:
    """okta-auth-js' revokeToken(): ``Basic btoa(clientId)`` when the app has no secret."""
    return {"Authorization": "Basic " + base64.b64encode(client_id.encode()).decode()}


@pytest.mark.parametrize(("path", "method"), [
    ("/.well-known/openid-configuration", "GET"), ("/v1/keys", "GET"), ("/v1/token", "POST"),
    ("/v1/userinfo", "GET"), ("/v1/revoke", "POST")])
def test_the_sdk_s_preflight_lets_its_own_header_through(info, path, method):
    asked = requests.options(info.issuer + path, timeout=10, headers={
        "Origin": info.base_url, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "accept,content-type,x-okta-user-agent-extended"})
    assert asked.status_code == 204
    assert asked.headers["Access-Control-Allow-Origin"] == info.base_url
    assert asked.headers["Access-Control-Allow-Headers"] == \
        "Accept, Authorization, Content-Type, X-Okta-User-Agent-Extended"
    assert method in asked.headers["Access-Control-Allow-Methods"]


def test_a_public_client_revokes_with_its_client_id_alone_in_the_basic_header(info):
    app, tokens = public_app_tokens(info)
    for kind in ("refresh_token", "access_token"):  # signOut()'s order
        revoked = requests.post(f"{info.issuer}/v1/revoke", timeout=10, data={
            "token_type_hint": kind, "token": tokens[kind]}, headers={
            **lone_client_id(app["api_key"]), **SDK_HEADER, "Origin": info.base_url})
        assert revoked.status_code == 200, revoked.text
        assert revoked.content == b""
        assert revoked.headers["Access-Control-Allow-Origin"] == info.base_url
    userinfo = requests.get(f"{info.issuer}/v1/userinfo", timeout=10,
                            headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 401
    refreshed = requests.post(f"{info.issuer}/v1/token", timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": app["api_key"]})
    assert refreshed.json()["error"] == "invalid_grant"


def test_a_confidential_client_naming_itself_without_its_secret_is_refused_as_before(info, tokens):
    refused = requests.post(f"{info.issuer}/v1/revoke", timeout=10, data={"token": tokens["refresh_token"]},
                            headers=lone_client_id(info.api_key))
    assert refused.status_code == 401
    assert refused.json() == {"error": "invalid_client",
                              "error_description": "Found Authentication header but was not valid client credentials."}
    assert token_request(info, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}) \
        .status_code == 200  # not revoked


def test_a_basic_header_of_nothing_but_a_colon_is_still_not_credentials(info):
    refused = requests.post(f"{info.issuer}/v1/revoke", timeout=10, data={"token": "x"},
                            headers={"Authorization": "Basic " + base64.b64encode(b":secret").decode()})
    assert refused.status_code == 401
    assert refused.json()["error_description"] == "Found Authentication header but was not valid client credentials."
