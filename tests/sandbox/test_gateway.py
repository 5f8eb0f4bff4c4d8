"""The sample API behind a Fortellis-style gateway."""

import uuid

import jwt
import pytest
import requests

from .conftest import token_request


def call(info, token=None, subscription_id="demo", request_id=None, resource="dealership"):
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if subscription_id is not None:
        headers["Subscription-Id"] = info.subscription_id if subscription_id == "demo" else subscription_id
    if request_id is not None:
        headers["Request-Id"] = request_id
    return requests.get(f"{info.api_base_url}/sandbox/v1/{resource}", headers=headers)


def test_a_good_call_echoes_the_request_id(info, tokens):
    request_id = str(uuid.uuid4())
    response = call(info, tokens["access_token"], request_id=request_id)
    assert response.status_code == 200
    assert response.headers["Request-Id"] == request_id
    body = response.json()
    assert body["dealership"] == "Sandbox Motors" and body["requestId"] == request_id
    assert body["caller"]["user"] == info.username


def test_the_gateway_makes_up_a_request_id_when_missing(info, tokens):
    response = call(info, tokens["access_token"])
    assert uuid.UUID(response.headers["Request-Id"])


def test_customers_list(info, tokens):
    assert call(info, tokens["access_token"], resource="customers").json()["count"] == 3


def test_client_credentials_token_works_with_the_users_subscription(info):
    token = token_request(info, {"grant_type": "client_credentials", "scope": "anonymous"}).json()["access_token"]
    response = call(info, token)
    assert response.status_code == 200 and response.json()["caller"]["user"] is None


def test_the_test_subscription_id(info, tokens):
    assert call(info, tokens["access_token"], subscription_id="test").json()["dealership"] == "Test Dealership"


@pytest.mark.parametrize("case, status, code", [
    ("no-token", 401, "MISSING-AUTHORIZATION"),
    ("garbage", 401, "INVALID-TOKEN"),
    ("id-token", 401, "TOKEN-AUDIENCE-MISMATCH"),
    ("no-subscription", 400, "MISSING-SUBSCRIPTION-ID"),
    ("foreign-subscription", 403, "SUBSCRIPTION-MISMATCH"),
])
def test_gateway_errors(info, tokens, case, status, code):
    token = {"no-token": None, "garbage": "abc.def.ghi", "id-token": tokens["id_token"]}.get(
        case, tokens["access_token"])
    subscription = {"no-subscription": None, "foreign-subscription": str(uuid.uuid4())}.get(case, "demo")
    response = call(info, token, subscription_id=subscription, request_id="req-1")
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["message"]
    assert response.headers["Request-Id"] == "req-1"


def test_expired_token(info, tokens, clock):
    clock.advance(3601)
    response = call(info, tokens["access_token"])
    assert response.status_code == 401 and response.json()["code"] == "TOKEN-EXPIRED"


def test_inactive_subscription(sandbox, info, tokens):
    inactive = next(r["id"] for r in sandbox.store.subscriptions(info.api_key) if r["status"] == "pending")
    response = call(info, tokens["access_token"], subscription_id=inactive)
    assert response.status_code == 403 and response.json()["code"] == "API-SUBSCRIPTION-INACTIVE"


def test_a_token_signed_by_someone_else_is_invalid(info, tokens):
    from cryptography.hazmat.primitives.asymmetric import rsa

    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    forged = jwt.encode(claims, rsa.generate_private_key(public_exponent=65537, key_size=2048),
                        algorithm="RS256", headers={"kid": jwt.get_unverified_header(tokens["access_token"])["kid"]})
    assert call(info, forged).json()["code"] == "INVALID-TOKEN"


def test_a_revoked_token_is_invalid(info, tokens):
    requests.post(f"{info.issuer}/v1/revoke", auth=(info.api_key, info.api_secret),
                  data={"token": tokens["access_token"]})
    assert call(info, tokens["access_token"]).json()["code"] == "INVALID-TOKEN"


def test_unknown_api_path(info, tokens):
    response = requests.get(f"{info.api_base_url}/sandbox/v1/nothing-here")
    assert response.status_code == 404 and response.json()["code"] == "API-DOES-NOT-EXIST"
    assert response.json()["message"] == "The app cannot access this endpoint because the endpoint doesn't exist."
