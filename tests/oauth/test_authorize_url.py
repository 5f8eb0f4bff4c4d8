from urllib.parse import parse_qs, urlsplit

import requests

from fortellis_nb.oauth.authorize import PARAMETER_HELP, build_authorization_url, code_challenge


def _params(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_url_has_every_parameter_of_the_tutorial():
    request = build_authorization_url("https://identity-dev.fortellis.io/oauth2/aus1ni5i9n9WkzcYa2p7/v1/authorize",
                                      client_id="RRTKerBb7tgRT4K6ES2eQdYJ1z9cHFsv",
                                      redirect_uri="https://example.com/", scopes=["openid"], nonce=False,
                                      state="f8f5df39-cac3-41ea-a56c-6f6cf18f1be7")
    assert request.url == (
        "https://identity-dev.fortellis.io/oauth2/aus1ni5i9n9WkzcYa2p7/v1/authorize?client_id=RRTKerBb7tgRT4K6ES2eQdYJ1z9cHFsv"
        "&response_type=code&scope=openid&redirect_uri=https://example.com/&state=f8f5df39-cac3-41ea-a56c-6f6cf18f1be7")


def test_every_parameter_has_a_one_line_explanation():
    request = build_authorization_url("https://x.example/v1/authorize", client_id="k", redirect_uri="https://example.com/",
                                      scopes="openid offline_access", pkce=True, prompt="login",
                                      login_hint="a@b.c", max_age=300)
    rows = request.explain()
    assert [r[0] for r in rows] == list(request.params)
    for name, value, help_text in rows:
        assert help_text and "\n" not in help_text, name
        assert _params(request.url)[name] == value
    assert set(PARAMETER_HELP) >= set(request.params)
    assert "| `state` |" in request._repr_markdown_()


def test_state_and_nonce_are_fresh_for_every_request(client):
    first, second = client.authorization_url(), client.authorization_url()
    assert first.state != second.state and first.nonce != second.nonce
    assert len(client.states) == 2
    for request in (first, second):
        params = _params(request.url)
        assert params["state"] == request.state and params["nonce"] == request.nonce
        assert set(request.state) <= set("0123456789abcdef-")


def test_pkce_follows_rfc7636_appendix_b():
    verifier, challenge = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert code_challenge(verifier) == challenge
    request = build_authorization_url("https://x.example/v1/authorize", client_id="k",
                                      redirect_uri="https://example.com/", pkce=True)
    assert 43 <= len(request.code_verifier) <= 128
    assert request.params["code_challenge"] == code_challenge(request.code_verifier)
    assert request.params["code_challenge_method"] == "S256"
    assert request.code_verifier not in repr(request)


def test_the_sandbox_shows_its_sign_in_page_for_the_url(client):
    request = client.authorization_url(scopes="openid offline_access", pkce=True)
    assert request.url.startswith(client.config.issuer + "/v1/authorize?")
    page = requests.get(request.url, allow_redirects=False, timeout=10)
    assert page.status_code == 200
    assert 'name="password"' in page.text
