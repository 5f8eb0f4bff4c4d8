"""Two apps registered at the same sandbox: what belongs to one must not work for the other."""

import pytest
import requests

from fortellis_nb.local import sandbox_client
from fortellis_nb.oauth import errors

from .conftest import signed_in


@pytest.fixture
def other_client(info):
    answer = requests.post(f"{info.base_url}/sandbox/apps", timeout=10,
                           json={"name": "Second App", "redirect_uris": [info.redirect_uri]})
    assert answer.status_code == 201, answer.text
    app = answer.json()
    activated = requests.post(f"{info.base_url}/sandbox/subscriptions", timeout=10,
                              json={"api_key": app["api_key"], "dealership": "Second Motors"})
    return sandbox_client(info, api_key=app["api_key"], api_secret=app["api_secret"],
                                               subscription_id=activated.json()["subscription_id"])


def test_an_id_token_for_another_app_is_refused(client, other_client):
    theirs = other_client.exchange_code(signed_in(other_client))
    with pytest.raises(errors.InvalidAudienceError):
        client.verify(theirs.id_token, kind="id")
    assert client.verify(theirs.access_token).claims["cid"] == other_client.config.api_key


def test_a_code_issued_to_another_app_is_invalid_grant(client, other_client):
    theirs = signed_in(other_client)
    with pytest.raises(errors.InvalidGrantError) as caught:
        client.exchange_code(theirs.code)
    assert caught.value.description.startswith("The grant was issued to another client.")


def test_another_apps_token_does_not_open_this_apps_subscription(client, other_client):
    theirs = other_client.exchange_code(signed_in(other_client))
    with pytest.raises(errors.GatewayError) as caught:
        client.call_api("/sandbox/v1/dealership", access_token=theirs.access_token)
    assert caught.value.error == "SUBSCRIPTION-MISMATCH"
    assert other_client.call_api("/sandbox/v1/dealership").status == 200
