"""The sandbox's identity server minus HTTP: its settings, its first-run seed data,
its signing keys and the tokens it mints."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import ids, marketplace
from .clock import AppClocks
from .jwt_rs256 import TOKEN_PROFILES, SigningKey, at_hash
from .storage import Store, hash_password
from .throttle import FailureLimit, RequestLimit

# The sandbox's well-known demo data. The password is fixed so a learner can type it;
# the API Secret is random per state directory, like a real one.
DEMO_USERS = (
    # username, display name, assigned to every app
    ("learner@example.com", "Lee Learner", True),
    ("dealer@example.com", "Dana Dealer", True),
    ("unassigned@example.com", "Uma Unassigned", False),
)
DEMO_PASSWORD = "sandbox-password"
DEMO_APP_NAME = "Sandbox Demo App"
DEMO_CONSENT_APP_NAME = "Sandbox Consent App"  # asks the user's consent, to see Allow, Deny and access_denied
SANDBOX_CALLBACK = "{sandbox}/callback/"  # stands for this server's own callback page
SANDBOX_SIGNED_OUT = "{sandbox}/signed-out/"  # this server's own page after /v1/logout
DEMO_REDIRECT_URIS = (SANDBOX_CALLBACK, "https://example.com/")
DEMO_LOGOUT_URIS = (SANDBOX_SIGNED_OUT, "https://example.com/")
ACCESS_TOKEN_AUDIENCE = "api_providers"
ID_TOKEN_AUDIENCE_2022 = "fortellis"
SCOPES = ("openid", "profile", "email", "address", "phone", "offline_access")
#: OpenID Connect Core 5.4: the claims each scope asks for (of those the user has).
SCOPE_CLAIMS = {
    "profile": ("name", "family_name", "given_name", "middle_name", "nickname", "preferred_username", "profile",
                "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "phone": ("phone_number", "phone_number_verified"),
}
#: Okta's ID token issued with an access token (the authorization code flow) is "thin": of the
#: scopes' claims it carries these; the rest come from /v1/userinfo.
THIN_ID_TOKEN_CLAIMS = ("name", "preferred_username", "email", "email_verified")
_STANDARD_CLAIMS = frozenset(c for claims in SCOPE_CLAIMS.values() for c in claims)


def user_claims(user, scopes, *, thin: bool) -> dict:
    """The user's claims for these scopes (OIDC Core 5.4), ``thin`` as in Okta's ID token of the
    code flow; custom claims (names that are not standard) whatever the scopes, as an Okta
    custom claim set to "any scope" is."""
    known = {"name": user.name, "preferred_username": user.username, "email": user.email_address,
             "email_verified": True, **user.claims}
    shown = {}
    for scope in scopes:
        for claim in SCOPE_CLAIMS.get(scope, ()):
            if claim in known and (not thin or claim in THIN_ID_TOKEN_CLAIMS):
                shown[claim] = known[claim]
    shown.update({name: value for name, value in user.claims.items() if name not in _STANDARD_CLAIMS})
    return shown
CLIENT_CREDENTIALS_SCOPES = ("anonymous",)


@dataclass
class Settings:
    """How a sandbox runs. Every lifetime is in seconds; ``clock`` can be replaced in tests."""

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    public_url: str | None = None  # how browsers reach it, when that differs (a proxy)
    code_lifetime: float = 60
    token_lifetime: float = 3600
    refresh_idle_lifetime: float = 7 * 24 * 3600
    #: Seconds a rotated-out refresh token (public apps) is still honoured: Okta's default, 30.
    refresh_grace: float = 30
    session_lifetime: float = 2 * 3600
    sign_in_page_lifetime: float = 15 * 60
    key_grace: float = 7 * 24 * 3600  # how long a rotated-out key stays published
    purge_interval: float = 60
    used_code_retention: float = 600  # how long a spent code is kept after it expires, to notice a reuse
    clock: Callable[[], float] = field(default=time.time, repr=False)
    #: Listening beyond this machine (any address but loopback) must be asked for.
    allow_remote: bool = False
    #: On a JupyterHub (and Binder), the user's server prefix: browsers reach the sandbox through
    #: jupyter-server-proxy there, with the hub's host name. Read from the environment the
    #: notebook server gives its kernels, and so the sandbox they start.
    hub_prefix: str | None = field(default_factory=lambda: os.environ.get("JUPYTERHUB_SERVICE_PREFIX"))
    #: Failed sign-ins in a row before a username, or a client address, must wait (throttle.py).
    sign_in_failures_per_user: int = 5
    sign_in_failures_per_address: int = 20
    sign_in_lockout: float = 30  # the first wait; each further failure doubles it
    #: The shape of the tokens (jwt_rs256.TOKEN_PROFILES): the tutorial's, or Fortellis' of 2020-2022.
    token_profile: str = field(default_factory=lambda: os.environ.get("FORTELLIS_SANDBOX_TOKEN_PROFILE", "tutorial"))
    #: Requests per minute one client may make to /v1/authorize and to /v1/token (0: no limit).
    #: Okta's org-wide bucket for a custom authorization server; an app may be registered with less.
    rate_limit_per_minute: int = 1200

    def __post_init__(self):
        self.state_dir = Path(self.state_dir)
        if self.token_profile not in TOKEN_PROFILES:
            raise ValueError(f"Unknown token profile {self.token_profile!r}: one of {', '.join(TOKEN_PROFILES)}.")
        if not self.allow_remote and not is_loopback(self.host):
            raise ValueError(
                f"The sandbox listens on loopback only (127.0.0.1, ::1, localhost); {self.host!r} would let other "
                "machines reach it. Pass allow_remote=True (--allow-remote) to do that on purpose, for a "
                "workshop room.")


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: Where the sandbox serves Fortellis' Subscriptions service (subscriptions.fortellis.io).
SUBSCRIPTIONS_PATH = "/subscriptions"


class Authority:
    """Seed data, keys and token minting for one sandbox."""

    def __init__(self, settings: Settings, store: Store):
        #: The future of the NEXT key's generation after start (the server sets it); /v1/keys waits for it.
        self.next_key_made: asyncio.Future[None] | None = None
        self.settings = settings
        self.store = store
        self._keys_lock = threading.Lock()
        self._seed()
        self._keys = store.signing_keys()  # this process owns the database: read once, then kept
        # Made once at first start and never changed: read them once, not per request.
        self.server_id = store.required_meta("server_id")
        self.idp_id = store.required_meta("idp_id")
        self._admin_token = store.required_meta("admin_token")
        self.base_url = ""  # set once the server is bound
        self.rate_limits = RequestLimit(settings.clock)
        #: Each app's clock, moved by its developer (clock.py): in memory, the sandbox's time after a restart.
        self.app_clocks = AppClocks(settings.clock)
        self.sign_in_limits = {
            "user": FailureLimit(settings.sign_in_failures_per_user, settings.sign_in_lockout, settings.clock),
            "address": FailureLimit(settings.sign_in_failures_per_address, settings.sign_in_lockout, settings.clock),
        }

    @property
    def now(self) -> float:
        """The sandbox's time: what it records and mints with."""
        return self.settings.clock()

    def now_for(self, api_key) -> float:
        """Now for this app: what a rule that judges a time for a known app compares with (clock.py)."""
        return self.app_clocks.now(api_key)

    def _seed(self) -> None:
        store, now = self.store, self.now
        if store.meta("server_id"):
            return self._seed_consent_app()
        with store.transaction():
            store.set_meta("server_id", ids.okta_id("aus"))
            store.set_meta("idp_id", ids.okta_id("00o"))
            store.set_meta("admin_token", ids.opaque())
            app, secret = store.add_app(DEMO_APP_NAME, list(DEMO_REDIRECT_URIS), now,
                                        logout_uris=list(DEMO_LOGOUT_URIS))
            store.set_meta("demo_api_key", app.api_key)
            store.set_meta("demo_api_secret", secret)
            for username, name, assigned in DEMO_USERS:
                store.add_user(username, hash_password(DEMO_PASSWORD), name, now, assigned=assigned)
            self._seed_marketplace(app)
            store.add_signing_key(SigningKey.generate(now, activated=now))
        self._seed_consent_app()

    def _seed_marketplace(self, app) -> None:
        """Dealers of the Marketplace: Sandbox Motors activated the demo app for one of its two
        locations (the demo Subscription-Id); Closed Motors' activation waits for approval."""
        store, date = self.store, marketplace.today(self.now)
        motors = store.add_organization("Sandbox Motors", address="1 Sandbox Way Austin TX 78730 US",
                                        phone="5125550100")
        north = store.add_organization("Sandbox Motors North", address="100 North Loop Austin TX 78751 US",
                                       phone="5125550101", parent_id=motors)
        store.add_organization("Sandbox Motors South", address="200 South Congress Austin TX 78704 US",
                               phone="5125550102", parent_id=motors)
        store.set_meta("demo_subscription_id", store.add_subscription(
            app.api_key, motors, [north], status=marketplace.ACTIVE, activation_date=date))
        closed = store.add_organization("Closed Motors", address="9 Gate Street Toronto ON M5V 2T6 CA",
                                        country_code="CA", phone="4165550199")
        store.add_subscription(app.api_key, closed, [closed], status=marketplace.PENDING, activation_date=date)
        # Fortellis' test environment knows "test" as a sample dealership for every app.
        test = store.add_organization("Test Dealership")
        store.add_subscription(None, test, [test], status=marketplace.ACTIVE, activation_date=date,
                               subscription_id=marketplace.TEST_SUBSCRIPTION_ID)

    def _seed_consent_app(self) -> None:
        """The second demo app (also added to a state directory made before it existed)."""
        if self.store.meta("consent_api_key"):
            return
        with self.store.transaction():
            app, secret = self.store.add_app(DEMO_CONSENT_APP_NAME, list(DEMO_REDIRECT_URIS), self.now, consent=True,
                                             logout_uris=list(DEMO_LOGOUT_URIS))
            self.store.set_meta("consent_api_key", app.api_key)
            self.store.set_meta("consent_api_secret", secret)

    # --- identity of this server ---
    @property
    def issuer(self) -> str:
        return f"{self.public_base()}/oauth2/{self.server_id}"

    @property
    def subscriptions_url(self) -> str:
        """Fortellis' Subscriptions service, served by this sandbox (subscriptions.py)."""
        return f"{self.public_base()}{SUBSCRIPTIONS_PATH}"

    def public_base(self) -> str:
        return (self.settings.public_url or self.base_url).rstrip("/")

    def expand_redirect_uri(self, uri: str) -> list[str]:
        """A registered callback as browsers may send it ({sandbox} is this server)."""
        if "{sandbox}" not in uri:
            return [uri]
        bases = {self.base_url, self.public_base()}
        return sorted(uri.replace("{sandbox}", base) for base in bases)

    def registered_redirect_uris(self, app) -> list[str]:
        return [u for registered in app.redirect_uris for u in self.expand_redirect_uri(registered)]

    # --- keys (an Okta custom authorization server's: ACTIVE, NEXT and EXPIRED) ---
    def signing_key(self) -> SigningKey:
        return max((k for k in self._keys if k.status == "ACTIVE"), key=lambda k: k.activated or 0.0)

    def live_keys(self) -> list[SigningKey]:
        """ACTIVE first, then NEXT, then the EXPIRED ones still within ``key_grace``."""
        horizon = self.now - self.settings.key_grace
        order = {"ACTIVE": 0, "NEXT": 1, "EXPIRED": 2}
        keys = [k for k in self._keys if k.retired is None or k.retired >= horizon]
        return sorted(keys, key=lambda k: (order[k.status], -(k.retired or 0)))

    def published_keys(self) -> dict[str, SigningKey]:
        """The keys a token may name, by kid. Both profiles' kids: a token signed under the other
        profile (the state directory served with it before) still verifies."""
        return {k.public_kid(profile): k for k in self.live_keys() for profile in TOKEN_PROFILES}

    def jwks(self) -> dict:
        return {"keys": [k.jwk(self.settings.token_profile) for k in self.live_keys()]}

    def ensure_next_key(self) -> None:
        """Generate the NEXT key when there is none (after start, off the event loop, and after a
        rotation), so clients that cache the key set already hold the key signing will move to."""
        with self._keys_lock:
            if any(k.status == "NEXT" for k in self._keys):
                return
            self.store.add_signing_key(SigningKey.generate(self.now))
            self._keys = self.store.signing_keys()

    def rotate_keys(self) -> str:
        """NEXT becomes ACTIVE and ACTIVE becomes EXPIRED (published for ``key_grace`` more);
        a new NEXT is made. Returns the kid that signs from now on."""
        self.ensure_next_key()
        with self._keys_lock:
            self.store.rotate_signing_keys(self.now)
            self.store.drop_signing_keys_retired_before(self.now - self.settings.key_grace)
            self._keys = self.store.signing_keys()
        self.ensure_next_key()
        return self.signing_key().public_kid(self.settings.token_profile)

    # --- tokens ---
    def access_token_id(self, grant_id: str | None) -> str:
        """Okta's access token jti: "AT." and a random part, and for one issued next to a refresh
        token a second part that names its grant and stays the same across refreshes (the
        tutorial's refresh examples show it)."""
        jti = ids.jti("AT")
        if grant_id is not None:
            jti += "." + base64.b64encode(hashlib.sha256(grant_id.encode()).digest()).decode("ascii")
        return jti

    def access_token_claims(self, *, api_key: str, scopes, user=None, grant_id: str | None = None) -> dict:
        now = int(self.now)
        jti, exp = self.access_token_id(grant_id), now + int(self.settings.token_lifetime)
        sub = user.username if user is not None else api_key
        if self.settings.token_profile == "fortellis-2022":
            # The claims, in their order, of Fortellis' access tokens of 2020-2022: no "ver".
            claims = {"cid": api_key, "jti": jti, "scp": list(scopes), "sub": sub}
            if user is not None:
                claims["uid"] = user.id
            claims.update(iat=now, exp=exp, aud=ACCESS_TOKEN_AUDIENCE, iss=self.issuer)
            return claims
        claims = {"ver": 1, "jti": jti, "iss": self.issuer, "aud": ACCESS_TOKEN_AUDIENCE, "iat": now, "exp": exp,
                  "cid": api_key}
        if user is not None:
            claims["uid"] = user.id
        claims["scp"] = list(scopes)
        claims["sub"] = sub
        return claims

    def id_token_claims(self, *, api_key: str, user, scopes, auth_time: float, nonce: str | None = None) -> dict:
        """The ID token's claims, for the tutorial's profile all but its ``at_hash`` (which needs
        the signed access token)."""
        now = int(self.now)
        exp = now + int(self.settings.token_lifetime)
        if self.settings.token_profile == "fortellis-2022":
            # Fortellis' ID tokens of 2020-2022 carried these claims, in this order, and no others:
            # the audience is "fortellis", not the API Key. A nonce, when one was sent, is kept
            # (OpenID Connect requires it; Fortellis' examples sent none).
            claims = {"jti": ids.jti("ID"), "sub": user.id, "idp": self.idp_id, "iat": now, "exp": exp,
                      "aud": ID_TOKEN_AUDIENCE_2022, "iss": self.issuer}
            if nonce is not None:
                claims["nonce"] = nonce
            return claims
        claims = {"sub": user.id, "ver": 1, "iss": self.issuer, "aud": api_key, "iat": now, "exp": exp,
                  "jti": ids.jti("ID"), "amr": ["pwd"], "idp": self.idp_id}
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(user_claims(user, scopes, thin=True))
        claims["auth_time"] = int(auth_time)
        return claims

    def issue_tokens(self, *, api_key: str, scopes, user=None, grant_id=None, auth_time=None,
                     nonce=None, refresh_token: str | None = None) -> dict:
        """A token response (RFC 6749 section 5.1), its tokens recorded in the store."""
        profile = self.settings.token_profile
        access_claims = self.access_token_claims(api_key=api_key, scopes=scopes, user=user,
                                                 grant_id=grant_id if refresh_token else None)
        self.store.add_access_token(access_claims["jti"], grant_id, api_key, access_claims["exp"])
        key = self.signing_key()
        access_token = key.sign(access_claims, profile)
        body = {
            "token_type": "Bearer",
            "expires_in": int(self.settings.token_lifetime),
            "access_token": access_token,
            "scope": " ".join(scopes),
        }
        if refresh_token:
            body["refresh_token"] = refresh_token
        if user is not None and "openid" in scopes:
            id_claims = self.id_token_claims(api_key=api_key, user=user, scopes=scopes, auth_time=auth_time,
                                             nonce=nonce)
            if profile == "tutorial":
                id_claims["at_hash"] = at_hash(access_token)
            self.store.add_id_token(id_claims["jti"], api_key, id_claims["exp"])
            body["id_token"] = key.sign(id_claims, profile)
        return body

    def admin_token_matches(self, presented: str) -> bool:
        return secrets.compare_digest(presented.encode(), self._admin_token.encode())

