"""The whole flow as a person does it, in JupyterLab and in Notebook 7: run the notebook,
click the authorize link, sign in on the sandbox's page, read the address on its callback
page, paste it into the widget, exchange, read the claims and the checklist, refresh,
call the API, then save from the UI and find no secret and no full token in the file.
A screenshot of each step lands in test-artifacts/browser/<test>/."""

from __future__ import annotations

import json
import re

import pytest

from .jupyter import JupyterServer, open_notebook, serving, snap

pytestmark = pytest.mark.xdist_group("browser")

PLAYGROUND = """\
from fortellis_nb.widgets import Playground

Playground()
"""
FULL_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{20,}")


def test_the_whole_flow_by_hand(jupyter, page, workdir):
    path = jupyter.write_notebook(f"{workdir}/playground.ipynb", [("markdown", "# Playground"), PLAYGROUND])
    nb = open_notebook(page, jupyter, path)
    nb.run_all()
    link = nb.by_class("fnb-authorize-anchor").first
    link.wait_for()
    assert "/v1/authorize?" in link.get_attribute("href") and link.get_attribute("target") == "_blank"
    snap(page, "the playground, ready")

    tab = nb.follow_link_to_new_tab(link)
    assert "SANDBOX" in tab.content()
    tab.get_by_label("Username").fill("learner@example.com")
    tab.get_by_label("Password").fill("sandbox-password")
    snap(tab, "the sandbox's sign-in page")
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(re.compile(r".*/callback/\?code=.*"))
    landed = tab.get_by_label("The URL this page was reached with").input_value()
    assert landed == tab.url and "code=" in landed and "state=" in landed
    snap(tab, "the callback page")

    page.bring_to_front()
    nb.fill("Redirect URL", landed)
    nb.by_class("fnb-parsed").filter(has_text="state").first.wait_for()
    snap(page, "the pasted address, parsed")
    nb.click_button("Exchange code")
    nb.by_class("fnb-claims").filter(has_text="api_providers").first.wait_for()
    checklist = nb.by_class("fnb-checklist").first
    checklist.wait_for()
    assert checklist.locator(".fnb-fail").count() == 0
    assert checklist.locator(".fnb-pass").count() >= 7
    snap(page, "the tokens, decoded and checked")

    nb.click_button("Refresh token")
    nb.by_class("fnb-changes").filter(has_text="same refresh token").first.wait_for()
    snap(page, "refreshed")

    nb.click_button("Call API")
    response = nb.by_class("fnb-api-response").filter(has_text="Sandbox Motors").first
    response.wait_for()
    assert "the same as sent" in response.inner_text()
    snap(page, "the API's answer")

    saved = nb.save()
    text = json.dumps(saved)
    secret = json.loads((jupyter.sandbox_state / "server.json").read_text())["api_secret"]
    assert saved.metadata.get("widgets"), "widget state was saved"
    assert secret not in text
    assert not FULL_JWT.search(text)
    code = re.search(r"code=([A-Za-z0-9_\-]+)", landed).group(1)
    assert code not in text


HUB_PREFIX = "/user/learner/"


@pytest.fixture(scope="module")
def hub_lab(chromium, tmp_path_factory, request):
    """JupyterLab served as JupyterHub serves a user's server: under /user/learner/, with
    JUPYTERHUB_SERVICE_PREFIX in its (and its kernels') environment and jupyter-server-proxy."""
    server = JupyterServer("lab", tmp_path_factory.mktemp("jupyter-hub-lab"), prefix=HUB_PREFIX,
                           env={"JUPYTERHUB_SERVICE_PREFIX": HUB_PREFIX})
    with serving(server, request.config.rootpath, "jupyter-hub-lab.log") as started:
        yield started


def test_the_whole_flow_through_the_hub_proxy(hub_lab, page, workdir):
    path = hub_lab.write_notebook(f"{workdir}/playground.ipynb", [("markdown", "# Playground"), PLAYGROUND])
    nb = open_notebook(page, hub_lab, path)
    nb.run_all()
    link = nb.by_class("fnb-authorize-anchor").first
    link.wait_for()
    sandbox = json.loads((hub_lab.sandbox_state / "server.json").read_text())
    port = sandbox["base_url"].rsplit(":", 1)[1]
    proxied = f"{HUB_PREFIX}proxy/{port}"
    assert link.get_attribute("href").startswith(f"{proxied}/oauth2/")
    snap(page, "the playground on a hub, its link through the proxy")

    tab = nb.follow_link_to_new_tab(link)
    origin = hub_lab.base_url[: -len(HUB_PREFIX.rstrip("/"))]
    assert tab.url.startswith(f"{origin}{proxied}/oauth2/") and "SANDBOX" in tab.content()
    tab.get_by_label("Username").fill("learner@example.com")
    tab.get_by_label("Password").fill("sandbox-password")
    snap(tab, "the sign-in page, through the proxy")
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(re.compile(r".*/callback/\?code=.*"))
    landed = tab.get_by_label("The URL this page was reached with").input_value()
    assert landed == tab.url and landed.startswith(f"{origin}{proxied}/callback/?code=")
    assert "Copy URL" in tab.content()  # the page, its style and script came through the proxy
    snap(tab, "the callback page, through the proxy")

    page.bring_to_front()
    nb.fill("Redirect URL", landed)
    nb.by_class("fnb-parsed").filter(has_text="state").first.wait_for()
    nb.click_button("Exchange code")
    nb.by_class("fnb-claims").filter(has_text="api_providers").first.wait_for()
    checklist = nb.by_class("fnb-checklist").first
    checklist.wait_for()
    assert checklist.locator(".fnb-fail").count() == 0
    snap(page, "the tokens, decoded and checked")
