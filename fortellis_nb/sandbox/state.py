"""What a process other than the server needs to know of a state folder: the file where a
running sandbox says how to reach it (``server.json``, read as :class:`SandboxInfo`), and
when a write failed because the folder's disk is full. Kept apart from the server, so that
finding a running sandbox (the launcher, a notebook's ``start()``) imports neither tornado
nor the cryptography."""

from __future__ import annotations

import errno
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path

#: The running server's own description of itself, in its state folder (mode 0600).
SERVER_FILE = "server.json"
_SECRET_FIELDS = {"api_secret", "password", "admin_token", "consent_api_secret"}


@dataclass(frozen=True)
class SandboxInfo:
    """Everything a script or a learner needs to use a running sandbox."""

    issuer: str
    api_key: str
    api_secret: str
    redirect_uri: str
    username: str
    password: str
    subscription_id: str
    api_base_url: str
    base_url: str
    server_id: str
    state_dir: str
    pid: int
    admin_token: str
    #: The second demo app, which asks for the user's consent (Allow, Don't allow).
    consent_api_key: str | None = None
    consent_api_secret: str | None = None
    #: Fortellis' Subscriptions service of this sandbox (None from a sandbox older than it).
    subscriptions_url: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SandboxInfo:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={'***' if f.name in _SECRET_FIELDS else repr(getattr(self, f.name))}" for f in fields(self)
        )
        return f"SandboxInfo({shown})"

    __str__ = __repr__


#: Less free space than this where the state folder is, and the disk is full for the sandbox: a
#: write that found no room is "disk I/O error" to SQLite as often as "database or disk is full",
#: and a sandbox that left no word in its log most likely could not write one.
FULL_DISK = 1 << 20


def nearly_full(state: Path) -> bool:
    """Whether the disk of ``state`` (or of its nearest existing parent) has almost no room."""
    place = next((p for p in (state, *state.parents) if p.exists()), None)
    try:
        return place is not None and shutil.disk_usage(place).free < FULL_DISK
    except OSError:
        return False


def disk_full(exc: BaseException, state: Path) -> bool:
    """Whether ``exc``, met while writing in ``state``, means that its disk is full."""
    text = str(exc).lower()
    return getattr(exc, "errno", None) == errno.ENOSPC or "disk is full" in text or (
        "disk i/o error" in text and nearly_full(state))


def full_disk(state: Path) -> str:
    return f"The disk that holds the sandbox's state folder {state} is full"
