"""The sandbox's Marketplace pages as a learner uses them: a dealer activates an app for one
location, the activation waits for the developer's approval, Approve opens the API."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from .jupyter import snap

pytestmark = pytest.mark.xdist_group("browser")


def test_activate_for_a_location_then_approve(sandbox, page):
    info = sandbox.info
    app = requests.post(f"{info.base_url}/sandbox/apps", json={
        "name": "Approving App", "redirect_uris": [info.redirect_uri], "manual_approval": True}).json()
    page.goto(f"{info.base_url}/sandbox/subscriptions")
    page.get_by_label("The app's API Key").fill(app["api_key"])
    page.get_by_label("Dealer", exact=True).select_option(label="Sandbox Motors")
    page.get_by_label("Sandbox Motors: Sandbox Motors South").check()
    snap(page, "activation filled in", full_page=True)
    page.get_by_role("button", name="Activate", exact=True).click()
    expect(page.get_by_role("status")).to_have_text(
        re.compile(r"Sandbox Motors activated Approving App: Subscription-Id \S+, pending"), use_inner_text=True)
    row = page.get_by_role("row").filter(has_text="Approving App")
    snap(page, "pending", full_page=True)

    token = requests.post(f"{info.issuer}/v1/token", auth=(app["api_key"], app["api_secret"]),
                          data={"grant_type": "client_credentials", "scope": "anonymous"}).json()["access_token"]
    subscription_id = row.locator("code").inner_text()
    call = {"Authorization": f"Bearer {token}", "Subscription-Id": subscription_id}
    before = requests.get(f"{info.api_base_url}/sandbox/v1/dealership", headers=call)
    assert before.json()["code"] == "API-SUBSCRIPTION-INACTIVE"

    row.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("Approving App's developer approved the activation by Sandbox Motors")
    approved = page.get_by_role("row").filter(has_text="Approving App")
    expect(approved.get_by_role("cell", name="active", exact=True)).to_be_visible()
    assert approved.get_by_role("button", name="Approve").count() == 0
    snap(page, "approved", full_page=True)
    assert requests.get(f"{info.api_base_url}/sandbox/v1/dealership", headers=call).status_code == 200
    context = requests.get(f"{info.subscriptions_url}/subscriptions/{subscription_id}/context",
                           headers={"Authorization": f"Bearer {token}"}).json()
    assert context["entityInfo"]["name"] == "Sandbox Motors South"
    expect(approved.get_by_role("cell", name="Sandbox Motors South", exact=True)).to_be_visible()
