"""The sandbox's own pages: home, the callback page, a developer portal to register
apps, sign-up for users, and small JSON endpoints for scripts and the instructor."""

from __future__ import annotations

import hmac
import os
import re
import time
from urllib.parse import parse_qsl

import tornado.ioloop

from . import ids
from .authority import DEMO_PASSWORD, SANDBOX_CALLBACK
from .storage import hash_password
from . import inputs
from .inputs import BadInput
from .web import SandboxHandler

MAX_REDIRECT_URIS = 10


class Home(SandboxHandler):
    def get(self):
        demo = self.store.app(self.store.meta("demo_api_key"))
        self.page("home.html", issuer=self.authority.issuer, demo=demo,
                  demo_redirects=self.authority.registered_redirect_uris(demo),
                  users=self.store.users(), password=DEMO_PASSWORD,
                  subscription_id=self.store.meta("demo_subscription_id"))


class Callback(SandboxHandler):
    """A page usable as a registered redirect URI: it shows the URL it was reached with."""

    def set_default_headers(self):
        super().set_default_headers()
        self.set_header("Referrer-Policy", "no-referrer")  # the code must not leak onward

    def get(self):
        params = dict(parse_qsl(self.request.query, keep_blank_values=True))
        base = self.browser_base()
        url = f"{base}{self.request.uri}" if base else self.request.full_url()
        self.page("callback.html", url=url, code=params.get("code"),
                  state=params.get("state"), error=params.get("error"),
                  error_description=params.get("error_description"),
                  code_lifetime=int(self.authority.settings.code_lifetime))


class FormHandler(SandboxHandler):
    """A portal page with a form (CSRF-protected) and the same action as JSON."""

    def csrf_token(self) -> str:
        token = self.get_cookie(self.cookie_name("form")) or ids.opaque()
        self.set_cookie(self.cookie_name("form"), token, httponly=True, samesite="Strict", path="/")
        return token

    def form_csrf_ok(self, sent: str) -> bool:
        cookie = self.get_cookie(self.cookie_name("form")) or ""
        return bool(cookie) and hmac.compare_digest(cookie.encode(), sent.encode())  # bytes: any text

    async def post(self):
        is_json = self.media_type() == "application/json"
        fields: dict[str, str] = {}
        try:
            if is_json:
                data = self.json_body()
            else:
                fields = self.form()
                if not self.form_csrf_ok(fields.get("csrf", "")):
                    return self.error_page(403, "Form expired", "invalid_request",
                                           "The form's CSRF token does not match this browser's cookie.",
                                           "Reload the page and submit the form again.")
                data = self.form_data(fields)
            result = await self.create(data)
        except BadInput as bad:
            if is_json:
                return self.send_json({"error": "invalid_request", "error_description": str(bad)}, 400)
            return self.show_form(error=str(bad), status=400, typed=self.form_data(fields))  # nothing typed is lost
        if is_json:
            self.send_json(result, 201)
        else:
            self.show_result(result)


class Apps(FormHandler):
    def get(self):
        if self.wants_json():
            return self.send_json([self.describe(app) for app in self.store.apps()])
        self.show_form()

    def describe(self, app) -> dict:
        return {"api_key": app.api_key, "name": app.name, "public": app.public,
                "redirect_uris": self.authority.registered_redirect_uris(app)}

    def show_form(self, error: str = "", status: int = 200, typed: dict | None = None):
        typed = typed or {}
        self.page("apps.html", status, apps=[self.describe(a) for a in self.store.apps()], error=error,
                  csrf=self.csrf_token(), name=inputs.shown(typed.get("name")), public=typed.get("public") is True,
                  callbacks=inputs.shown("\n".join(typed.get("redirect_uris") or []))
                  or f"{self.authority.public_base()}/callback/")

    def form_data(self, fields: dict) -> dict:
        return {"name": fields.get("name", ""), "redirect_uris": fields.get("redirect_uris", "").split(),
                "public": fields.get("public", "") == "on"}

    async def create(self, data: dict) -> dict:
        name = inputs.text(data.get("name", ""), "app name", max_length=100)
        uris = data.get("redirect_uris")
        if isinstance(uris, str):
            uris = [uris]
        if not isinstance(uris, list) or not 1 <= len(uris) <= MAX_REDIRECT_URIS:
            raise BadInput(f"Give 1 to {MAX_REDIRECT_URIS} callback URLs (redirect_uris).")
        public = data.get("public", False)
        if not isinstance(public, bool):
            raise BadInput("'public' must be true or false.")
        stored = [self.registered_form(inputs.redirect_uri(u)) for u in uris]
        app, secret = self.store.add_app(name, stored, self.now, public=public)
        subscription_id = self.store.add_subscription(app.api_key, f"{name} Test Dealership")
        return {**self.describe(app), "api_secret": None if app.public else secret,
                "subscription_id": subscription_id}

    def registered_form(self, uri: str) -> str:
        """How a (valid) callback URL is kept: this sandbox's own callback page as a placeholder,
        so it follows the sandbox to whatever address it is reached at."""
        for base in {self.authority.base_url, self.authority.public_base()}:
            if uri == f"{base}/callback/":
                return SANDBOX_CALLBACK
        return uri

    def show_result(self, result: dict):
        self.page("app_created.html", app=result)


class Users(FormHandler):
    def get(self):
        users = [{"id": u.id, "username": u.username, "name": u.name} for u in self.store.users()]
        if self.wants_json():
            return self.send_json(users)
        self.show_form()

    def show_form(self, error: str = "", status: int = 200, created=None, typed: dict | None = None):
        typed = typed or {}  # shown again, but never the password
        self.page("users.html", status, users=self.store.users(), error=error, csrf=self.csrf_token(),
                  created=created, username=inputs.shown(typed.get("username")), name=inputs.shown(typed.get("name")))

    def form_data(self, fields: dict) -> dict:
        return {k: fields.get(k, "") for k in ("username", "password", "name")}

    async def create(self, data: dict) -> dict:
        username = inputs.username(data.get("username", ""))
        password = inputs.text(data.get("password", ""), "password", min_length=8, max_length=1024, strip=False)
        name = inputs.text(data.get("name") or username, "name", max_length=100)
        if self.store.user_by_name(username):
            raise BadInput(f"There is already a user {username!r}.")
        # The hash is slow on purpose: computed on a worker thread (it releases the GIL), so a room
        # signing up at once does not stall everyone else's requests.
        hashed = await tornado.ioloop.IOLoop.current().run_in_executor(None, hash_password, password)
        if self.store.user_by_name(username):  # another sign-up took the name meanwhile
            raise BadInput(f"There is already a user {username!r}.")
        user = self.store.add_user(username, hashed, name, self.now)
        return {"id": user.id, "username": user.username, "name": user.name}

    def show_result(self, result: dict):
        self.show_form(created=result)


class Health(SandboxHandler):
    def get(self):
        self.send_json({"status": "ok", "sandbox": True, "server_id": self.authority.server_id,
                        "issuer": self.authority.issuer, "pid": os.getpid()})


PROGRESS_KINDS = (("exchange", "exchanges"), ("refresh", "refreshes"), ("api_call", "api_calls"),
                  ("client_credentials", "client_credentials"))


def progress(store) -> list[dict]:
    """Per app, how far its developer got: successful code exchanges, refreshes and API calls
    (and client-credentials tokens), with the time of the latest. Apps without any come too."""
    counts: dict[str, dict] = {}
    for row in store.activity():
        entry = counts.setdefault(row["api_key"], {"last": None})
        entry[row["kind"]] = row["count"]
        entry["last"] = max(entry["last"] or 0, row["last"])
    rows = []
    for app in store.apps():
        entry = counts.get(app.api_key, {"last": None})
        rows.append({"api_key": app.api_key, "name": app.name,
                     **{label: entry.get(kind, 0) for kind, label in PROGRESS_KINDS}, "last": entry["last"]})
    return rows


class Instructor(SandboxHandler):
    """A page for the room's projector: every app's progress, for the holder of the admin token."""

    def get(self):
        self.page("instructor.html", rows=None, error="")

    def post(self):
        try:
            token = self.form().get("admin_token", "").strip()
        except BadInput:
            token = ""
        if not token or not self.authority.admin_token_matches(token):
            return self.page("instructor.html", 401, rows=None,
                             error="That is not the admin token this sandbox printed when it started.")
        rows = [{**row, "when": time.strftime("%H:%M:%S", time.gmtime(row["last"])) if row["last"] else ""}
                for row in progress(self.store)]
        self.page("instructor.html", rows=rows, error="")


class Admin(SandboxHandler):
    """Instructor actions, for the holder of the admin token the sandbox printed at start;
    ``POST shutdown`` is how ``python -m fortellis_nb.sandbox stop`` stops it on every system."""

    def initialize(self, authority, shutdown=None):
        super().initialize(authority)
        self.shutdown = shutdown

    def prepare(self):
        scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not self.authority.admin_token_matches(token.strip()):
            self.send_json({"error": "unauthorized", "error_description": "Send 'Authorization: Bearer <admin_token>' "
                            "with the admin token the sandbox printed when it started."}, 401)

    ACTIONS = {"progress": "GET", "activity": "GET", "rotate-keys": "POST", "shutdown": "POST"}

    def unknown(self, action: str):
        """404 for an action there is not, 405 (with Allow) for one asked with the wrong method."""
        method = self.ACTIONS.get(action)
        if method is None:
            listed = ", ".join(f"{m} {a}" for a, m in self.ACTIONS.items())
            return self.send_json({"error": "not_found", "error_description": f"There is no admin action "
                                   f"{action!r}. The actions: {listed}."}, 404)
        self.set_header("Allow", method)
        self.send_json({"error": "method_not_allowed", "error_description": f"{action} is asked for with "
                        f"{method}, not {self.request.method}."}, 405)

    def get(self, action: str):
        if action == "progress":
            return self.send_json(progress(self.store))
        if action != "activity":
            return self.unknown(action)
        self.send_json([{"api_key": r["api_key"], "kind": r["kind"], "count": r["count"], "last": r["last"]}
                        for r in self.store.activity()])

    async def post(self, action: str):
        if action == "shutdown" and self.shutdown is not None:
            await self.send_json({"stopping": True}, 202)  # written before the server stops
            self.shutdown()
            return
        if action != "rotate-keys":
            return self.unknown(action)
        self.send_json({"kid": self.authority.rotate_keys(), "jwks": self.authority.jwks()})
