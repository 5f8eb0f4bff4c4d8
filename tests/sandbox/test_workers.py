"""Several processes on one state directory: ``--workers N``, and what must stay right when
they share the database (a key rotated by one is used and published by all)."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from fortellis_nb.sandbox import Sandbox, Settings


def _kid(token: str) -> str:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def _client_token(info, session=None) -> str:
    response = (session or requests).post(f"{info['issuer']}/v1/token", auth=(info["api_key"], info["api_secret"]),
                                          data={"grant_type": "client_credentials", "scope": "anonymous"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_a_key_rotated_through_one_connection_is_used_by_the_other(tmp_path):
    state = tmp_path / "state"
    with Sandbox(Settings(state_dir=state)) as first, Sandbox(Settings(state_dir=state)) as second:
        info = second.info.as_dict()
        old = _kid(_client_token(info))
        new = first.rotate_keys()
        assert new != old
        assert _kid(_client_token(info)) == new
        kids = [k["kid"] for k in requests.get(f"{info['issuer']}/v1/keys", timeout=10).json()["keys"]]
        assert kids[0] == new and old in kids  # the old key stays published


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_workers_share_the_port_the_keys_and_stop_together(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "fortellis_nb.sandbox", "--state", str(tmp_path), "--port", "0",
                                "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(process.stdout.readline())
        assert info["pid"] == process.pid
        assert len(_children(process.pid)) == 2
        # A dozen keep-alive connections: the workers take turns accepting them.
        sessions = [requests.Session() for _ in range(12)]
        for session in sessions:  # every worker has loaded and used the first key
            _client_token(info, session)

        rotated = requests.post(f"{info['base_url']}/sandbox/admin/rotate-keys", timeout=10,
                                headers={"Authorization": f"Bearer {info['admin_token']}"})
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["kid"]
        for session in sessions:
            assert _kid(_client_token(info, session)) == new
            assert session.get(f"{info['issuer']}/v1/keys", timeout=10).json()["keys"][0]["kid"] == new
        assert (tmp_path / "server.json").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "Sandbox stopped." in out
    assert not (tmp_path / "server.json").exists()
    deadline = time.monotonic() + 5
    while _children(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _children(process.pid)
