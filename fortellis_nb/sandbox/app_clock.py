"""One app's clock, moved by its developer (``clock.AppClocks`` holds it; ``clock.py`` says what
it moves and what it does not): from the app's page in the developer portal, and from a
script or a notebook's cell as JSON. A lesson aid of this sandbox's, on none of Okta's paths:
neither Fortellis nor Okta lets anyone move their clock.

The sandbox keeps no developer accounts (``marketplace.DEVELOPER``): the app's API Secret is
what proves the app is yours, typed into the page's form or sent as the app's Basic
credentials, as at the token endpoint. A public app has no secret, so nothing proves whose
it is, and its clock is not moved."""

from __future__ import annotations

from datetime import timedelta

from . import grants
from .clock import offset_from
from .inputs import BadInput
from .okta import OAuthError
from .portal import CsrfForms, describe_app
from .storage import App
from .web import SandboxHandler

NOT_FOR_PUBLIC_APPS = ("A public app has no API Secret to prove it is yours, so its clock cannot be moved: use a "
                       "confidential app (one with an API Secret) for this lesson.")


def in_words(seconds: float) -> str:
    """A length of time as a person says it: "7 days and 1 second" (whole seconds)."""
    rest, parts = round(seconds), []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    if not parts:
        return "no time"
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def moves(settings) -> dict[str, tuple[float, str]]:
    """The page's buttons: each moves the clock a lifetime of ``settings`` and a second further
    (seconds, what it shows), so the code, the access token or the refresh token is just past it."""
    return {
        "code": (settings.code_lifetime + 1, "past an authorization code's lifetime"),
        "token": (settings.token_lifetime + 1, "past an access token's lifetime"),
        "refresh": (settings.refresh_idle_lifetime + 1, "past a refresh token's idle lifetime (unused that long)"),
    }


def clock_of(authority, app: App) -> dict:
    """The app's clock as the page and the JSON show it."""
    offset = authority.app_clocks.offset(app.api_key)
    return {"client_id": app.api_key, "offset_seconds": offset.total_seconds(), "now": authority.now_for(app.api_key),
            "sandbox_now": authority.now}


class AppPage(CsrfForms):
    """``/sandbox/apps/<API Key>``: the app as the portal shows it, and its clock. ``POST`` is
    the clock's form: the API Secret, and the button pressed (``move``, one of ``moves`` or
    ``real``: back to the sandbox's time); each move adds to the one before."""

    def get(self, api_key: str):
        app = self.store.app(api_key)
        if app is None:
            return self.unknown(api_key)
        if self.answer_kind() == "json":
            return self.send_json({**describe_app(self.authority, app), "clock": clock_of(self.authority, app)})
        self.show(app)

    def post(self, api_key: str):
        app = self.store.app(api_key)
        if app is None:
            return self.unknown(api_key)
        try:
            fields = self.form()
        except BadInput as bad:
            return self.show(app, error=str(bad), status=400)
        if not self.form_csrf_ok(fields.get("csrf", "")):
            return self.csrf_refused()
        if app.public:
            return self.show(app, error=NOT_FOR_PUBLIC_APPS, status=403)
        if not app.secret_matches(fields.get("api_secret", "")):
            return self.show(app, error=f"That is not the API Secret of {app.name}: only its developer moves its "
                             "clock.", status=403)
        try:
            self.authority.app_clocks.set(app.api_key, self.moved(app, fields.get("move", "")))
        except BadInput as bad:
            return self.show(app, error=str(bad), status=400)
        self.show(app, moved=True)

    def moved(self, app: App, move: str) -> timedelta:
        """The offset after the button ``move``; BadInput past a year ahead, or for no such button."""
        if move == "real":
            return timedelta()
        if move not in moves(self.authority.settings):
            raise BadInput(f"There is no move {move[:20]!r}: press one of the page's buttons.")
        step = moves(self.authority.settings)[move][0]
        return offset_from((self.authority.app_clocks.offset(app.api_key) + timedelta(seconds=step)).total_seconds())

    def show(self, app: App, *, error: str = "", status: int = 200, moved: bool = False):
        offset = self.authority.app_clocks.offset(app.api_key).total_seconds()
        self.page("app.html", status, app=describe_app(self.authority, app), error=error, moved=moved,
                  csrf=self.csrf_token(), ahead=in_words(offset) if offset else "",
                  moves=[(name, in_words(seconds), why) for name, (seconds, why) in
                         moves(self.authority.settings).items()])

    def unknown(self, api_key: str):
        description = f"No app has the API Key {api_key[:64]!r} in this sandbox."
        if self.answer_kind() == "json":
            return self.send_json({"error": "not_found", "error_description": description}, 404)
        self.error_page(404, "No such app", "not_found", description,
                        "The portal's apps page lists every app registered here.")


class AppClock(SandboxHandler):
    """``/sandbox/clock``, for a script or a notebook's cell: ``GET`` the clock of the app whose
    Basic credentials (API Key and API Secret) come with the request; ``POST
    {"offset_seconds": N}`` sets it N seconds ahead of the sandbox's time (0: the sandbox's time
    again). Both answer ``clock_of``; errors are JSON with a 4xx status: Okta's ``invalid_client``
    (401) for credentials that are missing or wrong or name no app, 403 for a public app, 400 for
    an offset that is no number of seconds from 0 to a year."""

    json_only = True

    def get(self):
        app = self.owner()
        if app is not None:
            self.send_json(clock_of(self.authority, app))

    def post(self):
        app = self.owner()
        if app is None:
            return
        try:
            offset = offset_from(self.json_body().get("offset_seconds"))
        except BadInput as bad:
            return self.send_json({"error": "invalid_request", "error_description": str(bad)}, 400)
        self.authority.app_clocks.set(app.api_key, offset)
        self.send_json(clock_of(self.authority, app))

    def owner(self) -> App | None:
        """The app the request's Basic credentials prove, or None once refused."""
        try:
            app = grants.authenticate_client(self.store, self.request.headers.get("Authorization"), {}, {})
        except OAuthError as err:
            self.oauth_error(err.status, err.error, err.description)
            return None
        if app.public:
            self.send_json({"error": "forbidden", "error_description": NOT_FOR_PUBLIC_APPS}, 403)
            return None
        return app
