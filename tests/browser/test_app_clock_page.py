"""One app's clock moved from its page on the sandbox, as a learner in a room does it: the
app's access token is refused as expired at the gateway while the clock is ahead, a
neighbour's app is not, and "Back to the real time" undoes it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from playwright.sync_api import expect

from .jupyter import snap

pytestmark = pytest.mark.xdist_group("browser")


def test_a_learner_moves_their_app_s_clock_from_its_page(sandbox, page):
    info = sandbox.info
    app = requests.post(f"{info.base_url}/sandbox/apps", json={
        "name": "Clock Lesson App", "redirect_uris": [info.redirect_uri]}).json()

    def dealership_call(api_key: str, api_secret: str) -> Callable[[], requests.Response]:
        """A call of the sample API with a token the app has now."""
        token = requests.post(f"{info.issuer}/v1/token", auth=(api_key, api_secret), data={
            "grant_type": "client_credentials", "scope": "anonymous"}).json()["access_token"]
        return lambda: requests.get(f"{info.api_base_url}/sandbox/v1/dealership", headers={
            "Authorization": f"Bearer {token}", "Subscription-Id": "test"})

    mine, neighbour = dealership_call(app["api_key"], app["api_secret"]), dealership_call(info.api_key,
                                                                                          info.api_secret)
    assert mine().status_code == neighbour().status_code == 200

    page.goto(f"{info.base_url}/sandbox/apps")
    page.get_by_role("link", name="Clock Lesson App").click()
    expect(page.get_by_role("row", name="Sign-out redirect URLs").get_by_role("cell")).to_have_text("none")
    offset = page.locator("[data-clock-offset]")
    expect(offset).to_have_text("This app's clock shows the real time.", use_inner_text=True)
    page.get_by_label("The app's API Secret").fill(app["api_secret"])
    page.get_by_role("button", name="1 hour and 1 second later").click()
    expect(offset).to_have_text("This app's clock is 1 hour and 1 second ahead of the real time.",
                                use_inner_text=True)
    snap(page, "an hour and a second ahead", full_page=True)

    refused = mine()
    assert (refused.status_code, refused.json()["code"]) == (401, "TOKEN-EXPIRED")
    assert neighbour().status_code == 200  # the demo app keeps the real time

    page.get_by_label("The app's API Secret").fill("not-the-secret")
    page.get_by_role("button", name="Back to the real time").click()
    expect(page.get_by_role("alert")).to_contain_text("not the API Secret")
    expect(offset).to_have_text("This app's clock is 1 hour and 1 second ahead of the real time.",
                                use_inner_text=True)
    snap(page, "a wrong secret moves nothing", full_page=True)

    page.get_by_label("The app's API Secret").fill(app["api_secret"])
    page.get_by_role("button", name="Back to the real time").click()
    expect(offset).to_have_text("This app's clock shows the real time.", use_inner_text=True)
    assert mine().status_code == 200
