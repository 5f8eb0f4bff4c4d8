"""What to show beside each step: the checks a token passed or failed, the life left in a
code, what a refresh changed, and text with its secrets shortened.

:mod:`~fortellis_nb.oauth.verify` stops at the first failed check, which is right for an
app. A learner wants to see every check at once, so :func:`verification_checklist` runs
each one separately (the same rules: RS256 pinned by the verifier, key chosen by ``kid``
from the JWKS, then ``iss``, ``aud``, ``exp``, ``iat``, and for an ID token ``nonce`` and
``at_hash``) and reports each as passed, failed, or not applicable.
"""

from __future__ import annotations

import hmac
import math
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import jwt as pyjwt

from . import errors
from .tokens import CODE_LIFETIME, TokenResponse
from . import redact as redact_module
from .redact import shorten
from .verify import (ACCESS_TOKEN_AUDIENCE, ALGORITHM, DEFAULT_LEEWAY, FORTELLIS_ID_TOKEN_AUDIENCE, JWKS,
                     is_number, at_hash, check_claim_types, decode, expires_in_words,
                     format_timestamp, humanize_duration, looks_like_jwt, relative_time, shown_value)


# --- the verification checklist ------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """One verification step and its outcome; ``passed`` is None when it does not apply."""

    name: str
    passed: bool | None
    detail: str

    @property
    def mark(self) -> str:
        return {True: "pass", False: "fail", None: "n/a"}[self.passed]


def _audience_ok(aud, expected: str) -> bool:
    return expected in aud if isinstance(aud, list) else aud == expected


def verification_checklist(token: str, *, kind: str = "access", jwks: JWKS, issuer: str,
                           audience: str = ACCESS_TOKEN_AUDIENCE, client_id: str | None = None,
                           nonce: str | None = None, access_token: str | None = None, now: float | None = None,
                           leeway: float = DEFAULT_LEEWAY, fortellis_issuer: bool = False) -> list[Check]:
    """Every check of an access token (``kind="access"``) or ID token (``kind="id"``), each on its own.

    The ID token's audience is ``client_id`` (the API Key), or "fortellis" for an ID token of
    Fortellis' 2020-2022 shape from a Fortellis issuer (``fortellis_issuer``, as
    :func:`~fortellis_nb.oauth.verify.verify_id_token`); ``nonce`` is the one sent in the
    authorize URL and ``access_token`` the one issued alongside (for ``at_hash``).
    """
    now = time.time() if now is None else now
    try:
        decoded = decode(token)
    except errors.MalformedTokenError as exc:
        return [Check("format", False, exc.description)]
    header, claims = decoded.header, decoded.claims
    checks = [_signature_check(decoded.raw, header, jwks)]
    try:
        check_claim_types(claims, "ID token" if kind == "id" else "access token")
    except errors.InvalidClaimError as exc:
        checks.append(Check("claim types", False, exc.description))

    iss = claims.get("iss")
    checks.append(Check("iss", iss == issuer,
                        f"iss is {shown_value(iss)}" + ("" if iss == issuer else f", expected {issuer!r}")))

    expected_aud = client_id if kind == "id" else audience
    aud = claims.get("aud")
    if (kind == "id" and fortellis_issuer and aud == FORTELLIS_ID_TOKEN_AUDIENCE
            and decoded.shape == "fortellis-2022"):
        expected_aud = FORTELLIS_ID_TOKEN_AUDIENCE
    aud_ok = expected_aud is not None and isinstance(aud, (str, list)) and _audience_ok(aud, expected_aud)
    explained = " (the shape of Fortellis' 2020-2022 ID tokens)" if expected_aud == FORTELLIS_ID_TOKEN_AUDIENCE else ""
    checks.append(Check("aud", aud_ok, f"aud is {shown_value(aud)}{explained}"
                        + ("" if aud_ok else f", expected {expected_aud!r}")))

    exp = claims.get("exp")
    if is_number(exp):
        skew = f"; within the {leeway:.0f} seconds allowed for clock skew" if now - leeway < exp <= now else ""
        checks.append(Check("exp", exp > now - leeway,
                            f"{expires_in_words(exp, now)} ({format_timestamp(exp)}){skew}"))
    else:
        checks.append(Check("exp", False, "no exp claim: a token must say when it expires" if exp is None
                            else "exp is not a number"))

    nbf = claims.get("nbf")
    if is_number(nbf):
        ok = nbf <= now + leeway
        checks.append(Check("nbf", ok, f"valid from {format_timestamp(nbf)} ({relative_time(nbf, now)})"
                            + ("" if ok else ": not valid yet")))

    iat = claims.get("iat")
    if is_number(iat):
        ok = iat <= now + leeway
        checks.append(Check("iat", ok, f"issued {relative_time(iat, now)}" + ("" if ok else ": a clock is wrong")))
    else:
        checks.append(Check("iat", False, "no iat claim" if iat is None else "iat is not a number"))

    if kind == "id":
        got = claims.get("nonce")
        if nonce is None:
            checks.append(Check("nonce", None, "no nonce to compare with (none was sent, or this came from a refresh)"))
        elif got is None:
            checks.append(Check("nonce", False, "the ID token has no nonce, but the authorize URL sent one"))
        else:
            same = hmac.compare_digest(str(got).encode(), nonce.encode())
            checks.append(Check("nonce", same, "the nonce sent in the authorize URL came back" if same
                                else f"nonce {shown_value(got)} is not the one sent ({nonce!r})"))
        if access_token is None or "at_hash" not in claims:
            checks.append(Check("at_hash", None, "no at_hash claim" if "at_hash" not in claims
                                else "no access token to compare with"))
        else:
            expected = at_hash(access_token)
            same = hmac.compare_digest(str(claims["at_hash"]).encode(), expected.encode())
            checks.append(Check("at_hash", same, "matches the access token issued with it" if same
                                else f"at_hash is {shown_value(claims['at_hash'])}, the access token hashes to "
                                     f"{expected!r}"))
    return checks


def _signature_check(raw: str, header: dict, jwks: JWKS) -> Check:
    name = "signature and kid"
    alg, kid = header.get("alg"), header.get("kid")
    if alg != ALGORITHM:
        return Check(name, False, f"alg is {shown_value(alg)}; only {ALGORITHM} is accepted")
    try:
        keys = jwks.keys_for(header)
    except errors.FortellisError as exc:
        return Check(name, False, exc.description)
    for key in keys:
        try:
            pyjwt.decode(raw, key, algorithms=[ALGORITHM],
                         options={"verify_signature": True, "verify_exp": False, "verify_iat": False,
                                  "verify_nbf": False, "verify_aud": False, "verify_iss": False})
        except pyjwt.InvalidSignatureError:
            continue
        except pyjwt.PyJWTError as exc:
            return Check(name, False, str(exc))
        return Check(name, True, f"{ALGORITHM} signature verifies with the published key kid {kid!r}")
    return Check(name, False, f"the {ALGORITHM} signature does not verify with the key kid {kid!r}"
                 + (f" (nor with the {len(keys) - 1} other keys published under that kid)" if len(keys) > 1 else ""))


# --- the code's 60 seconds ------------------------------------------------------------

CODE_EXPIRED_WHY = (
    "A code lives {lifetime} seconds (the tutorial: \"You can exchange the authorization code for a token "
    "for 60 seconds.\"); the token endpoint will answer HTTP 400 invalid_grant, \"The authorization code is "
    "invalid or has expired.\" Sign in again for a fresh code and exchange it straight away.")


def code_countdown(received_at: float, now: float | None = None, lifetime: float = CODE_LIFETIME) -> tuple[float, str]:
    """``(seconds left, words)`` for a code that arrived at ``received_at``; past its life, the words say why
    the exchange will fail."""
    now = time.time() if now is None else now
    left = lifetime - (now - received_at)
    if left > 0:
        seconds = math.ceil(left)
        return left, f"{seconds} second{'s' if seconds != 1 else ''} left to exchange the code"
    return left, (f"The code expired {humanize_duration(int(-left))} ago. "
                  + CODE_EXPIRED_WHY.format(lifetime=int(lifetime)))


# --- what a refresh changed -----------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """One property of the tokens before and after a refresh, as display text (tokens shortened)."""

    what: str
    before: str
    after: str
    #: Compared on the full values: two tokens can look alike once shortened.
    changed: bool


def _claims_of(token: str | None, verified: dict | None) -> dict:
    if verified:
        return verified
    if looks_like_jwt(token):
        try:
            return decode(token).claims
        except errors.MalformedTokenError:
            return {}
    return {}


def _time(value) -> str:
    return f"{value} ({format_timestamp(value)})" if isinstance(value, (int, float)) else str(value)


def token_changes(old: TokenResponse, new: TokenResponse) -> list[Change]:
    """What changed between two token responses: new ``jti``, ``iat``, ``exp``; the refresh token kept."""
    def change(what, before, after, show=str):
        return Change(what, show(before), show(after), before != after)

    rows = [change("access_token", old.access_token, new.access_token, shorten)]
    pairs = [("access token", _claims_of(old.access_token, old.access_claims),
              _claims_of(new.access_token, new.access_claims))]
    if old.id_token and new.id_token:
        rows.append(change("id_token", old.id_token, new.id_token, shorten))
        pairs.append(("ID token", _claims_of(old.id_token, old.id_claims), _claims_of(new.id_token, new.id_claims)))
    for label, before, after in pairs:
        for claim in ("jti", "iat", "exp"):
            if claim in before or claim in after:
                show = _time if claim != "jti" else str
                rows.append(change(f"{label} {claim}", before.get(claim, "-"), after.get(claim, "-"), show))
    rows.append(change("refresh_token", old.refresh_token, new.refresh_token,
                       lambda value: shorten(value) if value else "-"))
    rows.append(change("scope", old.scope or "-", new.scope or "-"))
    return rows


# --- text with its secrets shortened --------------------------------------------------

def redirect_parameters(url: str) -> dict[str, str]:
    """The query parameters of a redirect URL, read leniently (for showing what was pasted)."""
    text = (url or "").strip().strip("'\"<>").strip()
    parts = urlsplit(text)
    query = parts.query
    if not query and "=" in parts.path.rpartition("/")[2]:
        query = parts.path.rpartition("/")[2]  # the tutorial's example has no '?'
    return dict(parse_qsl(query, keep_blank_values=True))


def redact(text: str, secrets=(), hidden=()) -> str:
    """``text`` with the values of ``secrets`` shortened, those of ``hidden`` masked and any
    ``code=`` parameter shortened (:func:`fortellis_nb.oauth.redact.text`)."""
    return redact_module.text(text, secrets=secrets, hidden=hidden)
