"""The example backend end to end, headless: a requests.Session plays the browser (cookies,
redirects), the sandbox's sign-in page is filled in by the local layer's headless sign-in.
The backend runs as a learner runs it (``python -m fortellis_nb.examples.backend``), on a
private sandbox whose access tokens live 2 seconds."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from fortellis_nb.local.headless import sign_in

USER, PASSWORD = "learner@example.com", "sandbox-password"


class Backend:
    def __init__(self, state: Path, *args: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith("FORTELLIS_")}
        self.env = {**env, "FORTELLIS_SANDBOX_STATE": str(state)}
        self.process = subprocess.Popen([sys.executable, "-m", "fortellis_nb.examples.backend", "--port", "0", *args],
                                        env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        assert line.startswith("{"), (line, self.process.stderr.read() if self.process.poll() is not None else "")
        self.info = json.loads(line)
        self.url = self.info["url"]

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        for stream in (self.process.stdout, self.process.stderr):
            stream.close()


@contextlib.contextmanager
def short_lived_tokens_sandbox(state: Path):
    """A background sandbox on ``state`` whose access tokens live 2 seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORTELLIS_")}
    subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", "start", "--state", str(state),
                    "--token-lifetime", "2"], env=env, check=True, capture_output=True, timeout=60)
    try:
        yield state
    finally:
        subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", "stop", "--state", str(state)], env=env,
                       capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def sandbox_state(tmp_path_factory):
    with short_lived_tokens_sandbox(tmp_path_factory.mktemp("sandbox")) as state:
        yield state


@pytest.fixture(scope="module")
def backend(sandbox_state):
    running = Backend(sandbox_state)
    yield running
    running.stop()


def signed_in_browser(backend) -> tuple[requests.Session, str]:
    """A browser that went through /login, the sandbox's sign-in and back to /callback/."""
    browser = requests.Session()
    login = browser.get(backend.url + "login", allow_redirects=False)
    assert login.status_code == 302
    authorize = login.headers["Location"]
    landed = sign_in(authorize, username=USER, password=PASSWORD)
    assert landed.startswith(backend.info["redirect_uri"] + "?")
    home = browser.get(landed)
    return browser, landed, home


def test_sign_in_lands_on_the_app_s_own_callback_and_shows_the_user(backend):
    browser = requests.Session()
    assert "Nobody is signed in" in browser.get(backend.url).text
    login = browser.get(backend.url + "login", allow_redirects=False)
    query = parse_qs(urlsplit(login.headers["Location"]).query)
    assert query["redirect_uri"] == [backend.info["redirect_uri"]] and backend.info["redirect_uri"].endswith("/callback/")
    assert query["code_challenge_method"] == ["S256"] and query["state"] and query["nonce"]
    assert query["client_id"] == [backend.info["api_key"]]
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "|" in cookie.split(";")[0]  # signed
    landed = sign_in(login.headers["Location"], username=USER, password=PASSWORD)
    home = browser.get(landed)
    assert home.status_code == 200 and home.url == backend.url  # Post/Redirect/Get back home
    assert "Signed in as" in home.text and "Call the dealership API" in home.text
    # The tokens stay on the server: the browser holds only the signed session id.
    assert [c.name for c in browser.cookies] == ["fortellis_example_session"]
    assert "eyJ" not in home.text and "eyJ" not in next(iter(browser.cookies)).value


def test_the_same_callback_twice_keeps_the_tokens(backend):
    browser, landed, _ = signed_in_browser(backend)
    again = browser.get(landed)
    assert again.status_code == 200 and "already completed; the callback was not sent again" in again.text
    assert browser.get(backend.url + "dealership").status_code == 200  # still valid: nothing was revoked


def test_the_api_is_called_with_the_three_headers_and_refreshed_past_the_token_s_life(backend):
    browser, _, _ = signed_in_browser(backend)
    first = browser.get(backend.url + "dealership")
    assert first.status_code == 200 and "no refresh needed" in first.text and "Request-Id" in first.text
    time.sleep(2.1)  # the sandbox's access tokens live 2 s here
    later = browser.get(backend.url + "dealership")
    assert later.status_code == 200 and "the tokens were refreshed first" in later.text
    forced = browser.get(backend.url + "dealership?refresh=1")
    assert forced.status_code == 200 and "the tokens were refreshed first" in forced.text


def test_the_backend_job_uses_client_credentials(backend):
    job = requests.get(backend.url + "job")
    assert job.status_code == 200 and "Client credentials" in job.text and "dealership" in job.text.lower()


def test_logout_ends_both_sessions_and_comes_home(backend):
    browser, _, _ = signed_in_browser(backend)
    out = browser.post(backend.url + "logout", allow_redirects=False)
    assert out.status_code == 302
    logout = urlsplit(out.headers["Location"])
    assert logout.path.endswith("/v1/logout")
    assert parse_qs(logout.query)["post_logout_redirect_uri"] == [backend.url]
    back = browser.get(out.headers["Location"])
    assert back.url == backend.url and "Nobody is signed in" in back.text
    assert browser.get(backend.url + "dealership").url == backend.url  # nothing to call with any more


def test_a_callback_without_a_sign_in_in_progress_is_a_clear_400(backend):
    stranger = requests.get(backend.info["redirect_uri"] + "?code=abc&state=def")
    assert stranger.status_code == 400 and "No sign-in is in progress in this browser" in stranger.text
    browser = requests.Session()
    browser.get(backend.url + "login", allow_redirects=False)
    forged = browser.get(backend.info["redirect_uri"] + "?code=abc&state=not-ours")
    assert forged.status_code == 400 and "refused" in forged.text and "state" in forged.text


def test_a_rotating_app_keeps_the_newest_refresh_token(sandbox_state):
    rotating = Backend(sandbox_state, "--rotate")
    try:
        browser, _, _ = signed_in_browser(rotating)
        for _ in range(3):
            assert "the tokens were refreshed first" in browser.get(rotating.url + "dealership?refresh=1").text
        time.sleep(2.1)
        assert "the tokens were refreshed first" in browser.get(rotating.url + "dealership").text
    finally:
        rotating.stop()


def test_on_a_hub_the_app_is_reached_through_the_jupyter_proxy(sandbox_state, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/learner/")
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "https://hub.example.org/")
    on_hub = Backend(sandbox_state)
    try:
        port = on_hub.info["port"]
        assert on_hub.url == f"https://hub.example.org/user/learner/proxy/{port}/"
        assert on_hub.info["redirect_uri"] == f"{on_hub.url}callback/"
        # What jupyter-server-proxy forwards: the path under proxy/PORT, to 127.0.0.1:PORT.
        login = requests.get(f"http://127.0.0.1:{port}/login", allow_redirects=False)
        authorize = login.headers["Location"]
        assert authorize.startswith("https://hub.example.org/user/learner/proxy/")  # the sandbox, proxied too
        assert "Secure" in login.headers["Set-Cookie"]  # an https address: the cookie goes over https only
        assert parse_qs(urlsplit(authorize).query)["redirect_uri"] == [on_hub.info["redirect_uri"]]
    finally:
        on_hub.stop()


def test_on_a_hub_without_a_full_address_it_says_what_to_give(sandbox_state, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/learner/")
    monkeypatch.delenv("JUPYTERHUB_PUBLIC_URL", raising=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORTELLIS_")}
    done = subprocess.run([sys.executable, "-m", "fortellis_nb.examples.backend", "--port", "0"],
                          env={**env, "FORTELLIS_SANDBOX_STATE": str(sandbox_state)}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "--public-url" in done.stderr and "/user/learner/proxy/" in done.stderr


def test_with_fortellis_settings_it_uses_them_on_the_same_code_path(sandbox_state):
    """A server standing in for real Fortellis (a sandbox named only by FORTELLIS_* settings),
    with an app registered the way a developer registers theirs: the backend's callback."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORTELLIS_")}
    info = json.loads(subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", "status", "--state",
                                      str(sandbox_state)], env=env, capture_output=True, text=True).stdout)
    callback = f"http://127.0.0.1:{port}/callback/"
    app = requests.post(f"{info['base_url']}/sandbox/apps", json={
        "name": "My real app", "redirect_uris": [callback], "post_logout_redirect_uris": [f"http://127.0.0.1:{port}/"]}).json()
    settings = {"FORTELLIS_ISSUER": info["issuer"], "FORTELLIS_API_KEY": app["api_key"],
                "FORTELLIS_API_SECRET": app["api_secret"], "FORTELLIS_REDIRECT_URI": callback,
                "FORTELLIS_SUBSCRIPTION_ID": "test", "FORTELLIS_API_BASE_URL": info["api_base_url"]}
    process = subprocess.Popen([sys.executable, "-m", "fortellis_nb.examples.backend", "--port", str(port)],
                               env={**env, **settings}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = json.loads(process.stdout.readline())
        assert started["api_key"] == app["api_key"] and started["redirect_uri"] == callback  # no app of its own
        browser = requests.Session()
        login = browser.get(started["url"] + "login", allow_redirects=False)
        assert parse_qs(urlsplit(login.headers["Location"]).query)["client_id"] == [app["api_key"]]
        home = browser.get(sign_in(login.headers["Location"], username=USER, password=PASSWORD))
        assert "Signed in as" in home.text
        assert browser.get(started["url"] + "dealership").status_code == 200
    finally:
        process.terminate()
        process.communicate(timeout=10)
