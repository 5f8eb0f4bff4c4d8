"""The JWTs: shaped like the tutorial's, signed RS256 with keys published at /v1/keys."""

import base64
import hashlib
import json

import jwt
import requests

from .conftest import exchange


def keyset(info) -> dict:
    return {k["kid"]: jwt.algorithms.RSAAlgorithm.from_jwk(k)
            for k in requests.get(f"{info.issuer}/v1/keys").json()["keys"]}


def header(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))


def test_header_is_kid_and_rs256_only(tokens):
    assert header(tokens["access_token"]) .keys() == {"kid", "alg"}
    assert header(tokens["access_token"])["alg"] == "RS256"


def test_access_token_claims(info, tokens, clock):
    key = keyset(info)[header(tokens["access_token"])["kid"]]
    claims = jwt.decode(tokens["access_token"], key, algorithms=["RS256"], audience="api_providers",
                        issuer=info.issuer, options={"verify_iat": False})
    assert list(claims) == ["ver", "jti", "iss", "aud", "iat", "exp", "cid", "uid", "scp", "sub"]
    assert claims["ver"] == 1 and claims["jti"].startswith("AT.")
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["cid"] == info.api_key
    assert claims["uid"].startswith("00u") and len(claims["uid"]) == 20
    assert claims["scp"] == ["openid", "offline_access"]
    assert claims["sub"] == info.username


def test_id_token_claims(info, browser):
    params = browser.authorize_params()
    code = browser.sign_in(**params)["code"]
    body = exchange(info, code).json()
    key = keyset(info)[header(body["id_token"])["kid"]]
    claims = jwt.decode(body["id_token"], key, algorithms=["RS256"], audience=info.api_key, issuer=info.issuer)
    assert claims["sub"].startswith("00u") and claims["jti"].startswith("ID.")
    assert claims["amr"] == ["pwd"] and claims["idp"].startswith("00o")
    assert claims["nonce"] == params["nonce"]
    assert claims["auth_time"] <= claims["iat"]
    digest = hashlib.sha256(body["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def test_profile_and_email_scopes_add_claims(info, browser):
    body = exchange(info, browser.sign_in(scope="openid profile email")["code"]).json()
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert claims["email"] == info.username and claims["name"] == "Lee Learner"


def test_configured_token_lifetime(tmp_path, clock):
    from fortellis_nb.sandbox import Sandbox, Settings

    with Sandbox(Settings(state_dir=tmp_path, token_lifetime=5, clock=clock)) as short:
        response = requests.post(f"{short.info.issuer}/v1/token", auth=(short.info.api_key, short.info.api_secret),
                                 data={"grant_type": "client_credentials", "scope": "anonymous"})
    body = response.json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert body["expires_in"] == 5 and claims["exp"] - claims["iat"] == 5


def wait_for_the_next_key(info) -> list[str]:
    """The key set once the NEXT key (made on a worker thread after start) is in it."""
    import time

    deadline = time.monotonic() + 20
    while len(keyset(info)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(keyset(info))


def test_the_key_set_publishes_the_active_key_and_the_next_one(info, tokens):
    active = header(tokens["access_token"])["kid"]
    kids = wait_for_the_next_key(info)
    assert kids[0] == active and len(kids) == 2  # ACTIVE, then NEXT: published before it signs
    response = requests.get(f"{info.issuer}/v1/keys")
    assert response.headers["Cache-Control"] == "max-age=86400, must-revalidate"


def test_key_rotation_keeps_the_old_key_published(sandbox, info, tokens, clock):
    old_kid = header(tokens["access_token"])["kid"]
    next_kid = wait_for_the_next_key(info)[1]
    new_kid = sandbox.rotate_keys()
    assert new_kid == next_kid != old_kid  # the NEXT key signs now
    kids = list(keyset(info))
    assert kids[0] == new_kid and kids[2] == old_kid and len(kids) == 3  # ACTIVE, a new NEXT, EXPIRED
    fresh = requests.post(f"{info.issuer}/v1/token", auth=(info.api_key, info.api_secret),
                          data={"grant_type": "client_credentials", "scope": "anonymous"}).json()
    assert header(fresh["access_token"])["kid"] == new_kid
    # Tokens signed by the old key still work at the API while it is published...
    api = f"{info.api_base_url}/sandbox/v1/dealership"
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "Subscription-Id": info.subscription_id}
    assert requests.get(api, headers=headers).status_code == 200
    # ...and the old key disappears after the grace period.
    clock.advance(8 * 86400)
    sandbox.rotate_keys()
    assert old_kid not in keyset(info)


def test_rotation_through_the_admin_endpoint(info):
    refused = requests.post(f"{info.base_url}/sandbox/admin/rotate-keys")
    assert refused.status_code == 401
    response = requests.post(f"{info.base_url}/sandbox/admin/rotate-keys",
                             headers={"Authorization": f"Bearer {info.admin_token}"})
    assert response.status_code == 200 and response.json()["kid"] in keyset(info)


def test_discovery_documents(info):
    for kind in ("openid-configuration", "oauth-authorization-server"):
        doc = requests.get(f"{info.issuer}/.well-known/{kind}").json()
        assert doc["issuer"] == info.issuer
        assert doc["token_endpoint"] == f"{info.issuer}/v1/token"
        assert doc["jwks_uri"] == f"{info.issuer}/v1/keys"
        assert doc["code_challenge_methods_supported"] == ["S256"]
