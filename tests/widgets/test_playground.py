import json
import threading

import ipywidgets
import pytest

from fortellis_nb.widgets import NetworkLog, Playground
from fortellis_nb.widgets.flow import Ticker
from fortellis_nb.widgets.playground import steps_done

from .conftest import text


@pytest.fixture
def playground(client):
    playground = Playground(client, live=False)
    yield playground
    playground.close()


def test_progress_follows_the_learner(playground, clock):
    assert playground.progress_text == "Step 2 of 5: Sign in, paste the redirect."
    assert "▶ 2. Sign in, paste the redirect" in text(playground.progress)
    playground.sign_in_button.click()
    assert playground.progress_text == "Step 3 of 5: Exchange the code."
    playground.catcher.exchange_button.click()
    assert "✔ 3. Exchange the code" in text(playground.progress)
    clock.advance(5)
    playground.refresher.refresh_button.click()
    playground.caller.call_button.click()
    assert playground.progress_text == "All 5 steps done."
    assert "fnb-progress" in playground.progress._dom_classes


def ticked(playground) -> list[str]:
    return [number for number in "12345" if f"✔ {number}." in text(playground.progress)]


def test_a_skipped_refresh_is_not_ticked(playground):
    playground.run_unattended(refresh=False)
    assert playground.flow.api_response is not None and playground.flow.previous_tokens is None
    assert ticked(playground) == ["1", "2", "3", "5"]
    assert "▶ 4. Refresh the token" in text(playground.progress)
    assert playground.progress_text == "Step 4 of 5: Refresh the token."
    playground.refresher.refresh_button.click()
    assert ticked(playground) == ["1", "2", "3", "4", "5"] and playground.progress_text == "All 5 steps done."


def test_a_failed_refresh_is_not_ticked(playground, monkeypatch):
    def refused(*args, **kwargs):
        raise RuntimeError("no answer")

    playground.catcher.signin_button.click()
    playground.catcher.exchange_button.click()
    monkeypatch.setattr(playground.flow.client, "refresh", refused)
    playground.refresher.refresh_button.click()
    playground.caller.call_button.click()
    assert playground.refresher.error.value and playground.flow.api_response is not None
    assert ticked(playground) == ["1", "2", "3", "5"] and "All 5" not in text(playground.progress)


def test_tokens_from_the_cells_count_the_steps_that_led_to_them(client):
    # A cell signed in and exchanged before the playground was made: no redirect was read in
    # the widget, but there are no tokens without one.
    client.exchange_code(client.parse_redirect(client.sign_in_headless(client.authorization_url())))
    playground = Playground(client, live=False)
    assert playground.flow.redirect is None and playground.flow.tokens is not None
    assert ticked(playground) == ["1", "2", "3"] and playground.progress_text == "Step 4 of 5: Refresh the token."
    playground.close()


def test_run_unattended_does_every_step(playground):
    assert playground.run_unattended() is playground
    assert steps_done(playground.flow) == [True] * 5
    errors = [step.error.value for step in playground.steps]
    assert errors == [""] * len(errors)
    assert "every check passed" in text(playground.inspector.checklist)


def test_network_log_lists_every_exchange_in_order(playground, client):
    playground.run_unattended()
    log = text(playground.network.table)
    labels = [e.label for e in client.transcript]
    assert labels.index("Exchange the code") < labels.index("Refresh") < labels.index("Call the API")
    positions = [log.index(f"{n} {label}") for n, label in enumerate(labels, 1)]
    assert positions == sorted(positions)
    assert "POST" in log and " ms" in log and "200" in log
    assert "curl --request POST" in log
    playground.network.clear_button.click()
    assert "No HTTP exchange yet" in text(playground.network.table)


def test_the_network_log_saves_the_session_for_other_tools(playground, client, tmp_path, monkeypatch):
    import json

    monkeypatch.chdir(tmp_path)  # the notebook's folder
    playground.run_unattended()
    for fmt, name in (("har", "fortellis-session.har"), ("postman", "fortellis-session.postman_collection.json"),
                      ("http", "fortellis-session.http")):
        playground.network.export_buttons[fmt].click()
        saved = (tmp_path / name).read_text()
        assert client.config.api_secret not in saved and client.tokens.access_token not in saved
        assert f"Saved {len(client.transcript)} exchanges to" in text(playground.network.export_note)
        assert name in text(playground.network.export_note)
    assert json.loads((tmp_path / "fortellis-session.har").read_text())["log"]["version"] == "1.2"
    (tmp_path / "fortellis-session.http").unlink()
    (tmp_path / "fortellis-session.http").mkdir()  # something in the way: said, not raised
    assert playground.network.export("http") == ""
    assert "Could not write" in text(playground.network.export_note)


def test_every_input_and_button_has_a_label(playground):
    def walk(widget):
        yield widget
        for child in getattr(widget, "children", ()):
            yield from walk(child)

    controls = [w for w in walk(playground)
                if isinstance(w, (ipywidgets.Text, ipywidgets.Password, ipywidgets.Checkbox, ipywidgets.Button,
                                  ipywidgets.ToggleButton, ipywidgets.ToggleButtons))]
    assert len(controls) > 15
    assert all(w.description for w in controls)
    labels = {w.description for w in controls if isinstance(w, ipywidgets.Button)}
    assert {"Exchange code", "Refresh token", "Call API", "Sign in for me (sandbox)"} <= labels


@pytest.mark.parametrize("pkce", [False, True])
def test_no_secret_in_any_widget_state_or_output(client, sandbox, clock, pkce):
    info = sandbox.info
    playground = Playground(client, live=False, pkce=pkce)
    form = playground.settings
    form.api_secret_input.value = info.api_secret  # typed by a person, then applied
    form.apply_button.click()
    playground.run_unattended()
    clock.advance(5)
    playground.refresher.refresh_button.click()
    playground.inspector.raw_button.value = True
    playground.authorize.request_view.language.value = "Python"
    first = playground.flow.redirect
    secrets = {"API Secret": info.api_secret, "password": info.password, "code": first.code}
    if pkce:
        secrets["code_verifier"] = first.request.code_verifier
    for tokens in (playground.flow.previous_tokens, playground.flow.tokens):
        for name in ("access_token", "id_token", "refresh_token"):
            secrets[f"{tokens.grant_type} {name}"] = getattr(tokens, name)
    # A redirect with another code for a state already answered is refused (a replay): its
    # URL, with the code in it, goes through the error box too.
    playground.catcher.url_input.value = first.url.replace(first.code, first.code[::-1])
    assert "already used" in playground.catcher.error.value
    secrets["the other code"] = first.code[::-1]

    state = json.dumps(ipywidgets.Widget.get_manager_state(drop_defaults=False))
    bundle = json.dumps(playground._repr_mimebundle_())
    shown = [state, bundle, repr(playground)] + [repr(step) for step in playground.steps]
    for what, value in secrets.items():
        assert value and len(value) >= 8, what
        for output in shown:
            assert value not in output, f"the full {what} is in a widget's state or output"
    assert form.api_secret_input.value == "" and playground.catcher.url_input.value == ""
    playground.close()


def test_an_unexpected_exception_is_a_short_message_not_a_traceback(playground, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(playground.flow.client, "refresh", broken)
    playground.refresher.refresh_button.click()
    box = text(playground.refresher.error)
    assert "Refreshing the token failed unexpectedly" in box and "RuntimeError: the disk is on fire" in box
    assert "Traceback" not in playground.refresher.error.value and "fnb-error" in playground.refresher.error._dom_classes


def test_a_standalone_step_widget_makes_its_own_flow(client):
    log = NetworkLog(client, live=False)
    assert log.flow.client is client and "No HTTP exchange yet" in text(log.table)


def test_the_live_ticker_ticks_never_raises_and_stops():
    ticker = Ticker(live=True, interval=0.01)
    ticked = threading.Event()

    def failing():
        raise ValueError("ignored")

    ticker.add(failing)
    ticker.add(ticked.set)
    assert ticked.wait(5) and ticker.running
    ticker.remove(failing)
    ticker.remove(ticked.set)
    ticker._thread.join(5)
    assert not ticker.running and not ticker._thread.is_alive()


def test_closing_the_playground_stops_its_ticker(client):
    playground = Playground(client, live=True)
    assert playground.flow.ticker.running
    playground.close()
    playground.flow.ticker._thread.join(5)
    assert not playground.flow.ticker.running
