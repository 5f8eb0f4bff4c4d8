"""Random identifiers shaped like the ones Fortellis' identity server (Okta) hands out."""

import base64
import functools
import hashlib
import secrets
import string
from pathlib import Path

_ALNUM = string.ascii_letters + string.digits


def okta_id(prefix: str) -> str:
    """An Okta-style object id: a three-character type prefix and 17 letters or digits.

    ``00u`` is a user, ``00o`` an identity provider, ``aus`` an authorization server.
    """
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(17))


def api_key() -> str:
    """A 32-character API Key, like ``RRTKerBb7tgRT4K6ES2eQdYJ1z9cHFsv`` in the tutorial."""
    return "".join(secrets.choice(_ALNUM) for _ in range(32))


def api_secret() -> str:
    return secrets.token_urlsafe(30)


def authorization_code() -> str:
    """20 URL-safe characters (120 bits), the length of the tutorial's example codes."""
    return secrets.token_urlsafe(15)


def refresh_token() -> str:
    """43 URL-safe characters, the length of the tutorial's example refresh token."""
    return secrets.token_urlsafe(32)


def jti(prefix: str) -> str:
    return prefix + "." + secrets.token_urlsafe(32)


def opaque() -> str:
    return secrets.token_urlsafe(32)


def digest(value: str) -> str:
    """What the database keeps instead of a bearer secret (codes, refresh tokens, API Secrets)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@functools.lru_cache(maxsize=1)
def build_id() -> str:
    """A fingerprint of the sandbox's own code (its modules, pages and static files): a background
    sandbox started from other code (an older install) is told apart by it and replaced."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(p for pattern in ("*.py", "templates/*", "static/*") for p in here.glob(pattern)):
        digest.update(path.relative_to(here).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
