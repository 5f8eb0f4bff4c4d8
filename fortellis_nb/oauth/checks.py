"""What to show beside each step: the rules a token passed or failed, the life left in a
code, what a refresh changed, and text with its secrets shortened.

:mod:`~fortellis_nb.oauth.verify` stops at the first rule a token fails, which is right for
an app. A learner wants to see every rule at once, so :func:`verification_checklist` applies
each of the same rules (``verify.TOKEN_RULES``, ``verify.ID_TOKEN_RULES``) and reports each
as passed, failed, or not applicable, with the explanation the rule gives.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from . import errors
from . import redact as redact_module
from .hints import CODE_LIFETIME
from .redact import shorten
from .tokens import TokenResponse
from .verify import (
    ACCESS_TOKEN_AUDIENCE,
    DEFAULT_LEEWAY,
    ID_TOKEN_RULES,
    JWKS,
    TOKEN_RULES,
    RuleResult,
    access_token_expected,
    decode,
    format_timestamp,
    humanize_duration,
    id_token_expected,
    looks_like_jwt,
    read_token,
)

# --- the verification checklist ------------------------------------------------------

#: The checklist's only row for a token that cannot be read at all: no rule can be applied.
FORMAT = "format"


def verification_checklist(token: str, *, kind: str = "access", jwks: JWKS, issuer: str,
                           audience: str = ACCESS_TOKEN_AUDIENCE, client_id: str | None = None,
                           nonce: str | None = None, access_token: str | None = None, now: float | None = None,
                           leeway: float = DEFAULT_LEEWAY, fortellis_issuer: bool = False) -> list[RuleResult]:
    """Every rule of an access token (``kind="access"``) or ID token (``kind="id"``), each on its own.

    The ID token's audience is ``client_id`` (the API Key), or "fortellis" for an ID token of
    Fortellis' 2020-2022 shape from a Fortellis issuer (``fortellis_issuer``, as
    :func:`~fortellis_nb.oauth.verify.verify_id_token`); ``nonce`` is the one sent in the
    authorize URL and ``access_token`` the one issued alongside (for ``at_hash``).
    """
    try:
        decoded = read_token(token, "ID token" if kind == "id" else "access token")
    except errors.MalformedTokenError as exc:
        return [RuleResult.failed(FORMAT, exc)]
    if kind == "id":
        rules = ID_TOKEN_RULES
        expected = id_token_expected(decoded, jwks=jwks, issuer=issuer, client_id=client_id, nonce=nonce,
                                     access_token=access_token, now=now, leeway=leeway,
                                     fortellis_issuer=fortellis_issuer)
    else:
        rules = TOKEN_RULES
        expected = access_token_expected(jwks=jwks, issuer=issuer, audience=audience, now=now, leeway=leeway)
    return [rule(decoded, expected) for rule in rules]


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
                  + CODE_EXPIRED_WHY.format(lifetime=round(lifetime)))


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


def _change(what: str, before, after, show=str) -> Change:
    return Change(what, show(before), show(after), before != after)


def _claim_changes(label: str, before: dict, after: dict) -> list[Change]:
    """A token's ``jti``, ``iat`` and ``exp`` before and after, where either token has them."""
    return [_change(f"{label} {claim}", before.get(claim, "-"), after.get(claim, "-"), str if claim == "jti" else _time)
            for claim in ("jti", "iat", "exp") if claim in before or claim in after]


def token_changes(old: TokenResponse, new: TokenResponse) -> list[Change]:
    """What changed between two token responses: new ``jti``, ``iat``, ``exp``; the refresh token kept."""
    rows = [_change("access_token", old.access_token, new.access_token, shorten)]
    claims = _claim_changes("access token", _claims_of(old.access_token, old.access_claims),
                            _claims_of(new.access_token, new.access_claims))
    if old.id_token and new.id_token:
        rows.append(_change("id_token", old.id_token, new.id_token, shorten))
        claims += _claim_changes("ID token", _claims_of(old.id_token, old.id_claims),
                                 _claims_of(new.id_token, new.id_claims))
    rows += claims
    rows.append(_change("refresh_token", old.refresh_token, new.refresh_token,
                        lambda value: shorten(value) if value else "-"))
    rows.append(_change("scope", old.scope or "-", new.scope or "-"))
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
