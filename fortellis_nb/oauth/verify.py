"""Reading and checking the tokens: decode, verify against the JWKS, explain each claim.

Verification is a list of rules, applied in the order OpenID Connect Core 3.1.3.7 gives it
(``TOKEN_RULES``, and ``ID_TOKEN_RULES`` for an ID token):

* the algorithm is pinned to RS256 by the verifier, never taken from the token; the key is
  chosen from the server's JWKS by ``kid`` (an unknown ``kid`` triggers one refetch of the
  JWKS, as keys rotate, rate-limited so a stream of bad tokens cannot make us hammer the
  server; a token without ``kid`` is accepted only when the JWKS holds a single key); PyJWT
  checks the signature with it (trying each key when a server published several under one
  ``kid``);
* then the claims' types (dates are numbers, ``aud`` a string or a list of strings), the
  required claims, ``iss``, ``aud``, ``exp``, ``nbf`` and ``iat``, each refusal naming the
  token, the claim and the rule;
* for an ID token: ``sub``, ``azp``, the ``nonce`` we sent, ``at_hash``.

:func:`verify_token` and :func:`verify_id_token` stop at the first rule that fails;
:func:`fortellis_nb.oauth.checks.verification_checklist` shows every rule's result.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeGuard

import jwt as pyjwt

from . import errors, hints
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


class _FortellisOnly:
    """The default audience rule for access tokens: Fortellis' own, at Fortellis' issuers only."""

    def __repr__(self) -> str:
        return "FORTELLIS_ONLY"


FORTELLIS_ONLY = _FortellisOnly()

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
    if not math.isfinite(seconds) or abs(seconds) > 100 * 365 * 86400:
        return "more than a century"
    seconds = round(abs(seconds))
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
    try:
        return _dt.datetime.fromtimestamp(timestamp, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "a date outside the calendar"


# --- decoding ----------------------------------------------------------------------

class LongNumber:
    """A JSON integer beyond the range of a float (over 308 digits), kept as its text: no date
    or id is that long (Python would read up to 4,300 digits, then refuse), so it is a fault to
    report, not a number to compute with."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"{self.text[:12]}... (a number of {len(self.text.lstrip('-'))} digits)"

    def __eq__(self, other) -> bool:
        return isinstance(other, LongNumber) and other.text == self.text

    __hash__ = None  # type: ignore[assignment]  # equal by value, and never a key


def _parse_int(text: str):
    return LongNumber(text) if len(text.lstrip("-")) > 308 else int(text)


def _b64url_json(part: str, what: str):
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (ValueError, TypeError):
        raise errors.MalformedTokenError(f"The token's {what} is not base64url-encoded.") from None
    try:
        value = json.loads(raw, parse_int=_parse_int)
    except RecursionError:
        raise errors.MalformedTokenError(f"The token's {what} is JSON nested too deeply to read.") from None
    except (ValueError, TypeError):
        raise errors.MalformedTokenError(f"The token's {what} is not JSON.") from None
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
            f"The token has {len(parts)} part{'s' if len(parts) != 1 else ''} separated by dots; a JWT has three.",
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


def looks_like_jwt(token: str | None) -> TypeGuard[str]:
    return token is not None and token.count(".") == 2 and token.startswith("eyJ")


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
    """OIDC Core 3.1.3.6: base64url of the left half of SHA-256 of the access token's octets."""
    digest = hashlib.sha256(_octets(access_token)).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def _octets(text: str) -> bytes:
    """A string's UTF-8 octets, unpaired surrogates included (compared, never shown)."""
    return str(text).encode("utf-8", "surrogatepass")


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

    def _load(self, document) -> list[dict]:
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise errors.TokenVerificationError("The JWKS is not a JSON object with a `keys` list.",
                                                error="invalid_jwks")
        self._keys = [k for k in document["keys"] if isinstance(k, dict)]
        return self._keys

    def fetch(self) -> list[dict]:
        if not self.jwks_uri:
            raise errors.ConfigurationError("No jwks_uri to fetch the keys from.")
        try:
            exchange = self.http.send("GET", self.jwks_uri, headers={"Accept": "application/json"}, label="Keys")
            if exchange.status != 200:
                raise errors.UnexpectedResponseError(
                    f"GET {self.jwks_uri} answered HTTP {exchange.status}.", exchange=exchange,
                    hint=f"{hints.SERVER_FAILED} If it keeps failing, check the jwks_uri.")
            document = exchange.json()
        except errors.NetworkError as exc:
            # Say which step failed: without the keys no token can be verified.
            raise type(exc)(f"The server's signing keys (JWKS) could not be fetched: {exc.description}",
                            error=exc.error, hint=exc.hint, exchange=exc.exchange) from None
        keys = self._load(document)
        self.fetches += 1
        return keys

    def load(self) -> list[dict]:
        """The keys, fetched on first use."""
        return list(self.fetch() if self._keys is None else self._keys)

    @property
    def keys(self) -> list[dict]:
        return self.load()

    def _signing_keys(self) -> list[dict]:
        return [k for k in self.keys if usable_for_rs256(k)]

    def _may_refetch(self) -> bool:
        if not self.jwks_uri:
            return False
        now = self.clock()
        if self._last_refetch is not None and now - self._last_refetch < self.refetch_interval:
            return False
        self._last_refetch = now
        return True

    def _listing(self) -> str:
        """The kids of the set's signing keys, for a message: ``'a', 'b' and 1 key without a kid``."""
        keys = self._signing_keys()
        named = list(dict.fromkeys(repr(k["kid"]) for k in keys if k.get("kid") is not None))
        unnamed = sum(1 for k in keys if k.get("kid") is None)
        parts = named + ([f"{unnamed} key{'s' if unnamed != 1 else ''} without a kid"] if unnamed else [])
        if not parts:
            return "no RS256 signing keys"
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

    def keys_for(self, header: dict, kind: str = "token") -> list:
        """The public keys that may have signed a token with this header: one, or several when
        the server published several keys under one kid (RFC 7517 asks it not to). ``kind``
        names the token in the messages."""
        with self._lock:
            kid = header.get("kid")
            if kid is None:
                return [_to_key(self._only_key(kind))]
            usable, published = self._published_under(kid)
            if not usable and self._may_refetch():
                self.fetch()
                usable, published = self._published_under(kid)
            if not usable:
                raise self._no_key_error(kid, published, kind)
            return [_to_key(jwk) for jwk in usable]

    def _only_key(self, kind: str) -> dict:
        """The key of a token without a kid: the set's single signing key, as there is no other
        safe choice."""
        candidates = self._signing_keys()
        if len(candidates) != 1:
            raise errors.UnknownKeyError(
                f"The {kind} has no `kid` and the JWKS holds {len(candidates)} RS256 keys: "
                "there is no safe way to choose one.",
                hint="A server with several keys must name the key in the token header.")
        return candidates[0]

    def _published_under(self, kid) -> tuple[list[dict], list[dict]]:
        """The keys published under ``kid`` that can verify RS256, and all those published under it."""
        published = [jwk for jwk in self.keys if jwk.get("kid") == kid]
        return [jwk for jwk in published if usable_for_rs256(jwk)], published

    def _no_key_error(self, kid, published: list[dict], kind: str) -> errors.UnknownKeyError:
        where = self.jwks_uri or "the JWKS"
        if published:
            return errors.UnknownKeyError(
                f"The key with kid {kid!r} in {where} cannot check the {kind}'s signature: it is "
                f"published {key_unfit_because(published[0])}.",
                hint="A key published for another use or algorithm must not verify tokens; the server "
                     "signs with another key, or its key set is misconfigured.")
        return errors.UnknownKeyError(
            f"The {kind}'s `kid` {kid!r} names no key in {where} (it has {self._listing()}).")


def usable_for_rs256(jwk: dict) -> bool:
    """An RSA key for signatures (``use`` sig or absent, ``key_ops`` allowing verify) with
    ``alg`` RS256 or none given."""
    ops = jwk.get("key_ops")
    return (jwk.get("kty") == "RSA" and jwk.get("use", "sig") == "sig" and jwk.get("alg", ALGORITHM) == ALGORITHM
            and (ops is None or (isinstance(ops, list) and "verify" in ops)))


def key_unfit_because(jwk: dict) -> str:
    """Why a JWK cannot verify an RS256 signature, as the end of a sentence."""
    if jwk.get("kty") != "RSA":
        return f"as a {jwk.get('kty')!r} key, not RSA"
    if jwk.get("use", "sig") != "sig":
        return f"for {'encryption' if jwk.get('use') == 'enc' else repr(jwk.get('use'))} (`use: {jwk.get('use')}`)"\
               ", not for signatures"
    if jwk.get("alg", ALGORITHM) != ALGORITHM:
        return f"for {jwk.get('alg')}, not {ALGORITHM}"
    return f"with key_ops {jwk.get('key_ops')!r}, which do not include verify"


def _to_key(jwk: dict):
    try:
        return pyjwt.PyJWK(jwk, algorithm=ALGORITHM).key
    except pyjwt.PyJWTError as exc:
        raise errors.TokenVerificationError(
            f"The JWKS key {jwk.get('kid')!r} is unusable: {exc}", error="invalid_jwks",
            hint="The token names a key the server published in a form that cannot be read; "
                 "do not trust the token. The server's other keys are still used.") from None


# --- verification: the rules ---------------------------------------------------------
#
# Each rule is a function of the decoded token and what is expected of it, returning a
# RuleResult: passed, failed (with the error verify raises) or not applicable. verify_token
# and verify_id_token apply the rules in order and raise the first failure;
# checks.verification_checklist applies every one and shows them all (PyJWT's
# ``_validate_<claim>`` functions, walked by a verifier and by a checklist).

#: Claims that hold a time: a number of seconds since 1970 (RFC 7519 section 2, NumericDate).
NUMERIC_DATE_CLAIMS = ("exp", "iat", "nbf", "auth_time")
#: What every token checked here must carry.
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat")


def is_number(value) -> bool:
    """A JSON number usable as a date: int or float, not a boolean, finite (ints beyond the
    float range are read as :class:`LongNumber`, which is not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_string(value) -> bool:
    return isinstance(value, str)


def _is_audience(value) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and bool(value)
                                      and all(isinstance(a, str) for a in value))


#: What a claim must be when present (RFC 7519 section 4.1, OpenID Connect Core 2): the test,
#: and the words that say it.
CLAIM_TYPES = {
    **dict.fromkeys(NUMERIC_DATE_CLAIMS, (is_number, "a number of seconds since 1970 (RFC 7519, NumericDate)")),
    **dict.fromkeys(("iss", "sub", "nonce", "azp", "at_hash", "jti"), (_is_string, "a string")),
    "aud": (_is_audience, "a string or a non-empty list of strings (RFC 7519 section 4.1.3)"),
}


def _described(value) -> str:
    if isinstance(value, LongNumber):
        return repr(value)
    kind = {str: "a string", bool: "a boolean", list: "a list", dict: "an object", type(None): "null"}
    return f"{shown_value(value)} ({kind.get(type(value), type(value).__name__)})"


def shown_value(value) -> str:
    """A claim's value for a message: JSON, at most 60 characters, printable whatever it holds
    (an unpaired surrogate is shown escaped)."""
    if isinstance(value, LongNumber):
        return repr(value)
    try:
        text = repr(value) if isinstance(value, float) else json.dumps(value, ensure_ascii=False, default=repr)
    except (ValueError, RecursionError):  # a structure too deep to write out
        text = f"({type(value).__name__} nested too deeply to show)"
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 60 else text[:57] + "..."


def _when(timestamp: float, now: float) -> str:
    return f"{format_timestamp(timestamp)}, {relative_time(timestamp, now)}"


@dataclass(frozen=True)
class RuleResult:
    """One rule applied to one token: its name, whether it held (None when it does not apply
    to this token) and what a learner reads about it. A failed rule carries the error that
    verification raises, and its explanation is that error's description."""

    name: str
    passed: bool | None
    detail: str
    error: errors.FortellisError | None = field(default=None, repr=False, compare=False)

    @classmethod
    def failed(cls, name: str, error: errors.FortellisError) -> RuleResult:
        return cls(name, False, error.description, error)

    @property
    def mark(self) -> str:
        return {True: "pass", False: "fail", None: "n/a"}[self.passed]


@dataclass(frozen=True)
class Expected:
    """What the rules check a token against."""

    kind: str  # "access token", "ID token": the messages name the token
    jwks: JWKS
    issuer: str
    audience: str | None
    now: float
    leeway: float = DEFAULT_LEEWAY
    audience_is: str = ""  # what the expected audience is, for the messages
    client_id: str | None = None  # ID tokens: the API Key
    nonce: str | None = None  # ID tokens: the nonce the authorize request sent, if any
    access_token: str | None = None  # ID tokens: the access token issued alongside, for at_hash

    @property
    def skew(self) -> str:
        return f"{self.leeway:g} s of clock skew allowed"


def _unchecked(claim: str, claims: dict, *, when_absent: bool = True) -> RuleResult | None:
    """The result of the rule about ``claim`` when it has nothing to check: the claim is of
    the wrong type, or (``when_absent``) missing. Those faults are the claim-types and
    required-claims rules' to report, so that one fault fails one rule. None when the rule applies."""
    if claim not in claims:
        return RuleResult(claim, None, f"no {claim} claim") if when_absent else None
    fits, _ = CLAIM_TYPES[claim]
    return None if fits(claims[claim]) else RuleResult(claim, None, f"{claim} is of the wrong type (see claim types)")


def _signature_error(token: DecodedToken, keys: list, kind: str) -> errors.FortellisError | None:
    """None when one of ``keys`` verifies the token's signature, else what is wrong."""
    for key in keys:
        try:
            # PyJWS checks the signature only; the claims, read once by decode(), are the other rules'.
            pyjwt.PyJWS().decode(token.raw, key, algorithms=[ALGORITHM])
            return None
        except pyjwt.InvalidSignatureError:
            continue  # a server may publish several keys under one kid: try the next
        except pyjwt.DecodeError as exc:
            return errors.MalformedTokenError(f"The {kind} cannot be read: {exc}.")
        except pyjwt.PyJWTError as exc:
            return errors.TokenVerificationError(f"The {kind} cannot be verified: {exc}.")
    several = f" by any of the {len(keys)} keys published with kid {token.header.get('kid')!r}" if len(keys) > 1 else ""
    return errors.InvalidSignatureError(f"The {kind}'s signature does not verify{several}.")


def validate_signature(token: DecodedToken, expected: Expected) -> RuleResult:
    """RS256, pinned by the verifier (never taken from the token); the key chosen from the
    JWKS by ``kid``; the signature checked with it."""
    name, kind, kid = "signature and kid", expected.kind, token.header.get("kid")
    alg = token.header.get("alg")
    if alg != ALGORITHM:
        return RuleResult.failed(name, errors.AlgorithmNotAllowedError(
            f"The {kind}'s header says alg {shown_value(alg)}; only {ALGORITHM} is accepted."))
    try:
        keys = expected.jwks.keys_for(token.header, kind)
    except errors.FortellisError as exc:  # no such key, or the key set could not be fetched
        return RuleResult.failed(name, exc)
    error = _signature_error(token, keys, kind)
    if error is not None:
        return RuleResult.failed(name, error)
    return RuleResult(name, True, f"{ALGORITHM} signature verifies with the published key kid {kid!r}")


def validate_claim_types(token: DecodedToken, expected: Expected) -> RuleResult:
    """Dates are numbers, ``iss`` and ``sub`` strings, ``aud`` a string or a list of strings
    (CLAIM_TYPES); the rules after this one rely on it."""
    for claim, (fits, must_be) in CLAIM_TYPES.items():
        if claim in token.claims and not fits(token.claims[claim]):
            return RuleResult.failed("claim types", errors.InvalidClaimError(
                f"The {expected.kind}'s `{claim}` is {_described(token.claims[claim])}; it must be {must_be}."))
    return RuleResult("claim types", True,
                      "the dates are numbers, the names strings, aud a string or a list of strings")


def validate_required_claims(token: DecodedToken, expected: Expected) -> RuleResult:
    """``iss``, ``aud``, ``exp`` and ``iat`` are there."""
    missing = [claim for claim in REQUIRED_CLAIMS if claim not in token.claims]
    if missing:
        return RuleResult.failed("required claims", errors.MissingClaimError(
            f"The {expected.kind} has no `{missing[0]}` claim, which it must carry."))
    return RuleResult("required claims", True, f"{', '.join(REQUIRED_CLAIMS[:-1])} and {REQUIRED_CLAIMS[-1]} are all "
                                               "there")


def validate_iss(token: DecodedToken, expected: Expected) -> RuleResult:
    """``iss`` is the issuer configured, compared as strings (OpenID Connect Core 3.1.3.7 step 2)."""
    if (unchecked := _unchecked("iss", token.claims)) is not None:
        return unchecked
    iss = token.claims["iss"]
    if iss != expected.issuer:
        return RuleResult.failed("iss", errors.InvalidIssuerError(
            f"The {expected.kind}'s `iss` is {shown_value(iss)}; expected the issuer {expected.issuer!r}."))
    return RuleResult("iss", True, f"iss is {shown_value(iss)}")


def _audience_matches(aud, audience: str | None) -> bool:
    return aud == audience if isinstance(aud, str) else audience in aud


def validate_aud(token: DecodedToken, expected: Expected) -> RuleResult:
    """``aud`` is, or lists, the audience expected."""
    if (unchecked := _unchecked("aud", token.claims)) is not None:
        return unchecked
    aud, what = token.claims["aud"], f" ({expected.audience_is})" if expected.audience_is else ""
    if not _audience_matches(aud, expected.audience):
        return RuleResult.failed("aud", errors.InvalidAudienceError(
            f"The {expected.kind}'s `aud` is {shown_value(aud)}; expected {expected.audience!r}{what}."))
    return RuleResult("aud", True, f"aud is {shown_value(aud)}{what}")


def validate_exp(token: DecodedToken, expected: Expected) -> RuleResult:
    """Not expired: ``exp`` after now, with ``leeway`` seconds of clock skew."""
    if (unchecked := _unchecked("exp", token.claims)) is not None:
        return unchecked
    exp, now = token.claims["exp"], expected.now
    if exp <= now - expected.leeway:
        return RuleResult.failed("exp", errors.TokenExpiredError(
            f"The {expected.kind} {expires_in_words(exp, now)} (`exp` {shown_value(exp)} = "
            f"{format_timestamp(exp)}; {expected.skew})."))
    skewed = f"; within the {expected.leeway:.0f} seconds allowed for clock skew" if exp <= now else ""
    return RuleResult("exp", True, f"{expires_in_words(exp, now)} ({format_timestamp(exp)}){skewed}")


def validate_nbf(token: DecodedToken, expected: Expected) -> RuleResult:
    """Valid already: ``nbf``, when there is one, not after now (with the leeway)."""
    if (unchecked := _unchecked("nbf", token.claims)) is not None:
        return unchecked
    nbf, now = token.claims["nbf"], expected.now
    if nbf > now + expected.leeway:
        return RuleResult.failed("nbf", errors.TokenNotYetValidError(
            f"The {expected.kind} is not valid before `nbf` {shown_value(nbf)} = {_when(nbf, now)} ({expected.skew})."))
    return RuleResult("nbf", True, f"valid from {format_timestamp(nbf)} ({relative_time(nbf, now)})")


def validate_iat(token: DecodedToken, expected: Expected) -> RuleResult:
    """Issued in the past: ``iat`` not after now (with the leeway); a clock is wrong otherwise."""
    if (unchecked := _unchecked("iat", token.claims)) is not None:
        return unchecked
    iat, now = token.claims["iat"], expected.now
    if iat > now + expected.leeway:
        return RuleResult.failed("iat", errors.TokenNotYetValidError(
            f"The {expected.kind}'s `iat` {shown_value(iat)} = {_when(iat, now)}: it says it was issued in the future "
            f"({expected.skew})."))
    return RuleResult("iat", True, f"issued {relative_time(iat, now)}")


def validate_sub(token: DecodedToken, expected: Expected) -> RuleResult:
    """An ID token says who signed in (OpenID Connect Core 2: ``sub`` is required)."""
    if (unchecked := _unchecked("sub", token.claims, when_absent=False)) is not None:
        return unchecked
    sub = token.claims.get("sub")
    if not sub:
        return RuleResult.failed("sub", errors.MissingClaimError(
            f"The {expected.kind} has no `sub` claim: nothing says who signed in."))
    return RuleResult("sub", True, f"sub is {shown_value(sub)}: who signed in")


def validate_azp(token: DecodedToken, expected: Expected) -> RuleResult:
    """OpenID Connect Core 3.1.3.7: an ID token for several audiences names this app in
    ``azp``; an ``azp``, when there is one, is the API Key."""
    if (unchecked := _unchecked("azp", token.claims, when_absent=False)) is not None:
        return unchecked
    aud, azp, client_id, kind = token.claims.get("aud"), token.claims.get("azp"), expected.client_id, expected.kind
    if isinstance(aud, list) and len(aud) > 1 and azp != client_id:
        return RuleResult.failed("azp", errors.InvalidAudienceError(
            f"The {kind}'s `aud` lists {len(aud)} audiences and its `azp` is {shown_value(azp)}, not your API Key "
            f"{client_id!r} (OpenID Connect Core 3.1.3.7)."))
    if azp is None:
        return RuleResult("azp", None, "no azp claim, and aud names one audience")
    if azp != client_id and expected.audience == client_id:
        return RuleResult.failed("azp", errors.InvalidAudienceError(
            f"The {kind}'s `azp` is {shown_value(azp)}, not your API Key {client_id!r}."))
    return RuleResult("azp", True, f"azp is {shown_value(azp)}")


def validate_nonce(token: DecodedToken, expected: Expected) -> RuleResult:
    """The ``nonce`` the authorize request sent came back (OpenID Connect Core 3.1.3.7 step 11)."""
    if expected.nonce is None:
        return RuleResult("nonce", None, "no nonce to compare with (none was sent, or this came from a refresh)")
    if (unchecked := _unchecked("nonce", token.claims, when_absent=False)) is not None:
        return unchecked
    got, kind = token.claims.get("nonce"), expected.kind
    if got is None:
        return RuleResult.failed("nonce", errors.NonceMismatchError(
            f"The {kind} has no `nonce`, but the authorize request sent one."))
    if not hmac.compare_digest(_octets(got), _octets(expected.nonce)):
        return RuleResult.failed("nonce", errors.NonceMismatchError(
            f"The {kind}'s `nonce` {shown_value(got)} is not the one the authorize request sent ({expected.nonce!r})."))
    return RuleResult("nonce", True, "the nonce sent in the authorize URL came back")


def validate_at_hash(token: DecodedToken, expected: Expected) -> RuleResult:
    """``at_hash``, when there is one, is the hash of the access token issued alongside
    (OpenID Connect Core 3.1.3.6)."""
    if (unchecked := _unchecked("at_hash", token.claims)) is not None:
        return unchecked
    if expected.access_token is None:
        return RuleResult("at_hash", None, "no access token to compare with")
    got, want = token.claims["at_hash"], at_hash(expected.access_token)
    if not hmac.compare_digest(_octets(got), _octets(want)):
        return RuleResult.failed("at_hash", errors.AtHashMismatchError(
            f"The {expected.kind}'s `at_hash` is {shown_value(got)}, but the access token hashes to {want!r}."))
    return RuleResult("at_hash", True, "matches the access token issued with it")


#: A rule: what it says of a token, given what is expected of the token.
Rule = Callable[[DecodedToken, Expected], RuleResult]

#: The rules of every token, in the order OpenID Connect Core 3.1.3.7 gives them; each may
#: rely on those before it (the times on the claim types and the required claims).
TOKEN_RULES: tuple[Rule, ...] = (validate_signature, validate_claim_types, validate_required_claims, validate_iss,
                                 validate_aud, validate_exp, validate_nbf, validate_iat)
#: An ID token's rules: those of every token, then who signed in, for which app, in which sign-in.
ID_TOKEN_RULES: tuple[Rule, ...] = (*TOKEN_RULES, validate_sub, validate_azp, validate_nonce, validate_at_hash)


# --- verification: applying the rules ------------------------------------------------

def read_token(token: str, kind: str) -> DecodedToken:
    """:func:`decode`, its refusals naming the token (``kind``)."""
    try:
        return decode(token)
    except errors.MalformedTokenError as exc:
        raise errors.MalformedTokenError(exc.description.replace("The token", f"The {kind}", 1),
                                         hint=exc.hint) from None


def access_token_expected(*, jwks: JWKS, issuer: str, audience: str = ACCESS_TOKEN_AUDIENCE,
                          now: float | None = None, leeway: float = DEFAULT_LEEWAY) -> Expected:
    """What an API expects of an access token: a Fortellis one has aud ``api_providers``."""
    what = "the audience of Fortellis access tokens" if audience == ACCESS_TOKEN_AUDIENCE else ""
    return Expected("access token", jwks, issuer, audience, time.time() if now is None else now, leeway,
                    audience_is=what)


def id_token_expected(token: DecodedToken, *, jwks: JWKS, issuer: str, client_id: str | None,
                      nonce: str | None = None, access_token: str | None = None, now: float | None = None,
                      leeway: float = DEFAULT_LEEWAY, fortellis_issuer: bool = False) -> Expected:
    """What an app expects of its ID token: ``aud`` is its API Key, or "fortellis" for a token of
    Fortellis' 2020-2022 shape from a Fortellis issuer (see :func:`verify_id_token`)."""
    audience, audience_is = client_id, "your API Key, the client_id"
    if (fortellis_issuer and token.claims.get("aud") == FORTELLIS_ID_TOKEN_AUDIENCE
            and token.shape == "fortellis-2022"):
        audience, audience_is = FORTELLIS_ID_TOKEN_AUDIENCE, "Fortellis' 2020-2022 ID tokens"
    return Expected("ID token", jwks, issuer, audience, time.time() if now is None else now, leeway,
                    audience_is=audience_is, client_id=client_id, nonce=nonce, access_token=access_token)


def enforce(token: DecodedToken, rules: tuple[Rule, ...], expected: Expected) -> DecodedToken:
    """Apply ``rules`` in order; raise the error of the first that fails, else return the token verified."""
    for rule in rules:
        result = rule(token, expected)
        if result.error is not None:
            raise result.error
    return DecodedToken(raw=token.raw, header=token.header, claims=token.claims, verified=True)


def verify_token(token: str, *, jwks: JWKS, issuer: str, audience: str, now: float | None = None,
                 leeway: float = DEFAULT_LEEWAY, kind: str = "token", audience_is: str = "") -> DecodedToken:
    """Verify the signature (RS256, a key of ``jwks``), then the claims' types, ``iss``, ``aud``,
    ``exp``, ``nbf`` and ``iat`` (TOKEN_RULES); return the decoded token.

    ``kind`` ("access token", "ID token") and ``audience_is`` (what the expected audience is)
    make the messages name the token and the rule. ``now`` replaces the system clock."""
    expected = Expected(kind, jwks, issuer, audience, time.time() if now is None else now, leeway,
                        audience_is=audience_is)
    return enforce(read_token(token, kind), TOKEN_RULES, expected)


def verify_access_token(token: str, *, jwks: JWKS, issuer: str, audience: str = ACCESS_TOKEN_AUDIENCE,
                        now: float | None = None, leeway: float = DEFAULT_LEEWAY) -> DecodedToken:
    """Verify an access token as an API would: a Fortellis one has aud ``api_providers``."""
    expected = access_token_expected(jwks=jwks, issuer=issuer, audience=audience, now=now, leeway=leeway)
    return enforce(read_token(token, expected.kind), TOKEN_RULES, expected)


def verify_id_token(token: str, *, jwks: JWKS, issuer: str, client_id: str, nonce: str | None = None,
                    access_token: str | None = None, now: float | None = None,
                    leeway: float = DEFAULT_LEEWAY, fortellis_issuer: bool = False) -> DecodedToken:
    """Verify an ID token: the common rules, ``aud`` = API Key, then ``sub``, ``azp``, ``nonce``
    and ``at_hash`` (ID_TOKEN_RULES, OpenID Connect Core 3.1.3.7).

    ``fortellis_issuer`` (Fortellis' identity servers and the sandbox): an ID token of the shape
    Fortellis minted in 2020-2022 has ``aud`` "fortellis" instead of the API Key; it is accepted
    in that shape only, from those issuers only. What binds it to this app then is that it came
    in this app's own authenticated token response (and its nonce, when one was sent)."""
    decoded = read_token(token, "ID token")
    expected = id_token_expected(decoded, jwks=jwks, issuer=issuer, client_id=client_id, nonce=nonce,
                                 access_token=access_token, now=now, leeway=leeway,
                                 fortellis_issuer=fortellis_issuer)
    return enforce(decoded, ID_TOKEN_RULES, expected)


def check_refreshed_id_token(original: dict, refreshed: dict) -> None:
    """OIDC Core 12.2: a refreshed ID token keeps the original ``iss`` and ``sub``."""
    for claim in ("iss", "sub"):
        if original.get(claim) != refreshed.get(claim):
            raise errors.ClaimChangedError(
                f"The refreshed ID token's {claim} is {refreshed.get(claim)!r}; the original was "
                f"{original.get(claim)!r}.")
