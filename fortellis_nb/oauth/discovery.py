"""Finding the server's endpoints from its issuer URL.

OpenID Connect Discovery 1.0: ``GET {issuer}/.well-known/openid-configuration``
returns a JSON document naming each endpoint. Fortellis' documentation only lists
the Okta paths under the issuer (``/v1/authorize``, ``/v1/token``, ``/v1/keys``), so
when no discovery document is published we fall back to those. The same code then
works against real Fortellis, the sandbox and any standards-compliant provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import errors
from .transcript import Http

WELL_KNOWN = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")

#: Okta's paths below a custom authorization server's issuer.
OKTA_PATHS = {
    "authorization_endpoint": "/v1/authorize",
    "token_endpoint": "/v1/token",
    "jwks_uri": "/v1/keys",
    "userinfo_endpoint": "/v1/userinfo",
    "introspection_endpoint": "/v1/introspect",
    "revocation_endpoint": "/v1/revoke",
    "end_session_endpoint": "/v1/logout",
}


@dataclass
class ProviderMetadata:
    """The endpoints and capabilities of one identity server."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    introspection_endpoint: str | None = None
    revocation_endpoint: str | None = None
    end_session_endpoint: str | None = None
    scopes_supported: list[str] = field(default_factory=list)
    code_challenge_methods_supported: list[str] = field(default_factory=list)
    #: Where these came from: the discovery document's URL, or "fallback /v1 paths".
    source: str = ""
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def okta_paths(cls, issuer: str) -> ProviderMetadata:
        base = issuer.rstrip("/")
        endpoints: dict[str, Any] = {k: base + path for k, path in OKTA_PATHS.items()}
        return cls(issuer=issuer, **endpoints, source="fallback /v1 paths")

    def endpoint(self, name: str) -> str:
        """An endpoint URL, or a DiscoveryError saying the server has none."""
        url = getattr(self, name, None)
        if not url:
            raise errors.EndpointNotSupportedError(f"The server at {self.issuer} publishes no {name}.")
        return url


def discover(issuer: str, http: Http | None = None) -> ProviderMetadata:
    """Read the server's metadata, or fall back to the Okta ``/v1/...`` paths.

    A document whose ``issuer`` differs from ``issuer`` is refused
    (:class:`~errors.IssuerMismatchError`): it would let one server impersonate another.
    Network failures (nothing listening, timeouts, TLS) are raised, not papered over.
    """
    http = http or Http()
    base = issuer.rstrip("/")
    attempts = []
    for path in WELL_KNOWN:
        url = base + path
        exchange = http.send("GET", url, headers={"Accept": "application/json"}, label="Discovery")
        if exchange.status != 200:
            attempts.append(f"{url} -> HTTP {exchange.status}")
            continue
        try:
            document = exchange.json()
        except errors.NotJSONError:
            attempts.append(f"{url} -> not JSON")
            continue
        if not isinstance(document, dict):
            attempts.append(f"{url} -> not a JSON object")
            continue
        return _from_document(issuer, document, exchange)
    metadata = ProviderMetadata.okta_paths(issuer)
    metadata.raw = {"attempts": attempts}
    return metadata


def _from_document(issuer: str, document: dict, exchange) -> ProviderMetadata:
    published = document.get("issuer")
    if published != issuer:
        hint = None
        if isinstance(published, str) and published.rstrip("/") == issuer.rstrip("/"):
            hint = (f"The two differ only by a trailing '/'. Configure the issuer exactly as published: "
                    f"{published!r}.")
        raise errors.IssuerMismatchError(
            f"{exchange.url} says its issuer is {published!r}, but the configured issuer is {issuer!r}.",
            exchange=exchange, hint=hint)
    missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not document.get(k)]
    if missing:
        raise errors.DiscoveryError(f"{exchange.url} lacks {', '.join(missing)}.", exchange=exchange,
                                    error="incomplete_metadata")
    known: dict[str, Any] = {k: document.get(k) for k in OKTA_PATHS}
    return ProviderMetadata(
        issuer=published, **known,
        scopes_supported=list(document.get("scopes_supported") or []),
        code_challenge_methods_supported=list(document.get("code_challenge_methods_supported") or []),
        source=exchange.url, raw=document)
