"""The workshop checks say right only for right answers, and say why otherwise."""

import base64

import pytest

from fortellis_nb.exercises import (check_api_headers, check_authorize_url, check_basic_header,
                                    check_refresh_scopes, check_token_lifetime)

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
    assert check_token_lifetime(3600, claims=claims).ok
    assert "moment in time" in repr(check_token_lifetime(1_700_003_600, claims=claims))
    assert not check_token_lifetime("soon", claims=claims).ok


def test_refresh_scopes():
    granted = ("openid", "offline_access")
    assert check_refresh_scopes("offline_access", granted=granted).ok
    result = check_refresh_scopes("openid profile", granted=granted)
    assert not result.ok and "invalid_scope" in repr(result)


def test_api_headers():
    good = {"Authorization": "Bearer tok", "Subscription-Id": "sub", "Request-Id": "8a7b2c56-1f0e-4d8a-9c3b-2e6f1a4d5b7c"}
    assert check_api_headers(good, access_token="tok", subscription_id="sub").ok
    bare = {**good, "Authorization": "tok"}
    assert "'Bearer'" in repr(check_api_headers(bare, access_token="tok", subscription_id="sub"))
    missing = {"Authorization": "Bearer tok"}
    text = repr(check_api_headers(missing, access_token="tok", subscription_id="sub"))
    assert "MISSING-SUBSCRIPTION-ID" in text and "Request-Id is missing" in text
