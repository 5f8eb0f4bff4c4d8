"""A workshop on a real JupyterHub (tests/browser/hub.py: JupyterHub, configurable-http-proxy
from npm, the dummy authenticator, local processes), in Chromium, one browser context per
participant:

* two participants do notebook 02 at the same time, each with their own sandbox: the plain
  link the ``request`` cell prints and the widget's link both go through their own
  ``/user/NAME/proxy/PORT/``; the sign-in page names the proxied callback; each signs in,
  lands on their own callback, pastes it, and the state check passes;
* what a neighbour reaches: learner2's proxy passes requests on to learner1's sandbox port
  (the servers share one network), which shows no secret; learner1's server itself is
  closed to learner2 by the hub;
* notebook 01's install check passes on learner1's server and fails, with the fix, on
  learner3's, whose server has jupyter-server-proxy's extension off; there the sign-in
  link gives JupyterLab's "404 : Not Found", which ``docs/workshop.md`` describes.

Screenshots: test-artifacts/browser/<test>/<participant>/NN-step.png.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.interop.npm_cache import unavailable

from .hub import PROXY_OFF, SPAWN_TIMEOUT, Hub, configurable_http_proxy
from .jupyter import open_notebook, record_screenshots, snap

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOK_01 = NOTEBOOKS / "01-welcome-and-setup.ipynb"
NOTEBOOK_02 = NOTEBOOKS / "02-get-the-authorization-code.ipynb"
PARTICIPANTS = ("learner1", "learner2")


@pytest.fixture(scope="module")
def hub(chromium, tmp_path_factory, request):
    if os.name == "nt":
        pytest.skip("JupyterHub does not run on Windows")
    try:
        import jupyterhub  # noqa: F401 - a test extra (pip install -e .[test])
    except ImportError:
        unavailable("jupyterhub is not installed (pip install -e .[test])")
    chp = configurable_http_proxy()
    hub = Hub(tmp_path_factory.mktemp("real-hub"), chp=chp, user_args={"learner3": [PROXY_OFF]})
    try:
        hub.start()
        hub.spawn(*PARTICIPANTS, "learner3")
        yield hub
    finally:
        hub.stop()
        artifacts = request.config.rootpath / "test-artifacts" / "browser"
        artifacts.mkdir(parents=True, exist_ok=True)
        if hub.log_path.exists():
            shutil.copy(hub.log_path, artifacts / "jupyterhub.log")


@pytest.fixture
def contexts(browser, request):
    """A browser context per participant (each their own cookies, as on their own laptop)."""
    folder = request.config.rootpath / "test-artifacts" / "browser" / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    opened = {}

    def open_for(name: str):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        record_screenshots(page, folder / name)
        opened[name] = context
        return page

    yield open_for
    failed = getattr(request.node, "report_call", None)
    for context in opened.values():
        if failed is not None and failed.failed:
            for tab in context.pages:
                with contextlib.suppress(Exception):  # a crashed tab must not hide the test's error
                    snap(tab, "failed")
        context.close()


def sandbox_port(server) -> int:
    return int(server.sandbox_info()["base_url"].rsplit(":", 1)[1])


def test_two_participants_do_notebook_02_at_once_through_the_hub(hub, contexts):
    people = {}
    for name in PARTICIPANTS:
        page = contexts(name)
        hub.login(page, name)
        server = hub.server(name)
        people[name] = {"page": page, "server": server,
                        "nb": open_notebook(page, server, server.copy_in(NOTEBOOK_02))}
    for person in people.values():  # both run at once
        person["nb"].start_run_all()
    for person in people.values():
        person["nb"].wait_run_all()

    for name, person in people.items():
        nb, server = person["nb"], person["server"]
        person["info"] = server.sandbox_info()
        person["proxied"] = proxied = f"/user/{name}/proxy/{sandbox_port(server)}"
        plain = nb.cell(3).locator(".jp-OutputArea-output a[href*='/v1/authorize?']").first
        widget = nb.by_class("fnb-authorize-anchor").first
        for link in (plain, widget):
            assert link.get_attribute("href").startswith(f"{proxied}/oauth2/"), link.get_attribute("href")
        snap(person["page"], "notebook 02 run, both links through the proxy")
    one, two = people["learner1"], people["learner2"]
    assert one["info"]["issuer"] != two["info"]["issuer"] and one["proxied"] != two["proxied"]

    for person in people.values():  # both sign-in pages open side by side
        person["tab"] = person["nb"].follow_link_to_new_tab(person["nb"].by_class("fnb-authorize-anchor").first)
    for name in reversed(PARTICIPANTS):  # learner2 signs in first
        person = people[name]
        tab = person["tab"]
        assert tab.url.startswith(f"{hub.url}{person['proxied']}/oauth2/") and "SANDBOX" in tab.content()
        shown = tab.locator("body").inner_text()
        assert f"{hub.url}{person['proxied']}/callback/" in shown  # where the browser goes, on the hub's address
        assert person["info"]["base_url"] not in shown  # not the sandbox's loopback, which this browser cannot reach
        tab.get_by_label("Username").fill("learner@example.com")
        tab.get_by_label("Password").fill("sandbox-password")
        snap(tab, "the sign-in page, through the proxy")
        tab.get_by_role("button", name="Sign in").click()
        tab.wait_for_url(re.compile(r".*/callback/\?code=.*"))
        person["landed"] = tab.get_by_label("The URL this page was reached with").input_value()
        assert person["landed"].startswith(f"{hub.url}{person['proxied']}/callback/?code=")
        snap(tab, "the callback page, through the proxy")
    for person in people.values():
        person["page"].bring_to_front()
        nb = person["nb"]
        nb.fill("Redirect URL", person["landed"])
        parsed = nb.by_class("fnb-parsed").filter(has_text="state").first
        parsed.wait_for()
        assert re.search(r"state check\s+✔ pass", parsed.inner_text()), parsed.inner_text()
        parsed.scroll_into_view_if_needed()
        snap(person["page"], "the pasted address, parsed: state matches")

    # What a neighbour reaches. learner2's proxy passes a request on to any port of the
    # machine, learner1's sandbox included; nothing there is a secret of learner1's.
    port1 = sandbox_port(one["server"])
    apps = two["page"].request.get(f"{hub.url}/user/learner2/proxy/{port1}/sandbox/apps",
                                   headers={"Accept": "application/json"})
    assert apps.status == 200
    assert one["info"]["api_key"] in apps.text() and one["info"]["api_secret"] not in apps.text()
    # learner1's own server is learner1's alone.
    refused = two["page"].request.get(f"{hub.url}/user/learner1/api/contents", max_redirects=0)
    assert refused.status in (302, 403), refused.status
    opened = two["page"].goto(f"{hub.url}/user/learner1/lab")
    assert opened.status == 403 or "/user/learner1/lab" not in two["page"].url
    snap(two["page"], "learner2 asks for learner1's server")


def test_the_install_check_passes_with_the_proxy_and_fails_clearly_without(hub, contexts):
    notebooks = {}
    for name in ("learner1", "learner3"):
        page = contexts(name)
        hub.login(page, name)
        server = hub.server(name)
        notebooks[name] = open_notebook(page, server, server.copy_in(NOTEBOOK_01))
    for nb in notebooks.values():
        nb.start_run_all()
    for nb in notebooks.values():
        nb.wait_run_all(allow_errors=True)

    def check_output(nb) -> str:
        output = nb.outputs.filter(has_text=re.compile(r"(all passed|\d+ failed) \(")).first
        output.wait_for()
        return nb.cell(7).locator(".jp-OutputArea").inner_text()

    home = notebooks["learner1"].cell(5).locator(".jp-OutputArea-output a").first
    assert re.fullmatch(r"/user/learner1/proxy/\d+/", home.get_attribute("href")), home.get_attribute("href")
    good = check_output(notebooks["learner1"])
    assert "PASS  sandbox through the hub's proxy: the browser's address /user/learner1/proxy/" in good, good
    assert "all passed" in good
    snap(notebooks["learner1"].page, "the install check, all passed on a hub")

    bad = check_output(notebooks["learner3"])
    assert re.search(r"FAIL  sandbox through the hub's proxy: /user/learner3/proxy/\d+/ answered 404 Not Found: "
                     r"jupyter-server-proxy is not enabled", bad), bad
    assert "jupyter server extension enable --sys-prefix jupyter_server_proxy" in bad
    assert "1 failed" in bad
    snap(notebooks["learner3"].page, "the install check without the proxy")

    # What the learner meets there: the sandbox's home page link gives JupyterLab's 404.
    port3 = sandbox_port(hub.server("learner3"))
    page3 = notebooks["learner3"].page
    answer = page3.goto(f"{hub.url}/user/learner3/proxy/{port3}/")
    assert answer.status == 404 and "404" in page3.locator("body").inner_text()
    snap(page3, "without the proxy, the sandbox's address is JupyterLab's 404")


def test_the_hub_answers_a_spawn_at_once_and_waits_longer_than_the_harness(tmp_path):
    """On a busy machine a spawn takes seconds: the hub must not hold the spawn request as long
    as the harness's request waits (its slow_spawn_timeout, 10 s by default, against the API
    call's 10 s), nor give up on a server before the harness does."""
    from traitlets.config import Config

    Hub(tmp_path, chp=Path("configurable-http-proxy")).write_config()
    config = Config()
    exec((tmp_path / "jupyterhub_config.py").read_text(), {"get_config": lambda: config,
                                                            "__file__": str(tmp_path / "jupyterhub_config.py")})
    assert config.JupyterHub.tornado_settings["slow_spawn_timeout"] == 0
    assert config.Spawner.start_timeout > SPAWN_TIMEOUT and config.Spawner.http_timeout > SPAWN_TIMEOUT
