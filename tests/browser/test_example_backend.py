"""The example backend in Chromium, as a learner meets it: the app's page, Sign in with
Fortellis, the sandbox's sign-in page, back on the app's own callback, the user and the
Subscription-Id found through the Subscriptions service shown, the API called, the page's
"refresh first" link that refreshes the tokens before the call, and sign-out through the
identity server back to the app. The backend runs as one file with FORTELLIS_* settings.

The tokens live 10 minutes here, so that no step of a slow browser on a busy machine outlives
one; the refresh due to an expired token is tests/examples/test_backend.py's, over HTTP."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from fortellis_nb.lessons.backend import DEALER

from ..examples.test_backend import cookie_content, running, short_lived_tokens_sandbox
from .jupyter import snap

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    with short_lived_tokens_sandbox(tmp_path_factory.mktemp("sandbox"), lifetime=600) as sandbox, running(sandbox) as started:
        yield started


def test_sign_in_call_the_api_refresh_and_sign_out_in_a_browser(page, backend):
    page.goto(backend.url)
    expect(page.get_by_text("Nobody is signed in.")).to_be_visible()
    snap(page, "home")
    page.get_by_role("link", name="Sign in with Fortellis").click()
    page.wait_for_url("**/v1/authorize**")
    snap(page, "sandbox-sign-in")
    page.get_by_label("Username").fill("learner@example.com")
    page.get_by_label("Password").fill("sandbox-password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(backend.url)  # via the app's own /callback/, then home
    expect(page.get_by_text("Signed in as")).to_be_visible()
    expect(page.get_by_text("Lee Learner")).to_be_visible()
    # The Subscription-Id the backend found for the user's organization (the one dealer here).
    found = page.get_by_text("Your organization:")
    expect(found).to_contain_text(DEALER)
    expect(found).to_contain_text(backend.subscription_ids[0])
    snap(page, "signed-in")
    # The tokens stayed on the server: the app's one cookie is the signed session id. (Cookies
    # do not tell ports apart: the sandbox's own, sb_*, on 127.0.0.1 too, are listed as well.)
    cookies = [c for c in page.context.cookies(backend.url) if not c["name"].startswith("sb_")]
    assert [c["name"] for c in cookies] == ["fortellis_example_session"]
    assert cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Lax"
    assert cookie_content(cookies[0]["value"]).keys() == {"sid"}

    page.get_by_role("link", name="Call the dealership API").click()
    expect(page.get_by_text("no refresh needed")).to_be_visible()
    expect(page.locator("pre")).to_contain_text(f'"subscriptionId": "{backend.subscription_ids[0]}"')
    snap(page, "api")
    page.get_by_role("link", name="Home").click()
    page.get_by_role("link", name="refresh first").click()
    expect(page.get_by_text("the tokens were refreshed first")).to_be_visible()
    expect(page.locator("pre")).to_contain_text(f'"subscriptionId": "{backend.subscription_ids[0]}"')
    snap(page, "api-after-refresh")

    page.get_by_role("link", name="Home").click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(backend.url)  # the identity server's /v1/logout sent the browser back
    expect(page.get_by_text("Nobody is signed in.")).to_be_visible()
    snap(page, "signed-out")
    # Signed out at the identity server too: signing in again asks for the password.
    page.get_by_role("link", name="Sign in with Fortellis").click()
    page.wait_for_url("**/v1/authorize**")
    expect(page.get_by_label("Password")).to_be_visible()
