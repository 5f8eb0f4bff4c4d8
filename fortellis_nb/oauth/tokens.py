"""Requests to the token endpoint and its neighbours.

* :func:`exchange_code`      - step 3 of the tutorial, ``grant_type=authorization_code``;
* :func:`refresh`            - ``grant_type=refresh_token``, optionally for fewer scopes;
* :func:`client_credentials` - the backend route (``scope=anonymous``) the tutorial's
  opening warning recommends;
* :func:`revoke` (RFC 7009), :func:`introspect` (RFC 7662), :func:`userinfo` (OIDC).

The app authenticates with ``Authorization: Basic base64(API Key:API Secret)`` and sends
the parameters as a form body (RFC 6749). ``params_in="query"`` reproduces the
tutorial's later curl examples, which put them in the URL instead.
"""

from __future__ import annotations

import base64
import re
import time
import warnings
from dataclasses import dataclass, field
from urllib.parse import quote_plus, urlencode

from requests.utils import parse_dict_header

from . import errors, hints
from .hints import CODE_LIFETIME
from .redact import shorten
from .transcript import Http
from .verify import decode, expires_in_words, looks_like_jwt, token_shape


def basic_authorization(api_key: str, api_secret: str) -> str:
    """``Basic base64(API Key:API Secret)``, API Key first (RFC 6749, 2.3.1).

    Each part is form-encoded first, as the RFC asks; Fortellis keys and secrets are
    letters, digits, '-' and '_', which that leaves unchanged.
    """
    pair = f"{quote_plus(api_key)}:{quote_plus(api_secret)}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


@dataclass(repr=False)
class TokenResponse:
    """A successful answer from the token endpoint."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int | None = None
    scope: str | None = None
    id_token: str | None = None
    refresh_token: str | None = None
    grant_type: str = ""
    received_at: float = 0.0
    raw: dict = field(default_factory=dict)
    exchange: object = None
    #: Filled in by the client when it verifies the tokens.
    access_claims: dict | None = None
    id_claims: dict | None = None
    #: Which shape Fortellis has issued the ID token has (verify.TOKEN_SHAPES), once verified.
    id_token_shape: str | None = None
    #: For a refresh: "same", "rotated", or "not returned" (the old one stays valid).
    refresh_token_status: str | None = None
    #: Scopes the authorize request asked for that the server did not grant (when it says what it granted).
    dropped_scopes: tuple[str, ...] = ()
    #: Why these tokens no longer work, once the client knows (None while they may): the code that
    #: gave them exchanged again, the access token revoked, the refresh token refused.
    revoked: str | None = None
    #: The nonce the authorize request sent, which the ID token had to carry (None: none was sent).
    nonce_sent: str | None = None

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple((self.scope or "").split())

    @property
    def token_shape(self) -> str | None:
        """"tutorial", "fortellis-2022" or "other": which shape the access token has."""
        if not looks_like_jwt(self.access_token):
            return None
        decoded = decode(self.access_token)
        return token_shape(decoded.header, decoded.claims)

    @property
    def expires_at(self) -> float | None:
        return None if self.expires_in is None else self.received_at + float(self.expires_in)

    def expires_in_words(self, now: float | None = None) -> str:
        if self.expires_at is None:
            return "expiry not stated"
        return expires_in_words(self.expires_at, now)

    def as_dict(self, full: bool = False) -> dict:
        """The JSON the server sent, tokens shortened unless ``full``."""
        return {k: (v if full or k not in ("access_token", "id_token", "refresh_token") else shorten(v))
                for k, v in self.raw.items()}

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items())
        return f"TokenResponse({shown})"

    __str__ = __repr__


def _server_failed(exchange) -> errors.UnexpectedResponseError:
    """A 5xx answer: what the server said, if it said it in OAuth's terms."""
    try:
        body = exchange.json()
    except errors.NotJSONError:
        body = {}
    said = ""
    if isinstance(body, dict) and body.get("error"):
        said = f" ({body.get('error')}: {body.get('error_description')})"
    return errors.UnexpectedResponseError(
        f"{exchange.method} {exchange.url} failed on the server: HTTP {exchange.status}{said or '.'}",
        exchange=exchange, hint=hints.SERVER_FAILED)


def _raise_for_oauth_error(exchange, sent: hints.Sent):
    """Turn a failed token-endpoint exchange into the matching TokenRequestError, its hint chosen
    by the error code and what this client sent (``sent``)."""
    if exchange.status is not None and exchange.status >= 500:
        raise _server_failed(exchange)
    body = exchange.json()
    if exchange.status == 429 and isinstance(body, dict) and body.get("errorCode"):  # Okta's error object
        raise errors.RateLimitedError(str(body.get("errorSummary") or "Too many requests."),
                                      error=str(body["errorCode"]), exchange=exchange, hint=_rate_limit_hint(exchange))
    if not isinstance(body, dict) or "error" not in body:
        raise errors.UnexpectedResponseError(
            f"{exchange.method} {exchange.url} answered HTTP {exchange.status} without an OAuth `error`.",
            exchange=exchange)
    code = str(body["error"])
    description = str(body.get("error_description") or "")
    cls = errors.OAUTH_ERRORS.get(code, errors.TokenRequestError)
    raise cls(description or f"The server answered {code}.", error=code, hint=hints.hint(code, sent),
              exchange=exchange)


def _sent(step: str, api_key: str, api_secret: str | None, **known) -> hints.Sent:
    """What a token request sent, as the hints need it."""
    return hints.Sent(step, api_key=api_key, secret_sent=api_secret is not None,
                      swapped=looks_swapped(api_key, api_secret), **known)


#: An API Key as Fortellis (and the sandbox) hand them out: 32 letters and digits.
API_KEY_SHAPE = re.compile(r"[A-Za-z0-9]{32}")


def looks_swapped(api_key: str | None, api_secret: str | None) -> bool:
    """True when what was sent as the API Key is not shaped like one and the secret is: the two
    are most likely the wrong way round (the tutorial's `API Secret:API Key` note)."""
    return bool(api_key and api_secret and not API_KEY_SHAPE.fullmatch(api_key)
                and API_KEY_SHAPE.fullmatch(api_secret))


def _rate_limit_hint(exchange) -> str:
    """When the app may try again, from Okta's X-Rate-Limit headers."""
    limit, reset = exchange.header("X-Rate-Limit-Limit"), exchange.header("X-Rate-Limit-Reset")
    try:
        wait = max(0, int(reset) - int(time.time()))
    except (TypeError, ValueError):
        return errors.RateLimitedError.default_hint
    return (f"This app may make {limit} requests a minute here; the window resets in {wait} s "
            "(X-Rate-Limit-Reset). Wait, then try again; in a backend, keep tokens and reuse them instead of "
            "asking for new ones on every call.")


def _token_request(http: Http, token_endpoint: str, form: dict, *, api_key: str, api_secret: str | None,
                   label: str, params_in: str = "body", clock=time.time):
    """POST to the token endpoint (or its neighbours). A confidential app authenticates with the
    Basic header; a public one (``api_secret`` None) names itself with ``client_id`` in the body."""
    headers = {"Accept": "application/json"}
    if api_secret is None:
        form = {"client_id": api_key, **form}
    else:
        headers["Authorization"] = basic_authorization(api_key, api_secret)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    if params_in == "query":
        url = token_endpoint + ("&" if "?" in token_endpoint else "?") + urlencode(form)
        exchange = http.send("POST", url, headers=headers, label=label)
    elif params_in == "body":
        exchange = http.send("POST", token_endpoint, headers=headers, form=form, label=label)
    else:
        raise ValueError("params_in is 'body' or 'query'")
    return exchange, clock()


def _token_response(exchange, grant_type: str, received_at: float) -> TokenResponse:
    body = exchange.json()
    if not isinstance(body, dict) or not body.get("access_token"):
        raise errors.UnexpectedResponseError(
            f"The token endpoint answered HTTP {exchange.status} without an access_token.", exchange=exchange)
    if str(body.get("token_type", "")).lower() != "bearer":
        raise errors.UnexpectedResponseError(
            f"The token_type is {body.get('token_type')!r}, not Bearer.", exchange=exchange)
    return TokenResponse(access_token=body["access_token"], token_type=body["token_type"],
                         expires_in=body.get("expires_in"), scope=body.get("scope"),
                         id_token=body.get("id_token"), refresh_token=body.get("refresh_token"),
                         grant_type=grant_type, received_at=received_at, raw=body, exchange=exchange)


def exchange_code(http: Http, token_endpoint: str, *, api_key: str, api_secret: str | None, code: str,
                  redirect_uri: str, code_verifier: str | None = None, code_received_at: float | None = None,
                  code_used_before: bool = False, authorized_redirect_uri: str | None = None,
                  params_in: str = "body", clock=time.time) -> TokenResponse:
    """Trade an authorization code for tokens.

    ``code_received_at`` lets the age of the code be checked: past CODE_LIFETIME seconds a
    :class:`~errors.CodeAgeWarning` is given (the request is still sent, so the
    server's own answer can be seen). ``code_used_before`` and ``authorized_redirect_uri`` (the
    authorize request's, when known) let a refusal's hint name its cause.
    """
    age = None
    if code_received_at is not None:
        age = clock() - code_received_at
        if age > CODE_LIFETIME:
            warnings.warn(errors.CodeAgeWarning(
                f"The code is {age:.0f} seconds old; the tutorial: \"You can exchange the authorization "
                f"code for a token for 60 seconds.\" Expect invalid_grant."), stacklevel=3)
    form = {"grant_type": "authorization_code", "redirect_uri": redirect_uri, "code": code}
    if code_verifier:
        form["code_verifier"] = code_verifier
    exchange, received_at = _token_request(http, token_endpoint, form, api_key=api_key, api_secret=api_secret,
                                           label="Exchange the code", params_in=params_in, clock=clock)
    if exchange.status != 200:
        _raise_for_oauth_error(exchange, _sent(
            "authorization_code", api_key, api_secret, code_age=age, code_used_before=code_used_before,
            redirect_uri=redirect_uri, authorized_redirect_uri=authorized_redirect_uri,
            verifier_sent=bool(code_verifier)))
    return _token_response(exchange, "authorization_code", received_at)


def refresh(http: Http, token_endpoint: str, *, api_key: str, api_secret: str | None, refresh_token: str | None,
            scopes=None, original_scopes=None, params_in: str = "body", extra: dict | None = None,
            clock=time.time) -> TokenResponse:
    """New tokens from a refresh token; ``scopes`` (optional) must be a subset of the original grant.

    ``extra`` adds parameters the server ignores (the tutorial's refresh request also sends
    ``redirect_uri`` and ``code``); ``params_in="query"`` puts them all in the URL, as it does."""
    if not refresh_token:
        raise errors.ConfigurationError(
            "There is no refresh token to use.", error="no_refresh_token",
            hint=f"{hints.OFFLINE_ACCESS}.")
    form = {"grant_type": "refresh_token", **(extra or {}), "refresh_token": refresh_token}
    requested = None
    if scopes is not None:
        requested = tuple(scopes.split()) if isinstance(scopes, str) else tuple(scopes)
        form["scope"] = " ".join(requested)
    exchange, received_at = _token_request(http, token_endpoint, form, api_key=api_key, api_secret=api_secret,
                                           label="Refresh", params_in=params_in, clock=clock)
    if exchange.status != 200:
        granted = None if original_scopes is None else tuple(original_scopes)
        _raise_for_oauth_error(exchange, _sent("refresh_token", api_key, api_secret, granted_scopes=granted,
                                               requested_scopes=requested))
    response = _token_response(exchange, "refresh_token", received_at)
    if response.refresh_token is None:
        response.refresh_token_status = "not returned"
    elif response.refresh_token == refresh_token:
        response.refresh_token_status = "same"
    else:
        response.refresh_token_status = "rotated"
    return response


def client_credentials(http: Http, token_endpoint: str, *, api_key: str, api_secret: str | None,
                       scopes=("anonymous",), clock=time.time) -> TokenResponse:
    """A token for the app itself, no user involved (``scope=anonymous`` at Fortellis)."""
    scope = scopes if isinstance(scopes, str) else " ".join(scopes)
    form = {"grant_type": "client_credentials", "scope": scope}
    exchange, received_at = _token_request(http, token_endpoint, form, api_key=api_key, api_secret=api_secret,
                                           label="Client credentials", clock=clock)
    if exchange.status != 200:
        _raise_for_oauth_error(exchange, _sent("client_credentials", api_key, api_secret))
    return _token_response(exchange, "client_credentials", received_at)


def _about_a_token(http: Http, endpoint: str, token: str, token_type_hint: str | None, *, api_key: str,
                   api_secret: str | None, label: str, context: str):
    """POST ``token`` (and its type hint) with client authentication; the exchange, or the error."""
    form = {"token": token}
    if token_type_hint:
        form["token_type_hint"] = token_type_hint
    exchange, _ = _token_request(http, endpoint, form, api_key=api_key, api_secret=api_secret, label=label)
    if exchange.status != 200:
        _raise_for_oauth_error(exchange, _sent(context, api_key, api_secret))
    return exchange


def revoke(http: Http, revocation_endpoint: str, *, api_key: str, api_secret: str | None, token: str,
           token_type_hint: str | None = None):
    """Revoke a token (RFC 7009). The server answers 200 even for a token it does not know."""
    return _about_a_token(http, revocation_endpoint, token, token_type_hint, api_key=api_key,
                          api_secret=api_secret, label="Revoke", context="revoke")


def introspect(http: Http, introspection_endpoint: str, *, api_key: str, api_secret: str | None, token: str,
               token_type_hint: str | None = None) -> dict:
    """Ask the server whether a token is active, and what it says (RFC 7662)."""
    exchange = _about_a_token(http, introspection_endpoint, token, token_type_hint, api_key=api_key,
                              api_secret=api_secret, label="Introspect", context="introspect")
    body = exchange.json()
    if not isinstance(body, dict) or "active" not in body:
        raise errors.UnexpectedResponseError("The introspection answer has no `active` member.",
                                             exchange=exchange)
    return body


def bearer_challenge(header: str) -> dict[str, str]:
    """The auth-params of a ``WWW-Authenticate: Bearer ...`` challenge (RFC 6750 section 3), quoted
    values read as quoted strings (RFC 9110 section 11.2: a comma inside quotes is part of it)."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return {}
    return {k.lower(): v or "" for k, v in parse_dict_header(rest).items()}


def userinfo(http: Http, userinfo_endpoint: str, *, access_token: str) -> dict:
    """The signed-in user's claims (OIDC Core 5.3), with the access token as Bearer."""
    exchange = http.send("GET", userinfo_endpoint, label="User info", headers={
        "Accept": "application/json", "Authorization": f"Bearer {access_token}"})
    if exchange.status != 200:
        challenge = exchange.header("WWW-Authenticate") or ""
        if exchange.status in (401, 403) and "error=" in challenge:
            params = bearer_challenge(challenge)
            code = params.get("error", "")
            cls = errors.OAUTH_ERRORS.get(code, errors.TokenRequestError)
            raise cls(params.get("error_description") or f"The server answered {code}.",
                      error=code, exchange=exchange)
        _raise_for_oauth_error(exchange, hints.Sent("userinfo"))
    return exchange.json()
