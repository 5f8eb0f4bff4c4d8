"""The ways a learner trips over the widgets, tried as a learner would in JupyterLab: a double
click on Exchange code, the same address pasted in two places, an aged code's countdown, a
paste without Enter, signing in again, the network log following a cell's own calls, and a
kernel restart. Screenshots of each step land in test-artifacts/browser/<test>/."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from .jupyter import open_notebook, snap

pytestmark = pytest.mark.xdist_group("browser")

# A sandbox of the notebook's own, whose codes live 12 seconds: an aged code without long waits.
SETUP = """\
import tempfile
from fortellis_nb.lessons import install_friendly_errors
from fortellis_nb.local import sandbox_client
from fortellis_nb.sandbox import Sandbox, Settings

install_friendly_errors()
lab = Sandbox(Settings(state_dir=tempfile.mkdtemp(prefix="fortellis-trips-"), code_lifetime=CODE_LIFETIME))
client = sandbox_client(lab.start())
"""
WIDGETS = """\
from fortellis_nb.widgets import AuthorizeLink, NetworkLog, RedirectCatcher, TokenInspector

request = client.authorization_url(scopes="openid offline_access")
print("the cell's authorize URL:", request.url)
link = AuthorizeLink(client)
catcher = RedirectCatcher(link)
display(link, catcher, TokenInspector(link))
"""


def notebook(jupyter, workdir, *cells, code_lifetime=60):
    setup = SETUP.replace("CODE_LIFETIME", str(code_lifetime))
    return jupyter.write_notebook(f"{workdir}/trips.ipynb", [("markdown", "# Trips"), setup, *cells])


def sign_in(nb, link) -> str:
    """Open the widget's link, sign in on the sandbox's page (or come straight back with a
    session), and copy the address the callback page shows."""
    tab = nb.follow_link_to_new_tab(link)
    if not urlsplit(tab.url).path.endswith("/callback/"):  # with a session it comes straight back
        tab.get_by_label("Username").fill("learner@example.com")
        tab.get_by_label("Password").fill("sandbox-password")
        tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(re.compile(r".*/callback/\?code=.*"))
    landed = tab.get_by_label("The URL this page was reached with").input_value()
    snap(tab, "the callback page")
    tab.close()
    nb.page.bring_to_front()
    return landed


def paste(nb, address: str) -> None:
    """Paste into the widget's box as a person does: no Enter, no Tab afterwards."""
    box = nb.input("Redirect URL")
    box.click()
    box.fill(address)


def test_a_double_click_on_exchange_code_sends_the_code_once(jupyter_lab, page, workdir):
    path = notebook(jupyter_lab, workdir, WIDGETS, "")
    nb = open_notebook(page, jupyter_lab, path)
    nb.run_all()
    paste(nb, sign_in(nb, nb.by_class("fnb-authorize-anchor").first))
    nb.by_class("fnb-parsed").filter(has_text="state check").first.wait_for()
    snap(page, "pasted without Enter: read at once")
    nb.button("Exchange code").dblclick()
    nb.by_class("fnb-claims").filter(has_text="api_providers").first.wait_for()
    page.wait_for_timeout(1500)  # a second exchange, if one were sent, would have come back by now
    nb.wait_for_kernel_idle()
    snap(page, "after a double click")
    assert nb.button("Exchange code").is_disabled()
    summary = nb.by_class("fnb-token-summary").first.inner_text()
    assert "Revoked" not in summary
    checklist = nb.by_class("fnb-checklist").first
    assert checklist.locator(".fnb-fail").count() == 0 and checklist.locator(".fnb-pass").count() >= 7
    # The protocol layer agrees: one exchange of that code.
    nb.cell(3).locator(".jp-InputArea-editor").click()
    nb.page.keyboard.insert_text("[e.label for e in client.transcript].count('Exchange the code')")
    nb.page.keyboard.press("Shift+Enter")
    nb.wait_for_output(re.compile(r"^1$"), cell=3)


def test_the_same_address_in_the_cell_and_in_the_box_is_one_answer(jupyter_lab, page, workdir):
    path = notebook(jupyter_lab, workdir, WIDGETS, "")
    nb = open_notebook(page, jupyter_lab, path)
    nb.run_all()
    anchor = nb.by_class("fnb-authorize-anchor").first
    printed = nb.output_text(2)
    state = re.search(r"state=([0-9a-f-]{36})", printed).group(1)
    assert state in anchor.get_attribute("href"), "the widget shows the request the cell made"
    landed = sign_in(nb, anchor)
    paste(nb, landed)
    nb.by_class("fnb-parsed").filter(has_text="state check").first.wait_for()
    nb.cell(3).locator(".jp-InputArea-editor").click()
    nb.page.keyboard.insert_text(f"response = client.parse_redirect({landed!r})\n"
                                 "print(response is catcher.response, response.state == request.state)")
    nb.page.keyboard.press("Shift+Enter")
    nb.wait_for_output("True True", cell=3)
    snap(page, "the same address read in the cell and in the box")
    assert nb.errors() == []
    # The link now offers a fresh request: signing in again just works.
    fresh = nb.by_class("fnb-authorize-anchor").first
    assert state not in fresh.get_attribute("href")
    paste(nb, sign_in(nb, fresh))
    nb.by_class("fnb-parsed").filter(has_text="✔ pass").first.wait_for()
    snap(page, "signed in again")
    assert all("state_reused" not in text for text in nb.by_class("fnb-error").all_inner_texts())


def test_an_aged_code_counts_down_from_its_issue_and_stops_red(jupyter_lab, page, workdir):
    path = notebook(jupyter_lab, workdir, WIDGETS, code_lifetime=12)
    nb = open_notebook(page, jupyter_lab, path)
    nb.run_all()
    landed = sign_in(nb, nb.by_class("fnb-authorize-anchor").first)
    page.wait_for_timeout(5000)  # the learner takes a while to paste
    paste(nb, landed)
    countdown = nb.by_class("fnb-code-countdown").first
    countdown.filter(has_text="left to exchange the code").wait_for()
    left = int(re.search(r"(\d+) seconds? left", countdown.inner_text()).group(1))
    snap(page, "a 5-second-old code")
    assert left <= 8, f"the countdown started at the paste: {left} s left of 12"
    countdown.filter(has_text="Expired").wait_for(timeout=15000)
    snap(page, "the code expired")
    nb.click_button("Exchange code")
    nb.by_class("fnb-error").filter(has_text="invalid_grant").first.wait_for()
    countdown.filter(has_text="Stopped").wait_for()
    snap(page, "the exchange failed: the countdown stopped, red")


LOG = """\
from fortellis_nb.lessons import catch_up
from fortellis_nb.widgets import NetworkLog

tokens = catch_up(client)
log = NetworkLog(client=client)
log
"""


def test_the_network_log_follows_a_cells_own_calls(jupyter_lab, page, workdir):
    path = notebook(jupyter_lab, workdir, LOG, "")
    nb = open_notebook(page, jupyter_lab, path)
    nb.run_all()
    rows = nb.by_class("fnb-network-log").first.locator("details")
    before = rows.count()
    assert before >= 3
    nb.cell(3).locator(".jp-InputArea-editor").click()
    nb.page.keyboard.insert_text('client.call_api("/sandbox/v1/dealership").status')
    nb.page.keyboard.press("Shift+Enter")
    nb.wait_for_output("200", cell=3)
    nb.by_class("fnb-network-log").first.locator("details").nth(before).wait_for()
    snap(page, "the log after a cell's own API call")
    assert "Call the API" in rows.nth(before).inner_text()


def test_after_a_kernel_restart_the_widgets_and_cells_say_what_to_run(jupyter_lab, page, workdir):
    path = notebook(jupyter_lab, workdir, WIDGETS, "catcher.response.code")
    nb = open_notebook(page, jupyter_lab, path)
    nb.run_all(allow_errors=True)
    nb.menu("Kernel", "Restart Kernel…")
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()  # "Restart"
    nb.wait_for_kernel_idle()
    message = nb.notebook.locator(".fnb-widget.jupyter-widgets-disconnected").first
    message.wait_for()
    shown = message.evaluate("node => getComputedStyle(node, '::before').content")
    assert "run the cell" in shown, shown
    snap(page, "after a restart: the widgets say to run their cells")
    # A cell run out of order: one line that says what to run, no traceback (the kernels of
    # this environment load fortellis_nb.lessons: python -m fortellis_nb kernel-config).
    nb.cell(3).locator(".jp-InputPrompt").click()  # the last cell alone, before the others
    nb.page.keyboard.press("Shift+Enter")
    nb.wait_for_output("is not defined", cell=3)
    text = nb.output_text(3)
    assert "Traceback" not in text and "run the cells above this one first" in text
    snap(page, "a cell run before the cell defining its names")
