from fortellis_nb.widgets import AuthorizeLink, RedirectCatcher, TokenInspector

from .conftest import text


def _exchanged(flow, **kwargs):
    AuthorizeLink(flow, **kwargs)
    catcher = RedirectCatcher(flow)
    inspector = TokenInspector(flow)
    catcher.signin_button.click()
    catcher.exchange_button.click()
    return inspector


def test_before_any_token(flow):
    assert "No tokens yet" in text(TokenInspector(flow).summary)


def test_checklist_claims_and_jwt_view(flow):
    inspector = _exchanged(flow)
    tokens = flow.tokens
    checklist = text(inspector.checklist)
    assert "every check passed" in checklist
    marks = {kind: {c.name: c.mark for c in rows} for kind, rows in inspector.checks.items()}
    every_token = ("signature and kid", "claim types", "required claims", "iss", "aud", "exp", "iat")
    assert marks["access"] == {**dict.fromkeys(every_token, "pass"), "nbf": "n/a"}
    assert marks["id"] == {**dict.fromkeys(every_token + ("sub", "nonce", "at_hash"), "pass"), "nbf": "n/a",
                           "azp": "n/a"}
    for name in every_token:
        assert f"{name} ✔ pass" in checklist
    assert "sub – n/a ✔ pass" in checklist and "nonce – n/a ✔ pass" in checklist
    assert "at_hash – n/a ✔ pass" in checklist
    assert checklist.count("✔ pass") == 17
    claims = text(inspector.claims["id"])
    assert "at_hash" in claims and "binds the two tokens together" in claims and "UTC" in claims
    assert "Key ID" in text(inspector.claims["access"]) and "api_providers" in text(inspector.claims["access"])
    jwt = inspector.jwt["access"].value
    for part in ("fnb-jwt-header", "fnb-jwt-payload", "fnb-jwt-signature"):
        assert part in jwt
    assert tokens.access_token not in jwt and tokens.access_token.split(".")[2] not in jwt
    assert inspector.tabs.titles == ("Access token", "ID token", "Refresh token")
    assert f"{tokens.refresh_token[:5]}..." in text(inspector.refresh_token_html)
    assert "Opaque" in text(inspector.refresh_token_html)


def test_countdown_to_expiry_and_the_exp_check(flow, clock):
    inspector = _exchanged(flow)
    exp = flow.tokens.access_claims["exp"]
    clock.now = exp - 3600
    inspector.tick()
    assert text(inspector.countdown).startswith("The access token expires in 1 hour (at ")
    # The clock is drawn by the style sheet: the timer emoji needs an emoji font, else it is a box.
    assert 'class="fnb-clock"' in inspector.countdown.value and "&#9201;" not in inspector.countdown.value
    clock.now = exp - 1800
    inspector.tick()
    assert "expires in 30 minutes" in text(inspector.countdown)
    clock.now = exp + 1
    inspector.tick()
    countdown = text(inspector.countdown)
    assert "The access token expired 1 second ago" in countdown and "TOKEN-EXPIRED" in countdown
    assert "`" not in inspector.countdown.value and "<code>offline_access</code>" in inspector.countdown.value
    assert "clock skew" in text(inspector.checklist)  # 30 seconds of leeway
    clock.now = exp + 31
    inspector.tick()
    assert {c.name: c.mark for c in inspector.checks["access"]}["exp"] == "fail"
    assert "exp ✘ fail" in text(inspector.checklist) and "do not trust" in text(inspector.checklist)


def test_raw_response_on_request(flow):
    inspector = _exchanged(flow)
    assert inspector.raw.value == ""
    inspector.raw_button.value = True
    raw = text(inspector.raw)
    assert raw.startswith("HTTP 200 OK, the token response")
    assert '"token_type": "Bearer"' in raw and f'"access_token": "{flow.tokens.access_token[:5]}..."' in raw
    assert flow.tokens.access_token not in raw


def test_without_openid_there_is_no_id_token(flow):
    inspector = _exchanged(flow, scopes="offline_access")
    assert "No ID token" in text(inspector.jwt["id"]) and "id" not in inspector.checks
