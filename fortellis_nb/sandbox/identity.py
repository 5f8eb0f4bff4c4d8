"""The identity server's endpoints under the issuer ``/oauth2/{server id}``, answering as
Fortellis' Okta custom authorization server does: its error texts from the catalog in okta.py
(docs/fidelity.md lists each case with its source). The rules are in grants.py; a handler here
reads the request into plain values, calls them, and writes the answer (a redirect, a page,
JSON), with what only a browser has: cookies, the sign-in and consent forms, CORS."""

from __future__ import annotations

import asyncio
import hmac
import math
import secrets
import time
from urllib.parse import unquote_plus

import tornado.ioloop

from . import grants, ids, inputs
from .authority import CLIENT_CREDENTIALS_SCOPES, DEMO_USERS, SCOPE_CLAIMS, SCOPES, user_claims
from .grants import NotRedirected, Redirected, parse_basic
from .inputs import BadInput, csp_source
from .okta import GRANT_TYPES, RESPONSE_MODES, OAuthError
from .storage import check_password, hash_password
from .throttle import RATE_LIMIT_HEADERS
from .web import BASE_CSP, DuplicateParameter, SandboxHandler, add_query, foreign_origin

DUMMY_HASH = hash_password("no user has this password")
# What a browser may send along with a CORS request here (the preflight's answer), and see of the answer.
# Okta's own browser SDK (okta-auth-js) sends X-Okta-User-Agent-Extended with every request, and
# Okta's servers allow it (okta/okta-auth-js issue 1451).
CORS_REQUEST_HEADERS = "Accept, Authorization, Content-Type, X-Okta-User-Agent-Extended"
CORS_EXPOSED_HEADERS = "Date, " + ", ".join(RATE_LIMIT_HEADERS)


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
        self.cors_allowed = bool(self.cors_methods) and grants.trusted_origin(self.authority, self.request.headers.get("Origin"))
        if self.cors_allowed:
            self.set_header("Access-Control-Allow-Origin", self.request.headers["Origin"])
            self.set_header("Access-Control-Expose-Headers", CORS_EXPOSED_HEADERS)
        if self.cors_methods:
            self.add_header("Vary", "Origin")

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
        return grants.access_token_claims(self.authority, token.strip())

    def client_params(self) -> tuple[dict, dict]:
        """(query and body parameters, the query's alone) of a request a client authenticates
        in; a parameter given twice or not UTF-8 is Okta's invalid_request."""
        try:
            return self.params(), self.params(body=False)
        except DuplicateParameter as dup:
            raise OAuthError("illegal_duplicated_parameters", dup.name) from None
        except BadInput as bad:
            raise OAuthError("sandbox_unreadable_parameter", str(bad).split("'")[1] if "'" in str(bad) else "?") \
                from None


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
        try:
            request = grants.authorize_request(self.authority, params, duplicate)
            session = grants.session_to_use(self.authority, request, self.current_session())
        except NotRedirected as refused:
            return self.error_page(refused.status, "Bad request", refused.error, refused.description, refused.hint,
                                   registered=refused.registered)
        except Redirected as refused:
            return self.respond(refused.redirect_uri, refused.params, refused.mode)
        if session is None:
            return self.show_sign_in(request)
        self.signed_in(request, session["user_id"], session["auth_time"])

    def first_values(self, body: bool) -> dict[str, str]:
        """The parameters with only the first value of each: to know where to send an error."""
        raw: dict[str, str] = {}
        for source in [self.request.query_arguments] + ([self.request.body_arguments] if body else []):
            for name, values in source.items():
                raw.setdefault(name, values[0].decode("utf-8", "replace"))
        return raw

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
        app = self.store.known_app(request["client_id"])
        self.form_policy(request["redirect_uri"])
        self.page("signin.html", status, txn=txn, csrf=csrf, app_name=app.name, scopes=request["scopes"],
                  username=username or request.get("login_hint", ""), error=error, consent=app.consent,
                  redirect_uri=self.browser_address(request["redirect_uri"]), demo_users=DEMO_USERS)

    def signed_in(self, request: dict, user_id: str, auth_time: float):
        """A user is signed in for this request: the consent page when the app asks for it, the
        redirect back with a code otherwise (Okta shows no consent screen to other apps)."""
        app = self.store.known_app(request["client_id"])
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
        if not self.csrf_matches(fields.get("csrf", ""), csrf):
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

    def csrf_matches(self, sent: str, csrf: str) -> bool:
        """The form's token and this browser's cookie are both the transaction's (double submit)."""
        cookie = self.get_cookie(self.cookie_name("csrf")) or ""
        # Compared as bytes: compare_digest refuses str with non-ASCII characters (a forged form).
        return bool(sent) and hmac.compare_digest(sent.encode(), csrf.encode()) \
            and hmac.compare_digest(cookie.encode(), csrf.encode())

    async def sign_in(self, request: dict, fields: dict):
        username = fields.get("username", "").strip()
        if inputs.problem_character(username):  # nobody's username: say so, keep what was typed
            return self.show_sign_in(request, status=400, username=inputs.shown(username),
                                     error=f"The username contains {inputs.problem_character(username)}.")
        limits = self.authority.sign_in_limits
        keys = (("user", username.lower()), ("address", self.request.remote_ip or ""))
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
        params = grants.issue_code(self.authority, request, user_id, auth_time)
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
        if self.request.body and self.media_type() not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            raise OAuthError("sandbox_token_request_body")
        params, query = self.client_params()
        app = grants.authenticate_client(self.store, self.request.headers.get("Authorization"), query, params)
        return grants.token_response(self.authority, app, params, self.request.headers.get("Origin"))


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
        user = self.store.known_user(claims["uid"])
        self.send_json({"sub": user.id, **user_claims(user, claims["scp"], thin=False)})

    post = get


class ClientEndpoint(IssuerHandler):
    """An endpoint a client authenticates to and names a token at (RFC 7662, RFC 7009)."""

    cors_methods = "POST"

    def client_and_token(self):
        """(app, token) of the request, or None after answering with the error."""
        try:
            params, query = self.client_params()
            app = grants.authenticate_client(self.store, self.request.headers.get("Authorization"), query, params)
            token = params.get("token")
            if not token:
                raise OAuthError("request_missing_token")
        except OAuthError as err:
            self.fail(err)
            return None
        return app, token


class Introspect(ClientEndpoint):
    """RFC 7662, with the members Okta answers with for each kind of token."""

    def post(self, server_id: str):
        found = self.client_and_token()
        if found is not None:
            self.send_json(grants.introspect(self.authority, *found))


class Revoke(ClientEndpoint):
    """RFC 7009: the answer is 200 whether or not the token was known."""

    def post(self, server_id: str):
        found = self.client_and_token()
        if found is None:
            return
        grants.revoke(self.authority, *found)
        self.set_status(200)
        self.finish()


class Logout(IssuerHandler):
    """RP-initiated logout as Okta has it: ``id_token_hint`` names the app (an ID token this server
    issued, valid or expired), ``post_logout_redirect_uri`` must be one of that app's sign-out
    redirect URIs; without one the browser lands on the sandbox's signed-out page."""

    def get(self, server_id: str):
        try:
            params = self.params(body=False)
        except DuplicateParameter as dup:  # Okta's words, as at its other endpoints
            twice = OAuthError("illegal_duplicated_parameters", dup.name)
            return self.error_page(twice.status, "Sign-out refused", twice.error, twice.description)
        except BadInput as bad:
            return self.error_page(400, "Sign-out refused", "invalid_request", str(bad))
        try:
            signing_out = grants.sign_out(self.authority, params)
        except NotRedirected as refused:
            return self.error_page(refused.status, "Sign-out refused", refused.error, refused.description,
                                   refused.hint, registered=refused.registered)
        session_id = self.get_cookie(self.cookie_name("session"))
        if session_id:
            self.store.end_session(session_id)
        self.clear_cookie(self.cookie_name("session"), path="/")
        if signing_out.target is None:
            return self.page("signed_out.html", state=None)
        self.redirect(add_query(self.browser_address(signing_out.target), {"state": params.get("state")}))
