"""The sandbox's state in one embedded SQLite database, so a restart loses nothing.

Bearer secrets (codes, refresh tokens, session ids, API Secrets) are kept only as
SHA-256 digests; user passwords as salted PBKDF2 hashes.

The token endpoint's hot paths write nothing synchronously: the record of an issued access
token, the activity counts and a refresh token's last use are buffered in memory and
written in one transaction at most ``FLUSH_AFTER`` seconds later (or before anything in
this process reads them). What must hold at once (a code used once, a new grant, a
revocation) is still written before the answer goes out.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import ids
from .jwt_rs256 import SigningKey

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS signing_keys (
    kid TEXT PRIMARY KEY, private_pem TEXT NOT NULL, created REAL NOT NULL, retired REAL);
CREATE TABLE IF NOT EXISTS apps (
    api_key TEXT PRIMARY KEY, name TEXT NOT NULL, secret_digest TEXT NOT NULL,
    redirect_uris TEXT NOT NULL, public INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS apps_by_secret ON apps(secret_digest);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE COLLATE NOCASE, name TEXT NOT NULL,
    password_hash TEXT NOT NULL, assigned INTEGER NOT NULL DEFAULT 1, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY, api_key TEXT, dealership TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY, user_id TEXT NOT NULL, auth_time REAL NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS transactions (
    id TEXT PRIMARY KEY, request TEXT NOT NULL, csrf TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS codes (
    digest TEXT PRIMARY KEY, api_key TEXT NOT NULL, user_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL, scopes TEXT NOT NULL, nonce TEXT, code_challenge TEXT,
    auth_time REAL NOT NULL, expires REAL NOT NULL, used REAL, grant_id TEXT);
CREATE TABLE IF NOT EXISTS grants (
    id TEXT PRIMARY KEY, api_key TEXT NOT NULL, user_id TEXT NOT NULL, scopes TEXT NOT NULL,
    auth_time REAL NOT NULL, created REAL NOT NULL, revoked REAL,
    refresh_digest TEXT UNIQUE, refresh_used REAL);
CREATE TABLE IF NOT EXISTS access_tokens (
    jti TEXT PRIMARY KEY, grant_id TEXT, api_key TEXT NOT NULL, exp REAL NOT NULL, revoked REAL);
CREATE INDEX IF NOT EXISTS access_tokens_by_grant ON access_tokens(grant_id);
CREATE TABLE IF NOT EXISTS activity (
    api_key TEXT NOT NULL, kind TEXT NOT NULL, count INTEGER NOT NULL, last REAL NOT NULL,
    PRIMARY KEY (api_key, kind));
"""

PBKDF2_ROUNDS = 20_000
FLUSH_AFTER = 0.05  # seconds a buffered write may wait
FLUSH_BATCH = 256  # buffered writes that trigger a flush at once


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    derived = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ROUNDS)
    return f"pbkdf2_sha256${PBKDF2_ROUNDS}${salt.hex()}${derived.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _scheme, rounds, salt, expected = stored.split("$")
        derived = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(rounds))
    except ValueError:
        return False
    return hmac.compare_digest(derived.hex(), expected)


class VerifiedPasswords:
    """Remembers, in this process's memory only, which (password hash, password) pairs were
    checked and matched, so the same user signing in again costs one HMAC instead of
    another PBKDF2 run. The stored hash keeps its full strength (the database file is what
    an attacker could copy); a wrong password is never remembered, so guessing still pays
    PBKDF2 every time. Keyed with a random per-process key; bounded in size."""

    def __init__(self, limit: int = 4096):
        self._key = secrets.token_bytes(32)
        self._seen: dict[bytes, None] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def _tag(self, password: str, stored: str) -> bytes:
        return hmac.new(self._key, stored.encode() + b"\0" + password.encode(), hashlib.sha256).digest()

    def known(self, password: str, stored: str) -> bool:
        return self._tag(password, stored) in self._seen

    def remember(self, password: str, stored: str) -> None:
        tag = self._tag(password, stored)
        with self._lock:
            if len(self._seen) >= self._limit:
                self._seen.pop(next(iter(self._seen)))  # the oldest
            self._seen[tag] = None


@dataclass(frozen=True)
class App:
    api_key: str
    name: str
    secret_digest: str
    redirect_uris: tuple[str, ...]
    public: bool

    def secret_matches(self, secret: str) -> bool:
        return hmac.compare_digest(ids.digest(secret), self.secret_digest)


@dataclass(frozen=True)
class User:
    id: str
    username: str
    name: str
    password_hash: str
    assigned: bool


@dataclass(frozen=True)
class Code:
    api_key: str
    user_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    nonce: str | None
    code_challenge: str | None
    auth_time: float
    expires: float
    used: float | None
    grant_id: str | None


@dataclass(frozen=True)
class Grant:
    id: str
    api_key: str
    user_id: str
    scopes: tuple[str, ...]
    auth_time: float
    revoked: float | None
    refresh_used: float | None


class Store:
    """All reads and writes of the sandbox's database. Safe to call from several threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._depth = 0
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        os.chmod(self.path, 0o600)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        # Writers queue on a file lock, so a writer waits exactly as long as another holds the
        # database, instead of in SQLite's busy handler, which sleeps in steps of 1, 2, 5, 10 ms...
        # That matters when several worker processes share the database (``--workers``).
        # Opened by each process itself: a lock on a file descriptor inherited across fork
        # would be shared, not exclusive.
        self._write_fd = os.open(self.path.with_name(self.path.name + ".writelock"), os.O_RDWR | os.O_CREAT, 0o600)
        # Apps and users are never changed once created: each is read once per process.
        self._apps: dict[str, App] = {}
        self._users: dict[str, User] = {}
        # Writes that may wait a moment (see the module's docstring).
        self._issued: list[tuple] = []  # access tokens: (jti, grant_id, api_key, exp, grant_id)
        self._counts: dict[tuple[str, str], list] = {}  # (api_key, kind) -> [count, last]
        self._touched: dict[str, float] = {}  # grant id -> a refresh token's latest use
        self._pending_since: float | None = None

    def close(self) -> None:
        with self._lock:
            if self._write_fd is not None:
                self.flush()
            self._db.close()
            if self._write_fd is not None:
                os.close(self._write_fd)
                self._write_fd = None

    def _one(self, sql: str, *args):
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _all(self, sql: str, *args):
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _run(self, sql: str, *args) -> int:
        with self._lock:
            if self._depth:  # inside a transaction, which holds the write lock
                return self._db.execute(sql, args).rowcount
            fcntl.flock(self._write_fd, fcntl.LOCK_EX)
            try:
                return self._db.execute(sql, args).rowcount
            finally:
                fcntl.flock(self._write_fd, fcntl.LOCK_UN)

    def transaction(self):
        """A context manager that makes several writes one atomic step."""
        return _Transaction(self)

    # --- settings that never change once made (server id, demo credentials) ---
    def meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", key)
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._run("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value)

    # --- signing keys ---
    def signing_keys(self) -> list[SigningKey]:
        rows = self._all("SELECT * FROM signing_keys ORDER BY created")
        return [SigningKey.from_pem(r["kid"], r["private_pem"], r["created"], r["retired"]) for r in rows]

    def add_signing_key(self, key: SigningKey, retire_others_at: float | None = None) -> None:
        with self.transaction():
            if retire_others_at is not None:
                self._run("UPDATE signing_keys SET retired = ? WHERE retired IS NULL", retire_others_at)
            self._run(
                "INSERT INTO signing_keys (kid, private_pem, created) VALUES (?, ?, ?)",
                key.kid, key.pem(), key.created,
            )

    def signing_key_state(self) -> list[tuple]:
        """Which keys exist and which are retired: cheap to compare, to notice a rotation."""
        return [tuple(r) for r in self._all("SELECT kid, retired FROM signing_keys ORDER BY created")]

    def data_version(self) -> int:
        """Changes whenever another connection (another worker process) has committed."""
        return self._one("PRAGMA data_version")[0]

    def drop_signing_keys_retired_before(self, when: float) -> None:
        self._run("DELETE FROM signing_keys WHERE retired IS NOT NULL AND retired < ?", when)

    # --- apps (the developer portal) ---
    def add_app(self, name: str, redirect_uris: list[str], now: float, *, public: bool = False,
                api_key: str | None = None, api_secret: str | None = None) -> tuple[App, str]:
        key = api_key or ids.api_key()
        secret = api_secret or ids.api_secret()
        self._run(
            "INSERT INTO apps (api_key, name, secret_digest, redirect_uris, public, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            key, name, ids.digest(secret), json.dumps(redirect_uris), int(public), now,
        )
        return self.app(key), secret

    def app(self, api_key: str) -> App | None:
        app = self._apps.get(api_key)
        if app is None:
            row = self._one("SELECT * FROM apps WHERE api_key = ?", api_key)
            if row is None:
                return None
            app = self._apps[api_key] = _app(row)
        return app

    def app_by_secret(self, secret: str) -> App | None:
        row = self._one("SELECT * FROM apps WHERE secret_digest = ?", ids.digest(secret))
        return _app(row) if row else None

    def apps(self) -> list[App]:
        return [_app(r) for r in self._all("SELECT * FROM apps ORDER BY created")]

    # --- users ---
    def add_user(self, username: str, password: str, name: str, now: float, *, assigned: bool = True) -> User:
        user_id = ids.okta_id("00u")
        self._run(
            "INSERT INTO users (id, username, name, password_hash, assigned, created) VALUES (?, ?, ?, ?, ?, ?)",
            user_id, username, name, hash_password(password), int(assigned), now,
        )
        return self.user(user_id)

    def user(self, user_id: str) -> User | None:
        user = self._users.get(user_id)
        if user is None:
            row = self._one("SELECT * FROM users WHERE id = ?", user_id)
            if row is None:
                return None
            user = self._users[user_id] = _user(row)
        return user

    def user_by_name(self, username: str) -> User | None:
        row = self._one("SELECT * FROM users WHERE username = ?", username)
        return _user(row) if row else None

    def users(self) -> list[User]:
        return [_user(r) for r in self._all("SELECT * FROM users ORDER BY created")]

    # --- subscriptions (a dealer activating an app in the Marketplace) ---
    def add_subscription(self, api_key: str | None, dealership: str, *, active: bool = True,
                         subscription_id: str | None = None) -> str:
        import uuid

        sid = subscription_id or str(uuid.uuid4())
        self._run(
            "INSERT INTO subscriptions (id, api_key, dealership, active) VALUES (?, ?, ?, ?)",
            sid, api_key, dealership, int(active),
        )
        return sid

    def subscription(self, subscription_id: str):
        return self._one("SELECT * FROM subscriptions WHERE id = ?", subscription_id)

    def subscriptions(self, api_key: str):
        return self._all("SELECT * FROM subscriptions WHERE api_key = ? OR api_key IS NULL", api_key)

    # --- browser sessions ---
    def add_session(self, session_id: str, user_id: str, auth_time: float, expires: float) -> None:
        self._run("INSERT INTO sessions VALUES (?, ?, ?, ?)", ids.digest(session_id), user_id, auth_time, expires)

    def session(self, session_id: str, now: float):
        return self._one(
            "SELECT * FROM sessions WHERE digest = ? AND expires > ?", ids.digest(session_id), now
        )

    def end_session(self, session_id: str) -> None:
        self._run("DELETE FROM sessions WHERE digest = ?", ids.digest(session_id))

    # --- authorize requests waiting for the sign-in form ---
    def add_transaction(self, request: dict, expires: float) -> tuple[str, str]:
        txn, csrf = ids.opaque(), ids.opaque()
        self._run("INSERT INTO transactions VALUES (?, ?, ?, ?)", txn, json.dumps(request), csrf, expires)
        return txn, csrf

    def transaction_request(self, txn: str, now: float) -> tuple[dict, str] | None:
        row = self._one("SELECT * FROM transactions WHERE id = ? AND expires > ?", txn, now)
        return (json.loads(row["request"]), row["csrf"]) if row else None

    def end_transaction(self, txn: str) -> None:
        self._run("DELETE FROM transactions WHERE id = ?", txn)

    # --- authorization codes ---
    def add_code(self, code: str, *, api_key, user_id, redirect_uri, scopes, nonce, code_challenge,
                 auth_time, expires) -> None:
        self._run(
            "INSERT INTO codes (digest, api_key, user_id, redirect_uri, scopes, nonce, code_challenge,"
            " auth_time, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ids.digest(code), api_key, user_id, redirect_uri, " ".join(scopes), nonce, code_challenge,
            auth_time, expires,
        )

    def code(self, code: str) -> Code | None:
        row = self._one("SELECT * FROM codes WHERE digest = ?", ids.digest(code))
        if not row:
            return None
        return Code(
            api_key=row["api_key"], user_id=row["user_id"], redirect_uri=row["redirect_uri"],
            scopes=tuple(row["scopes"].split()), nonce=row["nonce"], code_challenge=row["code_challenge"],
            auth_time=row["auth_time"], expires=row["expires"], used=row["used"], grant_id=row["grant_id"],
        )

    def use_code(self, code: str, now: float, grant_id: str) -> bool:
        """Mark the code used; False if another request used it first."""
        return self._run(
            "UPDATE codes SET used = ?, grant_id = ? WHERE digest = ? AND used IS NULL",
            now, grant_id, ids.digest(code),
        ) == 1

    # --- grants (what a user allowed an app) and the tokens issued under them ---
    def add_grant(self, *, api_key, user_id, scopes, auth_time, now, refresh_token: str | None) -> str:
        grant_id = ids.opaque()
        self._run(
            "INSERT INTO grants (id, api_key, user_id, scopes, auth_time, created, refresh_digest, refresh_used)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            grant_id, api_key, user_id, " ".join(scopes), auth_time, now,
            ids.digest(refresh_token) if refresh_token else None, now,
        )
        return grant_id

    def grant_by_refresh_token(self, refresh_token: str) -> Grant | None:
        row = self._one("SELECT * FROM grants WHERE refresh_digest = ?", ids.digest(refresh_token))
        return self._with_touch(_grant(row)) if row else None

    def grant(self, grant_id: str) -> Grant | None:
        row = self._one("SELECT * FROM grants WHERE id = ?", grant_id)
        return self._with_touch(_grant(row)) if row else None

    def _with_touch(self, grant: Grant) -> Grant:
        """The grant with this process's not yet written use of its refresh token."""
        touched = self._touched.get(grant.id)
        if touched is not None and (grant.refresh_used is None or touched > grant.refresh_used):
            return dataclasses.replace(grant, refresh_used=touched)
        return grant

    def touch_refresh_token(self, grant_id: str, now: float) -> None:
        """Note a refresh token's use (for its idle lifetime); written with the next flush."""
        with self._lock:
            self._touched[grant_id] = max(now, self._touched.get(grant_id, now))
            self._buffered()

    def revoke_grant(self, grant_id: str, now: float) -> None:
        with self.transaction():
            self.flush()
            self._run("UPDATE grants SET revoked = ? WHERE id = ? AND revoked IS NULL", now, grant_id)
            self._run("UPDATE access_tokens SET revoked = ? WHERE grant_id = ? AND revoked IS NULL", now, grant_id)

    def add_access_token(self, jti: str, grant_id: str | None, api_key: str, exp: float) -> None:
        """Record an issued access token (written with the next flush). A sibling worker that
        revokes the grant meanwhile is honoured: the row is written revoked then."""
        with self._lock:
            self._issued.append((jti, grant_id, api_key, exp, grant_id))
            self._buffered()

    def access_token_revoked(self, jti: str) -> bool:
        """True when the token was revoked, by itself or with its grant.

        Only tokens this server signed get here, so a token without a record is not revoked:
        its record is still on its way from the sibling worker that issued it a moment ago."""
        self.flush()
        row = self._one("SELECT revoked FROM access_tokens WHERE jti = ?", jti)
        return row is not None and row["revoked"] is not None

    def revoke_access_token(self, jti: str, api_key: str, exp: float, now: float) -> None:
        """Revoke one access token of ``api_key`` (the caller checked it is that app's)."""
        with self.transaction():
            self.flush()
            self._run("INSERT INTO access_tokens (jti, grant_id, api_key, exp, revoked) VALUES (?, NULL, ?, ?, ?)"
                      " ON CONFLICT (jti) DO UPDATE SET revoked = excluded.revoked"
                      " WHERE access_tokens.revoked IS NULL AND access_tokens.api_key = excluded.api_key",
                      jti, api_key, exp, now)

    # --- activity counts, for the instructor's view of a room ---
    def count(self, api_key: str, kind: str, now: float) -> None:
        """One more exchange, refresh, API call...; written with the next flush."""
        with self._lock:
            entry = self._counts.get((api_key, kind))
            if entry is None:
                self._counts[(api_key, kind)] = [1, now]
            else:
                entry[0] += 1
                entry[1] = max(entry[1], now)
            self._buffered()

    def activity(self) -> list[sqlite3.Row]:
        self.flush()
        return self._all("SELECT * FROM activity ORDER BY api_key, kind")

    # --- buffered writes ---
    def _buffered(self) -> None:
        """Called with the lock held after buffering a write: flush when it is time."""
        if self._pending_since is None:
            self._pending_since = time.monotonic()
        elif (time.monotonic() - self._pending_since >= FLUSH_AFTER
              or len(self._issued) + len(self._counts) + len(self._touched) >= FLUSH_BATCH):
            self.flush()

    def flush(self) -> None:
        """Write the buffered writes in one transaction (the server also calls this on a timer)."""
        with self._lock:
            if self._pending_since is None:
                return
            issued, counts, touched = self._issued, self._counts, self._touched
            self._issued, self._counts, self._touched, self._pending_since = [], {}, {}, None
            try:
                with self.transaction():
                    self._db.executemany(
                        "INSERT OR IGNORE INTO access_tokens (jti, grant_id, api_key, exp, revoked)"
                        " VALUES (?, ?, ?, ?, (SELECT revoked FROM grants WHERE id = ?))", issued)
                    self._db.executemany(
                        "INSERT INTO activity (api_key, kind, count, last) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (api_key, kind) DO UPDATE SET count = count + excluded.count,"
                        " last = MAX(last, excluded.last)",
                        [(key, kind, n, last) for (key, kind), (n, last) in counts.items()])
                    self._db.executemany(
                        "UPDATE grants SET refresh_used = MAX(COALESCE(refresh_used, 0), ?) WHERE id = ?",
                        [(when, grant_id) for grant_id, when in touched.items()])
            except BaseException:
                # Not lost: back into the buffer for the next try.
                self._issued[:0] = issued
                for key, (n, last) in counts.items():
                    entry = self._counts.setdefault(key, [0, last])
                    entry[0] += n
                    entry[1] = max(entry[1], last)
                for grant_id, when in touched.items():
                    self._touched[grant_id] = max(when, self._touched.get(grant_id, when))
                self._pending_since = self._pending_since or time.monotonic()
                raise

    # --- housekeeping ---
    def purge(self, now: float, *, keep_used_codes: float, refresh_idle: float) -> dict[str, int]:
        """Delete what can no longer be used, so a long workshop does not grow the database."""
        with self.transaction():
            self.flush()
            return {
                "codes": self._run("DELETE FROM codes WHERE expires < ?", now - keep_used_codes),
                "transactions": self._run("DELETE FROM transactions WHERE expires < ?", now),
                "sessions": self._run("DELETE FROM sessions WHERE expires < ?", now),
                "access_tokens": self._run("DELETE FROM access_tokens WHERE exp < ?", now),
                "grants": self._run(
                    "DELETE FROM grants WHERE (revoked IS NOT NULL OR refresh_digest IS NULL"
                    " OR refresh_used < ?) AND id NOT IN (SELECT grant_id FROM access_tokens"
                    " WHERE grant_id IS NOT NULL) AND id NOT IN (SELECT grant_id FROM codes"
                    " WHERE grant_id IS NOT NULL)",
                    now - refresh_idle,
                ),
            }


class _Transaction:
    """BEGIN ... COMMIT around a block; nested blocks join the outer one."""

    def __init__(self, store: Store):
        self.store = store

    def __enter__(self):
        store = self.store
        store._lock.acquire()
        store._depth += 1
        if store._depth == 1:
            try:
                fcntl.flock(store._write_fd, fcntl.LOCK_EX)
                store._db.execute("BEGIN IMMEDIATE")
            except BaseException:
                self._release()
                raise
        return self

    def _release(self):
        store = self.store
        try:
            if store._depth == 1 and store._write_fd is not None:
                fcntl.flock(store._write_fd, fcntl.LOCK_UN)
        finally:
            store._depth -= 1
            store._lock.release()

    def __exit__(self, exc_type, exc, tb):
        store = self.store
        try:
            if store._depth == 1:
                store._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self._release()
        return False


def _app(row) -> App:
    return App(api_key=row["api_key"], name=row["name"], secret_digest=row["secret_digest"],
               redirect_uris=tuple(json.loads(row["redirect_uris"])), public=bool(row["public"]))


def _user(row) -> User:
    return User(id=row["id"], username=row["username"], name=row["name"],
                password_hash=row["password_hash"], assigned=bool(row["assigned"]))


def _grant(row) -> Grant:
    return Grant(id=row["id"], api_key=row["api_key"], user_id=row["user_id"],
                 scopes=tuple(row["scopes"].split()), auth_time=row["auth_time"],
                 revoked=row["revoked"], refresh_used=row["refresh_used"])
