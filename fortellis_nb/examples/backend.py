"""A Fortellis app's backend in one file: the route Fortellis' tutorial recommends.

Users sign in through this server (the authorization code flow, with state, nonce and PKCE);
it finds their organization's Subscription-Id through Fortellis' Subscriptions service with
the app's own token (client credentials), and calls an API with the three headers. The tokens
stay here, on the server: the browser holds only a signed session id.

    pip install flask requests "pyjwt[crypto]" python-dotenv
    python backend.py [--port 8770]

Settings, from the environment or a .env file in the current folder:
    FORTELLIS_ISSUER             your authorization server (Fortellis' or a sandbox's)
    FORTELLIS_API_KEY            your app's API Key ...
    FORTELLIS_API_SECRET         ... and API Secret
    FORTELLIS_REDIRECT_URI       this server's /callback/ address, registered with your app
    FORTELLIS_API_BASE_URL       where the APIs are
    FORTELLIS_SUBSCRIPTIONS_URL  where the Subscriptions service is
The first line it prints is JSON: this server's address, port, API Key, redirect URI, issuer.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import html
import json
import os
import secrets
import sys
import threading
import time
import uuid
from urllib.parse import urlencode

import jwt
import requests
from dotenv import find_dotenv, load_dotenv
from flask import Flask, redirect, request, session
from werkzeug.serving import make_server

SETTINGS = ("FORTELLIS_ISSUER", "FORTELLIS_API_KEY", "FORTELLIS_API_SECRET", "FORTELLIS_REDIRECT_URI",
            "FORTELLIS_API_BASE_URL", "FORTELLIS_SUBSCRIPTIONS_URL")
SCOPES = "openid profile offline_access"  # offline_access: a refresh token, to renew the access token alone
REFRESH_MARGIN = 60  # seconds before expiry; at most a tenth of the token's life

app = Flask(__name__)
# Every user's tokens stay in this dict, on the server (a real app keeps them in a database).
# The browser's cookie holds only a random key to it, signed by Flask, HttpOnly and SameSite.
SESSIONS: dict[str, dict] = {}
app.config.update(SESSION_COOKIE_NAME="fortellis_example_session", SESSION_COOKIE_SAMESITE="Lax",
                  SECRET_KEY=secrets.token_bytes(32))


class Refused(Exception):
    """What went wrong, for the user: shown as a page with its status, never a traceback."""

    def __init__(self, status: int, what: str, detail: str = ""):
        super().__init__(what)
        self.status, self.what, self.detail = status, what, detail


class Fortellis:
    """The protocol, with requests and PyJWT: every call this app makes to Fortellis."""

    def __init__(self, env):
        missing = [name for name in SETTINGS if not env.get(name)]
        if missing:
            raise ValueError(f"Set {', '.join(missing)} (in the environment or a .env file).")
        self.issuer, self.api_key, self.api_secret, self.redirect_uri, api, subs = (env[n] for n in SETTINGS)
        self.api_base_url, self.subscriptions_url = api.rstrip("/"), subs.rstrip("/")
        if not self.redirect_uri.endswith("/callback/"):
            raise ValueError("FORTELLIS_REDIRECT_URI must be this server's /callback/ address.")
        self.home = self.redirect_uri[:-len("callback/")]
        # Where browsers reach the identity server, when not at the issuer's address: only a
        # sandbox behind Jupyter's proxy on a hub needs it (`fortellis-nb example backend` sets it).
        self.browser_issuer = env.get("FORTELLIS_BROWSER_ISSUER") or self.issuer
        # The server's endpoints, from its discovery document (OpenID Connect Discovery 1.0).
        self.meta = self.answer(requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=30),
                                "The identity server's discovery document could not be read.")
        self.keys = jwt.PyJWKClient(self.meta["jwks_uri"])  # its signing keys, fetched and cached
        self.app_token_cache: tuple[str, float] | None = None

    def answer(self, response: requests.Response, what: str, status: int = 502) -> dict:
        """The JSON of a successful answer; a failure becomes a page saying what was refused."""
        try:
            body = response.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        if not response.ok:
            reason = body.get("errorSummary") or body.get("error_description") or body.get("message") or ""
            code = body.get("error") or body.get("code") or body.get("errorCode") or ""
            raise Refused(status, what, f"HTTP {response.status_code} {code}: {reason}".strip(": "))
        return body

    def for_browser(self, url: str) -> str:
        return self.browser_issuer + url[len(self.issuer):] if url.startswith(self.issuer) else url

    def token(self, what: str, **form: str) -> dict:
        """The token endpoint, the app authenticated with its API Key and Secret (HTTP Basic)."""
        answer = requests.post(self.meta["token_endpoint"], data=form, auth=(self.api_key, self.api_secret),
                               timeout=30)
        tokens = self.answer(answer, what, status=400)
        tokens["expires_at"] = time.time() + int(tokens.get("expires_in", 3600))
        tokens["lifetime"] = int(tokens.get("expires_in", 3600))
        return tokens

    def authorize_url(self, state: str, nonce: str, verifier: str) -> str:
        # PKCE (RFC 7636): the identity server keeps the challenge; only this backend knows the verifier.
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        return self.for_browser(self.meta["authorization_endpoint"] + "?" + urlencode({
            "response_type": "code", "client_id": self.api_key, "redirect_uri": self.redirect_uri,
            "scope": SCOPES, "state": state, "nonce": nonce,
            "code_challenge": challenge, "code_challenge_method": "S256"}))

    def exchange(self, code: str, verifier: str, nonce: str) -> dict:
        tokens = self.token("The code exchange failed.", grant_type="authorization_code", code=code,
                            redirect_uri=self.redirect_uri, code_verifier=verifier)
        tokens["claims"] = self.verify_id_token(tokens.get("id_token", ""), nonce)
        return tokens

    def verify_id_token(self, id_token: str, nonce: str) -> dict:
        """OpenID Connect Core 3.1.3.7: signed by the server's key, for this app, from this
        issuer, not expired, and with the nonce this sign-in sent (no replayed token)."""
        try:
            key = self.keys.get_signing_key_from_jwt(id_token).key
            claims = jwt.decode(id_token, key, algorithms=["RS256"], audience=self.api_key, issuer=self.issuer)
        except jwt.PyJWTError as error:
            raise Refused(400, "The ID token was refused.", str(error)) from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise Refused(400, "The ID token was refused.", "its nonce is not the one this sign-in sent")
        return claims

    def refresh(self, tokens: dict) -> dict:
        if not tokens.get("refresh_token"):
            raise Refused(400, "The tokens could not be renewed: sign in again.",
                          "no refresh token (the sign-in did not ask for offline_access)")
        new = self.token("The tokens could not be renewed: sign in again.", grant_type="refresh_token",
                         refresh_token=tokens["refresh_token"], scope=SCOPES)
        # With rotation (Okta's ROTATE) every refresh returns a new refresh token: keep the newest.
        return {**tokens, **new, "refreshed": tokens.get("refreshed", 0) + 1}

    def app_token(self) -> str:
        """The app's own access token (client credentials: no user), kept until it nearly expires."""
        if self.app_token_cache is None or time.time() > self.app_token_cache[1]:
            tokens = self.token("The app's own token (client credentials) was refused.",
                                grant_type="client_credentials", scope="anonymous")
            self.app_token_cache = (tokens["access_token"], tokens["expires_at"] - REFRESH_MARGIN)
        return self.app_token_cache[0]

    def subscriptions(self, **filters: str) -> list[dict]:
        """The active subscriptions of this app: Fortellis knows the app by its token's API Key."""
        answer = requests.get(f"{self.subscriptions_url}/v1/solution/subscriptions", params=filters, timeout=30,
                              headers={"Authorization": f"Bearer {self.app_token()}"})
        found = self.answer(answer, "The Subscriptions service refused the app's request.")
        return [s for s in found.get("subscriptions", []) if s.get("status") == "active"]

    def call_api(self, path: str, access_token: str, subscription_id: str) -> requests.Response:
        return requests.get(self.api_base_url + path, timeout=30, headers={
            "Authorization": f"Bearer {access_token}",
            "Subscription-Id": subscription_id,  # which dealer's data
            "Request-Id": str(uuid.uuid4()),  # a fresh id per request, to trace it at the gateway
        })

    def logout_url(self, id_token: str) -> str:
        # Okta's /v1/logout ends the identity server's session too, then sends the browser home.
        return self.for_browser(self.meta["end_session_endpoint"] + "?" + urlencode({
            "id_token_hint": id_token, "post_logout_redirect_uri": self.home}))


def fortellis() -> Fortellis:
    return app.config["FORTELLIS"]


def page(title: str, *parts: str, status: int = 200, home_link: bool = True):
    home = f'<p><a href="{html.escape(fortellis().home)}">Home</a></p>' if home_link else ""
    return (f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
            "<style>body{font:16px system-ui;margin:2em auto;max-width:46em;padding:0 1em}"
            "pre{background:#f4f4f4;padding:1em;overflow:auto}.error{color:#a00}</style>"
            f"<h1>{html.escape(title)}</h1>" + "".join(parts) + home, status)


@app.errorhandler(Refused)
def refused(error: Refused):
    detail = f"<pre class=error>{html.escape(error.detail)}</pre>" if error.detail else ""
    return page("That did not work", f"<p>{html.escape(error.what)}</p>", detail, status=error.status)


@app.errorhandler(requests.RequestException)
def unreachable(error: requests.RequestException):
    return page("That did not work", "<p>Fortellis could not be reached.</p>",
                f"<pre class=error>{html.escape(type(error).__name__)}</pre>", status=502)


def current() -> dict | None:
    """This browser's server-side session, if it has one."""
    return SESSIONS.get(session.get("sid", ""))


@app.get("/")
def home():
    user = current()
    if not user or "tokens" not in user:
        return page("Example backend", "<p>Nobody is signed in.</p>",
                    '<p><a href="login">Sign in with Fortellis</a></p>', home_link=False)
    claims = user["tokens"]["claims"]
    wanted = {"orgId": request.args["orgId"]} if request.args.get("orgId") else {}
    if wanted or "subscription" not in user:  # the user picked their organization, or the lookup failed
        find_subscription(user, **wanted)
    left = user["tokens"]["expires_at"] - time.time()
    return page("Example backend",
                f"<p>Signed in as <b>{html.escape(claims.get('name', ''))}</b> ({html.escape(claims['sub'])}).</p>",
                f"<p>{html.escape(user.pop('note'))}</p>" if "note" in user else "",
                organization(user),
                f"<p>The access token expires in {max(0, round(left))} seconds.</p>",
                '<ul><li><a href="dealership">Call the dealership API</a>'
                ' (<a href="dealership?refresh=1">refresh first</a>)</li></ul>'
                "<form method=post action=logout><button>Sign out</button></form>", home_link=False)


def organization(user: dict) -> str:
    found = user.get("subscription")
    if found:
        return (f"<p>Your organization: <b>{html.escape(found['orgName'])}</b>, Subscription-Id "
                f"<code>{html.escape(found['subscriptionId'])}</code> (found through the Subscriptions service).</p>")
    choices = "".join(f'<li><a href="?{urlencode({"orgId": s["orgId"]})}">{html.escape(s["orgName"])}</a></li>'
                      for s in user.get("choices", []))
    if choices:
        return f"<p>Which organization do you work for?</p><ul>{choices}</ul>"
    return "<p>No organization has an active subscription to this app yet: nothing to call.</p>"


@app.get("/login")
def login():
    # A fresh session per sign-in; state, nonce and the PKCE verifier wait in it for /callback/.
    sid = secrets.token_urlsafe(32)
    pending = {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24),
               "verifier": secrets.token_urlsafe(48)}
    SESSIONS[sid] = {"pending": pending, "lock": threading.Lock()}
    session["sid"] = sid
    return redirect(fortellis().authorize_url(**pending))


@app.get("/callback/")
def callback():
    user = current()
    if user is None:
        raise Refused(400, "No sign-in is in progress in this browser. Start at Sign in.")
    if request.args.get("error"):  # the identity server said no (access_denied, invalid_scope, ...)
        raise Refused(400, "The identity server refused the sign-in.",
                      f"{request.args['error']}: {request.args.get('error_description', '')}")
    pending, code = user.get("pending"), request.args.get("code", "")
    if code and code == user.get("code"):
        # The same callback again (a reload, the back button): sending the code a second time
        # would make the server revoke the tokens it gave for it. Keep them; go home.
        user["note"] = "That sign-in was already completed; the callback was not sent again."
        return redirect(fortellis().home)
    if not pending or not secrets.compare_digest(request.args.get("state", ""), pending["state"]):
        raise Refused(400, "The identity server's answer was refused: its state is not the one this "
                      "browser was sent with (a forged or stale callback).")
    if not code:
        raise Refused(400, "The identity server's answer has no code.")
    user["tokens"] = fortellis().exchange(code, pending["verifier"], pending["nonce"])
    user["code"] = code
    del user["pending"]
    find_subscription(user)
    return redirect(fortellis().home)  # Post/Redirect/Get: a reload of the next page sends nothing again


def find_subscription(user: dict, **filters: str) -> None:
    """The Subscription-Id of the user's organization, from the Subscriptions service.

    How is a signed-in user tied to an organization? Fortellis' docs do not say: the ID token
    names the user, not a dealer, and the service lists the organizations (orgId, orgName)
    that activated this app. So the app decides: one active subscription is the user's; with
    several, the user picks theirs, and the app asks the service again with the documented
    orgId filter. A real app would remember that choice, or keep its own table of users."""
    found = fortellis().subscriptions(**filters)
    user["subscription"] = found[0] if len(found) == 1 else None
    user["choices"] = found if len(found) > 1 else []


@app.get("/dealership")
def dealership():
    user = current()
    if not user or not user.get("subscription"):
        return redirect(fortellis().home)
    with user["lock"]:  # one refresh at a time: with rotation, a second one would spend a used token
        tokens, before = user["tokens"], user["tokens"].get("refreshed", 0)
        due = tokens["expires_at"] - min(REFRESH_MARGIN, tokens["lifetime"] / 10)
        if request.args.get("refresh") or time.time() >= due:
            user["tokens"] = tokens = fortellis().refresh(tokens)
    answer = fortellis().call_api(app.config["API_PATH"], tokens["access_token"],
                                  user["subscription"]["subscriptionId"])
    refreshed = "the tokens were refreshed first" if tokens.get("refreshed", 0) > before else "no refresh needed"
    try:
        shown = json.dumps(answer.json(), indent=2)
    except ValueError:
        shown = answer.text
    # The gateway's own answer, shown as it came (its code says what was wrong).
    request_id = html.escape(answer.request.headers["Request-Id"])
    return page("Dealership" if answer.ok else "The API refused the call",
                f"<p>HTTP {answer.status_code}; Request-Id <code>{request_id}</code>; {refreshed}.</p>",
                f"<pre>{html.escape(shown)}</pre>", status=200 if answer.ok else 502)


@app.post("/logout")
def logout():  # POST: a link on another site cannot sign the user out (SameSite keeps the cookie home)
    user = SESSIONS.pop(session.pop("sid", ""), None)  # the session ends here ...
    if not user or "tokens" not in user:
        return redirect(fortellis().home)
    return redirect(fortellis().logout_url(user["tokens"]["id_token"]))  # ... and at the identity server


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8770, help="the port to listen on (default 8770)")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    parser.add_argument("--api-path", default="/sandbox/v1/dealership", help="the API path /dealership calls")
    args = parser.parse_args(argv)
    load_dotenv(find_dotenv(usecwd=True))  # a .env in the current folder; the environment wins
    # A sandbox on this machine is reached directly, not through a company's proxy (HTTP_PROXY,
    # HTTPS_PROXY): requests and PyJWT's key fetch (urllib) both skip the hosts NO_PROXY names.
    no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    if no_proxy.strip() != "*":
        os.environ["no_proxy"] = os.environ["NO_PROXY"] = ",".join(filter(None, [no_proxy, "localhost,127.0.0.1,::1"]))
    try:
        client = Fortellis(os.environ)
    except (ValueError, Refused, requests.RequestException) as error:
        print(f"Could not set up the app: {error} {getattr(error, 'detail', '')}".strip(), file=sys.stderr)
        return 2
    app.config.update(FORTELLIS=client, API_PATH=args.api_path,
                      SESSION_COOKIE_SECURE=client.home.startswith("https:"))  # https: the cookie goes over https only
    # Werkzeug's server, one thread per request: enough to learn with; in production, a WSGI server.
    server = make_server(args.host, args.port, app, threaded=True)
    print(json.dumps({"url": client.home, "port": server.port, "api_key": client.api_key,
                      "redirect_uri": client.redirect_uri, "issuer": client.issuer}), flush=True)
    print(f"Example backend at {client.home} . Ctrl+C stops it.", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
