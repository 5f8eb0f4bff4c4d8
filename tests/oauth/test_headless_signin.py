import pytest

from fortellis_nb.oauth.config import Config
from fortellis_nb.oauth import FortellisClient, errors
from fortellis_nb.oauth.headless import parse_forms, sign_in
from fortellis_nb.oauth.transcript import Http

SIGN_IN_PAGE = """<html><body><form method="post" action="authorize">
<input type="hidden" name="txn" value="t1"><input type="text" name="username">
<input type="password" name="password"><button name="action" value="allow">Allow</button>
<button name="action" value="deny">Deny</button></form></body></html>"""


def test_sign_in_returns_the_redirect_with_code_and_state(client, info):
    request = client.authorization_url()
    redirect = client.sign_in_headless(request)
    assert redirect.startswith(info.redirect_uri + "?")
    assert f"state={request.state}" in redirect and "code=" in redirect


def test_second_sign_in_reuses_the_session_like_a_browser(client):
    client.sign_in_headless(client.authorization_url())
    before = len(client.transcript)
    client.parse_redirect(client.sign_in_headless(client.authorization_url()))
    posts = [e for e in client.transcript.exchanges[before:] if e.method == "POST"
             and not e.url.endswith("/sandbox/codes")]  # asking the code's issue time is not a sign-in
    assert posts == []


def test_wrong_password_is_a_sign_in_error(info):
    client = FortellisClient(Config.from_sandbox(info))
    with pytest.raises(errors.SignInError) as caught:
        client.sign_in_headless(client.authorization_url(), password="wrong-password")
    assert caught.value.hint


def test_refuses_anything_but_the_sandbox(local_server):
    server = local_server({("GET", "/oauth2/default/v1/authorize"): lambda h: (200, {"Content-Type": "text/html"},
                                                                             SIGN_IN_PAGE)})
    url = server.url + "/oauth2/default/v1/authorize?client_id=k&state=s&redirect_uri=https://example.com/"
    with pytest.raises(errors.SandboxOnlyError):
        sign_in(url, username="someone", password="their-password", http=Http())
    assert all(method == "GET" and "authorize" not in path for method, path, _, _ in server.requests)


def test_refuses_a_server_pretending_to_be_another_sandbox(local_server, info):
    health = {"status": "ok", "sandbox": True, "issuer": info.issuer, "server_id": "x"}
    server = local_server({("GET", "/sandbox/health"): lambda h: (200, {}, health)})
    with pytest.raises(errors.SandboxOnlyError):
        sign_in(server.url + "/oauth2/default/v1/authorize?state=s", username="u", password="p")


def test_refuses_real_fortellis_without_contacting_it_with_credentials():
    config = Config(issuer="http://127.0.0.1:9/oauth2/aus1", api_key="k", api_secret="s",
                    redirect_uri="https://example.com/")
    client = FortellisClient(config)
    with pytest.raises(errors.SandboxOnlyError):
        client.sign_in_headless("http://127.0.0.1:9/oauth2/aus1/v1/authorize?state=x", "user", "pass")


def test_form_parser_reads_fields_and_buttons():
    forms, _ = parse_forms(SIGN_IN_PAGE)
    assert len(forms) == 1
    form = forms[0]
    assert form.action == "authorize" and form.method == "post"
    assert form.fields == {"txn": "t1", "username": "", "password": ""}
    assert form.buttons == [("action", "allow"), ("action", "deny")]
    assert form.has("password")
