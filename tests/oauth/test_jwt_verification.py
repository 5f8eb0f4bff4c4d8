import base64
import hashlib
import hmac
import json
import time

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fortellis_nb.oauth import errors
from fortellis_nb.oauth.verify import (CLAIM_GLOSSARY, JWKS, at_hash, check_refreshed_id_token, decode,
                                       expires_in_words, explain_claims, humanize_duration, verify_access_token,
                                       verify_id_token)

from .conftest import signed_in

ISSUER = "https://identity-dev.fortellis.io/oauth2/aus1ni5i9n9WkzcYa2p7"
API_KEY = "RRTKerBb7tgRT4K6ES2eQdYJ1z9cHFsv"

# Header and claims of the tutorial's example access and ID tokens (signatures left out).
TUTORIAL_ACCESS = ("eyJraWQiOiJ6Z3cyUV9jRDJ2N0tCVENINUgzM3hQeXNUN2pLRVEtR3pQdFNLUi1vRXZRIiwiYWxnIjoiUlMyNTYifQ."
                   "eyJ2ZXIiOjEsImp0aSI6IkFULkhhSm13bklsQ3QzVDJibDVBSDhrVUNlQ2tzMjZ5U1V2eEJsb0JvWkZFNUEiLCJpc3MiOiJodHRw"
                   "czovL2lkZW50aXR5LWRldi5mb3J0ZWxsaXMuaW8vb2F1dGgyL2F1czFuaTVpOW45V2t6Y1lhMnA3IiwiYXVkIjoiYXBpX3Byb3Zp"
                   "ZGVycyIsImlhdCI6MTU2ODkwNDY3OSwiZXhwIjoxNTY4OTA4Mjc5LCJjaWQiOiJSUlRLZXJCYjd0Z1JUNEs2RVMyZVFkWUoxejlj"
                   "SEZzdiIsInVpZCI6IjAwdTNud2pyMmxDdWNXMUVuMnA3Iiwic2NwIjpbIm9wZW5pZCJdLCJzdWIiOiJuYXRoYW4uc2FuZGJlcmdA"
                   "Y2RrLmNvbSJ9.c2ln")
TUTORIAL_ID = ("eyJraWQiOiJ6Z3cyUV9jRDJ2N0tCVENINUgzM3hQeXNUN2pLRVEtR3pQdFNLUi1vRXZRIiwiYWxnIjoiUlMyNTYifQ."
               "eyJzdWIiOiIwMHUzbndqcjJsQ3VjVzFFbjJwNyIsInZlciI6MSwiaXNzIjoiaHR0cHM6Ly9pZGVudGl0eS1kZXYuZm9ydGVsbGlz"
               "LmlvL29hdXRoMi9hdXMxbmk1aTluOVdremNZYTJwNyIsImF1ZCI6IlJSVEtlckJiN3RnUlQ0SzZFUzJlUWRZSjF6OWNIRnN2Iiwi"
               "aWF0IjoxNTY4OTA0Njc5LCJleHAiOjE1Njg5MDgyNzksImp0aSI6IklELjdlN0ZVSWpfNWR2akxsamh5WnZIeWk0djFxYkN6dTdy"
               "ejVkaWdlLS1XaE0iLCJhbXIiOlsicHdkIl0sImlkcCI6IjAwbzFhbjQ4cTFTdTFSQ0ZoMnA3IiwiYXV0aF90aW1lIjoxNTY4OTAz"
               "MDQ0LCJhdF9oYXNoIjoiaE5ab3lkUUdNalZ2YXNhMXlxZXF5USJ9.c2ln")


class Key:
    def __init__(self, kid):
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def jwk(self):
        jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def sign(self, claims, *, kid=True, alg="RS256"):
        headers = {"kid": self.kid} if kid else {}
        return pyjwt.encode(claims, self.private, algorithm=alg, headers=headers)


@pytest.fixture(scope="module")
def keys():
    return [Key("key-one"), Key("key-two"), Key("key-three")]


def claims(**overrides):
    now = int(time.time())
    base = {"ver": 1, "jti": "AT.x", "iss": ISSUER, "aud": "api_providers", "iat": now, "exp": now + 3600,
            "cid": API_KEY, "uid": "00u1", "scp": ["openid"], "sub": "learner@example.com"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def id_claims(**overrides):
    return claims(**{"aud": API_KEY, "sub": "00u1", "jti": "ID.x", "nonce": "n-1", "cid": None, "uid": None,
                     "scp": None, **overrides})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header, payload, signature=b""):
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)])


def served_jwks(local_server, *key_sets):
    """A JWKS endpoint that serves each key set in turn, staying on the last."""
    served = list(key_sets)

    def route(handler):
        keys = served.pop(0) if len(served) > 1 else served[0]
        return 200, {}, {"keys": [k.jwk for k in keys]}

    server = local_server({("GET", "/v1/keys"): route})
    return server.url + "/v1/keys"


def jwks_of(*keys):
    return JWKS(keys={"keys": [k.jwk for k in keys]})


# --- accept -------------------------------------------------------------------------

def test_good_access_token_is_accepted(keys):
    decoded = verify_access_token(keys[0].sign(claims()), jwks=jwks_of(*keys), issuer=ISSUER)
    assert decoded.verified and decoded.claims["cid"] == API_KEY and decoded.header["kid"] == "key-one"


def test_missing_kid_with_a_single_key_is_accepted(keys):
    token = keys[0].sign(claims(), kid=False)
    assert verify_access_token(token, jwks=jwks_of(keys[0]), issuer=ISSUER).claims["sub"]


def test_token_signed_by_a_freshly_rotated_key_is_accepted(keys, local_server):
    jwks = JWKS(served_jwks(local_server, [keys[0]], [keys[0], keys[1]]))
    verify_access_token(keys[0].sign(claims()), jwks=jwks, issuer=ISSUER)
    assert jwks.fetches == 1
    verify_access_token(keys[1].sign(claims()), jwks=jwks, issuer=ISSUER)
    assert jwks.fetches == 2


def test_unknown_kid_refetches_at_most_once_per_interval(keys, local_server):
    now = [1000.0]
    jwks = JWKS(served_jwks(local_server, [keys[0]]), refetch_interval=60, clock=lambda: now[0])
    stranger = keys[2].sign(claims())
    with pytest.raises(errors.UnknownKeyError):
        verify_access_token(stranger, jwks=jwks, issuer=ISSUER)
    assert jwks.fetches == 2  # the first fetch, then one refetch for the unknown kid
    for _ in range(5):
        with pytest.raises(errors.UnknownKeyError):
            verify_access_token(stranger, jwks=jwks, issuer=ISSUER)
    assert jwks.fetches == 2
    now[0] += 61
    with pytest.raises(errors.UnknownKeyError):
        verify_access_token(stranger, jwks=jwks, issuer=ISSUER)
    assert jwks.fetches == 3


def test_good_id_token_is_accepted_with_nonce_and_at_hash(keys):
    access = keys[0].sign(claims())
    token = keys[0].sign(id_claims(at_hash=at_hash(access)))
    decoded = verify_id_token(token, jwks=jwks_of(*keys), issuer=ISSUER, client_id=API_KEY, nonce="n-1",
                              access_token=access)
    assert decoded.claims["aud"] == API_KEY


# --- reject -------------------------------------------------------------------------

def _reject(token, kind, keys, **kwargs):
    with pytest.raises(kind) as caught:
        if kwargs.pop("id", False):
            verify_id_token(token, jwks=jwks_of(*keys), issuer=ISSUER, client_id=API_KEY, **kwargs)
        else:
            verify_access_token(token, jwks=jwks_of(*keys), issuer=ISSUER, **kwargs)
    assert isinstance(caught.value, errors.TokenVerificationError)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__
    assert caught.value.hint
    return caught.value


def test_bad_signature_is_rejected(keys):
    header, payload, signature = keys[0].sign(claims()).split(".")
    tampered = ".".join([header, b64(json.dumps(claims(sub="admin@example.com")).encode()), signature])
    _reject(tampered, errors.InvalidSignatureError, keys)
    impostor = Key("key-one").sign(claims())  # same kid, someone else's key
    _reject(impostor, errors.InvalidSignatureError, keys)


def test_alg_none_is_rejected(keys):
    token = unsigned({"kid": "key-one", "alg": "none"}, claims())
    assert "none" in str(_reject(token, errors.AlgorithmNotAllowedError, keys))


def test_hs256_signed_with_the_public_key_is_rejected(keys):
    public_pem = keys[0].private.public_key().public_bytes(serialization.Encoding.PEM,
                                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64(json.dumps({"kid": "key-one", "alg": "HS256"}).encode())
    payload = b64(json.dumps(claims()).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    _reject(f"{header}.{payload}.{b64(signature)}", errors.AlgorithmNotAllowedError, keys)


def test_wrong_issuer_is_rejected(keys):
    error = _reject(keys[0].sign(claims(iss="https://identity.fortellis.io/oauth2/default")),
                    errors.InvalidIssuerError, keys)
    assert ISSUER in str(error)


def test_wrong_audience_is_rejected(keys):
    _reject(keys[0].sign(claims(aud="someone-else")), errors.InvalidAudienceError, keys)
    # an access token presented as ID token: aud is api_providers, not the API Key
    _reject(keys[0].sign(claims()), errors.InvalidAudienceError, keys, id=True)


def test_expired_token_is_rejected_in_human_terms(keys):
    now = int(time.time())
    error = _reject(keys[0].sign(claims(iat=now - 7200, exp=now - 3600)), errors.TokenExpiredError, keys)
    assert "The access token expired 1 hour" in str(error)


def test_expiry_follows_an_injected_clock(keys):
    token = keys[0].sign(claims())
    later = time.time() + 3 * 3600
    _reject(token, errors.TokenExpiredError, keys, now=later)
    _reject(token, errors.TokenNotYetValidError, keys, now=time.time() - 3600)


def test_missing_kid_with_several_keys_is_rejected(keys):
    error = _reject(keys[0].sign(claims(), kid=False), errors.UnknownKeyError, keys)
    assert "3" in str(error)


def test_nonce_mismatch_is_rejected(keys):
    token = keys[0].sign(id_claims(nonce="someone-elses"))
    _reject(token, errors.NonceMismatchError, keys, id=True, nonce="n-1")
    _reject(keys[0].sign(id_claims(nonce=None)), errors.NonceMismatchError, keys, id=True, nonce="n-1")


def test_at_hash_mismatch_is_rejected(keys):
    access = keys[0].sign(claims())
    other = keys[0].sign(claims(jti="AT.other"))
    token = keys[0].sign(id_claims(at_hash=at_hash(other)))
    _reject(token, errors.AtHashMismatchError, keys, id=True, access_token=access)


def test_missing_required_claim_is_rejected(keys):
    _reject(keys[0].sign(claims(exp=None)), errors.MissingClaimError, keys)


def test_garbage_is_a_malformed_token():
    for text in ("", "abc", "a.b", "eyJ.eyJ.x", "a.b.c.d"):
        with pytest.raises(errors.MalformedTokenError):
            decode(text)


def test_refreshed_id_token_must_keep_iss_and_sub():
    original = {"iss": ISSUER, "sub": "00u1"}
    check_refreshed_id_token(original, {"iss": ISSUER, "sub": "00u1", "iat": 2})
    with pytest.raises(errors.ClaimChangedError):
        check_refreshed_id_token(original, {"iss": ISSUER, "sub": "00u2"})
    with pytest.raises(errors.ClaimChangedError):
        check_refreshed_id_token(original, {"iss": "https://other.example", "sub": "00u1"})


# --- reading tokens ---------------------------------------------------------------

def test_every_claim_of_the_tutorials_tokens_has_a_glossary_line():
    for token in (TUTORIAL_ACCESS, TUTORIAL_ID):
        decoded = decode(token)
        for name in list(decoded.header) + list(decoded.claims):
            assert CLAIM_GLOSSARY.get(name), name
            assert "\n" not in CLAIM_GLOSSARY[name]
    access = decode(TUTORIAL_ACCESS)
    assert access.header == {"kid": "zgw2Q_cD2v7KBTCH5H33xPysT7jKEQ-GzPtSKR-oEvQ", "alg": "RS256"}
    assert access.claims["scp"] == ["openid"] and access.claims["aud"] == "api_providers"


def test_times_are_explained_in_human_terms():
    rows = {name: shown for name, shown, _ in explain_claims(decode(TUTORIAL_ID).claims, now=1568904679 + 60)}
    assert rows["exp"] == "1568908279 = 2019-09-19 15:51:19 UTC (in 59 minutes)"
    assert rows["iat"].endswith("(1 minute ago)")
    assert humanize_duration(3599) == "59 minutes 59 seconds"
    assert humanize_duration(90061) == "1 day 1 hour"
    assert expires_in_words(1000, now=400) == "expires in 10 minutes"
    assert expires_in_words(1000, now=1000 + 7200) == "expired 2 hours ago"


# --- against the sandbox ----------------------------------------------------------

def test_sandbox_tokens_verify_and_survive_key_rotation(own_sandbox):
    from fortellis_nb.local import sandbox_client
    client = sandbox_client(own_sandbox.info)
    first = client.exchange_code(signed_in(client))
    old_kid = decode(first.access_token).header["kid"]
    known_before = {key["kid"] for key in client.jwks.keys}
    new_kid = own_sandbox.rotate_keys()
    assert new_kid != old_kid
    second = client.refresh()
    assert decode(second.access_token).header["kid"] == new_kid
    assert second.access_claims["iss"] == own_sandbox.info.issuer and second.id_claims
    # The sandbox publishes its next key ahead (as Okta does): a client that fetched the set
    # after that already holds it; one that fetched before meets an unknown kid and refetches once.
    assert client.jwks.fetches == (1 if new_kid in known_before else 2)
    client.verify(first.access_token)  # the old key is still published


def test_expired_sandbox_token_is_rejected(own_sandbox, clock):
    from fortellis_nb.local import sandbox_client
    client = sandbox_client(own_sandbox.info, clock=clock)
    tokens = client.exchange_code(signed_in(client))
    with pytest.raises(errors.TokenExpiredError):
        client.verify(tokens.access_token, now=clock() + 3700)
    assert tokens.expires_in_words(now=clock()) == "expires in 1 hour"
    # A client on this machine's clock, and a server whose clock is two hours slow: the tokens it
    # mints expired an hour ago by ours. (The client checks times by its own clock.)
    on_wall_clock = sandbox_client(own_sandbox.info)
    clock.now = time.time() - 2 * 3600
    with pytest.raises(errors.TokenExpiredError):
        on_wall_clock.client_credentials()


# --- the two shapes Fortellis has issued ----------------------------------------------

def fortellis_2022_id_token(key, **overrides):
    """An ID token shaped like Fortellis' of 2020-2022: typ JWT, no ver, aud "fortellis"."""
    now = int(time.time())
    payload = {"jti": "ID.x", "sub": "00u1", "idp": "00o1", "iat": now, "exp": now + 3600, "aud": "fortellis",
               "iss": ISSUER, **overrides}
    return pyjwt.encode({k: v for k, v in payload.items() if v is not None}, key.private, algorithm="RS256",
                        headers={"typ": "JWT", "kid": key.kid})


def test_a_fortellis_2022_id_token_is_accepted_from_a_fortellis_issuer_and_named(keys):
    decoded = verify_id_token(fortellis_2022_id_token(keys[0]), jwks=jwks_of(keys[0]), issuer=ISSUER,
                              client_id=API_KEY, fortellis_issuer=True)
    assert decoded.claims["aud"] == "fortellis" and decoded.shape == "fortellis-2022"
    tutorial = verify_id_token(keys[0].sign(id_claims()), jwks=jwks_of(keys[0]), issuer=ISSUER, client_id=API_KEY,
                               nonce="n-1", fortellis_issuer=True)
    assert tutorial.shape == "tutorial"


def test_aud_fortellis_is_refused_from_any_other_issuer(keys):
    with pytest.raises(errors.InvalidAudienceError, match="expected 'RRTK"):
        verify_id_token(fortellis_2022_id_token(keys[0]), jwks=jwks_of(keys[0]), issuer=ISSUER, client_id=API_KEY)


def test_aud_fortellis_in_another_shape_is_refused_even_from_fortellis(keys):
    # A token of the tutorial's shape (with ver) naming "fortellis" is not what Fortellis issued.
    token = keys[0].sign(id_claims(aud="fortellis"))
    with pytest.raises(errors.InvalidAudienceError):
        verify_id_token(token, jwks=jwks_of(keys[0]), issuer=ISSUER, client_id=API_KEY, nonce="n-1",
                        fortellis_issuer=True)


def test_a_fortellis_2022_id_token_still_needs_the_nonce_that_was_sent(keys):
    with pytest.raises(errors.NonceMismatchError):
        verify_id_token(fortellis_2022_id_token(keys[0]), jwks=jwks_of(keys[0]), issuer=ISSUER, client_id=API_KEY,
                        nonce="n-1", fortellis_issuer=True)


def test_the_whole_flow_against_a_fortellis_2022_sandbox(tmp_path):
    from fortellis_nb.local import sandbox_client
    from fortellis_nb.sandbox import Sandbox, Settings

    with Sandbox(Settings(state_dir=tmp_path, token_profile="fortellis-2022")) as sandbox:
        client = sandbox_client(sandbox.info)
        request = client.authorization_url(scopes="openid offline_access")
        tokens = client.exchange_code(client.parse_redirect(client.sign_in_headless(request)))
        assert tokens.token_shape == tokens.id_token_shape == "fortellis-2022"
        assert tokens.id_claims["aud"] == "fortellis" and tokens.id_claims["nonce"] == request.nonce
        assert client.refresh().token_shape == "fortellis-2022"
        assert client.call_api("/sandbox/v1/dealership").status == 200
