"""The sandbox's own pages, which no real identity server has: its health, a code's issue
time, and app registration. Each is asked as JSON, and each exchange lands in the transcript.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..oauth import errors
from ..oauth.transcript import Http

HEALTH = "/sandbox/health"
CODES = "/sandbox/codes"
APPS = "/sandbox/apps"
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
