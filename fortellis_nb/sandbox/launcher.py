"""One sandbox per user, shared by every notebook: start it in the background on first
use, reuse it afterwards, stop it cleanly.

The state directory holds the database, ``server.json`` (how to reach the running server,
readable only by its owner), the last port used (so a restart keeps the same issuer) and
the server's log."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .server import SERVER_FILE, SandboxInfo

PORT_FILE = "last-port"
LOG_FILE = "sandbox.log"


class SandboxStartError(RuntimeError):
    """The background sandbox did not come up; the message quotes its log."""


def default_state_dir() -> Path:
    """``$FORTELLIS_SANDBOX_STATE``, else ``$XDG_STATE_HOME/fortellis-nb/sandbox``
    (``~/.local/state/fortellis-nb/sandbox``): one per user, shared by all notebooks."""
    explicit = os.environ.get("FORTELLIS_SANDBOX_STATE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "fortellis-nb" / "sandbox"


def _state(state_dir) -> Path:
    path = Path(state_dir).expanduser() if state_dir else default_state_dir()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_sandbox(state_dir=None) -> SandboxInfo | None:
    """The sandbox running for this state directory, if one answers; never starts one."""
    path = _state(state_dir) / SERVER_FILE
    try:
        info = SandboxInfo.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _alive(info.pid):
        return None
    try:
        with urllib.request.urlopen(f"{info.base_url}/sandbox/health", timeout=3) as response:
            health = json.load(response)
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return info if health.get("server_id") == info.server_id else None


@contextlib.contextmanager
def _launch_lock(state: Path):
    with open(state / ".launch.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def preferred_port(state_dir, host: str = "127.0.0.1") -> int:
    """The port used last time, if it is free (so the issuer stays the same), else 0."""
    try:
        port = int((Path(state_dir) / PORT_FILE).read_text())
    except (OSError, ValueError):
        return 0
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind((host, port))
        except OSError:
            return 0
    return port


def ensure_sandbox(state_dir=None, *, timeout: float = 30.0, extra_args: tuple[str, ...] = ()) -> SandboxInfo:
    """A running sandbox for this user: the one already running, or a new one started in
    the background (it outlives the notebook's kernel, so every notebook shares it)."""
    state = _state(state_dir)
    info = running_sandbox(state)
    if info is not None:
        return info
    with _launch_lock(state):
        info = running_sandbox(state)  # another notebook may have started it meanwhile
        if info is not None:
            return info
        with open(state / LOG_FILE, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "fortellis_nb.sandbox", "serve", "--state", str(state), *extra_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = running_sandbox(state)
            if info is not None and info.pid == process.pid:
                return info
            if process.poll() is not None:
                raise SandboxStartError(f"The sandbox exited at start (code {process.returncode}). "
                                        f"Its log says:\n{_tail(state / LOG_FILE)}")
            time.sleep(0.05)
        process.terminate()
        raise SandboxStartError(f"The sandbox did not answer within {timeout:.0f} s. Its log says:\n"
                                f"{_tail(state / LOG_FILE)}")


def stop_sandbox(state_dir=None, *, timeout: float = 10.0) -> bool:
    """Stop this user's background sandbox. True if one was running."""
    info = running_sandbox(state_dir)
    if info is None:
        return False
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(info.pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(info.pid, os.WNOHANG)
        time.sleep(0.05)
    if _alive(info.pid):
        os.kill(info.pid, signal.SIGKILL)
    return True


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
