"""The install check on JupyterHub and Binder asks the running Jupyter server for the path
the learner's browser takes to the sandbox, ``{prefix}proxy/{port}/``: it passes when
jupyter-server-proxy passes the request on, and fails with the fix when the extension is
installed but not enabled (the sign-in link then shows JupyterLab's "404 : Not Found").

The servers here are real JupyterLab servers under a hub's prefix; the check takes
``JUPYTERHUB_SERVICE_URL`` and ``JUPYTERHUB_API_TOKEN`` from its environment, as JupyterHub
sets them. ``tests/browser/test_real_hub.py`` does the same on a real JupyterHub."""

from __future__ import annotations

import pytest

from fortellis_nb.install import run_checks
from tests.browser.hub import PROXY_OFF
from tests.browser.jupyter import JupyterServer

PREFIX = "/user/learner/"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Two servers under the prefix, started side by side: with the proxy, and with it off."""
    on = JupyterServer("lab", tmp_path_factory.mktemp("hub-proxy-on"), prefix=PREFIX)
    off = JupyterServer("lab", tmp_path_factory.mktemp("hub-proxy-off"), prefix=PREFIX, args=[PROXY_OFF])
    try:
        on.launch(), off.launch()
        yield on.wait_ready(), off.wait_ready()
    finally:
        on.stop(), off.stop()


def hub_env(server: JupyterServer, **more) -> dict[str, str]:
    return {"JUPYTERHUB_SERVICE_PREFIX": PREFIX, "JUPYTERHUB_SERVICE_URL": f"{server.base_url}/",
            "JUPYTERHUB_API_TOKEN": server.token, **more}


def check(server, tmp_path, **more) -> tuple[int, list[str]]:
    lines: list[str] = []
    status = run_checks(tmp_path / "state", out=lines.append, env=hub_env(server, **more), dotenv=False)
    return status, lines


def item(lines, name):
    return next(line for line in lines if name in line)


def test_the_check_passes_when_the_proxy_reaches_the_sandbox(servers, tmp_path):
    status, lines = check(servers[0], tmp_path)
    assert status == 0, "\n".join(lines)
    line = item(lines, "sandbox through the hub's proxy")
    assert line.startswith("PASS  ") and f"the browser's address {PREFIX}proxy/" in line


def test_the_check_fails_with_the_fix_when_the_proxy_extension_is_off(servers, tmp_path):
    status, lines = check(servers[1], tmp_path)
    assert status == 1
    line = item(lines, "sandbox through the hub's proxy")
    assert line.startswith("FAIL  ") and "answered 404 Not Found: jupyter-server-proxy is not enabled" in line
    assert "jupyter server extension enable --sys-prefix jupyter_server_proxy" in line
    assert lines[-1].startswith("1 failed")  # the flow itself, kernel to sandbox, still passes


def test_a_server_bound_to_every_interface_is_asked_on_loopback(servers, tmp_path):
    on = servers[0]
    status, lines = check(on, tmp_path, JUPYTERHUB_SERVICE_URL=f"http://0.0.0.0:{on.port}{PREFIX}")
    assert item(lines, "sandbox through the hub's proxy").startswith("PASS  ")


def test_a_token_the_server_refuses_says_the_proxy_was_not_tried(servers, tmp_path):
    status, lines = check(servers[0], tmp_path, JUPYTERHUB_API_TOKEN="not-this-server-s-token")
    line = item(lines, "sandbox through the hub's proxy")
    assert line.startswith("FAIL  ") and "refused the check's token" in line, line


def test_without_the_server_s_address_the_item_is_skipped(tmp_path):
    lines: list[str] = []
    status = run_checks(tmp_path / "state", out=lines.append, dotenv=False,
                        env={"JUPYTERHUB_SERVICE_PREFIX": "/user/nobody-runs-a-server-here/"})
    assert status == 0, "\n".join(lines)
    assert item(lines, "sandbox through the hub's proxy").startswith("SKIP  ")
