from fortellis_nb.widgets import AuthorizeLink, RedirectCatcher, SettingsForm

from .conftest import sign_in_url, text


def _steps(flow, **kwargs):
    return AuthorizeLink(flow, **kwargs), RedirectCatcher(flow)


def test_paste_see_the_code_checked_and_exchange(flow, client, clock):
    link, catcher = _steps(flow)
    request = link.request
    url = sign_in_url(client, request)
    catcher.url_input.value = url  # a paste: read at once, no Enter needed
    assert catcher.url_input.value == ""  # the code does not stay in the text box
    response = catcher.response
    parsed = text(catcher.parsed)
    assert f"code {response.code[:5]}..." in parsed and response.code not in parsed
    assert f"state {request.state}" in parsed and "state check ✔ pass" in parsed
    assert link.request is not request and link.request.state in client.states  # a fresh link for next time
    # The sandbox says when it issued the code: the countdown runs from there.
    assert response.issue_known
    assert text(catcher.countdown) == "60 seconds left to exchange the code"
    clock.advance(20)
    catcher.tick()
    assert text(catcher.countdown) == "40 seconds left to exchange the code"
    catcher.exchange_button.click()
    assert flow.tokens is not None and catcher.error.value == ""
    assert "Exchanged 20 seconds after it was issued" in text(catcher.countdown)
    assert catcher.exchange_button.disabled  # a code works once
    curl = catcher.request_view.curl_text
    assert "grant_type=authorization_code" in curl and "authorization: Basic " in curl
    assert response.code not in curl and f"code={response.code[:5]}..." in curl
    catcher.request_view.language.value = "Python"
    assert "import requests" in text(catcher.request_view.code)


def test_sign_in_for_me_on_the_sandbox(flow):
    link, catcher = _steps(flow)
    assert catcher.signin_button.description == "Sign in for me (sandbox)"
    assert catcher.signin_button.layout.display is None
    catcher.signin_button.click()
    assert catcher.response is not None and "state check ✔ pass" in text(catcher.parsed)
    assert "Signed in as learner@example.com" in text(catcher.notes)
    fresh = link.request  # the used state was replaced by a fresh authorize URL at once
    assert fresh.state != catcher.response.state and fresh.state in flow.client.states
    catcher.signin_button.click()  # signing in again just works
    assert catcher.response is not None and catcher.response.state == fresh.state


def test_a_wrong_url_is_explained(flow, client):
    link, catcher = _steps(flow)
    catcher.exchange_button.click()
    assert "empty_redirect" in text(catcher.error) and "paste the whole address" in text(catcher.error)
    catcher.url_input.value = "code=abcdefgh&state=x"  # not a whole address: it waits for Read
    assert catcher.url_input.value == "code=abcdefgh&state=x"
    catcher.read_button.click()
    assert "not_a_url" in text(catcher.error) and "paste the whole URL" in text(catcher.error)
    assert catcher.url_input.value == ""
    catcher.url_input.value = "https://elsewhere.example/?code=abcdefgh&state=x"
    box = text(catcher.error)
    assert "redirect_uri_mismatch" in box and "What to do:" in box and "abcdefgh" not in box
    assert "state check not checked" in text(catcher.parsed) and catcher.response is None


def test_a_state_that_does_not_match(flow, client):
    link, catcher = _steps(flow)
    url = sign_in_url(client, link.request).replace(link.request.state, "f8f5df39-cac3-41ea-a56c-6f6cf18f1be7")
    catcher.url_input.value = url
    assert "state_mismatch" in text(catcher.error) and "fresh authorization URL" in text(catcher.error)
    assert "state check ✘ fail" in text(catcher.parsed)
    assert "state f8f5df39-cac3-41ea-a56c-6f6cf18f1be7" in text(catcher.parsed)
    # Exchange, asked now, says the same as the table: not that nothing was read.
    assert catcher.exchange() is None
    said = text(catcher.error)
    assert "state_mismatch" in said and "The address read last was refused" in said and "empty_redirect" not in said


def test_an_expired_code_says_why_before_and_after_the_exchange(flow, clock):
    link, catcher = _steps(flow)
    catcher.signin_button.click()
    clock.advance(61)
    catcher.tick()
    countdown = text(catcher.countdown)
    assert "The code expired 1 second ago" in countdown and "invalid_grant" in countdown
    catcher.exchange_button.click()
    box = text(catcher.error)
    assert "HTTP 400" in box and "invalid_grant: The authorization code is invalid or has expired." in box
    assert "61 seconds old" in box and flow.tokens is None
    assert "61 seconds old" in text(catcher.notes)  # the protocol's warning, shown as a note
    assert "grant_type=authorization_code" in catcher.request_view.curl_text


def test_a_reused_code(flow):
    link, catcher = _steps(flow)
    catcher.signin_button.click()
    catcher.exchange_button.click()
    tokens = flow.tokens
    assert tokens is not None and catcher.exchange_button.disabled
    sent = len(flow.client.transcript)
    catcher.exchange()  # a double click: the second click reaches the kernel before the button is off
    assert len(flow.client.transcript) == sent and flow.tokens is tokens and tokens.revoked is None
    assert "exchanged already" in text(catcher.notes) and catcher.error.value == ""


def test_a_code_used_again_from_a_cell_shows_in_every_widget(flow):
    from fortellis_nb.widgets import TokenInspector
    link, catcher = _steps(flow)
    inspector = TokenInspector(flow)
    catcher.signin_button.click()
    catcher.exchange_button.click()
    import pytest
    from fortellis_nb.oauth import errors
    with pytest.raises(errors.InvalidGrantError):
        flow.client.exchange_code(catcher.response)  # a notebook cell sends the code again
    assert flow.revoked and "exchanged again" in flow.revoked
    assert "revoked" in text(inspector.summary).lower()


def test_swapped_key_and_secret_typed_in_the_settings(flow, sandbox):
    info = sandbox.info
    link, catcher = _steps(flow)
    catcher.signin_button.click()
    form = SettingsForm(flow)
    assert form.api_secret_input.value == "" and form.api_secret_input.description == "API Secret"
    form.api_key_input.value, form.api_secret_input.value = info.api_secret, info.api_key
    form.apply_button.click()
    assert form.api_secret_input.value == "" and "API Secret set (hidden)" in text(form.status)
    assert flow.client.config.api_secret == info.api_key
    catcher.exchange_button.click()
    box = text(catcher.error)
    assert "invalid_client" in box and "swapped" in box and "HTTP 401" in box
    assert info.api_secret not in box


def test_settings_need_a_secret_for_a_new_app(flow):
    form = SettingsForm(flow)
    form.api_key_input.value = "another-key"
    form.apply_button.click()
    assert "The API Secret is not set" in text(form.error)


def press_enter(box) -> None:
    """What Enter in a text box sends the kernel: the front end's "submit" message."""
    box._handle_custom_msg({"event": "submit"}, [])


def test_enter_in_the_box_reads_it_as_read_does(flow):
    link = AuthorizeLink(flow)
    catcher = RedirectCatcher(link)
    catcher.url_input.value = "code=abcdefgh&state=x"  # typed, not a whole address: it waits
    assert catcher.url_input.value == "code=abcdefgh&state=x" and catcher.error.value == ""
    press_enter(catcher.url_input)
    assert "not_a_url" in text(catcher.error) and catcher.url_input.value == ""
    catcher.url_input.value = sign_in_url(flow.client, link.request)  # a paste: read at once
    press_enter(catcher.url_input)  # and Enter after it, on the emptied box, reads nothing more
    assert "state check ✔ pass" in text(catcher.parsed) and catcher.error.value == ""
    assert "read already" not in text(catcher.notes)


def test_a_redirect_pasted_into_more_scopes_is_read_in_the_redirect_box(flow):
    import json

    import ipywidgets

    link = AuthorizeLink(flow)
    catcher = RedirectCatcher(link)
    request = link.request
    url = sign_in_url(flow.client, request)
    code = url.split("code=")[1].split("&")[0]
    shown = []
    link.link.observe(lambda change: shown.append(change["new"]), "value")
    link.more_scopes.value = url  # the first box under the link, committed with Enter
    assert link.more_scopes.value == ""
    assert catcher.response is not None and catcher.response.state == request.state
    assert "state check ✔ pass" in text(catcher.parsed)
    assert "More scopes" in text(catcher.notes) and "Redirect URL" in text(catcher.notes)
    assert "Redirect URL" in text(link.notes)
    assert link.request.scopes == ("openid", "offline_access") and link.request.state in flow.client.states
    state = json.dumps(ipywidgets.Widget.get_manager_state(drop_defaults=False))
    assert code not in state and all(code not in value for value in shown)


def test_a_redirect_in_more_scopes_before_the_redirect_box_was_made(flow):
    """Notebook 02 run cell by cell: the link alone refuses it, and says which box it belongs in."""
    link = AuthorizeLink(flow)
    url = sign_in_url(flow.client, link.request)
    code = url.split("code=")[1].split("&")[0]
    link.more_scopes.value = url
    assert link.more_scopes.value == "" and code not in link.link.value
    assert "not a scope: paste it into the Redirect URL box" in text(link.notes)
    assert link.request.scopes == ("openid", "offline_access")
    catcher = RedirectCatcher(link)
    assert catcher.response is None


def test_the_playground_reads_a_redirect_pasted_into_a_scope_box(client):
    from fortellis_nb.widgets import Playground

    playground = Playground(client, live=False)
    url = sign_in_url(client, playground.authorize.request)
    playground.refresher.scope_input.value = url
    assert playground.refresher.scope_input.value == "" and playground.flow.redirect is not None
    assert "Scope (optional)" in text(playground.catcher.notes) and "Redirect URL" in text(playground.refresher.notes)
    playground.close()


def test_the_exchange_shows_the_token_response_it_got_shortened_and_a_new_redirect_clears_it(flow):
    """Notebook 03 promises the answer: the widget shows the token endpoint's response under the
    request, tokens shortened as everywhere."""
    _link, catcher = _steps(flow)
    catcher.signin_button.click()
    assert catcher.token_answer.value == ""
    catcher.exchange_button.click()
    tokens = flow.tokens
    shown = text(catcher.token_answer)
    assert "HTTP 200" in shown and "the token response" in shown
    for field in ("token_type", "expires_in", "access_token", "scope", "id_token", "refresh_token"):
        assert f'"{field}"' in shown, field
    assert tokens.access_token not in shown and f"\"{tokens.access_token[:5]}...\"" in shown
    assert tokens.refresh_token not in shown and tokens.id_token not in shown
    catcher.signin_button.click()  # a new redirect read: the old answer goes with its code
    assert catcher.token_answer.value == ""
