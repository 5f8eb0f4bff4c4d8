"""Reading and checking the tokens: decode, verify against the JWKS, explain each claim.

Verification is explicit, in the order OpenID Connect Core 3.1.3.7 gives it:

* the algorithm is pinned to RS256 by the verifier, never taken from the token;
* the key is chosen from the server's JWKS by ``kid``; an unknown ``kid`` triggers one
  refetch of the JWKS (keys rotate), rate-limited so a stream of bad tokens cannot make
  us hammer the server; a token without ``kid`` is accepted only when the JWKS holds a
  single key;
* then PyJWT checks the signature, ``iss``, ``aud``, ``exp`` and ``iat``;
* for an ID token: ``aud`` = the API Key, the ``nonce`` we sent, and ``at_hash``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field

import jwt as pyjwt

from . import errors
from .transcript import Http

ALGORITHM = "RS256"
ACCESS_TOKEN_AUDIENCE = "api_providers"
#: The audience of the ID tokens Fortellis minted from 2020 to 2022 (its documentation's examples):
#: "fortellis", not the app's API Key.
FORTELLIS_ID_TOKEN_AUDIENCE = "fortellis"
TOKEN_SHAPES = {
    "tutorial": "the tutorial's shape (Okta's own: a `ver` claim; an ID token's aud is your API Key)",
    "fortellis-2022": "the shape of Fortellis' tokens of 2020-2022 (`typ: JWT`, a UUID kid, no `ver`; an ID "
                      "token's aud is \"fortellis\")",
    "other": "neither of the two Fortellis shapes",
}
DEFAULT_LEEWAY = 30  # seconds of clock skew tolerated

#: One line for every claim in the tutorial's example tokens (and a few standard others).
CLAIM_GLOSSARY = {
    # header
    "kid": "Key ID: which of the server's published keys (/v1/keys) signed this token; keys rotate.",
    "alg": "Signature algorithm; Fortellis uses RS256 (RSA with SHA-256), and the verifier insists on it.",
    "typ": "Media type of the token, usually JWT.",
    # access token
    "ver": "Version of the token format (Okta writes 1).",
    "jti": "Unique ID of this token (AT. for access tokens, ID. for ID tokens); helps detect replays.",
    "iss": "Issuer: the authorization server that minted the token; must be the one you configured.",
    "aud": "Audience: who the token is for; `api_providers` for access tokens, your API Key for ID tokens.",
    "iat": "Issued at: when the token was minted (seconds since 1970-01-01 UTC).",
    "exp": "Expires: after this moment (seconds since 1970-01-01 UTC) the token must be refused.",
    "cid": "Client ID: the API Key of the app the token was issued to.",
    "uid": "User ID of the person who signed in (Okta IDs start with 00u); absent for client credentials.",
    "scp": "Scopes granted to this access token.",
    "sub": "Subject: who the token is about; the user's e-mail in access tokens, the user ID in ID tokens.",
    # ID token
    "amr": "Authentication methods used to sign in (`pwd` = password).",
    "idp": "ID of the identity provider that authenticated the user (Okta IDs start with 00o).",
    "auth_time": "When the user actually signed in; may be earlier than iat if a session was reused.",
    "at_hash": "Hash of the access token issued alongside; binds the two tokens together.",
    "nonce": "The random value the app sent in the authorize URL, echoed back to defeat replays.",
    # other common claims
    "nbf": "Not before: the token must be refused before this moment.",
    "azp": "Authorized party: the client the ID token was issued to, when aud lists several.",
    "name": "The user's display name.",
    "email": "The user's e-mail address.",
    "preferred_username": "The name the user signs in with.",
    "sid": "Session ID at the identity server.",
    "scope": "Scopes granted, as a space-separated string.",
    "client_id": "The API Key of the app the token was issued to.",
}
TIME_CLAIMS = frozenset({"iat", "exp", "nbf", "auth_time"})


# --- time in words ---------------------------------------------------------------

def humanize_duration(seconds: float) -> str:
    """``3599`` -> ``'59 minutes 59 seconds'``; the two largest units only."""
    seconds = int(round(abs(seconds)))
    units = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
    parts = []
    for name, size in units:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {name}{'s' if count != 1 else ''}")
        if len(parts) == 2:
            break
    return " ".join(parts) or "0 seconds"


def relative_time(timestamp: float, now: float | None = None) -> str:
    """``'in 59 minutes'`` or ``'3 hours ago'``."""
    delta = timestamp - (time.time() if now is None else now)
    return f"in {humanize_duration(delta)}" if delta >= 0 else f"{humanize_duration(delta)} ago"


def expires_in_words(exp: float, now: float | None = None) -> str:
    """``'expires in 59 minutes 58 seconds'`` or ``'expired 2 hours ago'``."""
    delta = exp - (time.time() if now is None else now)
    return f"expires in {humanize_duration(delta)}" if delta > 0 else f"expired {humanize_duration(delta)} ago"


def format_timestamp(timestamp: float) -> str:
    return _dt.datetime.fromtimestamp(timestamp, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- decoding ----------------------------------------------------------------------

def _b64url_json(part: str, what: str):
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        value = json.loads(raw)
    except (ValueError, TypeError):
        raise errors.MalformedTokenError(f"The token's {what} is not base64url-encoded JSON.") from None
    if not isinstance(value, dict):
        raise errors.MalformedTokenError(f"The token's {what} is not a JSON object.")
    return value


@dataclass
class DecodedToken:
    """A JWT's header and claims, NOT verified (see :func:`verify_token`)."""

    raw: str = field(repr=False)
    header: dict
    claims: dict
    verified: bool = False

    @property
    def shape(self) -> str:
        """Which of the two shapes Fortellis has issued this token has (TOKEN_SHAPES)."""
        return token_shape(self.header, self.claims)

    def explain(self, now: float | None = None) -> list[tuple[str, object, str]]:
        return explain_claims({**self.claims}, now=now)

    def expires_in_words(self, now: float | None = None) -> str | None:
        exp = self.claims.get("exp")
        return expires_in_words(exp, now) if isinstance(exp, (int, float)) else None


def decode(token: str) -> DecodedToken:
    """Split a JWT and decode its header and claims without checking anything."""
    if not isinstance(token, str) or not token.strip():
        raise errors.MalformedTokenError("The token is empty.")
    token = token.strip()
    parts = token.split(".")
    if len(parts) != 3:
        raise errors.MalformedTokenError(
            f"A JWT has three parts separated by dots; this one has {len(parts)}.",
            hint="Opaque tokens (not JWTs) cannot be decoded; ask the server with introspect() instead."
            if len(parts) == 1 else None)
    return DecodedToken(raw=token, header=_b64url_json(parts[0], "header"),
                        claims=_b64url_json(parts[1], "payload"))


def token_shape(header: dict, claims: dict) -> str:
    """"tutorial" for Okta's own shape (``ver: 1``), "fortellis-2022" for the shape of Fortellis'
    tokens of 2020-2022 (``typ: JWT``, no ``ver``), "other" for the rest."""
    if claims.get("ver") == 1:
        return "tutorial"
    if header.get("typ") == "JWT" and "ver" not in claims and str(claims.get("jti", ""))[:3] in ("AT.", "ID."):
        return "fortellis-2022"
    return "other"


def looks_like_jwt(token: str | None) -> bool:
    return bool(token) and token.count(".") == 2 and token.startswith("eyJ")


def explain_claims(claims: dict, now: float | None = None) -> list[tuple[str, object, str]]:
    """``(claim, value as shown, meaning)``; times are shown as dates with 'in ...'/'... ago'."""
    rows = []
    for name, value in claims.items():
        shown = value
        if name in TIME_CLAIMS and isinstance(value, (int, float)):
            shown = f"{value} = {format_timestamp(value)} ({relative_time(value, now)})"
        rows.append((name, shown, CLAIM_GLOSSARY.get(name, "")))
    return rows


def at_hash(access_token: str) -> str:
    """OIDC Core 3.1.3.6: base64url of the left half of SHA-256 of the access token."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


# --- keys ------------------------------------------------------------------------

class JWKS:
    """The server's signing keys, fetched from ``jwks_uri`` and cached.

    An unknown ``kid`` refetches the set, but at most once per ``refetch_interval``
    seconds (``clock`` is injectable for tests).
    """

    def __init__(self, jwks_uri: str | None = None, *, http: Http | None = None, keys: dict | None = None,
                 refetch_interval: float = 60.0, clock=time.monotonic):
        self.jwks_uri = jwks_uri
        self.http = http or Http()
        self.refetch_interval = refetch_interval
        self.clock = clock
        self.fetches = 0
        self._last_refetch: float | None = None
        self._keys: list[dict] | None = None
        self._lock = threading.Lock()
        if keys is not None:
            self._load(keys)

    def _load(self, document) -> None:
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise errors.TokenVerificationError("The JWKS is not a JSON object with a `keys` list.",
                                                error="invalid_jwks")
        self._keys = [k for k in document["keys"] if isinstance(k, dict)]

    def fetch(self) -> list[dict]:
        if not self.jwks_uri:
            raise errors.ConfigurationError("No jwks_uri to fetch the keys from.")
        try:
            exchange = self.http.send("GET", self.jwks_uri, headers={"Accept": "application/json"}, label="Keys")
            if exchange.status != 200:
                raise errors.UnexpectedResponseError(
                    f"GET {self.jwks_uri} answered HTTP {exchange.status}.", exchange=exchange,
                    hint="The server failed or the jwks_uri is wrong; try again in a moment.")
            document = exchange.json()
        except errors.NetworkError as exc:
            # Say which step failed: without the keys no token can be verified.
            raise type(exc)(f"The server's signing keys (JWKS) could not be fetched: {exc.description}",
                            error=exc.error, hint=exc.hint, exchange=exc.exchange) from None
        self._load(document)
        self.fetches += 1
        return self._keys

    def load(self) -> list[dict]:
        """The keys, fetched on first use."""
        if self._keys is None:
            self.fetch()
        return list(self._keys)

    @property
    def keys(self) -> list[dict]:
        return self.load()

    def _signing_keys(self) -> list[dict]:
        return [k for k in self.keys if k.get("kty") == "RSA" and k.get("use", "sig") == "sig"
                and k.get("alg", ALGORITHM) == ALGORITHM]

    def _may_refetch(self) -> bool:
        if not self.jwks_uri:
            return False
        now = self.clock()
        if self._last_refetch is not None and now - self._last_refetch < self.refetch_interval:
            return False
        self._last_refetch = now
        return True

    def key_for(self, header: dict):
        """The public key that should have signed a token with this header."""
        with self._lock:
            kid = header.get("kid")
            if kid is None:
                candidates = self._signing_keys()
                if len(candidates) == 1:
                    return _to_key(candidates[0])
                raise errors.UnknownKeyError(
                    f"The token has no `kid` and the JWKS holds {len(candidates)} RS256 keys: "
                    "there is no safe way to choose one.",
                    hint="A server with several keys must name the key in the token header.")
            for attempt in (1, 2):
                for jwk in self._signing_keys():
                    if jwk.get("kid") == kid:
                        return _to_key(jwk)
                if attempt == 1 and self._may_refetch():
                    self.fetch()
                    continue
                break
            raise errors.UnknownKeyError(
                f"No key with kid {kid!r} in {self.jwks_uri or 'the JWKS'} "
                f"(it has {', '.join(repr(k.get('kid')) for k in self._signing_keys()) or 'no keys'}).")


def _to_key(jwk: dict):
    try:
        return pyjwt.PyJWK(jwk, algorithm=ALGORITHM).key
    except pyjwt.PyJWTError as exc:
        raise errors.TokenVerificationError(
            f"The JWKS key {jwk.get('kid')!r} is unusable: {exc}", error="invalid_jwks",
            hint="The token names a key the server published in a form that cannot be read; "
                 "do not trust the token. The server's other keys are still used.") from None


# --- verification ------------------------------------------------------------------

_PYJWT_ERRORS = (
    (pyjwt.InvalidSignatureError, errors.InvalidSignatureError, "The signature does not verify."),
    (pyjwt.ExpiredSignatureError, errors.TokenExpiredError, None),
    (pyjwt.InvalidIssuerError, errors.InvalidIssuerError, None),
    (pyjwt.InvalidAudienceError, errors.InvalidAudienceError, None),
    (pyjwt.ImmatureSignatureError, errors.TokenNotYetValidError, None),
    (pyjwt.InvalidIssuedAtError, errors.TokenNotYetValidError, None),
    (pyjwt.MissingRequiredClaimError, errors.MissingClaimError, None),
    (pyjwt.InvalidAlgorithmError, errors.AlgorithmNotAllowedError, None),
    (pyjwt.DecodeError, errors.MalformedTokenError, None),
)


def _claim_problem(kind, claims, issuer, audience, now, leeway) -> str:
    if kind is errors.InvalidIssuerError:
        return f"iss is {claims.get('iss')!r}, expected {issuer!r}."
    if kind is errors.InvalidAudienceError:
        return f"aud is {claims.get('aud')!r}, expected {audience!r}."
    if kind is errors.TokenExpiredError:
        return f"The token {expires_in_words(claims.get('exp', 0), now)} (exp {claims.get('exp')})."
    if kind is errors.TokenNotYetValidError:
        return f"iat {claims.get('iat')} is in the future ({relative_time(claims.get('iat', 0), now)})."
    return ""


def verify_token(token: str, *, jwks: JWKS, issuer: str, audience: str, now: float | None = None,
                 leeway: float = DEFAULT_LEEWAY) -> DecodedToken:
    """Verify signature, ``iss``, ``aud``, ``exp`` and ``iat``; return the decoded token.

    ``now`` replaces the system clock for the time checks (tests, or explaining an old token).
    """
    decoded = decode(token)
    alg = decoded.header.get("alg")
    if alg != ALGORITHM:
        raise errors.AlgorithmNotAllowedError(
            f"The token header says alg {alg!r}; only {ALGORITHM} is accepted.")
    key = jwks.key_for(decoded.header)
    own_clock = now is not None
    try:
        claims = pyjwt.decode(
            decoded.raw, key, algorithms=[ALGORITHM], audience=audience, issuer=issuer, leeway=leeway,
            options={"require": ["iss", "aud", "exp", "iat"], "verify_exp": not own_clock,
                     "verify_iat": not own_clock, "verify_nbf": not own_clock})
    except pyjwt.PyJWTError as exc:
        for pyjwt_error, ours, message in _PYJWT_ERRORS:
            if isinstance(exc, pyjwt_error):
                text = message or _claim_problem(ours, decoded.claims, issuer, audience, now, leeway) or str(exc)
                raise ours(text) from None
        raise errors.TokenVerificationError(str(exc)) from None
    if own_clock:
        if claims["exp"] <= now - leeway:
            raise errors.TokenExpiredError(_claim_problem(errors.TokenExpiredError, claims, issuer, audience,
                                                          now, leeway))
        if claims["iat"] > now + leeway or claims.get("nbf", now) > now + leeway:
            raise errors.TokenNotYetValidError(_claim_problem(errors.TokenNotYetValidError, claims, issuer,
                                                              audience, now, leeway))
    return DecodedToken(raw=decoded.raw, header=decoded.header, claims=claims, verified=True)


def verify_access_token(token: str, *, jwks: JWKS, issuer: str, audience: str = ACCESS_TOKEN_AUDIENCE,
                        now: float | None = None, leeway: float = DEFAULT_LEEWAY) -> DecodedToken:
    """Verify a Fortellis access token (aud ``api_providers``)."""
    return verify_token(token, jwks=jwks, issuer=issuer, audience=audience, now=now, leeway=leeway)


def verify_id_token(token: str, *, jwks: JWKS, issuer: str, client_id: str, nonce: str | None = None,
                    access_token: str | None = None, now: float | None = None,
                    leeway: float = DEFAULT_LEEWAY, fortellis_issuer: bool = False) -> DecodedToken:
    """Verify an ID token: the common checks, ``aud`` = API Key, then ``nonce`` and ``at_hash``.

    ``fortellis_issuer`` (Fortellis' identity servers and the sandbox): an ID token of the shape
    Fortellis minted in 2020-2022 has ``aud`` "fortellis" instead of the API Key; it is accepted
    in that shape only, from those issuers only. What binds it to this app then is that it came
    in this app's own authenticated token response (and its nonce, when one was sent)."""
    audience = client_id
    if fortellis_issuer:
        unverified = decode(token)
        if (unverified.claims.get("aud") == FORTELLIS_ID_TOKEN_AUDIENCE
                and unverified.shape == "fortellis-2022"):
            audience = FORTELLIS_ID_TOKEN_AUDIENCE
    decoded = verify_token(token, jwks=jwks, issuer=issuer, audience=audience, now=now, leeway=leeway)
    claims = decoded.claims
    if not claims.get("sub"):
        raise errors.MissingClaimError("The ID token has no `sub`.")
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != client_id:
        raise errors.InvalidAudienceError(f"aud lists several clients and azp is {claims.get('azp')!r}, "
                                          f"not {client_id!r}.")
    if nonce is not None:
        got = claims.get("nonce")
        if got is None:
            raise errors.NonceMismatchError("The ID token has no `nonce`, but the request sent one.")
        if not hmac.compare_digest(str(got).encode(), nonce.encode()):
            raise errors.NonceMismatchError(f"The ID token's nonce {got!r} is not the one sent ({nonce!r}).")
    if access_token is not None and "at_hash" in claims:
        expected = at_hash(access_token)
        if not hmac.compare_digest(str(claims["at_hash"]).encode(), expected.encode()):
            raise errors.AtHashMismatchError(
                f"at_hash is {claims['at_hash']!r}, but the access token hashes to {expected!r}.")
    return decoded


def check_refreshed_id_token(original: dict, refreshed: dict) -> None:
    """OIDC Core 12.2: a refreshed ID token keeps the original ``iss`` and ``sub``."""
    for claim in ("iss", "sub"):
        if original.get(claim) != refreshed.get(claim):
            raise errors.ClaimChangedError(
                f"The refreshed ID token's {claim} is {refreshed.get(claim)!r}; the original was "
                f"{original.get(claim)!r}.")
