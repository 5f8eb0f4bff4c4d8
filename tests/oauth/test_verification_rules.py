"""Each verification rule broken alone: verify raises that rule's error, and the checklist shows
that rule failing and no other.

The cases are verify's own rule lists (TOKEN_RULES for an access token, ID_TOKEN_RULES for an
ID token), so a rule added later is tested here, and fails until BREAKS says how to break it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from fortellis_nb.oauth import errors
from fortellis_nb.oauth.checks import FORMAT, verification_checklist
from fortellis_nb.oauth.verify import (ID_TOKEN_RULES, JWKS, TOKEN_RULES, at_hash, validate_at_hash, validate_aud,
                                       validate_azp, validate_claim_types, validate_exp, validate_iat, validate_iss,
                                       validate_nbf, validate_nonce, validate_required_claims, validate_signature,
                                       validate_sub, verify_access_token, verify_id_token)

from .test_jwt_verification import Key

NOW = 1_796_110_852  # 2026-12-01
ISSUER = "https://identity-dev.fortellis.io/oauth2/aus1ni5i9n9WkzcYa2p7"
API_KEY = "RRTKerBb7tgRT4K6ES2eQdYJ1z9cHFsv"
NONCE = "n-1"
KEY = Key("k-one")
IMPOSTOR = Key("k-one")  # another key pair under the published kid
ACCESS_TOKEN = KEY.sign({"iss": ISSUER, "aud": "api_providers", "iat": NOW, "exp": NOW + 3600, "sub": "00u1"})
ABSENT = object()


def good_claims(kind: str) -> dict:
    claims = {"iss": ISSUER, "aud": "api_providers", "iat": NOW, "exp": NOW + 3600, "sub": "learner@example.com",
              "jti": "AT.x"}
    if kind == "ID token":
        claims.update(aud=API_KEY, sub="00u1", jti="ID.x", nonce=NONCE, at_hash=at_hash(ACCESS_TOKEN))
    return claims


def good_token(kind: str) -> str:
    return KEY.sign(good_claims(kind))


@dataclass(frozen=True)
class Break:
    """How to break one rule alone: what to change in good claims (ABSENT removes a claim),
    which key signs, and the error verification must raise."""

    error: type[errors.TokenVerificationError]
    changes: dict = field(default_factory=dict)
    signer: Key = KEY

    def token(self, kind: str) -> str:
        claims = {**good_claims(kind), **self.changes}
        return self.signer.sign({name: value for name, value in claims.items() if value is not ABSENT})


BREAKS = {
    validate_signature: Break(errors.InvalidSignatureError, signer=IMPOSTOR),
    validate_claim_types: Break(errors.InvalidClaimError, {"jti": 123}),
    validate_required_claims: Break(errors.MissingClaimError, {"iat": ABSENT}),
    validate_iss: Break(errors.InvalidIssuerError, {"iss": "https://identity.fortellis.io/oauth2/default"}),
    validate_aud: Break(errors.InvalidAudienceError, {"aud": "someone-else"}),
    validate_exp: Break(errors.TokenExpiredError, {"iat": NOW - 7200, "exp": NOW - 3600}),
    validate_nbf: Break(errors.TokenNotYetValidError, {"nbf": NOW + 3600}),
    validate_iat: Break(errors.TokenNotYetValidError, {"iat": NOW + 3600}),
    validate_sub: Break(errors.MissingClaimError, {"sub": ""}),
    validate_azp: Break(errors.InvalidAudienceError, {"azp": "another-app"}),
    validate_nonce: Break(errors.NonceMismatchError, {"nonce": "someone-elses"}),
    validate_at_hash: Break(errors.AtHashMismatchError, {"at_hash": at_hash("another access token")}),
}
RULES = {"access token": TOKEN_RULES, "ID token": ID_TOKEN_RULES}
CASES = [(kind, rule) for kind, rules in RULES.items() for rule in rules]


def verify(kind: str, token: str):
    jwks = JWKS(keys={"keys": [KEY.jwk]})
    if kind == "ID token":
        return verify_id_token(token, jwks=jwks, issuer=ISSUER, client_id=API_KEY, nonce=NONCE,
                               access_token=ACCESS_TOKEN, now=NOW)
    return verify_access_token(token, jwks=jwks, issuer=ISSUER, now=NOW)


def checklist(kind: str, token: str):
    jwks = JWKS(keys={"keys": [KEY.jwk]})
    if kind == "ID token":
        return verification_checklist(token, kind="id", jwks=jwks, issuer=ISSUER, client_id=API_KEY, nonce=NONCE,
                                      access_token=ACCESS_TOKEN, now=NOW)
    return verification_checklist(token, kind="access", jwks=jwks, issuer=ISSUER, now=NOW)


def test_every_rule_has_a_way_to_break_it_alone():
    assert set(BREAKS) == set(ID_TOKEN_RULES)
    assert ID_TOKEN_RULES[:len(TOKEN_RULES)] == TOKEN_RULES  # the checklist's rows follow this order


@pytest.mark.parametrize("kind", RULES)
def test_the_good_token_passes_every_rule(kind):
    token = good_token(kind)
    assert verify(kind, token).verified
    results = checklist(kind, token)
    assert len(results) == len(RULES[kind])
    assert [r.name for r in results if r.passed is not True] == (["nbf", "azp"] if kind == "ID token" else ["nbf"])


@pytest.mark.parametrize("kind, rule", CASES, ids=[f"{kind}-{rule.__name__}" for kind, rule in CASES])
def test_a_token_breaking_one_rule_fails_that_rule_alone(kind, rule):
    breaking = BREAKS[rule]
    token = breaking.token(kind)
    with pytest.raises(errors.TokenVerificationError) as caught:
        verify(kind, token)
    refusal = caught.value
    assert type(refusal) is breaking.error
    assert kind in refusal.description and refusal.hint

    results = checklist(kind, token)
    failed = [result for result in results if result.passed is False]
    assert failed == [results[RULES[kind].index(rule)]], [(r.name, r.detail) for r in failed]
    shown = failed[0]
    assert shown.mark == "fail" and shown.detail == refusal.description
    assert type(shown.error) is type(refusal)
    assert (shown.error.error, shown.error.hint) == (refusal.error, refusal.hint)


@pytest.mark.parametrize("kind", RULES)
def test_a_token_that_cannot_be_read_has_one_row(kind):
    with pytest.raises(errors.MalformedTokenError) as caught:
        verify(kind, "a.b")
    [row] = checklist(kind, "a.b")
    assert (row.name, row.mark, row.detail) == (FORMAT, "fail", caught.value.description)
    assert kind in row.detail and row.error.error == "malformed_token"
