"""Sandbox users with claims of the learner's choosing: an e-mail and any claims (JSON), in
the ID token and userinfo by OpenID Connect Core 5.4's scopes (the ID token thin, as Okta's is
in the code flow), custom claims in both; refused by name when they cannot be."""

from __future__ import annotations

import json

import pytest
import requests

from fortellis_nb.oauth.verify import decode

from .conftest import HIDDEN, Browser, exchange

CLAIMS = {"given_name": "Ada", "family_name": "Lovelace", "locale": "en-GB", "phone_number": "+44 20 7946 0000",
          "address": {"locality": "London", "country": "GB"}, "dealer_role": "sales", "dealer_ids": [7, 9]}


@pytest.fixture
def ada(info):
    answer = requests.post(f"{info.base_url}/sandbox/users", json={
        "username": "ada@example.com", "password": "analytical-engine", "name": "Ada Lovelace",
        "email": "ada.lovelace@example.org", "claims": CLAIMS})
    assert answer.status_code == 201, answer.text
    return answer.json()


def tokens_for(info, scope: str) -> dict:
    browser = Browser(info)
    page = browser.authorize(scope=scope)
    code = browser.submit(page, username="ada@example.com", password="analytical-engine")
    from .conftest import redirect_params

    answer = exchange(info, redirect_params(code)["code"])
    assert answer.status_code == 200, answer.text
    return answer.json()


def userinfo(info, access_token: str) -> dict:
    return requests.get(f"{info.issuer}/v1/userinfo", headers={"Authorization": f"Bearer {access_token}"}).json()


def test_the_user_is_listed_with_the_claims_chosen(info, ada):
    assert ada["claims"] == CLAIMS and ada["email"] == "ada.lovelace@example.org"
    listed = requests.get(f"{info.base_url}/sandbox/users", headers={"Accept": "application/json"}).json()
    assert next(u for u in listed if u["username"] == "ada@example.com")["claims"] == CLAIMS


def test_the_id_token_is_thin_and_userinfo_has_every_claim_of_the_scopes(info, ada):
    tokens = tokens_for(info, "openid profile email phone address")
    id_claims = decode(tokens["id_token"]).claims
    assert id_claims["name"] == "Ada Lovelace" and id_claims["preferred_username"] == "ada@example.com"
    assert id_claims["email"] == "ada.lovelace@example.org" and id_claims["email_verified"] is True
    assert id_claims["dealer_role"] == "sales" and id_claims["dealer_ids"] == [7, 9]  # custom: always
    assert not {"given_name", "family_name", "locale", "phone_number", "address"} & set(id_claims)  # thin
    info_claims = userinfo(info, tokens["access_token"])
    assert info_claims == {"sub": ada["id"], "name": "Ada Lovelace", "preferred_username": "ada@example.com",
                           **{k: CLAIMS[k] for k in ("given_name", "family_name", "locale")},
                           "email": "ada.lovelace@example.org", "email_verified": True,
                           "phone_number": CLAIMS["phone_number"], "address": CLAIMS["address"],
                           "dealer_role": "sales", "dealer_ids": [7, 9]}


def test_without_profile_and_email_only_the_custom_claims_come(info, ada):
    tokens = tokens_for(info, "openid")
    id_claims = decode(tokens["id_token"]).claims
    assert "name" not in id_claims and "email" not in id_claims and id_claims["dealer_role"] == "sales"
    assert userinfo(info, tokens["access_token"]) == {"sub": ada["id"], "dealer_role": "sales", "dealer_ids": [7, 9]}


def test_discovery_lists_the_scopes_and_claims(info):
    metadata = requests.get(f"{info.issuer}/.well-known/openid-configuration").json()
    assert {"profile", "email", "address", "phone"} <= set(metadata["scopes_supported"])
    assert {"given_name", "phone_number", "address", "email_verified"} <= set(metadata["claims_supported"])


@pytest.mark.parametrize("claims, words", [
    ({"sub": "someone-else"}, "The server sets 'sub' itself"),
    ({"aud": "x"}, "The server sets 'aud' itself"),
    ({"email": "x@example.com"}, "'email' comes from the user's email field"),
    ({"name": "X"}, "'name' comes from the user's name field"),
    ({"a b": 1}, "is not a claim name"),
    ({"": 1}, "is not a claim name"),
    ({"x" * 65: 1}, "is not a claim name"),
    ({"role": "ad\u202emin"}, "an invisible formatting character (U+202E)"),
    ({"role": "line\nbreak"}, "a control character (U+000A)"),
    ({"deep": [[[[["five"]]]]]}, "nests more than 4 levels deep"),
    ({f"c{i}": i for i in range(31)}, "At most 30 claims"),
    ({"big": "x" * 5000}, "more than 4096 bytes"),
    ([1, 2], "must be a JSON object"),
    ("not json", "must be a JSON object"),
    ("[[[[[[[[1]]]]]]]]", "must be a JSON object"),
])
def test_claims_that_cannot_be_are_refused_by_name(info, claims, words):
    answer = requests.post(f"{info.base_url}/sandbox/users", json={
        "username": "bad@example.com", "password": "long-enough", "claims": claims})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request", answer.text
    assert words in answer.json()["error_description"]


@pytest.mark.parametrize("raw, words", [
    ('{"username": "s@example.com", "password": "long-enough", "claims": {"role": "\\ud800"}}', "an unpaired surrogate"),
    ('{"username": "s@example.com", "password": "long-enough", "claims": {"n": NaN}}', "not a number JSON can carry"),
    ('{"username": "s@example.com", "password": "long-enough", "claims": {"n": Infinity}}', "not a number JSON can carry"),
    ('{"username": "s@example.com", "password": "long-enough", "email": "not an address"}', "is not an e-mail address"),
])
def test_what_json_can_say_but_a_claim_cannot_be(info, raw, words):
    answer = requests.post(f"{info.base_url}/sandbox/users", data=raw.encode(),
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and words in answer.json()["error_description"], answer.text


def test_the_users_page_takes_claims_as_json_and_keeps_what_was_typed(info):
    http = requests.Session()
    csrf = dict(HIDDEN.findall(http.get(f"{info.base_url}/sandbox/users").text))["csrf"]
    form = {"csrf": csrf, "username": "page@example.com", "password": "long-enough", "name": "Page User",
            "claims": '{"dealer_role": "manager"'}
    bad = http.post(f"{info.base_url}/sandbox/users", data=form, headers={"Origin": info.base_url})
    assert bad.status_code == 400 and "must be a JSON object" in bad.text
    assert "{&quot;dealer_role&quot;: &quot;manager&quot;" in bad.text  # nothing typed is lost
    good = http.post(f"{info.base_url}/sandbox/users", data={**form, "claims": '{"dealer_role": "manager"}'},
                     headers={"Origin": info.base_url})
    assert good.status_code == 200 and "Created page@example.com" in good.text
    assert "{&quot;dealer_role&quot;: &quot;manager&quot;}" in good.text


def test_the_sign_in_page_offers_the_demo_users(info, browser):
    page = browser.authorize()
    assert 'list="demo-users"' in page.text
    for user in ("learner@example.com", "dealer@example.com", "unassigned@example.com"):
        assert f'<option value="{user}">' in page.text


def test_the_client_gets_them_through_userinfo_and_the_verified_id_token(info, ada):
    from fortellis_nb.local import sandbox_client

    client = sandbox_client(info)
    request = client.authorization_url(scopes="openid profile")
    tokens = client.exchange_code(client.parse_redirect(
        client.sign_in_headless(request, username="ada@example.com", password="analytical-engine")))
    assert tokens.id_claims["dealer_role"] == "sales"
    assert client.userinfo()["given_name"] == "Ada"
    assert json.loads(json.dumps(client.userinfo()))["family_name"] == "Lovelace"
