"""One object that runs the tutorial, step by step, against any OpenID provider: real Fortellis,
an Okta server, or the local sandbox.

    >>> from fortellis_nb.oauth import FortellisClient
    >>> client = FortellisClient()                       # FORTELLIS_* set (or .env)
    >>> request = client.authorization_url(scopes="openid offline_access")
    >>> print(request.url)                               # a person signs in, and pastes where they land
    >>> tokens = client.exchange_code(client.parse_redirect(pasted))
    >>> print(client.transcript.last.as_curl())
    >>> client.refresh(); client.call_api("/sandbox/v1/dealership")

For the local sandbox, :mod:`fortellis_nb.local` adds what only it allows (a headless
sign-in, the code's issue time). Every HTTP exchange lands in ``client.transcript``; every failure is a
:class:`~fortellis_nb.oauth.errors.FortellisError`.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlencode

from . import api, errors, hints, tokens, verify
from . import config as config_module
from .authorize import AuthorizationRequest, PendingStates, build_authorization_url
from .discovery import ProviderMetadata, discover
from .redirect import AuthorizationResponse, parse_redirect
from .transcript import Http, Transcript


class FortellisClient:
    """The app's side of the authorization code flow, one method per step."""

    def __init__(self, config=None, *, http: Http | None = None, clock=time.time, verify_tokens: bool = True,
                 access_token_audience: str | object | None = verify.FORTELLIS_ONLY, **settings):
        """``config``, or the settings from the arguments, FORTELLIS_* variables and ``.env``
        (:func:`~fortellis_nb.oauth.config.load_config`); with nothing set that is an error.

        ``access_token_audience``: access tokens are the API's to check (OIDC Core 3.1.3.8);
        by default the client checks them as Fortellis access tokens (``aud`` api_providers)
        where the issuer issues Fortellis' token shapes (``Config.fortellis_tokens``), and not
        elsewhere. A string checks that audience at any issuer; None checks no access token."""
        if config is None:
            config = config_module.load_config(**settings)
        elif settings:
            config = config.replace(**settings)
        self.config = config
        self.http = http or Http()
        self.http.transcript.context.update(
            issuer=config.issuer, api_base_url=config.api_base_url, api_key=config.api_key,
            api_secret=config.api_secret, subscription_id=config.subscription_id)
        self.clock = clock
        self.verify_tokens = verify_tokens
        self.access_token_audience = access_token_audience
        self.states = PendingStates()
        self.tokens: tokens.TokenResponse | None = None
        self.original_id_claims: dict | None = None
        self.granted_scopes: tuple[str, ...] | None = None
        self.requested_scopes: tuple[str, ...] | None = None
        self._metadata: ProviderMetadata | None = None
        self._jwks: verify.JWKS | None = None
        self._used_codes: set[str] = set()
        self._tokens_by_code: dict[str, tokens.TokenResponse] = {}
        #: Held while a session refreshes the tokens: one refresh at a time (session.py).
        self.refresh_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FortellisClient(issuer={self.config.issuer!r}, api_key={self.config.api_key!r})"

    # --- plumbing -----------------------------------------------------------------
    @property
    def transcript(self) -> Transcript:
        return self.http.transcript

    @property
    def metadata(self) -> ProviderMetadata:
        """The server's endpoints, discovered on first use."""
        if self._metadata is None:
            self._metadata = discover(self.config.issuer, self.http)
        return self._metadata

    @property
    def jwks(self) -> verify.JWKS:
        if self._jwks is None:
            self._jwks = verify.JWKS(self.metadata.jwks_uri, http=self.http)
        return self._jwks

    def _prepare_verification(self) -> None:
        # Fetch the keys before the token request, as an app does at start-up, so the
        # token request stays the last exchange of its step.
        if self.verify_tokens:
            self.jwks.load()

    @property
    def fortellis_issuer(self) -> bool:
        """True where the issuer issues Fortellis' token shapes (Fortellis' identity servers and
        the sandbox): the setting ``Config.fortellis_tokens``, never a question to the server."""
        return bool(self.config.fortellis_tokens)

    @property
    def access_audience(self) -> str | None:
        """The audience this client checks access tokens for, or None when it leaves them to the API."""
        if self.access_token_audience is verify.FORTELLIS_ONLY:
            return verify.ACCESS_TOKEN_AUDIENCE if self.fortellis_issuer else None
        audience = self.access_token_audience
        return audience if isinstance(audience, str) else None

    def _credentials(self) -> dict:
        return {"api_key": self.config.api_key, "api_secret": self.config.api_secret}

    def _redirect_uri(self) -> str:
        if not self.config.redirect_uri:
            raise errors.ConfigurationError(
                "No redirect URI is configured.",
                hint="Pass redirect_uri=... or set FORTELLIS_REDIRECT_URI to the app's registered Callback.")
        return self.config.redirect_uri

    # --- step 1: the authorize URL ----------------------------------------------------
    def authorization_url(self, scopes=None, *, state: str | None = None, nonce: bool | str = True,
                          pkce: bool = False, prompt: str | None = None, login_hint: str | None = None,
                          max_age: int | None = None) -> AuthorizationRequest:
        """A fresh authorize URL (new ``state`` and ``nonce``), remembered for parse_redirect().

        Asking for ``offline_access`` from a provider that is not Fortellis' (an Okta server)
        adds ``prompt=consent``, which OpenID Connect Core 11 expects with it; without it such
        providers may silently leave the refresh token out. A public client (no API Secret)
        always uses PKCE."""
        scopes = scopes or self.config.scopes
        asked = tuple(scopes.split()) if isinstance(scopes, str) else tuple(scopes)
        if prompt is None and "offline_access" in asked and self._wants_consent_prompt():
            prompt = "consent"
        request = build_authorization_url(
            self.metadata.authorization_endpoint, client_id=self.config.api_key,
            redirect_uri=self._redirect_uri(), scopes=asked, state=state, nonce=nonce,
            pkce=pkce or self.config.public, prompt=prompt, login_hint=login_hint, max_age=max_age)
        browser = self.config.browser_url(request.url)
        request.browser_url = browser if browser != request.url else None
        self.states.add(request)
        return request

    def _wants_consent_prompt(self) -> bool:
        if self.fortellis_issuer:
            return False  # Okta grants offline_access without it, and the tutorial's URL has none
        supported = self.metadata.raw.get("prompt_values_supported")
        return not isinstance(supported, list) or "consent" in supported

    # --- step 2: the redirect --------------------------------------------------------
    def parse_redirect(self, url: str) -> AuthorizationResponse:
        """Check the URL the browser landed on and take its code (each state works once)."""
        redirect_uri = self._redirect_uri()
        browser = self.config.browser_url(redirect_uri)
        return parse_redirect(url, redirect_uri=redirect_uri, states=self.states, issuer=self.metadata.issuer,
                              clock=self.clock, browser_redirect_uri=browser if browser != redirect_uri else None)

    @property
    def is_sandbox(self) -> bool:
        """True when the server is a sandbox: the local one (``Config.sandbox``), or one named by the
        settings that issues Fortellis' token shapes over plain http, which only a sandbox may use."""
        return self.config.is_sandbox or (self.config.issuer.startswith("http://") and self.fortellis_issuer)

    # --- step 3: the token request -----------------------------------------------------
    def exchange_code(self, response: AuthorizationResponse | str, *, code_verifier: str | None = None,
                      nonce: str | None = None, params_in: str = "body",
                      redirect_uri: str | None = None) -> tokens.TokenResponse:
        """Trade the code for tokens, then verify them (signature, iss, aud, exp, nonce, at_hash).

        ``redirect_uri`` replaces the one the authorize request used: only to see the
        server refuse a different one."""
        if isinstance(response, AuthorizationResponse):
            code, received_at, request = response.code, response.received_at, response.request
        else:
            code, received_at, request = response, None, None
        if request is not None:
            code_verifier = code_verifier or request.code_verifier
            nonce = nonce or request.nonce
        if redirect_uri is None:
            redirect_uri = request.redirect_uri if request is not None else self._redirect_uri()
        self._prepare_verification()
        used_before = code in self._used_codes
        self._used_codes.add(code)
        try:
            result = tokens.exchange_code(
                self.http, self.metadata.token_endpoint, **self._credentials(), code=code, redirect_uri=redirect_uri,
                code_verifier=code_verifier, code_received_at=received_at, code_used_before=used_before,
                authorized_redirect_uri=request.redirect_uri if request is not None else None,
                params_in=params_in, clock=self.clock)
        except errors.InvalidGrantError:
            if used_before:
                self._revoked_by_reuse(code)
            raise
        asked = request.scopes if request is not None else None
        self._check_scopes(result, asked)
        self._check(result, nonce=nonce)
        result.nonce_sent = nonce
        self._tokens_by_code[code] = result
        self.tokens = result
        self.requested_scopes = asked
        self.granted_scopes = result.scopes or asked
        self.original_id_claims = result.id_claims
        return result

    def _revoked_by_reuse(self, code: str) -> None:
        """RFC 6749 section 4.1.2 (and Okta): a code used twice revokes the tokens it gave."""
        earlier = self._tokens_by_code.get(code)
        if earlier is not None:
            self._mark_revoked(earlier, "the code that gave them was exchanged again, and the server revoked the "
                                        "tokens it had given for it")

    def _mark_revoked(self, result: tokens.TokenResponse, why: str) -> None:
        """Remember why tokens no longer work (the first reason known), and tell the listeners."""
        if result.revoked is None:
            result.revoked = why
            self.transcript.notify()

    def _check_scopes(self, result: tokens.TokenResponse, asked: tuple[str, ...] | None) -> None:
        """Note the scopes asked for and not granted; an ID token asked for (``openid``) must come."""
        if not asked:
            return
        if result.scope is not None:
            result.dropped_scopes = tuple(s for s in asked if s not in result.scopes)
        if self.verify_tokens and "openid" in asked and not result.id_token:
            granted = f" (the server granted: {result.scope})" if result.scope is not None else ""
            raise errors.MissingIdTokenError(
                f"The token response has no id_token, though the authorize request asked for `openid`{granted}.",
                exchange=result.exchange)

    def code_spent(self, code: str) -> bool:
        """True once this client has sent ``code`` to the token endpoint (a code works once)."""
        return code in self._used_codes

    def _check(self, result: tokens.TokenResponse, *, nonce: str | None = None) -> None:
        if not self.verify_tokens:
            return
        issuer, now = self.metadata.issuer, self.clock()  # the client's clock (a test's, or the wall clock)
        if verify.looks_like_jwt(result.access_token) and self.access_audience:
            result.access_claims = verify.verify_access_token(
                result.access_token, jwks=self.jwks, issuer=issuer, audience=self.access_audience, now=now).claims
        if result.id_token:
            checked = verify.verify_id_token(
                result.id_token, jwks=self.jwks, issuer=issuer, client_id=self.config.api_key, nonce=nonce,
                access_token=result.access_token, now=now, fortellis_issuer=self.fortellis_issuer)
            result.id_claims, result.id_token_shape = checked.claims, checked.shape

    def verify(self, token: str, kind: str = "access", *, nonce: str | None = None,
               access_token: str | None = None, now: float | None = None) -> verify.DecodedToken:
        """Verify one token against this server's keys; ``kind`` is "access" or "id"."""
        if kind == "id":
            return verify.verify_id_token(token, jwks=self.jwks, issuer=self.metadata.issuer,
                                          client_id=self.config.api_key, nonce=nonce,
                                          access_token=access_token, now=now, fortellis_issuer=self.fortellis_issuer)
        if self.access_audience is None:
            raise errors.ConfigurationError(
                f"This client does not check access tokens from {self.config.issuer}: an access token is for the "
                "API it is sent to, which checks it (OpenID Connect Core 3.1.3.8).",
                hint="Pass access_token_audience='...' (the audience the API expects) to check one here.")
        return verify.verify_access_token(token, jwks=self.jwks, issuer=self.metadata.issuer,
                                          audience=self.access_audience, now=now)

    # --- refresh -------------------------------------------------------------------
    def refresh(self, refresh_token: str | None = None, scopes=None, *, params_in: str = "body",
                extra: dict | None = None) -> tokens.TokenResponse:
        """New tokens without signing in again; ``scopes`` may narrow, never widen, the grant.

        A rotated refresh token (a new one in the answer) replaces the old one; a server that
        sends none leaves the old one in use. ``params_in="query"`` and ``extra`` reproduce the
        tutorial's request (parameters in the URL, with ``redirect_uri`` and ``code`` too)."""
        current = self.tokens
        refresh_token = refresh_token or (current.refresh_token if current else None)
        if not refresh_token and current is not None:
            raise self._no_refresh_token()
        self._prepare_verification()
        try:
            result = tokens.refresh(self.http, self.metadata.token_endpoint, **self._credentials(),
                                    refresh_token=refresh_token, scopes=scopes, params_in=params_in, extra=extra,
                                    original_scopes=self.granted_scopes, clock=self.clock)
        except errors.InvalidGrantError:
            if current is not None and current.refresh_token == refresh_token:
                self._mark_revoked(current, "the server refused their refresh token (revoked, expired, or replaced)")
            raise
        self._check(result)
        if result.id_claims and self.original_id_claims:
            verify.check_refreshed_id_token(self.original_id_claims, result.id_claims)
        if result.refresh_token is None:
            result.refresh_token = refresh_token
        self.tokens = result
        return result

    def _no_refresh_token(self) -> errors.ConfigurationError:
        """Why the current tokens came without a refresh token, from what was asked and granted."""
        asked, granted = self.requested_scopes or (), self.granted_scopes or ()
        if "offline_access" in asked and "offline_access" not in granted:
            return errors.ConfigurationError(
                f"No refresh token came: the authorize request asked for `offline_access`, and the server left it "
                f"out of what it granted ({' '.join(granted) or 'nothing stated'}).",
                error="no_refresh_token",
                hint="The app may not be allowed refresh tokens where it is registered (the refresh token grant), "
                     "or the user did not consent to offline access; OpenID providers other than Okta grant it "
                     "only with prompt=consent, which authorization_url() adds for them.")
        if "offline_access" in asked:
            return errors.ConfigurationError(
                "No refresh token came, though `offline_access` was asked for and granted.", error="no_refresh_token",
                hint="The server does not issue refresh tokens to this app; check its registration.")
        return errors.ConfigurationError(
            "There is no refresh token to use: the authorize request did not ask for `offline_access`.",
            error="no_refresh_token",
            hint=f"{hints.OFFLINE_ACCESS}: authorization_url(scopes=\"openid offline_access\").")

    # --- the backend route ---------------------------------------------------------
    def client_credentials(self, scopes=("anonymous",)) -> tokens.TokenResponse:
        """A token for the app itself (no user), as the tutorial's warning recommends for backends."""
        self._prepare_verification()
        result = tokens.client_credentials(self.http, self.metadata.token_endpoint, **self._credentials(),
                                           scopes=scopes, clock=self.clock)
        self._check(result)
        return result

    # --- revoke, introspect, userinfo ---------------------------------------------
    def _token_or_current(self, token, hint):
        if token is not None:
            return token
        if self.tokens is None:
            raise errors.ConfigurationError("No token yet.", hint="Exchange a code first.")
        return self.tokens.refresh_token if hint == "refresh_token" else self.tokens.access_token

    def revoke(self, token: str | None = None, token_type_hint: str | None = "access_token"):
        """Revoke a token (the current access token by default)."""
        token = self._token_or_current(token, token_type_hint)
        answer = tokens.revoke(self.http, self.metadata.endpoint("revocation_endpoint"), **self._credentials(),
                               token=token, token_type_hint=token_type_hint)
        current = self.tokens
        if current is not None and current.revoked is None:
            if token == current.refresh_token:  # Okta: revoking a refresh token ends its access tokens too
                current.revoked = "this app revoked their refresh token"
            elif token == current.access_token:
                current.revoked = "this app revoked the access token"
            self.transcript.notify()
        return answer

    def introspect(self, token: str | None = None, token_type_hint: str | None = "access_token") -> dict:
        """Ask the server about a token (the current access token by default)."""
        token = self._token_or_current(token, token_type_hint)
        return tokens.introspect(self.http, self.metadata.endpoint("introspection_endpoint"),
                                 **self._credentials(), token=token, token_type_hint=token_type_hint)

    def logout_url(self, post_logout_redirect_uri: str | None = None, *, state: str | None = None) -> str:
        """Where to send the browser to end the user's session at the identity server too
        (Okta's ``/v1/logout``: ``id_token_hint``, and a registered sign-out redirect URI)."""
        if self.tokens is None or not self.tokens.id_token:
            raise errors.ConfigurationError("No ID token to sign out with.",
                                            hint="Okta's /v1/logout needs the ID token (id_token_hint): sign in "
                                                 "with the openid scope first.")
        params = {"id_token_hint": self.tokens.id_token}
        if post_logout_redirect_uri:
            params["post_logout_redirect_uri"] = post_logout_redirect_uri
        if state:
            params["state"] = state
        endpoint = self.metadata.endpoint("end_session_endpoint")
        return self.config.browser_url(endpoint + ("&" if "?" in endpoint else "?") + urlencode(params))

    def userinfo(self, access_token: str | None = None) -> dict:
        return tokens.userinfo(self.http, self.metadata.endpoint("userinfo_endpoint"),
                               access_token=self._token_or_current(access_token, "access_token"))

    # --- step 4: call an API ---------------------------------------------------------
    def session(self, *, subscription_id: str | None = None, margin: float | None = None):
        """A ``requests.Session`` for API calls on the signed-in user's behalf: the three
        headers on every request, the tokens refreshed shortly before expiry and once on
        TOKEN-EXPIRED, safe to share between threads (:mod:`fortellis_nb.oauth.session`)."""
        from .session import REFRESH_MARGIN, FortellisSession
        return FortellisSession(self, subscription_id=subscription_id,
                                margin=REFRESH_MARGIN if margin is None else margin)

    def call_api(self, path: str, *, access_token: str | None = None, subscription_id: str | None = None,
                 method: str = "GET", request_id: str | None = None, json_body=None,
                 omit=()) -> api.ApiResponse:
        """Call an API with Bearer token, Subscription-Id and a fresh Request-Id.

        ``path`` is under the configured API base URL (a full URL must be too: the token goes
        nowhere else). ``omit`` leaves headers out on purpose: ``omit=("Subscription-Id",)``."""
        url = api.api_url(self.config.api_base_url, path)
        token = None if "Authorization" in omit else self._token_or_current(access_token, "access_token")
        return api.call_api(
            self.http, url, access_token=token, subscription_id=subscription_id or self.config.subscription_id,
            method=method, request_id=request_id, json_body=json_body, omit=tuple(omit))
