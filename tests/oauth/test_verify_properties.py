"""Property tests of verify_token / verify_id_token against a reference verifier written here.

Claim sets are generated (good ones, nasty ones, times around the leeway boundary), signed
with RS256 by a key of the JWKS (or by a stranger under a published kid), and handed both to
the package and to ``reference_verify`` below. The reference re-derives the rules from the
specs, without any helper of the package (only its error classes, to name the expected one):

1. RS256, by a key of the JWKS with the token's kid (RFC 7515, RFC 8725 3.1);
2. claim types (RFC 7519 4.1, OpenID Connect Core 2): ``exp``, ``iat``, ``nbf``, ``auth_time``
   numbers (int or float, not bool, finite); ``iss``, ``sub``, ``nonce``, ``azp``, ``at_hash``,
   ``jti`` strings; ``aud`` a string or a non-empty list of strings -> InvalidClaimError;
3. ``iss``, ``aud``, ``exp``, ``iat`` present -> MissingClaimError;
4. ``iss`` is the expected issuer, compared as strings (OIDC Core 3.1.3.7 step 2) -> InvalidIssuerError;
5. ``aud`` is or contains the expected audience -> InvalidAudienceError;
6. expired when ``exp <= now - leeway``; not yet valid when ``nbf`` or ``iat`` ``> now + leeway``;
7. ID tokens: ``sub`` non-empty, several audiences need ``azp`` = client_id, ``azp`` = client_id
   when present, the nonce that was sent, ``at_hash`` of the access token when both are given.

For every case: the same outcome (accepted with the same claims, or the same error class);
every refusal a FortellisError; its description names the token kind and the claim concerned.

The tests at the end pin down cases that once escaped as crashes or misleading messages
(non-string ``sub``, integers beyond the float range, unpaired surrogates, deep nesting,
thousands of digits, key lookups that did not name the token).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from dataclasses import dataclass, field

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from fortellis_nb.oauth import errors
from fortellis_nb.oauth.verify import JWKS, verify_access_token, verify_id_token, verify_token

from .test_jwt_verification import Key

PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NOW = 1_796_110_852  # 2026-12-01, the injected clock of most cases
ISSUER = "https://identity-dev.fortellis.io/oauth2/aus1ni5i9n9WkzcYa2p7"
IDN_ISSUER = "https://bücher.example/oauth2/default"
API_KEY = "RRTKerBb7tgRT4K6ES2eQdYJ1z9cHFsv"
ACCESS_AUDIENCE = "api_providers"
ACCESS_TOKEN = "eyJraWQiOiJrLW9uZSIsImFsZyI6IlJTMjU2In0.eyJzdWIiOiIwMHUxIn0.c2lnbmF0dXJl"
REFERENCE_LEEWAY = 30  # the documented default

# The JWKS: two keys with their own kid, two more sharing one kid (RFC 7517 asks servers not to,
# some do), and a stranger who signs under a published kid.
KEYS = {"k-one": Key("k-one"), "k-two": Key("k-two"), "shared-1": Key("shared"), "shared-2": Key("shared")}
STRANGER = Key("stranger")
JWKS_DOCUMENT = {"keys": [key.jwk for key in KEYS.values()]}
PUBLISHED_KIDS = sorted({key.kid for key in KEYS.values()})
#: The reference's own view of the key set: (kid, public key), straight from the key pairs.
REFERENCE_KEYS = [(key.kid, key.private.public_key()) for key in KEYS.values()]


# --- building tokens: our own bytes ------------------------------------------------

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def json_bytes(value) -> bytes:
    """Strictly ASCII JSON: an unpaired surrogate is written as the escape ``\\ud800``
    (valid JSON text, RFC 8259 section 8.2); NaN and Infinity as Python writes them."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True, separators=(",", ":")).encode("ascii")


def sign_raw(private, header: dict, payload: bytes) -> str:
    signing_input = f"{b64url(json_bytes(header))}.{b64url(payload)}"
    signature = private.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def sign(key: Key, claims: dict, *, kid="", **header) -> str:
    head = {"alg": "RS256", **header}
    if kid is not None:
        head["kid"] = kid or key.kid
    return sign_raw(key.private, head, json_bytes(claims))


# --- the reference verifier ----------------------------------------------------------

DATE_CLAIMS = ("exp", "iat", "nbf", "auth_time")
STRING_CLAIMS = ("iss", "sub", "nonce", "azp", "at_hash", "jti")
CHECKED_CLAIMS = frozenset(DATE_CLAIMS + STRING_CLAIMS + ("aud",))


def reference_b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def reference_number(value) -> bool:
    """RFC 7519 NumericDate: a JSON number. bool is not one; NaN and infinities are not numbers
    in JSON at all (RFC 8259 section 6) even though Python's json reads them."""
    if type(value) is int:
        # The package's own limit, beyond the specs: an integer too large for a float (over
        # 308 digits) is not computed with as a date; it is refused as a claim of the wrong type.
        return abs(value) < 10**308
    return type(value) is float and not math.isnan(value) and not math.isinf(value)


def reference_audience_shape(aud) -> bool:
    return type(aud) is str or (type(aud) is list and len(aud) > 0 and all(type(a) is str for a in aud))


def reference_at_hash(access_token: str) -> str:
    """OIDC Core 3.1.3.6 / 3.2.2.9: base64url of the left-most half of SHA-256 of the ASCII octets."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest()[:16])


@dataclass
class Verdict:
    error: type | None = None            # the expected error class, None when accepted
    concerned: frozenset = frozenset()   # the claims the message may name (one of them)
    claims: dict | None = None           # the decoded payload, once the signature checked
    entered: list = field(default_factory=list)  # the steps the reference reached


def reference_verify(token: str, case: Case) -> Verdict:
    verdict = Verdict()

    def step(name):
        verdict.entered.append(name)

    def refuse(cls, *concerned):
        verdict.error, verdict.concerned = cls, frozenset(concerned)
        return verdict

    header_part, payload_part, signature_part = token.split(".")
    header = json.loads(reference_b64(header_part))
    step("alg")
    if header.get("alg") != "RS256":
        return refuse(errors.AlgorithmNotAllowedError)
    step("key")
    candidates = [public for kid, public in REFERENCE_KEYS if kid == header.get("kid")]
    if not candidates:
        return refuse(errors.UnknownKeyError)
    step("signature")
    signing_input = f"{header_part}.{payload_part}".encode("ascii")
    signature = reference_b64(signature_part)

    def verifies(public):
        try:
            public.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
            return True
        except InvalidSignature:
            return False

    if not any(verifies(public) for public in candidates):
        return refuse(errors.InvalidSignatureError)
    claims = verdict.claims = json.loads(reference_b64(payload_part))

    step("types")
    wrong = {name for name in DATE_CLAIMS if name in claims and not reference_number(claims[name])}
    wrong |= {name for name in STRING_CLAIMS if name in claims and type(claims[name]) is not str}
    if "aud" in claims and not reference_audience_shape(claims["aud"]):
        wrong.add("aud")
    if wrong:
        return refuse(errors.InvalidClaimError, *wrong)
    step("required")
    missing = [name for name in ("iss", "aud", "exp", "iat") if name not in claims]
    if missing:
        return refuse(errors.MissingClaimError, *missing)
    step("iss")
    if claims["iss"] != case.issuer:  # simple string comparison, no normalisation
        return refuse(errors.InvalidIssuerError, "iss")
    step("aud")
    aud = claims["aud"]
    if not (aud == case.audience if type(aud) is str else case.audience in aud):
        return refuse(errors.InvalidAudienceError, "aud")
    step("times")
    leeway = REFERENCE_LEEWAY if case.leeway is None else case.leeway
    if claims["exp"] <= case.now - leeway:
        return refuse(errors.TokenExpiredError, "exp")
    early = [name for name in ("nbf", "iat") if name in claims and claims[name] > case.now + leeway]
    if early:
        return refuse(errors.TokenNotYetValidError, *early)
    if case.kind == "access token":
        return verdict

    step("sub")
    if not claims.get("sub"):
        return refuse(errors.MissingClaimError, "sub")
    step("azp")
    if type(aud) is list and len(aud) > 1 and claims.get("azp") != case.audience:
        return refuse(errors.InvalidAudienceError, "aud", "azp")
    if "azp" in claims and claims["azp"] != case.audience:
        return refuse(errors.InvalidAudienceError, "azp")
    step("nonce")
    if case.nonce is not None and claims.get("nonce") != case.nonce:
        return refuse(errors.NonceMismatchError, "nonce")
    step("at_hash")
    if case.access_token is not None and "at_hash" in claims \
            and claims["at_hash"] != reference_at_hash(case.access_token):
        return refuse(errors.AtHashMismatchError, "at_hash")
    return verdict


# --- cases ---------------------------------------------------------------------------

@dataclass
class Case:
    kind: str                  # "access token" or "ID token"
    claims: dict
    signer: str                # a name of KEYS, or "stranger"
    kid: str
    issuer: str
    audience: str              # the expected aud; the client_id for an ID token
    now: float
    leeway: float | None       # None: the default
    nonce: str | None = None
    access_token: str | None = None
    typ: bool = False
    helper: bool = False       # access tokens: through verify_access_token instead of verify_token

    def token(self) -> str:
        private = STRANGER.private if self.signer == "stranger" else KEYS[self.signer].private
        header = {"alg": "RS256", "kid": self.kid, **({"typ": "JWT"} if self.typ else {})}
        return sign_raw(private, header, json_bytes(self.claims))


ABSENT = object()
LONG = "x" * 20_000


def deep_list(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


def deep_object(depth):
    value = {}
    for _ in range(depth):
        value = {"a": value}
    return value


ODD_CHARS = st.one_of(st.characters(categories=["Cs"]), st.characters(categories=["Cc"]),
                      st.sampled_from(["\u2028", "\u200b", "\ufeff", "\u202e", "é", "😀", "\U0010ffff", "＠", '"',
                                       "\\"]))
NASTY_TEXT = st.one_of(
    st.builds(lambda a, b, c: a + b + c, st.text(max_size=5), st.text(ODD_CHARS, min_size=1, max_size=3),
              st.text(max_size=5)),
    st.sampled_from(["\ud800", "\udfff", "a\udc00b", "\ud83d", "\x00", "\n", "\u202e", "\ufeff", LONG, "", " ",
                     "1796110852", "null", "`exp`"]),
)
DEEP = st.one_of(st.integers(2, 300).map(deep_list), st.integers(2, 300).map(deep_object))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=8)
NOT_A_NUMBER = st.one_of(
    st.sampled_from(["1796110852", "", "NaN", "1e3", True, False, None, [], {}, [NOW], {"$date": NOW},
                     float("nan"), float("inf"), float("-inf")]),
    DEEP, NASTY_TEXT, JSON_VALUES.filter(lambda v: not reference_number(v)))
NOT_A_STRING = st.one_of(
    st.sampled_from([0, 5, -1, 1.5, 10**30, True, False, None, [], ["x"], {}, {"a": "b"},
                     float("nan"), float("-inf")]),
    DEEP, JSON_VALUES.filter(lambda v: type(v) is not str))
# Numbers of the right type, far from now: huge ints, big floats, negatives, zero.
# (Ints beyond the float range crash the package: test_an_integer_date_beyond_the_float_range.)
EXTREME_NUMBERS = st.sampled_from([10**30, -10**30, 10**300, 10**400, -10**400, 1e300, -1e300, -1, 0, -0.0, 2**63, 2**53 + 1, 5e-324,
                                   1.7976931348623157e308])
ISSUER_LOOKALIKES = st.sampled_from([
    ISSUER + "/", ISSUER.upper(), ISSUER.replace("https", "http"), ISSUER + "\x00", ISSUER + "\ud800",
    ISSUER + "/" + "a" * 5000, " " + ISSUER, "https://identity.fortellis.io/oauth2/default", "",
    IDN_ISSUER, "https://xn--bcher-kva.example/oauth2/default", "https://bu\u0308cher.example/oauth2/default",
    "https://BÜCHER.example/oauth2/default", "https://bücher.example/oauth2/default/",
    "https://ｂücher.example/oauth2/default",
])
EXTRA_NAMES = st.one_of(st.sampled_from(["ver", "cid", "uid", "scp", "amr", "idp", "x-\ud800", "\x00", "deep", ""]),
                        st.text(max_size=4)).filter(lambda name: name not in CHECKED_CLAIMS)


def choose_one(draw, *options, clean=False):
    """One of ``(weight, strategy or ABSENT)``; shrinks towards the first option, the good one,
    which a ``clean`` case (one meant to reach the later rules) picks far more often."""
    weights = [weight * (12 if clean and i == 0 else 1) for i, (weight, _) in enumerate(options)]
    index = draw(st.sampled_from([i for i, weight in enumerate(weights) for _ in range(weight)]))
    strategy = options[index][1]
    return ABSENT if strategy is ABSENT else draw(strategy)


def around(boundary, safe):
    """Times at the leeway boundary (exactly, +-1, +-0.5), farther away, and (most often) at
    ``boundary + safe``, well on the valid side."""
    return st.sampled_from([safe] * 5 + [0, 0, -1, 1, -0.5, 0.5, -3600, 3600, -86400 * 365, 86400 * 365]).map(
        lambda d: boundary + d)


@st.composite
def cases(draw, kind, clean=None):
    """A case; ``clean=True`` keeps the common claims good (most of the time), so that the
    ID-token rules (sub, azp, nonce, at_hash) are reached."""
    now = draw(st.sampled_from([NOW, NOW + 0.25, 1_568_904_679, 0]))
    leeway = draw(st.sampled_from([None, None, 30, 0, 1, 0.5, 300]))
    skew = REFERENCE_LEEWAY if leeway is None else leeway
    issuer = draw(st.sampled_from([ISSUER, ISSUER, IDN_ISSUER]))
    if kind == "access token":
        audience = draw(st.sampled_from([ACCESS_AUDIENCE, ACCESS_AUDIENCE, API_KEY, "ünïcode-audience"]))
    else:
        audience = API_KEY
    nonce = draw(st.sampled_from([None, "n-1"])) if kind == "ID token" else None
    access_token = draw(st.sampled_from([None, ACCESS_TOKEN])) if kind == "ID token" else None
    id_token = kind == "ID token"
    clean = draw(st.booleans()) if clean is None else clean

    def choose(*options, boost=True):
        return choose_one(draw, *options, clean=clean and boost)

    claims = {name: draw(JSON_VALUES) for name in draw(st.lists(EXTRA_NAMES, max_size=3, unique=True))}
    good_auds = st.sampled_from([audience, [audience], [audience, "other"], ["other", audience]])
    values = {
        "iss": choose((10, st.just(issuer)), (1, ABSENT), (2, ISSUER_LOOKALIKES), (1, NASTY_TEXT),
                      (1, NOT_A_STRING)),
        "aud": choose((10, good_auds), (1, ABSENT),
                      (2, st.sampled_from(["other", ["other"], audience.upper(), audience + " ",
                                           [audience + "\ud800"]])),
                      (1, st.sampled_from([[], [audience, 5], [[audience]], [None], {"aud": audience}])),
                      (1, NOT_A_STRING), (1, NASTY_TEXT)),
        "exp": choose((10, around(now - skew, 3600)), (1, ABSENT), (1, EXTREME_NUMBERS), (2, NOT_A_NUMBER)),
        "iat": choose((10, around(now + skew, -3600)), (1, ABSENT), (1, EXTREME_NUMBERS), (2, NOT_A_NUMBER)),
        "nbf": choose((5, ABSENT), (5, around(now + skew, -3600)), (1, EXTREME_NUMBERS), (1, NOT_A_NUMBER)),
        "auth_time": choose((6, ABSENT), (2, around(now, -600)), (1, EXTREME_NUMBERS), (1, NOT_A_NUMBER)),
        "sub": (choose((8, st.just("00u1")), (1, ABSENT), (1, st.just("")), (2, NASTY_TEXT), (1, NOT_A_STRING))
                if id_token else
                choose((6, st.just("learner@example.com")), (2, ABSENT), (2, NASTY_TEXT), (1, NOT_A_STRING))),
        "jti": choose((4, st.just("ID.x" if id_token else "AT.x")), (4, ABSENT), (1, NASTY_TEXT),
                      (1, NOT_A_STRING)),
        "azp": (choose((5, ABSENT), (3, st.just(API_KEY)), (2, st.sampled_from(["other", API_KEY.lower()])),
                       (1, NASTY_TEXT), (1, NOT_A_STRING), boost=False)
                if id_token else choose((8, ABSENT), (1, NASTY_TEXT), (1, NOT_A_STRING))),
        "nonce": (choose((6, st.just("n-1")), (2, ABSENT), (1, st.sampled_from(["n-2", "N-1", "n-1 "])),
                         (2, NASTY_TEXT), (1, NOT_A_STRING), boost=False)
                  if id_token else choose((8, ABSENT), (1, NASTY_TEXT))),
        "at_hash": (choose((4, st.just(reference_at_hash(ACCESS_TOKEN))), (3, ABSENT),
                           (1, st.just(reference_at_hash(ACCESS_TOKEN + "x"))), (1, NASTY_TEXT), (1, NOT_A_STRING),
                           boost=False)
                    if id_token else choose((8, ABSENT), (1, NASTY_TEXT))),
    }
    claims.update({name: value for name, value in values.items() if value is not ABSENT})
    signer = draw(st.sampled_from(["k-one"] * 5 + ["k-two", "shared-1", "shared-2", "stranger"]))
    kid = draw(st.sampled_from(PUBLISHED_KIDS)) if signer == "stranger" else KEYS[signer].kid
    return Case(kind=kind, claims=claims, signer=signer, kid=kid, issuer=issuer, audience=audience, now=now,
                leeway=leeway, nonce=nonce, access_token=access_token, typ=draw(st.booleans()),
                helper=kind == "access token" and draw(st.booleans()))


# --- comparing -----------------------------------------------------------------------

def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=True, allow_nan=True)


def call_package(token: str, case: Case):
    jwks = JWKS(keys=JWKS_DOCUMENT)
    options = {"now": case.now, **({} if case.leeway is None else {"leeway": case.leeway})}
    if case.kind == "ID token":
        return verify_id_token(token, jwks=jwks, issuer=case.issuer, client_id=case.audience, nonce=case.nonce,
                               access_token=case.access_token, **options)
    if case.helper:
        return verify_access_token(token, jwks=jwks, issuer=case.issuer, audience=case.audience, **options)
    return verify_token(token, jwks=jwks, issuer=case.issuer, audience=case.audience, kind="access token",
                        **options)


def first_claim_named(description: str) -> str | None:
    """The claim a message is about: the first backquoted name (the messages begin with it)."""
    match = re.search(r"`([A-Za-z_]+)`", description)
    return match.group(1) if match else None


def note(text: str) -> None:
    if currently_in_test_context():
        event(text)  # --hypothesis-show-statistics shows how the cases spread over the rules


def check_against_reference(case: Case) -> None:
    token = case.token()
    verdict = reference_verify(token, case)
    note("accepted" if verdict.error is None else verdict.error.__name__)
    try:
        outcome = call_package(token, case)
    except errors.FortellisError as exc:
        outcome = exc
    except Exception as exc:  # noqa: BLE001 - the point: nothing but a FortellisError may escape
        pytest.fail(f"{type(exc).__name__} escaped instead of a FortellisError: {exc!r}; reference: "
                    f"{verdict.error.__name__ if verdict.error else 'accepted'}")

    if verdict.error is None:
        assert not isinstance(outcome, Exception), (
            f"refused with {type(outcome).__name__}: {outcome.description}; the reference accepts it")
        assert outcome.verified is True
        assert canonical(outcome.claims) == canonical(verdict.claims)
        assert outcome.header["kid"] == case.kid and outcome.header["alg"] == "RS256"
        return
    assert isinstance(outcome, Exception), f"accepted; the reference refuses with {verdict.error.__name__}"
    assert type(outcome) is verdict.error, (
        f"{type(outcome).__name__} ({outcome.description}); the reference says {verdict.error.__name__} "
        f"about {sorted(verdict.concerned)}")
    assert isinstance(outcome, errors.TokenVerificationError)
    assert outcome.__cause__ is None
    description = outcome.description
    assert case.kind in description, description
    if verdict.concerned:
        assert first_claim_named(description) in verdict.concerned, (description, sorted(verdict.concerned))


# --- the properties --------------------------------------------------------------------

@PROPERTY
@given(cases("access token"))
def test_access_tokens_get_the_reference_verdict(case):
    check_against_reference(case)


@PROPERTY
@given(cases("ID token"))
def test_id_tokens_get_the_reference_verdict(case):
    check_against_reference(case)


@settings(PROPERTY, max_examples=250)
@given(cases("ID token", clean=True))
def test_id_tokens_reaching_the_id_token_rules_get_the_reference_verdict(case):
    check_against_reference(case)


def test_the_payload_bytes_carry_surrogates_escaped():
    payload = json_bytes({"nonce": "\ud800", "iss": "https://bücher.example"})
    assert b'"\\ud800"' in payload and b"b\\u00fccher" in payload
    token = sign(KEYS["k-one"], {"nonce": "\ud800"})
    assert b'"\\ud800"' in reference_b64(token.split(".")[1])


def test_the_reference_accepts_a_good_token_and_so_does_the_package():
    case = Case(kind="ID token", claims={"iss": ISSUER, "aud": [API_KEY, "other"], "azp": API_KEY, "sub": "00u1",
                                         "exp": NOW - 29, "iat": NOW + 30, "nbf": NOW + 30, "nonce": "n-1",
                                         "at_hash": reference_at_hash(ACCESS_TOKEN)},
                signer="shared-2", kid="shared", issuer=ISSUER, audience=API_KEY, now=NOW, leeway=None,
                nonce="n-1", access_token=ACCESS_TOKEN)
    assert reference_verify(case.token(), case).error is None
    check_against_reference(case)


@pytest.mark.parametrize("exp, expired", [(NOW - 31, True), (NOW - 30, True), (NOW - 29, False),
                                          (NOW - 30.5, True), (NOW - 29.5, False)])
def test_the_exp_boundary_with_the_default_leeway(exp, expired):
    case = Case(kind="access token", claims={"iss": ISSUER, "aud": ACCESS_AUDIENCE, "exp": exp, "iat": NOW},
                signer="k-one", kid="k-one", issuer=ISSUER, audience=ACCESS_AUDIENCE, now=NOW, leeway=None)
    assert (reference_verify(case.token(), case).error is errors.TokenExpiredError) is expired
    check_against_reference(case)


# --- message quality: targeted examples ------------------------------------------------

def good_claims(**overrides):
    claims = {"iss": ISSUER, "aud": ACCESS_AUDIENCE, "iat": NOW, "exp": NOW + 3600, "sub": "learner@example.com",
              "jti": "AT.x", **overrides}
    return {name: value for name, value in claims.items() if value is not ABSENT}


def verify_access(token, jwks=None, **options):
    return verify_token(token, jwks=jwks or JWKS(keys=JWKS_DOCUMENT), issuer=ISSUER, audience=ACCESS_AUDIENCE,
                        now=NOW, kind="access token", **options)


def verify_id(token, **options):
    return verify_id_token(token, jwks=JWKS(keys=JWKS_DOCUMENT), issuer=ISSUER, client_id=API_KEY, now=NOW,
                           **options)


def id_claims(**overrides):
    return good_claims(**{"aud": API_KEY, "sub": "00u1", "jti": "ID.x", **overrides})


@pytest.mark.parametrize("kind", ["access token", "ID token"])
def test_a_future_nbf_is_reported_as_nbf_not_iat(kind):
    claims = (good_claims if kind == "access token" else id_claims)(nbf=NOW + 3600)
    token = sign(KEYS["k-one"], claims)
    with pytest.raises(errors.TokenNotYetValidError) as caught:
        verify_access(token) if kind == "access token" else verify_id(token)
    description = caught.value.description
    assert kind in description and "`nbf`" in description and "`iat`" not in description
    assert "in 1 hour" in description


def test_a_future_iat_is_reported_as_iat():
    with pytest.raises(errors.TokenNotYetValidError) as caught:
        verify_access(sign(KEYS["k-one"], good_claims(iat=NOW + 120, nbf=NOW)))
    assert "`iat`" in caught.value.description and "`nbf`" not in caught.value.description


def test_a_key_published_for_encryption_under_the_tokens_kid_is_refused_as_such():
    key = Key("k-enc")
    jwks = JWKS(keys={"keys": [{**key.jwk, "use": "enc"}, KEYS["k-one"].jwk]})
    with pytest.raises(errors.UnknownKeyError) as caught:
        verify_access(sign(key, good_claims()), jwks=jwks)
    description = caught.value.description
    assert "'k-enc'" in description and "encryption" in description and "`use: enc`" in description
    assert "No key with kid" not in description


def test_two_keys_sharing_a_kid_the_second_one_verifies():
    jwks = JWKS(keys={"keys": [KEYS["shared-1"].jwk, KEYS["shared-2"].jwk]})
    decoded = verify_access(sign(KEYS["shared-2"], good_claims()), jwks=jwks)
    assert decoded.verified and decoded.header["kid"] == "shared"
    assert verify_access(sign(KEYS["shared-1"], good_claims()), jwks=jwks).verified


def test_a_token_signed_by_neither_of_two_keys_sharing_its_kid_says_so():
    jwks = JWKS(keys={"keys": [KEYS["shared-1"].jwk, KEYS["shared-2"].jwk]})
    with pytest.raises(errors.InvalidSignatureError) as caught:
        verify_access(sign(STRANGER, good_claims(), kid="shared"), jwks=jwks)
    description = caught.value.description
    assert "access token" in description and "does not verify" in description
    assert "any of the 2 keys" in description and "'shared'" in description


def test_a_single_key_under_the_kid_gives_the_plain_signature_message():
    with pytest.raises(errors.InvalidSignatureError) as caught:
        verify_access(sign(STRANGER, good_claims(), kid="k-one"))
    assert caught.value.description == "The access token's signature does not verify."


@pytest.mark.parametrize("listing, expected", [
    ([("a", True), (None, False), (None, "null")], "'a' and 2 keys without a kid"),
    ([("a", True), (None, False)], "'a' and 1 key without a kid"),
    ([(None, False), (None, False)], "2 keys without a kid"),
    ([("a", True), ("b", True)], "'a' and 'b'"),
])
def test_kid_less_keys_are_listed_as_keys_without_a_kid(listing, expected):
    keys = []
    for kid, how in listing:
        jwk = dict(STRANGER.jwk)  # a valid RSA public key; its kid replaced below
        jwk.pop("kid")
        if how is True:
            jwk["kid"] = kid
        elif how == "null":
            jwk["kid"] = None
        keys.append(jwk)
    jwks = JWKS(keys={"keys": keys})
    with pytest.raises(errors.UnknownKeyError) as caught:
        verify_access(sign(KEYS["k-one"], good_claims(), kid="zzz"), jwks=jwks)
    description = caught.value.description
    assert f"(it has {expected})" in description, description
    assert "None" not in description and "'zzz'" in description


# --- cases that once escaped as crashes or misleading messages ----------------------------

@pytest.mark.parametrize("kind", ["access token", "ID token"])
@pytest.mark.parametrize("name, value", [("sub", 5), ("sub", None), ("sub", ["00u1"]), ("jti", 123),
                                         ("jti", {"id": "x"})])
def test_a_sub_or_jti_of_the_wrong_type_is_an_invalid_claim(kind, name, value):
    claims = (good_claims if kind == "access token" else id_claims)(**{name: value})
    token = sign(KEYS["k-one"], claims)
    with pytest.raises(errors.InvalidClaimError) as caught:
        verify_access(token) if kind == "access token" else verify_id(token)
    assert kind in caught.value.description and f"`{name}`" in caught.value.description


@pytest.mark.parametrize("name", ["exp", "iat", "nbf", "auth_time"])
@pytest.mark.parametrize("value", [10**400, -(10**400)], ids=["10**400", "-10**400"])
def test_an_integer_date_beyond_the_float_range_is_no_overflow_error(name, value):
    token = sign(KEYS["k-one"], good_claims(**{name: value}))
    try:
        verify_access(token)
    except (errors.InvalidClaimError, errors.TokenExpiredError, errors.TokenNotYetValidError) as exc:
        assert f"`{name}`" in exc.description and "access token" in exc.description


@pytest.mark.parametrize("nonce", ["\ud800", "n-1\udc00", "\udfff\ud800"])
def test_an_unpaired_surrogate_in_the_nonce_is_a_nonce_mismatch(nonce):
    with pytest.raises(errors.NonceMismatchError) as caught:
        verify_id(sign(KEYS["k-one"], id_claims(nonce=nonce)), nonce="n-1")
    assert "ID token" in caught.value.description and "`nonce`" in caught.value.description


def test_an_unpaired_surrogate_in_at_hash_is_an_at_hash_mismatch():
    with pytest.raises(errors.AtHashMismatchError) as caught:
        verify_id(sign(KEYS["k-one"], id_claims(at_hash="\ud800")), access_token=ACCESS_TOKEN)
    assert "`at_hash`" in caught.value.description


def test_a_non_ascii_access_token_against_at_hash_is_a_fortellis_error():
    with pytest.raises(errors.AtHashMismatchError):
        verify_id(sign(KEYS["k-one"], id_claims(at_hash=reference_at_hash(ACCESS_TOKEN))), access_token="tök")


@pytest.mark.parametrize("where", ["extra claim", "exp"])
@pytest.mark.parametrize("nesting", ["list", "object"])
def test_a_payload_nested_thousands_deep_is_malformed_not_a_recursion_error(where, nesting):
    """Python's json reads 5,000 levels on 3.13 and hits its recursion limit before 3.12: the
    token is then unreadable (MalformedTokenError). Either way no RecursionError escapes, and a
    date that is a nested structure is refused by name."""
    depth = 5000
    deep = "[" * depth + "]" * depth if nesting == "list" else '{"a":' * depth + "1" + "}" * depth
    base = json_bytes(good_claims(exp=ABSENT) if where == "exp" else good_claims())[:-1].decode()
    payload = f'{base},"{"exp" if where == "exp" else "x"}":{deep}}}'.encode()
    token = sign_raw(KEYS["k-one"].private, {"alg": "RS256", "kid": "k-one"}, payload)
    try:
        decoded = verify_access(token)
    except errors.MalformedTokenError as refused:
        assert "nested too deeply" in refused.description and "access token" in refused.description
    except errors.InvalidClaimError as refused:
        assert where == "exp" and "`exp`" in refused.description
    else:
        assert where == "extra claim" and decoded.verified  # read whole: a valid token with an odd claim


@pytest.mark.parametrize("claims, error", [
    (good_claims(iss="https://\ud800.example/oauth2/default"), errors.InvalidIssuerError),
    (good_claims(aud="api_\udfffproviders"), errors.InvalidAudienceError),
    (good_claims(exp="\ud800"), errors.InvalidClaimError),
])
def test_a_refusal_quoting_an_unpaired_surrogate_can_still_be_printed(claims, error):
    with pytest.raises(error) as caught:
        verify_access(sign(KEYS["k-one"], claims))
    caught.value.description.encode("utf-8")
    str(caught.value).encode("utf-8")


@pytest.mark.parametrize("kid", ["zzz", None])
@pytest.mark.parametrize("kind", ["access token", "ID token"])
def test_key_lookup_refusals_name_the_token_kind(kind, kid):
    token = sign(KEYS["k-one"], (good_claims if kind == "access token" else id_claims)(), kid=kid)
    with pytest.raises(errors.UnknownKeyError) as caught:
        verify_access(token) if kind == "access token" else verify_id(token)
    assert kind in caught.value.description, caught.value.description


def test_a_date_with_thousands_of_digits_is_reported_as_such():
    base = json_bytes(good_claims(exp=ABSENT))[:-1].decode()
    token = sign_raw(KEYS["k-one"].private, {"alg": "RS256", "kid": "k-one"}, f'{base},"exp":{"9" * 5000}}}'.encode())
    with pytest.raises(errors.TokenVerificationError) as caught:
        verify_access(token)
    assert "`exp`" in caught.value.description and "access token" in caught.value.description
