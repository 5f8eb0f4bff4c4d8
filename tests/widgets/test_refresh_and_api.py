import re

from fortellis_nb.widgets import ApiCaller, AuthorizeLink, RedirectCatcher, RefreshPanel

from .conftest import text


def _exchanged(flow, scopes="openid offline_access"):
    AuthorizeLink(flow, scopes=scopes)
    catcher = RedirectCatcher(flow)
    catcher.signin_button.click()
    catcher.exchange_button.click()
    assert flow.tokens is not None
    return flow.tokens


def test_refresh_shows_what_changed(flow, clock):
    first = _exchanged(flow)
    panel = RefreshPanel(flow)
    clock.advance(10)
    panel.refresh_button.click()
    assert panel.error.value == "" and flow.previous_tokens is first and flow.tokens is not first
    rows = {row.what: row for row in panel.rows}
    assert rows["access token jti"].changed and rows["access token iat"].changed and rows["access token exp"].changed
    assert not rows["refresh_token"].changed
    changes = text(panel.changes)
    assert "The same refresh token came back" in changes and "new" in changes and "same" in changes
    assert first.refresh_token not in panel.changes.value
    assert "grant_type=refresh_token" in panel.request_view.curl_text


def test_two_refreshes_in_one_second_say_so(flow):
    """Tokens minted in the second their predecessors were have the same iat and exp (whole
    seconds): the table says "same second" and why, not that nothing changed."""
    _exchanged(flow)
    panel = RefreshPanel(flow)
    panel.refresh_button.click()
    panel.refresh_button.click()  # no time passes on the test's clock
    rows = {row.what: row for row in panel.rows}
    assert rows["access token jti"].changed and not rows["access token iat"].changed
    cells = re.findall(r"<tr><td>access token (\w+)</td>.*?<td class='fnb-narrow'>(.*?)</td></tr>", panel.changes.value)
    assert {claim: re.sub(r"<[^>]+>", "", mark) for claim, mark in cells} == {
        "jti": "new", "iat": "same second", "exp": "same second"}
    assert "count whole seconds" in text(panel.changes)


def test_the_refresh_button_is_off_while_a_request_is_on_the_wire(flow):
    _exchanged(flow)
    panel = RefreshPanel(flow)
    seen = []

    def on_the_wire(exchange):  # the transcript holds its listeners weakly: this one is kept here
        if exchange is not None:
            seen.append(panel.refresh_button.disabled)

    flow.client.transcript.subscribe(on_the_wire)
    panel.refresh_button.click()
    assert seen == [True] and not panel.refresh_button.disabled


def test_refresh_without_offline_access(flow):
    _exchanged(flow, scopes="openid")
    panel = RefreshPanel(flow)
    panel.refresh_button.click()
    box = text(panel.error)
    assert "no_refresh_token" in box and "offline_access" in box


def test_refresh_with_a_scope_not_granted(flow):
    _exchanged(flow)
    panel = RefreshPanel(flow)
    panel.scope_input.value = "openid offline_access email"
    panel.refresh_button.click()
    box = text(panel.error)
    assert "access_denied" in box and "cannot include a scope that is not in the original call" in box
    assert "email" in box and "HTTP 400" in box


def test_call_api_with_the_headers_shown_first(flow, sandbox):
    tokens = _exchanged(flow)
    caller = ApiCaller(flow)
    headers = text(caller.headers)
    assert f"Authorization Bearer {tokens.access_token[:5]}..." in headers
    assert f"Subscription-Id {sandbox.info.subscription_id}" in headers
    request_id = caller.request_id
    assert f"Request-Id {request_id}" in headers and "curl --request GET" in caller.preview.curl_text
    caller.call_button.click()
    response = text(caller.response)
    assert "HTTP 200" in response and f"Request-Id sent: {request_id} , echoed: {request_id} ✔ the same as sent" in response
    assert "Sandbox Motors" in response and caller.request_id != request_id
    assert flow.api_response.status == 200


def test_missing_subscription_id(flow):
    _exchanged(flow)
    caller = ApiCaller(flow)
    caller.subscription_input.value = ""
    assert "MISSING-SUBSCRIPTION-ID" in text(caller.headers)
    request_id = caller.request_id
    caller.call_button.click()
    box = text(caller.error)
    assert "MISSING-SUBSCRIPTION-ID" in box and "Add the Subscription-Id header" in box
    assert f"Request-Id sent: {request_id} , echoed: {request_id}" in text(caller.response)


def test_expired_token_at_the_gateway(flow, clock):
    _exchanged(flow)
    caller = ApiCaller(flow)
    clock.advance(3700)
    caller.call_button.click()
    assert "TOKEN-EXPIRED" in text(caller.error) and "Refresh" in text(caller.error)


def test_call_before_any_token(flow):
    caller = ApiCaller(flow)
    assert "no access token yet" in text(caller.headers)
    caller.call_button.click()
    assert "No access token to call the API with" in text(caller.error)


def test_widgets_start_from_the_tokens_a_notebook_already_has(client, clock):
    request = client.authorization_url(scopes="openid offline_access")
    client.exchange_code(client.parse_redirect(client.sign_in_headless(request)))
    panel = RefreshPanel(client=client, live=False)
    clock.advance(5)
    panel.refresh_button.click()
    assert "same" in text(panel.changes)
    caller = ApiCaller(client=client, live=False)
    caller.call_button.click()
    assert "Sandbox Motors" in text(caller.response)


def test_a_room_sandbox_named_by_settings_gets_the_sample_api_path(sandbox):
    """Room mode: the room's sandbox named by FORTELLIS_* settings (not this kernel's own)."""
    from fortellis_nb.oauth import FortellisClient
    from fortellis_nb.oauth.config import Config
    from fortellis_nb.widgets import ApiCaller

    info = sandbox.info
    as_settings = Config(issuer=info.issuer, api_key=info.api_key, api_secret=info.api_secret,
                         redirect_uri=info.redirect_uri, subscription_id=info.subscription_id,
                         api_base_url=info.api_base_url)
    assert not as_settings.is_sandbox
    assert ApiCaller(client=FortellisClient(as_settings), live=False).path_input.value == "/sandbox/v1/dealership"
    elsewhere = Config(issuer="https://identity.fortellis.io/oauth2/aus1p1ixy7YL8cMq02p7", api_key="k", api_secret="s",
                       redirect_uri="https://example.com/")
    assert ApiCaller(client=FortellisClient(elsewhere), live=False).path_input.value == ""  # nothing asked of it
    unreachable = as_settings.replace(issuer="http://127.0.0.1:9/oauth2/ausnothere")
    assert ApiCaller(client=FortellisClient(unreachable), live=False).path_input.value == ""


def _clicks_sent_at(monkeypatch, times):
    """The browser's send times of the clicks the kernel reads, in order (see click_sent_at)."""
    import fortellis_nb.widgets.refresh as refresh

    sent = iter(times)
    monkeypatch.setattr(refresh, "click_sent_at", lambda: next(sent))


def test_a_double_click_read_after_its_refresh_sends_one_refresh(flow, monkeypatch):
    from fortellis_nb.widgets.refresh import DOUBLE_CLICK_NOTE

    _exchanged(flow)
    panel = RefreshPanel(flow)
    _clicks_sent_at(monkeypatch, [100.0, 100.1, 101.0])
    before = len(flow.client.transcript)
    panel.refresh_button.click()
    panel.refresh_button.click()
    assert len(flow.client.transcript) == before + 1 and panel.notes.messages == [DOUBLE_CLICK_NOTE]
    panel.refresh_button.click()  # a click of its own, after the double-click's time
    assert len(flow.client.transcript) == before + 2 and panel.notes.messages == []


def test_a_double_click_read_while_its_refresh_is_on_the_wire_keeps_its_note(flow, monkeypatch):
    """The kernel may handle the second click of a double-click while the first click's refresh
    is still waiting for its answer; the refresh, as it ends, clears the notes. The note stays."""
    from fortellis_nb.widgets.refresh import DOUBLE_CLICK_NOTE

    _exchanged(flow)
    panel = RefreshPanel(flow)
    _clicks_sent_at(monkeypatch, [100.0, 100.001])
    refresh, seen = flow.client.refresh, []

    def second_click_meanwhile(**kwargs):
        panel.refresh_button.click()
        seen.append(list(panel.notes.messages))
        return refresh(**kwargs)

    monkeypatch.setattr(flow.client, "refresh", second_click_meanwhile)
    before = len(flow.client.transcript)
    panel.refresh_button.click()
    assert seen == [[DOUBLE_CLICK_NOTE]]
    assert len(flow.client.transcript) == before + 1 and panel.notes.messages == [DOUBLE_CLICK_NOTE]
