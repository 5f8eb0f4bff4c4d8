"""RS256 JSON Web Tokens, signed and checked by the sandbox itself.

The sandbox deliberately does not use the client's JWT code (PyJWT): the learner's
verification in ``fortellis_nb.oauth`` and this signer are written independently, so a
mistake in one is caught by the other.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .ids import b64url, b64url_decode
from .inputs import BadInput, json_segment

_COMPACT = (",", ":")
_ENCODER = json.JSONEncoder(separators=_COMPACT)  # one encoder, not one per json.dumps call
_SHA256 = hashes.SHA256()


#: The two token shapes the sandbox can issue (``Settings.token_profile``): the one in the
#: tutorial's examples (2019, as Okta mints them) and the one in every Fortellis example token
#: minted 2020 to 2022 (fortellis-facts; docs/fidelity.md).
TOKEN_PROFILES = ("tutorial", "fortellis-2022")


@dataclass(frozen=True)
class SigningKey:
    """One RS256 key of the server. Like an Okta custom authorization server's, it is NEXT
    (published, not signing yet), then ACTIVE (signing), then EXPIRED (published a while longer
    so tokens it signed still verify)."""

    kid: str  # its RFC 7638 thumbprint, which the database keeps
    private_key: rsa.RSAPrivateKey
    created: float
    activated: float | None = None
    retired: float | None = None

    @classmethod
    def generate(cls, created: float, activated: float | None = None) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid=_thumbprint(key.public_key()), private_key=key, created=created, activated=activated)

    @classmethod
    def from_pem(cls, kid: str, pem: str, created: float, activated: float | None,
                 retired: float | None) -> SigningKey:
        # A key this server generated and kept in its own database: checking its RSA
        # parameters again on every start would cost more than the rest of start-up.
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None,
                                                 unsafe_skip_rsa_key_validation=True)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"The signing key {kid!r} in the state database is not an RSA key.")
        return cls(kid=kid, private_key=key, created=created, activated=activated, retired=retired)

    @property
    def status(self) -> str:
        if self.retired is not None:
            return "EXPIRED"
        return "NEXT" if self.activated is None else "ACTIVE"

    def public_kid(self, profile: str) -> str:
        """The ``kid`` tokens and the key set name this key by: its thumbprint, or, in the
        fortellis-2022 profile, a UUID as Fortellis' tokens had (derived from the thumbprint)."""
        if profile == "fortellis-2022":
            return str(uuid.UUID(bytes=hashlib.sha256(self.kid.encode()).digest()[:16], version=1))
        return self.kid

    def pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    def jwk(self, profile: str = "tutorial") -> dict:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "alg": "RS256",
            "kid": self.public_kid(profile),
            "use": "sig",
            "e": b64url(_int_bytes(numbers.e)),
            "n": b64url(_int_bytes(numbers.n)),
        }

    def _header(self, profile: str) -> str:
        # The tutorial's tokens: {"kid": ..., "alg": "RS256"}, no "typ"; Fortellis' 2020-2022 tokens:
        # {"alg": "RS256", "typ": "JWT", "kid": a UUID}.
        kid = self.public_kid(profile)
        header = {"alg": "RS256", "typ": "JWT", "kid": kid} if profile == "fortellis-2022" else {"kid": kid,
                                                                                                  "alg": "RS256"}
        return b64url(_ENCODER.encode(header).encode())

    def sign(self, claims: dict, profile: str = "tutorial") -> str:
        signing_input = f"{self._header(profile)}.{b64url(_ENCODER.encode(claims).encode())}"
        signature = self.private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), _SHA256)
        return f"{signing_input}.{b64url(signature)}"


class TokenInvalid(Exception):
    """The token is not a well-formed RS256 JWT signed by one of the sandbox's keys."""


def _thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint: a stable, content-derived key id."""
    numbers = public_key.public_numbers()
    canonical = json.dumps(
        {"e": b64url(_int_bytes(numbers.e)), "kty": "RSA", "n": b64url(_int_bytes(numbers.n))},
        separators=_COMPACT,
        sort_keys=True,
    )
    return b64url(hashlib.sha256(canonical.encode()).digest())


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


MAX_TOKEN_LENGTH = 16 * 1024  # the sandbox's own tokens are about 1 KiB
MAX_HEADER_BYTES = 1024
SEGMENT = re.compile(r"[A-Za-z0-9_\-]+")


def verify(token: str, keys: dict[str, SigningKey]) -> dict:
    """Check the RS256 signature against the published keys and return the claims.

    Only the header is read before the signature is checked, and only after its size and
    shape are: the claims are parsed once this server's signature says it wrote them.
    Time, issuer and audience are the caller's business: the sample API and the
    introspection endpoint answer differently for each.
    """
    parts = token.split(".") if isinstance(token, str) and len(token) <= MAX_TOKEN_LENGTH else []
    if len(parts) != 3 or not all(SEGMENT.fullmatch(part) for part in parts):
        raise TokenInvalid("not a JSON Web Token")
    try:
        header = json_segment(b64url_decode(parts[0]), MAX_HEADER_BYTES)
    except (BadInput, ValueError) as exc:
        raise TokenInvalid("not a JSON Web Token") from exc
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        raise TokenInvalid("the token is not signed with RS256")
    kid = header.get("kid")
    key = keys.get(kid) if isinstance(kid, str) else None  # a forged kid may be a list or an object
    if key is None:
        raise TokenInvalid("the token was not signed by a key of this server")
    try:
        key.private_key.public_key().verify(b64url_decode(parts[2]), f"{parts[0]}.{parts[1]}".encode("ascii"),
                                            padding.PKCS1v15(), hashes.SHA256())
        claims = json.loads(b64url_decode(parts[1]))
    except (InvalidSignature, ValueError) as exc:
        raise TokenInvalid("the token's signature does not match") from exc
    if not isinstance(claims, dict):
        raise TokenInvalid("not a JSON Web Token")
    return claims


def at_hash(access_token: str) -> str:
    """OpenID Connect Core 3.1.3.6: left half of the SHA-256 of the access token, base64url."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return b64url(digest[: len(digest) // 2])
