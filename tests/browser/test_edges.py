"""The small edges a learner meets, tried in the browser as a learner would: the playground's
step bar after a skipped refresh, Enter in the Redirect URL box, a redirect pasted into the
first box under the authorize link, and shortened URLs in text outputs. Screenshots of each
step land in test-artifacts/browser/<test>/."""

from __future__ import annotations

import pytest

from .jupyter import open_notebook, snap
from .test_learner_trips import notebook, sign_in

pytestmark = pytest.mark.xdist_group("browser")

PLAYGROUND = """\
from fortellis_nb.widgets import Playground

playground = Playground(client)
playground
"""


def test_the_step_bar_ticks_only_the_steps_done(jupyter_lab, page, workdir):
    path = notebook(jupyter_lab, workdir, PLAYGROUND)
    nb = open_notebook(page, jupyter_lab, path)
    nb.run_all()
    bar = nb.by_class("fnb-progress").first
    nb.by_class("fnb-signin-button").first.click()
    bar.filter(has_text="Step 3 of 5").wait_for()
    nb.click_button("Exchange code")
    bar.filter(has_text="Step 4 of 5").wait_for()
    nb.click_button("Call API")  # the refresh skipped
    nb.by_class("fnb-api-response").filter(has_text="200").first.wait_for()
    nb.wait_for_kernel_idle()
    bar.scroll_into_view_if_needed()
    snap(page, "the API called without a refresh")
    assert "Step 4 of 5: Refresh the token." in bar.inner_text()
    assert bar.locator("li.fnb-done").all_inner_texts() == [
        "✔ 1. Authorize URL", "✔ 2. Sign in, paste the redirect", "✔ 3. Exchange the code", "✔ 5. Call the API"]
    assert bar.locator("li.fnb-current").inner_text() == "▶ 4. Refresh the token"
    nb.click_button("Refresh token")
    bar.filter(has_text="All 5 steps done.").wait_for()
    bar.scroll_into_view_if_needed()
    snap(page, "refreshed: all five done")
    assert bar.locator("li.fnb-done").count() == 5


CATCHER = """\
from fortellis_nb.widgets import AuthorizeLink, RedirectCatcher

link = AuthorizeLink(client)
catcher = RedirectCatcher(link)
display(link, catcher)
"""


def test_enter_in_the_redirect_box_reads_it(jupyter_lab, page, workdir):
    path = notebook(jupyter_lab, workdir, CATCHER)
    nb = open_notebook(page, jupyter_lab, path)
    nb.run_all()
    box = nb.input("Redirect URL")
    box.click()
    box.fill("code=abcdefgh&state=x")  # only the query: not a whole address, so it is not read yet
    nb.wait_for_kernel_idle()
    assert nb.by_class("fnb-error").filter(has_text="not_a_url").count() == 0
    box.press("Enter")
    nb.by_class("fnb-error").filter(has_text="not_a_url").first.wait_for()
    snap(page, "Enter read the box")
    assert box.input_value() == ""
    box.fill(sign_in(nb, nb.by_class("fnb-authorize-anchor").first))
    box.press("Enter")
    nb.by_class("fnb-parsed").filter(has_text="✔ pass").first.wait_for()
    nb.wait_for_kernel_idle()
    snap(page, "a redirect pasted, then Enter")
    assert nb.by_class("fnb-error").filter(has_text="not_a_url").count() == 0
    assert "read already" not in nb.by_class("fnb-redirect").first.inner_text()


def test_a_redirect_pasted_into_more_scopes_is_read_where_it_belongs(jupyter_lab, page, workdir):
    path = notebook(jupyter_lab, workdir, CATCHER)
    nb = open_notebook(page, jupyter_lab, path)
    nb.run_all()
    landed = sign_in(nb, nb.by_class("fnb-authorize-anchor").first)
    scopes = nb.input("More scopes")
    scopes.click()
    scopes.fill(landed)
    scopes.press("Enter")
    nb.by_class("fnb-parsed").filter(has_text="✔ pass").first.wait_for()
    nb.wait_for_kernel_idle()
    snap(page, "pasted into More scopes: read in the Redirect URL box")
    assert scopes.input_value() == ""
    authorize = nb.by_class("fnb-authorize").first
    assert "Redirect URL box" in authorize.locator(".fnb-notes").inner_text()
    catcher = nb.by_class("fnb-redirect").first
    catcher.scroll_into_view_if_needed()
    snap(page, "the Redirect URL box says where the address came from")
    assert "More scopes box" in catcher.locator(".fnb-notes").inner_text()
    anchor = nb.by_class("fnb-authorize-anchor").first.get_attribute("href")
    assert "scope=openid+offline_access&" in anchor, "the link asks for the scopes ticked, not the address"


URLS = """\
from fortellis_nb.oauth import redact

request = client.authorization_url(scopes="openid offline_access")
landed = client.sign_in_headless(request)
print("landed on", redact.shown_url(landed))
print("authorize", redact.shown_url(request.url, 60))
print("the sign-in page:", request.url)
"""


def test_a_shortened_url_in_an_output_is_no_link_a_whole_one_is(jupyter, page, workdir):
    path = notebook(jupyter, workdir, URLS)
    nb = open_notebook(page, jupyter, path)
    nb.run_all()
    output = nb.wait_for_output("the sign-in page:", cell=2)
    snap(page, "shortened URLs as text, the whole one a link")
    text = output.inner_text()
    assert "callback/?code=" in text and "...&state=" in text and "authorize?client_id=" in text
    whole = text.rsplit("the sign-in page: ", 1)[1].strip()
    assert output.locator("a").evaluate_all("anchors => anchors.map(a => a.href)") == [whole]
