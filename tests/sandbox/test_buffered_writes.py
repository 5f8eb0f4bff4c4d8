"""The store's buffered writes and the memory of verified passwords: what the token
endpoint no longer writes at once must still be exact, in one process and across the
worker processes that share one database (two ``Store`` objects on one file here)."""

from __future__ import annotations

import requests

from fortellis_nb.sandbox import storage
from fortellis_nb.sandbox.storage import Store, VerifiedPasswords, hash_password

from .conftest import Browser, exchange


def two_workers(tmp_path):
    path = tmp_path / "sandbox.sqlite3"
    a = Store(path)
    b = Store(path)
    grant = a.add_grant(api_key="app", user_id="u", scopes=["openid"], auth_time=0, now=0, refresh_token="r1")
    return a, b, grant


def test_a_token_issued_before_its_grant_is_revoked_elsewhere_is_written_revoked(tmp_path):
    a, b, grant = two_workers(tmp_path)
    a.add_access_token("AT.one", grant, "app", 9999)  # still in a's memory
    assert not b.access_token_revoked("AT.one")  # signed by the server, record on its way
    b.revoke_grant(grant, 5)
    a.flush()
    assert a.access_token_revoked("AT.one") and b.access_token_revoked("AT.one")


def test_revoking_a_token_whose_record_is_still_buffered_elsewhere_sticks(tmp_path):
    a, b, grant = two_workers(tmp_path)
    a.add_access_token("AT.two", grant, "app", 9999)
    b.revoke_access_token("AT.two", "app", 9999, 5)
    a.flush()  # INSERT OR IGNORE: the revocation is not overwritten
    assert a.access_token_revoked("AT.two")


def test_a_revocation_names_the_app_that_owns_the_token(tmp_path):
    a, b, grant = two_workers(tmp_path)
    a.add_access_token("AT.three", grant, "app", 9999)
    a.flush()
    b.revoke_access_token("AT.three", "another-app", 9999, 5)
    assert not a.access_token_revoked("AT.three")


def test_counts_and_refresh_use_are_exact_when_read(tmp_path):
    a, b, grant = two_workers(tmp_path)
    for _ in range(3):
        a.count("app", "refresh", 10)
    a.count("app", "refresh", 12)
    b.count("app", "refresh", 11)
    a.touch_refresh_token(grant, 40)
    # This process sees its own buffered use at once; the database gets it with the flush.
    assert a.grant(grant).refresh_used == 40 and b.grant(grant).refresh_used == 0
    a.activity()  # reading flushes a's buffer first
    b.flush()
    rows = {r["kind"]: (r["count"], r["last"]) for r in b.activity()}
    assert rows == {"refresh": (5, 12)}
    assert b.grant(grant).refresh_used == 40


def test_a_flush_happens_on_its_own_after_a_batch_or_a_moment(tmp_path, monkeypatch):
    a, b, _grant = two_workers(tmp_path)
    monkeypatch.setattr(storage, "FLUSH_BATCH", 3)
    a.count("app", "exchange", 1)
    a.count("app", "refresh", 1)
    assert b.activity() == []
    a.count("app", "api_call", 1)  # the third buffered write
    assert len(b.activity()) == 3


def test_closing_the_store_writes_what_is_buffered(tmp_path):
    a, b, _grant = two_workers(tmp_path)
    a.count("app", "exchange", 1)
    a.close()
    assert [r["count"] for r in b.activity()] == [1]


def test_a_password_is_remembered_only_when_it_matched():
    verified = VerifiedPasswords(limit=2)
    stored = hash_password("right")
    assert not verified.known("right", stored)
    verified.remember("right", stored)
    assert verified.known("right", stored)
    assert not verified.known("wrong", stored)
    assert not verified.known("right", hash_password("right"))  # another user's hash, another salt
    verified.remember("x", "h1")
    verified.remember("y", "h2")  # over the limit: the oldest goes
    assert not verified.known("right", stored) and verified.known("y", "h2")


def test_signing_in_again_skips_the_password_hash_but_a_wrong_password_still_fails(sandbox, monkeypatch):
    from fortellis_nb.sandbox import identity

    calls = []
    real = identity.check_password
    monkeypatch.setattr(identity, "check_password", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(identity, "VERIFIED", VerifiedPasswords())
    first = Browser(sandbox.info).sign_in()
    second = Browser(sandbox.info).sign_in()  # a new browser: no session, the password again
    assert "code" in first and "code" in second and len(calls) == 1
    browser = Browser(sandbox.info)
    failed = browser.submit(browser.authorize(), password="not-the-password")
    assert failed.status_code == 401 and len(calls) == 2


def test_a_revoked_refresh_token_takes_its_fresh_access_token_with_it(sandbox):
    info = sandbox.info
    tokens = exchange(info, Browser(info).sign_in()["code"]).json()
    api = f"{info.api_base_url}/sandbox/v1/dealership"
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "Subscription-Id": info.subscription_id}
    assert requests.get(api, headers=headers).status_code == 200
    revoked = requests.post(f"{info.issuer}/v1/revoke", auth=(info.api_key, info.api_secret),
                            data={"token": tokens["refresh_token"]})
    assert revoked.status_code == 200
    assert requests.get(api, headers=headers).status_code == 401
