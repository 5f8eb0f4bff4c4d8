"""A state database that is empty, cut short, another program's or damaged is reported at
start, with what to do, and left exactly as it was; only an absent database starts a new server.

Each case starts the sandbox as a learner's launcher does (``python -m fortellis_nb.sandbox
serve``, and ``ensure_sandbox``): one message, a non-zero exit, no traceback."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fortellis_nb.sandbox import ensure_sandbox
from fortellis_nb.sandbox.launcher import EXIT_STATE_DAMAGED, SandboxStartError
from fortellis_nb.sandbox.server import DATABASE_FILE
from fortellis_nb.sandbox.state import SERVER_FILE
from fortellis_nb.sandbox.storage import Store


def _empty(db: Path) -> None:
    db.write_bytes(b"")


def _not_sqlite(db: Path) -> None:
    db.write_text("apps: [demo]\n")


def _foreign(db: Path) -> None:
    with sqlite3.connect(db) as other:
        other.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        other.execute("INSERT INTO notes (text) VALUES ('mine')")
    other.close()


def _damaged_page(db: Path) -> None:
    Store(db).close()  # a sandbox's own database, written and closed
    with db.open("r+b") as file:
        file.seek(3 * 4096)  # a page of one of its tables: its b-tree header overwritten
        file.write(b"\xff" * 200)


CASES = {
    "empty": (_empty, "is empty (0 bytes): it was cut short (a full disk, a copy that stopped, a crash)"),
    "not SQLite": (_not_sqlite, "cannot be read (SQLite: file is not a database)"),
    "another program's": (_foreign, "holds another program's tables (notes), not a sandbox's"),
    "a damaged page": (_damaged_page, "cannot be read (SQLite: database disk image is malformed)"),
}


def fingerprint(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def expected(db: Path, what: str) -> str:
    folder = db.parent
    return (f"The sandbox's state database {db} {what}. It was left as it is. To start again, move the folder "
            f"aside (rename {folder} to {folder.name}-damaged, say) and start the sandbox: it makes a new folder, "
            "with new keys, the demo app and the demo users; the apps and users you registered stay in the old one.")


@pytest.mark.parametrize("case", CASES)
def test_serve_reports_it_in_one_message_and_leaves_it_as_it_was(tmp_path, case):
    make, what = CASES[case]
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    db = state / DATABASE_FILE
    make(db)
    before = fingerprint(state)
    done = subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", "serve", "--state", str(state), "--port", "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_STATE_DAMAGED, done.stdout + done.stderr
    assert done.stderr.strip() == expected(db, what) and "Traceback" not in done.stderr
    assert done.stdout == ""
    assert fingerprint(state) == before and not (state / SERVER_FILE).exists()


def test_the_launcher_passes_the_message_on(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    _empty(state / DATABASE_FILE)
    with pytest.raises(SandboxStartError) as caught:
        ensure_sandbox(state)
    assert str(caught.value) == expected(state / DATABASE_FILE, CASES["empty"][1])
    assert (state / DATABASE_FILE).read_bytes() == b""


def test_an_absent_database_starts_a_new_server_and_no_draft_is_left(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    store = Store(state / DATABASE_FILE)
    assert store.meta("server_id") is None  # a new server: its authority writes its ids next
    store.close()
    assert sorted(p.name for p in state.iterdir()) == [DATABASE_FILE]
    assert (state / DATABASE_FILE).read_bytes()[:16] == b"SQLite format 3\x00"
