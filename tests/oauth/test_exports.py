"""The transcript's exports, read back: HAR 1.2's shape, the Postman and .http variables,
secrets shortened unless a file is asked for in full (with a warning). The real tools replay
them in tests/interop/test_exports.py."""

from __future__ import annotations

import json
import warnings

import pytest

from fortellis_nb.oauth import FortellisError
from fortellis_nb.oauth.errors import FortellisWarning

from .conftest import signed_in


@pytest.fixture
def flown(client):
    tokens = client.exchange_code(signed_in(client))
    client.refresh()
    client.call_api("/sandbox/v1/dealership")
    return client, tokens


def test_har_has_every_exchange_with_its_timings_and_nothing_secret(flown):
    client, tokens = flown
    har = json.loads(client.transcript.to_har())["log"]
    assert har["version"] == "1.2" and har["creator"]["name"] == "fortellis-nb"
    assert len(har["entries"]) == len(client.transcript)
    exchange = next(e for e in har["entries"] if e.get("comment") == "Exchange the code")
    assert exchange["request"]["method"] == "POST" and exchange["response"]["status"] == 200
    params = {p["name"]: p["value"] for p in exchange["request"]["postData"]["params"]}
    assert params["grant_type"] == "authorization_code" and params["code"].endswith("...")
    assert exchange["startedDateTime"].endswith("Z") and exchange["time"] >= 0
    text = client.transcript.to_har()
    for secret in (client.config.api_secret, tokens.access_token, tokens.refresh_token, tokens.id_token):
        assert secret not in text


def test_postman_names_the_app_s_settings_as_variables_and_leaves_the_secret_empty(flown):
    client, _ = flown
    collection = json.loads(client.transcript.to_postman())
    variables = {v["key"]: v["value"] for v in collection["variable"]}
    assert variables["issuer"] == client.config.issuer and variables["api_key"] == client.config.api_key
    assert variables["api_secret"] == "" and variables["subscription_id"] == client.config.subscription_id
    refresh = next(i for i in collection["item"] if i["name"] == "Refresh")
    assert refresh["request"]["url"] == "{{issuer}}/v1/token"
    assert refresh["request"]["auth"]["basic"][1] == {"key": "password", "value": "{{api_secret}}", "type": "string"}
    assert {"key": "refresh_token", "value": "{{refresh_token}}"} in refresh["request"]["body"]["urlencoded"]
    assert "pm.collectionVariables.set('access_token'" in "\n".join(refresh["event"][0]["script"]["exec"])
    call = next(i for i in collection["item"] if i["name"] == "Call the API")
    headers = {h["key"]: h["value"] for h in call["request"]["header"]}
    assert headers["Authorization"] == "Bearer {{access_token}}" and headers["Request-Id"] == "{{$guid}}"
    assert headers["Subscription-Id"] == "{{subscription_id}}"


def test_the_http_file_has_no_empty_variable_and_refs_the_token_request_a_call_needs(flown):
    client, _ = flown
    text = client.transcript.to_http()
    assert "\n@api_secret" not in text and f"\n@api_key = {client.config.api_key}\n" in text
    assert not [line for line in text.splitlines() if line.startswith("@") and line.rstrip().endswith("=")]
    call = text[text.index("### Call the API"):]
    assert "# @ref refresh\n" in call and "Authorization: Bearer {{access_token}}" in call
    assert "Authorization: Basic {{api_key}}:{{api_secret}}" in text
    assert 'client.global.set("access_token", response.body.access_token);' in text


def test_save_picks_the_format_by_name_and_in_full_warns(flown, tmp_path):
    client, tokens = flown
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shortened = client.transcript.save(tmp_path / "s.postman_collection.json")
    assert json.loads(shortened.read_text())["info"]["schema"].endswith("/v2.1.0/collection.json")
    with pytest.warns(FortellisWarning, match="holds the API Secret, tokens and codes in full"):
        full = client.transcript.save(tmp_path / "full.http", full=True)
    assert f"@api_secret = {client.config.api_secret}" in full.read_text()
    with pytest.raises(FortellisError, match="the name does not say the format"):
        client.transcript.save(tmp_path / "session.txt")
    assert json.loads(client.transcript.save(tmp_path / "x.txt", fmt="har").read_text())["log"]["entries"]
