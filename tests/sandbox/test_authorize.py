"""The authorize endpoint: the sign-in page, sessions, and every error Okta sends back."""

import html
import re

import pytest

from .conftest import Browser, redirect_params


def test_sign_in_page_is_a_plain_form_marked_as_the_sandbox(browser):
    page = browser.authorize()
    assert page.status_code == 200
    assert '<form method="post" action="authorize"' in page.text
    assert 'name="username"' in page.text and 'name="password"' in page.text
    # Like Okta, no consent step for an app that does not ask for consent: one button, Sign in.
    assert 'value="sign-in"' in page.text and 'value="deny"' not in page.text
    assert "SANDBOX" in page.text and "not</em> Fortellis" in page.text
    assert "<script" not in page.text  # works without JavaScript


def test_allow_redirects_with_code_and_the_same_state(browser):
    params = browser.authorize_params()
    page = browser.http.get(f"{browser.info.issuer}/v1/authorize", params=params, allow_redirects=False)
    response = browser.submit(page)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(browser.info.redirect_uri + "?")
    back = redirect_params(response)
    assert back["state"] == params["state"]
    assert re.fullmatch(r"[A-Za-z0-9_\-]{20}", back["code"])


def test_a_signed_in_user_is_sent_straight_back_with_a_code(browser):
    browser.sign_in()
    again = browser.authorize()
    assert again.status_code == 302
    assert "code" in redirect_params(again)


def test_prompt_login_asks_for_the_password_again(browser):
    browser.sign_in()
    page = browser.authorize(prompt="login")
    assert page.status_code == 200 and 'name="password"' in page.text


def test_prompt_none_without_session_is_login_required(browser):
    back = redirect_params(browser.authorize(prompt="none"))
    assert back["error"] == "login_required"
    assert back["error_description"] == "The client specified not to prompt, but the user is not logged in."
    assert "state" in back


def test_prompt_none_with_session_returns_a_code(browser):
    browser.sign_in()
    assert "code" in redirect_params(browser.authorize(prompt="none"))


def test_max_age_older_than_the_session_asks_again(browser, clock):
    browser.sign_in()
    clock.advance(120)
    assert browser.authorize(max_age="60").status_code == 200
    assert browser.authorize(max_age="600").status_code == 302


def test_an_app_that_requires_consent_asks_after_the_sign_in_and_deny_is_access_denied(browser):
    params = browser.authorize_params(client_id=browser.info.consent_api_key)
    page = browser.http.get(f"{browser.info.issuer}/v1/authorize", params=params, allow_redirects=False)
    consent = browser.submit(page)
    assert consent.status_code == 200 and "Allow" in consent.text and "openid" in consent.text
    back = redirect_params(browser.consent(consent, "deny"))
    assert back == {"error": "access_denied",
                    "error_description": "The resource owner or authorization server denied the request.",
                    "state": params["state"]}


def test_consent_is_asked_again_for_a_signed_in_user_and_allow_gives_a_code(browser):
    browser.sign_in()  # the demo app: signed in, no consent asked
    page = browser.authorize(client_id=browser.info.consent_api_key)
    assert page.status_code == 200 and 'name="password"' not in page.text  # the consent page, no password
    assert "code" in redirect_params(browser.consent(page, "allow"))


def test_prompt_none_for_an_app_that_requires_consent_is_consent_required(browser):
    browser.sign_in()
    back = redirect_params(browser.authorize(client_id=browser.info.consent_api_key, prompt="none"))
    assert back["error"] == "consent_required"
    assert back["error_description"] == "The following scopes require user consent: [openid, offline_access]."


def test_wrong_password_shows_the_form_again_with_an_error(browser):
    response = browser.submit(browser.authorize(), password="not-the-password")
    assert response.status_code == 401
    assert "Sign-in failed" in response.text and 'name="password"' in response.text
    assert "Location" not in response.headers


def test_a_user_not_assigned_to_the_app_is_access_denied(browser):
    response = browser.submit(browser.authorize(), username="unassigned@example.com")
    back = redirect_params(response)
    assert back["error"] == "access_denied"
    assert back["error_description"] == "User is not assigned to the client application."


def test_the_sign_in_form_needs_the_csrf_cookie(browser, info):
    page = browser.authorize()
    other = Browser(info)  # another browser (no cookie) posting the same form: a CSRF attempt
    response = other.submit(page)
    assert response.status_code == 403
    assert "Location" not in response.headers


def test_a_sign_in_form_works_once(browser):
    page = browser.authorize()
    assert browser.submit(page).status_code == 302
    replay = browser.submit(page)
    assert replay.status_code == 400 and "expired" in replay.text


def test_the_sign_in_page_expires(browser, clock):
    page = browser.authorize()
    clock.advance(16 * 60)
    assert browser.submit(page).status_code == 400


def test_unknown_client_gets_an_error_page_not_a_redirect(browser):
    response = browser.authorize(client_id="not-a-registered-key")
    assert response.status_code == 401
    assert "Location" not in response.headers
    assert "Invalid value for &#x27;client_id&#x27; parameter." in response.text


def test_unregistered_redirect_uri_gets_an_error_page(browser):
    response = browser.authorize(redirect_uri="https://evil.example/")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "must be a Login redirect URI in the client app settings" in response.text


def test_trailing_slash_only_difference_is_named(browser):
    response = browser.authorize(redirect_uri=browser.info.redirect_uri.rstrip("/"))
    assert response.status_code == 400
    assert "Only the trailing slash differs" in response.text


def test_the_tutorials_example_callback_is_registered(browser):
    back = browser.sign_in(redirect_uri="https://example.com/")
    assert "code" in back


@pytest.mark.parametrize("override, error", [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": None}, "unsupported_response_type"),
    ({"scope": "openid payroll"}, "invalid_scope"),
    ({"scope": None}, "invalid_scope"),
    ({"scope": "anonymous"}, "invalid_scope"),
    ({"prompt": "sometimes"}, "invalid_request"),
    ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge_method": "S256"}, "invalid_request"),
    ({"response_mode": "web_message"}, "unsupported_response_mode"),
    ({"response_mode": "okta_post_message"}, "unsupported_response_mode"),
])
def test_request_errors_go_back_to_the_app(browser, override, error):
    params = browser.authorize_params(**override)
    response = browser.http.get(f"{browser.info.issuer}/v1/authorize", params=params, allow_redirects=False)
    assert response.status_code == 302
    back = redirect_params(response)
    assert back["error"] == error
    assert back["error_description"]
    assert back["state"] == params["state"]


def test_missing_state_is_invalid_request(browser):
    back = redirect_params(browser.authorize(state=None))
    assert back["error"] == "invalid_request" and "state" in back["error_description"]


def test_state_with_forbidden_characters_is_refused_and_not_echoed(browser):
    back = redirect_params(browser.authorize(state="<script>"))
    assert back["error"] == "invalid_request"
    assert "state" not in back


def test_fragment_response_mode(browser):
    response = browser.submit(browser.authorize(response_mode="fragment"))
    assert "#code=" in response.headers["Location"]


def test_unknown_server_id_is_not_found(info, browser):
    response = browser.http.get(info.issuer.rsplit("/", 1)[0] + "/ausSomeOtherServer00/v1/authorize")
    assert response.status_code == 404
    assert response.json()["errorCode"] == "E0000007"


def test_logout_ends_the_session(browser, info):
    from .conftest import exchange

    tokens = exchange(info, browser.sign_in()["code"]).json()
    signed_out = browser.http.get(f"{info.issuer}/v1/logout", params={"id_token_hint": tokens["id_token"]})
    assert signed_out.status_code == 200 and "Signed out" in signed_out.text
    assert browser.authorize().status_code == 200  # the sign-in page again


def test_logout_with_a_parameter_twice_shows_okta_s_answer_on_its_page(browser, info):
    from fortellis_nb.sandbox.okta import ERRORS

    answer = browser.http.get(f"{info.issuer}/v1/logout?id_token_hint=a&id_token_hint=b")
    assert answer.status_code == 400 and answer.headers["Content-Type"].startswith("text/html")
    assert 'data-error="invalid_request"' in answer.text
    expected = ERRORS["illegal_duplicated_parameters"].description.format("id_token_hint")
    assert f'data-error-description="{html.escape(expected)}"' in answer.text


def test_form_post_posts_the_code_to_the_app(browser):
    page = browser.submit(browser.authorize(response_mode="form_post"))
    assert page.status_code == 200
    form = re.search(r'<form method="post" action="([^"]*)" id="form-post"', page.text)
    assert form and form.group(1) == browser.info.redirect_uri
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text))
    assert set(fields) == {"code", "state"}
    assert "form_post.js" in page.text and f"form-action {browser.info.base_url}" in page.headers[
        "Content-Security-Policy"]
    shown = browser.http.post(browser.info.redirect_uri, data=fields)  # the sandbox's callback page takes it
    assert shown.status_code == 200 and fields["code"] in shown.text


def test_login_hint_prefills_the_username(browser):
    page = browser.authorize(login_hint="dealer@example.com")
    assert 'value="dealer@example.com"' in page.text
