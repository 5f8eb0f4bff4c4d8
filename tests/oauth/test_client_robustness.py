"""The client against providers that are not Fortellis: what it must refuse (one FortellisError
that names the token, the claim and the rule), what it must accept, and what it must explain.

``Provider`` is a small OpenID provider on a local port whose token answers each test writes:
the sandbox cannot be made to misbehave, and these are the answers other servers give."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from fortellis_nb.local import SandboxClient, sandbox_client
from fortellis_nb.oauth import FortellisClient, errors, redact
from fortellis_nb.oauth.config import Config
from fortellis_nb.oauth.verify import at_hash, decode

from .conftest import signed_in
from .test_jwt_verification import Key

CLIENT_ID = "other-client"
SECRET = "other-secret-0123456789"
REDIRECT = "https://app.example/callback/"


class Provider:
    """Discovery, keys and a token endpoint answering with ``self.answer(form)``."""

    def __init__(self, local_server, key: Key, *, metadata=None):
        self.key, self.answer, self.forms = key, None, []
        routes = {
            ("GET", "/.well-known/openid-configuration"): lambda h: (200, {}, self.document),
            ("GET", "/keys"): lambda h: (200, {}, {"keys": [key.jwk]}),
            ("POST", "/token"): self._token,
        }
        self.server = local_server(routes)
        self.issuer = self.server.url
        self.document = {"issuer": self.issuer, "authorization_endpoint": self.issuer + "/authorize",
                         "token_endpoint": self.issuer + "/token", "jwks_uri": self.issuer + "/keys",
                         "userinfo_endpoint": self.issuer + "/userinfo", **(metadata or {})}

    def _token(self, handler):
        form = {k: v[0] for k, v in parse_qs(self.server.requests[-1][3].decode()).items()}
        self.forms.append(form)
        return 200, {"Cache-Control": "no-store"}, self.answer(form)

    def id_token(self, nonce, access_token, **claims):
        now = int(time.time())
        base = {"iss": self.issuer, "sub": "user-1", "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": nonce,
                "at_hash": at_hash(access_token)}
        base.update(claims)
        return self.key.sign({k: v for k, v in base.items() if v is not None})

    def access_token(self, **claims):
        now = int(time.time())
        return self.key.sign({"iss": self.issuer, "aud": "https://api.other.example", "sub": "user-1", "iat": now,
                              "exp": now + 300, **claims})

    def client(self, **settings) -> FortellisClient:
        return FortellisClient(Config(issuer=self.issuer, api_key=CLIENT_ID, api_secret=SECRET, redirect_uri=REDIRECT,
                                      **settings))


@pytest.fixture(scope="module")
def key():
    return Key("other-key")


@pytest.fixture
def provider(local_server, key):
    return Provider(local_server, key)


def come_back(client: FortellisClient, scopes="openid offline_access"):
    """The authorize request, and the browser sent back with a code (the provider's side of a sign-in)."""
    request = client.authorization_url(scopes=scopes)
    return request, client.parse_redirect(f"{REDIRECT}?code=code-from-the-other-provider&state={request.state}")


def nonce_of(request) -> str:
    return parse_qs(urlsplit(request.url).query)["nonce"][0]


# --- the ID token -------------------------------------------------------------------

def test_a_response_without_id_token_to_an_openid_request_is_refused(provider):
    provider.answer = lambda form: {"access_token": provider.access_token(), "token_type": "Bearer",
                                    "expires_in": 300, "scope": "openid"}
    client = provider.client()
    _request, response = come_back(client, "openid")
    with pytest.raises(errors.MissingIdTokenError) as caught:
        client.exchange_code(response)
    assert "no id_token" in caught.value.description and "`openid`" in caught.value.description
    assert client.tokens is None  # nothing unverified becomes the client's tokens


def test_no_id_token_is_fine_when_openid_was_not_asked_for(provider):
    provider.answer = lambda form: {"access_token": provider.access_token(), "token_type": "Bearer",
                                    "expires_in": 300, "scope": "api"}
    client = provider.client()
    _request, response = come_back(client, "api")
    assert client.exchange_code(response).id_claims is None


@pytest.mark.parametrize("claim, value, shown", [
    ("exp", "1796110852", '"1796110852" (a string)'),
    ("iat", True, "true (a boolean)"),
    ("auth_time", [1], "[1] (a list)"),
    ("nbf", None, "null"),
])
def test_an_id_token_claim_of_the_wrong_type_is_refused_by_name(provider, claim, value, shown):
    client = provider.client()
    request, response = come_back(client, "openid")

    def answer(form):
        access = provider.access_token()
        claims = decode(provider.id_token(nonce_of(request), access)).claims
        claims[claim] = value
        return {"access_token": access, "token_type": "Bearer", "id_token": provider.key.sign(claims)}

    provider.answer = answer
    with pytest.raises(errors.InvalidClaimError) as caught:
        client.exchange_code(response)
    assert caught.value.description.startswith(f"The ID token's `{claim}` is {shown}")


def test_an_id_token_with_aud_as_a_list_and_azp_is_accepted(provider):
    client = provider.client()
    request, response = come_back(client, "openid")

    def answer(form):
        access = provider.access_token()
        return {"access_token": access, "token_type": "Bearer",
                "id_token": provider.id_token(nonce_of(request), access, aud=[CLIENT_ID, "another"], azp=CLIENT_ID)}

    provider.answer = answer
    assert client.exchange_code(response).id_claims["aud"] == [CLIENT_ID, "another"]


def test_an_id_token_for_several_audiences_without_our_azp_is_refused(provider):
    client = provider.client()
    request, response = come_back(client, "openid")

    def answer(form):
        access = provider.access_token()
        return {"access_token": access, "token_type": "Bearer",
                "id_token": provider.id_token(nonce_of(request), access, aud=[CLIENT_ID, "another"], azp="another")}

    provider.answer = answer
    with pytest.raises(errors.InvalidAudienceError) as caught:
        client.exchange_code(response)
    assert "The ID token's `aud` lists 2 audiences" in caught.value.description


# --- the access token ---------------------------------------------------------------

def test_another_provider_s_access_tokens_are_the_api_s_to_check(provider):
    """OIDC Core 3.1.3.8: a client checks the access token through at_hash only; its audience is not api_providers."""
    client = provider.client()
    request, response = come_back(client, "openid")
    provider.answer = lambda form: (lambda access: {"access_token": access, "token_type": "Bearer",
                                                    "id_token": provider.id_token(nonce_of(request), access)})(
        provider.access_token())
    tokens = client.exchange_code(response)
    assert tokens.access_claims is None and tokens.id_claims["sub"] == "user-1"
    with pytest.raises(errors.ConfigurationError) as caught:
        client.verify(tokens.access_token)
    assert "access_token_audience" in caught.value.hint


def test_a_caller_may_ask_for_an_access_token_audience_and_is_told_which_token_failed(provider):
    client = provider.client()
    client.access_token_audience = "https://api.mine.example"
    request, response = come_back(client, "openid")
    provider.answer = lambda form: (lambda access: {"access_token": access, "token_type": "Bearer",
                                                    "id_token": provider.id_token(nonce_of(request), access)})(
        provider.access_token())
    with pytest.raises(errors.InvalidAudienceError) as caught:
        client.exchange_code(response)
    assert caught.value.description == ("The access token's `aud` is \"https://api.other.example\"; "
                                        "expected 'https://api.mine.example'.")


def test_the_sandbox_s_access_tokens_are_still_checked_as_fortellis_access_tokens(config):
    client = SandboxClient(config)
    assert client.access_audience == "api_providers"
    tokens = client.exchange_code(signed_in(client))
    assert tokens.access_claims["aud"] == "api_providers"


# --- offline_access, prompt=consent and the refresh token ---------------------------

def test_offline_access_brings_prompt_consent_to_other_providers_only(provider, client):
    other = provider.client().authorization_url(scopes="openid offline_access")
    assert other.params["prompt"] == "consent"
    assert "prompt" not in provider.client().authorization_url(scopes="openid").params
    assert "prompt" not in client.authorization_url(scopes="openid offline_access").params  # the sandbox (Okta)


def test_a_provider_that_does_not_support_prompt_consent_is_not_sent_it(local_server, key):
    provider = Provider(local_server, key, metadata={"prompt_values_supported": ["none", "login"]})
    assert "prompt" not in provider.client().authorization_url(scopes="openid offline_access").params


def test_a_dropped_offline_access_is_named_when_the_refresh_cannot_happen(provider):
    client = provider.client()
    request, response = come_back(client)
    provider.answer = lambda form: (lambda access: {"access_token": access, "token_type": "Bearer", "scope": "openid",
                                                    "id_token": provider.id_token(nonce_of(request), access)})(
        provider.access_token())
    tokens = client.exchange_code(response)
    assert tokens.dropped_scopes == ("offline_access",) and tokens.refresh_token is None
    sent = len(client.transcript)
    with pytest.raises(errors.ConfigurationError) as caught:
        client.refresh()
    assert "asked for `offline_access`, and the server left it out" in caught.value.description
    assert "prompt=consent" in caught.value.hint and len(client.transcript) == sent  # nothing sent


def test_a_refresh_without_offline_access_says_the_request_did_not_ask(config):
    client = SandboxClient(config)
    client.exchange_code(signed_in(client, scopes="openid"))
    with pytest.raises(errors.ConfigurationError) as caught:
        client.refresh()
    assert "did not ask for `offline_access`" in caught.value.description


def test_a_rotated_refresh_token_replaces_the_old_one(provider):
    client = provider.client()
    request, response = come_back(client)
    issued = iter(f"refresh-{n}" for n in range(1, 10))

    def answer(form):
        access = provider.access_token()
        body = {"access_token": access, "token_type": "Bearer", "scope": "openid offline_access",
                "refresh_token": next(issued)}
        if form["grant_type"] == "authorization_code":
            body["id_token"] = provider.id_token(nonce_of(request), access)
        return body

    provider.answer = answer
    client.exchange_code(response)
    first, second = client.refresh(), client.refresh()
    assert first.refresh_token_status == second.refresh_token_status == "rotated"
    assert [f.get("refresh_token") for f in provider.forms[1:]] == ["refresh-1", "refresh-2"]
    assert client.tokens.refresh_token == "refresh-3"


# --- PKCE -------------------------------------------------------------------------

def test_a_provider_requiring_pkce_gets_the_hint_to_use_it(info, config):
    from fortellis_nb.lessons import sandbox_app
    public = sandbox_app(SandboxClient(config), "Needs PKCE", public=True)
    pretending = SandboxClient(public.config.replace(api_secret="not-a-secret-at-all"))  # so no PKCE by default
    request = pretending.authorization_url(scopes="openid")
    assert "code_challenge" not in request.params
    with pytest.raises(errors.AuthorizationError) as caught:
        pretending.parse_redirect(pretending.sign_in_headless(request))
    assert caught.value.description == "PKCE code challenge is required by the application."
    assert "authorization_url(pkce=True)" in caught.value.hint


def test_a_public_client_uses_pkce_and_sends_no_secret(config):
    from fortellis_nb.lessons import sandbox_app
    spa = sandbox_app(SandboxClient(config), "A single-page app", public=True)
    assert spa.config.public and spa.config.api_secret is None
    request = spa.authorization_url(scopes="openid offline_access")
    assert request.params["code_challenge_method"] == "S256"
    tokens = spa.exchange_code(spa.parse_redirect(spa.sign_in_headless(request)))
    sent = tokens.exchange
    assert "Authorization" not in sent.request_headers
    assert dict(sent.form)["client_id"] == spa.config.api_key and "code_verifier" in dict(sent.form)
    assert spa.refresh().access_token and spa.call_api("/sandbox/v1/dealership").status == 200


# --- the API call -------------------------------------------------------------------

def test_the_access_token_goes_only_under_the_api_base_url(config):
    client = SandboxClient(config)
    client.exchange_code(signed_in(client))
    base = config.api_base_url
    before = len(client.transcript)
    for elsewhere in ("https://evil.example/api/sandbox/v1/dealership", base.replace("127.0.0.1", "localhost"),
                      base + "/../sandbox/admin/progress", base.replace("/api", "/apix") + "/x",
                      base.replace("http://", "http://user@")):
        with pytest.raises(errors.ConfigurationError) as caught:
            client.call_api(elsewhere)
        assert "not under the API base URL" in caught.value.description
    assert len(client.transcript) == before  # nothing was sent
    assert client.call_api(base + "/sandbox/v1/dealership").status == 200


def test_headers_are_left_out_only_on_purpose_and_only_known_ones(config):
    client = SandboxClient(config)
    client.exchange_code(signed_in(client))
    with pytest.raises(errors.GatewayError) as caught:
        client.call_api("/sandbox/v1/dealership", omit=("Subscription-Id",))
    assert caught.value.error == "MISSING-SUBSCRIPTION-ID"
    assert "Subscription-Id" not in client.transcript.last.request_headers
    with pytest.raises(errors.GatewayError) as caught:
        client.call_api("/sandbox/v1/dealership", omit=("Authorization",))
    assert caught.value.error == "MISSING-AUTHORIZATION"
    with pytest.raises(errors.ConfigurationError):
        client.call_api("/sandbox/v1/dealership", omit=("Accept",))


# --- settings: nothing set, the sandbox asked for ------------------------------------

def test_a_bare_client_with_nothing_set_names_both_ways_and_starts_nothing(tmp_path, monkeypatch):
    for name in ("FORTELLIS_ISSUER", "FORTELLIS_API_KEY", "FORTELLIS_API_SECRET", "FORTELLIS_REDIRECT_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FORTELLIS_SANDBOX_STATE", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(errors.ConfigurationError) as caught:
        FortellisClient()
    assert "sandbox_client()" in caught.value.hint and "FORTELLIS_ISSUER" in caught.value.hint
    assert not (tmp_path / "state").exists()


def test_sandbox_client_uses_the_sandbox_even_when_fortellis_settings_are_set(tmp_path, monkeypatch):
    from fortellis_nb.sandbox import stop_sandbox
    monkeypatch.setenv("FORTELLIS_ISSUER", "https://identity.fortellis.io/oauth2/aus1p1ixy7YL8cMq02p7")
    state = tmp_path / "state"
    try:
        client = sandbox_client(state)
        assert client.config.is_sandbox and client.config.issuer.startswith("http://127.0.0.1:")
    finally:
        stop_sandbox(state)


# --- what is shown ------------------------------------------------------------------

def test_codes_are_shortened_wherever_the_client_shows_them(config):
    client = SandboxClient(config)
    response = signed_in(client)
    code = response.code
    assert code not in repr(response) and redact.shorten(code) in repr(response)
    client.exchange_code(response)
    assert code not in client.transcript.last.as_curl() and code not in client.transcript.last.as_python()
    query_form = SandboxClient(config)
    query_form.exchange_code(signed_in(query_form), params_in="query")
    assert "code=" in query_form.transcript.last.as_curl()
    assert signed_in(query_form).code not in str(query_form.transcript)


def test_an_error_report_shortens_a_code_quoted_in_a_message():
    from fortellis_nb.lessons import ErrorReport
    error = errors.RedirectMismatchError("'https://x.example/cb/?code=Ab3dEf6hIj9kLm2oPq5s&state=1' is not ...")
    assert "Ab3dEf6hIj9kLm2oPq5s" not in repr(ErrorReport(error)) + ErrorReport(error)._repr_html_()
