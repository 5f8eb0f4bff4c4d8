import uuid
import warnings

import pytest

from fortellis_nb.local import sandbox_client
from fortellis_nb.oauth.config import Config
from fortellis_nb.oauth import FortellisClient, errors
from fortellis_nb.oauth.api import call_api
from fortellis_nb.oauth.transcript import Http

from .conftest import signed_in


@pytest.fixture
def signed_in_client(client):
    client.exchange_code(signed_in(client))
    return client


def test_call_sends_bearer_subscription_and_a_fresh_request_id(signed_in_client, info):
    client = signed_in_client
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = client.call_api("/sandbox/v1/dealership")
        second = client.call_api("sandbox/v1/customers")
    assert first.status == 200 and first.data
    assert first.request_id != second.request_id
    uuid.UUID(first.request_id)
    assert first.request_id_matches and first.echoed_request_id == first.request_id
    sent = first.exchange.request_headers
    assert sent["Authorization"] == f"Bearer {client.tokens.access_token}"
    assert sent["Subscription-Id"] == info.subscription_id
    assert sent["Request-Id"] == first.request_id
    curl = first.exchange.as_curl()
    assert f"authorization: Bearer {client.tokens.access_token[:5]}..." in curl
    assert client.tokens.access_token not in curl


def test_client_credentials_token_calls_the_api(client):
    tokens = client.client_credentials()
    assert client.call_api("/sandbox/v1/dealership", access_token=tokens.access_token).status == 200


@pytest.mark.parametrize("change, code", [
    (dict(subscription_id=""), "MISSING-SUBSCRIPTION-ID"),
    (dict(subscription_id=str(uuid.uuid4())), "SUBSCRIPTION-MISMATCH"),
    (dict(access_token="eyJhbGciOiJSUzI1NiJ9.e30.c2ln"), "INVALID-TOKEN"),
])
def test_gateway_refusals_are_explained(signed_in_client, change, code):
    kwargs = {"subscription_id": change.get("subscription_id", None), "access_token": change.get("access_token")}
    if change.get("subscription_id") == "":
        signed_in_client.config.subscription_id = None
    with pytest.raises(errors.GatewayError) as caught:
        signed_in_client.call_api("/sandbox/v1/dealership", **kwargs)
    assert caught.value.error == code
    assert caught.value.hint and caught.value.status in (400, 401, 403)
    assert caught.value.request_id


def test_missing_authorization_is_explained(info):
    with pytest.raises(errors.GatewayError) as caught:
        call_api(Http(), f"{info.api_base_url}/sandbox/v1/dealership", access_token="x",
                 subscription_id=info.subscription_id, headers={"Authorization": ""})
    assert caught.value.error == "MISSING-AUTHORIZATION"
    assert "Bearer" in caught.value.hint


def test_expired_token_at_the_gateway(own_sandbox, clock):
    client = sandbox_client(own_sandbox.info, clock=clock)
    client.exchange_code(signed_in(client))
    clock.advance(3700)
    with pytest.raises(errors.GatewayError) as caught:
        client.call_api("/sandbox/v1/dealership")
    assert caught.value.error == "TOKEN-EXPIRED" and "Refresh" in caught.value.hint


def test_revoked_token_at_the_gateway(signed_in_client):
    signed_in_client.revoke()
    with pytest.raises(errors.GatewayError) as caught:
        signed_in_client.call_api("/sandbox/v1/dealership")
    assert caught.value.error in ("INVALID-TOKEN", "TOKEN-REVOKED")


def test_a_wrong_request_id_echo_is_warned(local_server):
    server = local_server({("GET", "/api/x"): lambda h: (200, {"Request-Id": "made-up"}, {"ok": True})})
    with pytest.warns(errors.RequestIdWarning, match="made-up"):
        answer = call_api(Http(), server.url + "/api/x", access_token="t", subscription_id="s")
    assert not answer.request_id_matches


def test_html_error_page_from_a_gateway_is_a_gateway_error(local_server):
    server = local_server({("GET", "/api/x"): lambda h: (502, {"Content-Type": "text/html"},
                                                          "<html><title>502 Bad Gateway</title></html>")})
    with pytest.warns(errors.RequestIdWarning):
        with pytest.raises(errors.GatewayError, match="502 Bad Gateway") as caught:
            call_api(Http(), server.url + "/api/x", access_token="t", subscription_id="s")
    assert caught.value.error == "HTTP-502"


def test_a_path_needs_an_api_base_url(info):
    config = Config(issuer="https://login.example.com/oauth2/default", api_key="k", api_secret="s")
    client = FortellisClient(config)
    client.tokens = None
    with pytest.raises(errors.ConfigurationError):
        client.call_api("/x", access_token="t")
