"""A small OpenID provider built from Authlib's server parts, for the interop tests.

Authlib (``authlib.oauth2``, ``authlib.oidc.core``; its JOSE work is done by joserfc, which
replaced ``authlib.jose``) supplies the protocol: the authorization code grant with PKCE and
the OpenID Connect extension (ID tokens with ``nonce`` and ``at_hash``), the refresh token
grant, client authentication (``client_secret_basic``, ``client_secret_post``, ``none``),
bearer token checks and the discovery document's validation. This module adds only what a
framework integration would: models kept in dicts, and ``http.server`` on 127.0.0.1 with a
free port, in a thread.

What it does, on purpose:

* the authorize endpoint approves at once, as the fixed user ``USER`` (no login page);
* ID tokens (RS256, one key, named by ``kid``) have ``aud`` as a list, ``[client_id]``, and
  ``azp`` = client_id; a refresh brings a new ID token too (OpenID Connect Core 12.2);
* refresh tokens rotate: every refresh answers with a new one and revokes the one it used.

    with AuthlibProvider({"app": "secret", "spa": None}, "https://example.com/") as provider:
        provider.issuer  # http://127.0.0.1:PORT
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qsl, urlsplit

from authlib.oauth2 import AuthorizationServer, OAuth2Error, OAuth2Request, ResourceProtector
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Payload, TokenMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, OpenIDCode, OpenIDToken, UserInfo
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc.jwk import RSAKey

USER = {"sub": "authlib-user-1", "name": "Ada Learner", "email": "ada@example.com"}
SCOPES = ("openid", "profile", "email", "offline_access")
KID = "authlib-test-key"
LIFETIME = 3600


# --- models (what a database would hold) ------------------------------------------

@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str | None  # None: a public client, which authenticates with PKCE alone
    redirect_uri: str

    @property
    def auth_method(self) -> str:
        return "none" if self.client_secret is None else "client_secret_basic"

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uri

    def get_allowed_scope(self, scope):
        return " ".join(s for s in (scope or "openid").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret):
        return self.client_secret is not None and secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method == self.auth_method or (method == "client_secret_post" and self.client_secret is not None)

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time


@dataclass
class Token(TokenMixin):
    client: Client
    access_token: str
    refresh_token: str | None
    scope: str
    issued_at: float = field(default_factory=time.time)
    revoked: bool = False  # set when its refresh token has been used (rotation)

    def check_client(self, client):
        return client.client_id == self.client.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return LIFETIME

    def is_expired(self):
        return time.time() > self.issued_at + LIFETIME

    def is_revoked(self):
        return self.revoked

    def get_user(self):
        return USER

    def get_client(self):
        return self.client


# --- grants: Authlib's, with the storage filled in --------------------------------

class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code, request):
        data = request.payload.data
        self.server.codes[code] = AuthorizationCode(
            code=code, client_id=request.client.client_id, redirect_uri=request.payload.redirect_uri,
            scope=request.scope, nonce=data.get("nonce"), code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"))

    def query_authorization_code(self, code, client):
        found = self.server.codes.get(code)
        return found if found is not None and found.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code):
        self.server.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code):
        return USER


class RotatingRefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True  # a new refresh token on every refresh...

    def authenticate_refresh_token(self, refresh_token):
        token = self.server.by_refresh.get(refresh_token)
        return token if token is not None and not token.revoked else None

    def authenticate_user(self, refresh_token):
        return USER

    def revoke_old_credential(self, refresh_token):
        refresh_token.revoked = True  # ...and the one just used stops working


class IdTokens(OpenIDToken):
    """RS256 ID tokens with ``aud`` a list and ``azp``, for code exchanges and refreshes."""

    def __init__(self, provider: AuthlibProvider):
        self.provider = provider

    def resolve_client_private_key(self, client):
        return self.provider.key

    def get_client_algorithm(self, client):
        return "RS256"

    def get_encode_header(self, client):
        return {"alg": "RS256", "kid": KID, "typ": "JWT"}

    def get_client_claims(self, client):
        return {"iss": self.provider.issuer, "aud": [client.client_id], "azp": client.client_id,
                "exp": int(time.time()) + LIFETIME}

    def generate_user_info(self, user, scope):
        return UserInfo(user).filter(scope)


class CodeIdTokens(IdTokens, OpenIDCode):
    def __init__(self, provider):
        IdTokens.__init__(self, provider)
        OpenIDCode.__init__(self, require_nonce=False)

    def exists_nonce(self, nonce, request):
        return any(code.nonce == nonce for code in self.provider.server.codes.values())


class Bearer(BearerTokenValidator):
    def __init__(self, server):
        super().__init__()
        self.server = server

    def authenticate_token(self, token_string):
        return self.server.by_access.get(token_string)


# --- the server, and Authlib's framework hooks for http.server -------------------------

class Payload(OAuth2Payload):
    def __init__(self, pairs):
        self._datalist = defaultdict(list)
        for name, value in pairs:
            self._datalist[name].append(value)
        self._data = {name: values[0] for name, values in self._datalist.items()}

    @property
    def data(self):
        return self._data

    @property
    def datalist(self):
        return self._datalist


class Request(OAuth2Request):
    def __init__(self, method, uri, headers, query, form):
        super().__init__(method, uri, headers=headers)
        self._args, self._form = dict(query), dict(form)
        self.payload = Payload(query + form)

    @property
    def args(self):
        return self._args

    @property
    def form(self):
        return self._form


class Server(AuthorizationServer):
    def __init__(self, clients: dict[str, Client]):
        super().__init__(scopes_supported=list(SCOPES))
        self.clients = clients
        self.codes: dict[str, AuthorizationCode] = {}
        self.by_access: dict[str, Token] = {}
        self.by_refresh: dict[str, Token] = {}
        self.register_token_generator("default", BearerTokenGenerator(
            access_token_generator=lambda **_: secrets.token_urlsafe(32),
            refresh_token_generator=lambda **_: secrets.token_urlsafe(32), expires_generator=LIFETIME))

    def query_client(self, client_id):
        return self.clients.get(client_id)

    def save_token(self, token, request):
        saved = Token(client=request.client, access_token=token["access_token"],
                      refresh_token=token.get("refresh_token"), scope=token.get("scope", ""))
        self.by_access[saved.access_token] = saved
        if saved.refresh_token:
            self.by_refresh[saved.refresh_token] = saved

    def create_oauth2_request(self, request):
        return request

    def create_json_request(self, request):
        return request

    def handle_response(self, status, body, headers):
        return status, body, headers

    def send_signal(self, name, *args, **kwargs):
        pass


class AuthlibProvider:
    """The provider, serving on 127.0.0.1 in a thread while the ``with`` block runs.

    ``clients`` maps each client_id to its secret (None for a public client); all of them
    use ``redirect_uri``."""

    def __init__(self, clients: dict[str, str | None], redirect_uri: str):
        self.key = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig", "alg": "RS256"})
        self.server = Server({cid: Client(cid, secret, redirect_uri) for cid, secret in clients.items()})
        self.server.register_grant(CodeGrant, [CodeChallenge(required=True), CodeIdTokens(self)])
        self.server.register_grant(RotatingRefreshGrant, [IdTokens(self)])
        self.protector = ResourceProtector()
        self.protector.register_token_validator(Bearer(self.server))
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.http.daemon_threads = True
        self.issuer = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.metadata = OpenIDProviderMetadata(
            issuer=self.issuer, authorization_endpoint=self.issuer + "/authorize",
            token_endpoint=self.issuer + "/token", userinfo_endpoint=self.issuer + "/userinfo",
            jwks_uri=self.issuer + "/jwks", scopes_supported=list(SCOPES), response_types_supported=["code"],
            grant_types_supported=["authorization_code", "refresh_token"], subject_types_supported=["public"],
            id_token_signing_alg_values_supported=["RS256"], code_challenge_methods_supported=["S256"],
            token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post", "none"],
            prompt_values_supported=["none", "login", "consent"])
        self.metadata.validate()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> AuthlibProvider:
        self._thread = threading.Thread(target=self.http.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="authlib-provider", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.http.shutdown()
        self.http.server_close()
        self._thread.join(timeout=5)

    # --- the endpoints ------------------------------------------------------------
    def authorize(self, request: Request):
        try:
            grant = self.server.get_consent_grant(request, end_user=USER)
        except OAuth2Error as error:  # redirected to the client when its redirect_uri is known
            return self.server.handle_error_response(request, error)
        return self.server.create_authorization_response(request, grant_user=USER, grant=grant)

    def userinfo(self, request: Request):
        try:
            token = self.protector.validate_request(["openid"], request)
        except OAuth2Error as error:
            return self.server.handle_error_response(request, error)
        return 200, UserInfo(USER).filter(token.scope), [("Content-Type", "application/json")]

    def route(self, method: str, path: str, request: Request):
        if (method, path) == ("GET", "/.well-known/openid-configuration"):
            return 200, dict(self.metadata), []
        if (method, path) == ("GET", "/jwks"):
            return 200, {"keys": [self.key.as_dict(private=False)]}, []
        if (method, path) == ("GET", "/authorize"):
            return self.authorize(request)
        if (method, path) == ("POST", "/token"):
            return self.server.create_token_response(request)
        if method in ("GET", "POST") and path == "/userinfo":
            return self.userinfo(request)
        return 404, {"error": "not_found"}, []


def _handler(provider: AuthlibProvider):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8") if length else ""
            form = parse_qsl(body, keep_blank_values=True) if self.command == "POST" else []
            request = Request(self.command, provider.issuer + self.path, self.headers,
                              parse_qsl(parts.query, keep_blank_values=True), form)
            try:
                status, payload, headers = provider.route(self.command, parts.path, request)
            except Exception as exc:  # a bug here: say so, rather than drop the connection
                status, payload, headers = 500, {"error": "server_error", "error_description": repr(exc)}, []
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            self.send_response(status)
            names = {name.lower() for name, _ in headers}
            for name, value in headers:
                self.send_header(name, value)
            if data and "content-type" not in names:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, *args):
            pass

    return Handler
