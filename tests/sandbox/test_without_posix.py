"""The sandbox and its launcher need nothing that only POSIX systems have.

Windows has no ``fcntl``, ``os.fork``, ``os.setsid``, ``os.getuid`` or ``signal.SIGKILL``;
its asyncio loops refuse ``add_signal_handler``; and ``os.kill(pid, 0)`` there is not a
liveness check but a Ctrl+C sent to the process group. Here those pieces are taken away
(a ``sitecustomize`` that runs in every Python process the test starts, the background
sandbox included, once the standard library and the libraries we stand on have loaded), and the whole flow still runs:
start in the background, find it again, sign in, exchange, refresh, call the API, stop.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import fortellis_nb

SITECUSTOMIZE = textwrap.dedent('''
    # The standard library and the libraries the package stands on are loaded first: on Linux they
    # take their POSIX branches (platformdirs binds os.getuid); what must not use them is our code.
    import asyncio, os, signal, subprocess, sys, threading, socket, sqlite3, selectors
    import platformdirs, tornado.httpserver, tornado.web, requests, jwt, cryptography

    marker = os.environ.get("NO_POSIX_MARKERS")
    sys.modules["fcntl"] = None  # import fcntl now raises ImportError, as on Windows
    for name in ("fork", "forkpty", "setsid", "setpgid", "getuid", "geteuid", "getpgid", "killpg"):
        if hasattr(os, name):
            delattr(os, name)
    if hasattr(signal, "SIGKILL"):
        del signal.SIGKILL

    _kill = os.kill
    def kill(pid, sig):
        if sig not in (signal.SIGTERM,):  # Windows: anything else is not what it looks like
            raise AssertionError(f"os.kill({pid}, {sig}) on a path a learner takes")
        return _kill(pid, sig)
    os.kill = kill

    def add_signal_handler(self, *args, **kwargs):
        raise NotImplementedError  # what Windows' event loops answer
    asyncio.AbstractEventLoop.add_signal_handler = add_signal_handler
    asyncio.BaseEventLoop.add_signal_handler = add_signal_handler
    for name in ("SelectorEventLoop", "_UnixSelectorEventLoop"):
        loop_class = getattr(asyncio, name, None) or getattr(asyncio.unix_events, name, None)
        if loop_class is not None:
            loop_class.add_signal_handler = add_signal_handler

    if marker:
        with open(os.path.join(marker, f"{os.getpid()}.txt"), "w") as handle:
            handle.write(" ".join(sys.argv))
''')

FLOW = textwrap.dedent('''
    import sys
    try:
        import fcntl
    except ImportError:
        pass
    else:
        raise SystemExit("fcntl is still importable: the test does not test anything")

    from fortellis_nb.local import sandbox_client
    from fortellis_nb.sandbox import ensure_sandbox, running_sandbox, stop_sandbox

    state = sys.argv[1]
    info = ensure_sandbox(state)
    assert ensure_sandbox(state).pid == info.pid, "a second call must reuse the running sandbox"
    assert running_sandbox(state) == info
    client = sandbox_client(info)
    request = client.authorization_url(scopes="openid offline_access")
    tokens = client.exchange_code(client.parse_redirect(client.sign_in_headless(request)))
    assert tokens.id_claims["nonce"] == request.nonce
    assert client.refresh().refresh_token == tokens.refresh_token
    assert client.call_api("/sandbox/v1/dealership").status == 200
    assert stop_sandbox(state) is True
    assert running_sandbox(state) is None
    print("whole flow done with pid", info.pid)
''')


def test_the_whole_flow_with_the_posix_only_pieces_taken_away(tmp_path):
    site, markers = tmp_path / "site", tmp_path / "markers"
    site.mkdir()
    markers.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    package_root = str(Path(fortellis_nb.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), package_root]),
           "NO_POSIX_MARKERS": str(markers)}
    env.pop("FORTELLIS_SANDBOX_STATE", None)
    done = subprocess.run([sys.executable, "-c", FLOW, str(tmp_path / "state")], env=env,
                          capture_output=True, text=True, timeout=120)
    log = (tmp_path / "state" / "sandbox.log")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\nsandbox log:\n{log.read_text() if log.exists() else ''}"
    assert "whole flow done" in done.stdout
    # The background sandbox ran under the same restrictions: its process left a marker too.
    started = [path.read_text() for path in markers.iterdir()]
    assert any(argv.startswith("-m serve --state") for argv in started), started  # argv before -m resolves
    assert "Traceback" not in log.read_text()
