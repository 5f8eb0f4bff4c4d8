"""Neighbours on one hub: on The Littlest JupyterHub or with a local spawner every user's
server runs on the same machine, so learner2 can send any HTTP request to the port of
learner1's sandbox (through learner2's own jupyter-server-proxy, or from a terminal). The
neighbour here has that and nothing else: no server.json, no admin token, none of the
owner's cookies. What the sandbox lets them see and do, and what it refuses, with its
exact answers."""

from __future__ import annotations

import html
import secrets
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests

from fortellis_nb.sandbox import Sandbox, Settings
from fortellis_nb.sandbox.authority import DEMO_PASSWORD

from .conftest import HIDDEN, Browser, exchange, pkce_pair, redirect_params, token_request

OWNER_PREFIX = "/user/learner1/"
NEIGHBOUR_PREFIX = "/user/learner2/"
HUB_ADDRESS = "203.0.113.7"  # a hub reached by its IP address, as a TLJH often is
OWNER_USER = ("owner@example.com", "only-the-owner-knows-this")
NO_CREDENTIALS = {"error": "invalid_client", "error_description": "No client credentials found."}
INVALID_CLIENT = {"error": "invalid_client",
                  "error_description": "Client authentication failed. Either the client or the client credentials "
                                       "are invalid."}
INVALID_SECRET = {"error": "invalid_client",
                  "error_description": "The client secret supplied for a confidential client is invalid."}
NEEDS_ADMIN_TOKEN = "unauthorized"


@pytest.fixture
def sandbox(tmp_path, clock):
    """learner1's own sandbox, started by their kernel on the hub."""
    with Sandbox(Settings(state_dir=tmp_path / "learner1", clock=clock, hub_prefix=OWNER_PREFIX)) as running:
        yield running


def port_of(info) -> int:
    return urlsplit(info.base_url).port


def proxy_headers(prefix: str, port: int, host: str = HUB_ADDRESS) -> dict:
    """What jupyter-server-proxy under ``prefix`` sends along with a browser's request."""
    return {"Host": host, "X-Forwarded-Context": f"{prefix}proxy/{port}", "X-Forwarded-Proto": "http"}


class Neighbour:
    """learner2, who knows the owner's port and nothing else. Everything else they use they
    read from the sandbox itself (its issuer from /sandbox/health, the apps from
    /sandbox/apps) or from its sign-in page (the demo users' password)."""

    def __init__(self, port: int, host: str = HUB_ADDRESS):
        self.base = f"http://127.0.0.1:{port}"
        self.headers = proxy_headers(NEIGHBOUR_PREFIX, port, host)
        self.http = requests.Session()
        self.http.headers.update(self.headers)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.base + path, allow_redirects=False, timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.http.post(self.base + path, allow_redirects=False, timeout=10, **kwargs)

    @property
    def issuer(self) -> str:
        return self.get("/sandbox/health").json()["issuer"]

    def apps(self) -> list[dict]:
        return self.get("/sandbox/apps", headers={"Accept": "application/json"}).json()

    def register_app(self, **fields) -> dict:
        answer = self.post("/sandbox/apps", json={"name": "Neighbour's App",
                                                  "redirect_uris": ["https://neighbour.example/cb"], **fields})
        assert answer.status_code == 201, answer.text
        return answer.json()

    def browser(self, api_key: str, redirect_uri: str) -> Browser:
        """A browser of the neighbour's, for an app they name, signing in as a demo user."""
        browser = Browser(SimpleNamespace(issuer=self.issuer, api_key=api_key, redirect_uri=redirect_uri,
                                          username="learner@example.com", password=DEMO_PASSWORD))
        browser.http.headers.update(self.headers)
        return browser

    def code_for(self, api_key: str, redirect_uri: str, **overrides) -> str:
        return self.browser(api_key, redirect_uri).sign_in(**overrides)["code"]


@pytest.fixture
def neighbour(info):
    return Neighbour(port_of(info))


@pytest.fixture
def owner_browser(info):
    """learner1's browser, which reaches their sandbox through their own proxy."""
    browser = Browser(info)
    browser.http.headers.update(proxy_headers(OWNER_PREFIX, port_of(info)))
    return browser


@pytest.fixture
def owner(info, owner_browser):
    """What learner1 has made in their sandbox: a user of their own, an app, tokens."""
    created = requests.post(f"{info.base_url}/sandbox/users", timeout=10, json={
        "username": OWNER_USER[0], "password": OWNER_USER[1], "name": "Owen Owner",
        "claims": {"dealer_role": "sales"}})
    assert created.status_code == 201, created.text
    app = requests.post(f"{info.base_url}/sandbox/apps", timeout=10, json={
        "name": "Owner's App", "redirect_uris": [info.redirect_uri]}).json()
    code = owner_browser.sign_in()["code"]
    tokens = exchange(info, code)
    assert tokens.status_code == 200, tokens.text
    return SimpleNamespace(app=app, code=code, tokens=tokens.json())


def secrets_of(info, owner, *more) -> list[str]:
    return [info.api_secret, info.consent_api_secret, info.admin_token, owner.app["api_secret"], OWNER_USER[1],
            owner.code, *(owner.tokens[kind] for kind in ("access_token", "refresh_token", "id_token")), *more]


PAGES = ["/", "/sandbox/apps", "/sandbox/users", "/sandbox/subscriptions", "/sandbox/health",
         "/sandbox/instructor", "/callback/", "/signed-out/", "/sandbox/admin/progress", "/sandbox/admin/activity",
         "/api/sandbox/v1/dealership"]


# --- through the neighbour's own proxy, with the hub's name --------------------------------

@pytest.mark.parametrize("method, path", [("GET", "/"), ("GET", "/sandbox/apps"), ("GET", "/sandbox/health"),
                                          ("POST", "/sandbox/users"), ("GET", "/oauth2/x/v1/authorize"),
                                          ("POST", "/oauth2/x/v1/token")])
def test_through_the_neighbours_proxy_by_the_hubs_name_every_route_is_refused(info, method, path):
    neighbour = Neighbour(port_of(info), host="hub.example.org")
    answer = neighbour.http.request(method, neighbour.base + path, json={} if method == "POST" else None,
                                    allow_redirects=False, timeout=10)
    assert answer.status_code == 403
    assert ("This sandbox answers only at its own addresses, and 'hub.example.org' is not one of them."
            in html.unescape(answer.text))


# --- what the neighbour can read ---------------------------------------------------------

def test_no_page_or_json_shows_a_secret_a_password_or_a_token(info, owner, neighbour):
    mine = neighbour.register_app()  # shown its own secret once, when it registers
    shown = []
    for path in PAGES + [f"/oauth2/{info.server_id}/.well-known/openid-configuration",
                         f"/oauth2/{info.server_id}/v1/keys"]:
        for accept in ("text/html", "application/json"):
            answer = neighbour.get(path, headers={"Accept": accept})
            assert answer.status_code in (200, 401), (path, answer.status_code)
            shown.append(answer.text)
    text = "\n".join(shown)
    for secret in secrets_of(info, owner, mine["api_secret"]):
        assert secret not in text
    assert "pbkdf2_sha256$" not in text  # no password hash either
    apps = neighbour.apps()
    assert {app["api_key"] for app in apps} >= {info.api_key, owner.app["api_key"], mine["api_key"]}
    assert not any("api_secret" in app for app in apps)
    users = neighbour.get("/sandbox/users", headers={"Accept": "application/json"}).json()
    assert OWNER_USER[0] in [user["username"] for user in users]
    assert all(set(user) == {"id", "username", "name", "email", "claims"} for user in users)


# --- what the neighbour can change -------------------------------------------------------

def test_a_user_whose_username_exists_is_refused(info, owner, neighbour):
    for username in (OWNER_USER[0], OWNER_USER[0].upper(), "learner@example.com"):
        answer = neighbour.post("/sandbox/users", json={"username": username, "password": "the-neighbours-own"})
        assert answer.status_code == 400
        assert answer.json() == {"error": "invalid_request",
                                 "error_description": f"There is already a user {username!r}."}
    # The portal's form says the same.
    form = neighbour.get("/sandbox/users")
    fields = dict(HIDDEN.findall(form.text), username=OWNER_USER[0], password="the-neighbours-own")
    page = neighbour.post("/sandbox/users", data=fields)
    assert page.status_code == 400 and f"There is already a user {OWNER_USER[0]!r}." in html.unescape(page.text)
    # The owner's password is still the one that works.
    refused = neighbour.browser(info.api_key, "https://example.com/")
    assert refused.submit(refused.authorize(), username=OWNER_USER[0], password="the-neighbours-own").status_code == 401
    assert owner_signs_in(info, *OWNER_USER).status_code == 302


def owner_signs_in(info, username, password) -> requests.Response:
    browser = Browser(info)
    return browser.submit(browser.authorize(prompt="login"), username=username, password=password)


@pytest.mark.parametrize("path", ["/sandbox/users", "/sandbox/apps", "/sandbox/subscriptions"])
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_nothing_changes_or_removes_a_user_an_app_or_a_subscription(neighbour, path, method):
    answer = neighbour.http.request(method, neighbour.base + path, json={"username": OWNER_USER[0]}, timeout=10)
    assert answer.status_code == 405 and answer.headers["Allow"] == "GET, POST"
    assert answer.json()["error_description"] == f"{method} is not what {path} answers; use GET or POST."


def test_a_registration_naming_the_owners_api_key_makes_a_new_app(info, neighbour):
    before = next(app for app in neighbour.apps() if app["api_key"] == info.api_key)
    made = neighbour.register_app(api_key=info.api_key, name=before["name"])
    assert made["api_key"] != info.api_key
    assert next(app for app in neighbour.apps() if app["api_key"] == info.api_key) == before


def test_a_subscription_for_the_owners_app_serves_no_other_app(info, neighbour):
    activated = neighbour.post("/sandbox/subscriptions", json={"api_key": info.api_key, "dealership": "Mine"})
    assert activated.status_code == 201
    mine = neighbour.register_app()
    token = requests.post(f"{neighbour.issuer}/v1/token", timeout=10, auth=(mine["api_key"], mine["api_secret"]),
                          data={"grant_type": "client_credentials", "scope": "anonymous"}).json()["access_token"]
    call = neighbour.get("/api/sandbox/v1/dealership", headers={
        "Authorization": f"Bearer {token}", "Subscription-Id": activated.json()["subscription_id"]})
    assert call.status_code == 403 and call.json()["code"] == "SUBSCRIPTION-MISMATCH"


# --- the instructor's and the admin's --------------------------------------------------------

@pytest.mark.parametrize("method, action", [("GET", "progress"), ("GET", "activity"), ("POST", "rotate-keys"),
                                            ("POST", "shutdown")])
@pytest.mark.parametrize("authorization", [None, "Bearer guess", "Basic Z3Vlc3M6Z3Vlc3M="])
def test_admin_actions_refuse_without_the_admin_token(info, neighbour, method, action, authorization):
    keys = neighbour.get(f"/oauth2/{info.server_id}/v1/keys").json()
    answer = neighbour.http.request(method, f"{neighbour.base}/sandbox/admin/{action}", timeout=10,
                                    headers={"Authorization": authorization} if authorization else {})
    assert answer.status_code == 401 and answer.json()["error"] == NEEDS_ADMIN_TOKEN
    assert "admin_token" in answer.json()["error_description"]
    # Neither stopped nor rotated.
    assert neighbour.get("/sandbox/health").json()["status"] == "ok"
    assert neighbour.get(f"/oauth2/{info.server_id}/v1/keys").json() == keys


@pytest.mark.parametrize("token", ["", "guess", "a-guess-as-long-as-the-token"])
def test_the_instructor_page_refuses_without_the_admin_token(owner, neighbour, token):
    token = secrets.token_urlsafe(32) if token.startswith("a-guess") else token
    answer = neighbour.post("/sandbox/instructor", data={"admin_token": token})
    assert answer.status_code == 401
    assert "not this sandbox&#x27;s admin token" in answer.text and " status --state " in answer.text
    assert "Owner's App" not in html.unescape(answer.text)


# --- the identity server's endpoints ---------------------------------------------------------

def test_a_code_for_the_owners_app_cannot_be_exchanged_without_its_secret(info, neighbour):
    code = neighbour.code_for(info.api_key, "https://example.com/")
    token = f"{neighbour.issuer}/v1/token"
    grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": "https://example.com/"}
    for kwargs, refusal in [({}, NO_CREDENTIALS),
                            ({"data": {**grant, "client_id": info.api_key}}, INVALID_CLIENT),
                            ({"auth": (info.api_key, "a-guess")}, INVALID_SECRET),
                            ({"data": {**grant, "client_id": info.api_key, "client_secret": ""}}, INVALID_CLIENT)]:
        answer = requests.post(token, **{"data": grant, **kwargs}, timeout=10)
        assert answer.status_code == 401 and answer.json() == refusal, kwargs
    mine = neighbour.register_app(redirect_uris=["https://example.com/"])
    answer = requests.post(token, data=grant, auth=(mine["api_key"], mine["api_secret"]), timeout=10)
    assert answer.status_code == 400 and answer.json() == {
        "error": "invalid_grant", "error_description": "The grant was issued to another client. Please make sure "
        "the 'client_id' matches the one used at the authorize request."}
    # A code with a challenge of the neighbour's own: PKCE does not stand in for the secret.
    verifier, challenge = pkce_pair()
    code = neighbour.code_for(info.api_key, "https://example.com/", code_challenge=challenge,
                              code_challenge_method="S256")
    answer = requests.post(token, data={**grant, "code": code, "code_verifier": verifier, "client_id": info.api_key},
                           headers={"Origin": "https://example.com"}, timeout=10)
    assert answer.status_code == 401 and answer.json() == INVALID_CLIENT
    # The refusals were about the client: with its secret (the owner's kernel has it) the code works.
    assert exchange(info, code, "https://example.com/", code_verifier=verifier).status_code == 200


def test_a_code_for_the_owners_public_app_needs_the_owners_verifier(info, owner_browser, neighbour):
    public = requests.post(f"{info.base_url}/sandbox/apps", timeout=10, json={
        "name": "Owner's SPA", "redirect_uris": [info.redirect_uri], "public": True}).json()
    verifier, challenge = pkce_pair()
    code = owner_browser.sign_in(client_id=public["api_key"], code_challenge=challenge, code_challenge_method="S256",
                                 scope="openid")["code"]
    # Even a code that reached the neighbour (it did not: it went to the owner's callback page).
    grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": info.redirect_uri,
             "client_id": public["api_key"]}
    token = f"{neighbour.issuer}/v1/token"
    answer = requests.post(token, data=grant, timeout=10)
    assert answer.status_code == 400 and answer.json() == {
        "error": "invalid_request", "error_description": "PKCE code verifier is required by the application."}
    answer = requests.post(token, data={**grant, "code_verifier": pkce_pair()[0]}, timeout=10)
    assert answer.status_code == 400 and answer.json() == {"error": "invalid_grant",
                                                           "error_description": "PKCE verification failed."}
    assert token_request(info, {**grant, "code_verifier": verifier}, auth=None).status_code == 200


@pytest.mark.parametrize("endpoint", ["introspect", "revoke"])
@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_the_owners_tokens_are_not_the_neighbours_to_introspect_or_revoke(info, owner, neighbour, endpoint, kind):
    # Say the neighbour holds the owner's token, which no page shows: without the client's
    # credentials it gets Okta's invalid_client, with its own app's none of the owner's.
    url = f"{neighbour.issuer}/v1/{endpoint}"
    token = {"token": owner.tokens[kind]}
    for kwargs, refusal in [({}, NO_CREDENTIALS), ({"data": {**token, "client_id": info.api_key}}, INVALID_CLIENT),
                            ({"auth": (info.api_key, "a-guess")}, INVALID_SECRET)]:
        answer = requests.post(url, **{"data": token, **kwargs}, timeout=10)
        assert answer.status_code == 401 and answer.json() == refusal, kwargs
        assert answer.headers["WWW-Authenticate"].startswith("Basic ")
    mine = neighbour.register_app()
    answer = requests.post(url, data=token, auth=(mine["api_key"], mine["api_secret"]), timeout=10)
    assert answer.status_code == 200
    if endpoint == "introspect":
        assert answer.json() == {"active": False}
    else:
        assert answer.text == ""  # RFC 7009: 200 whether or not anything was revoked
    # The owner's tokens still work.
    own = requests.post(f"{info.issuer}/v1/introspect", data=token, auth=(info.api_key, info.api_secret), timeout=10)
    assert own.json()["active"] is True
    refreshed = token_request(info, {"grant_type": "refresh_token", "refresh_token": owner.tokens["refresh_token"]})
    assert refreshed.status_code == 200


def test_the_neighbour_cannot_sign_in_as_the_owners_user_without_its_password(info, owner, neighbour):
    browser = neighbour.browser(info.api_key, "https://example.com/")
    for password in (DEMO_PASSWORD, "guess-guess", OWNER_USER[1].upper()):
        answer = browser.submit(browser.authorize(), username=OWNER_USER[0], password=password)
        assert answer.status_code == 401
        assert "Sign-in failed: that username and password do not match a sandbox user." in answer.text
        assert not any(c.name.startswith("sb_session_") for c in browser.http.cookies)


def test_the_neighbours_sign_out_ends_only_the_neighbours_session(info, owner_browser, neighbour):
    owner_browser.sign_in()  # the owner's browser has a session
    mine = neighbour.register_app(post_logout_redirect_uris=["https://neighbour.example/bye"])
    browser = neighbour.browser(mine["api_key"], "https://neighbour.example/cb")
    code = browser.sign_in()["code"]  # as the same demo user the owner signed in as
    id_token = requests.post(f"{neighbour.issuer}/v1/token", auth=(mine["api_key"], mine["api_secret"]), timeout=10,
                             data={"grant_type": "authorization_code", "code": code,
                                   "redirect_uri": "https://neighbour.example/cb"}).json()["id_token"]
    out = browser.http.get(f"{neighbour.issuer}/v1/logout", params={"id_token_hint": id_token}, timeout=10,
                           allow_redirects=False)
    assert out.status_code == 200 and not any(c.name.startswith("sb_session_") for c in browser.http.cookies)
    # The owner is still signed in: prompt=none still gives them a code.
    assert "code" in redirect_params(owner_browser.authorize(prompt="none"))


# --- pages of other sites, and of the hub's own origin, in the owner's browser -------------

def session_cookie(response: requests.Response) -> str:
    return next(c for c in response.raw.headers.getlist("Set-Cookie") if c.startswith("sb_session_"))


def test_on_a_hub_the_owners_session_does_not_follow_a_link_from_another_site(info, owner_browser, neighbour):
    signed_in = owner_browser.submit(owner_browser.authorize())
    assert "SameSite=Strict" in session_cookie(signed_in).split("; ")
    # A link of the neighbour's, opened from a chat or an e-mail, to the authorize endpoint of
    # an app they registered here: the browser sends no Strict cookie with it, so the owner
    # gets the sign-in page, naming that app and where it would send them, and no code.
    mine = neighbour.register_app(name="Totally the Demo App")
    link = requests.get(f"{info.issuer}/v1/authorize", headers=proxy_headers(OWNER_PREFIX, port_of(info)), timeout=10,
                        params=owner_browser.authorize_params(client_id=mine["api_key"],
                                                              redirect_uri="https://neighbour.example/cb"),
                        allow_redirects=False)
    assert link.status_code == 200 and "Totally the Demo App" in link.text
    assert "https://neighbour.example/cb" in link.text and "code=" not in link.headers.get("Location", "")


def test_without_a_hub_the_session_cookie_is_lax(tmp_path):
    with Sandbox(Settings(state_dir=tmp_path / "laptop", hub_prefix=None)) as laptop:
        browser = Browser(laptop.info)
        assert "SameSite=Lax" in session_cookie(browser.submit(browser.authorize())).split("; ")


def test_a_form_without_the_owners_csrf_token_changes_nothing(info, owner_browser, neighbour):
    owner_browser.http.get(f"{info.base_url}/sandbox/users", timeout=10)  # the owner's browser has the form cookie
    origin = {"Origin": f"http://{HUB_ADDRESS}"}  # a page on the hub's origin, the neighbour's
    for kwargs in ({"data": {"username": "planted@example.com", "password": "planted-password"}},
                   {"data": '{"username": "planted@example.com", "password": "planted-password"}',
                    "headers": {**origin, "Content-Type": "text/plain"}}):
        answer = owner_browser.http.post(f"{info.base_url}/sandbox/users", timeout=10,
                                         **{"headers": origin, **kwargs})
        assert answer.status_code == 403
        assert "The form's CSRF token does not match this browser's cookie." in html.unescape(answer.text)
    assert "planted@example.com" not in neighbour.get("/sandbox/users", headers={"Accept": "application/json"}).text


def test_a_page_of_another_site_cannot_write_to_the_sandbox(info, owner_browser):
    url = f"{info.base_url}/sandbox/apps"
    answer = owner_browser.http.post(url, json={"name": "Planted", "redirect_uris": ["https://evil.example/"]},
                                     headers={"Origin": "https://evil.example"}, timeout=10)
    assert answer.status_code == 403 and answer.json()["error_description"].startswith(
        "A page of another site (https://evil.example) may not change this sandbox.")
    # Its script's JSON needs a CORS preflight first, which the sandbox's pages do not answer.
    preflight = owner_browser.http.options(url, timeout=10, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 405 and "Access-Control-Allow-Origin" not in preflight.headers


def test_a_script_on_the_hubs_own_origin_is_the_owner_to_the_sandbox(info, owner_browser):
    # What does not hold: all user servers share the hub's origin (without subdomains), and the
    # sandbox cannot tell a script of a neighbour's page there from the owner's own pages.
    answer = owner_browser.http.post(f"{info.base_url}/sandbox/apps", timeout=10,
                                     json={"name": "Same origin", "redirect_uris": ["https://example.com/"]},
                                     headers={"Origin": f"http://{HUB_ADDRESS}"})
    assert answer.status_code == 201
