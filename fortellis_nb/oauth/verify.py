"""Reading and checking the tokens: decode, verify against the JWKS, explain each claim.

Verification is explicit, in the order OpenID Connect Core 3.1.3.7 gives it:

* the algorithm is pinned to RS256 by the verifier, never taken from the token;
* the key is chosen from the server's JWKS by ``kid``; an unknown ``kid`` triggers one
  refetch of the JWKS (keys rotate), rate-limited so a stream of bad tokens cannot make
  us hammer the server; a token without ``kid`` is accepted only when the JWKS holds a
  single key;
* PyJWT checks the signature with it (trying each key when a server published several
  under one ``kid``);
* then the claims' types (dates are numbers, ``aud`` a string or a list of strings), and
  ``iss``, ``aud``, ``exp``, ``nbf`` and ``iat``, each refusal naming the token, the claim
  and the rule;
* for an ID token: ``aud`` = the API Key, ``sub``, ``azp``, the ``nonce`` we sent, ``at_hash``.
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

    __hash__ = None


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
                candidates = self._signing_keys()
                if len(candidates) == 1:
                    return [_to_key(candidates[0])]
                raise errors.UnknownKeyError(
                    f"The {kind} has no `kid` and the JWKS holds {len(candidates)} RS256 keys: "
                    "there is no safe way to choose one.",
                    hint="A server with several keys must name the key in the token header.")
            for attempt in (1, 2):
                matching = [jwk for jwk in self.keys if jwk.get("kid") == kid]
                usable = [jwk for jwk in matching if usable_for_rs256(jwk)]
                if usable:
                    return [_to_key(jwk) for jwk in usable]
                if attempt == 1 and self._may_refetch():
                    self.fetch()
                    continue
                break
            where = self.jwks_uri or "the JWKS"
            if matching:
                jwk = matching[0]
                raise errors.UnknownKeyError(
                    f"The key with kid {kid!r} in {where} cannot check the {kind}'s signature: it is "
                    f"published {key_unfit_because(jwk)}.",
                    hint="A key published for another use or algorithm must not verify tokens; the server "
                         "signs with another key, or its key set is misconfigured.")
            raise errors.UnknownKeyError(
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


# --- verification ------------------------------------------------------------------

#: Claims that hold a time: a number of seconds since 1970 (RFC 7519 section 2, NumericDate).
NUMERIC_DATE_CLAIMS = ("exp", "iat", "nbf", "auth_time")
#: What every token checked here must carry.
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat")


def is_number(value) -> bool:
    """A JSON number usable as a date: int or float, not a boolean, finite (ints beyond the
    float range are read as :class:`LongNumber`, which is not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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


def check_claim_types(claims: dict, kind: str) -> None:
    """RFC 7519 and OpenID Connect Core 2: dates are numbers, ``iss`` and ``sub`` strings, ``aud``
    a string or a list of strings. Checked before any rule uses them."""
    for name in NUMERIC_DATE_CLAIMS:
        if name in claims and not is_number(claims[name]):
            raise errors.InvalidClaimError(
                f"The {kind}'s `{name}` is {_described(claims[name])}; it must be a number of seconds since "
                "1970 (RFC 7519, NumericDate).")
    for name in ("iss", "sub", "nonce", "azp", "at_hash", "jti"):
        if name in claims and not isinstance(claims[name], str):
            raise errors.InvalidClaimError(f"The {kind}'s `{name}` is {_described(claims[name])}; it must be a string.")
    aud = claims.get("aud")
    if "aud" in claims and not (isinstance(aud, str) or (isinstance(aud, list) and aud
                                                         and all(isinstance(a, str) for a in aud))):
        raise errors.InvalidClaimError(
            f"The {kind}'s `aud` is {_described(aud)}; it must be a string or a non-empty list of strings "
            "(RFC 7519 section 4.1.3).")


def _when(timestamp: float, now: float) -> str:
    return f"{format_timestamp(timestamp)}, {relative_time(timestamp, now)}"


def check_times(claims: dict, kind: str, now: float, leeway: float) -> None:
    """``exp`` in the future, ``iat`` and ``nbf`` not, each with ``leeway`` seconds of clock skew."""
    skew = f"{leeway:g} s of clock skew allowed"
    if claims["exp"] <= now - leeway:
        raise errors.TokenExpiredError(
            f"The {kind} {expires_in_words(claims['exp'], now)} (`exp` {shown_value(claims['exp'])} = "
            f"{format_timestamp(claims['exp'])}; {skew}).")
    if "nbf" in claims and claims["nbf"] > now + leeway:
        raise errors.TokenNotYetValidError(
            f"The {kind} is not valid before `nbf` {shown_value(claims['nbf'])} = {_when(claims['nbf'], now)} "
            f"({skew}).")
    if claims["iat"] > now + leeway:
        raise errors.TokenNotYetValidError(
            f"The {kind}'s `iat` {shown_value(claims['iat'])} = {_when(claims['iat'], now)}: it says it was issued "
            f"in the future ({skew}).")


def _audience_matches(aud, audience: str) -> bool:
    return aud == audience if isinstance(aud, str) else audience in aud


def verify_token(token: str, *, jwks: JWKS, issuer: str, audience: str, now: float | None = None,
                 leeway: float = DEFAULT_LEEWAY, kind: str = "token", audience_is: str = "") -> DecodedToken:
    """Verify the signature (RS256, a key of ``jwks``), then ``iss``, ``aud``, ``exp``, ``nbf``
    and ``iat``, after checking the claims' types; return the decoded token.

    ``kind`` ("access token", "ID token") and ``audience_is`` (what the expected audience is)
    make the messages name the token and the rule. ``now`` replaces the system clock."""
    try:
        decoded = decode(token)
    except errors.MalformedTokenError as exc:
        raise errors.MalformedTokenError(exc.description.replace("The token", f"The {kind}", 1),
                                         hint=exc.hint) from None
    alg = decoded.header.get("alg")
    if alg != ALGORITHM:
        raise errors.AlgorithmNotAllowedError(
            f"The {kind}'s header says alg {shown_value(alg)}; only {ALGORITHM} is accepted.")
    keys = jwks.keys_for(decoded.header, kind)
    for attempt, key in enumerate(keys, 1):
        try:
            # PyJWS checks the signature only; the claims, read once by decode(), are checked
            # below with this module's messages.
            pyjwt.PyJWS().decode(decoded.raw, key, algorithms=[ALGORITHM])
            break
        except pyjwt.InvalidSignatureError:
            if attempt < len(keys):
                continue
            several = f" by any of the {len(keys)} keys published with kid {decoded.header.get('kid')!r}" \
                if len(keys) > 1 else ""
            raise errors.InvalidSignatureError(f"The {kind}'s signature does not verify{several}.") from None
        except pyjwt.DecodeError as exc:
            raise errors.MalformedTokenError(f"The {kind} cannot be read: {exc}.") from None
        except pyjwt.PyJWTError as exc:
            raise errors.TokenVerificationError(f"The {kind} cannot be verified: {exc}.") from None
    claims = decoded.claims
    check_claim_types(claims, kind)
    for name in REQUIRED_CLAIMS:
        if name not in claims:
            raise errors.MissingClaimError(f"The {kind} has no `{name}` claim, which it must carry.")
    if claims["iss"] != issuer:
        raise errors.InvalidIssuerError(
            f"The {kind}'s `iss` is {shown_value(claims['iss'])}; expected the issuer {issuer!r}.")
    if not _audience_matches(claims["aud"], audience):
        raise errors.InvalidAudienceError(
            f"The {kind}'s `aud` is {shown_value(claims['aud'])}; expected {audience!r}"
            f"{f' ({audience_is})' if audience_is else ''}.")
    check_times(claims, kind, time.time() if now is None else now, leeway)
    return DecodedToken(raw=decoded.raw, header=decoded.header, claims=claims, verified=True)


def verify_access_token(token: str, *, jwks: JWKS, issuer: str, audience: str = ACCESS_TOKEN_AUDIENCE,
                        now: float | None = None, leeway: float = DEFAULT_LEEWAY) -> DecodedToken:
    """Verify an access token as an API would: a Fortellis one has aud ``api_providers``."""
    what = "the audience of Fortellis access tokens" if audience == ACCESS_TOKEN_AUDIENCE else ""
    return verify_token(token, jwks=jwks, issuer=issuer, audience=audience, now=now, leeway=leeway,
                        kind="access token", audience_is=what)


def verify_id_token(token: str, *, jwks: JWKS, issuer: str, client_id: str, nonce: str | None = None,
                    access_token: str | None = None, now: float | None = None,
                    leeway: float = DEFAULT_LEEWAY, fortellis_issuer: bool = False) -> DecodedToken:
    """Verify an ID token: the common checks, ``aud`` = API Key, then ``sub``, ``azp``, ``nonce``
    and ``at_hash`` (OpenID Connect Core 3.1.3.7).

    ``fortellis_issuer`` (Fortellis' identity servers and the sandbox): an ID token of the shape
    Fortellis minted in 2020-2022 has ``aud`` "fortellis" instead of the API Key; it is accepted
    in that shape only, from those issuers only. What binds it to this app then is that it came
    in this app's own authenticated token response (and its nonce, when one was sent)."""
    audience, audience_is = client_id, "your API Key, the client_id"
    if fortellis_issuer:
        unverified = decode(token)
        if (unverified.claims.get("aud") == FORTELLIS_ID_TOKEN_AUDIENCE
                and unverified.shape == "fortellis-2022"):
            audience, audience_is = FORTELLIS_ID_TOKEN_AUDIENCE, "Fortellis' 2020-2022 ID tokens"
    kind = "ID token"
    decoded = verify_token(token, jwks=jwks, issuer=issuer, audience=audience, now=now, leeway=leeway,
                           kind=kind, audience_is=audience_is)
    claims = decoded.claims
    if not claims.get("sub"):
        raise errors.MissingClaimError(f"The {kind} has no `sub` claim: nothing says who signed in.")
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != client_id:
        raise errors.InvalidAudienceError(
            f"The {kind}'s `aud` lists {len(aud)} audiences and its `azp` is {shown_value(claims.get('azp'))}, "
            f"not your API Key {client_id!r} (OpenID Connect Core 3.1.3.7).")
    if "azp" in claims and claims["azp"] != client_id and audience == client_id:
        raise errors.InvalidAudienceError(
            f"The {kind}'s `azp` is {shown_value(claims['azp'])}, not your API Key {client_id!r}.")
    if nonce is not None:
        got = claims.get("nonce")
        if got is None:
            raise errors.NonceMismatchError(f"The {kind} has no `nonce`, but the authorize request sent one.")
        if not hmac.compare_digest(_octets(got), _octets(nonce)):
            raise errors.NonceMismatchError(
                f"The {kind}'s `nonce` {shown_value(got)} is not the one the authorize request sent ({nonce!r}).")
    if access_token is not None and "at_hash" in claims:
        expected = at_hash(access_token)
        if not hmac.compare_digest(_octets(claims["at_hash"]), _octets(expected)):
            raise errors.AtHashMismatchError(
                f"The {kind}'s `at_hash` is {shown_value(claims['at_hash'])}, but the access token hashes to "
                f"{expected!r}.")
    return decoded


def check_refreshed_id_token(original: dict, refreshed: dict) -> None:
    """OIDC Core 12.2: a refreshed ID token keeps the original ``iss`` and ``sub``."""
    for claim in ("iss", "sub"):
        if original.get(claim) != refreshed.get(claim):
            raise errors.ClaimChangedError(
                f"The refreshed ID token's {claim} is {refreshed.get(claim)!r}; the original was "
                f"{original.get(claim)!r}.")
