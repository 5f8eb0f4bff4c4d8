"""An example backend: the authorization code flow where it belongs, on a server.

    fortellis-nb example backend            (or: python -m fortellis_nb.examples.backend)

With no FORTELLIS_* settings it uses the local sandbox and registers an app of its own there,
whose callback is this server's /callback: the browser comes back to the app, not to the
sandbox's page. With FORTELLIS_* settings it uses them (FORTELLIS_REDIRECT_URI must then be
this server's callback, registered with your app). The first line it prints is JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import secrets
import sys
from typing import ClassVar
from urllib.parse import urlsplit

import requests
import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web

from fortellis_nb.local import start
from fortellis_nb.oauth import FortellisClient, FortellisError
from fortellis_nb.oauth.config import Config, sandbox_browser_base

COOKIE = "fortellis_example_session"


def page(title: str, *parts: str) -> str:
    return (f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
            "<style>body{font:16px system-ui;margin:2em auto;max-width:46em;padding:0 1em}"
            "pre{background:#f4f4f4;padding:1em;overflow:auto}.error{color:#a00}</style>"
            f"<h1>{html.escape(title)}</h1>" + "".join(parts))


class Handler(tornado.web.RequestHandler):
    # Every user's tokens stay here, on the server; the browser holds only a random session id,
    # in a signed, HttpOnly, SameSite cookie. (A real app keeps them in a database.)
    sessions: ClassVar[dict[str, dict]] = {}

    def session(self) -> dict | None:
        sid = self.get_signed_cookie(COOKIE, max_age_days=1)
        return self.sessions.get(sid.decode()) if sid else None

    def new_session(self) -> dict:
        sid = secrets.token_urlsafe(32)
        self.sessions[sid] = {"client": FortellisClient(self.settings["config"])}
        self.set_signed_cookie(COOKIE, sid, httponly=True, samesite="Lax", expires_days=None,
                               secure=self.settings["public_url"].startswith("https:"))
        return self.sessions[sid]

    def home(self) -> str:
        """This app's home page, absolute: "./" from /callback/ would be /callback/ again."""
        return self.settings["public_url"] + "/"

    async def blocking(self, function, *args):
        """The protocol layer uses requests, which blocks: run it off the event loop."""
        return await tornado.ioloop.IOLoop.current().run_in_executor(None, function, *args)

    def fail(self, status: int, what: str, error: Exception | None = None):
        self.set_status(status)
        detail = f"<pre class=error>{html.escape(str(error))}</pre>" if error else ""
        self.finish(page("That did not work", f"<p>{html.escape(what)}</p>", detail,
                         f'<p><a href="{html.escape(self.home())}">Home</a></p>'))


class Home(Handler):
    def get(self):
        session = self.session()
        client = session and session["client"]
        if not client or not client.tokens or client.tokens.revoked:
            return self.finish(page("Example backend", "<p>Nobody is signed in.</p>",
                                    '<p><a href="login">Sign in with Fortellis</a></p>'))
        claims = client.tokens.id_claims or {}
        who = claims.get("name") or claims.get("preferred_username") or claims.get("sub")
        note = session.pop("note", "")
        self.finish(page("Example backend",
                         f"<p>Signed in as <b>{html.escape(str(who))}</b> ({html.escape(str(claims.get('sub')))}).</p>",
                         f"<p>{html.escape(note)}</p>" if note else "",
                         f"<p>The access token {html.escape(client.tokens.expires_in_words())}.</p>",
                         '<ul><li><a href="dealership">Call the dealership API</a>'
                         ' (<a href="dealership?refresh=1">refresh first</a>)</li>'
                         '<li><a href="job">Run the backend job (client credentials)</a></li></ul>'
                         '<form method=post action=logout><button>Sign out</button></form>'))


class Login(Handler):
    def get(self):
        # A fresh client per sign-in: its state, nonce and PKCE verifier stay in this session.
        client = self.new_session()["client"]
        # offline_access: a refresh token, so the session can renew the access token by itself.
        scopes = self.get_query_argument("scope", "openid profile offline_access")
        request = client.authorization_url(scopes=scopes, pkce=True)
        self.redirect(client.config.browser_url(request.url))


class Callback(Handler):
    async def get(self):
        session = self.session()
        if session is None:
            return self.fail(400, "No sign-in is in progress in this browser. Start at Sign in.")
        client = session["client"]
        landed = client.config.redirect_uri + ("?" + self.request.query if self.request.query else "")
        try:
            response = client.parse_redirect(landed)  # checks state: this browser asked for this code
        except FortellisError as error:
            return self.fail(400, "The identity server's answer was refused.", error)
        if client.code_spent(response.code):
            # The same callback a second time (a double submit, a reload): sending the code again
            # would make the server revoke the tokens it gave. Keep them; go home.
            session["note"] = "That sign-in was already completed; the callback was not sent again."
            return self.redirect(self.home())
        try:
            await self.blocking(client.exchange_code, response)  # and verifies the tokens
        except FortellisError as error:
            return self.fail(400, "The code exchange failed.", error)
        session["api"] = client.session()  # refreshes by itself; see fortellis_nb/oauth/session.py
        self.redirect(self.home())  # Post/Redirect/Get: a reload of the next page sends nothing again


class Dealership(Handler):
    async def get(self):
        session = self.session()
        if session is None or "api" not in session:
            return self.redirect(self.home())
        client, api = session["client"], session["api"]
        before = api.auth.refreshes
        try:
            if self.get_query_argument("refresh", ""):
                await self.blocking(client.refresh)
            answer = await self.blocking(api.get, self.settings["api_path"])
        except FortellisError as error:
            return self.fail(400, "The tokens could not be renewed: sign in again.", error)
        refreshed = api.auth.refreshes > before or bool(self.get_query_argument("refresh", ""))
        self.set_status(200 if answer.ok else 502)
        self.finish(page("Dealership", f"<p>HTTP {answer.status_code}; Request-Id "
                         f"<code>{html.escape(answer.request.headers['Request-Id'])}</code>; "
                         f"{'the tokens were refreshed first' if refreshed else 'no refresh needed'}.</p>",
                         f"<pre>{html.escape(json.dumps(answer.json(), indent=2))}</pre>",
                         f'<p><a href="{html.escape(self.home())}">Home</a></p>'))


class Job(Handler):
    async def get(self):
        # No user: the app's own token (client credentials), as the tutorial advises for backends.
        app = FortellisClient(self.settings["config"])
        try:
            token = await self.blocking(app.client_credentials)
            answer = await self.blocking(lambda: app.call_api(self.settings["api_path"], access_token=token.access_token))
        except FortellisError as error:
            return self.fail(400, "The backend job failed.", error)
        self.finish(page("Backend job", "<p>Client credentials, then the API with the dealer's Subscription-Id:</p>",
                         f"<pre>{html.escape(json.dumps(answer.data, indent=2))}</pre>", f'<p><a href="{html.escape(self.home())}">Home</a></p>'))


class Logout(Handler):
    def post(self):  # POST: a link elsewhere cannot sign the user out (SameSite keeps the cookie home)
        session = self.session()
        sid = self.get_signed_cookie(COOKIE)
        self.clear_cookie(COOKIE)
        if session is None:
            return self.redirect(self.home())
        self.sessions.pop(sid.decode(), None)  # the local session ends here ...
        client = session["client"]
        if not client.tokens or not client.tokens.id_token:
            return self.redirect(self.home())
        # ... and the identity server's there, which sends the browser back to our home page.
        self.redirect(client.logout_url(self.home()))


def register_with_sandbox(config: Config, public_url: str, rotation: str | None) -> Config:
    """Register an app of this server's own with the local sandbox: its callback is ours."""
    # The callback with its trailing slash, as the tutorial registers them: the authorize and token
    # requests must send it character for character.
    wanted = {"name": "Example backend", "redirect_uris": [public_url + "/callback/"],
              "post_logout_redirect_uris": [public_url + "/"]}
    if rotation:
        wanted["refresh_token"] = {"rotation_type": rotation}
    answer = requests.post(config.sandbox["base_url"] + "/sandbox/apps", json=wanted, timeout=10)
    answer.raise_for_status()
    app = answer.json()
    # Subscription "test": the sample dealership every sandbox app may call at once.
    return config.replace(api_key=app["api_key"], api_secret=app["api_secret"],
                          redirect_uri=public_url + "/callback/", subscription_id="test")


def make_app(config: Config, public_url: str, api_path: str) -> tornado.web.Application:
    # The callback's route is the path of the redirect URI (under this server's public path).
    callback = urlsplit(config.redirect_uri).path[len(urlsplit(public_url).path):] or "/callback/"
    return tornado.web.Application(
        [("/", Home), ("/login", Login), (callback, Callback), ("/dealership", Dealership), ("/job", Job),
         ("/logout", Logout)],
        config=config, public_url=public_url, api_path=api_path, cookie_secret=secrets.token_bytes(32))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fortellis-nb example backend", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8770, help="port on 127.0.0.1 (0: a free one; default 8770)")
    parser.add_argument("--public-url", help="the address browsers use for this server, if not http://127.0.0.1:PORT")
    parser.add_argument("--api-path", default="/sandbox/v1/dealership", help="the API path /dealership calls")
    parser.add_argument("--rotate", action="store_true", help="sandbox only: register the app with rotating "
                        "refresh tokens (Okta's ROTATE), to watch the session keep the newest one")
    args = parser.parse_args(argv)
    sockets = tornado.netutil.bind_sockets(args.port, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    # On JupyterHub or Binder the browser reaches this port through jupyter-server-proxy.
    public_url = (args.public_url or sandbox_browser_base(f"http://127.0.0.1:{port}") or f"http://127.0.0.1:{port}")
    public_url = public_url.rstrip("/")
    if not public_url.startswith(("http://", "https://")):
        print(f"The browser reaches this server at {public_url}/, which is not a full address; give it with "
              "--public-url https://HOST/... (a redirect URI must be absolute).", file=sys.stderr)
        return 2
    try:
        config = start().config  # FORTELLIS_* settings or .env; the sandbox when there are none
        if config.sandbox:
            config = register_with_sandbox(config, public_url, "ROTATE" if args.rotate else None)
    except (FortellisError, requests.RequestException) as error:
        print(f"Could not set up the app: {error}", file=sys.stderr)
        return 2
    http = tornado.httpserver.HTTPServer(make_app(config, public_url, args.api_path))
    http.add_sockets(sockets)
    print(json.dumps({"url": public_url + "/", "port": port, "api_key": config.api_key,
                      "redirect_uri": config.redirect_uri, "issuer": config.issuer}), flush=True)
    print(f"Example backend at {public_url}/ . Ctrl+C stops it.", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        tornado.ioloop.IOLoop.current().start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
