"""client.session(): the three headers, a refresh shortly before expiry and once on
TOKEN-EXPIRED, one refresh for many threads, a rotated refresh token kept, every exchange in
the transcript. Against a real sandbox on the test's clock (no sleeping)."""

from __future__ import annotations

import threading
import uuid

import pytest
import requests

from fortellis_nb.local import SandboxClient, sandbox_client, sandbox_config
from fortellis_nb.oauth import FortellisError

from ..conftest import FakeClock
from .conftest import signed_in

DEALERSHIP = "/sandbox/v1/dealership"


@pytest.fixture
def client(own_sandbox, clock):
    client = sandbox_client(own_sandbox.info, clock=clock)
    client.exchange_code(signed_in(client))
    return client


def test_every_request_carries_the_three_headers_and_a_fresh_request_id(client):
    session = client.session()
    first, second = session.get(DEALERSHIP), session.get(DEALERSHIP)
    assert first.status_code == second.status_code == 200
    sent = [r.request.headers for r in (first, second)]
    assert all(h["Authorization"] == f"Bearer {client.tokens.access_token}" for h in sent)
    assert all(h["Subscription-Id"] == client.config.subscription_id for h in sent)
    ids = [h["Request-Id"] for h in sent]
    assert ids[0] != ids[1] and all(uuid.UUID(i) for i in ids)
    assert first.headers["Request-Id"] == ids[0]  # the gateway echoes it
    assert session.auth.refreshes == 0


def test_the_session_sends_the_token_nowhere_but_the_api(client):
    session = client.session()
    with pytest.raises(FortellisError, match="only to the configured API"):
        session.get("https://example.com/steal")
    with pytest.raises(FortellisError, match="only to the configured API"):
        session.get(client.config.api_base_url.replace("127.0.0.1", "localhost") + DEALERSHIP)


def test_it_refreshes_shortly_before_expiry_not_before(client, clock):
    session = client.session()
    before = client.tokens
    clock.advance(3600 - 61)  # a minute and a second left: no refresh yet
    assert session.get(DEALERSHIP).status_code == 200 and client.tokens is before
    clock.advance(2)  # 59 seconds left: refreshed first
    answer = session.get(DEALERSHIP)
    assert answer.status_code == 200 and client.tokens is not before
    assert answer.request.headers["Authorization"] == f"Bearer {client.tokens.access_token}"
    assert session.auth.refreshes == 1
    last = client.transcript.exchanges[-2:]
    assert last[0].url.endswith("/v1/token") and ("grant_type", "refresh_token") in last[0].form
    assert last[1].label == "Call the API (session)" and last[1].status == 200


def test_on_token_expired_it_refreshes_once_and_sends_again(own_sandbox, clock):
    # This machine's clock runs slow: an hour later by the server's clock it has counted 11 s
    # less (inside the 30 s of skew token checks allow). The session thinks the token has 10 s
    # left; the gateway says it expired.
    ours = FakeClock(clock())
    client = sandbox_client(own_sandbox.info, clock=ours)
    client.exchange_code(signed_in(client))
    session = client.session(margin=0)
    clock.advance(3601)
    ours.advance(3590)
    answer = session.get(DEALERSHIP)
    assert answer.status_code == 200
    assert [r.status_code for r in answer.history] == [401]
    assert answer.history[0].json()["code"] == "TOKEN-EXPIRED"
    assert answer.request.headers["Request-Id"] != answer.history[0].request.headers["Request-Id"]
    assert session.auth.refreshes == 1
    statuses = [e.status for e in client.transcript.exchanges if e.label == "Call the API (session)"]
    assert statuses[-2:] == [401, 200]


def test_a_refusal_other_than_token_expired_is_not_retried(client):
    session = client.session(subscription_id="no-such-subscription")
    answer = session.get(DEALERSHIP)
    assert answer.status_code in (401, 403) and answer.json()["code"] != "TOKEN-EXPIRED"
    assert answer.history == [] and session.auth.refreshes == 0


def test_twenty_threads_sharing_one_session_cause_one_refresh(client, clock):
    session = client.session()
    clock.advance(3600 - 30)
    start = threading.Barrier(20)
    statuses, failures = [], []

    def call():
        start.wait()
        try:
            statuses.append(session.get(DEALERSHIP).status_code)
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures and statuses == [200] * 20
    assert session.auth.refreshes == 1
    refreshes = [e for e in client.transcript.exchanges if e.url.endswith("/v1/token")
                 and ("grant_type", "refresh_token") in (e.form or [])]
    assert len(refreshes) == 1


def test_a_rotated_refresh_token_is_kept(own_sandbox, clock):
    info = own_sandbox.info
    app = requests.post(f"{info.base_url}/sandbox/apps", json={
        "name": "A rotating backend", "redirect_uris": [info.redirect_uri],
        "refresh_token": {"rotation_type": "ROTATE", "leeway": 0}}).json()
    client = SandboxClient(sandbox_config(info).replace(api_key=app["api_key"], api_secret=app["api_secret"],
                                                               subscription_id="test"), clock=clock)
    client.exchange_code(signed_in(client))
    session = client.session()
    seen = [client.tokens.refresh_token]
    for _ in range(3):
        clock.advance(3600 - 30)
        assert session.get(DEALERSHIP).status_code == 200
        seen.append(client.tokens.refresh_token)
        assert client.tokens.refresh_token_status == "rotated"
    assert len(set(seen)) == 4 and session.auth.refreshes == 3  # each refresh used the newest token


def test_without_tokens_it_says_what_to_do_first(own_sandbox):
    client = sandbox_client(own_sandbox.info)
    with pytest.raises(FortellisError, match="No tokens yet"):
        client.session().get(DEALERSHIP)
