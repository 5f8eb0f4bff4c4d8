"""The per-check verification report, the code's countdown, token changes and redaction."""

from fortellis_nb.oauth import checks
from fortellis_nb.oauth.api import request_headers

from .conftest import signed_in


def _marks(rows):
    return {row.name: row.mark for row in rows}


def _id_checklist(client, tokens, **overrides):
    kwargs = dict(kind="id", jwks=client.jwks, issuer=client.metadata.issuer, client_id=client.config.api_key,
                  nonce=tokens.id_claims["nonce"], access_token=tokens.access_token)
    kwargs.update(overrides)
    return checks.verification_checklist(tokens.id_token, **kwargs)


def test_good_tokens_pass_every_check(client):
    tokens = client.exchange_code(signed_in(client))
    access = checks.verification_checklist(tokens.access_token, jwks=client.jwks, issuer=client.metadata.issuer)
    every_token = {"signature and kid": "pass", "claim types": "pass", "required claims": "pass", "iss": "pass",
                   "aud": "pass", "exp": "pass", "nbf": "n/a", "iat": "pass"}
    assert _marks(access) == every_token
    assert _marks(_id_checklist(client, tokens)) == {**every_token, "sub": "pass", "azp": "n/a", "nonce": "pass",
                                                     "at_hash": "pass"}
    details = {row.name: row.detail for row in access}
    assert "kid" in details["signature and kid"] and "expires in" in details["exp"]


def test_each_failure_is_reported_without_hiding_the_others(client):
    tokens = client.exchange_code(signed_in(client))
    head, payload, signature = tokens.id_token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    marks = _marks(_id_checklist(client, tokens, nonce="another", access_token="not-the-token",
                                 now=tokens.id_claims["exp"] + 3600))
    assert {name for name, mark in marks.items() if mark != "pass"} == {"exp", "nonce", "at_hash", "nbf", "azp"}
    assert marks["exp"] == marks["nonce"] == marks["at_hash"] == "fail"
    forged_marks = _marks(checks.verification_checklist(forged, kind="id", jwks=client.jwks,
                                                        issuer="https://elsewhere/", client_id="someone-else"))
    assert forged_marks["signature and kid"] == "fail" and forged_marks["iss"] == "fail"
    assert forged_marks["aud"] == "fail" and forged_marks["nonce"] == "n/a"
    assert checks.verification_checklist("not a token", jwks=client.jwks, issuer="x")[0].mark == "fail"


def test_code_countdown_counts_down_then_says_why():
    left, words = checks.code_countdown(100.0, now=120.0)
    assert left == 40 and words == "40 seconds left to exchange the code"
    left, words = checks.code_countdown(100.0, now=165.0)
    assert left == -5 and words.startswith("The code expired 5 seconds ago.")
    assert "invalid_grant" in words and "60 seconds" in words
    assert checks.code_countdown(100.0, now=159.5)[1] == "1 second left to exchange the code"
    assert checks.code_countdown(100.0, now=161.0)[1].startswith("The code expired 1 second ago.")


def test_a_lifetime_measured_from_the_sandbox_s_times_is_said_in_whole_seconds():
    # The lifetime is the difference of two times on the sandbox's clock, read back as floats: a
    # hair under 60 must still read "60 seconds", not "59".
    words = checks.code_countdown(1000.0, now=1090.0, lifetime=60 - 1e-9)[1]
    assert "lives 60 seconds" in words


def test_token_changes_after_a_refresh(client):
    first = client.exchange_code(signed_in(client))
    second = client.refresh()
    rows = {row.what: row for row in checks.token_changes(first, second)}
    assert rows["access token jti"].changed and rows["ID token jti"].changed
    assert rows["access_token"].changed and rows["access_token"].before.endswith("...")
    assert not rows["refresh_token"].changed and rows["refresh_token"].before.endswith("...")
    assert first.access_token not in repr(rows) and first.refresh_token not in repr(rows)


def test_redact_shortens_known_secrets_codes_and_hides_passwords():
    text = "curl --data 'code=P59yPm1_X1gxtdEOEZjn&x=1' token=eyJhbGciOiJSUzI1NiJ9abc password=hunter22"
    shown = checks.redact(text, secrets=["eyJhbGciOiJSUzI1NiJ9abc"], hidden=["hunter22"])
    assert shown == "curl --data 'code=P59yP...&x=1' token=eyJhb... password=********"
    assert checks.redact("?code_challenge=abcdefghijk&auth_code=abcdefghijk") == \
        "?code_challenge=abcdefghijk&auth_code=abcdefghijk"
    assert checks.redact('{"url": "https://x/?code=abcdefghijk"}') == '{"url": "https://x/?code=abcde..."}'


def test_redirect_parameters_are_read_leniently():
    assert checks.redirect_parameters("https://example.com/?code=abc&state=s") == {"code": "abc", "state": "s"}
    assert checks.redirect_parameters("https://yourRedirectURL/code=abc&state=s")["code"] == "abc"
    assert checks.redirect_parameters("not a url") == {}


def test_api_request_headers():
    assert request_headers("tok", "sub", "rid") == {
        "Accept": "application/json", "Authorization": "Bearer tok", "Subscription-Id": "sub", "Request-Id": "rid"}
    assert "Subscription-Id" not in request_headers("tok", None, "rid")
