"""The sandbox's state in one embedded SQLite database, so a restart loses nothing.

Bearer secrets (codes, refresh tokens, session ids, API Secrets) are kept only as
SHA-256 digests; user passwords as salted PBKDF2 hashes.

One process owns the database: the connection takes SQLite's exclusive lock when it opens
the file and holds it until it closes (``locking_mode=EXCLUSIVE``), so a second sandbox on
the same state directory is refused at once, on every operating system, and a crashed
owner's lock goes with its process. Inside that process, writes that belong together are
one ``BEGIN IMMEDIATE`` transaction, and threads take turns on the one connection.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import ids
from .jwt_rs256 import SigningKey

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS signing_keys (
    kid TEXT PRIMARY KEY, private_pem TEXT NOT NULL, created REAL NOT NULL, retired REAL, activated REAL);
CREATE TABLE IF NOT EXISTS apps (
    api_key TEXT PRIMARY KEY, name TEXT NOT NULL, secret_digest TEXT NOT NULL,
    redirect_uris TEXT NOT NULL, public INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL,
    consent INTEGER NOT NULL DEFAULT 0, logout_uris TEXT, rate_limit INTEGER,
    manual_approval INTEGER NOT NULL DEFAULT 0, apis TEXT, api_quota INTEGER);
CREATE INDEX IF NOT EXISTS apps_by_secret ON apps(secret_digest);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE COLLATE NOCASE, name TEXT NOT NULL,
    password_hash TEXT NOT NULL, assigned INTEGER NOT NULL DEFAULT 1, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY, api_key TEXT, dealership TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
    org_id TEXT, entity_ids TEXT, status TEXT, activation_date TEXT, deactivation_date TEXT);
CREATE TABLE IF NOT EXISTS organizations (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL, country_code TEXT NOT NULL,
    phone TEXT NOT NULL, parent_id TEXT);
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
CREATE TABLE IF NOT EXISTS id_tokens (jti TEXT PRIMARY KEY, api_key TEXT NOT NULL, exp REAL NOT NULL);
CREATE TABLE IF NOT EXISTS activity (
    api_key TEXT NOT NULL, kind TEXT NOT NULL, count INTEGER NOT NULL, last REAL NOT NULL,
    PRIMARY KEY (api_key, kind));
"""
# Columns added since the first release: a state directory made by an older sandbox gets them
# when it opens (their defaults say what that older sandbox did).
ADDED_COLUMNS = (
    ("signing_keys", "activated", "REAL"),
    ("apps", "consent", "INTEGER NOT NULL DEFAULT 0"),
    ("apps", "logout_uris", "TEXT"),
    ("apps", "rate_limit", "INTEGER"),
    # Refresh token rotation (public apps): the token it replaced, and when.
    ("grants", "previous_digest", "TEXT"),
    ("grants", "rotated", "REAL"),
    # When each code was issued (the notebooks count its life down from there).
    ("codes", "issued", "REAL"),
    # Okta's settings.oauthClient.refresh_token per app: rotation_type and leeway (NULL: the default).
    ("apps", "rotation", "TEXT"),
    ("apps", "leeway", "REAL"),
    # A user's e-mail (NULL: the username) and claims of the learner's choosing (JSON object).
    ("users", "email", "TEXT"),
    ("users", "claims", "TEXT"),
    # The Marketplace: an app's activation settings, and each subscription's organization, chosen
    # locations (entities), status and dates (marketplace.py). `active` is only read to migrate.
    ("apps", "manual_approval", "INTEGER NOT NULL DEFAULT 0"),
    ("apps", "apis", "TEXT"),
    ("apps", "api_quota", "INTEGER"),
    ("subscriptions", "org_id", "TEXT"),
    ("subscriptions", "entity_ids", "TEXT"),
    ("subscriptions", "status", "TEXT"),
    ("subscriptions", "activation_date", "TEXT"),
    ("subscriptions", "deactivation_date", "TEXT"),
)
#: What a state directory made before the Marketplace knew of its subscriptions' dates.
UNKNOWN_DATE = ""

PBKDF2_ROUNDS = 20_000
BUSY_TIMEOUT = 2.0  # seconds a statement waits for a lock (only ever held by this process)


class StateInUse(RuntimeError):
    """Another sandbox process owns this state directory's database."""


class StateDamaged(RuntimeError):
    """The state database is damaged, empty, or another program's; it is left as it is."""


def damaged(path: Path, what: str) -> StateDamaged:
    """The error for a state database found damaged: what is wrong, that nothing was changed,
    and how to start again without losing the file."""
    folder = path.parent
    return StateDamaged(f"The sandbox's state database {path} {what}. It was left as it is. To start again, "
                        f"move the folder aside (rename {folder} to {folder.name}-damaged, say) and start the "
                        "sandbox: it makes a new folder, with new keys, the demo app and the demo users; the apps "
                        "and users you registered stay in the old one.")


def _written(row, what: str):
    """``row``, which this store has just written or wrote at its first start; never None."""
    if row is None:
        raise StateDamaged(f"The state database has no {what}, which the sandbox wrote itself: the file is "
                           "damaged. Move the state folder aside and start again (a new sandbox starts empty).")
    return row


def _check_before_opening(path: Path) -> None:
    """An empty database file, which SQLite would take for a new database, is reported, not
    opened: that would start a new server in the old one's place, in silence. Only an absent
    file starts a new server (see _create). Read with stat, not open: closing a file this
    process opened would drop the locks SQLite holds on it for another connection here."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    wal = path.with_name(path.name + "-wal")
    if size == 0 and not (wal.exists() and wal.stat().st_size):  # (a log's writes not yet in the file)
        raise damaged(path, "is empty (0 bytes): it was cut short (a full disk, a copy that stopped, a crash)")


def _check_after_opening(db: sqlite3.Connection, path: Path) -> None:
    """Another program's database, or one with damaged pages (SQLite's quick_check, a few
    milliseconds for a sandbox's), is reported before anything is written to it."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and "meta" not in tables:
        raise damaged(path, f"holds another program's tables ({', '.join(sorted(tables)[:5])}), not a sandbox's")
    problems = [row[0] for row in db.execute("PRAGMA quick_check(5)")]
    if problems != ["ok"]:
        raise damaged(path, f"is damaged (SQLite's integrity check: {'; '.join(problems)})")


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


@dataclass(frozen=True)
class App:
    api_key: str
    name: str
    secret_digest: str
    redirect_uris: tuple[str, ...]
    public: bool
    consent: bool = False  # Okta's consent_method REQUIRED: the user is asked before the code is issued
    logout_uris: tuple[str, ...] = ()  # Okta's "Sign-out redirect URIs"
    rate_limit: int | None = None  # requests per minute to /v1/authorize and /v1/token; None: the server's
    #: Okta's refresh_token.rotation_type, ROTATE or STATIC; None: Okta's default for the kind of
    #: app (single-page and other public apps rotate, web apps keep one token).
    rotation: str | None = None
    leeway: float | None = None  # Okta's refresh_token.leeway, 0 to 60 s; None: the server's (30)
    #: The Marketplace: whether the app's developer approves each activation by hand.
    manual_approval: bool = False
    #: The APIs the app added (the sample API's name, "sandbox"); calling another is UNAUTHORIZED-API-ACCESS.
    apis: tuple[str, ...] = ("sandbox",)
    #: How many API calls the app may make in all; None: no quota (past it, QUOTA-EXCEEDED).
    api_quota: int | None = None

    @property
    def rotation_type(self) -> str:
        return self.rotation or ("ROTATE" if self.public else "STATIC")

    def secret_matches(self, secret: str) -> bool:
        return hmac.compare_digest(ids.digest(secret), self.secret_digest)


@dataclass(frozen=True)
class User:
    id: str
    username: str
    name: str
    password_hash: str
    assigned: bool
    email: str | None = None  # None: the username, an e-mail address too
    claims: dict = field(default_factory=dict)  # OIDC Core 5.1 claims and custom ones (identity.user_claims)

    @property
    def email_address(self) -> str:
        return self.email or self.username


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
    issued: float | None = None


@dataclass(frozen=True)
class Grant:
    id: str
    api_key: str
    user_id: str
    scopes: tuple[str, ...]
    auth_time: float
    revoked: float | None
    refresh_used: float | None


#: The files SQLite keeps beside a database: the write-ahead log holds the latest writes (the
#: signing key among them) until they reach the database.
SIDE_FILES = ("-wal", "-shm", "-journal")


def _create(path: Path) -> None:
    """A new database at ``path`` (when none is there), never seen empty: it is made beside it,
    private (0600 on POSIX: SQLite gives its write-ahead log the database's mode) and with
    SQLite's header written, then put in place only if the place is still free. So an empty
    file at ``path`` is always one that was cut short, and two sandboxes starting at once on
    the same folder find one database."""
    if path.exists():
        return
    draft = path.with_name(f"{path.name}.new-{secrets.token_hex(4)}")
    try:
        os.close(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:  # not creatable (a read-only folder): SQLite's own open says so
        return
    try:
        db = sqlite3.connect(draft, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # the mode the store uses
            db.execute(SCHEMA.split(";")[0].strip())  # the meta table: a first write, and a header (or disk full)
        finally:
            db.close()
        if not draft.stat().st_size:
            raise OSError(errno.ENOSPC, "the new database could not be written", str(draft))
        try:
            os.link(draft, path)  # fails if another sandbox put its database there first
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: a rename that does not replace
            if os.name == "nt":
                with contextlib.suppress(FileExistsError):
                    os.rename(draft, path)
            elif not path.exists():
                os.rename(draft, path)
    finally:
        for leftover in (draft, *(draft.with_name(draft.name + side) for side in SIDE_FILES)):
            with contextlib.suppress(FileNotFoundError):
                os.remove(leftover)


def _keep_private(path: Path) -> None:
    """The database and the files SQLite keeps beside it, readable and writable by their owner
    alone, whatever the folder's mode (a state folder made by hand, or before the sandbox made
    its own 0700). On Windows the state folder's place, in the user's profile, keeps them private."""
    if os.name != "posix":
        return
    for name in (path, *(path.with_name(path.name + side) for side in SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(name, 0o600)


class Store:
    """All reads and writes of the sandbox's database. Safe to call from several threads.

    Raises StateInUse when another process holds the database."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._depth = 0
        # No waiting for the lock at first: a process that finds the database owned gives up at
        # once, rather than take it over the moment its owner stops (as after `stop`).
        _check_before_opening(self.path)
        _create(self.path)
        _keep_private(self.path)
        self._db = sqlite3.connect(self.path, timeout=0, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        try:
            # Exclusive before WAL: the lock is taken now and kept, and no shared-memory index is
            # made, so no other process can read or write behind this one's back.
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            _check_after_opening(self._db, self.path)  # before the first write: a foreign file stays as it was
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("BEGIN IMMEDIATE")  # the write lock, which this mode keeps from now on
            self._db.execute("COMMIT")
            self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._add_columns()
            self._migrate_subscriptions()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if "locked" in str(exc):
                raise StateInUse(f"Another sandbox process is using {self.path.parent}.") from None
            if isinstance(exc, sqlite3.OperationalError) and "malformed" not in str(exc):
                raise
            raise damaged(self.path, f"cannot be read (SQLite: {exc})") from None
        except StateDamaged:
            self._db.close()
            raise
        _keep_private(self.path)

    def _add_columns(self) -> None:
        for table, column, kind in ADDED_COLUMNS:
            present = {row["name"] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                if (table, column) == ("signing_keys", "activated"):  # the keys of old were active from creation
                    self._db.execute("UPDATE signing_keys SET activated = created")

    def _migrate_subscriptions(self) -> None:
        """A subscription of an older sandbox (a dealership's name and ``active``) becomes an
        organization of that name, which is its one location, activated on an unknown date: an
        active one stays active, an inactive one is pending approval, as the gateway treated it."""
        for row in self._db.execute("SELECT * FROM subscriptions WHERE status IS NULL").fetchall():
            org_id = str(uuid.uuid4())
            self._db.execute("INSERT INTO organizations VALUES (?, ?, '', 'US', '', NULL)", (org_id, row["dealership"]))
            self._db.execute("UPDATE subscriptions SET org_id = ?, entity_ids = ?, status = ?, activation_date = ?,"
                             " deactivation_date = '' WHERE id = ?",
                             (org_id, json.dumps([org_id]), "active" if row["active"] else "pending", UNKNOWN_DATE,
                              row["id"]))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _one(self, sql: str, *args):
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _all(self, sql: str, *args):
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _run(self, sql: str, *args) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    def transaction(self):
        """A context manager that makes several writes one atomic step."""
        return _Transaction(self)

    # --- settings that never change once made (server id, demo credentials) ---
    def meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", key)
        return row["value"] if row else None

    def required_meta(self, key: str) -> str:
        """A value the sandbox writes at its first start (its ids, the demo app's keys)."""
        return _written(self.meta(key), repr(key))

    def set_meta(self, key: str, value: str) -> None:
        self._run("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value)

    # --- signing keys ---
    def signing_keys(self) -> list[SigningKey]:
        rows = self._all("SELECT * FROM signing_keys ORDER BY created")
        return [SigningKey.from_pem(r["kid"], r["private_pem"], r["created"], r["activated"], r["retired"])
                for r in rows]

    def add_signing_key(self, key: SigningKey) -> None:
        self._run("INSERT INTO signing_keys (kid, private_pem, created, activated) VALUES (?, ?, ?, ?)",
                  key.kid, key.pem(), key.created, key.activated)

    def rotate_signing_keys(self, now: float) -> None:
        """The ACTIVE key becomes EXPIRED and the NEXT one ACTIVE, as Okta rotates keys."""
        with self.transaction():
            self._run("UPDATE signing_keys SET retired = ? WHERE retired IS NULL AND activated IS NOT NULL", now)
            self._run("UPDATE signing_keys SET activated = ? WHERE kid = (SELECT kid FROM signing_keys"
                      " WHERE retired IS NULL AND activated IS NULL ORDER BY created LIMIT 1)", now)

    def drop_signing_keys_retired_before(self, when: float) -> None:
        self._run("DELETE FROM signing_keys WHERE retired IS NOT NULL AND retired < ?", when)

    # --- apps (the developer portal) ---
    def add_app(self, name: str, redirect_uris: list[str], now: float, *, public: bool = False,
                consent: bool = False, logout_uris: list[str] | None = None, rate_limit: int | None = None,
                rotation: str | None = None, leeway: float | None = None, manual_approval: bool = False,
                apis: tuple[str, ...] = ("sandbox",), api_quota: int | None = None,
                api_key: str | None = None, api_secret: str | None = None) -> tuple[App, str]:
        key = api_key or ids.api_key()
        secret = api_secret or ids.api_secret()
        self._run(
            "INSERT INTO apps (api_key, name, secret_digest, redirect_uris, public, created, consent, logout_uris,"
            " rate_limit, rotation, leeway, manual_approval, apis, api_quota)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            key, name, ids.digest(secret), json.dumps(redirect_uris), int(public), now, int(consent),
            json.dumps(list(logout_uris or [])), rate_limit, rotation, leeway, int(manual_approval),
            json.dumps(list(apis)), api_quota,
        )
        return _written(self.app(key), f"app {key!r}"), secret

    def app(self, api_key: str) -> App | None:
        row = self._one("SELECT * FROM apps WHERE api_key = ?", api_key)
        return _app(row) if row else None

    def known_app(self, api_key: str) -> App:
        """An app this store has registered (apps are never removed)."""
        return _written(self.app(api_key), f"app {api_key!r}")

    def apps(self) -> list[App]:
        return [_app(r) for r in self._all("SELECT * FROM apps ORDER BY created")]

    # --- users ---
    def add_user(self, username: str, password_hash: str, name: str, now: float, *, assigned: bool = True,
                 email: str | None = None, claims: dict | None = None) -> User:
        """A new user; the caller hashed the password (``hash_password``, slow on purpose)."""
        user_id = ids.okta_id("00u")
        self._run(
            "INSERT INTO users (id, username, name, password_hash, assigned, created, email, claims)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            user_id, username, name, password_hash, int(assigned), now, email, json.dumps(claims or {}),
        )
        return _written(self.user(user_id), f"user {user_id!r}")

    def known_user(self, user_id: str) -> User:
        """A user this store has made (users are never removed)."""
        return _written(self.user(user_id), f"user {user_id!r}")

    def user(self, user_id: str) -> User | None:
        row = self._one("SELECT * FROM users WHERE id = ?", user_id)
        return _user(row) if row else None

    def user_by_name(self, username: str) -> User | None:
        row = self._one("SELECT * FROM users WHERE username = ?", username)
        return _user(row) if row else None

    def users(self) -> list[User]:
        return [_user(r) for r in self._all("SELECT * FROM users ORDER BY created")]

    # --- organizations (dealers) and their locations (entities) ---
    def add_organization(self, name: str, *, address: str = "", country_code: str = "US", phone: str = "",
                         parent_id: str | None = None) -> str:
        """A dealer (``parent_id`` None) or one of its locations; its id, a UUID as Fortellis'."""
        org_id = str(uuid.uuid4())
        self._run("INSERT INTO organizations (id, name, address, country_code, phone, parent_id)"
                  " VALUES (?, ?, ?, ?, ?, ?)", org_id, name, address, country_code, phone, parent_id)
        return org_id

    def organization(self, org_id: str):
        return self._one("SELECT * FROM organizations WHERE id = ?", org_id)

    def known_organization(self, org_id: str):
        """A dealer or location a subscription of this store names (they are never removed)."""
        return _written(self.organization(org_id), f"organization {org_id!r}")

    def organizations(self):
        """The dealers (not their locations), oldest first."""
        return self._all("SELECT * FROM organizations WHERE parent_id IS NULL ORDER BY rowid")

    def locations(self, org_id: str):
        """A dealer's locations, oldest first."""
        return self._all("SELECT * FROM organizations WHERE parent_id = ? ORDER BY rowid", org_id)

    # --- subscriptions (a dealer activating an app in the Marketplace: marketplace.py's rules) ---
    def add_subscription(self, api_key: str | None, org_id: str, entity_ids: list[str], *, status: str,
                         activation_date: str, subscription_id: str | None = None) -> str:
        sid = subscription_id or str(uuid.uuid4())
        org = self.known_organization(org_id)
        self._run(
            "INSERT INTO subscriptions (id, api_key, dealership, org_id, entity_ids, status, activation_date,"
            " deactivation_date) VALUES (?, ?, ?, ?, ?, ?, ?, '')",
            sid, api_key, org["name"], org_id, json.dumps(entity_ids), status, activation_date,
        )
        return sid

    def set_subscription_status(self, subscription_id: str, status: str, *, deactivation_date: str = "") -> None:
        self._run("UPDATE subscriptions SET status = ?, deactivation_date = ? WHERE id = ?",
                  status, deactivation_date, subscription_id)

    def subscription(self, subscription_id: str):
        return self._one("SELECT * FROM subscriptions WHERE id = ?", subscription_id)

    def all_subscriptions(self):
        return self._all("SELECT * FROM subscriptions WHERE api_key IS NOT NULL ORDER BY rowid")

    def subscriptions(self, api_key: str):
        """The app's own subscriptions, oldest first (not ``test``, which is every app's)."""
        return self._all("SELECT * FROM subscriptions WHERE api_key = ? ORDER BY rowid", api_key)

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
                 auth_time, expires, issued=None) -> None:
        self._run(
            "INSERT INTO codes (digest, api_key, user_id, redirect_uri, scopes, nonce, code_challenge,"
            " auth_time, expires, issued) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ids.digest(code), api_key, user_id, redirect_uri, " ".join(scopes), nonce, code_challenge,
            auth_time, expires, issued,
        )

    def code(self, code: str) -> Code | None:
        row = self._one("SELECT * FROM codes WHERE digest = ?", ids.digest(code))
        if not row:
            return None
        return Code(
            api_key=row["api_key"], user_id=row["user_id"], redirect_uri=row["redirect_uri"],
            scopes=tuple(row["scopes"].split()), nonce=row["nonce"], code_challenge=row["code_challenge"],
            auth_time=row["auth_time"], expires=row["expires"], used=row["used"], grant_id=row["grant_id"],
            issued=row["issued"],
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
        return _grant(row) if row else None

    def grant_by_replaced_refresh_token(self, refresh_token: str) -> tuple[Grant, float] | None:
        """The grant whose refresh token ``refresh_token`` was until a rotation, and when that was."""
        row = self._one("SELECT * FROM grants WHERE previous_digest = ?", ids.digest(refresh_token))
        return (_grant(row), row["rotated"]) if row else None

    def rotate_refresh_token(self, grant_id: str, new_token: str, now: float, *, keep_previous: bool) -> None:
        """Replace the grant's refresh token. The replaced one is remembered (reuse detection,
        the grace period), unless ``keep_previous``: a second rotation within the grace period
        keeps the first replaced token as the one remembered."""
        if keep_previous:
            self._run("UPDATE grants SET refresh_digest = ? WHERE id = ?", ids.digest(new_token), grant_id)
        else:
            self._run("UPDATE grants SET previous_digest = refresh_digest, refresh_digest = ?, rotated = ? WHERE id = ?",
                      ids.digest(new_token), now, grant_id)

    def grant(self, grant_id: str) -> Grant | None:
        row = self._one("SELECT * FROM grants WHERE id = ?", grant_id)
        return _grant(row) if row else None

    def touch_refresh_token(self, grant_id: str, now: float) -> None:
        """Note a refresh token's use (its idle lifetime counts from the latest)."""
        self._run("UPDATE grants SET refresh_used = MAX(COALESCE(refresh_used, 0), ?) WHERE id = ?", now, grant_id)

    def revoke_grant(self, grant_id: str, now: float) -> None:
        with self.transaction():
            self._run("UPDATE grants SET revoked = ? WHERE id = ? AND revoked IS NULL", now, grant_id)
            self._run("UPDATE access_tokens SET revoked = ? WHERE grant_id = ? AND revoked IS NULL", now, grant_id)

    def add_access_token(self, jti: str, grant_id: str | None, api_key: str, exp: float) -> None:
        """Record an issued access token, so that it can be revoked (alone or with its grant)."""
        self._run("INSERT INTO access_tokens (jti, grant_id, api_key, exp) VALUES (?, ?, ?, ?)",
                  jti, grant_id, api_key, exp)

    def access_token_revoked(self, jti: str) -> bool:
        """True when the token was revoked, by itself or with its grant. Only tokens this
        server signed get here, and it records each one it signs."""
        row = self._one("SELECT revoked FROM access_tokens WHERE jti = ?", jti)
        return row is not None and row["revoked"] is not None

    def revoke_access_token(self, jti: str, api_key: str, exp: float, now: float) -> None:
        """Revoke one access token of ``api_key`` (the caller checked it is that app's)."""
        self._run("INSERT INTO access_tokens (jti, grant_id, api_key, exp, revoked) VALUES (?, NULL, ?, ?, ?)"
                  " ON CONFLICT (jti) DO UPDATE SET revoked = excluded.revoked"
                  " WHERE access_tokens.revoked IS NULL AND access_tokens.api_key = excluded.api_key",
                  jti, api_key, exp, now)

    def add_id_token(self, jti: str, api_key: str, exp: float) -> None:
        """Record which app an ID token was issued to: /v1/logout finds the app from the hint even
        when the token's audience does not name it (the fortellis-2022 shape: aud "fortellis")."""
        self._run("INSERT INTO id_tokens (jti, api_key, exp) VALUES (?, ?, ?)", jti, api_key, exp)

    def id_token_app(self, jti: str) -> str | None:
        row = self._one("SELECT api_key FROM id_tokens WHERE jti = ?", jti)
        return row["api_key"] if row else None

    # --- activity counts, for the instructor's view of a room ---
    def count(self, api_key: str, kind: str, now: float) -> None:
        """One more exchange, refresh, API call..."""
        self._run("INSERT INTO activity (api_key, kind, count, last) VALUES (?, ?, 1, ?)"
                  " ON CONFLICT (api_key, kind) DO UPDATE SET count = count + 1, last = MAX(last, excluded.last)",
                  api_key, kind, now)

    def activity_count(self, api_key: str, kind: str) -> int:
        row = self._one("SELECT count FROM activity WHERE api_key = ? AND kind = ?", api_key, kind)
        return row["count"] if row else 0

    def activity(self) -> list[sqlite3.Row]:
        return self._all("SELECT * FROM activity ORDER BY api_key, kind")

    # --- housekeeping ---
    def purge(self, now: float, *, keep_used_codes: float, refresh_idle: float) -> dict[str, int]:
        """Delete what can no longer be used, so a long workshop does not grow the database."""
        with self.transaction():
            return {
                "codes": self._run("DELETE FROM codes WHERE expires < ?", now - keep_used_codes),
                "transactions": self._run("DELETE FROM transactions WHERE expires < ?", now),
                "sessions": self._run("DELETE FROM sessions WHERE expires < ?", now),
                "access_tokens": self._run("DELETE FROM access_tokens WHERE exp < ?", now),
                # An expired ID token still signs its user out (Okta), for a day.
                "id_tokens": self._run("DELETE FROM id_tokens WHERE exp < ?", now - 86400),
                "grants": self._run(
                    "DELETE FROM grants WHERE (revoked IS NOT NULL OR refresh_digest IS NULL"
                    " OR refresh_used < ?) AND id NOT IN (SELECT grant_id FROM access_tokens"
                    " WHERE grant_id IS NOT NULL) AND id NOT IN (SELECT grant_id FROM codes"
                    " WHERE grant_id IS NOT NULL)",
                    now - refresh_idle,
                ),
            }


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT around a block; nested blocks join the outer one."""

    def __init__(self, store: Store):
        self.store = store

    def __enter__(self):
        store = self.store
        store._lock.acquire()
        store._depth += 1
        if store._depth == 1:
            try:
                store._db.execute("BEGIN IMMEDIATE")
            except BaseException:
                store._depth -= 1
                store._lock.release()
                raise
        return self

    def __exit__(self, exc_type, exc, tb):
        store = self.store
        try:
            if store._depth == 1:
                store._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            store._depth -= 1
            store._lock.release()
        return False


def _app(row) -> App:
    redirect_uris = tuple(json.loads(row["redirect_uris"]))
    # An app registered before sign-out URIs existed may sign out to its callbacks, as before.
    logout = row["logout_uris"]
    return App(api_key=row["api_key"], name=row["name"], secret_digest=row["secret_digest"],
               redirect_uris=redirect_uris, public=bool(row["public"]), consent=bool(row["consent"]),
               logout_uris=tuple(json.loads(logout)) if logout is not None else redirect_uris,
               rate_limit=row["rate_limit"], rotation=row["rotation"], leeway=row["leeway"],
               manual_approval=bool(row["manual_approval"]),
               # An app registered before apps chose their APIs had the sample API.
               apis=tuple(json.loads(row["apis"])) if row["apis"] is not None else ("sandbox",),
               api_quota=row["api_quota"])


def _user(row) -> User:
    return User(id=row["id"], username=row["username"], name=row["name"],
                password_hash=row["password_hash"], assigned=bool(row["assigned"]), email=row["email"],
                claims=json.loads(row["claims"]) if row["claims"] else {})


def _grant(row) -> Grant:
    return Grant(id=row["id"], api_key=row["api_key"], user_id=row["user_id"],
                 scopes=tuple(row["scopes"].split()), auth_time=row["auth_time"],
                 revoked=row["revoked"], refresh_used=row["refresh_used"])
