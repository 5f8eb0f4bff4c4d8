"""The sandbox as a process: the command line, and the per-user background launcher."""

import json
import os
import signal
import subprocess
import sys

import requests

from fortellis_nb.sandbox import ensure_sandbox, running_sandbox, stop_sandbox

REQUIRED = {"issuer", "api_key", "api_secret", "redirect_uri", "username", "password", "subscription_id",
            "api_base_url"}


def test_serve_prints_one_json_line_first_and_stops_cleanly(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "fortellis_nb.sandbox", "--state", str(tmp_path), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(process.stdout.readline())
        assert REQUIRED <= info.keys()
        assert info["issuer"].startswith("http://127.0.0.1:") and "/oauth2/aus" in info["issuer"]
        discovery = requests.get(f"{info['issuer']}/.well-known/openid-configuration", timeout=5).json()
        assert discovery["issuer"] == info["issuer"]
        assert (tmp_path / "server.json").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "Sandbox stopped." in out
    assert not (tmp_path / "server.json").exists()


def test_ensure_starts_once_and_reuses(tmp_path):
    state = tmp_path / "state"
    try:
        first = ensure_sandbox(state)
        second = ensure_sandbox(state)
        assert first.pid == second.pid and first.issuer == second.issuer
        assert running_sandbox(state) == first
        assert oct(os.stat(state / "server.json").st_mode & 0o777) == "0o600"
        # The CLI refuses to start a second server on the same state.
        refused = subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", "--state", str(state)],
                                 capture_output=True, text=True, timeout=20)
        assert refused.returncode == 1 and "already running" in refused.stderr
    finally:
        assert stop_sandbox(state) is True
    assert running_sandbox(state) is None
    assert stop_sandbox(state) is False
    # Started again, it comes back on the same port, so the issuer (and every token) stays valid.
    try:
        again = ensure_sandbox(state)
        assert again.issuer == first.issuer and again.api_secret == first.api_secret and again.pid != first.pid
    finally:
        stop_sandbox(state)


def test_a_stale_server_file_is_ignored(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "server.json").write_text(json.dumps({"pid": 999999, "base_url": "http://127.0.0.1:9"}))
    assert running_sandbox(state) is None


def test_status_and_stop_commands(tmp_path):
    state = str(tmp_path / "state")
    run = lambda *args: subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", *args, "--state", state],
                                       capture_output=True, text=True, timeout=30)
    assert run("status").returncode == 1
    started = run("start")
    assert started.returncode == 0 and REQUIRED <= json.loads(started.stdout).keys()
    assert run("status").returncode == 0
    assert run("stop").stdout.strip() == "stopped"
    assert run("status").stdout.strip() == "not running"
