"""A restart loses nothing: apps, users, subscriptions, keys and refresh tokens live in SQLite."""

import os
import sys

import pytest
import requests

from fortellis_nb.sandbox import Sandbox, Settings

from .conftest import Browser, exchange


def test_a_restart_loses_nothing(tmp_path):
    state = tmp_path / "state"
    with Sandbox(Settings(state_dir=state)) as first:
        info = first.info
        browser = Browser(info)
        tokens = exchange(info, browser.sign_in()["code"]).json()
        app = requests.post(f"{info.base_url}/sandbox/apps",
                            json={"name": "Kept", "redirect_uris": ["https://example.com/"]}).json()
        requests.post(f"{info.base_url}/sandbox/users",
                      json={"username": "kept@example.com", "password": "kept-password"})
        keys = requests.get(f"{info.issuer}/v1/keys").json()
        port = int(info.base_url.rsplit(":", 1)[1])

    with Sandbox(Settings(state_dir=state, port=port)) as second:
        again = second.info
        assert (again.issuer, again.api_key, again.api_secret, again.subscription_id) == (
            info.issuer, info.api_key, info.api_secret, info.subscription_id)
        # The same signing key, and every key published before (the NEXT one may have been added).
        published = requests.get(f"{again.issuer}/v1/keys").json()["keys"]
        assert published[0] == keys["keys"][0] and all(k in published for k in keys["keys"])
        refreshed = requests.post(f"{again.issuer}/v1/token", auth=(info.api_key, info.api_secret), data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200
        api = requests.get(f"{again.api_base_url}/sandbox/v1/dealership", headers={
            "Authorization": f"Bearer {tokens['access_token']}", "Subscription-Id": info.subscription_id})
        assert api.status_code == 200
        cc = requests.post(f"{again.issuer}/v1/token", auth=(app["api_key"], app["api_secret"]),
                           data={"grant_type": "client_credentials", "scope": "anonymous"})
        assert cc.status_code == 200
        # The browser's session survives too: it is sent straight back with a code.
        assert browser.authorize().status_code == 302
        assert "kept@example.com" in requests.get(f"{again.base_url}/sandbox/users").text


def test_purge_removes_what_can_no_longer_be_used(sandbox, clock):
    info = sandbox.info
    browser = Browser(info)
    exchange(info, browser.sign_in()["code"])
    browser.sign_in()  # an unused code
    clock.advance(61)
    removed = sandbox.purge()
    assert removed["codes"] == 0  # expired and used codes are kept a while to recognise reuse
    clock.advance(2 * 3600)
    removed = sandbox.purge()
    assert removed["codes"] == 2 and removed["access_tokens"] == 1 and removed["sessions"] == 1


@pytest.mark.skipif(sys.platform == "win32", reason="Windows keeps it private by its folder, not by file modes")
def test_the_database_is_private(sandbox):
    import stat

    mode = (sandbox.settings.state_dir / "sandbox.sqlite3").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


@pytest.mark.skipif(sys.platform == "win32", reason="Windows keeps it private by its folder, not by file modes")
def test_the_database_and_its_write_ahead_log_are_private_in_a_folder_others_can_read(tmp_path):
    """A state folder made beforehand with the usual mode (0755, umask 022): the database and
    SQLite's write-ahead log beside it, which holds the signing key until a checkpoint, are the
    owner's alone from their first byte; a log left readable by an older sandbox is made so too."""
    import stat

    from fortellis_nb.sandbox.storage import Store

    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    old_umask = os.umask(0o022)
    try:
        store = Store(state / "sandbox.sqlite3")
        made = {p.name: stat.S_IMODE(p.stat().st_mode) for p in state.iterdir()}
        store.close()
        assert made == {"sandbox.sqlite3": 0o600, "sandbox.sqlite3-wal": 0o600}, made
        for name in made:  # as an older sandbox left them, or a copy of the folder made them
            (state / name).touch()
            (state / name).chmod(0o644)
        store = Store(state / "sandbox.sqlite3")
        again = {p.name: stat.S_IMODE(p.stat().st_mode) for p in state.iterdir()}
        store.close()
        assert again == made, again
    finally:
        os.umask(old_umask)
