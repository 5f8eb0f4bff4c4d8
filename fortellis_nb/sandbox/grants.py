"""The identity server's rules, apart from HTTP: what the authorize request must be, how each
grant turns a request into tokens, what introspection, revocation and sign-out answer, and
how a client authenticates. Plain functions over the authority (``authority.py``) and its
store (``storage.py``); they raise the sandbox's Okta error family (``okta.OAuthError``) and
know nothing of tornado. The handlers in ``identity.py`` read a request into plain values,
call these, and write the answer.

Each function quotes the section of the standard it follows, as Authlib's grants do."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import unquote_plus, urlsplit

from . import ids
from .authority import CLIENT_CREDENTIALS_SCOPES, SCOPES, Authority
from .jwt_rs256 import TokenInvalid, verify
from .okta import GRANT_TYPES, RESPONSE_MODES, OAuthError
from .storage import App, Grant

STATE_PATTERN = re.compile(r"[A-Za-z0-9,._\-]{1,1024}")  # Okta's rule for `state`
CHALLENGE_PATTERN = re.compile(r"[A-Za-z0-9_\-]{43}")  # base64url of a SHA-256 (RFC 7636 section 4.2)
VERIFIER_PATTERN = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 section 4.1
MAX_AGE_PATTERN = re.compile(r"[0-9]{1,10}")
PROMPTS = ("none", "consent", "login")
#: The response modes an error can be sent back in (okta_post_message cannot carry a code, nor its error).
ERROR_MODES = ("query", "fragment", "form_post")


# --- where a browser's request comes from -------------------------------------------------

def origin_of(uri: str) -> str:
    """The origin (RFC 6454) of a URL, as a browser's Origin header spells it."""
    parts = urlsplit(uri)
    scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def trusted_origin(authority: Authority, origin: str | None, app: App | None = None) -> bool:
    """True for the origin of a registered redirect URI (of ``app``, or of any app): the
    origins Okta trusts with a browser's request (CORS, a browser at the token endpoint)."""
    if not origin:
        return False
    apps = [app] if app is not None else authority.store.apps()
    return any(origin_of(uri) == origin.lower() for a in apps for uri in authority.registered_redirect_uris(a))


# --- client authentication -----------------------------------------------------------------

def parse_basic(authorization: str) -> tuple[str, str | None] | None:
    """(client id, secret) from ``Basic base64(id:secret)``, or (client id, None) from
    ``Basic base64(id)``: a public client naming itself, as Okta's own browser SDK does at
    ``/v1/revoke`` (okta-auth-js sends ``btoa(clientId)`` when it has no secret, and Okta takes
    it). None when it is neither."""
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret if sep else None) if client_id else None


def client_readings(authorization: str | None, query: dict, params: dict) -> list[tuple[str, str | None]]:
    """RFC 6749 section 2.3.1: the (client id, secret) pairs a request may mean: from the Basic
    header, or client_id and client_secret in the body, never both and never in the URL's query."""
    if "client_secret" in query or "client_assertion" in query:
        raise OAuthError("client_credentials_in_query")
    body_id, body_secret = params.get("client_id"), params.get("client_secret")
    if not authorization:
        if body_id is None:
            raise OAuthError("missing_client_credentials")
        return [(body_id, body_secret)]
    pair = parse_basic(authorization)
    if pair is None:
        raise OAuthError("invalid_basic_auth_creds")
    # Section 2.3.1 form-urlencodes the id and the secret before base64 (openid-client and other
    # certified clients do); most clients send them as they are. Both are understood.
    decoded = (unquote_plus(pair[0]), None if pair[1] is None else unquote_plus(pair[1]))
    readings: list[tuple[str, str | None]] = [pair] if decoded == pair else [pair, decoded]
    if body_secret is not None or (body_id is not None and body_id not in {r[0] for r in readings}):
        raise OAuthError("multiple_client_credentials")
    return readings


def authenticate_client(store, authorization: str | None, query: dict, params: dict) -> App:
    """RFC 6749 section 2.3.1: "Clients in possession of a client password MAY use the HTTP Basic
    authentication scheme [...] Alternatively, the authorization server MAY support including the
    client credentials in the request-body". Returns the app; raises OAuthError."""
    readings = client_readings(authorization, query, params)
    app = next((found for found in (store.app(client_id) for client_id, _ in readings) if found), None)
    if app is None:
        raise OAuthError("invalid_client")
    if authorization and not app.public and all(secret is None for _, secret in readings):
        raise OAuthError("invalid_basic_auth_creds")  # a client id alone is a public client's Basic header
    check_secret(app, [secret for client_id, secret in readings
                        if client_id == app.api_key or unquote_plus(client_id) == app.api_key])
    return app


def check_secret(app: App, secrets_sent: list[str | None]) -> None:
    """A public client sends no secret (RFC 6749 section 2.1), a confidential one its own."""
    if app.public:
        if any(secrets_sent):
            raise OAuthError("invalid_client")
        return
    if not any(secrets_sent):
        raise OAuthError("invalid_client")
    if not any(app.secret_matches(secret) for secret in secrets_sent if secret):
        raise OAuthError("invalid_client_secret")


# --- the authorize request -------------------------------------------------------------------

class NotRedirected(Exception):
    """A refusal the server shows on its own page instead of redirecting. RFC 6749 section
    4.1.2.1: "If the request fails due to a missing, invalid, or mismatching redirection URI,
    or if the client identifier is missing or invalid, the authorization server SHOULD inform
    the resource owner of the error and MUST NOT automatically redirect the user-agent"."""

    def __init__(self, status: int, error: str, description: str, hint: str = "", registered=()):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description
        self.hint, self.registered = hint, list(registered)

    @classmethod
    def of(cls, err: OAuthError, hint: str = "", registered=()) -> NotRedirected:
        return cls(err.status, err.error, err.description, hint, registered)


class Redirected(Exception):
    """A refusal sent back to the app's redirect URI. RFC 6749 section 4.1.2.1: "the
    authorization server informs the client by adding the following parameters to the query
    component of the redirection URI": error, error_description, state."""

    def __init__(self, err: OAuthError, redirect_uri: str, state: str | None, mode: str):
        super().__init__(err.description)
        self.err, self.redirect_uri = err, redirect_uri
        self.params = {"error": err.error, "error_description": err.description, "state": state}
        self.mode = mode if mode in ERROR_MODES else "query"


def authorize_client(authority: Authority, params: dict, duplicate: str | None) -> tuple[App, str]:
    """The app and redirect URI of an authorize request, or NotRedirected: RFC 6749 section
    4.1.2.1 (above) and section 3.1.2.3, "the authorization server MUST compare the [...]
    redirection URI received to the redirection URIs registered"."""
    if duplicate in ("client_id", "redirect_uri"):
        raise NotRedirected.of(OAuthError("illegal_duplicated_parameters", duplicate),
                               "Each authorize parameter may appear only once in the URL.")
    app = authority.store.app(params.get("client_id", ""))
    if app is None:
        raise NotRedirected.of(OAuthError("invalid_client_id"), "The client_id must be your app's API Key, exactly "
                               "as the developer portal shows it.")
    redirect_uri = params.get("redirect_uri")
    registered = authority.registered_redirect_uris(app)
    if not redirect_uri or redirect_uri not in registered:
        raise redirect_uri_refusal(redirect_uri, registered)
    return app, redirect_uri


def redirect_uri_refusal(redirect_uri: str | None, registered: list[str]) -> NotRedirected:
    err = OAuthError("missing_redirect_uri" if not redirect_uri else "illegal_redirect_uri")
    hint = "Use exactly one of the callback URLs registered for this app."
    near = [u for u in registered if redirect_uri and u.rstrip("/") == redirect_uri.rstrip("/")]
    if near:
        hint = (f"Only the trailing slash differs: the registered callback is {near[0]} and the request "
                f"sent {redirect_uri}. Use the redirect URI you registered, with its trailing '/'.")
    return NotRedirected.of(err, hint, registered)


def authorize_request(authority: Authority, params: dict, duplicate: str | None) -> dict:
    """RFC 6749 section 4.1.1 (response_type, client_id, redirect_uri, scope, state), RFC 7636
    section 4.3 (code_challenge, code_challenge_method) and OpenID Connect Core 3.1.2.1 (nonce,
    prompt, max_age), as Okta checks them and in its order. Returns the request as the sign-in
    and consent forms keep it; raises NotRedirected, or Redirected once the redirect URI is known."""
    app, redirect_uri = authorize_client(authority, params, duplicate)
    state, mode = params.get("state"), params.get("response_mode", "query")
    try:
        response_checks(params, duplicate)
        scopes, challenge = scope_checks(params), pkce_checks(app, params)
        prompts = prompt_checks(params)
    except OAuthError as err:
        keep_state = err.key != "invalid_state"  # a state Okta refuses is not echoed
        raise Redirected(err, redirect_uri, state if keep_state else None, mode) from None
    return {
        "client_id": app.api_key, "redirect_uri": redirect_uri, "state": state, "scopes": scopes,
        "nonce": params.get("nonce"), "code_challenge": challenge, "mode": mode,
        "login_hint": params.get("login_hint", ""),
        "prompts": prompts, "max_age": params.get("max_age"),
    }


def response_checks(params: dict, duplicate: str | None) -> None:
    """RFC 6749 section 3.1 (no parameter twice), 3.1.1 (response_type) and OAuth 2.0 Multiple
    Response Type Encoding Practices (response_mode); then Okta's rule for ``state``."""
    mode = params.get("response_mode", "query")
    if duplicate:
        raise OAuthError("illegal_duplicated_parameters", duplicate)
    if mode not in RESPONSE_MODES.split(", "):
        raise OAuthError("unsupported_response_mode", RESPONSE_MODES)
    if params.get("response_type") != "code":
        raise OAuthError("unsupported_response_type", "code")
    if mode == "okta_post_message":
        raise OAuthError("unsupported_response_mode_okta_post_message_with_code")
    state = params.get("state")
    if not state or not STATE_PATTERN.fullmatch(state):
        raise OAuthError("invalid_state")


def scope_checks(params: dict) -> list[str]:
    """RFC 6749 section 3.3: "If the client omits the scope parameter [...] the authorization
    server MUST either process the request using a pre-defined default value or fail"."""
    scopes = params.get("scope", "").split()
    if not scopes:
        raise OAuthError("no_default_scopes")
    if any(s not in SCOPES for s in scopes):
        raise OAuthError("no_matching_scope")
    return scopes


def pkce_checks(app: App, params: dict) -> str | None:
    """RFC 7636 section 4.4.1: "If the server requires Proof Key for Code Exchange (PKCE) [...]
    and the client does not send the code_challenge [...] the authorization endpoint MUST return
    [...] an error response"; only S256 is supported. Returns the challenge."""
    challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
    if challenge is None and method is None:
        if app.public:
            raise OAuthError("pkce_missing_challenge")
        return None
    if method != "S256":
        raise OAuthError("pkce_unsupported_code_challenge_method", "S256")
    if not challenge or not CHALLENGE_PATTERN.fullmatch(challenge):
        raise OAuthError("pkce_invalid_challenge")
    return challenge


def prompt_checks(params: dict) -> list[str]:
    """OpenID Connect Core 3.1.2.1: ``prompt`` is a list of none, login, consent ("If this
    parameter contains none with any other value, an error is returned"); ``max_age`` a number
    of seconds."""
    prompts = params.get("prompt", "").split()
    if any(p not in PROMPTS for p in prompts) or ("none" in prompts and len(prompts) > 1):
        raise OAuthError("invalid_prompt", ", ".join(PROMPTS))
    max_age = params.get("max_age")
    if max_age is not None and not (MAX_AGE_PATTERN.fullmatch(max_age) and int(max_age) < 2 ** 31):
        raise OAuthError("invalid_max_age")
    return prompts


def session_to_use(authority: Authority, request: dict, session: dict | None) -> dict | None:
    """The browser's session that signs this request in, or None when the sign-in page is
    due. OpenID Connect Core 3.1.2.1: ``max_age`` "Specifies the allowable elapsed time in
    seconds since the last time the End-User was actively authenticated"; with ``prompt=none``
    "The Authorization Server MUST NOT display any authentication or consent user interface
    pages" (login_required, consent_required); ``login`` asks for the password again."""
    prompts, max_age = request["prompts"], request["max_age"]
    fresh_enough = session is not None and (max_age is None or authority.now - session["auth_time"] <= int(max_age))
    if "none" in prompts:
        app = authority.store.app(request["client_id"])
        if not fresh_enough:
            raise Redirected(OAuthError("login_required"), request["redirect_uri"], request["state"], request["mode"])
        if app is not None and app.consent:  # no page may be shown, and this app asks for consent
            raise Redirected(OAuthError("consent_required", ", ".join(request["scopes"])), request["redirect_uri"],
                             request["state"], request["mode"])
        return session
    return session if fresh_enough and "login" not in prompts else None


def issue_code(authority: Authority, request: dict, user_id: str, auth_time: float) -> dict:
    """RFC 6749 section 4.1.2: the authorization response's parameters (code, state), or
    Okta's access_denied for a user the app is not assigned to."""
    store, now = authority.store, authority.now
    user = store.user(user_id)
    if user is None or not user.assigned:
        err = OAuthError("user_not_assigned")
        return {"error": err.error, "error_description": err.description, "state": request["state"]}
    code = ids.authorization_code()
    store.add_code(code, api_key=request["client_id"], user_id=user.id, redirect_uri=request["redirect_uri"],
                   scopes=request["scopes"], nonce=request["nonce"], code_challenge=request["code_challenge"],
                   auth_time=auth_time, expires=now + authority.settings.code_lifetime, issued=now)
    return {"code": code, "state": request["state"]}


# --- the token endpoint ------------------------------------------------------------------------

def token_response(authority: Authority, app: App, params: dict, origin: str | None) -> dict:
    """RFC 6749 section 4.1.3, 6 and 4.4.2: the grant the request names, for an authenticated
    client; a browser's request (Okta tells one by its Origin header) only from the origin of
    one of the app's redirect URIs, and only for the code grant. Returns the token response
    (section 5.1); raises OAuthError (section 5.2)."""
    grant_type = params.get("grant_type")
    if not grant_type:
        raise OAuthError("token_request_missing_grant_type", GRANT_TYPES)
    grant = GRANTS.get(grant_type)
    if grant is None:
        raise OAuthError("unsupported_grant_type", GRANT_TYPES)
    if origin is not None:
        if not trusted_origin(authority, origin, app):
            raise OAuthError("illegal_origin_browser_request")
        if grant_type == "client_credentials":
            raise OAuthError("unsupported_grant_type_browser_request")
    return grant(authority, app, params, browser=origin is not None)


def authorization_code(authority: Authority, app: App, params: dict, *, browser: bool) -> dict:
    """RFC 6749 section 4.1.3: the server MUST "ensure that the authorization code was issued to
    the authenticated confidential client", "verify that the authorization code is valid", and
    "ensure that the "redirect_uri" parameter is present if [it] was included in the initial
    authorization request [...] and if included ensure that their values are identical"; RFC 7636
    section 4.6 checks the code_verifier against the code_challenge."""
    code_value = params.get("code")
    if not code_value:
        raise OAuthError("missing_token_request_parameter", "code")
    code = usable_code(authority, app, code_value)
    if params.get("redirect_uri") != code.redirect_uri:
        raise OAuthError("mismatched_redirect_uri")
    check_verifier(code.code_challenge, params.get("code_verifier"), browser=browser)
    return exchange_code(authority, app, code_value, code)


def usable_code(authority: Authority, app: App, code_value: str):
    """The code, issued to this app, unused and unexpired. RFC 6749 section 4.1.2: "If an
    authorization code is used more than once, the authorization server MUST deny the request
    and SHOULD revoke (when possible) all tokens previously issued based on that authorization
    code"."""
    store = authority.store
    code = store.code(code_value)
    if code is None:
        raise OAuthError("invalid_authorization_code")
    if code.api_key != app.api_key:
        raise OAuthError("mismatched_client")
    if code.used is not None:
        if code.grant_id:
            store.revoke_grant(code.grant_id, authority.now)
        raise OAuthError("invalid_authorization_code")
    if code.expires <= authority.now_for(app.api_key):
        raise OAuthError("invalid_authorization_code")
    return code


def check_verifier(challenge: str | None, verifier: str | None, *, browser: bool) -> None:
    """RFC 7636 section 4.6: "the server verifies it by calculating the code challenge from the
    received "code_verifier" and comparing it with the previously associated "code_challenge""
    (S256: BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))). A browser must use PKCE (Okta)."""
    if challenge is None:
        if verifier is not None:
            raise OAuthError("pkce_missing_challenge_verifier_present")
        if browser:
            raise OAuthError("unsupported_auth_method_browser_request")
        return
    if verifier is None:
        raise OAuthError("pkce_missing_verifier")
    computed = ids.b64url(hashlib.sha256(verifier.encode("utf-8")).digest())
    if not VERIFIER_PATTERN.fullmatch(verifier) or not hmac.compare_digest(computed, challenge):
        raise OAuthError("pkce_verification_failed")


def exchange_code(authority: Authority, app: App, code_value: str, code) -> dict:
    """The tokens for a checked code, in one commit with the code marked used. Two requests
    with the same code at once: only one marks it, and the other's tokens are revoked at once,
    with the winner's (the code was used twice, section 4.1.2)."""
    store, now = authority.store, authority.now
    user = store.user(code.user_id)
    if user is None:  # users are never removed: a code always has its user
        raise OAuthError("invalid_authorization_code")
    refresh = ids.refresh_token() if "offline_access" in code.scopes else None
    with store.transaction():
        grant_id = store.add_grant(api_key=app.api_key, user_id=user.id, scopes=code.scopes,
                                   auth_time=code.auth_time, now=now, refresh_token=refresh)
        if not store.use_code(code_value, now, grant_id):
            store.revoke_grant(grant_id, now)
            winner = store.code(code_value)
            if winner is not None and winner.grant_id:
                store.revoke_grant(winner.grant_id, now)
            body = None
        else:
            store.count(app.api_key, "exchange", now)
            body = authority.issue_tokens(api_key=app.api_key, scopes=code.scopes, user=user, grant_id=grant_id,
                                          auth_time=code.auth_time, nonce=code.nonce, refresh_token=refresh)
    if body is None:
        raise OAuthError("invalid_authorization_code")
    return body


def refresh_token(authority: Authority, app: App, params: dict, *, browser: bool) -> dict:
    """RFC 6749 section 6: the server MUST "validate the refresh token" and "ensure that the
    refresh token was issued to the authenticated client"; "The requested scope MUST NOT
    include any scope not originally granted by the resource owner, and if omitted is treated
    as equal to the scope originally granted". It MAY issue a new refresh token (Okta's
    rotation_type ROTATE)."""
    presented = params.get("refresh_token")
    if not presented:
        raise OAuthError("missing_token_request_parameter", "refresh_token")
    grant, within_grace = live_grant(authority, app, presented)
    scopes = refresh_scopes(grant, params)
    store, now = authority.store, authority.now
    user = store.user(grant.user_id)
    store.touch_refresh_token(grant.id, now)
    store.count(app.api_key, "refresh", now)
    # Okta's refresh_token.rotation_type, per app: STATIC, the default for web apps, gives the
    # same token back (as in the tutorial); ROTATE, the default for single-page and other
    # public apps, a new one each time, the replaced one still honoured for the app's leeway.
    refresh = presented
    if app.rotation_type == "ROTATE":
        refresh = ids.refresh_token()
        store.rotate_refresh_token(grant.id, refresh, now, keep_previous=within_grace)
    return authority.issue_tokens(api_key=app.api_key, scopes=scopes, user=user, grant_id=grant.id,
                                  auth_time=grant.auth_time, refresh_token=refresh)


def live_grant(authority: Authority, app: App, presented: str):
    """(grant, whether the token was a rotated-out one still within its leeway) for a refresh
    token of this app that is neither revoked nor idle too long; raises invalid_refresh_token."""
    store, now = authority.store, authority.now
    grant, within_grace = store.grant_by_refresh_token(presented), False
    if grant is None:
        replaced = store.grant_by_replaced_refresh_token(presented)
        if replaced is not None and replaced[0].api_key == app.api_key and replaced[0].revoked is None:
            grant, rotated = replaced
            leeway = authority.settings.refresh_grace if app.leeway is None else app.leeway
            if authority.now_for(app.api_key) - rotated > leeway:
                # Okta: a rotated-out token used again invalidates the newest refresh token and
                # every access token issued since the user signed in.
                store.revoke_grant(grant.id, now)
                raise OAuthError("invalid_refresh_token")
            within_grace = True
    if grant is None or grant.refresh_used is None or not grant_is_live(authority, app, grant):
        raise OAuthError("invalid_refresh_token")
    return grant, within_grace


def grant_is_live(authority: Authority, app: App, grant: Grant) -> bool:
    """A grant of this app, not revoked, its refresh token used within the idle lifetime (by the app's clock)."""
    return (grant.api_key == app.api_key and grant.revoked is None and grant.refresh_used is not None
            and grant.refresh_used >= authority.now_for(app.api_key) - authority.settings.refresh_idle_lifetime)


def refresh_scopes(grant, params: dict) -> list[str]:
    """The scopes of a refresh: those asked for, each granted before (Okta refuses the others
    with access_denied), in the grant's order; all the grant's when none are asked for."""
    if "scope" not in params:
        return list(grant.scopes)
    asked = params["scope"].split()
    denied = [s for s in asked if s not in grant.scopes]
    if denied:
        raise OAuthError("refresh_scopes_denied", ", ".join(denied))
    return [s for s in grant.scopes if s in asked] if asked else list(grant.scopes)


def client_credentials(authority: Authority, app: App, params: dict, *, browser: bool) -> dict:
    """RFC 6749 section 4.4.2: "The client credentials grant type MUST only be used by
    confidential clients"; Okta allows only the server's custom scopes, never openid."""
    if app.public:
        raise OAuthError("unauthorized_client", "authorization_code, refresh_token")
    asked = params.get("scope", "").split()
    if not asked:
        raise OAuthError("no_default_scopes")
    if "openid" in asked:
        raise OAuthError("openid_not_allowed_client_creds")
    if any(s in SCOPES for s in asked):  # a scope of this server, but not one for a client alone
        raise OAuthError("invalid_scope")
    if any(s not in CLIENT_CREDENTIALS_SCOPES for s in asked):
        raise OAuthError("no_matching_scope")
    authority.store.count(app.api_key, "client_credentials", authority.now)
    return authority.issue_tokens(api_key=app.api_key, scopes=list(dict.fromkeys(asked)))


GRANTS = {
    "authorization_code": authorization_code,
    "refresh_token": refresh_token,
    "client_credentials": client_credentials,
}


# --- the tokens this server issued: bearer use, introspection, revocation ----------------------

def signed_claims(authority: Authority, token: str) -> dict | None:
    """The claims of a token this server's keys signed (expired or not), or None."""
    try:
        return verify(token, authority.published_keys())
    except TokenInvalid:
        return None


def unexpired_from_here(authority: Authority, claims: dict, api_key) -> bool:
    """Issued here, and not expired by the clock of the app ``api_key`` (the one it names or was
    presented by)."""
    return (claims.get("iss") == authority.issuer and isinstance(claims.get("exp"), (int, float))
            and claims["exp"] > authority.now_for(api_key))


def access_token_claims(authority: Authority, token: str) -> dict | None:
    """RFC 6750 section 3.1: the claims of a valid, unexpired, unrevoked access token from
    this server, or None ("invalid_token")."""
    claims = signed_claims(authority, token)
    if (claims is None or not unexpired_from_here(authority, claims, claims.get("cid")) or not str(claims.get("jti", "")).startswith("AT.")
            or authority.store.access_token_revoked(str(claims.get("jti")))):
        return None
    return claims


def introspect(authority: Authority, app: App, token: str) -> dict:
    """RFC 7662 section 2.2: ``active`` and, for an active token, the members Okta answers with
    for its kind; "If the introspection call is properly authorized but the token is not active
    [...] the authorization server MUST return [...] {"active": false}"."""
    claims = signed_claims(authority, token)
    if claims is None:
        return introspect_refresh_token(authority, app, token)
    if not unexpired_from_here(authority, claims, app.api_key):
        return {"active": False}
    jti = str(claims.get("jti", ""))
    if jti.startswith("AT."):
        if claims.get("cid") != app.api_key or authority.store.access_token_revoked(jti):
            return {"active": False}
        return {"active": True, "token_type": "Bearer", "scope": " ".join(claims.get("scp", [])),
                "client_id": claims["cid"], "username": claims.get("sub"), "exp": claims["exp"],
                "iat": claims["iat"], "sub": claims.get("sub"), "aud": claims["aud"], "iss": claims["iss"],
                "jti": jti, **({"uid": claims["uid"]} if "uid" in claims else {})}
    if authority.store.id_token_app(jti) != app.api_key:
        return {"active": False}
    # Okta documents no example for an ID token: its claims, as the members it lists.
    return {"active": True, "client_id": app.api_key, "sub": claims.get("sub"), "exp": claims["exp"],
            "iat": claims.get("iat"), "iss": claims["iss"], "aud": claims.get("aud"), "jti": jti}


def introspect_refresh_token(authority: Authority, app: App, token: str) -> dict:
    grant = authority.store.grant_by_refresh_token(token)
    if grant is None or grant.refresh_used is None or not grant_is_live(authority, app, grant):
        return {"active": False}
    user = authority.store.user(grant.user_id)
    username = user.username if user is not None else None
    # Okta's members for a refresh token: no iat, aud, iss or jti (and device_id, for device SSO).
    return {"active": True, "token_type": "Bearer", "scope": " ".join(grant.scopes), "client_id": app.api_key,
            "username": username, "exp": int(grant.refresh_used + authority.settings.refresh_idle_lifetime),
            "sub": username}


def revoke(authority: Authority, app: App, token: str) -> None:
    """RFC 7009 section 2.1: "The authorization server first validates the client credentials
    [...] and then verifies whether the token was issued to the client making the revocation
    request"; revoking a refresh token revokes its grant's access tokens too (section 2.1).
    An unknown token is no error (section 2.2). ID tokens are not revocable, as at Okta."""
    store, now = authority.store, authority.now
    claims = signed_claims(authority, token)
    if claims is not None:
        if str(claims.get("jti", "")).startswith("AT.") and claims.get("cid") == app.api_key:
            exp = claims.get("exp")
            store.revoke_access_token(claims["jti"], app.api_key, float(exp if isinstance(exp, (int, float)) else now),
                                      now)
        return
    grant = store.grant_by_refresh_token(token)
    if grant is not None and grant.api_key == app.api_key:
        store.revoke_grant(grant.id, now)


# --- sign-out ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SignOut:
    app: App
    target: str | None  # the post_logout_redirect_uri, or None: the sandbox's signed-out page


def sign_out(authority: Authority, params: dict) -> SignOut:
    """OpenID Connect RP-Initiated Logout 1.0 section 2 and 3, as Okta has it: ``id_token_hint``
    (an ID token this server issued, valid or expired) names the app; a
    ``post_logout_redirect_uri`` "MUST have been previously registered" for it. Raises
    NotRedirected: Okta shows an error page (its text for a bad hint is not documented)."""
    hint, target = params.get("id_token_hint"), params.get("post_logout_redirect_uri")
    app = hinted_app(authority, hint) if hint else None
    if app is None:
        raise NotRedirected(400, "invalid_request", "The 'id_token_hint' parameter must be an ID token this server "
                            "issued." if hint else "The 'id_token_hint' parameter is required.",
                            "Send the ID token of the sign-in you end (the id_token of its token response).")
    logout_uris = [u for registered in app.logout_uris for u in authority.expand_redirect_uri(registered)]
    if target is not None and target not in logout_uris:
        raise NotRedirected.of(OAuthError("illegal_post_logout_redirect_uri"),
                               "Use one of the sign-out redirect URIs registered for this app.", logout_uris)
    return SignOut(app, target)


def hinted_app(authority: Authority, hint: str) -> App | None:
    """The app an ID token this server signed was issued to (its expiry does not matter)."""
    claims = signed_claims(authority, hint)
    if claims is None or claims.get("iss") != authority.issuer or not str(claims.get("jti", "")).startswith("ID."):
        return None
    api_key = authority.store.id_token_app(claims["jti"]) or claims.get("aud")
    return authority.store.app(api_key) if isinstance(api_key, str) else None
