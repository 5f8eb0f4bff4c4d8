"""A sandbox that cannot start says why in one message, with what to do, and exits non-zero
with no traceback: its port taken, its state folder a file, its disk full (a small tmpfs,
filled) or read-only, a frozen sandbox holding the state. Once the cause is gone, it starts,
as the same server."""

from __future__ import annotations

import contextlib
import html
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from fortellis_nb.sandbox.launcher import EXIT_CANNOT_START, EXIT_STATE_IN_USE

PROG = "python -m fortellis_nb.sandbox"


def sandbox(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORTELLIS_")}
    return subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def one_message(done: subprocess.CompletedProcess, code: int = EXIT_CANNOT_START) -> str:
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    return done.stderr.strip()


def test_a_port_in_use(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        said = one_message(sandbox("serve", "--state", str(tmp_path / "state"), "--port", str(port)))
    assert said == (f"Port {port} on 127.0.0.1 is in use by another program, so the sandbox cannot listen there. "
                    f"Start it on another port (--port 0 takes a free one), or stop the program that holds {port}.")


@pytest.mark.parametrize("command", ["serve", "start", "status", "stop"])
def test_a_state_folder_that_is_a_file(tmp_path, command):
    state = tmp_path / "state"
    state.write_text("not a folder")
    said = one_message(sandbox(command, "--state", str(state)))
    assert said == (f"The sandbox's state folder {state} is a file, not a folder. Move the file, or give another "
                    f"folder: {PROG} --state DIR (or FORTELLIS_SANDBOX_STATE).")
    assert state.read_text() == "not a folder"


def test_a_state_folder_under_a_file(tmp_path):
    (tmp_path / "notes").write_text("a file")
    state = tmp_path / "notes" / "state"
    said = one_message(sandbox("serve", "--state", str(state), "--port", "0"))
    assert said == (f"The sandbox's state folder {state} cannot be made: {tmp_path / 'notes'} is a file, not a "
                    f"folder. Move the file, or give another folder: {PROG} --state DIR (or FORTELLIS_SANDBOX_STATE).")


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB file system of its own (tmpfs; mounting needs root), unmounted afterwards."""
    where = tmp_path / "disk"
    where.mkdir()
    if getattr(os, "geteuid", lambda: None)() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", f"fnb-{uuid.uuid4().hex[:8]}", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"no tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(disk: Path, leave: int = 8 * 1024) -> Path:
    filler = disk / "filler"
    with filler.open("wb") as out, contextlib.suppress(OSError):
        while os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize > leave:
            out.write(b"\0" * 4096)
            out.flush()
    return filler


def test_a_full_disk_then_room_again(small_disk):
    state = small_disk / "state"
    state.mkdir(mode=0o700)
    filler = fill(small_disk)
    full = (f"The disk that holds the sandbox's state folder {state} is full. Free some space there and start "
            "again; nothing in the folder was changed.")
    assert one_message(sandbox("serve", "--state", str(state), "--port", "0")) == full
    assert list(state.iterdir()) == []  # no database begun: the next start is a clean first one
    assert one_message(sandbox("start", "--state", str(state)), code=1) == full  # the launcher passes it on
    filler.unlink()
    started = sandbox("start", "--state", str(state))
    try:
        assert started.returncode == 0, started.stderr
        assert '"issuer": "http://127.0.0.1:' in started.stdout
    finally:
        sandbox("stop", "--state", str(state))


def gone(pid: int) -> None:
    """Wait until process ``pid`` has ended: stop returns once server.json is removed, a moment
    before the process closes its last files and exits."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still runs 60 s after stop")


def test_a_read_only_state_folder_then_writable_again(small_disk):
    """A folder on a disk mounted read-only (as a hub's shared or a locked-down profile can be)."""
    state = small_disk / "state"
    first = sandbox("start", "--state", str(state))
    assert first.returncode == 0, first.stderr
    sandbox("stop", "--state", str(state))
    gone(json.loads(first.stdout)["pid"])  # its files closed: a disk with a file open for writing stays rw
    before = {path.name: path.read_bytes() for path in state.iterdir()}
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)

    def cannot_write(folder: Path, why: str) -> str:
        return (f"The sandbox cannot write in its state folder {folder} ({why}). Make the folder writable by you, "
                f"or give another one: {PROG} --state DIR (or FORTELLIS_SANDBOX_STATE).")

    database = state / "sandbox.sqlite3"
    assert one_message(sandbox("serve", "--state", str(state), "--port", "0")) == cannot_write(
        state, f"[Errno 30] Read-only file system: '{database}'")
    assert one_message(sandbox("start", "--state", str(state))) == cannot_write(
        state, f"[Errno 30] Read-only file system: '{state / 'sandbox.log'}'")
    new = small_disk / "new"
    assert one_message(sandbox("serve", "--state", str(new), "--port", "0")) == cannot_write(
        new, f"[Errno 30] Read-only file system: '{new}'")
    assert {path.name: path.read_bytes() for path in state.iterdir()} == before
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    again = sandbox("start", "--state", str(state))
    try:
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["issuer"] == json.loads(first.stdout)["issuer"]  # the same server
    finally:
        sandbox("stop", "--state", str(state))


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="a process is suspended with SIGSTOP on POSIX")
def test_a_frozen_sandbox_holding_the_state_is_named_within_seconds_and_stop_ends_it(tmp_path):
    state = tmp_path / "state"
    first = sandbox("start", "--state", str(state))
    assert first.returncode == 0, first.stderr
    info = json.loads(first.stdout)
    os.kill(info["pid"], signal.SIGSTOP)  # as Ctrl+Z in its terminal, or a laptop's sleep half-way, leaves it
    try:
        frozen = (f"The sandbox process {info['pid']} holds {state} but does not answer at {info['base_url']} "
                  f"(it is frozen or stuck): resume it with `kill -CONT {info['pid']}` if it was suspended "
                  f"(Ctrl+Z), or end it with `{PROG} stop --state {state}`, then start again.")
        for command, code in (("start", 1), ("serve", EXIT_STATE_IN_USE), ("status", 1)):
            began = time.monotonic()
            assert one_message(sandbox(command, "--state", str(state)), code=code) == frozen, command
            assert time.monotonic() - began < 20, command  # one health check's wait, not start's 30 s
        stopped = sandbox("stop", "--state", str(state))
        assert (stopped.returncode, stopped.stdout) == (0, "stopped\n")
        gone(info["pid"])
        assert "Sandbox stopped." in (state / "sandbox.log").read_text()  # continued, it stopped cleanly
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(info["pid"], signal.SIGKILL)
    again = sandbox("start", "--state", str(state))
    try:
        assert json.loads(again.stdout)["issuer"] == info["issuer"]
    finally:
        sandbox("stop", "--state", str(state))


def test_a_disk_that_fills_while_serving_then_has_room_again(small_disk):
    """The answer says the disk is full, in the form the client asked for, and nothing is lost:
    once there is room, the same request succeeds."""
    state = small_disk / "state"
    started = sandbox("start", "--state", str(state))
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    register = f"{info['base_url']}/sandbox/apps"
    try:
        before = requests.post(register, json={"name": "Before", "redirect_uris": [info["redirect_uri"]]}, timeout=30)
        assert before.status_code == 201
        filler = fill(small_disk, leave=0)
        said = (f"The disk that holds the sandbox's state folder {state} is full, so this request's changes were "
                "not saved. Free some space there and send it again.")
        # Registered until SQLite needs a page the full disk cannot give (its files had some room left).
        for n in range(200):
            wanted = {"name": "During", "redirect_uris": [f"{info['redirect_uri']}?n={n}&pad={'x' * 1500}"]}
            full = requests.post(register, json=wanted, timeout=30)
            if full.status_code != 201:
                break
        assert full.status_code == 500, full.text
        assert full.json() == {"error": "server_error", "error_description": said}
        page = requests.post(register, json=wanted, headers={"Accept": "text/html"}, timeout=30)
        assert page.status_code == 500 and html.escape(said, quote=False) in page.text
        filler.unlink()
        again = requests.post(register, json=wanted, timeout=30)
        assert again.status_code == 201, again.text
        for app in (before.json(), again.json()):  # both registered, with working credentials
            token = requests.post(f"{info['issuer']}/v1/token", auth=(app["api_key"], app["api_secret"]), timeout=30,
                                  data={"grant_type": "client_credentials", "scope": "anonymous"})
            assert token.status_code == 200, token.text
    finally:
        sandbox("stop", "--state", str(state))
