"""Property-based tests of every sandbox endpoint: whatever a client sends (odd parameters,
duplicates, broken encodings, forged tokens, wrong methods), the sandbox answers without a
500 and with its security headers. One sandbox serves the whole module."""

from __future__ import annotations

import base64
import json
import string

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fortellis_nb.sandbox import Sandbox, Settings

from ..sandbox.conftest import HIDDEN

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with Sandbox(Settings(state_dir=tmp_path_factory.mktemp("fuzz"))) as running:
        yield running


@pytest.fixture(scope="module")
def info(sandbox):
    return sandbox.info


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        yield session


def send(http, method, url, **kwargs):
    kwargs.setdefault("allow_redirects", False)
    kwargs.setdefault("timeout", 10)
    response = http.request(method, url, **kwargs)
    http.cookies.clear()
    assert response.status_code < 500, (method, url, kwargs, response.status_code, response.text[:300])
    csp = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, (method, url, response.status_code)
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") in ("same-origin", "no-referrer")  # no-referrer: the callback
    assert "Traceback" not in response.text
    return response


# --- strategies --------------------------------------------------------------------

TRICKY = ["", " ", "\x00", "\t", "%", "%ff", "\\", "@", "//evil", ";", "#", "?", "&", "=", "\u2028", "\ud7ff",
          "é", "😀", "A" * 300, "null", "[]", "{}", "0", "-1", "1e309", "<script>", "'\"", "..", "%2F"]
TEXT = st.one_of(st.sampled_from(TRICKY), st.text(max_size=24),
                 st.text(alphabet=string.ascii_letters + string.digits + "-._~", max_size=40))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=8)


@st.composite
def jwt_like(draw, info):
    """Tokens shaped like JWTs with odd headers and claims (kid a list, alg none, ...)."""
    header = draw(st.fixed_dictionaries(
        {"alg": st.sampled_from(["RS256", "RS256", "RS256", "none", "HS256", None, 1])},
        optional={"kid": st.one_of(st.lists(st.integers(), max_size=2), st.dictionaries(TEXT, TEXT, max_size=1),
                                   st.integers(), st.floats(allow_nan=False), TEXT),
                  "typ": TEXT}))
    claims = draw(st.one_of(JSON_VALUES, st.fixed_dictionaries({}, optional={
        "iss": st.sampled_from([info.issuer, "x"]), "aud": JSON_VALUES, "exp": JSON_VALUES, "jti": JSON_VALUES,
        "cid": JSON_VALUES, "uid": JSON_VALUES, "scp": JSON_VALUES, "sub": JSON_VALUES})))
    encode = draw(st.sampled_from(["json", "raw"]))
    if encode == "json":
        parts = [b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()),
                 b64url(draw(st.binary(max_size=64)))]
    else:
        parts = [draw(TEXT) for _ in range(draw(st.integers(1, 4)))]
    return ".".join(parts)


def tokens(info):
    return st.one_of(TEXT, jwt_like(info))


def authorization_headers(info):
    basic = st.builds(lambda raw: "Basic " + base64.b64encode(raw).decode(), st.one_of(
        st.binary(max_size=40),
        st.sampled_from([f"{info.api_key}:{info.api_secret}".encode(), f"{info.api_secret}:{info.api_key}".encode(),
                         f"{info.api_key}:".encode(), b":", info.api_key.encode()])))
    return st.one_of(st.none(), basic, st.builds(lambda t: f"Bearer {t}", tokens(info)),
                     st.sampled_from(["Basic", "Bearer", "Basic !!!", "Digest x", " ", f"Bearer {info.admin_token}"]),
                     TEXT)


def pairs(names, values):
    """Parameters as a list of (name, value), duplicates allowed."""
    return st.lists(st.tuples(st.one_of(st.sampled_from(names), TEXT), values), max_size=8)


AUTHORIZE_NAMES = ["client_id", "response_type", "scope", "redirect_uri", "state", "nonce", "code_challenge",
                   "code_challenge_method", "prompt", "max_age", "login_hint", "response_mode"]


def authorize_values(info):
    return st.one_of(TEXT, st.sampled_from([
        info.api_key, info.redirect_uri, "https://example.com/", "code", "token", "openid offline_access",
        "openid", "anonymous", "S256", "plain", "none", "login", "none login", "query", "fragment", "form_post",
        "x" * 43, "abc-123", "10", "-5"]))


def headers_of(values: dict) -> dict:
    """requests sends header values as latin-1: keep the ones that can be sent."""
    out = {}
    for name, value in values.items():
        if value is None:
            continue
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            continue
        if value != value.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            continue  # requests refuses to send these
        out[name] = value
    return out


def as_bytes_pairs(items):
    return [(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass")) for k, v in items]


# --- the issuer's endpoints ----------------------------------------------------------

@FUZZ
@given(data=st.data())
def test_authorize_never_fails(info, http, data):
    params = data.draw(pairs(AUTHORIZE_NAMES, authorize_values(info)))
    base = dict(client_id=info.api_key, redirect_uri=info.redirect_uri, response_type="code",
                scope="openid", state="s")
    if data.draw(st.booleans()):  # mostly valid, one thing odd: reaches deeper checks
        params = list(base.items()) + params
    method = data.draw(st.sampled_from(["GET", "POST"]))
    if method == "GET":
        send(http, "GET", f"{info.issuer}/v1/authorize", params=as_bytes_pairs(params))
    else:
        send(http, "POST", f"{info.issuer}/v1/authorize", data=as_bytes_pairs(params))


@FUZZ
@given(data=st.data())
def test_the_sign_in_form_never_fails(info, http, data):
    fields = {}
    if data.draw(st.booleans()):
        page = http.get(f"{info.issuer}/v1/authorize", params=dict(
            client_id=info.api_key, redirect_uri=info.redirect_uri, response_type="code", scope="openid",
            state="s"))
        fields = dict(HIDDEN.findall(page.text))
    extra = data.draw(pairs(["txn", "csrf", "action", "username", "password"], st.one_of(
        TEXT, st.sampled_from([info.username, info.password, "allow", "deny", fields.get("txn", "")]))))
    items = list(fields.items()) + extra if fields else [("txn", "x")] + extra
    cookies = http.cookies if data.draw(st.booleans()) else None
    response = http.post(f"{info.issuer}/v1/authorize", data=as_bytes_pairs(items), cookies=cookies,
                         allow_redirects=False, timeout=10)
    assert response.status_code < 500, response.text[:300]
    http.cookies.clear()


@FUZZ
@given(data=st.data())
def test_token_never_fails(info, http, data):
    names = ["grant_type", "code", "redirect_uri", "refresh_token", "scope", "code_verifier", "client_id",
             "client_secret"]
    values = st.one_of(TEXT, st.sampled_from([
        "authorization_code", "refresh_token", "client_credentials", "password", info.redirect_uri,
        info.api_key, info.api_secret, "anonymous", "openid offline_access", "x" * 43]))
    form = data.draw(pairs(names, values))
    headers = headers_of({
        "Authorization": data.draw(authorization_headers(info)),
        "Content-Type": data.draw(st.sampled_from([None, "application/x-www-form-urlencoded", "application/json",
                                                    "multipart/form-data", "text/plain", "x"]))})
    body_kind = data.draw(st.sampled_from(["form", "query", "bytes"]))
    if body_kind == "form":
        send(http, "POST", f"{info.issuer}/v1/token", data=as_bytes_pairs(form), headers=headers)
    elif body_kind == "query":
        send(http, "POST", f"{info.issuer}/v1/token", params=as_bytes_pairs(form), headers=headers)
    else:
        send(http, "POST", f"{info.issuer}/v1/token", data=data.draw(st.binary(max_size=200)), headers=headers)


@FUZZ
@given(data=st.data())
def test_bearer_endpoints_never_fail(info, http, data):
    path = data.draw(st.sampled_from(["/v1/userinfo", "/v1/introspect", "/v1/revoke", "/v1/logout", "/v1/keys",
                                      "/.well-known/openid-configuration",
                                      "/.well-known/oauth-authorization-server"]))
    method = data.draw(st.sampled_from(["GET", "POST"]))
    form = data.draw(pairs(["token", "token_type_hint", "client_id", "client_secret", "id_token_hint",
                            "post_logout_redirect_uri", "state"],
                           st.one_of(tokens(info), st.sampled_from([info.api_key, info.redirect_uri]))))
    headers = headers_of({"Authorization": data.draw(authorization_headers(info))})
    kwargs = {"params": as_bytes_pairs(form)} if method == "GET" else {"data": as_bytes_pairs(form)}
    send(http, method, info.issuer + path, headers=headers, **kwargs)


@FUZZ
@given(data=st.data())
def test_another_server_id_or_method_never_fails(info, http, data):
    server_id = data.draw(st.one_of(st.just(info.server_id), st.text(
        alphabet=string.ascii_letters + string.digits + "%.-_~", min_size=1, max_size=20)))
    endpoint = data.draw(st.sampled_from(["authorize", "token", "keys", "userinfo", "introspect", "revoke",
                                          "logout", "nothing"]))
    method = data.draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]))
    send(http, method, f"{info.base_url}/oauth2/{server_id}/v1/{endpoint}")


FORGED_HEADERS = [{"alg": "RS256", "kid": [1]}, {"alg": "RS256", "kid": {"a": 1}}, {"alg": "RS256", "kid": 1.5},
                  {"alg": "RS256", "kid": None}, {"alg": ["RS256"]}, {"alg": "none"}]


@pytest.mark.parametrize("header", FORGED_HEADERS)
@pytest.mark.parametrize("where", ["userinfo", "introspect", "revoke", "logout", "api"])
def test_forged_token_headers_are_refused_not_a_crash(info, http, header, where):
    token = ".".join([b64url(json.dumps(header).encode()), b64url(b'{"iss": "x", "jti": "AT.x"}'), "c2ln"])
    auth = (info.api_key, info.api_secret)
    if where == "userinfo":
        response = send(http, "GET", f"{info.issuer}/v1/userinfo", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
    elif where in ("introspect", "revoke"):
        response = send(http, "POST", f"{info.issuer}/v1/{where}", data={"token": token}, auth=auth)
        assert response.status_code == 200
        assert where == "revoke" or response.json() == {"active": False}
    elif where == "logout":
        response = send(http, "GET", f"{info.issuer}/v1/logout",
                        params={"id_token_hint": token, "post_logout_redirect_uri": info.redirect_uri})
        assert response.status_code == 400 and "Location" not in response.headers  # an error page, as Okta
    else:
        response = send(http, "GET", f"{info.api_base_url}/sandbox/v1/dealership",
                        headers={"Authorization": f"Bearer {token}", "Subscription-Id": info.subscription_id})
        assert response.json()["code"] == "INVALID-TOKEN"


# --- the gateway, the portal, the admin API, static files ------------------------------

@FUZZ
@given(data=st.data())
def test_sample_api_never_fails(info, http, data):
    resource = data.draw(st.sampled_from(["dealership", "customers", "other"]))
    headers = headers_of({
        "Authorization": data.draw(authorization_headers(info)),
        "Subscription-Id": data.draw(st.one_of(st.none(), TEXT, st.sampled_from([info.subscription_id, "test"]))),
        "Request-Id": data.draw(st.one_of(st.none(), TEXT))})
    method = data.draw(st.sampled_from(["GET", "GET", "POST", "DELETE"]))
    send(http, method, f"{info.api_base_url}/sandbox/v1/{resource}", headers=headers)


@FUZZ
@given(data=st.data())
def test_portal_json_never_fails(info, http, data):
    path = data.draw(st.sampled_from(["/sandbox/apps", "/sandbox/users"]))
    body = data.draw(st.one_of(
        JSON_VALUES,
        st.fixed_dictionaries({}, optional={
            "name": JSON_VALUES, "redirect_uris": st.one_of(JSON_VALUES, st.lists(TEXT, max_size=12)),
            "public": JSON_VALUES, "username": st.one_of(TEXT, st.builds(lambda t: f"{t}@example.com", TEXT)),
            "password": JSON_VALUES})))
    raw = data.draw(st.one_of(st.just(None), st.binary(max_size=60)))
    payload = json.dumps(body).encode() if raw is None else raw
    send(http, "POST", info.base_url + path, data=payload, headers={"Content-Type": "application/json"})


@FUZZ
@given(data=st.data())
def test_portal_pages_never_fail(info, http, data):
    path = data.draw(st.sampled_from(["/", "/callback/", "/callback", "/sandbox/apps", "/sandbox/users",
                                      "/sandbox/health"]))
    query = data.draw(pairs(["code", "state", "error", "error_description", "iss", "x"], TEXT))
    accept = data.draw(st.sampled_from([None, "application/json", "text/html", "*/*", "application/json, text/html"]))
    method = data.draw(st.sampled_from(["GET", "GET", "POST", "PUT", "DELETE"]))
    form = data.draw(pairs(["csrf", "name", "redirect_uris", "public", "username", "password"], TEXT))
    send(http, method, info.base_url + path, params=as_bytes_pairs(query), data=as_bytes_pairs(form) or None,
         headers=headers_of({"Accept": accept}))


@FUZZ
@given(data=st.data())
def test_admin_api_never_fails(info, http, data):
    action = data.draw(st.one_of(st.sampled_from(["activity", "rotate-keys", "purge", "x"]),
                                 st.text(alphabet=string.ascii_lowercase + "-", min_size=1, max_size=12)))
    token = data.draw(st.one_of(st.just(info.admin_token), TEXT))
    method = data.draw(st.sampled_from(["GET", "POST", "DELETE"]))
    if action == "rotate-keys" and token == info.admin_token:
        token = token + "x"  # rotating keys is tested elsewhere; it would slow every later example
    send(http, method, f"{info.base_url}/sandbox/admin/{action}",
         headers=headers_of({"Authorization": f"Bearer {token}"}))


@FUZZ
@given(path=st.one_of(st.sampled_from(["sandbox.css", "callback.js", "../server.py", "%2e%2e/server.py",
                                       "..%2fserver.py", "", "nothing.css", "sandbox.css/"]),
                      st.text(alphabet=string.ascii_letters + "./%-_~", max_size=20)))
def test_static_files_never_fail(info, http, path):
    response = send(http, "GET", f"{info.base_url}/static/{path}")
    assert "import " not in response.text  # never the server's own source


@FUZZ
@given(path=st.text(alphabet=string.ascii_letters + string.digits + "/%.-_~;@!$&'()*+,=:", max_size=40),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]))
def test_any_path_never_fails(info, http, path, method):
    send(http, method, f"{info.base_url}/{path.lstrip('/')}")


@pytest.mark.parametrize("where", ["sign-in form", "portal form", "swapped credentials"])
def test_non_ascii_where_a_secret_is_compared_is_refused_not_a_crash(info, http, where):
    if where == "sign-in form":
        page = http.get(f"{info.issuer}/v1/authorize", params=dict(
            client_id=info.api_key, redirect_uri=info.redirect_uri, response_type="code", scope="openid", state="s"))
        fields = {**dict(HIDDEN.findall(page.text)), "csrf": "\ud7ff\u00e9"}
        response = send(http, "POST", f"{info.issuer}/v1/authorize", data=as_bytes_pairs(fields.items()))
        assert response.status_code == 403
    elif where == "portal form":
        http.get(f"{info.base_url}/sandbox/apps")
        response = send(http, "POST", f"{info.base_url}/sandbox/apps", data={"csrf": "é", "name": "x"})
        assert response.status_code == 403
    else:
        raw = f"{info.api_secret}:é".encode()
        response = send(http, "POST", f"{info.issuer}/v1/token", data={"grant_type": "client_credentials"},
                        headers={"Authorization": "Basic " + base64.b64encode(raw).decode()})
        assert response.status_code == 401
