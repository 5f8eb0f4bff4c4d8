"""A sandbox that cannot start says why in one message, with what to do, and exits non-zero
with no traceback: its port taken, its state folder a file, its disk full (a small tmpfs,
filled). Once the disk has room again, it starts."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from fortellis_nb.sandbox.launcher import EXIT_CANNOT_START

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
