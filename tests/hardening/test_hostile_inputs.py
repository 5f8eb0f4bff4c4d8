"""Hostile inputs, class by class, each with the answer it must get: text that is not text,
nesting thousands deep, callback URLs nothing could use, odd static paths, foreign hosts
and origins. Every invalid input gets a 4xx with the security headers and a message that
names the problem; every valid one is served; nothing reaches the database that a page
could not show; and the sandbox's log stays free of tracebacks (conftest.py).

The expected answer is worked out here, separately from the sandbox's own checks: text by
its code points, callback URLs by construction from valid parts with one known defect
added."""

from __future__ import annotations

import base64
import json
import string
import unicodedata
import uuid
from urllib.parse import quote, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fortellis_nb.sandbox import Sandbox, Settings

from ..sandbox.conftest import HIDDEN

HOSTILE = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    settings_ = Settings(state_dir=tmp_path_factory.mktemp("hostile"), sign_in_failures_per_address=10_000)
    with Sandbox(settings_) as running:
        yield running


@pytest.fixture(scope="module")
def info(sandbox):
    return sandbox.info


def assert_refused(response: requests.Response, status: int, *words: str) -> str:
    """The answer is ``status`` with the security headers, and its message has ``words``."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert "frame-ancestors 'none'" in response.headers.get("Content-Security-Policy", "")
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    text = response.text
    if response.headers.get("Content-Type", "").startswith("application/json"):
        body = response.json()
        text = body.get("error_description") or body.get("message") or json.dumps(body)
    for word in words:
        assert word in text, (word, text[:400])
    assert "Traceback" not in response.text
    return text


def pages_still_render(info):
    for path in ("/", "/sandbox/apps", "/sandbox/users"):
        response = requests.get(info.base_url + path, timeout=10)
        assert response.status_code == 200, (path, response.text[:200])


# --- text that is not text ---------------------------------------------------------------

def plain(value: str) -> bool:
    """The reference: text a person could have typed and can see. Not: controls (Cc), invisible
    formatting such as U+200B or U+202E (Cf), unpaired surrogates (Cs), private-use (Co) and
    unassigned code points (Cn), line and paragraph separators (Zl, Zp)."""
    return not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for c in value)


NASTY_CHARS = st.one_of(st.characters(categories=["Cs"]), st.characters(categories=["Cc"]),
                        st.characters(categories=["Cf", "Co", "Cn", "Zl", "Zp"]),
                        st.sampled_from(["\u2028", "\u200b", "\ufeff", "\u202e", "é", "😀", "\U0010ffff", "＠"]))
NASTY_TEXT = st.builds(lambda a, b, c: a + b + c, st.text(max_size=6), st.text(NASTY_CHARS, min_size=0, max_size=3),
                       st.text(max_size=6))


def as_received(value: str) -> str:
    """What the server reads from the JSON string: an escaped high and low surrogate in a row
    are one character there (RFC 8259 section 7); alone, each stays unpaired."""
    return json.loads(json.dumps(value))


def post_json(url: str, body: dict) -> requests.Response:
    # ensure_ascii keeps unpaired surrogates as \\udXXX escapes, as a hostile client would send them.
    return requests.post(url, data=json.dumps(body, ensure_ascii=True), timeout=10,
                         headers={"Content-Type": "application/json"})


@HOSTILE
@given(name=NASTY_TEXT)
def test_an_app_name_is_text_or_refused(info, name):
    response = post_json(f"{info.base_url}/sandbox/apps", {"name": name, "redirect_uris": ["https://example.com/"]})
    name = as_received(name)
    if plain(name) and 1 <= len(name.strip()) <= 100:
        assert response.status_code == 201, response.text
        assert response.json()["name"] == name.strip()
    elif not plain(name):
        assert_refused(response, 400, "app name", "use plain text")
    else:
        assert_refused(response, 400, "app name", "characters")
    pages_still_render(info)


@HOSTILE
@given(field=st.sampled_from(["username", "password", "name"]), value=NASTY_TEXT)
def test_a_user_s_fields_are_text_or_refused(info, field, value):
    body = {"username": f"u{uuid.uuid4().hex[:12]}@example.com", "password": "long-enough-password", "name": "N"}
    body[field] = body[field] + value if field == "password" else value + body[field]
    response = post_json(f"{info.base_url}/sandbox/users", body)
    if not plain(as_received(body[field])):
        assert_refused(response, 400, field, "use plain text")
    elif field == "username" and response.status_code == 400:  # plain, but no longer an e-mail address
        assert_refused(response, 400, "e-mail address")
    else:
        assert response.status_code == 201, response.text
        shown = field if field != "password" else "username"
        assert response.json()[shown] == as_received(body[shown]).strip()
    pages_still_render(info)


# --- nesting ---------------------------------------------------------------------------

DEPTHS = st.one_of(st.integers(1, 40), st.integers(900, 1100), st.integers(5000, 50_000))


@HOSTILE
@given(depth=DEPTHS, path=st.sampled_from(["/sandbox/apps", "/sandbox/users"]), opener=st.sampled_from("[{"))
def test_json_bodies_nested_deep_are_refused(info, depth, path, opener):
    inner = "[" * depth + "]" * depth if opener == "[" else '{"a":' * depth + "1" + "}" * depth
    body = f'{{"name": {inner}, "username": {inner}}}'.encode()
    response = requests.post(info.base_url + path, data=body, timeout=10, headers={"Content-Type": "application/json"})
    if len(body) > 64 * 1024:
        assert_refused(response, 400, "too large", "at most 65,536")
    elif depth + 1 > 16:
        assert_refused(response, 400, "more than 16 deep")
    else:
        assert_refused(response, 400, "must be text")


def b64url(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


# Deep enough for any parser's recursion, and still within tornado's 64 KiB for a request's
# headers (beyond that, see test_headers_beyond_the_server_s_limit_close_the_connection).
TOKEN_DEPTHS = st.one_of(st.integers(1, 40), st.integers(900, 1100), st.integers(5000, 20_000))


@HOSTILE
@given(depth=TOKEN_DEPTHS, where=st.sampled_from(["header", "claims"]),
       endpoint=st.sampled_from(["userinfo", "introspect", "revoke", "logout", "api"]))
def test_tokens_nested_deep_are_refused_before_anything_reads_them(info, depth, where, endpoint):
    nested = "[" * depth + "]" * depth
    header = f'{{"alg": "RS256", "kid": "x", "n": {nested}}}' if where == "header" else '{"alg": "RS256", "kid": "x"}'
    claims = f'{{"iss": "x", "n": {nested}}}' if where == "claims" else '{"iss": "x"}'
    token = f"{b64url(header)}.{b64url(claims)}.c2ln"
    auth = (info.api_key, info.api_secret)
    if endpoint == "userinfo":
        response = requests.get(f"{info.issuer}/v1/userinfo", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert_refused(response, 401)  # as Okta: no body, the error in the challenge
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    elif endpoint == "introspect":
        response = requests.post(f"{info.issuer}/v1/introspect", data={"token": token}, auth=auth, timeout=10)
        assert response.status_code == 200 and response.json() == {"active": False}
    elif endpoint == "revoke":
        response = requests.post(f"{info.issuer}/v1/revoke", data={"token": token}, auth=auth, timeout=10)
        assert response.status_code == 200
    elif endpoint == "logout":
        response = requests.get(f"{info.issuer}/v1/logout", timeout=10, allow_redirects=False,
                                params={"id_token_hint": token, "post_logout_redirect_uri": info.redirect_uri})
        assert_refused(response, 400, "id_token_hint")
    else:
        response = requests.get(f"{info.api_base_url}/sandbox/v1/dealership", timeout=10, headers={
            "Authorization": f"Bearer {token}", "Subscription-Id": info.subscription_id})
        assert response.status_code == 401 and response.json()["code"] == "INVALID-TOKEN"


def test_headers_beyond_the_server_s_limit_close_the_connection_and_nothing_else(info):
    # tornado's HTTPServer (max_header_size, 64 KiB) closes such a connection without an answer;
    # the server logs no traceback and goes on serving everyone else.
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{info.issuer}/v1/userinfo", headers={"Authorization": "Bearer " + "a" * 70_000}, timeout=10)
    assert requests.get(f"{info.base_url}/sandbox/health", timeout=10).status_code == 200


# --- callback URLs ---------------------------------------------------------------------

LABEL = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12).filter(lambda s: s)
DNS_NAME = st.builds(lambda labels, tld: ".".join(labels + [tld]), st.lists(LABEL, min_size=1, max_size=3),
                     st.sampled_from(["example", "com", "test", "xn--p1ai"]))
HOSTS = st.one_of(DNS_NAME, st.sampled_from(["localhost", "127.0.0.1", "10.0.0.5", "[::1]", "xn--bcher-kva.example",
                                             "a-b.example"]))
PATH_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@"
SEGMENT = st.one_of(st.text(PATH_CHARS, max_size=8), st.sampled_from(["%20", "%C3%A9", "%2F"]))


@st.composite
def valid_callbacks(draw) -> str:
    scheme = draw(st.sampled_from(["http", "https"]))
    port = draw(st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")))
    path = "/".join(draw(st.lists(SEGMENT, max_size=3)))
    query = draw(st.one_of(st.just(""), st.builds(lambda k, v: f"?{k}={v}", st.text(string.ascii_letters, min_size=1,
                                                                                   max_size=5), SEGMENT)))
    return f"{scheme}://{draw(HOSTS)}{port}/{path}{query}"


# One defect at a time, with the words the refusal must say.
DEFECTS = [
    (lambda u: u.replace("://", "://bad host.", 1), "contains a space"),
    (lambda u: u + " ", "contains a space"),
    (lambda u: u + "\t", "control character"),
    (lambda u: u + "\r\nSet-Cookie: x=1", "control character"),
    (lambda u: u.replace("://", "://\x00", 1), "control character"),
    (lambda u: u + "\x0b", "control character"),
    (lambda u: u + "\x7f", "control character"),
    (lambda u: u + "\ud800", "unpaired surrogate"),
    (lambda u: u.replace("://", '://"evil".', 1), "host name is made of letters"),
    (lambda u: u.replace("://", "://'*'; script-src *.", 1), "contains a space"),
    (lambda u: u.replace("://", "://bücher.", 1), "punycode"),
    (lambda u: u.replace("://", "://例え.", 1), "non-ASCII"),
    (lambda u: u + "#fragment", "fragment"),
    (lambda u: u.replace("://", "://user:pass@", 1), "user name or password"),
    (lambda u: "ftp" + u[u.index(":"):], "http:// or https://"),
    (lambda u: u.split("://", 1)[1], "http:// or https://"),
    (lambda u: u + "<script>", "'<'"),
    (lambda u: u + "%zz", "'%'"),
    (lambda u: u + "\\", "'\\\\'"),
    (lambda u: u + "é", "'é'"),
]


def register(info, uris) -> requests.Response:
    return post_json(f"{info.base_url}/sandbox/apps", {"name": "Callback test", "redirect_uris": uris})


@HOSTILE
@given(uri=valid_callbacks())
def test_a_valid_callback_is_registered_and_then_used(info, uri):
    made = register(info, [uri])
    assert made.status_code == 201, made.text
    app = made.json()
    http = requests.Session()
    page = http.get(f"{info.issuer}/v1/authorize", allow_redirects=False, timeout=10, params={
        "client_id": app["api_key"], "response_type": "code", "scope": "openid", "redirect_uri": uri, "state": "s"})
    assert page.status_code == 200, page.text[:300]
    csp = page.headers["Content-Security-Policy"]
    parts = urlsplit(uri)
    expected = f"{parts.scheme}:" if parts.netloc.startswith("[") else f"{parts.scheme}://{parts.netloc}"
    assert csp.endswith(f"form-action 'self' {expected}"), csp
    fields = dict(HIDDEN.findall(page.text), username=info.username, password=info.password, action="allow")
    back = http.post(f"{info.issuer}/v1/authorize", data=fields, allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text[:300]
    assert back.headers["Location"].startswith(uri + ("&" if "?" in uri else "?") + "code=")


@HOSTILE
@given(uri=valid_callbacks(), defect=st.sampled_from(DEFECTS))
def test_a_callback_with_a_defect_is_refused_with_what_is_wrong(info, uri, defect):
    spoil, words = defect
    response = register(info, [spoil(uri)])
    assert_refused(response, 400, "callback URL", words)


def test_the_portal_form_refuses_a_callback_with_a_defect_on_its_page(info):
    http = requests.Session()
    page = http.get(f"{info.base_url}/sandbox/apps", timeout=10)
    csrf = dict(HIDDEN.findall(page.text))["csrf"]
    response = http.post(f"{info.base_url}/sandbox/apps", timeout=10,
                         data={"csrf": csrf, "name": "Form app", "redirect_uris": "https://bücher.example/"})
    assert_refused(response, 400, "punycode", "xn--bcher-kva.example")
    # Nothing the learner typed is lost: the form comes back filled in.
    assert 'value="Form app"' in response.text and ">https://bücher.example/</textarea>" in response.text


def test_the_users_form_comes_back_filled_in_but_for_the_password(info):
    http = requests.Session()
    csrf = dict(HIDDEN.findall(http.get(f"{info.base_url}/sandbox/users", timeout=10).text))["csrf"]
    response = http.post(f"{info.base_url}/sandbox/users", timeout=10, data={
        "csrf": csrf, "username": "nia@example.com", "name": "Nia Ng", "password": "short"})
    assert_refused(response, 400, "password")
    assert 'value="nia@example.com"' in response.text and 'value="Nia Ng"' in response.text
    assert "short" not in response.text


# --- static files ----------------------------------------------------------------------

@HOSTILE
@given(name=st.one_of(st.text(max_size=12), st.sampled_from(["\x00", "%00", "../server.py", "sandbox.css\x00",
                                                            "sandbox.css/", "\ud800", "sandbox.css", "callback.js"]))
       .filter(lambda name: name.strip(".")))  # "/static/.." is "/" by the time a client sends it
def test_static_files_are_the_two_files_or_not_found(info, name):
    response = requests.get(f"{info.base_url}/static/{quote(name.encode('utf-8', 'surrogatepass'), safe='')}",
                            timeout=10)
    if name in ("sandbox.css", "callback.js"):
        assert response.status_code == 200
    else:
        assert response.status_code in (400, 404), (name, response.status_code)
        assert "frame-ancestors 'none'" in response.headers.get("Content-Security-Policy", "")


# --- foreign Host and Origin -----------------------------------------------------------

PATHS = ["/", "/callback/", "/sandbox/apps", "/sandbox/users", "/sandbox/health", "/static/sandbox.css",
         "/api/sandbox/v1/dealership", "/nothing"]


def issuer_paths(info):
    return [urlsplit(info.issuer).path + p for p in ("/v1/authorize", "/v1/token", "/v1/keys",
                                                     "/.well-known/openid-configuration")]


FOREIGN_HOSTS = st.one_of(DNS_NAME.filter(lambda h: h != "localhost" and not h.endswith(".localhost")),
                          st.sampled_from(["evil.example", "localhost.evil.example", "127.0.0.1.nip.io",
                                           "sandbox.example:8765"]))


@HOSTILE
@given(host=FOREIGN_HOSTS, data=st.data())
def test_a_request_naming_a_foreign_host_is_refused_on_every_route(info, host, data):
    path = data.draw(st.sampled_from(PATHS + issuer_paths(info)))
    method = data.draw(st.sampled_from(["GET", "POST"]))
    response = requests.request(method, info.base_url + path, headers={"Host": host}, timeout=10,
                                allow_redirects=False)
    assert_refused(response, 403, "only at its own addresses", host)


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "app.localhost", "127.0.0.1", "127.1.2.3", "[::1]",
                                  "10.0.0.5"])
def test_loopback_names_and_addresses_are_served(info, host):
    port = urlsplit(info.base_url).port
    response = requests.get(f"{info.base_url}/sandbox/health", headers={"Host": f"{host}:{port}"}, timeout=10)
    assert response.status_code == 200


@HOSTILE
@given(origin=st.one_of(st.just("null"), st.builds(lambda h: f"https://{h}", FOREIGN_HOSTS),
                        st.sampled_from(["http://127.0.0.1:1", "https://127.0.0.1"])),
       path=st.sampled_from(["/sandbox/apps", "/sandbox/users", "/sandbox/admin/rotate-keys", "/sandbox/instructor"]))
def test_a_write_from_a_foreign_origin_is_refused(info, origin, path):
    response = requests.post(info.base_url + path, data=json.dumps({"name": "x"}), timeout=10,
                             headers={"Origin": origin, "Content-Type": "application/json"})
    assert_refused(response, 403, "another site", origin)


def test_a_write_from_the_sandbox_s_own_pages_is_served(info):
    made = requests.post(f"{info.base_url}/sandbox/apps", timeout=10, headers={"Origin": info.base_url},
                         json={"name": "Same origin", "redirect_uris": ["https://example.com/"]})
    assert made.status_code == 201
    port = urlsplit(info.base_url).port
    made = requests.post(f"{info.base_url}/sandbox/apps", timeout=10,
                         headers={"Origin": f"http://localhost:{port}", "Host": f"localhost:{port}"},
                         json={"name": "Same origin by name", "redirect_uris": ["https://example.com/"]})
    assert made.status_code == 201


def test_the_sign_in_form_posted_from_another_site_is_refused(info):
    http = requests.Session()
    page = http.get(f"{info.issuer}/v1/authorize", timeout=10, params={
        "client_id": info.api_key, "response_type": "code", "scope": "openid", "redirect_uri": info.redirect_uri,
        "state": "s"})
    fields = dict(HIDDEN.findall(page.text), username=info.username, password=info.password, action="allow")
    response = http.post(f"{info.issuer}/v1/authorize", data=fields, headers={"Origin": "https://evil.example"},
                         allow_redirects=False, timeout=10)
    assert_refused(response, 403, "another site", "https://evil.example")


# --- whatever still escapes a handler ----------------------------------------------------

@pytest.mark.server_errors_expected
@pytest.mark.parametrize("where", ["token", "page", "api"])
def test_an_error_that_escapes_a_handler_is_a_short_500_logged_once(info, monkeypatch, where,
                                                                    no_traceback_in_the_sandbox_log):
    from fortellis_nb.sandbox import gateway, identity, portal

    def broken(*_args, **_kwargs):
        raise RuntimeError("broken on purpose")

    target, call = {
        "token": ((identity.Token, "issue"), lambda: requests.post(
            f"{info.issuer}/v1/token", auth=(info.api_key, info.api_secret), timeout=10,
            data={"grant_type": "client_credentials", "scope": "anonymous"})),
        "page": ((portal.Home, "get"), lambda: requests.get(info.base_url + "/", timeout=10)),
        "api": ((gateway.GatewayHandler, "check_token"), lambda: requests.get(
            f"{info.api_base_url}/sandbox/v1/dealership", headers={"Authorization": "Bearer x"}, timeout=10)),
    }[where]
    monkeypatch.setattr(*target, broken)
    response = call()
    assert response.status_code == 500
    assert "broken on purpose" not in response.text and "Traceback" not in response.text
    assert "unexpected error" in response.text and "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    records = no_traceback_in_the_sandbox_log.records
    assert len(records) == 1 and records[0].exc_info[1].args == ("broken on purpose",)
    monkeypatch.undo()
    assert requests.get(f"{info.base_url}/sandbox/health", timeout=10).status_code == 200
