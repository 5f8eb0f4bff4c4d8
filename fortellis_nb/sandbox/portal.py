"""The sandbox's own pages: home, the callback page, a developer portal to register
apps, sign-up for users, and small JSON endpoints for scripts and the instructor."""

from __future__ import annotations

import hmac
import json
import os
import shlex
import subprocess
import sys
import time
from urllib.parse import parse_qsl

import tornado.ioloop

from . import ids, inputs, marketplace
from .authority import DEMO_PASSWORD, SANDBOX_CALLBACK, SANDBOX_SIGNED_OUT
from .inputs import BadInput
from .storage import hash_password
from .web import SandboxHandler

MAX_REDIRECT_URIS = 10
MAX_LOCATIONS = 50


def status_command(state_dir) -> str:
    """The command that prints this sandbox's JSON line (the demo app's API Secret and the admin
    token included), with the Python this sandbox runs on: a bare ``python`` may be another one
    (a virtual environment that is not activated), for this system's shell."""
    words = [sys.executable, "-m", "fortellis_nb.sandbox", "status", "--state", str(state_dir)]
    return subprocess.list2cmdline(words) if os.name == "nt" else shlex.join(words)


def admin_token_where(state_dir) -> str:
    """Where the holder of a sandbox finds its admin token, said once for every page and answer."""
    return (f"the admin_token of the JSON line the sandbox printed when it started, or that "
            f"{status_command(state_dir)} prints")


class Home(SandboxHandler):
    def get(self):
        demo = self.store.app(self.store.meta("demo_api_key"))
        self.page("home.html", issuer=self.authority.issuer, demo=demo,
                  secret_command=status_command(self.authority.settings.state_dir),
                  consent=self.store.app(self.store.meta("consent_api_key")),
                  demo_redirects=self.authority.registered_redirect_uris(demo),
                  users=self.store.users(), password=DEMO_PASSWORD,
                  subscription_id=self.store.meta("demo_subscription_id"),
                  subscriptions_url=self.authority.subscriptions_url)


class Callback(SandboxHandler):
    """A page usable as a registered redirect URI: it shows the URL it was reached with, or,
    for ``response_mode=form_post``, what was posted to it."""

    def set_default_headers(self):
        super().set_default_headers()
        self.set_header("Referrer-Policy", "no-referrer")  # the code must not leak onward

    def get(self):
        params = dict(parse_qsl(self.request.query, keep_blank_values=True))
        base = self.browser_base()
        url = f"{base}{self.request.uri}" if base else self.request.full_url()
        self.show(url, params, posted=False)

    def post(self):
        try:
            params = self.form()
        except BadInput as bad:
            return self.error_page(400, "Bad request", "invalid_request", str(bad))
        base = self.browser_base()
        url = f"{base}{self.request.path}" if base else self.request.full_url()
        self.show(url, params, posted=True)

    def show(self, url: str, params: dict, *, posted: bool):
        code = params.get("code")
        kept = self.store.code(code) if code else None
        # The code's own clock, when this sandbox issued it (and its app's): the countdown is then exact.
        expires_in = (max(0, round(kept.expires - self.authority.now_for(kept.api_key)))
                      if kept is not None and kept.used is None else None)
        self.page("callback.html", url=url, code=code, posted=posted,
                  state=params.get("state"), error=params.get("error"),
                  error_description=params.get("error_description"),
                  code_lifetime=int(self.authority.settings.code_lifetime),
                  expires_in="" if expires_in is None else str(expires_in),
                  spent=kept is not None and kept.used is not None)


class CodeInfo(SandboxHandler):
    """When a code this sandbox issued was issued and expires, and whether it was used: the
    notebooks' countdown starts from the issue, not from when an address was pasted. A
    teaching aid of the sandbox's (Okta has no such endpoint); it takes the code in a POST
    body, never in a URL, and says nothing about a code it did not issue."""

    json_only = True

    def post(self):
        try:
            code = inputs.text(self.json_body().get("code", ""), "code", max_length=512)
        except BadInput as bad:
            return self.send_json({"error": "invalid_request", "error_description": str(bad)}, 400)
        kept = self.store.code(code) if code else None
        if kept is None:
            return self.send_json({"error": "unknown_code", "error_description": "This sandbox did not issue this "
                                   "code, or it was purged long after it expired."}, 404)
        self.send_json({"issued_at": kept.issued, "expires_at": kept.expires, "used_at": kept.used,
                        "lifetime": self.authority.settings.code_lifetime,
                        "now": self.authority.now_for(kept.api_key)})  # the code's app's clock judges it


class SignedOut(SandboxHandler):
    """Where /v1/logout sends the browser when the app names no sign-out redirect URI, and a
    sign-out redirect URI the demo apps register."""

    def get(self):
        self.page("signed_out.html", state=self.get_query_argument("state", None))


class CsrfForms(SandboxHandler):
    """A page whose forms carry a CSRF token, which a form posted back must repeat (the cookie's)."""

    def csrf_token(self) -> str:
        token = self.get_cookie(self.cookie_name("form")) or ids.opaque()
        self.set_cookie(self.cookie_name("form"), token, httponly=True, samesite="Strict", path="/")
        return token

    def form_csrf_ok(self, sent: str) -> bool:
        cookie = self.get_cookie(self.cookie_name("form")) or ""
        return bool(cookie) and hmac.compare_digest(cookie.encode(), sent.encode())  # bytes: any text

    def csrf_refused(self) -> None:
        self.error_page(403, "Form expired", "invalid_request", "The form's CSRF token does not match this "
                        "browser's cookie.", "Reload the page and submit the form again.")


class FormHandler(CsrfForms):
    """A portal page with a form (CSRF-protected) and the same action as JSON."""

    async def post(self):
        # The body is read as what it is; the answer is what web.answer_kind decides (JSON to a
        # script that sends or asks for JSON, a page to a browser).
        answer_json = self.answer_kind() == "json"
        fields: dict[str, str] = {}
        try:
            if self.media_type() == "application/json":
                data = self.json_body()
            else:
                fields = self.form()
                if not self.form_csrf_ok(fields.get("csrf", "")):
                    return self.csrf_refused()
                data = self.form_data(fields)
            result = await self.create(data)
        except BadInput as bad:
            if answer_json:
                return self.send_json({"error": "invalid_request", "error_description": str(bad)}, 400)
            return self.show_form(error=str(bad), status=400, typed=self.form_data(fields))  # nothing typed is lost
        if answer_json:
            self.send_json(result, 201)
        else:
            self.show_result(result)


def is_seconds(value, most: float) -> bool:
    """A JSON number (not a boolean) from 0 to ``most``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= most


def describe_app(authority, app) -> dict:
    """An app as the developer portal shows it (and its JSON answers)."""
    expand, settings = authority.expand_redirect_uri, authority.settings
    return {"api_key": app.api_key, "name": app.name, "public": app.public,
            "redirect_uris": authority.registered_redirect_uris(app),
            "post_logout_redirect_uris": [u for r in app.logout_uris for u in expand(r)],
            "consent_method": "REQUIRED" if app.consent else "TRUSTED",
            "rate_limit_per_minute": app.rate_limit or settings.rate_limit_per_minute,
            "refresh_token": {"rotation_type": app.rotation_type,
                              "leeway": settings.refresh_grace if app.leeway is None else app.leeway},
            "manual_approval": app.manual_approval, "apis": list(app.apis), "api_quota": app.api_quota}


class Apps(FormHandler):
    def get(self):
        if self.answer_kind() == "json":
            return self.send_json([self.describe(app) for app in self.store.apps()])
        self.show_form()

    def describe(self, app) -> dict:
        return describe_app(self.authority, app)

    def show_form(self, error: str = "", status: int = 200, typed: dict | None = None):
        typed = typed or {}
        self.page("apps.html", status, apps=[self.describe(a) for a in self.store.apps()], error=error,
                  csrf=self.csrf_token(), name=inputs.shown(typed.get("name")), public=typed.get("public") is True,
                  consent=typed.get("consent_method") == "REQUIRED",
                  manual_approval=typed.get("manual_approval") is True,
                  rotation=(typed.get("refresh_token") or {}).get("rotation_type", ""),
                  leeway=inputs.shown(str((typed.get("refresh_token") or {}).get("leeway", ""))),
                  callbacks=inputs.shown("\n".join(typed.get("redirect_uris") or []))
                  or f"{self.authority.public_base()}/callback/",
                  logout_uris=inputs.shown("\n".join(typed.get("post_logout_redirect_uris") or [])),
                  default_leeway=f"{self.authority.settings.refresh_grace:g}")

    def form_data(self, fields: dict) -> dict:
        return {"name": fields.get("name", ""), "redirect_uris": fields.get("redirect_uris", "").split(),
                "post_logout_redirect_uris": fields.get("post_logout_redirect_uris", "").split(),
                "public": fields.get("public", "") == "on",
                "consent_method": "REQUIRED" if fields.get("consent", "") == "on" else "TRUSTED",
                "manual_approval": fields.get("manual_approval", "") == "on",
                **self.rotation_fields(fields)}

    @staticmethod
    def rotation_fields(fields: dict) -> dict:
        """The form's refresh-token choice as the JSON's ``refresh_token`` (nothing: the default)."""
        kind, leeway = fields.get("rotation_type", ""), fields.get("leeway", "").strip()
        if not kind and not leeway:
            return {}
        settings: dict = {"rotation_type": kind} if kind else {}
        if leeway:
            try:
                settings["leeway"] = float(leeway) if "." in leeway else int(leeway)
            except ValueError:
                settings["leeway"] = leeway  # refused with the message below
        return {"refresh_token": settings}

    async def create(self, data: dict) -> dict:
        name = inputs.text(data.get("name", ""), "app name", max_length=100)
        uris = self.uri_list(data, "redirect_uris", "callback URLs", required=True)
        logout_uris = self.uri_list(data, "post_logout_redirect_uris", "sign-out redirect URLs", required=False)
        public = data.get("public", False)
        if not isinstance(public, bool):
            raise BadInput("'public' must be true or false.")
        consent = data.get("consent_method", "TRUSTED")
        if consent not in ("TRUSTED", "REQUIRED"):
            raise BadInput("'consent_method' is TRUSTED (no consent screen, the default) or REQUIRED (Okta's names).")
        rate_limit = data.get("rate_limit_per_minute")
        if rate_limit is not None and not (isinstance(rate_limit, int) and not isinstance(rate_limit, bool)
                                           and 1 <= rate_limit <= 100_000):
            raise BadInput("'rate_limit_per_minute' must be a whole number from 1 to 100000.")
        rotation, leeway = self.refresh_token_settings(data.get("refresh_token"), public)
        app, secret = self.store.add_app(name, uris, self.now, public=public, consent=consent == "REQUIRED",
                                         logout_uris=logout_uris, rate_limit=rate_limit, rotation=rotation,
                                         leeway=leeway, **self.marketplace_settings(data))
        # Like Fortellis: no Subscription-Id yet, until a dealer activates the app; `test` works at once.
        return {**self.describe(app), "api_secret": None if app.public else secret}

    @staticmethod
    def marketplace_settings(data: dict) -> dict:
        """How dealers activate the app (``manual_approval``: its developer approves each
        activation), the APIs it added (``apis``: the sample API's name, or none) and its quota of
        API calls (``api_quota``), as ``Store.add_app`` takes them."""
        manual, apis, quota = data.get("manual_approval", False), data.get("apis", [marketplace.SAMPLE_API]), \
            data.get("api_quota")
        if not isinstance(manual, bool):
            raise BadInput("'manual_approval' must be true or false.")
        if not isinstance(apis, list) or any(api != marketplace.SAMPLE_API for api in apis):
            raise BadInput(f"'apis' lists the APIs the app added: [\"{marketplace.SAMPLE_API}\"] (the sample API) "
                           "or [] (none: its calls are UNAUTHORIZED-API-ACCESS).")
        if quota is not None and not (isinstance(quota, int) and not isinstance(quota, bool) and 0 <= quota <= 10**6):
            raise BadInput("'api_quota' must be a whole number of API calls from 0 to 1000000 (or null: no quota).")
        return {"manual_approval": manual, "apis": tuple(apis), "api_quota": quota}

    @staticmethod
    def refresh_token_settings(settings, public: bool) -> tuple[str | None, float | None]:
        """Okta's ``settings.oauthClient.refresh_token``: ``rotation_type`` ROTATE or STATIC,
        ``leeway`` 0 to 60 seconds. Left out: Okta's defaults (public apps rotate, 30 s)."""
        if settings is None:
            return None, None
        if not isinstance(settings, dict) or set(settings) - {"rotation_type", "leeway"}:
            raise BadInput("'refresh_token' is an object with 'rotation_type' (ROTATE or STATIC) and 'leeway' "
                           "(0 to 60 seconds), as in Okta's app settings.")
        rotation = settings.get("rotation_type")
        if rotation is not None and rotation not in ("ROTATE", "STATIC"):
            raise BadInput("'refresh_token.rotation_type' is ROTATE (a new refresh token at every refresh) or "
                           "STATIC (the same one each time), Okta's names.")
        leeway = settings.get("leeway")
        if leeway is not None and not is_seconds(leeway, 60):
            raise BadInput("'refresh_token.leeway' is a number of seconds from 0 to 60 (Okta's range): how long "
                           "a rotated-out refresh token still works.")
        if rotation is None and leeway is not None and not public:
            raise BadInput("'refresh_token.leeway' applies to rotating refresh tokens: give 'rotation_type': "
                           "'ROTATE' with it.")
        return rotation, None if leeway is None else float(leeway)

    def uri_list(self, data: dict, field: str, what: str, *, required: bool) -> list[str]:
        uris = data.get(field, [])
        if isinstance(uris, str):
            uris = [uris]
        if not isinstance(uris, list) or not (1 if required else 0) <= len(uris) <= MAX_REDIRECT_URIS:
            raise BadInput(f"Give {1 if required else 0} to {MAX_REDIRECT_URIS} {what} ({field}).")
        return [self.registered_form(inputs.redirect_uri(u)) for u in uris]

    def registered_form(self, uri: str) -> str:
        """How a (valid) callback URL is kept: this sandbox's own pages as placeholders, so they
        follow the sandbox to whatever address it is reached at."""
        for base in {self.authority.base_url, self.authority.public_base()}:
            for page, placeholder in ((f"{base}/callback/", SANDBOX_CALLBACK), (f"{base}/signed-out/", SANDBOX_SIGNED_OUT)):
                if uri == page:
                    return placeholder
        return uri

    def show_result(self, result: dict):
        self.page("app_created.html", app=result)


class Users(FormHandler):
    def get(self):
        users = [self.describe(u) for u in self.store.users()]
        if self.answer_kind() == "json":
            return self.send_json(users)
        self.show_form()

    @staticmethod
    def describe(user) -> dict:
        return {"id": user.id, "username": user.username, "name": user.name, "email": user.email_address,
                "claims": user.claims}

    def show_form(self, error: str = "", status: int = 200, created=None, typed: dict | None = None):
        typed = typed or {}  # shown again, but never the password
        claims = typed.get("claims")
        self.page("users.html", status, users=[self.describe(u) for u in self.store.users()], error=error,
                  csrf=self.csrf_token(), created=created, username=inputs.shown(typed.get("username")),
                  name=inputs.shown(typed.get("name")), email=inputs.shown(typed.get("email")),
                  claims=inputs.shown(claims if isinstance(claims, str) else json.dumps(claims) if claims else ""))

    def form_data(self, fields: dict) -> dict:
        return {k: fields.get(k, "") for k in ("username", "password", "name", "email", "claims")}

    async def create(self, data: dict) -> dict:
        username = inputs.username(data.get("username", ""))
        password = inputs.text(data.get("password", ""), "password", min_length=8, max_length=1024, strip=False)
        name = inputs.text(data.get("name") or username, "name", max_length=100)
        email = inputs.email(data["email"]) if data.get("email") else None
        claims = inputs.claims(data.get("claims"))
        if self.store.user_by_name(username):
            raise BadInput(f"There is already a user {username!r}.")
        # The hash is slow on purpose: computed on a worker thread (it releases the GIL), so a room
        # signing up at once does not stall everyone else's requests.
        hashed = await tornado.ioloop.IOLoop.current().run_in_executor(None, hash_password, password)
        if self.store.user_by_name(username):  # another sign-up took the name meanwhile
            raise BadInput(f"There is already a user {username!r}.")
        user = self.store.add_user(username, hashed, name, self.now, email=email, claims=claims)
        return self.describe(user)

    def show_result(self, result: dict):
        self.show_form(created=result)


class MarketplacePage(FormHandler):
    """Fortellis' Marketplace played in the sandbox (``marketplace.py`` has its rules): dealers
    activate apps for some of their locations, developers approve and anyone deactivates. Each
    step is a form on the subscriptions page and the same step as JSON."""

    def listed(self) -> list[dict]:
        names = {app.api_key: app.name for app in self.store.apps()}
        return [self.describe(row, names.get(row["api_key"])) for row in self.store.all_subscriptions()]

    @staticmethod
    def describe(row, app_name) -> dict:
        return {"subscription_id": row["id"], "api_key": row["api_key"], "app": app_name,
                "dealership": row["dealership"], "org_id": row["org_id"],
                "entity_ids": json.loads(row["entity_ids"]), "status": row["status"],
                "activation_date": row["activation_date"], "deactivation_date": row["deactivation_date"]}

    def location_names(self) -> dict[str, str]:
        """Each location's name by its id (a dealer that is its own location by the dealer's id)."""
        names: dict[str, str] = {}
        for org in self.store.organizations():
            names[org["id"]] = org["name"]
            names.update((loc["id"], loc["name"]) for loc in self.store.locations(org["id"]))
        return names

    def dealers(self) -> list[dict]:
        return [{"org_id": org["id"], "name": org["name"],
                 "locations": [{"entity_id": loc["id"], "name": loc["name"]} for loc in self.store.locations(org["id"])]}
                for org in self.store.organizations()]

    def show_form(self, error: str = "", status: int = 200, typed: dict | None = None, created=None):
        typed = typed or {}
        self.page("subscriptions.html", status, subscriptions=self.listed(), apps=self.store.apps(),
                  dealers=self.dealers(), location_names=self.location_names(), error=error, csrf=self.csrf_token(), created=created,
                  api_key=inputs.shown(typed.get("api_key")), dealership=inputs.shown(typed.get("dealership")),
                  org_id=typed.get("org_id") or "", dealer_name=inputs.shown(typed.get("name")),
                  dealer_locations=inputs.shown("\n".join(typed.get("locations") or [])))

    #: What the step did, as the page says it (filled in from the subscription's description).
    done = "{dealership} activated {app}"

    def show_result(self, result: dict):
        self.show_form(created={**result, "said": self.done.format(**result)})

    def known(self, subscription_id: str) -> dict:
        row = self.store.subscription(subscription_id)
        return self.describe(row, self.store.known_app(row["api_key"]).name)


class Subscriptions(MarketplacePage):
    """A dealer activating an app in Fortellis' Marketplace: that makes the Subscription-Id the
    app sends with its API calls for that dealer. (``test`` is the sample dealership every app
    may use at once.) ``org_id`` and ``entity_ids`` choose a dealer and its locations; a
    ``dealership`` name instead makes a new dealer of that name, its own one location."""

    def get(self):
        if self.answer_kind() == "json":
            return self.send_json(self.listed())
        self.show_form()

    def form_data(self, fields: dict) -> dict:
        chosen = [name.removeprefix("entity_") for name, value in fields.items()
                  if name.startswith("entity_") and value == "on"]
        return {"api_key": fields.get("api_key", ""), "dealership": fields.get("dealership", ""),
                "org_id": fields.get("org_id", ""), "entity_ids": chosen}

    async def create(self, data: dict) -> dict:
        api_key = inputs.text(data.get("api_key", ""), "API Key", max_length=64)
        app = self.store.app(api_key)
        if app is None:
            raise BadInput(f"No app has the API Key {api_key!r}: register the app first.")
        entity_ids = data.get("entity_ids") or []
        if not isinstance(entity_ids, list) or len(entity_ids) > MAX_LOCATIONS:
            raise BadInput(f"'entity_ids' is a list of at most {MAX_LOCATIONS} of the dealer's locations.")
        entity_ids = [inputs.text(e, "location (entity) id", max_length=64) for e in entity_ids]
        with self.store.transaction():
            if data.get("org_id"):
                org_id = inputs.text(data["org_id"], "dealer (org_id)", max_length=64)
            else:
                name = inputs.text(data.get("dealership") or "Sandbox Dealership", "dealership name", max_length=100)
                org_id = self.store.add_organization(name)
            subscription_id = marketplace.activate(self.store, app, org_id, entity_ids, self.now)
        return self.known(subscription_id)


class Dealers(MarketplacePage):
    """The Marketplace's dealers (organizations) and their locations (entities): ``GET`` lists
    them, ``POST {"name", "locations": [names]}`` adds one (none: the dealer is its one location)."""

    def get(self):
        if self.answer_kind() == "json":
            return self.send_json(self.dealers())
        self.show_form()

    def form_data(self, fields: dict) -> dict:
        return {"name": fields.get("name", ""), "locations": fields.get("locations", "").splitlines()}

    async def create(self, data: dict) -> dict:
        name = inputs.text(data.get("name", ""), "dealer's name", max_length=100)
        names = data.get("locations") or []
        if not isinstance(names, list) or len(names) > MAX_LOCATIONS:
            raise BadInput(f"'locations' is a list of at most {MAX_LOCATIONS} location names.")
        names = [inputs.text(n, "location name", max_length=100) for n in names if not isinstance(n, str) or n.strip()]
        with self.store.transaction():
            org_id = self.store.add_organization(name)
            for location in names:
                self.store.add_organization(location, parent_id=org_id)
        return next(d for d in self.dealers() if d["org_id"] == org_id)

    def show_result(self, result: dict):
        self.show_form()


class SubscriptionStep(MarketplacePage):
    """``POST {"subscription_id"}``: one step of a subscription's life (``step``)."""

    def form_data(self, fields: dict) -> dict:
        return {"subscription_id": fields.get("subscription_id", "")}

    async def create(self, data: dict) -> dict:
        subscription_id = inputs.text(data.get("subscription_id", ""), "Subscription-Id", max_length=64)
        self.step(subscription_id)
        return self.known(subscription_id)

    def step(self, subscription_id: str) -> None:
        raise NotImplementedError


class ApproveSubscription(SubscriptionStep):
    """The app's developer approves a pending activation (an app set for manual approval)."""

    done = "{app}'s developer approved the activation by {dealership}"

    def step(self, subscription_id: str) -> None:
        marketplace.approve(self.store, subscription_id)


class DeactivateSubscription(SubscriptionStep):
    """The dealer deactivates the app (or the developer ends the subscription)."""

    done = "{dealership} deactivated {app}"

    def step(self, subscription_id: str) -> None:
        marketplace.deactivate(self.store, subscription_id, self.now)


#: This code's fingerprint, once per process (the launcher replaces a sandbox of other code).
BUILD = ids.build_id()


class Health(SandboxHandler):
    json_only = True

    def get(self):
        self.send_json({"status": "ok", "sandbox": True, "server_id": self.authority.server_id,
                        "issuer": self.authority.issuer, "pid": os.getpid(), "build": BUILD})


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
        self.page("instructor.html", admin_token_where=self.admin_token_where(), rows=None, error="")

    def admin_token_where(self) -> str:
        return admin_token_where(self.authority.settings.state_dir)

    def post(self):
        try:
            token = self.form().get("admin_token", "").strip()
        except BadInput:
            token = ""
        if not token or not self.authority.admin_token_matches(token):
            return self.page("instructor.html", 401, admin_token_where=self.admin_token_where(), rows=None,
                             error=f"That is not this sandbox's admin token: {self.admin_token_where()}.")
        rows = [{**row, "when": time.strftime("%H:%M:%S", time.gmtime(row["last"])) if row["last"] else ""}
                for row in progress(self.store)]
        self.page("instructor.html", admin_token_where=self.admin_token_where(), rows=rows, error="")


class AdminAction(SandboxHandler):
    """An instructor action, for the holder of the admin token (``admin_token_where``): one
    route each (``server.make_app``).
    ``POST shutdown`` is how ``python -m fortellis_nb.sandbox stop`` stops it on every system."""

    json_only = True
    #: The method the action is asked for with (the one the subclass defines).
    method = "GET"

    def initialize(self, authority, shutdown=None):
        super().initialize(authority)
        self.shutdown = shutdown  # what stops the server (POST shutdown)

    def prepare(self):
        scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not self.authority.admin_token_matches(token.strip()):
            self.send_json({"error": "unauthorized", "error_description": "Send 'Authorization: Bearer <admin_token>' "
                            f"with {admin_token_where(self.authority.settings.state_dir)}."}, 401)

    def write_error(self, status_code: int, **kwargs):
        if status_code != 405:
            return super().write_error(status_code, **kwargs)
        action = self.request.path.rsplit("/", 1)[-1]
        self.set_header("Allow", self.method)
        self.send_json({"error": "method_not_allowed", "error_description": f"{action} is asked for with "
                        f"{self.method}, not {self.request.method}."}, 405)


class AdminProgress(AdminAction):
    def get(self):
        self.send_json(progress(self.store))


class AdminActivity(AdminAction):
    def get(self):
        self.send_json([{"api_key": r["api_key"], "kind": r["kind"], "count": r["count"], "last": r["last"]}
                        for r in self.store.activity()])


class AdminRotateKeys(AdminAction):
    method = "POST"

    def post(self):
        self.send_json({"kid": self.authority.rotate_keys(), "jwks": self.authority.jwks()})


class AdminShutdown(AdminAction):
    method = "POST"

    async def post(self):
        if self.shutdown is None:  # a server without a way to stop (make_app without ``shutdown``)
            return self.send_json({"error": "not_found", "error_description": "This server cannot be stopped "
                                   "from here."}, 404)
        await self.send_json({"stopping": True}, 202)  # written before the server stops
        self.shutdown()


class AdminUnknown(AdminAction):
    """An action there is not: 404, with the list of those there are (``actions``: each
    action's name and class, as the route table has them)."""

    def initialize(self, authority, shutdown=None, actions: dict | None = None):
        super().initialize(authority, shutdown)
        self.actions = actions or {}

    def not_found(self, action: str):
        listed = ", ".join(f"{handler.method} {name}" for name, handler in self.actions.items())
        self.send_json({"error": "not_found", "error_description": f"There is no admin action {action!r}. "
                        f"The actions: {listed}."}, 404)

    get = post = put = delete = patch = not_found
