"""Activation as Fortellis' Marketplace does it: a dealer activates an app for some locations,
its developer may approve by hand, and the gateway answers each state with Fortellis' code."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import requests

from fortellis_nb.sandbox import Sandbox, Settings
from fortellis_nb.sandbox.server import DATABASE_FILE

from .conftest import HIDDEN
from .test_subscriptions_service import client_token, context, listing, register

OLD_STATE = Path(__file__).parent / "data" / "state-before-marketplace.sql"


def call_api(info, token, subscription_id) -> requests.Response:
    return requests.get(f"{info.api_base_url}/sandbox/v1/dealership",
                        headers={"Authorization": f"Bearer {token}", "Subscription-Id": subscription_id})


def post(info, path, body) -> requests.Response:
    return requests.post(f"{info.base_url}/sandbox/{path}", json=body)


def dealer(info, name="Lakeside Motors", locations=("Lakeside East", "Lakeside West")) -> dict:
    made = post(info, "dealers", {"name": name, "locations": list(locations)})
    assert made.status_code == 201, made.text
    return made.json()


def test_a_pending_subscription_is_refused_until_approved(info):
    app = register(info, manual_approval=True)
    assert app["manual_approval"] is True
    lakeside = dealer(info)
    east = lakeside["locations"][0]["entity_id"]
    activated = post(info, "subscriptions", {"api_key": app["api_key"], "org_id": lakeside["org_id"],
                                             "entity_ids": [east]})
    assert activated.status_code == 201 and activated.json()["status"] == "pending"
    subscription_id = activated.json()["subscription_id"]
    token = client_token(info, app["api_key"], app["api_secret"])
    refused = call_api(info, token, subscription_id)
    assert refused.status_code == 403 and refused.json()["code"] == "API-SUBSCRIPTION-INACTIVE"
    assert [s["status"] for s in listing(info, token).json()["subscriptions"]] == ["pending"]

    approved = post(info, "subscriptions/approve", {"subscription_id": subscription_id})
    assert approved.json()["status"] == "active"
    answer = call_api(info, token, subscription_id)
    assert answer.status_code == 200 and answer.json()["dealership"] == "Lakeside Motors"
    assert context(info, token, subscription_id).json()["entityInfo"]["name"] == "Lakeside East"
    assert listing(info, token, entityId=lakeside["locations"][1]["entity_id"]).json() == {"subscriptions": []}


def test_a_deactivated_subscription_is_refused(info):
    token = client_token(info)
    assert call_api(info, token, info.subscription_id).status_code == 200
    done = post(info, "subscriptions/deactivate", {"subscription_id": info.subscription_id})
    assert done.json()["status"] == "deactivated" and done.json()["deactivation_date"]
    refused = call_api(info, token, info.subscription_id)
    assert refused.status_code == 403 and refused.json()["code"] == "SUBSCRIPTION-MISMATCH"
    listed = {s["subscriptionId"]: s for s in listing(info, token).json()["subscriptions"]}[info.subscription_id]
    assert listed["status"] == "deactivated" and listed["deactivationDate"] == done.json()["deactivation_date"]
    again = post(info, "subscriptions/approve", {"subscription_id": info.subscription_id})
    assert again.status_code == 400 and "deactivated" in again.json()["error_description"]


def test_an_app_without_manual_approval_is_active_at_once_for_all_locations(info):
    lakeside = dealer(info)
    activated = post(info, "subscriptions", {"api_key": info.api_key, "org_id": lakeside["org_id"]}).json()
    assert activated["status"] == "active"
    assert activated["entity_ids"] == [loc["entity_id"] for loc in lakeside["locations"]]


@pytest.mark.parametrize("body, said", [
    ({"org_id": "no-such-dealer"}, "no dealer"),
    ({"org_id": "{motors}", "entity_ids": ["{lakeside}"]}, "not one of"),
    ({"entity_ids": "not a list"}, "entity_ids"),
    ({"entity_ids": ["\ud800"]}, "surrogate"),
])
def test_activations_that_cannot_be(info, body, said):
    lakeside = dealer(info)
    motors = next(d for d in requests.get(f"{info.base_url}/sandbox/dealers", headers={"Accept": "application/json"})
                  .json() if d["name"] == "Sandbox Motors")
    values = {"{motors}": motors["org_id"], "{lakeside}": lakeside["locations"][0]["entity_id"]}
    body = {k: values.get(v, v) if isinstance(v, str) else [values.get(e, e) for e in v] if isinstance(v, list)
            else v for k, v in body.items()}
    refused = post(info, "subscriptions", {"api_key": info.api_key, **body})
    assert refused.status_code == 400 and said in refused.json()["error_description"]


@pytest.mark.parametrize("subscription_id", ["test", "no-such-subscription", "x" * 65, "\ud800"])
def test_steps_on_what_is_no_apps_subscription_are_refused(info, subscription_id):
    for step in ("approve", "deactivate"):
        refused = post(info, f"subscriptions/{step}", {"subscription_id": subscription_id})
        assert refused.status_code == 400, refused.text


def test_unauthorized_api_access_for_an_app_without_the_api(info):
    app = register(info, apis=[])
    token = client_token(info, app["api_key"], app["api_secret"])
    refused = call_api(info, token, "test")
    assert refused.status_code == 403 and refused.json()["code"] == "UNAUTHORIZED-API-ACCESS"
    assert post(info, "apps", {"name": "x", "redirect_uris": [info.redirect_uri], "apis": ["other"]}).status_code == 400


def test_quota_exceeded_past_the_apps_quota(info):
    app = register(info, api_quota=2)
    token = client_token(info, app["api_key"], app["api_secret"])
    assert [call_api(info, token, "test").status_code for _ in range(2)] == [200, 200]
    refused = call_api(info, token, "test")
    assert refused.status_code == 429 and refused.json()["code"] == "QUOTA-EXCEEDED"
    assert post(info, "apps", {"name": "x", "redirect_uris": [info.redirect_uri], "api_quota": -1}).status_code == 400


def test_the_test_subscription_id_serves_every_app(info):
    app = register(info)
    token = client_token(info, app["api_key"], app["api_secret"])
    assert call_api(info, token, "test").json()["dealership"] == "Test Dealership"


def test_each_step_through_the_pages_with_the_forms_csrf(info):
    http = requests.Session()
    app = register(info, manual_approval=True)
    page = http.get(f"{info.base_url}/sandbox/subscriptions")
    csrf = dict(HIDDEN.findall(page.text))["csrf"]
    added = http.post(f"{info.base_url}/sandbox/dealers",
                      data={"csrf": csrf, "name": "Hillside Motors", "locations": "Hill Top\nHill Foot"})
    assert added.status_code == 200 and "Hillside Motors: Hill Foot" in added.text
    org = next(d for d in http.get(f"{info.base_url}/sandbox/dealers", headers={"Accept": "application/json"}).json()
               if d["name"] == "Hillside Motors")
    foot = org["locations"][1]["entity_id"]
    done = http.post(f"{info.base_url}/sandbox/subscriptions", data={
        "csrf": csrf, "api_key": app["api_key"], "org_id": org["org_id"], f"entity_{foot}": "on"})
    assert done.status_code == 200 and "pending" in done.text
    subscription_id = next(s["subscription_id"] for s in http.get(
        f"{info.base_url}/sandbox/subscriptions", headers={"Accept": "application/json"}).json()
        if s["api_key"] == app["api_key"])
    forged = http.post(f"{info.base_url}/sandbox/subscriptions/approve",
                       data={"csrf": "forged", "subscription_id": subscription_id})
    assert forged.status_code == 403
    approved = http.post(f"{info.base_url}/sandbox/subscriptions/approve",
                         data={"csrf": csrf, "subscription_id": subscription_id})
    assert approved.status_code == 200 and 'action="../../sandbox/subscriptions/deactivate"' in approved.text
    token = client_token(info, app["api_key"], app["api_secret"])
    assert call_api(info, token, subscription_id).status_code == 200
    http.post(f"{info.base_url}/sandbox/subscriptions/deactivate", data={"csrf": csrf, "subscription_id": subscription_id})
    assert call_api(info, token, subscription_id).json()["code"] == "SUBSCRIPTION-MISMATCH"


def test_a_state_folder_of_an_older_sandbox_keeps_working(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    with sqlite3.connect(state / DATABASE_FILE) as db:
        db.executescript(OLD_STATE.read_text())
    with Sandbox(Settings(state_dir=state)) as sandbox:
        info = sandbox.info
        token = client_token(info)
        assert call_api(info, token, info.subscription_id).json()["dealership"] == "Sandbox Motors"
        assert call_api(info, token, "test").status_code == 200
        listed = {s["orgName"]: s for s in listing(info, token).json()["subscriptions"]}
        assert listed["Sandbox Motors"]["status"] == "active" and listed["Sandbox Motors"]["activationDate"] == ""
        closed = listed["Closed Motors (subscription inactive)"]
        assert closed["status"] == "pending"
        assert call_api(info, token, closed["subscriptionId"]).json()["code"] == "API-SUBSCRIPTION-INACTIVE"
        org = context(info, token, info.subscription_id).json()
        assert org["organizationInfo"] == org["entityInfo"] and org["organizationInfo"]["name"] == "Sandbox Motors"
    with Sandbox(Settings(state_dir=state)) as again:  # migrated once: the same dealers the second time
        token = client_token(again.info)
        assert {s["orgId"] for s in listing(again.info, token).json()["subscriptions"]} == {
            s["orgId"] for s in listed.values()}
