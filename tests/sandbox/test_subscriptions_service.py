"""Fortellis' Subscriptions service in the sandbox (tutorials/app-toolbox/using-the-subscriptions-
endpoint.md): an app lists its subscriptions and reads one's context with its own token."""

from __future__ import annotations

import pytest
import requests

from fortellis_nb.sandbox import marketplace

LISTED_FIELDS = {"subscriptionId", "orgId", "orgName", "status", "activationDate", "deactivationDate"}
PLACE_FIELDS = {"id", "name", "address", "countryCode", "phoneNumber"}
APP_FIELDS = {"id", "name", "developer", "contactEmail"}


def client_token(info, api_key=None, api_secret=None) -> str:
    answer = requests.post(f"{info.issuer}/v1/token", auth=(api_key or info.api_key, api_secret or info.api_secret),
                           data={"grant_type": "client_credentials", "scope": "anonymous"})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def listing(info, token, **params) -> requests.Response:
    return requests.get(f"{info.subscriptions_url}/v1/solution/subscriptions", params=params,
                        headers={"Authorization": f"Bearer {token}"} if token else {})


def context(info, token, subscription_id) -> requests.Response:
    return requests.get(f"{info.subscriptions_url}/subscriptions/{subscription_id}/context",
                        headers={"Authorization": f"Bearer {token}"})


def register(info, **fields) -> dict:
    answer = requests.post(f"{info.base_url}/sandbox/apps", json={
        "name": "Other Dealer App", "redirect_uris": [info.redirect_uri], **fields})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_the_base_url_is_in_the_sandbox_info(info):
    assert info.subscriptions_url == f"{info.base_url}/subscriptions"


def test_the_demo_app_lists_its_subscription_with_fortellis_fields(info):
    answer = listing(info, client_token(info))
    assert answer.status_code == 200
    listed = answer.json()["subscriptions"]
    assert all(set(entry) == LISTED_FIELDS for entry in listed)
    demo = next(entry for entry in listed if entry["subscriptionId"] == info.subscription_id)
    assert demo["status"] == "active" and demo["orgName"] == "Sandbox Motors" and demo["deactivationDate"] == ""
    assert len(demo["activationDate"]) == 10 and demo["activationDate"][4] == "-"
    assert [e["status"] for e in listed if e["orgName"] == "Closed Motors"] == ["pending"]
    assert "test" not in {e["subscriptionId"] for e in listed}, "test is every app's, no dealer's activation"


def test_the_context_of_the_demo_subscription(info):
    answer = context(info, client_token(info), info.subscription_id)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"organizationInfo", "appInfo", "entityInfo", "solutionInfo"}
    assert set(body["organizationInfo"]) == set(body["entityInfo"]) == PLACE_FIELDS
    assert set(body["appInfo"]) == APP_FIELDS and body["solutionInfo"] == body["appInfo"]
    assert body["organizationInfo"]["name"] == "Sandbox Motors"
    assert body["entityInfo"]["name"] == "Sandbox Motors North" and body["entityInfo"]["countryCode"] == "US"
    assert body["appInfo"]["name"] == "sandbox-demo-app"
    orgs = {e["subscriptionId"]: e["orgId"] for e in listing(info, client_token(info)).json()["subscriptions"]}
    assert body["organizationInfo"]["id"] == orgs[info.subscription_id]


@pytest.mark.parametrize("header, code", [
    (None, "MISSING-AUTHORIZATION"),
    ("Bearer not-a-token", "INVALID-TOKEN"),
    ("Basic abc", "INVALID-TOKEN"),
])
def test_without_a_good_token_it_is_401(info, header, code):
    for url in (f"{info.subscriptions_url}/v1/solution/subscriptions",
                f"{info.subscriptions_url}/subscriptions/{info.subscription_id}/context"):
        answer = requests.get(url, headers={"Authorization": header} if header else {})
        assert answer.status_code == 401 and answer.json()["code"] == code
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_another_apps_token_does_not_see_the_demo_subscription(info):
    other = register(info)
    token = client_token(info, other["api_key"], other["api_secret"])
    assert listing(info, token).json() == {"subscriptions": []}
    refused = context(info, token, info.subscription_id)
    assert refused.status_code == 403 and refused.json()["code"] == "SUBSCRIPTION-MISMATCH"


def test_the_filters(info):
    token = client_token(info)
    everything = listing(info, token).json()["subscriptions"]
    demo = next(e for e in everything if e["subscriptionId"] == info.subscription_id)
    by_org = listing(info, token, orgId=demo["orgId"]).json()["subscriptions"]
    assert [e["subscriptionId"] for e in by_org] == [info.subscription_id]
    entity = context(info, token, info.subscription_id).json()["entityInfo"]["id"]
    by_entity = listing(info, token, entityId=entity).json()["subscriptions"]
    assert [e["subscriptionId"] for e in by_entity] == [info.subscription_id]
    assert listing(info, token, orgId=demo["orgId"], entityId=entity).json()["subscriptions"] == by_org
    assert listing(info, token, orgId="00000000-0000-0000-0000-000000000000").json() == {"subscriptions": []}


@pytest.mark.parametrize("params", [
    {"orgId": "x" * 20000}, {"entityId": "\x00\x7f"}, {"orgId": "😀" * 50}, {"entityId": ""},
])
def test_odd_filters_list_nothing_rather_than_fail(info, params):
    answer = listing(info, client_token(info), **params)
    assert answer.status_code == 200 and answer.json() == {"subscriptions": []}


@pytest.mark.parametrize("path", ["/v1/solution/subscriptions?orgId=%ED%A0%80",
                                  "/subscriptions/%ED%A0%80/context", "/subscriptions/%FF/context"])
def test_an_unpaired_surrogate_or_a_byte_that_is_no_utf8_is_a_4xx(info, path):
    answer = requests.get(f"{info.subscriptions_url}{path}", headers={"Authorization": f"Bearer {client_token(info)}"})
    assert 400 <= answer.status_code < 500 and "code" in answer.json()


@pytest.mark.parametrize("subscription_id", ["x" * 5000, "test", "no-such-id"])
def test_a_subscription_that_is_not_the_apps_has_no_context(info, subscription_id):
    answer = context(info, client_token(info), subscription_id)
    assert answer.status_code == 403 and answer.json()["code"] == "SUBSCRIPTION-MISMATCH"


def test_other_paths_and_methods_do_not_exist(info):
    token = {"Authorization": f"Bearer {client_token(info)}"}
    assert requests.get(f"{info.subscriptions_url}/v2/nothing", headers=token).json()["code"] == "API-DOES-NOT-EXIST"
    posted = requests.post(f"{info.subscriptions_url}/v1/solution/subscriptions", headers=token)
    assert posted.status_code == 404 and posted.json()["code"] == "API-DOES-NOT-EXIST"


def test_kebab_case_names():
    assert marketplace.kebab("Repair Order App v2") == "repair-order-app-v2"
