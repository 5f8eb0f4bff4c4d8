"""One app's clock in a running sandbox: moved by its developer (from the app's page or as
JSON), it makes the sandbox judge that app's code, access token and refresh token as later,
while another app on the same sandbox keeps the sandbox's time."""

from __future__ import annotations

import dataclasses
import time

import jwt
import pytest
import requests

from fortellis_nb.sandbox import Sandbox, Settings

from .conftest import HIDDEN, Browser, exchange, token_request
from .test_gateway import call

YEAR = 365 * 24 * 3600


def clock_url(info) -> str:
    return f"{info.base_url}/sandbox/clock"


def move(info, seconds) -> requests.Response:
    """Set the clock of ``info``'s app ``seconds`` ahead, with the app's credentials."""
    return requests.post(clock_url(info), json={"offset_seconds": seconds}, auth=(info.api_key, info.api_secret))


def offset(info) -> float:
    answer = requests.get(clock_url(info), auth=(info.api_key, info.api_secret))
    assert answer.status_code == 200, answer.text
    return answer.json()["offset_seconds"]


@pytest.fixture
def other(info):
    """A second confidential app on the same sandbox, as a neighbour in a room registers it."""
    made = requests.post(f"{info.base_url}/sandbox/apps", json={"name": "Neighbour", "redirect_uris": [info.redirect_uri]})
    assert made.status_code == 201, made.text
    return dataclasses.replace(info, api_key=made.json()["api_key"], api_secret=made.json()["api_secret"],
                               subscription_id="test")


def tokens_of(info) -> dict:
    response = exchange(info, Browser(info).sign_in()["code"])
    assert response.status_code == 200, response.text
    return response.json()


def introspect(info, token: str) -> dict:
    return requests.post(f"{info.issuer}/v1/introspect", data={"token": token},
                         auth=(info.api_key, info.api_secret)).json()


def userinfo(info, token: str) -> int:
    return requests.get(f"{info.issuer}/v1/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_code_expires_for_the_moved_app_only(sandbox, info, other):
    mine, theirs = Browser(info).sign_in()["code"], Browser(other).sign_in()["code"]
    assert move(info, sandbox.settings.code_lifetime + 1).status_code == 200
    refused = exchange(info, mine)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant",
                              "error_description": "The authorization code is invalid or has expired."}
    assert exchange(other, theirs).status_code == 200
    assert move(info, 0).json()["offset_seconds"] == 0
    assert exchange(info, Browser(info).sign_in()["code"]).status_code == 200


def test_the_callback_page_and_the_code_times_follow_the_code_s_app(sandbox, info):
    code = Browser(info).sign_in()["code"]
    move(info, sandbox.settings.code_lifetime + 1)
    times = requests.post(f"{info.base_url}/sandbox/codes", json={"code": code}).json()
    assert times["now"] - times["expires_at"] == 1  # the client's countdown shows it expired
    page = requests.get(f"{info.base_url}/callback/", params={"code": code, "state": "s"})
    assert 'data-expires-in="0"' in page.text


def test_an_access_token_expires_for_the_moved_app_only(sandbox, info, other):
    mine, theirs = tokens_of(info), tokens_of(other)
    move(info, sandbox.settings.token_lifetime + 1)
    refused = call(info, mine["access_token"])
    assert refused.status_code == 401 and refused.json()["code"] == "TOKEN-EXPIRED"
    assert userinfo(info, mine["access_token"]) == 401
    assert introspect(info, mine["access_token"]) == {"active": False}
    assert call(other, theirs["access_token"]).status_code == 200
    assert userinfo(other, theirs["access_token"]) == 200
    assert introspect(other, theirs["access_token"])["active"] is True
    move(info, 0)
    # Nothing was changed, only when the sandbox looks: the same token works again.
    assert call(info, mine["access_token"]).status_code == 200 and introspect(info, mine["access_token"])["active"]


def test_a_refresh_token_past_the_idle_limit_for_the_moved_app_only(sandbox, info, other):
    mine, theirs = tokens_of(info), tokens_of(other)
    move(info, sandbox.settings.refresh_idle_lifetime + 1)
    refused = token_request(info, {"grant_type": "refresh_token", "refresh_token": mine["refresh_token"]})
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": "The refresh token is invalid or expired."}
    assert introspect(info, mine["refresh_token"]) == {"active": False}
    assert token_request(other, {"grant_type": "refresh_token", "refresh_token": theirs["refresh_token"]}).ok
    move(info, 0)
    assert token_request(info, {"grant_type": "refresh_token", "refresh_token": mine["refresh_token"]}).ok


def test_a_rotated_out_refresh_token_s_leeway_is_judged_by_the_app_s_clock(sandbox, info):
    made = requests.post(f"{info.base_url}/sandbox/apps", json={
        "name": "Rotating", "redirect_uris": [info.redirect_uri], "refresh_token": {"rotation_type": "ROTATE"}}).json()
    rotating = dataclasses.replace(info, api_key=made["api_key"], api_secret=made["api_secret"])
    replaced = tokens_of(rotating)["refresh_token"]
    assert token_request(rotating, {"grant_type": "refresh_token", "refresh_token": replaced}).ok  # rotates it out
    move(rotating, sandbox.settings.refresh_grace + 1)
    refused = token_request(rotating, {"grant_type": "refresh_token", "refresh_token": replaced})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_tokens_are_still_issued_with_the_sandbox_s_time(sandbox, info, clock):
    """A token minted while the app's clock is ahead is not from the future (PyJWT accepts its
    iat), and the moved app's clock already finds it expired."""
    mine = tokens_of(info)
    move(info, sandbox.settings.token_lifetime + 1)
    fresh = token_request(info, {"grant_type": "refresh_token", "refresh_token": mine["refresh_token"]}).json()
    claims = jwt.decode(fresh["access_token"], options={"verify_signature": False})
    assert claims["iat"] == int(clock())
    assert call(info, fresh["access_token"]).json()["code"] == "TOKEN-EXPIRED"


@pytest.mark.parametrize("body, fact", [
    ({"offset_seconds": "3600"}, "not str"),
    ({"offset_seconds": True}, "not bool"),
    ({"offset_seconds": -1}, "from 0"),
    ({"offset_seconds": YEAR + 1}, "from 0"),
    ({"offset_seconds": 10 ** 30}, "from 0"),
    ({}, "Send 'offset_seconds'"),
])
def test_an_offset_that_is_no_number_of_seconds_from_0_to_a_year_is_refused(info, body, fact):
    answer = requests.post(clock_url(info), json=body, auth=(info.api_key, info.api_secret))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert fact in answer.json()["error_description"]
    assert offset(info) == 0


@pytest.mark.parametrize("raw, fact", [
    (b'{"offset_seconds": NaN}', "from 0"),
    (b'{"offset_seconds": Infinity}', "from 0"),
    (b'{"offset_seconds": 1e400}', "from 0"),  # infinity too, once parsed
    (b"3600", "object"),
    (b"{", "not valid JSON"),
])
def test_nan_infinity_and_bodies_that_are_no_json_object_are_refused(info, raw, fact):
    answer = requests.post(clock_url(info), data=raw, auth=(info.api_key, info.api_secret),
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert fact in answer.json()["error_description"]
    assert offset(info) == 0


def test_a_year_ahead_is_the_most(info):
    assert move(info, YEAR).json()["offset_seconds"] == YEAR


@pytest.mark.parametrize("auth, description", [
    (None, "No client credentials found."),
    (("0oaNoSuchApp", "secret"), "Client authentication failed. Either the client or the client credentials are "
                                 "invalid."),
    ("wrong-secret", "The client secret supplied for a confidential client is invalid."),
])
def test_only_the_app_s_own_credentials_move_it(info, auth, description):
    auth = (info.api_key, "not-the-secret") if auth == "wrong-secret" else auth
    for answer in (requests.post(clock_url(info), json={"offset_seconds": 61}, auth=auth),
                   requests.get(clock_url(info), auth=auth)):
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Basic")
        assert answer.json() == {"error": "invalid_client", "error_description": description}
    assert offset(info) == 0


def test_a_public_app_s_clock_is_not_moved(info):
    made = requests.post(f"{info.base_url}/sandbox/apps",
                         json={"name": "SPA", "redirect_uris": [info.redirect_uri], "public": True}).json()
    answer = requests.post(clock_url(info), json={"offset_seconds": 61}, auth=(made["api_key"], ""))
    assert answer.status_code == 403 and answer.json()["error"] == "forbidden"
    assert "public app" in answer.json()["error_description"]


def test_the_answer_tells_the_app_s_now_and_the_sandbox_s(info, clock):
    answer = move(info, 61).json()
    assert answer == {"client_id": info.api_key, "offset_seconds": 61, "now": clock() + 61, "sandbox_now": clock()}


def test_a_restart_sets_every_app_back_to_the_sandbox_s_time(tmp_path):
    settings = Settings(state_dir=tmp_path / "sandbox")
    with Sandbox(settings) as first:
        assert move(first.info, 3601).status_code == 200 and offset(first.info) == 3601
    with Sandbox(settings) as again:
        assert offset(again.info) == 0


# --- the app's page ------------------------------------------------------------------------------

class Developer:
    """The app's developer at its page: the portal's CSRF cookie and field, the API Secret."""

    def __init__(self, info):
        self.info, self.http = info, requests.Session()
        self.url = f"{info.base_url}/sandbox/apps/{info.api_key}"

    def open(self) -> requests.Response:
        page = self.http.get(self.url)
        assert page.status_code == 200, page.text[:300]
        return page

    def press(self, move: str, *, secret: str | None = None, csrf: str | None = None) -> requests.Response:
        fields = dict(HIDDEN.findall(self.open().text))
        if csrf is not None:
            fields["csrf"] = csrf
        fields.update(api_secret=self.info.api_secret if secret is None else secret, move=move)
        return self.http.post(self.url, data=fields)


def test_the_page_shows_the_clock_and_its_buttons_from_the_settings(info):
    page = Developer(info).open().text
    assert "This app's clock" in page and "shows the real time" in page
    for label in ("1 minute and 1 second later", "1 hour and 1 second later", "7 days and 1 second later",
                  "Back to the real time"):
        assert label in page
    assert "restarts" in page  # the move lives in memory only


def test_the_labels_follow_the_lifetimes_of_the_settings(tmp_path, clock):
    with Sandbox(Settings(state_dir=tmp_path / "short", clock=clock, code_lifetime=30, token_lifetime=600)) as short:
        page = Developer(short.info).open().text
    assert "31 seconds later" in page and "10 minutes and 1 second later" in page


def test_the_page_s_buttons_move_the_clock_and_back(sandbox, info, other):
    developer = Developer(info)
    code = Browser(info).sign_in()["code"]
    moved = developer.press("code")
    assert moved.status_code == 200 and "1 minute and 1 second</strong> ahead" in moved.text
    assert offset(info) == sandbox.settings.code_lifetime + 1 and offset(other) == 0
    assert exchange(info, code).json()["error"] == "invalid_grant"
    developer.press("token")
    assert offset(info) == sandbox.settings.code_lifetime + sandbox.settings.token_lifetime + 2  # moves add up
    back = developer.press("real")
    assert back.status_code == 200 and "shows the real time" in back.text and offset(info) == 0


@pytest.mark.parametrize("secret, csrf, status", [
    ("not-the-secret", None, 403),
    ("", None, 403),
    (None, "forged", 403),
])
def test_only_the_app_s_developer_moves_it_from_the_page(info, secret, csrf, status):
    answer = Developer(info).press("refresh", secret=secret, csrf=csrf)
    assert answer.status_code == status
    assert offset(info) == 0


def test_a_page_of_another_site_cannot_press_the_buttons(info):
    developer = Developer(info)
    fields = dict(HIDDEN.findall(developer.open().text), api_secret=info.api_secret, move="refresh")
    answer = developer.http.post(developer.url, data=fields, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403 and offset(info) == 0


def test_a_button_there_is_not_and_a_move_past_a_year_are_refused(info):
    developer = Developer(info)
    assert developer.press("century").status_code == 400
    move(info, YEAR - 60)
    refused = developer.press("code")
    assert refused.status_code == 400 and "a year" in refused.text and offset(info) == YEAR - 60


def test_an_unknown_app_has_no_page(info):
    assert requests.get(f"{info.base_url}/sandbox/apps/0oaNoSuchApp").status_code == 404
    answer = requests.get(f"{info.base_url}/sandbox/apps/0oaNoSuchApp", headers={"Accept": "application/json"})
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"


def test_the_apps_list_links_each_app_s_page(info):
    assert f'sandbox/apps/{info.api_key}"' in requests.get(f"{info.base_url}/sandbox/apps").text


def test_the_page_as_json_carries_the_app_and_its_clock(info, clock):
    move(info, 61)
    answer = requests.get(f"{info.base_url}/sandbox/apps/{info.api_key}", headers={"Accept": "application/json"})
    assert answer.json()["api_key"] == info.api_key
    assert answer.json()["clock"]["offset_seconds"] == 61 and answer.json()["clock"]["now"] == clock() + 61


def test_the_real_time_is_read_each_time(tmp_path):
    with Sandbox(Settings(state_dir=tmp_path / "sandbox")) as real:
        before = time.time()
        answer = move(real.info, 61).json()
    assert before + 61 <= answer["now"] <= time.time() + 61


def test_the_page_never_shows_the_api_secret(info):
    developer = Developer(info)
    answers = [developer.open(), developer.press("code"), developer.press("code", secret="typed-wrong"),
               requests.get(developer.url, headers={"Accept": "application/json"})]
    for answer in answers:
        assert info.api_secret not in answer.text and "typed-wrong" not in answer.text
