"""The identity server's endpoints under the issuer ``/oauth2/{server id}``, answering as
Fortellis' Okta custom authorization server does: its rules, and its error texts from the
catalog in okta.py (docs/fidelity.md lists each case with its source)."""

from __future__ import annotations

import asyncio

import base64
import binascii
import hashlib
import hmac
import math
import re
import secrets
import time
from urllib.parse import unquote_plus, urlsplit

import tornado.ioloop

from . import ids, inputs
from .authority import CLIENT_CREDENTIALS_SCOPES, DEMO_USERS, SCOPE_CLAIMS, SCOPES, user_claims
from .inputs import BadInput, csp_source
from .jwt_rs256 import TokenInvalid, verify
from .okta import GRANT_TYPES, RESPONSE_MODES, OAuthError
from .storage import check_password, hash_password
from .throttle import RATE_LIMIT_HEADERS
from .web import BASE_CSP, DuplicateParameter, SandboxHandler, add_query, foreign_origin

STATE_PATTERN = re.compile(r"[A-Za-z0-9,._\-]{1,1024}")  # Okta's rule for `state`
CHALLENGE_PATTERN = re.compile(r"[A-Za-z0-9_\-]{43}")  # base64url of a SHA-256 (RFC 7636 section 4.2)
VERIFIER_PATTERN = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 section 4.1
PROMPTS = ("none", "consent", "login")
DUMMY_HASH = hash_password("no user has this password")
# What a browser may send along with a CORS request here (the preflight's answer), and see of the answer.
CORS_REQUEST_HEADERS = "Accept, Authorization, Content-Type"
CORS_EXPOSED_HEADERS = "Date, " + ", ".join(RATE_LIMIT_HEADERS)


def origin_of(uri: str) -> str:
    """The origin (RFC 6454) of a URL, as a browser's Origin header spells it."""
    parts = urlsplit(uri)
    scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def parse_basic(authorization: str) -> tuple[str, str] | None:
    """(client id, secret) from ``Basic base64(id:secret)``; None when it is not that."""
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep and client_id else None


def authenticate_client(store, authorization: str | None, query: dict, params: dict):
    """RFC 6749 section 2.3.1: the Basic header, or client_id and client_secret in the body,
    never both and never in the URL's query. Returns the app; raises OAuthError."""
    if "client_secret" in query or "client_assertion" in query:
        raise OAuthError("client_credentials_in_query")
    body_id, body_secret = params.get("client_id"), params.get("client_secret")
    if authorization:
        pair = parse_basic(authorization)
        if pair is None:
            raise OAuthError("invalid_basic_auth_creds")
        # Section 2.3.1 form-urlencodes the id and the secret before base64 (openid-client and other
        # certified clients do); most clients send them as they are. Both are understood.
        decoded = (unquote_plus(pair[0]), unquote_plus(pair[1]))
        readings = [pair] if decoded == pair else [pair, decoded]
        if body_secret is not None or (body_id is not None and body_id not in {r[0] for r in readings}):
            raise OAuthError("multiple_client_credentials")
    elif body_id is not None:
        readings = [(body_id, body_secret)]
    else:
        raise OAuthError("missing_client_credentials")
    app = next((found for found in (store.app(client_id) for client_id, _ in readings) if found), None)
    if app is None:
        raise OAuthError("invalid_client")
    secrets_sent = [secret for client_id, secret in readings if client_id == app.api_key or
                    unquote_plus(client_id) == app.api_key]
    if app.public:
        if any(secrets_sent):  # a public client has no secret to send
            raise OAuthError("invalid_client")
        return app
    if not any(secrets_sent):
        raise OAuthError("invalid_client")
    if not any(app.secret_matches(secret) for secret in secrets_sent if secret):
        raise OAuthError("invalid_client_secret")
    return app


class IssuerHandler(SandboxHandler):
    """An endpoint under the issuer: only this server's id is served."""

    #: The methods a browser's script may use here across origins (CORS), from the origins of the
    #: registered redirect URIs, which Okta trusts. None: no CORS at all.
    cors_methods: str | None = None
    cors_allowed = False

    def prepare(self):
        server_id = self.path_kwargs.get("server_id")
        if server_id is not None and server_id != self.authority.server_id:
            return self.send_json({"errorCode": "E0000007",
                                   "errorSummary": f"Not found: Resource not found: {server_id} (AuthorizationServer)"},
                                  404)
        self.cors_allowed = bool(self.cors_methods) and self.trusted_origin(self.request.headers.get("Origin"))
        if self.cors_allowed:
            self.set_header("Access-Control-Allow-Origin", self.request.headers["Origin"])
            self.set_header("Access-Control-Expose-Headers", CORS_EXPOSED_HEADERS)
        if self.cors_methods:
            self.add_header("Vary", "Origin")

    def trusted_origin(self, origin: str | None, app=None) -> bool:
        """True for the origin of a registered redirect URI (of ``app``, or of any app)."""
        if not origin:
            return False
        apps = [app] if app is not None else self.store.apps()
        return any(origin_of(uri) == origin.lower() for a in apps for uri in self.authority.registered_redirect_uris(a))

    def options(self, server_id: str, *args, **kwargs):
        """A CORS preflight: allowed for a trusted origin, answered without CORS headers otherwise
        (the browser then refuses the request, as it would with any server that does not trust it)."""
        if self.cors_methods is None:
            raise tornado.web.HTTPError(405)
        if self.cors_allowed:
            self.set_header("Access-Control-Allow-Methods", self.cors_methods)
            self.set_header("Access-Control-Allow-Headers", CORS_REQUEST_HEADERS)
            self.set_header("Access-Control-Max-Age", "600")
        self.set_status(204)
        self.finish()

    def fail(self, err: OAuthError) -> None:
        self.oauth_error(err.status, err.error, err.description)

    def limited(self, endpoint: str, client_id: str) -> bool:
        """Count this request against the client's per-minute limit (Okta's rate limits), with the
        X-Rate-Limit headers on the answer; True (after answering 429) when it is over."""
        app = self.store.app(client_id) if client_id else None
        limit = app.rate_limit if app is not None and app.rate_limit is not None \
            else self.authority.settings.rate_limit_per_minute
        allowed, headers = self.authority.rate_limits.take(f"{endpoint} {client_id}", limit)
        for name, value in headers.items():
            self.set_header(name, value)
        if allowed:
            return False
        # Okta's answer when a rate limit is exceeded (its error object, E0000047).
        self.send_json({"errorCode": "E0000047", "errorSummary": "API call exceeded rate limit due to too many "
                        "requests.", "errorLink": "E0000047", "errorId": "oae" + secrets.token_urlsafe(16)[:22],
                        "errorCauses": []}, 429)
        return True

    def bearer_claims(self):
        """Claims of a valid, unexpired, unrevoked access token from this server, or None."""
        scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            claims = verify(token.strip(), self.authority.published_keys())
        except TokenInvalid:
            return None
        if (claims.get("iss") != self.authority.issuer or not isinstance(claims.get("exp"), (int, float))
                or claims["exp"] <= self.now or not str(claims.get("jti", "")).startswith("AT.")
                or self.store.access_token_revoked(str(claims.get("jti")))):
            return None
        return claims


class Discovery(IssuerHandler):
    cors_methods = "GET"

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
            "response_modes_supported": RESPONSE_MODES.split(", "),
            "grant_types_supported": GRANT_TYPES.split(", "),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": list(SCOPES) + list(CLIENT_CREDENTIALS_SCOPES),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "claims_supported": ["ver", "jti", "iss", "aud", "iat", "exp", "cid", "uid", "scp", "sub", "amr",
                                 "idp", "nonce", "auth_time", "at_hash",
                                 *dict.fromkeys(c for claims in SCOPE_CLAIMS.values() for c in claims)],
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
    """The key set: the ACTIVE key, the NEXT one (published before it signs, as Okta does) and
    the EXPIRED ones of the last ``key_grace``. Okta sends ``max-age=..., must-revalidate``."""

    cors_methods = "GET"

    async def get(self, server_id: str):
        making = self.authority.next_key_made
        if making is not None and not making.done():
            # Right after start the NEXT key is still being generated (tens of milliseconds):
            # wait for it, so that every answer lists it (a failure is the server's log's, not this answer's).
            await asyncio.wait([making])
        self.set_header("Cache-Control", f"max-age={KEYS_MAX_AGE}, must-revalidate")
        self.clear_header("Pragma")
        self.send_json(self.authority.jwks())


KEYS_MAX_AGE = 24 * 3600  # a day: a NEXT key is always published before it signs


class Authorize(IssuerHandler):
    """GET: the authorize request. POST: an authorize request by form, or the answer of the
    sandbox's own sign-in or consent form (they carry ``txn``)."""

    def get(self, server_id: str):
        self.authorize(body=False)

    async def post(self, server_id: str):
        if "txn" in self.request.body_arguments:
            return await self.answer_form()
        self.authorize(body=True)

    # --- the authorize request ---
    def authorize(self, body: bool):
        duplicate = None
        try:
            params = self.params(body=body)
        except DuplicateParameter as dup:
            duplicate, params = dup.name, self.first_values(body)
        except BadInput as bad:
            return self.error_page(400, "Bad request", "invalid_request", str(bad))
        if self.limited("authorize", params.get("client_id", "")):
            return
        if duplicate in ("client_id", "redirect_uri"):
            # It is not known where to send the error: the page says so (RFC 6749 section 4.1.2.1).
            err = OAuthError("sandbox_duplicate_parameter", duplicate)
            return self.error_page(400, "Bad request", err.error, err.description,
                                   "Each authorize parameter may appear only once in the URL.")
        app = self.store.app(params.get("client_id", ""))
        if app is None:
            err = OAuthError("invalid_client_id")
            return self.error_page(err.status, "Bad request", err.error, err.description,
                                   "The client_id must be your app's API Key, exactly as the developer portal "
                                   "shows it.")
        redirect_uri = params.get("redirect_uri")
        registered = self.authority.registered_redirect_uris(app)
        if not redirect_uri or redirect_uri not in registered:
            return self.redirect_uri_error(redirect_uri, registered)
        state = params.get("state")
        mode = params.get("response_mode", "query")

        def fail(err: OAuthError, keep_state: bool = True):
            self.respond(redirect_uri, {"error": err.error, "error_description": err.description,
                                        "state": state if keep_state else None},
                         mode if mode in ("query", "fragment", "form_post") else "query")

        if duplicate:
            return fail(OAuthError("sandbox_duplicate_parameter", duplicate))
        if mode not in RESPONSE_MODES.split(", "):
            return fail(OAuthError("unsupported_response_mode", RESPONSE_MODES))
        if params.get("response_type") != "code":
            return fail(OAuthError("unsupported_response_type", "code"))
        if mode == "okta_post_message":
            return fail(OAuthError("unsupported_response_mode_okta_post_message_with_code"))
        if not state or not STATE_PATTERN.fullmatch(state):
            return fail(OAuthError("invalid_state"), keep_state=False)
        scopes = params.get("scope", "").split()
        if not scopes:
            return fail(OAuthError("no_default_scopes"))
        if any(s not in SCOPES for s in scopes):
            return fail(OAuthError("no_matching_scope"))
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if challenge is not None or method is not None:
            if method != "S256":
                return fail(OAuthError("pkce_unsupported_code_challenge_method", "S256"))
            if not challenge or not CHALLENGE_PATTERN.fullmatch(challenge):
                return fail(OAuthError("pkce_invalid_challenge"))
        elif app.public:
            return fail(OAuthError("pkce_missing_challenge"))
        prompts = params.get("prompt", "").split()
        if any(p not in PROMPTS for p in prompts) or ("none" in prompts and len(prompts) > 1):
            return fail(OAuthError("invalid_prompt", ", ".join(PROMPTS)))
        max_age = params.get("max_age")
        if max_age is not None and not (re.fullmatch(r"[0-9]{1,10}", max_age) and int(max_age) < 2 ** 31):
            return fail(OAuthError("invalid_max_age"))

        request = {
            "client_id": app.api_key, "redirect_uri": redirect_uri, "state": state, "scopes": scopes,
            "nonce": params.get("nonce"), "code_challenge": challenge, "mode": mode,
            "login_hint": params.get("login_hint", ""), "prompt_consent": "consent" in prompts,
        }
        session = self.current_session()
        fresh_enough = session is not None and (max_age is None or self.now - session["auth_time"] <= int(max_age))
        if "none" in prompts:
            if not fresh_enough:
                return fail(OAuthError("login_required"))
            if app.consent:  # no page may be shown, and this app asks for consent
                return fail(OAuthError("consent_required", ", ".join(scopes)))
            return self.finish_authorize(request, session["user_id"], session["auth_time"])
        if fresh_enough and "login" not in prompts:
            return self.signed_in(request, session["user_id"], session["auth_time"])
        self.show_sign_in(request)

    def first_values(self, body: bool) -> dict[str, str]:
        """The parameters with only the first value of each: to know where to send an error."""
        raw: dict[str, str] = {}
        for source in [self.request.query_arguments] + ([self.request.body_arguments] if body else []):
            for name, values in source.items():
                raw.setdefault(name, values[0].decode("utf-8", "replace"))
        return raw

    def redirect_uri_error(self, redirect_uri: str | None, registered: list[str]):
        err = OAuthError("missing_redirect_uri" if not redirect_uri else "illegal_redirect_uri")
        hint = "Use exactly one of the callback URLs registered for this app."
        if redirect_uri:
            near = [u for u in registered if u.rstrip("/") == redirect_uri.rstrip("/")]
            if near:
                hint = (f"Only the trailing slash differs: the registered callback is {near[0]} and the request "
                        f"sent {redirect_uri}. Use the redirect URI you registered, with its trailing '/'.")
        self.error_page(err.status, "Bad request", err.error, err.description, hint, registered=registered)

    def respond(self, redirect_uri: str, params: dict, mode: str):
        """Send the authorization response to the app: in the query, the fragment, or (form_post)
        as a form the browser posts to it at once (RFC 6749 section 4.1.2, OAuth 2.0 Form Post)."""
        target = self.browser_address(redirect_uri)
        if mode != "form_post":
            self.set_header("Referrer-Policy", "no-referrer")  # Okta's, for query and fragment
            return self.redirect(add_query(target, params, fragment=mode == "fragment"))
        self.set_header("Content-Security-Policy", f"{BASE_CSP}; form-action {csp_source(target)}")
        self.page("form_post.html", target=target, fields={k: v for k, v in params.items() if v is not None})

    def current_session(self):
        session_id = self.get_cookie(self.cookie_name("session"))
        return self.store.session(session_id, self.now) if session_id else None

    def new_form(self, request: dict) -> tuple[str, str]:
        txn, csrf = self.store.add_transaction(request, self.now + self.authority.settings.sign_in_page_lifetime)
        self.set_cookie(self.cookie_name("csrf"), csrf, httponly=True, samesite="Lax", path="/")
        return txn, csrf

    def form_policy(self, redirect_uri: str) -> None:
        """The redirect after a form is posted is a form navigation: the policy allows its target."""
        try:
            target = " " + csp_source(self.browser_address(redirect_uri))
        except BadInput:  # a callback kept by an older sandbox that registration would refuse today
            target = ""
        self.set_header("Content-Security-Policy", f"{BASE_CSP}; form-action 'self'{target}")

    def show_sign_in(self, request: dict, *, error: str = "", status: int = 200, username: str = ""):
        txn, csrf = self.new_form({**request, "step": "sign-in"})
        app = self.store.app(request["client_id"])
        self.form_policy(request["redirect_uri"])
        self.page("signin.html", status, txn=txn, csrf=csrf, app_name=app.name, scopes=request["scopes"],
                  username=username or request.get("login_hint", ""), error=error, consent=app.consent,
                  redirect_uri=self.browser_address(request["redirect_uri"]), demo_users=DEMO_USERS)

    def signed_in(self, request: dict, user_id: str, auth_time: float):
        """A user is signed in for this request: the consent page when the app asks for it, the
        redirect back with a code otherwise (Okta shows no consent screen to other apps)."""
        app = self.store.app(request["client_id"])
        user = self.store.user(user_id)
        if app.consent and user is not None and user.assigned:
            txn, csrf = self.new_form({**request, "step": "consent", "user_id": user_id, "auth_time": auth_time})
            self.form_policy(request["redirect_uri"])
            return self.page("consent.html", txn=txn, csrf=csrf, app_name=app.name, scopes=request["scopes"],
                             username=user.username, redirect_uri=request["redirect_uri"])
        self.finish_authorize(request, user_id, auth_time)

    # --- the answer of the sign-in or consent form ---
    async def answer_form(self):
        try:
            fields = self.form()
        except BadInput as bad:
            return self.error_page(400, "Sign-in refused", "invalid_request", str(bad),
                                   "Sign in from the sandbox's own sign-in page: open the authorize link again.")
        txn = fields.get("txn", "")
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
        csrf_cookie = self.get_cookie(self.cookie_name("csrf")) or ""
        sent = fields.get("csrf", "")
        # Compared as bytes: compare_digest refuses str with non-ASCII characters (a forged form).
        if not (sent and hmac.compare_digest(sent.encode(), csrf.encode())
                and hmac.compare_digest(csrf_cookie.encode(), csrf.encode())):
            return self.error_page(403, "Sign-in refused", "invalid_request",
                                   "The form's CSRF token does not match this browser's cookie.",
                                   "Open the authorize link again in this browser and sign in from that page.")
        self.store.end_transaction(txn)
        if self.limited("authorize", request["client_id"]):
            return
        if request.get("step") == "consent":
            if fields.get("action") != "allow":
                err = OAuthError("access_denied")
                return self.respond(request["redirect_uri"], {"error": err.error, "error_description": err.description,
                                                              "state": request["state"]}, request["mode"])
            return self.finish_authorize(request, request["user_id"], request["auth_time"])
        await self.sign_in(request, fields)

    async def sign_in(self, request: dict, fields: dict):
        username = fields.get("username", "").strip()
        if inputs.problem_character(username):  # nobody's username: say so, keep what was typed
            return self.show_sign_in(request, status=400, username=inputs.shown(username),
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
            return self.show_sign_in(request, status=401, username=username, error=failed)
        limits["user"].succeeded(username.lower())
        session_id = ids.opaque()
        self.store.add_session(session_id, user.id, self.now, self.now + self.authority.settings.session_lifetime)
        self.set_cookie(self.cookie_name("session"), session_id, httponly=True, samesite=self.session_samesite(),
                        path="/")
        self.signed_in(request, user.id, self.now)

    def session_samesite(self) -> str:
        """The session cookie's SameSite. On a JupyterHub, Strict: every page that rightly sends
        the learner's browser here is on the hub (their notebooks, these pages, their apps behind
        the same proxy), and a link from anywhere else (a chat, an e-mail, another site), say to
        the authorize endpoint of an app a neighbour registered here, then finds no session: the
        sign-in page asks for the password instead of signing the learner in to that app.
        Elsewhere Lax: Jupyter on localhost and a sandbox on 127.0.0.1 are two sites, and signing
        in once must keep working across them, as Okta's session does."""
        return "Strict" if self.authority.settings.hub_prefix is not None else "Lax"

    def refuse_sign_in(self, request: dict, username: str, wait: float, before: str):
        """429 and the sign-in page again, saying how long to wait (RFC 6585; Retry-After)."""
        seconds = math.ceil(wait)
        until = time.strftime("%H:%M:%S", time.gmtime(self.now + seconds))
        self.set_header("Retry-After", str(seconds))
        self.show_sign_in(request, status=429, username=username, error=(
            f"{before}Too many failed sign-ins for this username or from this address: wait {seconds} second"
            f"{'' if seconds == 1 else 's'} (until {until} UTC), then sign in again. Each further failure "
            "doubles the wait."))

    def finish_authorize(self, request: dict, user_id: str, auth_time: float):
        user = self.store.user(user_id)
        if user is None or not user.assigned:
            err = OAuthError("user_not_assigned")
            params = {"error": err.error, "error_description": err.description, "state": request["state"]}
        else:
            code = ids.authorization_code()
            self.store.add_code(
                code, api_key=request["client_id"], user_id=user.id, redirect_uri=request["redirect_uri"],
                scopes=request["scopes"], nonce=request["nonce"], code_challenge=request["code_challenge"],
                auth_time=auth_time, expires=self.now + self.authority.settings.code_lifetime, issued=self.now,
            )
            params = {"code": code, "state": request["state"]}
        self.respond(request["redirect_uri"], params, request.get("mode", "query"))


class Token(IssuerHandler):
    """``POST {issuer}/v1/token``: the three grants the tutorial uses (RFC 6749 sections 4.1.3,
    4.4 and 6). Parameters may come in the form body or, as the tutorial's curl examples send
    them, in the URL's query; client credentials never in the query."""

    cors_methods = "POST"

    def post(self, server_id: str):
        client_id = self.claimed_client_id()
        if self.limited("token", client_id):
            return
        try:
            body = self.issue()
        except OAuthError as err:
            return self.fail(err)
        self.send_json(body)

    def claimed_client_id(self) -> str:
        """The client the request says it is, before anything is checked (for its rate limit)."""
        pair = parse_basic(self.request.headers.get("Authorization", ""))
        if pair is not None:
            return unquote_plus(pair[0])
        values = self.request.body_arguments.get("client_id") or self.request.query_arguments.get("client_id") or [b""]
        return values[0].decode("utf-8", "replace")

    def issue(self) -> dict:
        """The token response; raises OAuthError."""
        request = self.request
        if request.body and self.media_type() not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            raise OAuthError("sandbox_token_request_body")
        try:
            params = self.params()
            query = self.params(body=False)
        except DuplicateParameter as dup:
            raise OAuthError("sandbox_duplicate_parameter", dup.name) from None
        except BadInput as bad:
            raise OAuthError("sandbox_unreadable_parameter", str(bad).split("'")[1] if "'" in str(bad) else "?") \
                from None
        app = authenticate_client(self.store, request.headers.get("Authorization"), query, params)
        grant_type = params.get("grant_type")
        if not grant_type:
            raise OAuthError("token_request_missing_grant_type", GRANT_TYPES)
        grant = {
            "authorization_code": self.authorization_code,
            "refresh_token": self.refresh_token,
            "client_credentials": self.client_credentials,
        }.get(grant_type)
        if grant is None:
            raise OAuthError("unsupported_grant_type", GRANT_TYPES)
        origin = request.headers.get("Origin")
        if origin is not None:  # a browser's request (Okta tells them by their Origin header)
            if not self.trusted_origin(origin, app):
                raise OAuthError("illegal_origin_browser_request")
            if grant_type == "client_credentials":
                raise OAuthError("unsupported_grant_type_browser_request")
        return grant(app, params, browser=origin is not None)

    def authorization_code(self, app, params, *, browser: bool):
        code_value = params.get("code")
        if not code_value:
            raise OAuthError("missing_token_request_parameter", "code")
        code = self.store.code(code_value)
        if code is None:
            raise OAuthError("invalid_authorization_code")
        if code.api_key != app.api_key:
            raise OAuthError("mismatched_client")
        if code.used is not None:
            # RFC 6749 section 4.1.2: a code used twice revokes what it was exchanged for.
            if code.grant_id:
                self.store.revoke_grant(code.grant_id, self.now)
            raise OAuthError("invalid_authorization_code")
        if code.expires <= self.now:
            raise OAuthError("invalid_authorization_code")
        if params.get("redirect_uri") != code.redirect_uri:
            raise OAuthError("mismatched_redirect_uri")
        verifier = params.get("code_verifier")
        if code.code_challenge is None:
            if verifier is not None:
                raise OAuthError("pkce_missing_challenge_verifier_present")
            if browser:
                raise OAuthError("unsupported_auth_method_browser_request")
        else:
            if verifier is None:
                raise OAuthError("pkce_missing_verifier")
            computed = ids.b64url(hashlib.sha256(verifier.encode("utf-8")).digest())
            if not VERIFIER_PATTERN.fullmatch(verifier) or not hmac.compare_digest(computed, code.code_challenge):
                raise OAuthError("pkce_verification_failed")
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
            raise OAuthError("invalid_authorization_code")
        return body

    def refresh_token(self, app, params, *, browser: bool):
        presented = params.get("refresh_token")
        if not presented:
            raise OAuthError("missing_token_request_parameter", "refresh_token")
        grant, within_grace = self.store.grant_by_refresh_token(presented), False
        leeway = self.authority.settings.refresh_grace if app.leeway is None else app.leeway
        if grant is None:
            replaced = self.store.grant_by_replaced_refresh_token(presented)
            if replaced is not None and replaced[0].api_key == app.api_key and replaced[0].revoked is None:
                grant, rotated = replaced
                if self.now - rotated > leeway:
                    # Okta: a rotated-out token used again invalidates the newest refresh token and
                    # every access token issued since the user signed in.
                    self.store.revoke_grant(grant.id, self.now)
                    raise OAuthError("invalid_refresh_token")
                within_grace = True
        if (grant is None or grant.api_key != app.api_key or grant.revoked is not None
                or grant.refresh_used < self.now - self.authority.settings.refresh_idle_lifetime):
            raise OAuthError("invalid_refresh_token")
        scopes = list(grant.scopes)
        if "scope" in params:
            asked = params["scope"].split()
            denied = [s for s in asked if s not in grant.scopes]
            if denied:
                raise OAuthError("refresh_scopes_denied", ", ".join(denied))
            if asked:
                scopes = [s for s in grant.scopes if s in asked]
        user = self.store.user(grant.user_id)
        self.store.touch_refresh_token(grant.id, self.now)
        self.store.count(app.api_key, "refresh", self.now)
        # Okta's refresh_token.rotation_type, per app: STATIC, the default for web apps, gives the
        # same token back (as in the tutorial); ROTATE, the default for single-page and other
        # public apps, a new one each time, the replaced one still honoured for the app's leeway.
        refresh = presented
        if app.rotation_type == "ROTATE":
            refresh = ids.refresh_token()
            self.store.rotate_refresh_token(grant.id, refresh, self.now, keep_previous=within_grace)
        return self.authority.issue_tokens(
            api_key=app.api_key, scopes=scopes, user=user, grant_id=grant.id,
            auth_time=grant.auth_time, refresh_token=refresh)

    def client_credentials(self, app, params, *, browser: bool):
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
        self.store.count(app.api_key, "client_credentials", self.now)
        return self.authority.issue_tokens(api_key=app.api_key, scopes=list(dict.fromkeys(asked)))


class UserInfo(IssuerHandler):
    """OpenID Connect Core 5.3; errors as Okta answers them: a WWW-Authenticate header and no body."""

    cors_methods = "GET, POST"

    def get(self, server_id: str):
        claims = self.bearer_claims()
        if claims is None:
            self.set_header("WWW-Authenticate", 'Bearer error="invalid_token", '
                            'error_description="The access token is invalid"')
            self.set_status(401)
            return self.finish()
        if "openid" not in claims.get("scp", []) or "uid" not in claims:
            self.set_header("Expires", "0")
            self.set_header("WWW-Authenticate", 'Bearer error="insufficient_scope", '
                            'error_description="The access token must provide access to at least one of these '
                            'scopes - profile, email, address or phone"')
            self.set_status(403)
            return self.finish()
        user = self.store.user(claims["uid"])
        self.send_json({"sub": user.id, **user_claims(user, claims["scp"], thin=False)})

    post = get


class ClientEndpoint(IssuerHandler):
    """An endpoint a client authenticates to and names a token at (RFC 7662, RFC 7009)."""

    cors_methods = "POST"

    def client_and_token(self):
        """(app, token) of the request, or None after answering with the error."""
        try:
            try:
                params, query = self.params(), self.params(body=False)
            except DuplicateParameter as dup:
                raise OAuthError("sandbox_duplicate_parameter", dup.name) from None
            except BadInput as bad:
                raise OAuthError("sandbox_unreadable_parameter", str(bad).split("'")[1] if "'" in str(bad) else "?") \
                    from None
            app = authenticate_client(self.store, self.request.headers.get("Authorization"), query, params)
            token = params.get("token")
            if not token:
                raise OAuthError("request_missing_token")
        except OAuthError as err:
            self.fail(err)
            return None
        return app, token

    def verified(self, token: str) -> dict | None:
        try:
            return verify(token, self.authority.published_keys())
        except TokenInvalid:
            return None


class Introspect(ClientEndpoint):
    """RFC 7662, with the members Okta answers with for each kind of token."""

    def post(self, server_id: str):
        found = self.client_and_token()
        if found is not None:
            self.send_json(self.describe(*found))

    def describe(self, app, token: str) -> dict:
        claims = self.verified(token)
        if claims is not None:
            if (claims.get("iss") != self.authority.issuer or not isinstance(claims.get("exp"), (int, float))
                    or claims["exp"] <= self.now):
                return {"active": False}
            jti = str(claims.get("jti", ""))
            if jti.startswith("AT."):
                if claims.get("cid") != app.api_key or self.store.access_token_revoked(jti):
                    return {"active": False}
                return {"active": True, "token_type": "Bearer", "scope": " ".join(claims.get("scp", [])),
                        "client_id": claims["cid"], "username": claims.get("sub"), "exp": claims["exp"],
                        "iat": claims["iat"], "sub": claims.get("sub"), "aud": claims["aud"], "iss": claims["iss"],
                        "jti": jti, **({"uid": claims["uid"]} if "uid" in claims else {})}
            if self.store.id_token_app(jti) != app.api_key:
                return {"active": False}
            # Okta documents no example for an ID token: its claims, as the members it lists.
            return {"active": True, "client_id": app.api_key, "sub": claims.get("sub"), "exp": claims["exp"],
                    "iat": claims.get("iat"), "iss": claims["iss"], "aud": claims.get("aud"), "jti": jti}
        grant = self.store.grant_by_refresh_token(token)
        idle = self.authority.settings.refresh_idle_lifetime
        if (grant is None or grant.api_key != app.api_key or grant.revoked is not None
                or grant.refresh_used < self.now - idle):
            return {"active": False}
        user = self.store.user(grant.user_id)
        # Okta's members for a refresh token: no iat, aud, iss or jti (and device_id, for device SSO).
        return {"active": True, "token_type": "Bearer", "scope": " ".join(grant.scopes), "client_id": app.api_key,
                "username": user.username, "exp": int(grant.refresh_used + idle), "sub": user.username}


class Revoke(ClientEndpoint):
    """RFC 7009: the answer is 200 whether or not the token was known."""

    def post(self, server_id: str):
        found = self.client_and_token()
        if found is None:
            return
        app, token = found
        claims = self.verified(token)
        if claims is not None:
            # Only an access token of this app (ID tokens are not revocable, like at Okta).
            if str(claims.get("jti", "")).startswith("AT.") and claims.get("cid") == app.api_key:
                exp = claims.get("exp") if isinstance(claims.get("exp"), (int, float)) else self.now
                self.store.revoke_access_token(claims["jti"], app.api_key, float(exp), self.now)
        else:
            grant = self.store.grant_by_refresh_token(token)
            if grant is not None and grant.api_key == app.api_key:
                self.store.revoke_grant(grant.id, self.now)
        self.set_status(200)
        self.finish()


class Logout(IssuerHandler):
    """RP-initiated logout as Okta has it: ``id_token_hint`` names the app (an ID token this server
    issued, valid or expired), ``post_logout_redirect_uri`` must be one of that app's sign-out
    redirect URIs; without one the browser lands on the sandbox's signed-out page."""

    def get(self, server_id: str):
        try:
            params = self.params(body=False)
        except BadInput as bad:
            return self.error_page(400, "Sign-out refused", "invalid_request", str(bad))
        hint, target = params.get("id_token_hint"), params.get("post_logout_redirect_uri")
        app = self.hinted_app(hint) if hint else None
        if app is None:
            # Okta sends the browser to an error page for an invalid hint (its text is not documented).
            return self.error_page(400, "Sign-out refused", "invalid_request",
                                   "The 'id_token_hint' parameter must be an ID token this server issued."
                                   if hint else "The 'id_token_hint' parameter is required.",
                                   "Send the ID token of the sign-in you end (the id_token of its token response).")
        logout_uris = [u for registered in app.logout_uris for u in self.authority.expand_redirect_uri(registered)]
        if target is not None and target not in logout_uris:
            err = OAuthError("illegal_post_logout_redirect_uri")
            return self.error_page(err.status, "Sign-out refused", err.error, err.description,
                                   "Use one of the sign-out redirect URIs registered for this app.",
                                   registered=logout_uris)
        session_id = self.get_cookie(self.cookie_name("session"))
        if session_id:
            self.store.end_session(session_id)
        self.clear_cookie(self.cookie_name("session"), path="/")
        if target is None:
            return self.page("signed_out.html", state=None)
        self.redirect(add_query(self.browser_address(target), {"state": params.get("state")}))

    def hinted_app(self, hint: str):
        """The app an ID token this server signed was issued to (its expiry does not matter)."""
        try:
            claims = verify(hint, self.authority.published_keys())
        except TokenInvalid:
            return None
        if claims.get("iss") != self.authority.issuer or not str(claims.get("jti", "")).startswith("ID."):
            return None
        api_key = self.store.id_token_app(claims["jti"]) or claims.get("aud")
        return self.store.app(api_key) if isinstance(api_key, str) else None
