"""The example backend end to end, headless: a requests.Session plays the browser (cookies,
redirects), the sandbox's sign-in page is filled in by the local layer's headless sign-in.

The backend runs as a developer runs it, one file with FORTELLIS_* settings (``python
backend.py``), against a private sandbox whose access tokens live 2 seconds, standing in for
Fortellis: an app registered there with the backend's callback, activated by dealers."""

from __future__ import annotations

import ast
import base64
import contextlib
import html
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from fortellis_nb.lessons.backend import BACKEND, DEALER, free_port
from fortellis_nb.local.headless import sign_in

USER, PASSWORD = "learner@example.com", "sandbox-password"
#: The environment without any FORTELLIS_* setting of the machine running the tests.
CLEAN = {k: v for k, v in os.environ.items() if not k.startswith("FORTELLIS_")}


def test_the_backend_imports_nothing_from_this_package():
    tree = ast.parse(BACKEND.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name == "fortellis_nb" or name.startswith("fortellis_nb.") for name in imported)
    assert not any(node.level for node in ast.walk(tree) if isinstance(node, ast.ImportFrom))  # nor relatively
    assert {"flask", "jwt", "requests", "dotenv"} <= {name.split(".")[0] for name in imported}


class Backend:
    """backend.py in a process of its own, with ``env``; ``command`` replaces how it is started."""

    def __init__(self, env: dict, port: int, command: list[str] | None = None):
        command = command or [sys.executable, str(BACKEND), "--port", str(port)]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
def short_lived_tokens_sandbox(state: Path, lifetime: int = 2):
    """A background sandbox on ``state`` whose access tokens live ``lifetime`` seconds; yields its first JSON line."""
    subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", "start", "--state", str(state),
                    "--token-lifetime", str(lifetime)], env=CLEAN, check=True, capture_output=True, timeout=60)
    try:
        yield json.loads(subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", "status", "--state", str(state)],
                                        env=CLEAN, capture_output=True, text=True, check=True).stdout)
    finally:
        subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", "stop", "--state", str(state)], env=CLEAN,
                       capture_output=True, timeout=60)


def settings_for_new_app(sandbox: dict, port: int, dealers=(DEALER,), rotate: bool = False) -> tuple[dict, list]:
    """What a developer does on Fortellis, done on the sandbox: register an app whose callback
    is the backend's, have dealers activate it. The environment with the FORTELLIS_* settings
    the backend then needs, and the dealers' Subscription-Ids."""
    home = f"http://127.0.0.1:{port}/"
    wanted = {"name": "My app", "redirect_uris": [home + "callback/"], "post_logout_redirect_uris": [home]}
    if rotate:
        wanted["refresh_token"] = {"rotation_type": "ROTATE"}
    app = requests.post(f"{sandbox['base_url']}/sandbox/apps", json=wanted, timeout=10).json()
    ids = [requests.post(f"{sandbox['base_url']}/sandbox/subscriptions", timeout=10,
                         json={"api_key": app["api_key"], "dealership": name}).json()["subscription_id"]
           for name in dealers]
    return {**CLEAN, "FORTELLIS_ISSUER": sandbox["issuer"], "FORTELLIS_API_KEY": app["api_key"],
            "FORTELLIS_API_SECRET": app["api_secret"], "FORTELLIS_REDIRECT_URI": home + "callback/",
            "FORTELLIS_API_BASE_URL": sandbox["api_base_url"],
            "FORTELLIS_SUBSCRIPTIONS_URL": sandbox["subscriptions_url"]}, ids


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with short_lived_tokens_sandbox(tmp_path_factory.mktemp("sandbox")) as info:
        yield info


@contextlib.contextmanager
def running(sandbox: dict, **options):
    port = free_port()
    env, subscription_ids = settings_for_new_app(sandbox, port, **options)
    backend = Backend(env, port)
    backend.subscription_ids = subscription_ids
    try:
        yield backend
    finally:
        backend.stop()


@pytest.fixture(scope="module")
def backend(sandbox):
    with running(sandbox) as started:
        yield started


def signed_in_browser(backend) -> tuple[requests.Session, str, requests.Response]:
    """A browser that went through /login, the sandbox's sign-in and back to /callback/."""
    browser = requests.Session()
    login = browser.get(backend.url + "login", allow_redirects=False)
    assert login.status_code == 302
    landed = sign_in(login.headers["Location"], username=USER, password=PASSWORD)
    assert landed.startswith(backend.info["redirect_uri"] + "?")
    return browser, landed, browser.get(landed)


def test_sign_in_lands_on_the_app_s_own_callback_and_finds_the_subscription(backend):
    browser = requests.Session()
    assert "Nobody is signed in" in browser.get(backend.url).text
    login = browser.get(backend.url + "login", allow_redirects=False)
    query = parse_qs(urlsplit(login.headers["Location"]).query)
    assert query["redirect_uri"] == [backend.info["redirect_uri"]] and backend.info["redirect_uri"].endswith("/callback/")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["state"] and query["nonce"] and query["client_id"] == [backend.info["api_key"]]
    assert "offline_access" in query["scope"][0].split()
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    home = browser.get(sign_in(login.headers["Location"], username=USER, password=PASSWORD))
    assert home.status_code == 200 and home.url == backend.url  # Post/Redirect/Get back home
    assert "Signed in as <b>Lee Learner</b>" in home.text
    # Found through the Subscriptions service with the app's client-credentials token.
    assert f"Your organization: <b>{DEALER}</b>, Subscription-Id <code>{backend.subscription_ids[0]}</code>" in home.text
    # The tokens stay on the server: the browser holds only the signed session id.
    assert [c.name for c in browser.cookies] == ["fortellis_example_session"]
    assert cookie_content(next(iter(browser.cookies)).value).keys() == {"sid"}
    assert "eyJ" not in home.text


def cookie_content(value: str) -> dict:
    """What Flask's signed cookie holds: base64 JSON, then a time stamp and a signature."""
    return json.loads(base64.urlsafe_b64decode(value.split(".")[0] + "=="))


def test_the_same_callback_twice_keeps_the_tokens(backend):
    browser, landed, _ = signed_in_browser(backend)
    again = browser.get(landed)
    assert again.status_code == 200 and "already completed; the callback was not sent again" in again.text
    assert browser.get(backend.url + "dealership").status_code == 200  # still valid: nothing was revoked


def test_the_api_is_called_with_the_three_headers_and_refreshed_past_the_token_s_life(backend):
    browser, _, _ = signed_in_browser(backend)
    first = browser.get(backend.url + "dealership")
    assert first.status_code == 200 and "no refresh needed" in first.text
    # The sandbox's API echoes what it was sent: the dealer's Subscription-Id, the Request-Id.
    echoed = json.loads(html.unescape(first.text.split("<pre>")[1].split("</pre>")[0]))
    assert echoed["subscriptionId"] == backend.subscription_ids[0] and echoed["caller"]["user"] == USER
    assert f"Request-Id <code>{echoed['requestId']}</code>" in first.text
    time.sleep(2.1)  # the sandbox's access tokens live 2 s here
    later = browser.get(backend.url + "dealership")
    assert later.status_code == 200 and "the tokens were refreshed first" in later.text
    forced = browser.get(backend.url + "dealership?refresh=1")
    assert forced.status_code == 200 and "the tokens were refreshed first" in forced.text


def test_logout_ends_both_sessions_and_comes_home(backend):
    browser, _, _ = signed_in_browser(backend)
    out = browser.post(backend.url + "logout", allow_redirects=False)
    assert out.status_code == 302
    logout = urlsplit(out.headers["Location"])
    assert logout.path.endswith("/v1/logout")
    assert parse_qs(logout.query)["post_logout_redirect_uri"] == [backend.url]
    assert parse_qs(logout.query)["id_token_hint"][0].startswith("eyJ")
    back = browser.get(out.headers["Location"])
    assert back.url == backend.url and "Nobody is signed in" in back.text
    assert browser.get(backend.url + "dealership").url == backend.url  # nothing to call with any more


def test_a_callback_that_is_not_the_answer_to_this_browser_s_sign_in_is_a_clear_400(backend):
    stranger = requests.get(backend.info["redirect_uri"] + "?code=abc&state=def")
    assert stranger.status_code == 400 and "No sign-in is in progress in this browser" in stranger.text
    browser = requests.Session()
    login = browser.get(backend.url + "login", allow_redirects=False)
    state = parse_qs(urlsplit(login.headers["Location"]).query)["state"][0]
    forged = browser.get(backend.info["redirect_uri"], params={"code": "abc", "state": "not-ours"})
    assert forged.status_code == 400 and "its state is not the one this browser was sent with" in forged.text
    no_code = browser.get(backend.info["redirect_uri"], params={"state": state})
    assert no_code.status_code == 400 and "has no code" in no_code.text
    spent = browser.get(backend.info["redirect_uri"], params={"code": "not-a-code", "state": state})
    assert spent.status_code == 400 and "The code exchange failed." in spent.text and "invalid_grant" in spent.text
    assert "Traceback" not in spent.text


def test_the_identity_server_s_refusal_is_shown_with_its_reason(backend):
    browser = requests.Session()
    browser.get(backend.url + "login", allow_redirects=False)
    denied = browser.get(backend.info["redirect_uri"], params={
        "error": "access_denied", "error_description": "The user denied the request."})
    assert denied.status_code == 400 and "The identity server refused the sign-in." in denied.text
    assert "access_denied: The user denied the request." in denied.text


def test_the_gateway_s_refusal_is_shown_with_its_code(sandbox):
    with running(sandbox) as ended:
        browser, _, _ = signed_in_browser(ended)
        requests.post(f"{sandbox['base_url']}/sandbox/subscriptions/deactivate", timeout=10,
                      json={"subscription_id": ended.subscription_ids[0]}).raise_for_status()
        refused = browser.get(ended.url + "dealership")
        assert refused.status_code == 502 and "<h1>The API refused the call</h1><p>HTTP 403;" in refused.text
        gateway = json.loads(html.unescape(refused.text.split("<pre>")[1].split("</pre>")[0]))
        assert gateway["code"] == "SUBSCRIPTION-MISMATCH" and gateway["message"]  # Fortellis' code, as it came


def test_a_subscriptions_service_that_refuses_is_a_clear_page_until_it_answers(sandbox):
    port = free_port()
    env, _ = settings_for_new_app(sandbox, port)
    env["FORTELLIS_SUBSCRIPTIONS_URL"] = sandbox["base_url"] + "/nowhere"
    wrong = Backend(env, port)
    try:
        browser, _, callback = signed_in_browser(wrong)
        assert callback.status_code == 502 and "The Subscriptions service refused the app&#x27;s request." in callback.text
        assert "HTTP 404" in callback.text and "Traceback" not in callback.text
        again = browser.get(wrong.url)  # signed in, but no organization known: asked again, not "none"
        assert again.status_code == 502 and "No organization has an active subscription" not in again.text
    finally:
        wrong.stop()


def test_with_several_dealers_the_user_picks_theirs_by_org_id(sandbox):
    with running(sandbox, dealers=("North Motors", "South Motors")) as two:
        browser, _, home = signed_in_browser(two)
        assert "Which organization do you work for?" in home.text and "Subscription-Id" not in home.text
        assert browser.get(two.url + "dealership").url == two.url  # no dealer yet: nothing to call
        _, south = re.findall(r'<a href="(\?orgId=[^"]+)">', home.text)
        chosen = browser.get(two.url + south)
        assert f"Your organization: <b>South Motors</b>, Subscription-Id <code>{two.subscription_ids[1]}" in chosen.text


def test_without_a_dealer_it_says_there_is_nothing_to_call(sandbox):
    with running(sandbox, dealers=()) as lonely:
        browser, _, home = signed_in_browser(lonely)
        assert "No organization has an active subscription to this app yet" in home.text
        assert browser.get(lonely.url + "dealership").url == lonely.url


def test_a_rotating_app_keeps_the_newest_refresh_token(sandbox):
    with running(sandbox, rotate=True) as rotating:
        browser, _, _ = signed_in_browser(rotating)
        for _ in range(3):
            assert "the tokens were refreshed first" in browser.get(rotating.url + "dealership?refresh=1").text
        time.sleep(2.1)
        assert "the tokens were refreshed first" in browser.get(rotating.url + "dealership").text


def test_without_settings_it_names_the_missing_ones(tmp_path):
    done = subprocess.run([sys.executable, str(BACKEND), "--port", "0"], env=CLEAN, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "FORTELLIS_ISSUER" in done.stderr and "FORTELLIS_SUBSCRIPTIONS_URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_settings_may_come_from_a_dotenv_file(sandbox, tmp_path):
    port = free_port()
    env, _ = settings_for_new_app(sandbox, port)
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items() if k.startswith("FORTELLIS_")))
    process = subprocess.Popen([sys.executable, str(BACKEND), "--port", str(port)], env=CLEAN, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(process.stdout.readline())["api_key"] == env["FORTELLIS_API_KEY"]
    finally:
        process.terminate()
        process.communicate(timeout=10)


# `fortellis-nb example backend`: the sandbox-only wiring around the same file.

def example_backend(state: Path, *args: str, env: dict | None = None) -> Backend:
    env = {**CLEAN, **(env or {}), "FORTELLIS_SANDBOX_STATE": str(state)}
    return Backend(env, 0, [sys.executable, "-m", "fortellis_nb", "example", "backend", "--port", "0", *args])


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_command_registers_an_app_of_its_own_with_the_sandbox(sandbox):
    state = Path(sandbox["state_dir"])
    started = example_backend(state)
    try:
        assert started.info["redirect_uri"] == started.url + "callback/"
        assert started.info["api_key"] != sandbox["api_key"]  # not the demo app: one whose callback is ours
        browser, _, home = signed_in_browser(started)
        assert f"Your organization: <b>{DEALER}</b>" in home.text
        assert browser.get(started.url + "dealership").status_code == 200
    finally:
        started.stop()
    assert not port_open(started.info["port"])  # the backend stopped with the command


def test_the_command_with_fortellis_settings_uses_them(sandbox):
    port = free_port()
    env, subscription_ids = settings_for_new_app(sandbox, port)
    del env["FORTELLIS_SUBSCRIPTIONS_URL"]  # not needed for Fortellis' own issuers; here it is
    missing = subprocess.run([sys.executable, "-m", "fortellis_nb", "example", "backend", "--port", str(port)],
                             env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "Set FORTELLIS_SUBSCRIPTIONS_URL" in missing.stderr
    env["FORTELLIS_SUBSCRIPTIONS_URL"] = sandbox["subscriptions_url"]
    started = Backend(env, port, [sys.executable, "-m", "fortellis_nb", "example", "backend", "--port", str(port)])
    try:
        assert started.info["api_key"] == env["FORTELLIS_API_KEY"]  # the developer's app, no app of its own
        home = signed_in_browser(started)[2]
        assert subscription_ids[0] in home.text
    finally:
        started.stop()


def test_on_a_hub_the_app_is_reached_through_the_jupyter_proxy(sandbox):
    hub = {"JUPYTERHUB_SERVICE_PREFIX": "/user/learner/", "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/"}
    on_hub = example_backend(Path(sandbox["state_dir"]), env=hub)
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


def test_on_a_hub_without_a_full_address_it_says_what_to_give(sandbox):
    env = {**CLEAN, "FORTELLIS_SANDBOX_STATE": sandbox["state_dir"], "JUPYTERHUB_SERVICE_PREFIX": "/user/learner/"}
    env.pop("JUPYTERHUB_PUBLIC_URL", None)
    done = subprocess.run([sys.executable, "-m", "fortellis_nb", "example", "backend", "--port", "0"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--public-url" in done.stderr and "/user/learner/proxy/" in done.stderr
