"""The workshop checks say right only for right answers, and say why otherwise."""

import base64
import uuid

import pytest

from fortellis_nb.exercises import (
    SWAP_ANSWER,
    check_api_headers,
    check_authorize_url,
    check_basic_header,
    check_refresh_scopes,
    check_token_lifetime,
)
from fortellis_nb.oauth import FortellisClient, errors
from fortellis_nb.local import sandbox_client, sandbox_config
from fortellis_nb.oauth.hints import ACCESS_TOKEN_LIFETIME, WIDER_SCOPE_ON_REFRESH

from .oauth.conftest import signed_in

KEY, SECRET = "RRTKerBb7tgRT4K6ES2eQdYJ1z9cHFsv", "s3cr3t-Value_1234567890"
ENDPOINT = "http://127.0.0.1:1/oauth2/ausX/v1/authorize"
REDIRECT = "https://example.com/"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("answer, ok, words", [
    (f"Basic {b64(KEY + ':' + SECRET)}", True, "API Key first"),
    (f"Authorization: Basic {b64(KEY + ':' + SECRET)}", True, "API Key first"),
    (f"Basic {b64(SECRET + ':' + KEY)}", False, "Swapped"),
    (b64(KEY + ":" + SECRET), False, "start with 'Basic '"),
    ("Basic !!!", False, "not valid Base64"),
    (f"Basic {b64(KEY + ':' + SECRET + chr(10))}", False, "trailing newline"),
    (f"Basic {b64(KEY + SECRET)}", False, "no ':'"),
    (..., False, "Not answered"),
])
def test_basic_header(answer, ok, words):
    result = check_basic_header(answer, api_key=KEY, api_secret=SECRET)
    assert result.ok is ok
    assert words in repr(result)
    assert ("Right" if ok else "Not yet") in result._repr_html_()


def url(**overrides):
    params = {"client_id": KEY, "response_type": "code", "scope": "openid", "redirect_uri": REDIRECT, "state": "s1"}
    params.update(overrides)
    return ENDPOINT + "?" + "&".join(f"{k}={v}" for k, v in params.items() if v is not None)


@pytest.mark.parametrize("answer, ok, words", [
    (url(), True, "Every parameter"),
    (url(redirect_uri="https://example.com"), False, "trailing '/'"),
    (url(state=None), False, "state is missing"),
    (url(client_id=SECRET), False, "API Secret"),
    (url(response_type="token"), False, "response_type"),
    (url() + "&state=again", False, "appears 2 times"),
    (url().replace("/v1/authorize", "/v1/token"), False, "authorize endpoint"),
])
def test_authorize_url(answer, ok, words):
    result = check_authorize_url(answer, authorization_endpoint=ENDPOINT, api_key=KEY, redirect_uri=REDIRECT,
                                 api_secret=SECRET)
    assert result.ok is ok
    assert words in repr(result)


def test_token_lifetime():
    claims = {"iat": 1_700_000_000, "exp": 1_700_003_600}
    assert check_token_lifetime(3600, claims=claims).ok and "the tutorial's expires_in" in repr(
        check_token_lifetime(3600, claims=claims))
    shorter = {"iat": 1_700_000_000, "exp": 1_700_000_300}  # a sandbox started with --token-lifetime 300
    assert check_token_lifetime(300, claims=shorter).ok
    assert f"the tutorial's expires_in is {ACCESS_TOKEN_LIFETIME}" in repr(check_token_lifetime(300, claims=shorter))
    assert "moment in time" in repr(check_token_lifetime(1_700_003_600, claims=claims))
    assert not check_token_lifetime("soon", claims=claims).ok


def test_refresh_scopes():
    granted = ("openid", "offline_access")
    assert check_refresh_scopes("offline_access", granted=granted).ok
    result = check_refresh_scopes("openid profile", granted=granted)
    assert not result.ok and "profile" in repr(result) and WIDER_SCOPE_ON_REFRESH in repr(result)
    assert "invalid_scope" not in repr(result)  # Okta and the sandbox answer access_denied


def test_api_headers():
    good = {"Authorization": "Bearer tok", "Subscription-Id": "sub", "Request-Id": "8a7b2c56-1f0e-4d8a-9c3b-2e6f1a4d5b7c"}
    assert check_api_headers(good, access_token="tok", subscription_id="sub").ok
    bare = {**good, "Authorization": "tok"}
    assert "'Bearer'" in repr(check_api_headers(bare, access_token="tok", subscription_id="sub"))
    missing = {"Authorization": "Bearer tok"}
    text = repr(check_api_headers(missing, access_token="tok", subscription_id="sub"))
    assert "MISSING-SUBSCRIPTION-ID" in text and "Request-Id is missing" in text

    assert "Request-Id" in repr(check_api_headers({**good, "Request-Id": " "}, access_token="tok",
                                                  subscription_id="sub"))


def test_any_request_id_passes_and_a_uuid_is_recommended():
    headers = {"Authorization": "Bearer tok", "Subscription-Id": "sub", "Request-Id": "1"}
    result = check_api_headers(headers, access_token="tok", subscription_id="sub")
    assert result.ok and "UUID" in " ".join(result.notes)
    fresh = check_api_headers({**headers, "Request-Id": str(uuid.uuid4())}, access_token="tok", subscription_id="sub")
    assert fresh.ok and not fresh.notes


# --- the exercises' facts are the server's behaviour ---------------------------------------
@pytest.fixture
def client(sandbox, clock):
    return sandbox_client(sandbox.info, clock=clock)


def test_the_token_lifetime_the_exercise_expects_is_the_servers(client):
    tokens = client.exchange_code(signed_in(client))
    claims = tokens.access_claims
    assert tokens.expires_in == claims["exp"] - claims["iat"] == ACCESS_TOKEN_LIFETIME
    assert "the tutorial's expires_in." in repr(check_token_lifetime(ACCESS_TOKEN_LIFETIME, claims=claims))


def test_the_answer_the_refresh_exercise_names_is_the_servers(client):
    tokens = client.exchange_code(signed_in(client))
    with pytest.raises(errors.TokenRequestError) as caught:
        client.refresh(scopes="openid offline_access email")
    assert caught.value.error == WIDER_SCOPE_ON_REFRESH
    assert WIDER_SCOPE_ON_REFRESH in repr(check_refresh_scopes("openid email", granted=tokens.scopes))


def test_the_gateway_takes_any_request_id_as_the_exercise_says(client):
    client.exchange_code(signed_in(client))
    answer = client.call_api("/sandbox/v1/dealership", request_id="1")
    assert answer.status == 200 and answer.echoed_request_id == "1"
    headers = dict(answer.exchange.request_headers)
    assert check_api_headers(headers, access_token=client.tokens.access_token,
                             subscription_id=client.config.subscription_id).ok


def test_the_answer_to_a_swapped_pair_the_exercise_names_is_the_servers(sandbox, clock):
    info = sandbox.info
    swapped = FortellisClient(sandbox_config(info).replace(api_key=info.api_secret, api_secret=info.api_key),
                              clock=clock)
    with pytest.raises(errors.TokenRequestError) as caught:
        swapped.client_credentials()
    assert caught.value.error == SWAP_ANSWER
    header = "Basic " + b64(f"{info.api_secret}:{info.api_key}")
    assert SWAP_ANSWER in repr(check_basic_header(header, api_key=info.api_key, api_secret=info.api_secret))
