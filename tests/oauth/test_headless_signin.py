
import pytest

from fortellis_nb.local import SandboxClient, sandbox_client
from fortellis_nb.oauth.config import Config
from fortellis_nb.oauth import errors
from fortellis_nb.local.headless import OPEN_THE_PAGE, error_card, page_hint, parse_forms, sign_in
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
    client = sandbox_client(info)
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
    client = SandboxClient(config)
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


# The sandbox's error page, as its contract (sandbox/templates/error.html) states it: the card's
# data-error, data-error-description and data-hint, each registered callback a
# <code data-registered-callback>.
ERROR_PAGE = """<html><body><h1>Bad request</h1>
<div class="card error-card" role="alert" data-error="illegal_redirect_uri"
     data-error-description="The &#39;redirect_uri&#39; parameter must be a Login redirect URI."
     data-hint="Use one of the callbacks &quot;registered&quot;.">
  <p><strong>Error code:</strong> <code>illegal_redirect_uri</code></p>
  <p class="hint"><strong>What to do:</strong> visible words, not the contract</p>
  <ul><li><code data-registered-callback>http://127.0.0.1:8765/callback/</code></li>
      <li><code data-registered-callback> https://example.com/ </code></li></ul>
</div><p class="note">Not a form.</p></body></html>"""


def test_the_error_page_is_read_through_its_contract():
    card = error_card(ERROR_PAGE)
    assert card.error == "illegal_redirect_uri"
    assert card.description == "The 'redirect_uri' parameter must be a Login redirect URI."
    assert card.hint == 'Use one of the callbacks "registered".'
    assert card.registered == ["http://127.0.0.1:8765/callback/", "https://example.com/"]
    assert error_card(SIGN_IN_PAGE) is None
    # The visible text is not part of the contract: without the attributes there is no card.
    assert error_card(ERROR_PAGE.replace("data-error=", "data-other=")) is None


def test_the_hint_is_what_the_page_says_to_do_with_the_registered_callbacks_as_facts():
    hint = page_hint(error_card(ERROR_PAGE))
    assert hint.startswith('Use one of the callbacks "registered".') and "visible words" not in hint
    assert hint.endswith("(Registered for this app: http://127.0.0.1:8765/callback/, https://example.com/)")
    no_advice = error_card(ERROR_PAGE.replace('data-hint="Use one of the callbacks &quot;registered&quot;."',
                                              'data-hint=""').replace("data-registered-callback", "data-x"))
    assert page_hint(no_advice) == OPEN_THE_PAGE


def test_a_redirect_uri_not_registered_is_a_sign_in_error_with_its_code(client, info):
    request = client.authorization_url().url.replace("callback%2F", "nowhere%2F").replace("callback/", "nowhere/")
    with pytest.raises(errors.SignInError) as caught:
        client.sign_in_headless(request)
    assert caught.value.error == "invalid_request"  # Okta's code for a redirect URI not registered
    assert info.redirect_uri in caught.value.hint and "Use exactly one" in caught.value.hint
