
import pytest

from fortellis_nb.local import sandbox_client
from fortellis_nb.oauth import errors
from fortellis_nb.oauth.authorize import PendingStates, build_authorization_url
from fortellis_nb.oauth.redirect import parse_redirect

REDIRECT = "https://example.com/"
STATE = "f8f5df39-cac3-41ea-a56c-6f6cf18f1be7"


def parse(url, **kwargs):
    kwargs.setdefault("expected_state", STATE)
    return parse_redirect(url, redirect_uri=REDIRECT, **kwargs)


def test_the_tutorials_refresh_example_parses():
    response = parse(f"https://example.com/?code=YqCyB3IS9xCAYJSCsd6F&state={STATE}")
    assert response.code == "YqCyB3IS9xCAYJSCsd6F" and response.state == STATE


def test_surrounding_whitespace_and_quotes_are_forgiven():
    assert parse(f"  'https://example.com/?code=abc&state={STATE}'\n").code == "abc"


def test_the_tutorials_malformed_form_is_accepted_with_a_warning():
    with pytest.warns(errors.MalformedRedirectWarning, match=r"no '\?'"):
        response = parse(f"https://example.com/code=yJKlFgWW8OGv8a1Ei3BH&state={STATE}")
    assert response.code == "yJKlFgWW8OGv8a1Ei3BH" and response.notes


@pytest.mark.parametrize("text, kind", [
    ("", errors.EmptyRedirectError),
    ("   ", errors.EmptyRedirectError),
    ("yJKlFgWW8OGv8a1Ei3BH", errors.NotAURLError),
    (f"code=abc&state={STATE}", errors.NotAURLError),
    ("ftp://example.com/?code=abc", errors.NotAURLError),
    ("https://example.com/?state=" + STATE, errors.MissingCodeError),
    ("https://example.com/?code=&state=" + STATE, errors.MissingCodeError),
    (f"https://example.com/?code=a&code=b&state={STATE}", errors.DuplicateParameterError),
    (f"https://example.com/?code=a&state={STATE}&state={STATE}", errors.DuplicateParameterError),
    (f"http://example.com/?code=a&state={STATE}", errors.RedirectMismatchError),
    (f"https://evil.example/?code=a&state={STATE}", errors.RedirectMismatchError),
    (f"https://example.com:8443/?code=a&state={STATE}", errors.RedirectMismatchError),
    (f"https://example.com/other/?code=a&state={STATE}", errors.RedirectMismatchError),
    ("https://example.com/?code=a&state=forged", errors.StateMismatchError),
    ("https://example.com/?code=a", errors.MissingStateError),
])
def test_bad_input_gets_a_typed_error_with_a_hint(text, kind):
    with pytest.raises(kind) as caught:
        parse(text)
    assert isinstance(caught.value, errors.RedirectParseError) and isinstance(caught.value, ValueError)
    assert caught.value.hint and caught.value.description


def test_a_pasted_code_alone_is_told_to_paste_the_whole_url():
    with pytest.raises(errors.NotAURLError, match="code=abc") as caught:
        parse("code=abc&state=x")
    assert "whole URL" in caught.value.hint


def test_missing_trailing_slash_is_named_in_the_hint():
    with pytest.raises(errors.RedirectMismatchError) as caught:
        parse_redirect(f"https://example.com/cb?code=a&state={STATE}", redirect_uri="https://example.com/cb/",
                       expected_state=STATE)
    assert "trailing" in caught.value.hint


def test_default_ports_and_host_case_do_not_matter():
    assert parse(f"https://EXAMPLE.com:443/?code=a&state={STATE}").code == "a"


def test_error_redirect_becomes_authorization_error():
    with pytest.raises(errors.AuthorizationDenied) as caught:
        parse(f"https://example.com/?error=access_denied&error_description=User+is+not+assigned+to+the+client+application.&state={STATE}")
    assert caught.value.error == "access_denied"
    assert caught.value.description == "User is not assigned to the client application."
    assert caught.value.state == STATE
    with pytest.raises(errors.AuthorizationError) as caught:
        parse(f"https://example.com/?error=invalid_scope&error_description=The+requested+scope+is+invalid&state={STATE}")
    assert caught.value.error == "invalid_scope" and not isinstance(caught.value, errors.AuthorizationDenied)
    assert "scopes" in caught.value.hint


def test_each_state_works_once():
    states = PendingStates()
    request = build_authorization_url("https://x.example/v1/authorize", client_id="k", redirect_uri=REDIRECT)
    states.add(request)
    url = f"https://example.com/?code=abc&state={request.state}"
    first = parse_redirect(url, redirect_uri=REDIRECT, states=states)
    assert first.request is request
    # The same redirect read again (pasted in two places) is the same answer...
    assert parse_redirect(url, redirect_uri=REDIRECT, states=states) is first
    # ...but another code for an answered state is a replay.
    with pytest.raises(errors.StateReusedError):
        parse_redirect(url.replace("code=abc", "code=abd"), redirect_uri=REDIRECT, states=states)
    with pytest.raises(errors.StateMismatchError) as caught:
        parse_redirect("https://example.com/?code=abc&state=other", redirect_uri=REDIRECT, states=states)
    assert not isinstance(caught.value, errors.StateReusedError)


def test_the_authorize_url_pasted_instead_of_the_redirect_says_so(client):
    request = client.authorization_url()
    with pytest.raises(errors.AuthorizeURLPastedError) as caught:
        client.parse_redirect(request.url)
    assert "This is the authorize URL" in caught.value.description and "address bar" in caught.value.hint
    assert request.state in client.states  # nothing was used up


def test_a_response_from_another_issuer_is_refused():
    with pytest.raises(errors.RedirectParseError, match="issuer"):
        parse(f"https://example.com/?code=a&state={STATE}&iss=https%3A%2F%2Fevil.example",
              issuer="https://good.example")
    assert parse(f"https://example.com/?code=a&state={STATE}&iss=https%3A%2F%2Fgood.example",
                 issuer="https://good.example").iss == "https://good.example"


# --- against the sandbox ----------------------------------------------------------

def test_real_redirect_from_the_sandbox(client):
    request = client.authorization_url()
    response = client.parse_redirect(client.sign_in_headless(request))
    assert response.request is request and response.state == request.state
    assert client.parse_redirect(f"{client.config.redirect_uri}?code={response.code}&state={request.state}") \
        is response
    with pytest.raises(errors.StateReusedError):
        client.parse_redirect(f"{client.config.redirect_uri}?code=another-{response.code}&state={request.state}")


def test_declining_at_the_sandbox_is_access_denied(info):
    # The consent demo app asks for consent; Don't allow is access_denied.
    client = sandbox_client(info, api_key=info.consent_api_key,
                                                 api_secret=info.consent_api_secret)
    request = client.authorization_url()
    with pytest.raises(errors.AuthorizationDenied) as caught:
        client.parse_redirect(client.sign_in_headless(request, allow=False))
    assert caught.value.state == request.state
    assert request.state not in client.states


def test_unknown_scope_at_the_sandbox_is_invalid_scope(client):
    request = client.authorization_url(scopes="openid dealer:everything")
    with pytest.raises(errors.AuthorizationError) as caught:
        client.parse_redirect(client.sign_in_headless(request))
    assert caught.value.error == "invalid_scope"


def test_unassigned_user_is_refused_by_the_sandbox(client):
    request = client.authorization_url()
    redirect = client.sign_in_headless(request, username="unassigned@example.com")
    with pytest.raises(errors.AuthorizationDenied, match="not assigned"):
        client.parse_redirect(redirect)


def test_prompt_none_without_a_session_is_login_required(client):
    request = client.authorization_url(prompt="none")
    with pytest.raises(errors.AuthorizationError) as caught:
        client.parse_redirect(client.sign_in_headless(request))
    assert caught.value.error == "login_required" and "prompt=none" in caught.value.hint
