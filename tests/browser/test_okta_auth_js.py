"""Okta's own single-page-app SDK, ``@okta/okta-auth-js`` 8 (its browser bundle from npm), in
Chromium against the sandbox: a small app (``okta_spa/``, static files, no build step) on an
origin of its own signs in with redirect (authorization code + PKCE, the SDK's defaults),
reads userinfo, renews its tokens with the refresh token, and signs out (revocation, then the
issuer's /v1/logout with id_token_hint) back onto the app. The app writes each step under
"What happened"; the SDK's requests and the browser's console are kept for the failure's story.

What the sandbox had to learn for this SDK is in docs/fidelity.md ("Okta's own browser SDK")."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from playwright.sync_api import expect

from fortellis_nb.sandbox import Sandbox, Settings

from ..interop.npm_cache import npm_package
from .jupyter import snap

pytestmark = pytest.mark.xdist_group("browser")

HERE = Path(__file__).parent / "okta_spa"
PACKAGE = "@okta/okta-auth-js@8.0.1"
#: What the SDK names itself in its X-Okta-User-Agent-Extended header.
USER_AGENT = "okta-auth-js/8.0.1"
#: The single-page app's own routes: each is its one page (a history fallback, as SPA hosts have).
APP_ROUTES = ("/", "/callback", "/signed-out")


def spa_server(bundle: Path, config: dict) -> ThreadingHTTPServer:
    """The app's files, the SDK's bundle and the app's settings (``config``, read at each
    request) on 127.0.0.1, a free port."""
    files = {"/app.js": HERE / "app.js", "/app.css": HERE / "app.css", "/okta-auth-js.min.js": bundle,
             **{route: HERE / "index.html" for route in APP_ROUTES}}

    class Files(BaseHTTPRequestHandler):
        def do_GET(self):  # http.server calls it by that name
            path = self.path.split("?")[0]
            if path == "/config.json":
                body, kind = json.dumps(config).encode(), "application/json"
            elif path in files:
                body = files[path].read_bytes()
                kind = {".js": "text/javascript", ".css": "text/css"}.get(files[path].suffix, "text/html")
            else:
                return self.send_error(404)
            self.send_response(200)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # the test keeps the SDK's requests itself
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Files)


@pytest.fixture(scope="module")
def bundle() -> Path:
    folder = npm_package(PACKAGE, "@okta/okta-auth-js")
    return folder / "node_modules" / "@okta" / "okta-auth-js" / "dist" / "okta-auth-js.min.js"


@pytest.fixture
def spa(tmp_path, bundle):
    """(the sandbox's info, the app's origin, its client id): a sandbox on the real clock (the SDK checks the
    ID token's iat and exp against the browser's), and the app registered there as an Okta
    single-page app is: public (no secret, PKCE), its origin's callback and sign-out page."""
    config: dict = {}
    server = spa_server(bundle, config)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        with Sandbox(Settings(state_dir=tmp_path / "sandbox")) as sandbox:
            info = sandbox.info
            registered = requests.post(f"{info.base_url}/sandbox/apps", json={
                "name": "okta-auth-js SPA", "public": True, "redirect_uris": [f"{origin}/callback"],
                "post_logout_redirect_uris": [f"{origin}/signed-out"]}, timeout=10)
            assert registered.status_code == 201, registered.text
            config.update(issuer=info.issuer, clientId=registered.json()["api_key"])
            yield info, origin, config["clientId"]
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Exchange:
    """One request of the app's to the sandbox, and its answer."""

    method: str
    path: str
    query: dict
    headers: dict
    body: dict
    status: int


def watch(page, info) -> list[Exchange]:
    """The app's requests to the sandbox (CORS preflights are not shown to pages), as answered."""
    seen: list[Exchange] = []

    def answered(response):
        request = response.request
        if request.url.startswith(info.issuer):
            url = urlsplit(request.url)
            seen.append(Exchange(request.method, url.path[len(urlsplit(info.issuer).path):],
                                 dict(parse_qsl(url.query)), request.headers,
                                 dict(parse_qsl(request.post_data or "")), response.status))

    page.on("response", answered)
    return seen


def test_sign_in_userinfo_renew_and_sign_out_with_okta_auth_js(page, spa):
    info, origin, client_id = spa
    seen = watch(page, info)
    said: list[str] = []
    page.on("console", lambda message: said.append(f"[{message.type}] {message.text}"))
    page.on("pageerror", lambda error: said.append(f"[pageerror] {error}"))
    happened = page.get_by_role("list", name="What happened")
    who = page.get_by_role("status")
    try:
        page.goto(origin)
        expect(who).to_have_text("Nobody is signed in.")
        expect(happened).to_contain_text(f"okta-auth-js ready, issuer {info.issuer}")
        snap(page, "app")

        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{info.issuer}/v1/authorize**")
        snap(page, "sandbox-sign-in")
        page.get_by_label("Username").fill(info.username)
        page.get_by_label("Password").fill(info.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{origin}/")
        expect(happened).to_contain_text(re.compile(
            rf"Signed in: the SDK accepted the ID token for {re.escape(info.username)}; access token AT\.\S+… "
            r"until \d\d:\d\d:\d\d UTC, refresh token \S+…"))
        expect(who).to_have_text(f"Signed in as {info.username}")
        snap(page, "signed-in")

        page.get_by_role("button", name="Read userinfo").click()
        expect(happened).to_contain_text(f"Userinfo: Lee Learner <{info.username}>, sub ")
        page.get_by_role("button", name="Renew tokens").click()
        expect(happened).to_contain_text(re.compile(r"Renewed: access token AT\.\S+… \(a new one\)"))
        snap(page, "userinfo-and-renewed")
        kept = json.loads(page.evaluate("localStorage.getItem('okta-token-storage')"))

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{origin}/")
        expect(happened).to_contain_text("Back from sign-out; tokens kept: 0")
        expect(who).to_have_text("Nobody is signed in.")
        snap(page, "signed-out")
        expect(page.locator("#events li.failed")).to_have_count(0)
    except Exception:  # a Playwright timeout as well as a failed expectation
        print("The app's requests to the sandbox:", *(f"{e.method} {e.path} {e.status}" for e in seen),
              "The console:", *said, sep="\n  ")
        raise

    # What the SDK did on the wire: its own header on each request, PKCE, the refresh token for
    # the renewal (no hidden iframe), both tokens revoked, /v1/logout with the ID token as hint.
    assert [(e.method, e.path, e.status) for e in seen if e.path != "/v1/authorize"] == [
        ("GET", "/.well-known/openid-configuration", 200), ("POST", "/v1/token", 200), ("GET", "/v1/keys", 200),
        ("GET", "/v1/userinfo", 200), ("POST", "/v1/token", 200), ("POST", "/v1/revoke", 200),
        ("POST", "/v1/revoke", 200), ("GET", "/v1/logout", 302)]
    fetched = [e for e in seen if e.path not in ("/v1/authorize", "/v1/logout")]
    assert {e.headers.get("x-okta-user-agent-extended") for e in fetched} == {USER_AGENT}
    authorize = next(e for e in seen if e.path == "/v1/authorize")
    assert authorize.query["code_challenge_method"] == "S256" and authorize.query["client_id"] == client_id
    code, renewal = (e.body for e in seen if e.path == "/v1/token")
    assert code["grant_type"] == "authorization_code" and "code_verifier" in code and "client_secret" not in code
    assert renewal["grant_type"] == "refresh_token"
    revoked = [e.body["token_type_hint"] for e in seen if e.path == "/v1/revoke"]
    assert revoked == ["refresh_token", "access_token"]
    logout = seen[-1].query
    assert logout["id_token_hint"] == kept["idToken"]["idToken"]
    assert logout["post_logout_redirect_uri"] == f"{origin}/signed-out"
    # Revoked at the sandbox, not only forgotten by the app; and the sign-in session is over.
    for token in (kept["accessToken"]["accessToken"], kept["refreshToken"]["refreshToken"]):
        assert requests.post(f"{info.issuer}/v1/introspect", data={"token": token, "client_id": client_id},
                             timeout=10).json() == {"active": False}
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{info.issuer}/v1/authorize**")
    expect(page.get_by_label("Password")).to_be_visible()
