"""The sandbox's own pages, which no real identity server has: its health, a code's issue
time, app registration and an app's clock. Each is asked as JSON, and each exchange lands in the transcript.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..oauth import errors
from ..oauth.tokens import basic_authorization
from ..oauth.transcript import Http

HEALTH = "/sandbox/health"
CODES = "/sandbox/codes"
APPS = "/sandbox/apps"
APP_CLOCK = "/sandbox/clock"
JSON = {"Accept": "application/json"}


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def health(url: str, http: Http | None = None) -> dict | None:
    """The sandbox's health document if ``url`` is served by a sandbox, else None."""
    try:
        exchange = (http or Http()).send("GET", origin(url) + HEALTH, headers=JSON, label="Is this the sandbox?")
        document = exchange.json() if exchange.status == 200 else None
    except errors.NetworkError:
        return None
    if isinstance(document, dict) and document.get("sandbox") is True and document.get("status") == "ok":
        return document
    return None


def serves_issuer(issuer: str, http: Http | None = None) -> bool:
    """True when ``issuer`` is a sandbox's own: a workshop room's sandbox named by FORTELLIS_ISSUER,
    or one standing in for Fortellis. Only plain http issuers are asked (settings accept http
    only on this machine or at a private address): an https server is never sent this question."""
    if not issuer.startswith("http://"):
        return False
    document = health(issuer, http)
    return document is not None and document.get("issuer") == issuer


def code_times(issuer: str, code: str, http: Http | None = None) -> dict | None:
    """When the sandbox issued ``code`` and when it expires (``issued_at``, ``expires_at``,
    ``used_at``, ``lifetime``, and the sandbox's ``now``), or None when it cannot say. The
    code goes in a POST body to the sandbox that issued it, never in a URL."""
    try:
        exchange = (http or Http()).send("POST", origin(issuer) + CODES, json_body={"code": code}, headers=JSON,
                                         label="When was the code issued? (sandbox)")
        document = exchange.json() if exchange.status == 200 else None
    except errors.NetworkError:
        return None
    if isinstance(document, dict) and all(isinstance(document.get(k), (int, float)) for k in ("expires_at", "now")):
        return document
    return None


def register_app(base_url: str, fields: dict, http: Http) -> dict:
    """Register an app with the sandbox; its answer (``api_key``, ``api_secret``...)."""
    exchange = http.send("POST", base_url.rstrip("/") + APPS, json_body=fields, headers=JSON,
                         label="Register an app (sandbox)")
    made = exchange.json()
    if not exchange.ok or not isinstance(made, dict) or "api_key" not in made:
        message = made.get("error_description") if isinstance(made, dict) else None
        raise errors.FortellisError(f"The sandbox did not register the app: {message or exchange.status}",
                                    error="registration_failed", exchange=exchange)
    return made


def app_clock(issuer: str, api_key: str, api_secret: str | None, http: Http,
              offset_seconds: float | None = None) -> dict:
    """The clock of the app these credentials prove, on the sandbox that is ``issuer``
    (``offset_seconds`` ahead of the sandbox's time, its ``now`` and ``sandbox_now``): read, or
    set ``offset_seconds`` ahead. FortellisError with the sandbox's words when it refuses."""
    headers = {**JSON, "Authorization": basic_authorization(api_key, api_secret or "")}
    url = origin(issuer) + APP_CLOCK
    if offset_seconds is None:
        exchange = http.send("GET", url, headers=headers, label="How far ahead is the app's clock? (sandbox)")
    else:
        exchange = http.send("POST", url, headers=headers, json_body={"offset_seconds": offset_seconds},
                             label=f"Set the app's clock {offset_seconds:g} s ahead (sandbox)")
    answer = exchange.json()
    if not exchange.ok or not isinstance(answer, dict) or not isinstance(answer.get("offset_seconds"), (int, float)):
        said = answer if isinstance(answer, dict) else {}
        raise errors.FortellisError(f"The sandbox did not move the app's clock: "
                                    f"{said.get('error_description') or exchange.status}",
                                    error=said.get("error") or "app_clock_refused", exchange=exchange)
    return answer
