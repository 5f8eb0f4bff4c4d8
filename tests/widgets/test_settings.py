"""The settings form says where the settings it starts with came from, and the way back to the
sandbox when FORTELLIS_* settings sent the notebooks elsewhere."""

from __future__ import annotations

from fortellis_nb.local import start
from fortellis_nb.oauth.hints import BACK_TO_SANDBOX
from fortellis_nb.widgets import Flow, SettingsForm

from .conftest import text


def test_settings_from_a_dotenv_are_shown_with_the_file_and_the_way_back(sandbox, tmp_path):
    info = sandbox.info
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"FORTELLIS_ISSUER={info.issuer}\nFORTELLIS_API_KEY={info.api_key}\n"
                      f"FORTELLIS_REDIRECT_URI={info.redirect_uri}\n")
    client = start(env={"FORTELLIS_API_SECRET": info.api_secret}, dotenv=dotenv)
    flow = Flow(client, live=False)
    try:
        shown = text(SettingsForm(flow).status)
    finally:
        flow.close()
    assert f"FORTELLIS_ISSUER, FORTELLIS_API_KEY and FORTELLIS_REDIRECT_URI in {dotenv.resolve()}" in shown
    assert "FORTELLIS_API_SECRET in the environment" in shown and shown.endswith(BACK_TO_SANDBOX)
    assert info.api_secret not in shown


def test_the_sandbox_s_own_settings_offer_no_way_back(flow):
    shown = text(SettingsForm(flow).status)
    assert shown == "API Secret set (hidden); source: sandbox" and BACK_TO_SANDBOX not in shown
