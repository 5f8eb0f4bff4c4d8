"""What a learner can do about an error a server answered: one table, keyed by the error
code and the step that got it, and the facts its sentences quote.

A hint is chosen by the error code and by what this client knows it sent (credentials, a
code_verifier, which redirect_uri, how old the code is, whether it was sent before), never by
the server's wording: Okta, Authlib and the sandbox word the same error differently, and a
release can reword it. The server's words are shown as they are, as the error's description.

Hints that depend on nothing but the error live with its class (``errors.*.default_hint``);
a sentence both need is written here once and used there.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

from .redact import shorten

#: Seconds an authorization code can be exchanged; the tutorial: "You can exchange the
#: authorization code for a token for 60 seconds."
CODE_LIFETIME = 60
#: Seconds an access token lives: the tutorial's ``expires_in`` (Okta's default).
ACCESS_TOKEN_LIFETIME = 3600
#: Days a refresh token may go unused before it expires (Okta's default, the sandbox's too).
REFRESH_IDLE_DAYS = 7
#: Okta's answer (the sandbox's too) to a refresh that asks for a scope the original grant
#: lacks; RFC 6749 names invalid_scope for it, which other servers answer.
WIDER_SCOPE_ON_REFRESH = "access_denied"

# --- sentences written once ----------------------------------------------------------
SERVER_FAILED = "The server failed; try again in a moment."
API_KEY_FIRST = ("Encode `API Key:API Secret`, key first. (The tutorial's `API Secret:API Key` is a known "
                 "mistake.)")
CODE_GONE = (f"A code lives {CODE_LIFETIME} seconds and works once. Sign in again for a fresh code and exchange "
             "it straight away, with exactly the same redirect_uri.")
TOKEN_EXPIRED = (f"Access tokens last {ACCESS_TOKEN_LIFETIME // 60} minutes. Refresh (needs `offline_access`) "
                 "or sign in again.")
NO_WIDER_SCOPE = "When you refresh, you cannot include a scope that is not in the original call"
ASK_A_SUBSET = "ask for a subset of the scopes you were granted, or sign in again with more."
USER_DECLINED = ("The user declined, or is not assigned to the app. Sign in again and choose Allow, or ask the "
                 "app's owner to assign the user.")
KNOWN_SCOPES = "Ask only for scopes the server knows (openid, offline_access, ...), separated by spaces."
OFFLINE_ACCESS = "Refresh tokens come only when the authorize URL asks for `offline_access`"
SET_API_BASE_URL = "Set FORTELLIS_API_BASE_URL (https://api.fortellis.io for production)"
PASS_A_PATH = "Pass a path (e.g. /sales/v1/...) or a URL under the API base URL"
#: The way back from real settings, written once: shown with them (``fortellis-nb lab``,
#: ``lessons.start()``), with a server they name that does not answer, and in the README and notebook 01.
BACK_TO_SANDBOX = ("To go back to the sandbox, delete the `FORTELLIS_*` lines from the `.env` file (variables set "
                   "in the environment: unset them and start JupyterLab again), then run `client = start()` again.")
#: What a request that got no answer means: the network, never the server's verdict.
NO_ANSWER = ("No answer came back: the network did not reach the server (no such name, nothing listening, offline, "
             "a VPN, proxy or firewall), so the server refused nothing.")
USE_PKCE = ("A server that requires PKCE for this app needs authorization_url(pkce=True): the client keeps the "
            "code_verifier and sends it with the code exchange (RFC 7636).")


@dataclass(frozen=True)
class Sent:
    """What this client knows about the request the server refused. ``None``: not known."""

    step: str
    api_key: str | None = None
    secret_sent: bool = True
    swapped: bool = False
    redirect_uri: str | None = None
    authorized_redirect_uri: str | None = None
    verifier_sent: bool | None = None
    code_age: float | None = None
    code_used_before: bool = False
    granted_scopes: tuple[str, ...] | None = None
    requested_scopes: tuple[str, ...] | None = None


def _client_refused(sent: Sent) -> str | None:
    # The server says only that it does not know the client (Okta's words); this client knows
    # what it sent, and can say what the likely mistake is.
    if sent.api_key is None:  # no client credentials were sent (a bearer token was): the class's hint
        return None
    if sent.swapped:
        return (f"The API Key and API Secret are swapped: this request sent `{shorten(sent.api_key)}` as the "
                f"API Key, which is shaped like a secret, and the API Key as the secret. {API_KEY_FIRST}")
    if not sent.secret_sent:
        return ("This request named the app by its API Key alone, without an API Secret: a confidential app sends "
                "`Authorization: Basic base64(API Key:API Secret)`.")
    return (f"The server accepts no app with the API Key `{shorten(sent.api_key)}` and this API Secret: use "
            f"both exactly as the developer portal shows them (no stray spaces). {API_KEY_FIRST}")


def _code_refused(sent: Sent) -> str:
    if sent.code_used_before:
        return ("This code was already exchanged once; a code works a single time (and reusing it revokes the "
                "tokens it gave). Sign in again for a new code.")
    if sent.code_age is not None and sent.code_age > CODE_LIFETIME:
        return (f"The code was {sent.code_age:.0f} seconds old; codes expire after {CODE_LIFETIME}. "
                "Sign in again and exchange the new code straight away.")
    redirect = (f"This request sent redirect_uri={sent.redirect_uri!r}. Send exactly the redirect_uri of the "
                "authorize URL, character for character, trailing '/' included.")
    if sent.authorized_redirect_uri is not None and sent.redirect_uri != sent.authorized_redirect_uri:
        return redirect
    # The server does not say why (Okta: "invalid or has expired"): what this client cannot rule out.
    likely = []
    if sent.authorized_redirect_uri is None:
        likely.append(redirect)
    if sent.verifier_sent:
        likely.append("The code_verifier must be the one made for this code's authorize request: its SHA-256 is "
                      "the code_challenge the server kept (RFC 7636, section 4.6).")
    if sent.code_age is None or not likely:
        likely.insert(0, CODE_GONE)
    return likely[0] if len(likely) == 1 else "The likely causes: " + " ".join(likely)


def _refresh_token_refused(sent: Sent) -> str:
    return (f"The refresh token is unknown, revoked or expired (unused for {REFRESH_IDLE_DAYS} days), or, where "
            "refresh tokens rotate, one a refresh replaced (it works only for the app's grace period; used after "
            "it, the whole grant ends). Sign in again with `offline_access` in the scope, and store the refresh "
            "token of every refresh answer.")


def _wider_scope(sent: Sent) -> str:
    granted = sent.granted_scopes or ()
    extra = sorted(set(sent.requested_scopes or ()) - set(granted)) if granted else []
    return (NO_WIDER_SCOPE + (f": {', '.join(extra)} was not granted" if extra else "")
            + (f" (granted: {' '.join(granted)})." if granted else "."))


def _authorize_invalid_request(sent: Sent) -> str:
    rebuild = "A parameter is missing, malformed or repeated; rebuild the URL with authorization_url()."
    return rebuild if sent.verifier_sent else f"{rebuild} {USE_PKCE}"


def unreachable(hint: str, setting: str, origin: str) -> str:
    """The hint for a request to a server a FORTELLIS_* setting names that got no answer:
    ``hint`` (the error's own), that it is the network, where the setting was set, the way back."""
    return f"{hint} {NO_ANSWER} The {setting} comes from {origin}. {BACK_TO_SANDBOX}".lstrip()


def through_proxy(variable: str | None = None, host: str | None = None) -> str:
    """The hint for a request the proxy ``variable`` names did not take: its address (a VPN?),
    the user and password it may want, or NO_PROXY for a server reached directly."""
    direct = f"`{host}`" if host else "the server's host"
    proxy = f"the proxy that `{variable}` names" if variable else "a proxy (HTTPS_PROXY, HTTP_PROXY or ALL_PROXY)"
    return (f"The request went to {proxy}, which did not pass it on. Check its address "
            f"(and the VPN it may need); a proxy that asks you to sign in takes `http://user:password@host:port`. "
            f"If this machine reaches the server without the proxy, add {direct} to `NO_PROXY` (comma-separated). "
            "The sandbox on this machine never goes through a proxy.")


ANY = "*"  # a hint for the error code at every step

#: (error code, step) -> the hint, or a function of what was sent that writes it. Steps: the
#: grant types at the token endpoint, "authorize" (the redirect back), "api" (the gateway).
HINTS: dict[tuple[str, str], str | Callable[[Sent], str | None]] = {
    ("invalid_client", ANY): _client_refused,
    ("invalid_grant", "authorization_code"): _code_refused,
    ("invalid_grant", "refresh_token"): _refresh_token_refused,
    ("invalid_scope", "refresh_token"): _wider_scope,
    (WIDER_SCOPE_ON_REFRESH, "refresh_token"): _wider_scope,
    ("invalid_scope", "client_credentials"): "Client credentials tokens are for the `anonymous` scope.",
    # The errors the server may put in the redirect back to the app (RFC 6749 4.1.2.1, OIDC 3.1.2.6).
    ("access_denied", "authorize"): USER_DECLINED,
    ("invalid_scope", "authorize"): KNOWN_SCOPES,
    ("invalid_request", "authorize"): _authorize_invalid_request,
    ("unauthorized_client", "authorize"): "The app may not use the authorization code flow; check its registration.",
    ("unsupported_response_type", "authorize"): "response_type must be `code`.",
    ("login_required", "authorize"): "prompt=none was sent and the user has no session: sign in without prompt=none.",
    ("consent_required", "authorize"): "prompt=none was sent but the user has not consented yet.",
    ("interaction_required", "authorize"): "The server needs the user; drop prompt=none.",
    ("server_error", "authorize"): SERVER_FAILED,
    ("temporarily_unavailable", "authorize"): ("The identity server is overloaded or down for maintenance; try "
                                               "again later."),
    # The API gateway's codes (its JSON {"code": ...}).
    ("MISSING-AUTHORIZATION", "api"): "Send the access token as `Authorization: Bearer <access_token>`.",
    ("INVALID-TOKEN", "api"): ("The access token is not one the gateway accepts (altered, revoked, or from another "
                               "server). Get a new one."),
    ("TOKEN-EXPIRED", "api"): TOKEN_EXPIRED,
    ("TOKEN-ISSUER-MISMATCH", "api"): "The token comes from another authorization server than the one this API trusts.",
    ("TOKEN-AUDIENCE-MISMATCH", "api"): ("The token was not minted for the APIs (aud must be `api_providers`); "
                                         "do not send the ID token."),
    ("MISSING-SUBSCRIPTION-ID", "api"): "Add the `Subscription-Id` header: the dealer's subscription to your app.",
    ("SUBSCRIPTION-MISMATCH", "api"): "This Subscription-Id does not belong to the app the token was issued to.",
    ("API-SUBSCRIPTION-INACTIVE", "api"): ("The dealer's subscription to your app is not active (yet): the API's "
                                           "developer approves each one. Use an active Subscription-Id, or `test`."),
    ("API-DOES-NOT-EXIST", "api"): "No API answers at this path: check the URL (the API's base URL and its path).",
}


def hint(code: str, sent: Sent) -> str | None:
    """The hint for ``code`` answered at ``sent.step``; None when the table has none (the error
    class's own hint then stands)."""
    found = HINTS.get((code, sent.step), HINTS.get((code, ANY)))
    return found(sent) if callable(found) else found


_INLINE_CODE = re.compile(r"`([^`\n]+)`")


def prose(text: str) -> str:
    """A hint or message as HTML: escaped, with its `backticked` names set as code (the way every
    hint here writes them)."""
    return _INLINE_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(text))
