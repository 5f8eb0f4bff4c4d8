"""The example backend in Chromium, as a learner meets it: the app's page, Sign in with
Fortellis, the sandbox's sign-in page, back on the app's own callback, the user and the
Subscription-Id found through the Subscriptions service shown, the API called, a call past
the (2-second) token lifetime that refreshes first, and sign-out through the identity server
back to the app. The backend runs as one file with FORTELLIS_* settings."""

from __future__ import annotations

import time

import pytest

from fortellis_nb.lessons.backend import DEALER

from ..examples.test_backend import cookie_content, running, short_lived_tokens_sandbox
from .jupyter import snap

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    with short_lived_tokens_sandbox(tmp_path_factory.mktemp("sandbox")) as sandbox, running(sandbox) as started:
        yield started


def test_sign_in_call_the_api_refresh_and_sign_out_in_a_browser(page, backend):
    page.goto(backend.url)
    assert page.get_by_text("Nobody is signed in.").is_visible()
    snap(page, "home")
    page.get_by_role("link", name="Sign in with Fortellis").click()
    page.wait_for_url("**/v1/authorize**")
    snap(page, "sandbox-sign-in")
    page.get_by_label("Username").fill("learner@example.com")
    page.get_by_label("Password").fill("sandbox-password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(backend.url)  # via the app's own /callback/, then home
    assert page.get_by_text("Signed in as").is_visible()
    assert "Lee Learner" in page.content()
    # The Subscription-Id the backend found for the user's organization (the one dealer here).
    found = page.get_by_text("Your organization:")
    assert found.is_visible() and DEALER in found.inner_text() and backend.subscription_ids[0] in found.inner_text()
    snap(page, "signed-in")
    # The tokens stayed on the server: the app's one cookie is the signed session id. (Cookies
    # do not tell ports apart: the sandbox's own, sb_*, on 127.0.0.1 too, are listed as well.)
    cookies = [c for c in page.context.cookies(backend.url) if not c["name"].startswith("sb_")]
    assert [c["name"] for c in cookies] == ["fortellis_example_session"]
    assert cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Lax"
    assert cookie_content(cookies[0]["value"]).keys() == {"sid"}

    page.get_by_role("link", name="Call the dealership API").click()
    assert page.get_by_text("no refresh needed").is_visible()
    assert f'"subscriptionId": "{backend.subscription_ids[0]}"' in page.inner_text("pre")
    snap(page, "api")
    time.sleep(2.1)  # past the access token's 2-second life
    page.reload()
    assert page.get_by_text("the tokens were refreshed first").is_visible()
    snap(page, "api-after-refresh")

    page.get_by_role("link", name="Home").click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(backend.url)  # the identity server's /v1/logout sent the browser back
    assert page.get_by_text("Nobody is signed in.").is_visible()
    snap(page, "signed-out")
    # Signed out at the identity server too: signing in again asks for the password.
    page.get_by_role("link", name="Sign in with Fortellis").click()
    page.wait_for_url("**/v1/authorize**")
    assert page.get_by_label("Password").is_visible()
