"""The real server's rules beyond its error texts: both token shapes Fortellis has issued,
client authentication as RFC 6749 2.3.1 has it, browser requests and CORS, rate limits,
the trailing slash of Fortellis' own sample, sign-out and dealer activation."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import quote_plus

import pytest
import requests

from fortellis_nb.sandbox import Sandbox, Settings

from .conftest import HIDDEN, Browser, exchange, pkce_pair, redirect_params, token_request


def part(token: str, index: int) -> dict:
    segment = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


# --- the two token profiles ------------------------------------------------------------

def test_the_tutorial_profile_has_the_tutorials_shape(info, tokens):
    assert list(part(tokens["access_token"], 0)) == ["kid", "alg"]
    access, id_token = part(tokens["access_token"], 1), part(tokens["id_token"], 1)
    assert list(access) == ["ver", "jti", "iss", "aud", "iat", "exp", "cid", "uid", "scp", "sub"]
    assert id_token["aud"] == info.api_key and {"ver", "amr", "auth_time", "at_hash"} <= set(id_token)
    # An access token next to a refresh token: Okta's AT.<id>.<grant id>, the grant part kept on refresh.
    first = access["jti"].split(".")
    refreshed = part(token_request(info, {"grant_type": "refresh_token",
                                          "refresh_token": tokens["refresh_token"]}).json()["access_token"], 1)
    again = refreshed["jti"].split(".")
    assert len(first) == 3 and first[0] == "AT" and again[2] == first[2] and again[1] != first[1]


@pytest.fixture
def profile_2022(tmp_path, clock):
    with Sandbox(Settings(state_dir=tmp_path / "s", clock=clock, token_profile="fortellis-2022")) as running:
        yield running


def test_the_fortellis_2022_profile_has_the_shape_of_fortellis_own_examples(profile_2022):
    info = profile_2022.info
    code = Browser(info).sign_in(nonce=None)["code"]
    tokens = exchange(info, code).json()
    header = part(tokens["access_token"], 0)
    assert list(header) == ["alg", "typ", "kid"] and header["typ"] == "JWT"
    assert len(header["kid"]) == 36 and header["kid"].count("-") == 4  # a UUID
    access, id_token = part(tokens["access_token"], 1), part(tokens["id_token"], 1)
    assert list(access) == ["cid", "jti", "scp", "sub", "uid", "iat", "exp", "aud", "iss"]
    assert list(id_token) == ["jti", "sub", "idp", "iat", "exp", "aud", "iss"]  # and no others
    assert id_token["aud"] == "fortellis" and access["aud"] == "api_providers"
    # The key set names the keys as the tokens do; the API, introspection and userinfo accept them.
    kids = [k["kid"] for k in requests.get(f"{info.issuer}/v1/keys").json()["keys"]]
    assert header["kid"] == kids[0]
    api = requests.get(f"{info.api_base_url}/sandbox/v1/dealership", headers={
        "Authorization": f"Bearer {tokens['access_token']}", "Subscription-Id": info.subscription_id})
    assert api.status_code == 200
    signed_out = requests.get(f"{info.issuer}/v1/logout", params={"id_token_hint": tokens["id_token"]})
    assert signed_out.status_code == 200  # the app is found although aud does not name it


def test_a_bad_profile_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Unknown token profile"):
        Settings(state_dir=tmp_path, token_profile="2019")


# --- client authentication -----------------------------------------------------------

@pytest.fixture
def odd_secret_app(sandbox, info):
    """An app whose secret changes when form-urlencoded (RFC 6749 appendix B)."""
    secret = "a secret+with/odd=chars%"
    app, _ = sandbox.store.add_app("Odd secret", [info.redirect_uri], time.time(), api_secret=secret)
    return app.api_key, secret


@pytest.mark.parametrize("encoded", [False, True], ids=["raw", "form-urlencoded"])
def test_basic_credentials_raw_or_form_urlencoded_as_rfc_6749_asks(info, odd_secret_app, encoded):
    key, secret = odd_secret_app
    pair = f"{quote_plus(key)}:{quote_plus(secret)}" if encoded else f"{key}:{secret}"
    response = requests.post(f"{info.issuer}/v1/token", data={"grant_type": "client_credentials",
                                                              "scope": "anonymous"},
                             headers={"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()})
    assert response.status_code == 200, response.text


def test_fortellis_sample_app_s_token_request_trailing_slash_parameters_in_the_query(info, browser):
    # Fortellis/authorization-code-example-app: POST {issuer}/v1/token/?grant_type=...&redirect_uri=...&code=...
    code = browser.sign_in()["code"]
    response = requests.post(f"{info.issuer}/v1/token/", params={
        "grant_type": "authorization_code", "redirect_uri": info.redirect_uri, "code": code},
        auth=(info.api_key, info.api_secret),
        headers={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration/", "/v1/keys/", "/v1/authorize/"])
def test_every_endpoint_answers_with_a_trailing_slash_too(info, path):
    assert requests.get(info.issuer + path, allow_redirects=False).status_code in (200, 401)  # 401: no client_id


# --- browser requests and CORS ---------------------------------------------------------

def test_a_browser_with_pkce_from_a_registered_origin_gets_tokens_and_cors_headers(info, browser):
    verifier, challenge = pkce_pair()
    code = browser.sign_in(code_challenge=challenge, code_challenge_method="S256")["code"]
    response = requests.post(f"{info.issuer}/v1/token", auth=(info.api_key, info.api_secret),
                             headers={"Origin": info.base_url}, data={
                                 "grant_type": "authorization_code", "code": code, "redirect_uri": info.redirect_uri,
                                 "code_verifier": verifier})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == info.base_url
    assert "X-Rate-Limit-Remaining" in response.headers["Access-Control-Expose-Headers"]
    assert "Origin" in response.headers["Vary"]


@pytest.mark.parametrize("path", ["/v1/token", "/v1/keys", "/v1/userinfo", "/v1/introspect", "/v1/revoke",
                                  "/.well-known/openid-configuration"])
def test_a_preflight_from_a_registered_origin_is_allowed_and_from_another_is_not(info, path):
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = requests.options(info.issuer + path, headers={"Origin": "https://example.com", **ask})
    assert allowed.status_code == 204 and allowed.headers["Access-Control-Allow-Origin"] == "https://example.com"
    assert "Authorization" in allowed.headers["Access-Control-Allow-Headers"]
    refused = requests.options(info.issuer + path, headers={"Origin": "https://evil.example", **ask})
    assert refused.status_code == 204 and "Access-Control-Allow-Origin" not in refused.headers


# --- rate limits -------------------------------------------------------------------------

def test_every_token_answer_carries_the_rate_limit_headers(info, clock):
    response = token_request(info, {"grant_type": "client_credentials", "scope": "anonymous"})
    limit, remaining, reset = (int(response.headers[f"X-Rate-Limit-{h}"]) for h in ("Limit", "Remaining", "Reset"))
    assert limit == 1200 and remaining < limit and reset == int(clock.now // 60) * 60 + 60


def test_an_app_with_a_small_limit_meets_okta_s_429_and_the_next_minute_lets_it_in(info, clock):
    made = requests.post(f"{info.base_url}/sandbox/apps", json={
        "name": "Limited", "redirect_uris": [info.redirect_uri], "rate_limit_per_minute": 2}).json()
    auth = (made["api_key"], made["api_secret"])
    cc = {"grant_type": "client_credentials", "scope": "anonymous"}
    answers = [requests.post(f"{info.issuer}/v1/token", auth=auth, data=cc) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    body = answers[2].json()
    assert body["errorCode"] == "E0000047" and body["errorLink"] == "E0000047" and body["errorCauses"] == []
    assert body["errorSummary"] == "API call exceeded rate limit due to too many requests."
    assert answers[2].headers["X-Rate-Limit-Remaining"] == "0"
    # The demo app's own bucket is not touched; the authorize endpoint counts per client too.
    assert token_request(info, cc).status_code == 200
    clock.advance(60)
    assert requests.post(f"{info.issuer}/v1/token", auth=auth, data=cc).status_code == 200


# --- sign-out ----------------------------------------------------------------------------

def test_sign_out_redirects_to_a_registered_sign_out_uri_with_the_state(info, browser):
    tokens = exchange(info, browser.sign_in()["code"]).json()
    back = browser.http.get(f"{info.issuer}/v1/logout", allow_redirects=False, params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://example.com/", "state": "bye"})
    assert back.status_code == 302 and back.headers["Location"] == "https://example.com/?state=bye"
    assert browser.authorize().status_code == 200  # signed out: the sign-in page again


def test_sign_out_with_an_expired_id_token_still_signs_out(info, browser, clock):
    tokens = exchange(info, browser.sign_in()["code"]).json()
    clock.advance(2 * 3600)
    back = browser.http.get(f"{info.issuer}/v1/logout", allow_redirects=False, params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": f"{info.base_url}/signed-out/"})
    assert back.status_code == 302 and back.headers["Location"] == f"{info.base_url}/signed-out/"


def test_sign_out_without_a_hint_is_an_error_page(info):
    response = requests.get(f"{info.issuer}/v1/logout")
    assert response.status_code == 400 and "id_token_hint" in response.text


# --- a dealer activates the app ---------------------------------------------------------------

def test_activation_through_the_page(info):
    http = requests.Session()
    page = http.get(f"{info.base_url}/sandbox/subscriptions")
    assert page.status_code == 200 and "Activate" in page.text
    from .conftest import HIDDEN

    csrf = dict(HIDDEN.findall(page.text))["csrf"]
    done = http.post(f"{info.base_url}/sandbox/subscriptions",
                     data={"csrf": csrf, "api_key": info.api_key, "dealership": "Lakeside Motors"})
    assert done.status_code == 200 and "Lakeside Motors activated Sandbox Demo App" in done.text
    listed = requests.get(f"{info.base_url}/sandbox/subscriptions", headers={"Accept": "application/json"}).json()
    assert any(s["dealership"] == "Lakeside Motors" and s["api_key"] == info.api_key for s in listed)
    refused = requests.post(f"{info.base_url}/sandbox/subscriptions", json={"api_key": "nope"})
    assert refused.status_code == 400 and "register the app first" in refused.json()["error_description"]


def test_redirect_params_helper_reads_form_post_fields_too(browser):
    # form_post pages carry the code in the form; the helper above reads redirects only.
    page = browser.submit(browser.authorize(response_mode="form_post"))
    assert page.status_code == 200 and "code" in page.text
    with pytest.raises(KeyError):
        redirect_params(page)


@pytest.mark.parametrize("mode", ["query", "fragment"])
def test_the_redirect_back_with_a_code_sends_no_referrer(browser, mode):
    """Okta's reference: Referrer-Policy no-referrer when the response goes in the query or fragment."""
    back = browser.submit(browser.authorize(response_mode=mode))
    assert back.status_code == 302 and "code=" in back.headers["Location"]
    assert back.headers["Referrer-Policy"] == "no-referrer"
    # A signed-in browser is sent straight back: the same header.
    again = browser.authorize(response_mode=mode)
    assert again.status_code == 302 and again.headers["Referrer-Policy"] == "no-referrer"


# --- refresh tokens: persistent for web apps, rotating for public ones (Okta's defaults) ---

def public_app_tokens(info, scopes="openid offline_access"):
    app = requests.post(f"{info.base_url}/sandbox/apps", json={
        "name": "A single-page app", "redirect_uris": [info.redirect_uri], "public": True}).json()
    verifier, challenge = pkce_pair()
    code = Browser(info).sign_in(client_id=app["api_key"], code_challenge=challenge, code_challenge_method="S256",
                                 scope=scopes)["code"]
    tokens = requests.post(f"{info.issuer}/v1/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": info.redirect_uri,
        "client_id": app["api_key"], "code_verifier": verifier}).json()
    return app, tokens


def public_refresh(info, app, refresh_token):
    return requests.post(f"{info.issuer}/v1/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": app["api_key"]})


def test_a_web_app_s_refresh_token_stays_the_same(info, tokens):
    again = token_request(info, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).json()
    assert again["refresh_token"] == tokens["refresh_token"]


def test_a_public_app_s_refresh_token_rotates_and_the_old_one_lasts_the_grace_period(info, clock):
    app, tokens = public_app_tokens(info)
    first = public_refresh(info, app, tokens["refresh_token"]).json()
    assert first["refresh_token"] != tokens["refresh_token"]
    clock.advance(29)  # Okta's default grace period is 30 seconds
    within = public_refresh(info, app, tokens["refresh_token"])
    assert within.status_code == 200 and within.json()["refresh_token"] not in (first["refresh_token"],
                                                                               tokens["refresh_token"])
    latest = within.json()
    assert public_refresh(info, app, latest["refresh_token"]).status_code == 200


def test_a_rotated_out_refresh_token_used_after_the_grace_period_ends_the_grant(info, clock):
    """Okta: reuse invalidates the most recently issued refresh token and every access token
    issued since the user signed in. Its error text is not documented: the catalog's
    invalid_refresh_token."""
    app, tokens = public_app_tokens(info)
    latest = public_refresh(info, app, tokens["refresh_token"]).json()
    clock.advance(31)
    reused = public_refresh(info, app, tokens["refresh_token"])
    assert reused.status_code == 400 and reused.json() == {
        "error": "invalid_grant", "error_description": "The refresh token is invalid or expired."}
    assert public_refresh(info, app, latest["refresh_token"]).json()["error"] == "invalid_grant"
    for access_token in (tokens["access_token"], latest["access_token"]):
        api = requests.get(f"{info.api_base_url}/sandbox/v1/dealership", headers={
            "Authorization": f"Bearer {access_token}", "Subscription-Id": "test"})
        assert api.status_code == 401 and api.json()["code"] == "INVALID-TOKEN"


# --- refresh tokens: Okta's per-app refresh_token settings (rotation_type, leeway) ---

def web_app_tokens(info, refresh_token_settings):
    app = requests.post(f"{info.base_url}/sandbox/apps", json={
        "name": "A backend", "redirect_uris": [info.redirect_uri], "refresh_token": refresh_token_settings}).json()
    code = Browser(info).sign_in(client_id=app["api_key"])["code"]
    tokens = token_request(info, {"grant_type": "authorization_code", "code": code, "redirect_uri": info.redirect_uri},
                           auth=(app["api_key"], app["api_secret"])).json()
    return app, tokens


def web_refresh(info, app, refresh_token):
    return token_request(info, {"grant_type": "refresh_token", "refresh_token": refresh_token},
                         auth=(app["api_key"], app["api_secret"]))


def test_the_apps_refresh_token_settings_have_okta_s_defaults(info):
    web = requests.post(f"{info.base_url}/sandbox/apps", json={"name": "w", "redirect_uris": [info.redirect_uri]})
    spa = requests.post(f"{info.base_url}/sandbox/apps", json={"name": "s", "redirect_uris": [info.redirect_uri],
                                                               "public": True})
    assert web.json()["refresh_token"] == {"rotation_type": "STATIC", "leeway": 30}
    assert spa.json()["refresh_token"] == {"rotation_type": "ROTATE", "leeway": 30}


def test_a_web_app_set_to_rotate_gets_a_new_refresh_token_and_its_leeway(info, clock):
    app, tokens = web_app_tokens(info, {"rotation_type": "ROTATE", "leeway": 5})
    assert app["refresh_token"] == {"rotation_type": "ROTATE", "leeway": 5}
    first = web_refresh(info, app, tokens["refresh_token"]).json()
    assert first["refresh_token"] != tokens["refresh_token"]
    clock.advance(4)
    assert web_refresh(info, app, tokens["refresh_token"]).status_code == 200  # within the leeway
    clock.advance(2)
    reused = web_refresh(info, app, tokens["refresh_token"])  # past it: the whole grant ends
    assert reused.status_code == 400 and reused.json() == {
        "error": "invalid_grant", "error_description": "The refresh token is invalid or expired."}
    assert web_refresh(info, app, first["refresh_token"]).status_code == 400


def test_a_leeway_of_zero_ends_the_grant_at_the_first_reuse(info, clock):
    app, tokens = web_app_tokens(info, {"rotation_type": "ROTATE", "leeway": 0})
    latest = web_refresh(info, app, tokens["refresh_token"]).json()
    clock.advance(0.5)
    assert web_refresh(info, app, tokens["refresh_token"]).status_code == 400
    assert web_refresh(info, app, latest["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_public_app_set_to_static_keeps_its_refresh_token(info):
    app = requests.post(f"{info.base_url}/sandbox/apps", json={
        "name": "A static SPA", "redirect_uris": [info.redirect_uri], "public": True,
        "refresh_token": {"rotation_type": "STATIC"}}).json()
    verifier, challenge = pkce_pair()
    code = Browser(info).sign_in(client_id=app["api_key"], code_challenge=challenge, code_challenge_method="S256")["code"]
    tokens = requests.post(f"{info.issuer}/v1/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": info.redirect_uri,
        "client_id": app["api_key"], "code_verifier": verifier}).json()
    again = public_refresh(info, app, tokens["refresh_token"]).json()
    assert again["refresh_token"] == tokens["refresh_token"]


@pytest.mark.parametrize("settings, words", [
    ({"rotation_type": "rotate"}, "'refresh_token.rotation_type' is ROTATE"),
    ({"rotation_type": "ROTATE", "leeway": 61}, "'refresh_token.leeway' is a number of seconds from 0 to 60"),
    ({"rotation_type": "ROTATE", "leeway": -1}, "from 0 to 60"),
    ({"rotation_type": "ROTATE", "leeway": "30"}, "from 0 to 60"),
    ({"rotation_type": "ROTATE", "leeway": True}, "from 0 to 60"),
    ({"leeway": 10}, "give 'rotation_type': 'ROTATE' with it"),
    ({"rotation_type": "ROTATE", "grace": 10}, "'refresh_token' is an object with 'rotation_type'"),
    ("ROTATE", "'refresh_token' is an object"),
])
def test_refresh_token_settings_out_of_okta_s_range_are_refused_by_name(info, settings, words):
    answer = requests.post(f"{info.base_url}/sandbox/apps", json={
        "name": "x", "redirect_uris": [info.redirect_uri], "refresh_token": settings})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert words in answer.json()["error_description"]


def test_the_portal_form_sets_rotation_and_keeps_what_was_typed_on_an_error(info):
    http = requests.Session()
    page = http.get(f"{info.base_url}/sandbox/apps")
    csrf = dict(HIDDEN.findall(page.text))["csrf"]
    bad = http.post(f"{info.base_url}/sandbox/apps", data={
        "csrf": csrf, "name": "Form app", "redirect_uris": info.redirect_uri, "rotation_type": "ROTATE",
        "leeway": "90"}, headers={"Origin": info.base_url})
    assert bad.status_code == 400 and "from 0 to 60" in bad.text
    assert 'value="90"' in bad.text and '<option value="ROTATE" selected>' in bad.text
    good = http.post(f"{info.base_url}/sandbox/apps", data={
        "csrf": csrf, "name": "Form app", "redirect_uris": info.redirect_uri, "rotation_type": "ROTATE",
        "leeway": "10"}, headers={"Origin": info.base_url})
    assert good.status_code == 200
    listed = [a for a in requests.get(f"{info.base_url}/sandbox/apps", headers={"Accept": "application/json"}).json()
              if a["name"] == "Form app"]
    assert listed[0]["refresh_token"] == {"rotation_type": "ROTATE", "leeway": 10}
