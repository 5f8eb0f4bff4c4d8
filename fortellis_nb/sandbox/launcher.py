"""One sandbox per user, shared by every notebook: start it in the background on first
use, reuse it afterwards, stop it cleanly, on Linux, macOS and Windows alike.

The state directory holds the database, ``server.json`` (how to reach the running server,
with its API Secret and admin token), the last port used (so a restart keeps the same
issuer) and the server's log. It lives in the user's own data folder (``platformdirs``),
which on Windows is private to the user by the folder's place in their profile; on Linux
and macOS the directory and ``server.json`` are also made readable by their owner only.

A sandbox is alive when its health endpoint answers with the server id and process id
that ``server.json`` names: no process signals are used to find out."""

from __future__ import annotations

import contextlib
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

import platformdirs

from .ids import build_id
from .state import SERVER_FILE, SandboxInfo, full_disk, nearly_full

PORT_FILE = "last-port"
LOG_FILE = "sandbox.log"
#: The exit status of a sandbox that found its state directory owned by another process.
EXIT_STATE_IN_USE = 3
#: The exit status of a sandbox that found its state database damaged (and left it as it was);
#: the last line of its log says what is wrong and what to do.
EXIT_STATE_DAMAGED = 4
#: The exit status of a sandbox that could not start (its port, its folder, a full disk); the
#: last line of its log says what is wrong and what to do.
EXIT_CANNOT_START = 5


class SandboxStartError(RuntimeError):
    """The background sandbox did not come up; the message quotes its log."""


def default_state_dir() -> Path:
    """``$FORTELLIS_SANDBOX_STATE``, else this user's state folder for fortellis-nb, plus
    ``sandbox``: ``~/.local/state/fortellis-nb/sandbox`` on Linux (``$XDG_STATE_HOME``
    honoured), ``~/Library/Application Support/fortellis-nb/sandbox`` on macOS,
    ``%LOCALAPPDATA%\\fortellis-nb\\sandbox`` on Windows. One per user, shared by all notebooks."""
    explicit = os.environ.get("FORTELLIS_SANDBOX_STATE")
    if explicit:
        return Path(explicit).expanduser()
    return Path(platformdirs.user_state_dir("fortellis-nb", appauthor=False)) / "sandbox"


def _state(state_dir) -> Path:
    path = Path(state_dir).expanduser() if state_dir else default_state_dir()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


#: The launcher talks only to a sandbox on this machine: directly, never through the proxy
#: that HTTP_PROXY, HTTPS_PROXY or ALL_PROXY name (a company's proxy cannot reach it).
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def open_here(request: str | urllib.request.Request, timeout: float):
    """``urlopen`` for a sandbox on this machine: never through a proxy."""
    return _DIRECT.open(request, timeout=timeout)


def _health(base_url: str, timeout: float = 3.0) -> dict | None:
    try:
        with open_here(f"{base_url}/sandbox/health", timeout=timeout) as response:
            health = json.load(response)
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return health if isinstance(health, dict) else None


def running_sandbox(state_dir=None) -> SandboxInfo | None:
    """The sandbox running for this state directory, if one answers; never starts one."""
    return probe(state_dir)[0]


def unresponsive_sandbox(state_dir=None) -> SandboxInfo | None:
    """The sandbox ``server.json`` names when it holds the state but does not answer."""
    return probe(state_dir)[1]


def probe(state_dir=None) -> tuple[SandboxInfo | None, SandboxInfo | None]:
    """One look at the sandbox ``server.json`` names: (it, None) when it answers as itself;
    (None, it) when its process is alive and its port takes connections but its health
    endpoint does not answer, a frozen (stopped, suspended) or stuck server that still holds
    the state; (None, None) when there is none, or the file is stale."""
    path = _state(state_dir) / SERVER_FILE  # a state folder that cannot be is the caller's to tell
    try:
        info = SandboxInfo.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None, None
    health = _health(info.base_url)
    if health is not None:  # else a stale file, or another server on that port now
        return (info if health.get("server_id") == info.server_id and health.get("pid") == info.pid else None), None
    return None, (info if _pid_alive(info.pid) and _accepts(info.base_url) else None)


def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists. Windows has no harmless signal (there ``os.kill`` ends
    the process), so there a pid counts as alive: the port then decides."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def _accepts(base_url: str) -> bool:
    """Whether something listens on ``base_url``'s port. A frozen process's listening socket
    still takes connections: the system completes them in its backlog, nobody answers."""
    host, port = base_url.rsplit("//", 1)[1].rsplit(":", 1)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=1.0).close()
    except (OSError, ValueError):
        return False
    return True


def unresponsive(info: SandboxInfo, prog: str = "python -m fortellis_nb.sandbox") -> str:
    """What to tell of a sandbox that holds its state but does not answer, and what to do."""
    if os.name == "posix":
        fix = f"resume it with `kill -CONT {info.pid}` if it was suspended (Ctrl+Z), or end it with `{prog} stop " \
              f"--state {info.state_dir}`"
    else:
        fix = f"end it with `{prog} stop --state {info.state_dir}` (or `taskkill /F /PID {info.pid}`)"
    return (f"The sandbox process {info.pid} holds {info.state_dir} but does not answer at {info.base_url} "
            f"(it is frozen or stuck): {fix}, then start again.")


def preferred_port(state_dir, host: str = "127.0.0.1") -> int:
    """The port used last time, if it is free (so the issuer stays the same), else 0."""
    try:
        port = int((Path(state_dir) / PORT_FILE).read_text())
    except (OSError, ValueError):
        return 0
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        if os.name == "posix":  # as the server will; on Windows it would let the port be shared
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return 0
    return port


def _detached() -> dict:
    """Popen arguments for a server that outlives the notebook's kernel and its terminal."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW}
    return {"start_new_session": True}  # not in the terminal's process group: Ctrl+C there leaves it be


def ensure_sandbox(state_dir=None, *, timeout: float = 30.0, extra_args: tuple[str, ...] = ()) -> SandboxInfo:
    """A running sandbox for this user: the one already running, or a new one started in
    the background (it outlives the notebook's kernel, so every notebook shares it).

    Two notebooks starting one at the same moment get the same server: the second server
    process finds the database owned by the first and exits, and both wait for the first."""
    state = _state(state_dir)
    info, frozen = probe(state)
    if frozen is not None:
        raise SandboxStartError(unresponsive(frozen))
    if info is not None:
        if (_health(info.base_url) or {}).get("build") == build_id():
            return info
        # A sandbox of other code (started before this install was upgraded, or edited) keeps
        # answering with its old rules: replace it, on the same state and port.
        stop_sandbox(state)
    with open(state / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "fortellis_nb.sandbox", "serve", "--state", str(state), *extra_args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True, **_detached(),
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = running_sandbox(state)
        if info is not None:
            if info.pid != process.pid and process.poll() is None:
                # Another launcher's server won. Ours is not needed, and must not start late,
                # once that one has stopped.
                process.terminate()
                process.wait(timeout=10)
            return info
        code = process.poll()
        if code == EXIT_STATE_IN_USE and (holder := unresponsive_sandbox(state)) is not None:
            raise SandboxStartError(unresponsive(holder))
        if code in (EXIT_STATE_DAMAGED, EXIT_CANNOT_START):
            raise SandboxStartError(_tail(state / LOG_FILE, lines=1))
        if code is not None and code != EXIT_STATE_IN_USE:
            raise SandboxStartError(f"The sandbox exited at start (code {code}). "
                                    f"Its log says:\n{_tail(state / LOG_FILE)}")
        time.sleep(0.05)
    if process.poll() == EXIT_STATE_IN_USE:
        raise SandboxStartError(f"Another sandbox process holds {state} but did not answer within {timeout:.0f} s. "
                                f"Its log says:\n{_tail(state / LOG_FILE)}")
    process.terminate()
    raise SandboxStartError(f"The sandbox did not answer within {timeout:.0f} s. Its log says:\n"
                            f"{_tail(state / LOG_FILE)}")


def stop_sandbox(state_dir=None, *, timeout: float = 10.0) -> bool:
    """Stop this user's background sandbox. True if one was running.

    It is asked to stop through its admin endpoint; only a server that still answers with
    its own server id and pid after ``timeout`` is terminated by its pid."""
    state = _state(state_dir)
    info, frozen = probe(state)
    if frozen is not None:
        _end(state, frozen, timeout)
        return True
    if info is None:
        return False
    request = urllib.request.Request(f"{info.base_url}/sandbox/admin/shutdown", method="POST", data=b"",
                                     headers={"Authorization": f"Bearer {info.admin_token}"})
    # It may close the connection as it stops; the wait below tells.
    with contextlib.suppress(OSError, urllib.error.URLError):
        open_here(request, timeout=5).close()
    if not _wait_until_stopped(state, info, timeout):
        if running_sandbox(state) == info:  # still that very server: its pid is not a stranger's
            os.kill(info.pid, signal.SIGTERM)  # on Windows this is TerminateProcess
        _wait_until_stopped(state, info, timeout)
    return True


def _end(state: Path, info: SandboxInfo, timeout: float) -> None:
    """End a sandbox that holds ``state`` but does not answer. A stopped (Ctrl+Z) process acts
    on SIGTERM once continued: it closes its database and removes ``server.json`` as on any
    stop; one that does not within ``timeout`` is killed (SQLite's log keeps what it committed)."""
    os.kill(info.pid, signal.SIGTERM)  # on Windows this is TerminateProcess
    if os.name == "posix":
        os.kill(info.pid, signal.SIGCONT)

    def gone() -> bool:
        return not (state / SERVER_FILE).exists() or not _pid_alive(info.pid) or not _accepts(info.base_url)

    deadline = time.monotonic() + timeout
    while not gone():
        if time.monotonic() > deadline:
            os.kill(info.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
            break
        time.sleep(0.05)


def _wait_until_stopped(state: Path, info: SandboxInfo, timeout: float) -> bool:
    """True once the server has released the state directory: it removes ``server.json``
    last, after closing its database. A server that died without removing it is gone once
    its health endpoint has stayed silent for two seconds."""
    deadline = time.monotonic() + timeout
    silent_since = None
    while time.monotonic() < deadline:
        if not (state / SERVER_FILE).exists():
            return True
        if _health(info.base_url, timeout=1.0) is None:
            silent_since = silent_since or time.monotonic()
            if time.monotonic() - silent_since > 2.0:
                return True
        else:
            silent_since = None
        time.sleep(0.05)
    return False


def _tail(path: Path, lines: int = 20) -> str:
    try:
        said = "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        said = ""
    if said.strip():
        return said
    return f"(nothing: {full_disk(path.parent)}. Free some space there and start again.)" \
        if nearly_full(path.parent) else "(nothing)"
