"""dev.py, the two everyday commands for every shell (PowerShell and cmd.exe included): it offers
what dev.sh offers, sets up its environment once, says so when that fails, and shares the
environment with dev.sh. Run here on Linux; the workflow runs the suite on Windows and macOS."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_distribution import clean_copy, quiet_env

ROOT = Path(__file__).resolve().parents[1]


def commands(usage: str, prefix: str) -> list[str]:
    return re.findall(rf"^\s*{re.escape(prefix)} (\w+)\s", usage, re.M)


def child_env(**extra: str) -> dict:
    """A learner's environment: none of this run's settings (its PYTHONPATH, VENV, FORTELLIS_*)."""
    return {k: v for k, v in quiet_env(**extra).items() if k not in ("PYTHONPATH", "VENV")}


def dev_py(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, folder / "dev.py", *args], cwd=folder, env=child_env(**env),
                          capture_output=True, text=True, timeout=900)


def test_without_a_command_dev_py_shows_the_commands_dev_sh_has():
    done = dev_py(ROOT)
    assert done.returncode == 2
    assert commands(done.stderr, "py dev.py") == ["lab", "test", "notebooks"]
    if os.name != "nt":  # (Windows' `bash` may be WSL's, which knows no Windows path)
        shown = subprocess.run(["bash", ROOT / "dev.sh"], capture_output=True, text=True, timeout=60)
        assert commands(shown.stdout, "./dev.sh") == commands(done.stderr, "py dev.py")


@pytest.mark.slow
def test_dev_py_sets_up_once_says_when_it_fails_and_shares_dev_sh_s_environment(tmp_path):
    clone = clean_copy(tmp_path / "a clone, Ünïcode")
    venv = clone / ".venv"
    impossible = tmp_path / "constraints.txt"
    impossible.write_text("tornado==6.0\n")  # below pyproject.toml's floor: pip cannot resolve

    failed = dev_py(clone, "lab", "--help", FORTELLIS_CONSTRAINTS=str(impossible))
    assert failed.returncode == 1
    assert f"Setting up {venv} failed; the whole log: {venv / 'pip.log'}" in failed.stderr
    assert "tornado" in failed.stderr  # the end of pip's log, which names the conflict
    assert not list(venv.glob(".fortellis-nb-*"))

    first = dev_py(clone, "lab", "--help")
    assert first.returncode == 0, first.stderr
    assert f"Setting up {venv} (notebooks;" in first.stdout
    assert "usage: fortellis-nb lab [DIR]" in first.stdout  # fortellis-nb lab's own help: the hand-over
    again = dev_py(clone, "lab", "--help")
    assert again.returncode == 0 and "Setting up" not in again.stdout
    assert again.stdout.strip().startswith("usage: fortellis-nb lab")

    if os.name != "nt":  # dev.sh finds the environment dev.py set up as its own
        shown = subprocess.run(["bash", clone / "dev.sh", "lab", "--help"], env=child_env(), capture_output=True,
                               text=True, timeout=300)
        assert shown.returncode == 0 and "Setting up" not in shown.stdout, shown.stdout + shown.stderr
        assert shown.stdout.strip().startswith("usage: fortellis-nb lab")
