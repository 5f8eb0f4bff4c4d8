"""One app's clock moved from a cell: ``app_clock(client).later(...)`` moves it for a ``with``
block and back after it, whatever the block raised; only against a sandbox."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fortellis_nb.local import SandboxClient, app_clock, sandbox_app, sandbox_client
from fortellis_nb.oauth import errors
from fortellis_nb.oauth.config import Config
from fortellis_nb.oauth.transcript import Http
from tests.oauth.conftest import local_server, signed_in  # noqa: F401  (local_server: a fixture)


@pytest.fixture
def client(sandbox):
    return sandbox_client(sandbox.info)


def test_a_refresh_token_past_the_idle_limit_is_refused_in_the_block_and_refreshes_after(sandbox, client):
    client.exchange_code(signed_in(client))
    with app_clock(client).later(days=7, seconds=1) as clock:
        assert clock.offset == timedelta(days=7, seconds=1)
        with pytest.raises(errors.FortellisError) as refused:
            client.refresh()
    assert refused.value.error == "invalid_grant"
    assert app_clock(client).offset == timedelta()
    assert client.refresh().access_token


def test_the_clock_moves_back_after_an_exception_and_moves_nest(client):
    clock = app_clock(client)
    with pytest.raises(LookupError), clock.later(hours=1):
        with clock.later(minutes=1, seconds=1):
            assert clock.offset == timedelta(hours=1, minutes=1, seconds=1)
        assert clock.offset == timedelta(hours=1)
        raise LookupError("a refused call")
    assert clock.offset == timedelta()


def test_another_app_on_the_same_sandbox_keeps_the_sandbox_s_time(client):
    neighbour = sandbox_app(client, "Neighbour")
    with app_clock(client).later(days=7, seconds=1):
        assert app_clock(neighbour).offset == timedelta()


def test_a_sandbox_named_by_settings_is_recognised(sandbox):
    info = sandbox.info
    settings = Config(issuer=info.issuer, api_key=info.api_key, api_secret=info.api_secret)
    with app_clock(settings).later(seconds=61) as clock:
        assert clock.offset == timedelta(seconds=61)


def test_a_real_fortellis_issuer_is_refused_without_a_request():
    http = Http()
    fortellis = Config(issuer="https://identity.fortellis.io/oauth2/aus1p1ixy7YL8cMq02p7", api_key="k", api_secret="s")
    with pytest.raises(errors.SandboxOnlyError) as refused:
        app_clock(fortellis, http=http)
    assert "not a sandbox" in refused.value.description and "real time" in refused.value.description
    assert len(http.transcript) == 0


def test_a_server_that_is_no_sandbox_is_refused(local_server):  # noqa: F811
    other = local_server({("GET", "/sandbox/health"): lambda h: (404, {}, {})})
    with pytest.raises(errors.SandboxOnlyError):
        app_clock(Config(issuer=other.url + "/oauth2/default", api_key="k", api_secret="s"))


def test_the_sandbox_s_refusals_come_with_its_words(client):
    public = sandbox_app(client, "SPA", public=True)
    with pytest.raises(errors.FortellisError) as refused:
        app_clock(public).offset
    assert refused.value.error == "forbidden" and "public app" in refused.value.description
    wrong = SandboxClient(client.config.replace(api_secret="not-the-secret"))
    with pytest.raises(errors.FortellisError) as refused:
        app_clock(wrong).set(timedelta(hours=1))
    assert refused.value.error == "invalid_client" and refused.value.status == 401
    assert app_clock(client).offset == timedelta()
