"""Every entry of the sandbox's error table (fortellis_nb/sandbox/okta.py), produced by a real
request, compared with Okta's OAuth error catalog: the HTTP status, ``error`` and
``error_description`` character for character.

The catalog's strings are kept here as the catalog has them (``okta/okta-developer-docs``,
``packages/@okta/vuepress-site/data/oauth2-error-codes.json``, release 2026.08.1), with its
``en`` standing where a value goes, so a change in the sandbox's table is caught even when
the table and its requests change together."""

from __future__ import annotations

import html
import re

import pytest
import requests

from fortellis_nb.sandbox import Sandbox, Settings
from fortellis_nb.sandbox.okta import ERRORS

from .conftest import Browser, exchange, pkce_pair, redirect_params, token_request

RELEASE = "2026.08.1"
CATALOG = {
    "invalid_client_id": (401, "invalid_client",
        "Invalid value for 'client_id' parameter."),
    "missing_redirect_uri": (400, "missing_redirect_uri",
        "redirect_uri is missing."),
    "illegal_redirect_uri": (400, "invalid_request",
        "The 'redirect_uri' parameter must be a Login redirect URI in the client app settings."),
    "unsupported_response_type": (400, "unsupported_response_type",
        "The response type is not supported by the authorization server. Configured response types: [en]."),
    "unsupported_response_mode": (400, "unsupported_response_mode",
        "The response mode is not supported by the authorization server. Valid response modes: [query, fragment, form_post, okta_post_message]."),
    "invalid_state": (400, "invalid_request",
        "The authentication request has an invalid 'state' parameter."),
    "no_default_scopes": (400, "invalid_scope",
        "The authorization server resource does not have any configured default scopes, 'scope' must be provided."),
    "no_matching_scope": (400, "invalid_scope",
        "One or more scopes are not configured for the authorization server resource."),
    "invalid_prompt": (400, "invalid_request",
        "Invalid value for 'prompt' parameter. Supported values: [en]"),
    "invalid_max_age": (400, "invalid_request",
        "Invalid value for 'max_age' parameter. It should be within range 0 - 2^31-1."),
    "login_required": (400, "login_required",
        "The client specified not to prompt, but the user is not logged in."),
    "consent_required": (400, "consent_required",
        "The following scopes require user consent: [en]."),
    "unsupported_response_mode_okta_post_message_with_code": (400, "unsupported_response_mode",
        "'okta_post_message' response mode cannot be used with the 'code' response type."),
    "access_denied": (403, "access_denied",
        "The resource owner or authorization server denied the request."),
    "user_not_assigned": (400, "access_denied",
        "User is not assigned to the client application."),
    "pkce_unsupported_code_challenge_method": (400, "invalid_request",
        "PKCE code challenge method is not supported. Valid values: [en]"),
    "pkce_invalid_challenge": (400, "invalid_request",
        "PKCE code challenge contains illegal characters."),
    "pkce_missing_challenge": (400, "invalid_request",
        "PKCE code challenge is required by the application."),
    "missing_client_credentials": (401, "invalid_client",
        "No client credentials found."),
    "invalid_basic_auth_creds": (401, "invalid_client",
        "Found Authentication header but was not valid client credentials."),
    "invalid_client": (401, "invalid_client",
        "Client authentication failed. Either the client or the client credentials are invalid."),
    "invalid_client_secret": (401, "invalid_client",
        "The client secret supplied for a confidential client is invalid."),
    "multiple_client_credentials": (401, "invalid_request",
        "Cannot supply multiple client credentials. Use one of the following: credentials in the Authorization header, credentials in the post body, or a client_assertion in the post body."),
    "client_credentials_in_query": (400, "invalid_request",
        "Client credentials cannot be supplied via query parameters."),
    "unsupported_auth_method_browser_request": (401, "invalid_client",
        "Browser requests to the token endpoint must use Proof Key for Code Exchange."),
    "illegal_origin_browser_request": (400, "invalid_request",
        "Browser requests to the token endpoint must be part of at least one whitelisted redirect_uri."),
    "unsupported_grant_type_browser_request": (400, "unauthorized_client",
        "Browser requests to the token endpoint may only use the authorization_code grant_type."),
    "token_request_missing_grant_type": (400, "invalid_request",
        "The token request must specify a 'grant_type'. Valid values: [en]"),
    "unsupported_grant_type": (400, "unsupported_grant_type",
        "The authorization grant type is not supported by the authorization server. Configured grant types: [en]."),
    "unauthorized_client": (400, "unauthorized_client",
        "The client is not authorized to use the provided grant type. Configured grant types: [en]."),
    "missing_token_request_parameter": (400, "invalid_request",
        "The required parameter 'en' is missing."),
    "invalid_authorization_code": (400, "invalid_grant",
        "The authorization code is invalid or has expired."),
    "mismatched_client": (400, "invalid_grant",
        "The grant was issued to another client. Please make sure the 'client_id' matches the one used at the authorize request."),
    "mismatched_redirect_uri": (400, "invalid_grant",
        "The 'redirect_uri' does not match the redirection URI used in the authorization request."),
    "pkce_verification_failed": (400, "invalid_grant",
        "PKCE verification failed."),
    "pkce_missing_verifier": (400, "invalid_request",
        "PKCE code verifier is required by the application."),
    "pkce_missing_challenge_verifier_present": (400, "invalid_request",
        "PKCE code challenge should be specified in the authorize request for code verification."),
    "invalid_refresh_token": (400, "invalid_grant",
        "The refresh token is invalid or expired."),
    "refresh_scopes_denied": (400, "access_denied",
        "Some of the scopes requested for the refresh request were not granted in the original authorize request. Denied scopes: en."),
    "openid_not_allowed_client_creds": (400, "invalid_scope",
        "Cannot request 'openid' scopes using client credentials."),
    "invalid_scope": (400, "invalid_scope",
        "The requested scope is invalid, unknown, malformed, or exceeds the scope granted by the resource owner."),
    "request_missing_token": (400, "invalid_request",
        "The 'token' parameter is required."),
    "illegal_duplicated_parameters": (400, "invalid_request",
        "Duplicate parameter provided in request. Duplicated parameters: [en]."),
    "illegal_post_logout_redirect_uri": (400, "invalid_request",
        "The 'post_logout_redirect_uri' parameter must be a Logout redirect URI in the client app settings."),
}


def filled(description: str, *values: str) -> str:
    """The catalog's description with its placeholders (``en``, then ``{1}``) filled in."""
    text = re.sub(r"\ben\b", values[0], description, count=1) if values else description
    return text.replace("{1}", values[1]) if len(values) > 1 else text


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with Sandbox(Settings(state_dir=tmp_path_factory.mktemp("okta-errors"))) as running:
        yield running


@pytest.fixture(scope="module")
def info(sandbox):
    return sandbox.info


@pytest.fixture(scope="module")
def public_app(info):
    made = requests.post(f"{info.base_url}/sandbox/apps", timeout=10, json={
        "name": "A public client", "redirect_uris": [info.redirect_uri], "public": True})
    assert made.status_code == 201
    return made.json()


def answer_of(response: requests.Response) -> tuple[int, str, str]:
    """(status, error, error_description) of a JSON error, a redirect with an error, or an error page."""
    if response.is_redirect:
        params = redirect_params(response)
        return 302, params.get("error"), params.get("error_description")
    if response.headers.get("Content-Type", "").startswith("application/json"):
        body = response.json()
        return response.status_code, body.get("error"), body.get("error_description")
    error = re.search(r"<strong>Error code:</strong> <code>(.*?)</code>", response.text)
    description = re.search(r'<span class="description">(.*?)</span>', response.text, re.S)
    return (response.status_code, error and html.unescape(error.group(1)),
            description and html.unescape(description.group(1)))


def authorize(browser: Browser, **overrides) -> requests.Response:
    return browser.authorize(**overrides)


def signed_in_browser(info) -> Browser:
    browser = Browser(info)
    browser.sign_in()
    return browser


def code_for(info, **overrides) -> str:
    return Browser(info).sign_in(**overrides)["code"]


def id_token(info) -> str:
    return exchange(info, code_for(info)).json()["id_token"]


CC = {"grant_type": "client_credentials", "scope": "anonymous"}


def browser_token_request(info, data: dict, origin: str | None = None) -> requests.Response:
    return requests.post(f"{info.issuer}/v1/token", data=data, auth=(info.api_key, info.api_secret), timeout=10,
                         headers={"Origin": origin or info.base_url})


# key -> (what it is sent for, the request, the values the catalog's placeholders get)
CASES = {
    "invalid_client_id": lambda i, p: (authorize(Browser(i), client_id="not-an-api-key"), ()),
    "missing_redirect_uri": lambda i, p: (authorize(Browser(i), redirect_uri=None), ()),
    "illegal_redirect_uri": lambda i, p: (authorize(Browser(i), redirect_uri="https://evil.example/"), ()),
    "unsupported_response_type": lambda i, p: (authorize(Browser(i), response_type="token"), ("code",)),
    "unsupported_response_mode": lambda i, p: (authorize(Browser(i), response_mode="web_message"), ()),
    "unsupported_response_mode_okta_post_message_with_code":
        lambda i, p: (authorize(Browser(i), response_mode="okta_post_message"), ()),
    "invalid_state": lambda i, p: (authorize(Browser(i), state=None), ()),
    "no_default_scopes": lambda i, p: (authorize(Browser(i), scope=None), ()),
    "no_matching_scope": lambda i, p: (authorize(Browser(i), scope="openid payroll"), ()),
    "invalid_prompt": lambda i, p: (authorize(Browser(i), prompt="sometimes"), ("none, consent, login",)),
    "invalid_max_age": lambda i, p: (authorize(Browser(i), max_age="-1"), ()),
    "login_required": lambda i, p: (authorize(Browser(i), prompt="none"), ()),
    "consent_required": lambda i, p: (authorize(signed_in_browser(i), client_id=i.consent_api_key, prompt="none"),
                                      ("openid, offline_access",)),
    "access_denied": lambda i, p: (deny(i), ()),
    "user_not_assigned": lambda i, p: (unassigned(i), ()),
    "pkce_unsupported_code_challenge_method":
        lambda i, p: (authorize(Browser(i), code_challenge="x" * 43, code_challenge_method="plain"), ("S256",)),
    "pkce_invalid_challenge":
        lambda i, p: (authorize(Browser(i), code_challenge="not+valid", code_challenge_method="S256"), ()),
    "pkce_missing_challenge": lambda i, p: (authorize(Browser(i), client_id=p["api_key"]), ()),
    "missing_client_credentials": lambda i, p: (token_request(i, CC, auth=None), ()),
    "invalid_basic_auth_creds": lambda i, p: (requests.post(f"{i.issuer}/v1/token", data=CC, timeout=10,
                                                            headers={"Authorization": "Basic !!!"}), ()),
    "invalid_client": lambda i, p: (token_request(i, CC, auth=(i.api_secret, i.api_key)), ()),
    "invalid_client_secret": lambda i, p: (token_request(i, CC, auth=(i.api_key, "not-the-secret")), ()),
    "multiple_client_credentials": lambda i, p: (requests.post(f"{i.issuer}/v1/token", auth=(i.api_key, i.api_secret),
                                                               data={**CC, "client_secret": i.api_secret}, timeout=10),
                                                 ()),
    "client_credentials_in_query": lambda i, p: (requests.post(f"{i.issuer}/v1/token", timeout=10, params={
        **CC, "client_id": i.api_key, "client_secret": i.api_secret}), ()),
    "unsupported_auth_method_browser_request": lambda i, p: (browser_token_request(i, {
        "grant_type": "authorization_code", "code": code_for(i), "redirect_uri": i.redirect_uri}), ()),
    "illegal_origin_browser_request": lambda i, p: (browser_token_request(i, CC, "https://evil.example"), ()),
    "unsupported_grant_type_browser_request": lambda i, p: (browser_token_request(i, CC), ()),
    "token_request_missing_grant_type": lambda i, p: (token_request(i, {"scope": "anonymous"}),
                                                      ("authorization_code, refresh_token, client_credentials",)),
    "unsupported_grant_type": lambda i, p: (token_request(i, {"grant_type": "password"}),
                                            ("authorization_code, refresh_token, client_credentials",)),
    "unauthorized_client": lambda i, p: (requests.post(f"{i.issuer}/v1/token", timeout=10, data={
        **CC, "client_id": p["api_key"]}), ("authorization_code, refresh_token",)),
    "missing_token_request_parameter": lambda i, p: (token_request(i, {"grant_type": "authorization_code",
                                                                       "redirect_uri": i.redirect_uri}), ("code",)),
    "invalid_authorization_code": lambda i, p: (exchange(i, "not-a-code"), ()),
    "mismatched_client": lambda i, p: (token_request(i, {
        "grant_type": "authorization_code", "code": code_for(i), "redirect_uri": i.redirect_uri},
        auth=(i.consent_api_key, i.consent_api_secret)), ()),
    "mismatched_redirect_uri": lambda i, p: (exchange(i, code_for(i), redirect_uri="https://example.com/"), ()),
    "pkce_verification_failed": lambda i, p: (exchange(i, code_for(i, code_challenge=pkce_pair()[1],
                                                                    code_challenge_method="S256"),
                                                       code_verifier=pkce_pair()[0]), ()),
    "pkce_missing_verifier": lambda i, p: (exchange(i, code_for(i, code_challenge=pkce_pair()[1],
                                                                 code_challenge_method="S256")), ()),
    "pkce_missing_challenge_verifier_present": lambda i, p: (exchange(i, code_for(i), code_verifier=pkce_pair()[0]),
                                                             ()),
    "invalid_refresh_token": lambda i, p: (token_request(i, {"grant_type": "refresh_token",
                                                             "refresh_token": "x" * 43}), ()),
    "refresh_scopes_denied": lambda i, p: (token_request(i, {
        "grant_type": "refresh_token", "refresh_token": exchange(i, code_for(i)).json()["refresh_token"],
        "scope": "openid email"}), ("email",)),
    "openid_not_allowed_client_creds": lambda i, p: (token_request(i, {"grant_type": "client_credentials",
                                                                       "scope": "openid"}), ()),
    "invalid_scope": lambda i, p: (token_request(i, {"grant_type": "client_credentials", "scope": "profile"}), ()),
    "request_missing_token": lambda i, p: (requests.post(f"{i.issuer}/v1/introspect", auth=(i.api_key, i.api_secret),
                                                         data={}, timeout=10), ()),
    "illegal_post_logout_redirect_uri": lambda i, p: (requests.get(f"{i.issuer}/v1/logout", timeout=10, params={
        "id_token_hint": id_token(i), "post_logout_redirect_uri": "https://evil.example/"}), ()),
    "illegal_duplicated_parameters": lambda i, p: (form_post(i, b"grant_type=client_credentials&scope=anonymous"
                                                              b"&scope=anonymous"), ("scope",)),
    "sandbox_unreadable_parameter": lambda i, p: (form_post(i, b"grant_type=%ff"), ("grant_type",)),
    "sandbox_token_request_body": lambda i, p: (requests.post(f"{i.issuer}/v1/token", auth=(i.api_key, i.api_secret),
                                                              json=CC, timeout=10), ()),
}


def form_post(info, body: bytes) -> requests.Response:
    return requests.post(f"{info.issuer}/v1/token", data=body, auth=(info.api_key, info.api_secret), timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})


def deny(info) -> requests.Response:
    browser = Browser(info)
    consent = browser.submit(browser.authorize(client_id=info.consent_api_key))
    return browser.consent(consent, "deny")


def unassigned(info) -> requests.Response:
    browser = Browser(info)
    return browser.submit(browser.authorize(), username="unassigned@example.com")


def test_every_entry_of_the_table_has_a_case_and_every_okta_entry_is_from_the_catalog():
    assert set(CASES) == set(ERRORS)
    for key, entry in ERRORS.items():
        if key.startswith("sandbox_"):
            assert "catalog" not in entry.source or "no entry" in entry.source, key
        else:
            assert key in CATALOG and entry.source.endswith(RELEASE), key


@pytest.mark.parametrize("key", sorted(CASES))
def test_the_sandbox_answers_as_the_catalog_says(info, public_app, key):
    response, values = CASES[key](info, public_app)
    status, error, description = answer_of(response)
    if key.startswith("sandbox_"):  # the sandbox's own words: the table is the reference
        entry = ERRORS[key]
        expected = (entry.status, entry.error, entry.description.format(*values))
    else:
        code, catalog_error, catalog_description = CATALOG[key]
        expected = (code, catalog_error, filled(catalog_description, *values))
    if response.is_redirect:  # sent back to the app: the status is the redirect's
        expected = (302,) + expected[1:]
    assert (status, error, description) == expected
