"""The identity server's endpoints under the issuer ``/oauth2/{server id}``, with the
answers and error wording of Fortellis' Okta custom authorization server."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
import time
from urllib.parse import urlsplit

import tornado.ioloop

from . import ids
from .authority import CLIENT_CREDENTIALS_SCOPES, SCOPES
from .jwt_rs256 import TokenInvalid, verify
from .storage import check_password, hash_password
from . import inputs
from .inputs import BadInput, csp_source
from .web import BASE_CSP, DuplicateParameter, SandboxHandler, add_query, foreign_origin

STATE_PATTERN = re.compile(r"^[A-Za-z0-9,._\-]{1,1024}$")  # Okta's rule for `state`
PKCE_PATTERN = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")  # RFC 7636 section 4.1
PROMPTS = {"none", "login", "consent"}
DUMMY_HASH = hash_password("no user has this password")

MSG = {
    "bad_code": "The authorization code is invalid or has expired.",
    "redirect_mismatch": "The 'redirect_uri' does not match the redirection URI used in the authorization request.",
    "no_client": "No client credentials found.",
    "bad_secret": "The client secret supplied for a confidential client is invalid.",
    "unknown_client": "Client authentication failed. Either the client or the client credentials are invalid.",
    "two_credentials": "Cannot supply multiple client credentials. Use one of the following: credentials in the "
    "Authorization header, credentials in the post body, or a client_assertion in the post body.",
    "swapped": "Client authentication failed: the API Key and API Secret are swapped. The Basic header must "
    "encode 'API Key:API Secret' (the client_id first), not 'API Secret:API Key'.",
    "bad_scope": "The requested scope is invalid, unknown, or malformed.",
    "bad_refresh": "The refresh token is invalid or expired.",
    "pkce": "PKCE verification failed.",
    "grant_types": "The authorization grant type is not supported by the authorization server. Configured grant "
    "types: [authorization_code, refresh_token, client_credentials].",
    "response_types": "The response type is not supported by the authorization server. Configured response types: [code].",
    "not_assigned": "User is not assigned to the client application.",
    "denied": "The resource owner or authorization server denied the request.",
    "login_required": "The client specified not to prompt, but the user is not logged in.",
    "no_default_scope": "The authorization server resource does not have any configured default scopes, "
    "'scope' must be provided.",
    "pkce_public": "PKCE code challenge is required when the token endpoint authentication method is 'NONE'.",
}


class OAuthError(Exception):
    """An OAuth error answer (RFC 6749 section 5.2), raised by the parts that know no web framework."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def authenticate_client(store, authorization: str | None, params: dict):
    """RFC 6749 section 2.3.1: Basic header or client_id/client_secret in the body, never both.

    Returns the app; raises OAuthError."""
    body_id, body_secret = params.get("client_id"), params.get("client_secret")
    if authorization:
        if body_secret is not None:
            raise OAuthError(400, "invalid_request", MSG["two_credentials"])
        scheme, _, value = authorization.partition(" ")
        try:
            if scheme.lower() != "basic":
                raise ValueError
            client_id, sep, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            if not sep:
                raise ValueError
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise OAuthError(401, "invalid_client", "The Authorization header is not 'Basic "
                             "base64(API Key:API Secret)'. " + MSG["unknown_client"]) from None
        if body_id is not None and body_id != client_id:
            raise OAuthError(400, "invalid_request", MSG["two_credentials"])
    elif body_id is not None:
        client_id, secret = body_id, body_secret
    else:
        raise OAuthError(401, "invalid_client", MSG["no_client"])

    app = store.app(client_id)
    if app is None:
        swapped = store.app_by_secret(client_id)
        if swapped is not None and secret is not None and hmac.compare_digest(swapped.api_key.encode(), secret.encode()):
            raise OAuthError(401, "invalid_client", MSG["swapped"])
        raise OAuthError(401, "invalid_client", MSG["unknown_client"])
    if app.public:
        if secret:
            raise OAuthError(401, "invalid_client", "This app is a public client (no API Secret); "
                             "send only client_id and a PKCE code_verifier.")
        return app
    if secret is None:
        raise OAuthError(401, "invalid_client", MSG["no_client"])
    if not app.secret_matches(secret):
        raise OAuthError(401, "invalid_client", MSG["bad_secret"])
    return app


class IssuerHandler(SandboxHandler):
    """An endpoint under the issuer: only this server's id is served."""

    def prepare(self):
        server_id = self.path_kwargs.get("server_id")
        if server_id is not None and server_id != self.authority.server_id:
            self.send_json({"errorCode": "E0000007",
                            "errorSummary": f"Not found: Resource not found: {server_id} (AuthorizationServer)"}, 404)

    def authenticate_client(self, params: dict):
        """The app the request authenticates as, or None after answering with the error."""
        try:
            return authenticate_client(self.store, self.request.headers.get("Authorization"), params)
        except OAuthError as err:
            self.oauth_error(err.status, err.error, err.description)
            return None

    def bearer_claims(self):
        """Claims of a valid, unexpired, unrevoked access token from this server, or None."""
        scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            claims = verify(token.strip(), self.authority.published_keys())
        except TokenInvalid:
            return None
        if (claims.get("iss") != self.authority.issuer or claims.get("exp", 0) <= self.now
                or self.store.access_token_revoked(str(claims.get("jti")))):
            return None
        return claims


class Discovery(IssuerHandler):
    def get(self, server_id: str, kind: str):
        issuer = self.authority.issuer
        doc = {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/v1/authorize",
            "token_endpoint": f"{issuer}/v1/token",
            "userinfo_endpoint": f"{issuer}/v1/userinfo",
            "jwks_uri": f"{issuer}/v1/keys",
            "introspection_endpoint": f"{issuer}/v1/introspect",
            "revocation_endpoint": f"{issuer}/v1/revoke",
            "end_session_endpoint": f"{issuer}/v1/logout",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": list(SCOPES) + list(CLIENT_CREDENTIALS_SCOPES),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "claims_supported": ["ver", "jti", "iss", "aud", "iat", "exp", "cid", "uid", "scp", "sub", "amr",
                                 "idp", "nonce", "auth_time", "at_hash", "name", "preferred_username",
                                 "email", "email_verified"],
            "code_challenge_methods_supported": ["S256"],
            "request_parameter_supported": False,
            "claims_parameter_supported": False,
        }
        if kind == "oauth-authorization-server":
            doc.pop("userinfo_endpoint")
            doc.pop("subject_types_supported")
            doc.pop("id_token_signing_alg_values_supported")
        self.send_json(doc)


class Keys(IssuerHandler):
    def get(self, server_id: str):
        self.set_header("Cache-Control", "max-age=300")
        self.send_json(self.authority.jwks())


class Authorize(IssuerHandler):
    """GET: the authorize request. POST: the sign-in form's answer."""

    def get(self, server_id: str):
        try:
            params = self.params(body=False)
        except DuplicateParameter as dup:
            return self.authorize(None, duplicate=dup.name)
        except BadInput as bad:
            return self.error_page(400, "Bad request", "invalid_request", str(bad))
        self.authorize(params)

    async def post(self, server_id: str):
        if "txn" in self.request.body_arguments:
            return await self.sign_in()
        try:
            params = self.params()
        except DuplicateParameter as dup:
            return self.authorize(None, duplicate=dup.name)
        except BadInput as bad:
            return self.error_page(400, "Bad request", "invalid_request", str(bad))
        self.authorize(params)

    # --- the authorize request ---
    def authorize(self, params: dict | None, duplicate: str | None = None):
        if params is None:
            # Some parameter came twice. If it is client_id or redirect_uri we do not know where to
            # send the error; otherwise it goes back to the app like every other request error.
            raw: dict[str, str] = {}
            sources = [self.request.query_arguments]
            if self.request.method == "POST":
                sources.append(self.request.body_arguments)
            for source in sources:
                for name, values in source.items():
                    raw.setdefault(name, values[0].decode("utf-8", "replace"))
            if duplicate in ("client_id", "redirect_uri"):
                return self.error_page(400, "Bad request", "invalid_request",
                                       f"The '{duplicate}' parameter was given more than once.",
                                       "Each authorize parameter may appear only once in the URL.")
            params = raw
        app = self.store.app(params.get("client_id", ""))
        if app is None:
            return self.error_page(
                400, "Bad request", "invalid_client", "Invalid value for 'client_id' parameter.",
                "The client_id must be your app's API Key, exactly as the developer portal shows it.")
        redirect_uri = params.get("redirect_uri")
        registered = self.authority.registered_redirect_uris(app)
        if not redirect_uri or redirect_uri not in registered:
            return self.redirect_uri_error(redirect_uri, registered)
        state = params.get("state")
        mode = params.get("response_mode", "query")
        fragment = mode == "fragment"

        def fail(error: str, description: str):
            self.redirect(add_query(self.browser_address(redirect_uri), {
                "error": error, "error_description": description, "state": state}, fragment=fragment))

        if duplicate:
            return fail("invalid_request", f"The '{duplicate}' parameter was given more than once.")
        if mode not in ("query", "fragment"):
            fragment = False
            return fail("invalid_request", f"The response_mode '{mode}' is not supported. Use 'query' or 'fragment'.")
        response_type = params.get("response_type")
        if not response_type:
            return fail("invalid_request", "The 'response_type' parameter is missing. Use 'code'.")
        if response_type != "code":
            return fail("unsupported_response_type", MSG["response_types"])
        if not state:
            return fail("invalid_request", "The authorization request must include a 'state' parameter.")
        if not STATE_PATTERN.match(state):
            state = None
            return fail("invalid_request", "The 'state' parameter may only contain letters, digits, "
                        "commas, periods, underscores and hyphens.")
        scopes = params.get("scope", "").split()
        if not scopes:
            return fail("invalid_scope", "The authorization request must include at least one scope, "
                        "for example 'openid'.")
        if any(s not in SCOPES for s in scopes):
            return fail("invalid_scope", MSG["bad_scope"])
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if challenge is not None or method is not None:
            if method != "S256":
                return fail("invalid_request", "The 'code_challenge_method' must be 'S256'.")
            if not challenge or not re.fullmatch(r"[A-Za-z0-9_\-]{43}", challenge):
                return fail("invalid_request", "The 'code_challenge' must be the base64url SHA-256 of the "
                            "code_verifier: 43 characters.")
        elif app.public:
            return fail("invalid_request", MSG["pkce_public"])
        prompts = set(params.get("prompt", "").split())
        if not prompts <= PROMPTS or ("none" in prompts and len(prompts) > 1):
            return fail("invalid_request", "The 'prompt' parameter must be 'none', 'login' or 'consent'.")
        max_age = params.get("max_age")
        if max_age is not None and not (re.fullmatch(r"[0-9]{1,10}", max_age) and int(max_age) < 2 ** 31):
            return fail("invalid_request", "Invalid value for 'max_age' parameter. It should be within range "
                        "0 - 2^31-1.")

        request = {
            "client_id": app.api_key, "redirect_uri": redirect_uri, "state": state, "scopes": scopes,
            "nonce": params.get("nonce"), "code_challenge": challenge, "fragment": fragment,
            "login_hint": params.get("login_hint", ""),
        }
        session = self.current_session()
        fresh_enough = session is not None and (max_age is None or self.now - session["auth_time"] <= int(max_age))
        if "none" in prompts:
            if not fresh_enough:
                return fail("login_required", MSG["login_required"])
            return self.finish_authorize(request, session["user_id"], session["auth_time"])
        if fresh_enough and not prompts & {"login", "consent"}:
            return self.finish_authorize(request, session["user_id"], session["auth_time"])
        if "login" in prompts or not fresh_enough:
            request["require_password"] = True
        self.show_sign_in(request, session)

    def redirect_uri_error(self, redirect_uri: str | None, registered: list[str]):
        description = "The 'redirect_uri' parameter must be a Login redirect URI in the client app settings"
        hint = "Use exactly one of the callback URLs registered for this app."
        if not redirect_uri:
            hint = "The authorize request has no redirect_uri. " + hint
        else:
            near = [u for u in registered if u.rstrip("/") == redirect_uri.rstrip("/")]
            if near:
                hint = (f"Only the trailing slash differs: the registered callback is {near[0]} and the request "
                        f"sent {redirect_uri}. Use the redirect URI you registered, with its trailing '/'.")
        self.error_page(400, "Bad request", "invalid_request", description, hint, registered=registered)

    def current_session(self):
        session_id = self.get_cookie(self.cookie_name("session"))
        return self.store.session(session_id, self.now) if session_id else None

    def show_sign_in(self, request: dict, session, *, error: str = "", status: int = 200, username: str = ""):
        txn, csrf = self.store.add_transaction(request, self.now + self.authority.settings.sign_in_page_lifetime)
        self.set_cookie(self.cookie_name("csrf"), csrf, httponly=True, samesite="Lax", path="/")
        app = self.store.app(request["client_id"])
        signed_in = None
        if session is not None and not request.get("require_password"):
            user = self.store.user(session["user_id"])
            signed_in = user.username if user else None
        # The redirect after the form is posted is a form navigation: allow its target.
        try:
            target = " " + csp_source(self.browser_address(request["redirect_uri"]))
        except BadInput:  # a callback kept by an older sandbox that registration would refuse today
            target = ""
        self.set_header("Content-Security-Policy", f"{BASE_CSP}; form-action 'self'{target}")
        self.page("signin.html", status, txn=txn, csrf=csrf, app_name=app.name, scopes=request["scopes"],
                  username=username or request.get("login_hint", ""), error=error, signed_in=signed_in,
                  redirect_uri=request["redirect_uri"])

    # --- the sign-in form's answer ---
    async def sign_in(self):
        try:
            fields = self.form()
        except BadInput as bad:
            return self.error_page(400, "Sign-in refused", "invalid_request", str(bad),
                                   "Sign in from the sandbox's own sign-in page: open the authorize link again.")
        txn = fields.get("txn", "")
        csrf_form = fields.get("csrf", "")
        csrf_cookie = self.get_cookie(self.cookie_name("csrf")) or ""
        found = self.store.transaction_request(txn, self.now) if txn else None
        if found is None:
            return self.error_page(400, "This sign-in page has expired", "invalid_request",
                                   "The sign-in form was already used or is too old.",
                                   "Go back to your app (the notebook) and open the authorize link again.")
        request, csrf = found
        origin = foreign_origin(self.request, self.authority)
        if origin is not None:
            return self.error_page(403, "Sign-in refused", "invalid_request",
                                   f"The sign-in form was posted from a page of another site ({origin}).",
                                   "Sign in on the sandbox's own sign-in page: open the authorize link again.")
        # Compared as bytes: compare_digest refuses str with non-ASCII characters (a forged form).
        if not (csrf_form and hmac.compare_digest(csrf_form.encode(), csrf.encode())
                and hmac.compare_digest(csrf_cookie.encode(), csrf.encode())):
            return self.error_page(403, "Sign-in refused", "invalid_request",
                                   "The form's CSRF token does not match this browser's cookie.",
                                   "Open the authorize link again in this browser and sign in from that page.")
        self.store.end_transaction(txn)
        if fields.get("action", "allow") == "deny":
            return self.redirect(add_query(self.browser_address(request["redirect_uri"]), {
                "error": "access_denied", "error_description": MSG["denied"], "state": request["state"]},
                fragment=request["fragment"]))
        session = self.current_session()
        if session is not None and not request.get("require_password"):
            return self.finish_authorize(request, session["user_id"], session["auth_time"])
        username = fields.get("username", "").strip()
        if inputs.problem_character(username):  # nobody's username: say so, keep what was typed
            return self.show_sign_in(request, None, status=400, username=inputs.shown(username),
                                     error=f"The username contains {inputs.problem_character(username)}.")
        limits = self.authority.sign_in_limits
        keys = (("user", username.lower()), ("address", self.request.remote_ip))
        wait = max(limits[kind].wait(key) for kind, key in keys)
        if wait:  # no password is checked while a username or an address must wait
            return self.refuse_sign_in(request, username, wait, "")
        user = self.store.user_by_name(username) if username else None
        password = fields.get("password", "")
        # The hash runs on a worker thread (it releases the GIL) so sign-ins do not stall the server;
        # an unknown user is checked against a dummy hash so both answers take as long.
        stored = user.password_hash if user is not None else DUMMY_HASH
        matches = await tornado.ioloop.IOLoop.current().run_in_executor(None, check_password, password, stored)
        if user is None or not matches:
            wait = max(limits[kind].failed(key) for kind, key in keys)
            failed = "Sign-in failed: that username and password do not match a sandbox user."
            if wait:
                return self.refuse_sign_in(request, username, wait, failed + " ")
            return self.show_sign_in(request, None, status=401, username=username, error=failed)
        limits["user"].succeeded(username.lower())
        session_id = ids.opaque()
        self.store.add_session(session_id, user.id, self.now, self.now + self.authority.settings.session_lifetime)
        self.set_cookie(self.cookie_name("session"), session_id, httponly=True, samesite="Lax", path="/")
        self.finish_authorize(request, user.id, self.now)

    def refuse_sign_in(self, request: dict, username: str, wait: float, before: str):
        """429 and the sign-in page again, saying how long to wait (RFC 6585; Retry-After)."""
        seconds = math.ceil(wait)
        until = time.strftime("%H:%M:%S", time.gmtime(self.now + seconds))
        self.set_header("Retry-After", str(seconds))
        self.show_sign_in(request, None, status=429, username=username, error=(
            f"{before}Too many failed sign-ins for this username or from this address: wait {seconds} second"
            f"{'' if seconds == 1 else 's'} (until {until} UTC), then sign in again. Each further failure "
            "doubles the wait."))

    def finish_authorize(self, request: dict, user_id: str, auth_time: float):
        user = self.store.user(user_id)
        params = {"state": request["state"]}
        if user is None or not user.assigned:
            params.update(error="access_denied", error_description=MSG["not_assigned"])
        else:
            code = ids.authorization_code()
            self.store.add_code(
                code, api_key=request["client_id"], user_id=user.id, redirect_uri=request["redirect_uri"],
                scopes=request["scopes"], nonce=request["nonce"], code_challenge=request["code_challenge"],
                auth_time=auth_time, expires=self.now + self.authority.settings.code_lifetime,
            )
            params = {"code": code, "state": request["state"]}
        self.redirect(add_query(self.browser_address(request["redirect_uri"]), params, fragment=request["fragment"]))


class Token(IssuerHandler):
    """``POST {issuer}/v1/token``: the three grants the tutorial uses (RFC 6749 sections 4.1.3,
    4.4 and 6). Parameters may come in the form body or, as the tutorial's curl examples send
    them, in the URL's query."""

    def post(self, server_id: str):
        try:
            body = self.issue()
        except OAuthError as err:
            return self.oauth_error(err.status, err.error, err.description)
        self.send_json(body)

    def issue(self) -> dict:
        """The token response; raises OAuthError."""
        request = self.request
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if request.body and ctype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            raise OAuthError(400, "invalid_request", "The token request body must be application/x-www-form-urlencoded.")
        try:
            params = self.params()
        except DuplicateParameter as dup:
            raise OAuthError(400, "invalid_request", f"The '{dup.name}' parameter was given more than once.") from None
        except BadInput as bad:
            raise OAuthError(400, "invalid_request", str(bad)) from None
        app = authenticate_client(self.store, request.headers.get("Authorization"), params)
        grant_type = params.get("grant_type")
        if not grant_type:
            raise OAuthError(400, "invalid_request", "The 'grant_type' parameter is missing.")
        grant = {
            "authorization_code": self.authorization_code,
            "refresh_token": self.refresh_token,
            "client_credentials": self.client_credentials,
        }.get(grant_type)
        if grant is None:
            raise OAuthError(400, "unsupported_grant_type", MSG["grant_types"])
        return grant(app, params)

    def authorization_code(self, app, params):
        code_value = params.get("code")
        if not code_value:
            raise OAuthError(400, "invalid_request", "The 'code' parameter is missing.")
        code = self.store.code(code_value)
        if code is None or code.api_key != app.api_key:
            raise OAuthError(400, "invalid_grant", MSG["bad_code"])
        if code.used is not None:
            # RFC 6749 section 4.1.2: a code used twice revokes what it was exchanged for.
            if code.grant_id:
                self.store.revoke_grant(code.grant_id, self.now)
            raise OAuthError(400, "invalid_grant", MSG["bad_code"])
        if code.expires <= self.now:
            raise OAuthError(400, "invalid_grant", MSG["bad_code"])
        if params.get("redirect_uri") != code.redirect_uri:
            raise OAuthError(400, "invalid_grant", MSG["redirect_mismatch"])
        verifier = params.get("code_verifier")
        if code.code_challenge is None:
            if verifier is not None:
                raise OAuthError(400, "invalid_grant", MSG["pkce"] + " A code_verifier was sent, but the "
                                 "authorize request had no code_challenge.")
        else:
            if verifier is None or not PKCE_PATTERN.match(verifier):
                raise OAuthError(400, "invalid_grant", MSG["pkce"])
            computed = ids.b64url(hashlib.sha256(verifier.encode("ascii")).digest())
            if not hmac.compare_digest(computed, code.code_challenge):
                raise OAuthError(400, "invalid_grant", MSG["pkce"])
        user = self.store.user(code.user_id)
        refresh = ids.refresh_token() if "offline_access" in code.scopes else None
        with self.store.transaction():  # one commit for the grant, the code and the tokens
            grant_id = self.store.add_grant(api_key=app.api_key, user_id=user.id, scopes=code.scopes,
                                            auth_time=code.auth_time, now=self.now, refresh_token=refresh)
            if not self.store.use_code(code_value, self.now, grant_id):
                # Another request used the code first: a reuse, so neither keeps its tokens.
                self.store.revoke_grant(grant_id, self.now)
                winner = self.store.code(code_value)
                if winner is not None and winner.grant_id:
                    self.store.revoke_grant(winner.grant_id, self.now)
                body = None
            else:
                self.store.count(app.api_key, "exchange", self.now)
                body = self.authority.issue_tokens(
                    api_key=app.api_key, scopes=code.scopes, user=user, grant_id=grant_id,
                    auth_time=code.auth_time, nonce=code.nonce, refresh_token=refresh)
        if body is None:
            raise OAuthError(400, "invalid_grant", MSG["bad_code"])
        return body

    def refresh_token(self, app, params):
        presented = params.get("refresh_token")
        if not presented:
            raise OAuthError(400, "invalid_request", "The 'refresh_token' parameter is missing.")
        grant = self.store.grant_by_refresh_token(presented)
        if (grant is None or grant.api_key != app.api_key or grant.revoked is not None
                or grant.refresh_used < self.now - self.authority.settings.refresh_idle_lifetime):
            raise OAuthError(400, "invalid_grant", MSG["bad_refresh"])
        scopes = list(grant.scopes)
        if "scope" in params:
            asked = params["scope"].split()
            if not asked or any(s not in grant.scopes for s in asked):
                raise OAuthError(400, "invalid_scope", MSG["bad_scope"])
            scopes = [s for s in grant.scopes if s in asked]
        user = self.store.user(grant.user_id)
        self.store.touch_refresh_token(grant.id, self.now)
        self.store.count(app.api_key, "refresh", self.now)
        # Web apps get a persistent refresh token: the same one comes back.
        return self.authority.issue_tokens(
            api_key=app.api_key, scopes=scopes, user=user, grant_id=grant.id,
            auth_time=grant.auth_time, refresh_token=presented)

    def client_credentials(self, app, params):
        if app.public:
            raise OAuthError(400, "unauthorized_client",
                             "The client is not authorized to use the provided grant type. "
                             "Configured grant types: [authorization_code, refresh_token].")
        asked = params.get("scope", "").split()
        if not asked:
            raise OAuthError(400, "invalid_scope", MSG["no_default_scope"])
        if any(s not in CLIENT_CREDENTIALS_SCOPES for s in asked):
            raise OAuthError(400, "invalid_scope", MSG["bad_scope"])
        self.store.count(app.api_key, "client_credentials", self.now)
        return self.authority.issue_tokens(api_key=app.api_key, scopes=list(dict.fromkeys(asked)))


class UserInfo(IssuerHandler):
    def get(self, server_id: str):
        claims = self.bearer_claims()
        if claims is None:
            self.set_header("WWW-Authenticate", 'Bearer error="invalid_token", '
                            'error_description="The access token is invalid."')
            return self.send_json({"error": "invalid_token", "error_description": "The access token is invalid."}, 401)
        if "openid" not in claims.get("scp", []) or "uid" not in claims:
            self.set_header("WWW-Authenticate", 'Bearer error="insufficient_scope", '
                            'error_description="The access token must provide access to at least one of these '
                            'scopes - profile, email, address or phone"')
            return self.send_json({"error": "insufficient_scope",
                                   "error_description": "The access token must include the 'openid' scope."}, 403)
        user = self.store.user(claims["uid"])
        info = {"sub": user.id}
        if "profile" in claims["scp"]:
            info.update(name=user.name, preferred_username=user.username)
        if "email" in claims["scp"]:
            info.update(email=user.username, email_verified=True)
        self.send_json(info)

    post = get


class Introspect(IssuerHandler):
    """RFC 7662."""

    def post(self, server_id: str):
        try:
            params = self.params()
        except (DuplicateParameter, BadInput) as exc:
            return self.oauth_error(400, "invalid_request", f"Bad parameters: {exc}")
        app = self.authenticate_client(params)
        if app is None:
            return
        token = params.get("token")
        if not token:
            return self.oauth_error(400, "invalid_request", "The 'token' parameter is missing.")
        self.send_json(self.describe(token, app))

    def describe(self, token: str, app) -> dict:
        try:
            claims = verify(token, self.authority.published_keys())
        except TokenInvalid:
            claims = None
        if claims is not None:
            if (claims.get("iss") != self.authority.issuer or claims.get("exp", 0) <= self.now
                    or claims.get("cid", claims.get("aud")) != app.api_key):
                return {"active": False}
            if "jti" in claims and str(claims["jti"]).startswith("AT."):
                if self.store.access_token_revoked(claims["jti"]):
                    return {"active": False}
                return {"active": True, "token_type": "Bearer", "scope": " ".join(claims.get("scp", [])),
                        "client_id": claims["cid"], "username": claims.get("sub"), "exp": claims["exp"],
                        "iat": claims["iat"], "sub": claims.get("sub"), "aud": claims["aud"],
                        "iss": claims["iss"], "jti": claims["jti"], "token_type_hint": "access_token",
                        **({"uid": claims["uid"]} if "uid" in claims else {})}
            return {"active": True, "token_type_hint": "id_token", "client_id": app.api_key,
                    "sub": claims.get("sub"), "exp": claims["exp"], "iat": claims["iat"], "iss": claims["iss"],
                    "aud": claims["aud"]}
        grant = self.store.grant_by_refresh_token(token)
        if (grant is None or grant.api_key != app.api_key or grant.revoked is not None
                or grant.refresh_used < self.now - self.authority.settings.refresh_idle_lifetime):
            return {"active": False}
        user = self.store.user(grant.user_id)
        return {"active": True, "token_type": "refresh_token", "scope": " ".join(grant.scopes),
                "client_id": app.api_key, "username": user.username, "sub": user.username, "uid": user.id,
                "iss": self.authority.issuer, "token_type_hint": "refresh_token"}


class Revoke(IssuerHandler):
    """RFC 7009: the answer is 200 whether or not the token was known."""

    def post(self, server_id: str):
        try:
            params = self.params()
        except (DuplicateParameter, BadInput) as exc:
            return self.oauth_error(400, "invalid_request", f"Bad parameters: {exc}")
        app = self.authenticate_client(params)
        if app is None:
            return
        token = params.get("token")
        if not token:
            return self.oauth_error(400, "invalid_request", "The 'token' parameter is missing.")
        try:
            claims = verify(token, self.authority.published_keys())
        except TokenInvalid:
            claims = None
        if claims is not None and "jti" in claims:
            # Only an access token of this app (ID tokens are not revocable, like at Okta).
            if str(claims["jti"]).startswith("AT.") and claims.get("cid") == app.api_key:
                self.store.revoke_access_token(claims["jti"], app.api_key, float(claims.get("exp") or self.now),
                                               self.now)
        else:
            grant = self.store.grant_by_refresh_token(token)
            if grant is not None and grant.api_key == app.api_key:
                self.store.revoke_grant(grant.id, self.now)
        self.set_status(200)
        self.finish()


class Logout(IssuerHandler):
    def get(self, server_id: str):
        session_id = self.get_cookie(self.cookie_name("session"))
        if session_id:
            self.store.end_session(session_id)
        self.clear_cookie(self.cookie_name("session"), path="/")
        try:
            params = self.params(body=False)
        except BadInput:
            params = {}
        target = params.get("post_logout_redirect_uri")
        hint = params.get("id_token_hint")
        if target and hint:
            try:
                claims = verify(hint, self.authority.published_keys())
            except TokenInvalid:
                claims = {}
            app = self.store.app(str(claims.get("aud", "")))
            if app is not None and target in self.authority.registered_redirect_uris(app):
                return self.redirect(add_query(target, {"state": params.get("state")}))
        self.page("signed_out.html")
