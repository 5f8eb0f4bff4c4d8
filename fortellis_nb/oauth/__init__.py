"""The Fortellis OAuth 2.0 authorization code flow as plain Python (no widgets).

Modules follow the steps: ``discovery``, ``authorize`` (step 1), ``redirect`` (step 2),
``tokens`` (step 3, refresh, client credentials, revoke, introspect), ``verify`` (reading
and checking tokens), ``api`` (step 4), plus ``transcript`` (every HTTP exchange,
replayable as curl), ``redact`` (what may be shown: tokens, codes and secrets shortened or
hidden) and ``errors``. :class:`FortellisClient` ties them together. This layer knows no
sandbox: what only the local sandbox allows lives above it, in :mod:`fortellis_nb.local`.
"""

from . import redact
from .authorize import AuthorizationRequest, build_authorization_url
from .client import FortellisClient
from .discovery import ProviderMetadata, discover
from .errors import FortellisError
from .redirect import AuthorizationResponse, parse_redirect
from .tokens import TokenResponse
from .transcript import Exchange, Transcript
from .verify import decode, explain_claims

__all__ = [
    "AuthorizationRequest", "AuthorizationResponse", "Exchange", "FortellisClient", "FortellisError",
    "ProviderMetadata", "TokenResponse", "Transcript", "build_authorization_url", "decode", "discover",
    "explain_claims", "parse_redirect", "redact",
]
