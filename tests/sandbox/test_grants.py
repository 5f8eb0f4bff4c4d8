"""The identity server's rules without HTTP (``sandbox/grants.py``): called with plain values,
over a real store and authority, they answer with Okta's errors as the endpoints do."""

import ast
import base64
import hashlib

import pytest
import requests

from fortellis_nb.sandbox import grants
from fortellis_nb.sandbox.okta import ERRORS, OAuthError
from tests.source import parse


@pytest.fixture
def authority(sandbox):
    return sandbox.authority


def authorize_params(info, **overrides) -> dict:
    params = {"client_id": info.api_key, "redirect_uri": info.redirect_uri, "response_type": "code",
              "scope": "openid offline_access", "state": "s-1"}
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def refused_with(caught, key: str) -> None:
    entry = ERRORS[key]
    assert (caught.error, caught.description) == (entry.error, entry.description)


def test_the_rules_import_no_web_framework():
    tree = parse(open(grants.__file__, encoding="utf-8").read())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported and not any(name.split(".")[0] in ("tornado", "web", "identity") for name in imported)


def test_an_unknown_client_or_callback_is_shown_on_a_page_never_redirected(authority, info):
    with pytest.raises(grants.NotRedirected) as unknown:
        grants.authorize_request(authority, authorize_params(info, client_id="nobody"), None)
    refused_with(unknown.value, "invalid_client_id")
    assert unknown.value.status == 401
    with pytest.raises(grants.NotRedirected) as near:
        grants.authorize_request(authority, authorize_params(info, redirect_uri=info.redirect_uri.rstrip("/")), None)
    refused_with(near.value, "illegal_redirect_uri")
    assert info.redirect_uri in near.value.registered and "trailing slash" in near.value.hint


def test_a_bad_state_is_redirected_without_its_state_other_errors_with_it(authority, info):
    with pytest.raises(grants.Redirected) as bad_state:
        grants.authorize_request(authority, authorize_params(info, state="has space"), None)
    assert bad_state.value.params["state"] is None and bad_state.value.params["error"] == "invalid_request"
    with pytest.raises(grants.Redirected) as bad_scope:
        grants.authorize_request(authority, authorize_params(info, scope="openid nonsense", response_mode="fragment"),
                                 None)
    assert bad_scope.value.params["state"] == "s-1" and bad_scope.value.mode == "fragment"
    refused_with(bad_scope.value.err, "no_matching_scope")


def test_prompt_none_without_a_session_is_login_required(authority, info):
    request = grants.authorize_request(authority, authorize_params(info, prompt="none"), None)
    with pytest.raises(grants.Redirected) as caught:
        grants.session_to_use(authority, request, None)
    refused_with(caught.value.err, "login_required")
    session = {"user_id": "u", "auth_time": authority.now - 100}
    assert grants.session_to_use(authority, request, session) is session
    too_old = grants.authorize_request(authority, authorize_params(info, max_age="10"), None)
    assert grants.session_to_use(authority, too_old, session) is None  # the sign-in page is due


def test_pkce_is_checked_by_s256():
    verifier = "v" * 43
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    grants.check_verifier(challenge, verifier, browser=True)
    with pytest.raises(OAuthError) as caught:
        grants.check_verifier(challenge, "w" * 43, browser=False)
    assert caught.value.key == "pkce_verification_failed"
    with pytest.raises(OAuthError) as browser:
        grants.check_verifier(None, None, browser=True)
    assert browser.value.key == "unsupported_auth_method_browser_request"


def test_client_authentication_reads_one_way_only(authority, info):
    basic = "Basic " + base64.b64encode(f"{info.api_key}:{info.api_secret}".encode()).decode()
    assert grants.authenticate_client(authority.store, basic, {}, {}).api_key == info.api_key
    for authorization, query, params, key in [
        (basic, {}, {"client_secret": info.api_secret}, "multiple_client_credentials"),
        (None, {"client_secret": "x"}, {"client_id": info.api_key}, "client_credentials_in_query"),
        (None, {}, {}, "missing_client_credentials"),
        ("Basic !!", {}, {}, "invalid_basic_auth_creds"),
        (None, {}, {"client_id": info.api_key, "client_secret": "wrong"}, "invalid_client_secret"),
    ]:
        with pytest.raises(OAuthError) as caught:
            grants.authenticate_client(authority.store, authorization, query, params)
        assert caught.value.key == key


def test_a_refresh_asking_for_a_new_scope_is_access_denied(authority, info, tokens):
    app = authority.store.app(info.api_key)
    with pytest.raises(OAuthError) as caught:
        grants.token_response(authority, app, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                               "scope": "openid profile"}, None)
    assert caught.value.error == "access_denied" and "profile" in caught.value.description
    narrowed = grants.token_response(authority, app, {"grant_type": "refresh_token",
                                                      "refresh_token": tokens["refresh_token"], "scope": "openid"}, None)
    assert narrowed["scope"] == "openid"


def test_introspection_and_revocation_of_an_access_token(authority, info, tokens):
    app = authority.store.app(info.api_key)
    assert grants.introspect(authority, app, tokens["access_token"])["active"] is True
    grants.revoke(authority, app, tokens["access_token"])
    assert grants.introspect(authority, app, tokens["access_token"]) == {"active": False}
    assert grants.access_token_claims(authority, tokens["access_token"]) is None


def test_sign_out_needs_an_id_token_of_this_server(authority, info, tokens):
    with pytest.raises(grants.NotRedirected) as caught:
        grants.sign_out(authority, {"id_token_hint": "not-a-token"})
    assert caught.value.error == "invalid_request"
    signing_out = grants.sign_out(authority, {"id_token_hint": tokens["id_token"]})
    assert signing_out.app.api_key == info.api_key and signing_out.target is None
    with pytest.raises(grants.NotRedirected) as elsewhere:
        grants.sign_out(authority, {"id_token_hint": tokens["id_token"],
                                    "post_logout_redirect_uri": "https://evil.example/"})
    refused_with(elsewhere.value, "illegal_post_logout_redirect_uri")


# --- the route table: each admin action and API resource is a route -----------------------

@pytest.mark.parametrize("method, action, status, allow", [
    ("DELETE", "activity", 405, "GET"), ("PUT", "shutdown", 405, "POST"), ("DELETE", "explode", 404, None),
])
def test_each_admin_action_is_its_own_route(info, method, action, status, allow):
    response = requests.request(method, f"{info.base_url}/sandbox/admin/{action}", timeout=10,
                                headers={"Authorization": f"Bearer {info.admin_token}"})
    assert response.status_code == status and response.headers.get("Allow") == allow
    if status == 404:
        listed = response.json()["error_description"]
        assert all(f"{m} {a}" in listed for a, m in
                   [("progress", "GET"), ("activity", "GET"), ("rotate-keys", "POST"), ("shutdown", "POST")])


def test_the_sample_api_resources_are_routes_and_other_paths_or_methods_do_not_exist(info, tokens):
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "Subscription-Id": info.subscription_id,
               "Request-Id": "r-1"}
    ok = requests.get(f"{info.api_base_url}/sandbox/v1/customers/", headers=headers, timeout=10)
    assert ok.status_code == 200 and ok.json()["count"] == 3 and ok.headers["Request-Id"] == "r-1"
    for method, path in [("POST", "sandbox/v1/customers"), ("GET", "sandbox/v1/other"), ("GET", "")]:
        missing = requests.request(method, f"{info.api_base_url}/{path}", headers=headers, timeout=10)
        assert missing.status_code == 404 and missing.json()["code"] == "API-DOES-NOT-EXIST"
        assert missing.json()["requestId"] == "r-1"


@pytest.mark.parametrize("path, headers, kind", [
    ("/api/x", {"Accept": "text/html"}, "gateway"),
    ("/oauth2/aus1/v1/token", {"Accept": "text/html"}, "json"),
    ("/oauth2/aus1/.well-known/openid-configuration", {}, "json"),
    ("/sandbox/apps", {"Accept": "application/json"}, "json"),
    ("/sandbox/apps", {"Content-Type": "Application/JSON"}, "json"),
    ("/sandbox/apps", {"Accept": "text/html, application/json"}, "html"),
    ("/nothing", {}, "html"),
])
def test_one_function_decides_json_or_html(path, headers, kind):
    from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

    from fortellis_nb.sandbox.web import answer_kind
    request = HTTPServerRequest(start_line=RequestStartLine("GET", path, "HTTP/1.1"), headers=HTTPHeaders({"Host": "127.0.0.1", **headers}))
    assert answer_kind(request) == kind
    assert answer_kind(request, json_only=True) == ("gateway" if kind == "gateway" else "json")


def test_not_found_answers_json_to_a_client_that_asks_for_it(info):
    asked = requests.get(f"{info.base_url}/nothing", headers={"Accept": "application/json"}, timeout=10)
    assert asked.status_code == 404 and asked.json()["error"] == "not_found"
    page = requests.get(f"{info.base_url}/nothing", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 404 and page.headers["Content-Type"].startswith("text/html")
