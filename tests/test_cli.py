"""The ``fortellis-nb`` command, run as a learner runs it: in a child process, on a private
sandbox, with real JupyterLab."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fortellis_nb import cli
from fortellis_nb.install import kernel_config
from fortellis_nb.oauth.hints import BACK_TO_SANDBOX

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def command_env(state: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORTELLIS_")}
    return {**env, "FORTELLIS_SANDBOX_STATE": str(state), "PYTHONUTF8": "1"}


def fortellis_nb(*args, env, cwd, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fortellis_nb", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_notebooks_copies_once_and_never_overwrites(tmp_path):
    copied, kept = cli.copy_notebooks(tmp_path / "nb", out=lambda line: None)
    assert copied == NOTEBOOKS and kept == []
    for name in NOTEBOOKS:
        assert (tmp_path / "nb" / name).read_bytes() == (ROOT / "notebooks" / name).read_bytes()
    (tmp_path / "nb" / NOTEBOOKS[2]).write_text("my work")
    (tmp_path / "nb" / NOTEBOOKS[3]).unlink()
    said = []
    copied, kept = cli.copy_notebooks(tmp_path / "nb", out=said.append)
    assert copied == [NOTEBOOKS[3]] and len(kept) == 9
    assert (tmp_path / "nb" / NOTEBOOKS[2]).read_text() == "my work"
    assert said == [f"Copied 1 notebook into {tmp_path / 'nb'}.",
                    f"Kept 9 notebooks already in {tmp_path / 'nb'}, as they are (your work is never overwritten; "
                    "delete or rename one to get a fresh copy)."]


def test_jupyterlab_opens_on_notebook_01_and_as_root_is_allowed_to(tmp_path):
    command = cli.lab_command(tmp_path, ["--port", "9999"])
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={tmp_path}" in command
    assert "--LabApp.default_url=/lab/tree/01-welcome-and-setup.ipynb" in command
    assert "--ServerApp.default_url=/lab/tree/01-welcome-and-setup.ipynb" in command  # older JupyterLab
    assert command[-2:] == ["--port", "9999"]
    assert ("--allow-root" in command) == cli.is_root()
    assert cli.lab_command(tmp_path, ["--allow-root"]).count("--allow-root") == 1


def test_lab_opens_jupyterlab_on_01_with_the_sandbox_ready_and_says_the_sandbox_runs_on(tmp_path):
    state, port, token = tmp_path / "state", free_port(), "t0ken"
    env = command_env(state)
    # Its output goes to a file: JupyterLab logs a lot, and a full pipe nobody reads would stop it.
    log = open(tmp_path / "lab.log", "w+")  # noqa: SIM115 - read back below
    process = subprocess.Popen([sys.executable, "-m", "fortellis_nb", "lab", "nb", "--no-browser", "--port", str(port),
                                f"--ServerApp.token={token}"], cwd=tmp_path, env=env, stdout=log,
                               stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"{base}/api/contents?token={token}", timeout=5) as answer:
                    listing = json.load(answer)
                break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None, (tmp_path / "lab.log").read_text()
                time.sleep(0.1)
        else:
            pytest.fail("JupyterLab did not answer within 60 s")
        assert sorted(item["name"] for item in listing["content"] if item["name"].endswith(".ipynb")) == NOTEBOOKS
        # The address JupyterLab opens in the browser (and prints) is notebook 01's, and it answers.
        opened = f"{base}/lab/tree/01-welcome-and-setup.ipynb?token="
        assert opened in (tmp_path / "lab.log").read_text()
        with urllib.request.urlopen(f"{base}/lab/tree/01-welcome-and-setup.ipynb?token={token}", timeout=10) as answer:
            assert answer.status == 200
        running = fortellis_nb("sandbox", "status", env=env, cwd=tmp_path)
        assert running.returncode == 0 and json.loads(running.stdout)["issuer"].startswith("http://127.0.0.1:")
        shutdown = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
        urllib.request.urlopen(shutdown, timeout=10).close()
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.terminate()  # fortellis-nb lab stops its JupyterLab with it
            process.wait(30)
        log.close()
        stopped = fortellis_nb("sandbox", "stop", env=env, cwd=tmp_path)
    said = (tmp_path / "lab.log").read_text()
    assert process.returncode == 0
    lines = [line for line in said.splitlines() if not line.startswith("[")]  # JupyterLab's log lines
    assert lines[0] == f"Copied 10 notebooks into {tmp_path / 'nb'}."
    assert lines[1].startswith("The notebooks use the local sandbox, ready at http://127.0.0.1:")
    assert "(sign in as learner@example.com / sandbox-password)" in lines[1]
    assert lines[2] == f"Opening JupyterLab on {tmp_path / 'nb' / '01-welcome-and-setup.ipynb'}. " \
                       "Ctrl+C (twice) stops JupyterLab."
    assert lines[-2].startswith("JupyterLab has stopped. The sandbox is still running at http://127.0.0.1:")
    assert lines[-1].startswith("Stop it with: ") and lines[-1].endswith(" sandbox stop")
    assert stopped.stdout.strip() == "stopped"  # it was still running, as said


def test_lab_with_stop_sandbox_stops_it_when_jupyterlab_ends(tmp_path):
    state = tmp_path / "state"
    env = command_env(state)
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / NOTEBOOKS[0]).write_text("mine")
    # --version: real JupyterLab, which prints its version and ends at once.
    done = fortellis_nb("lab", "nb", "--stop-sandbox", "--version", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Kept 1 notebook already in" in done.stdout and "Copied 9 notebooks" in done.stdout
    assert done.stdout.rstrip().endswith("JupyterLab has stopped; so has the sandbox.")
    assert fortellis_nb("sandbox", "status", env=env, cwd=tmp_path).stdout.strip() == "not running"
    assert (tmp_path / "nb" / NOTEBOOKS[0]).read_text() == "mine"


def test_lab_with_settings_naming_another_server_says_which_and_where_and_offers_no_demo_user(tmp_path):
    state = tmp_path / "state"
    (tmp_path / "nb").mkdir()
    # The kernels run in the notebooks' folder, so its .env is the one the notebooks read.
    dotenv = tmp_path / "nb" / ".env"
    dotenv.write_text("FORTELLIS_ISSUER=https://identity.example.invalid/oauth2/aus1\nFORTELLIS_API_KEY=key\n")
    env = {**command_env(state), "FORTELLIS_API_SECRET": "secret"}
    done = fortellis_nb("lab", "nb", "--version", env=env, cwd=tmp_path)  # real JupyterLab, which ends at once
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[1] == (f"The notebooks use `https://identity.example.invalid/oauth2/aus1`, not the local sandbox (set "
                        f"by FORTELLIS_ISSUER and FORTELLIS_API_KEY in {dotenv.resolve()}; FORTELLIS_API_SECRET in "
                        f"the environment). {BACK_TO_SANDBOX}")
    assert lines[2].startswith("Opening JupyterLab on ")
    assert "sign in as" not in done.stdout and "the local sandbox, ready" not in done.stdout
    assert fortellis_nb("sandbox", "status", env=env, cwd=tmp_path).stdout.strip() == "not running"


def test_lab_with_a_dotenv_it_cannot_read_says_so_and_starts_nothing(tmp_path):
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / ".env").write_text("FORTELLIS_ISSUER=https://example.com/x\nnot a setting\n")
    said = []
    assert cli.lab(tmp_path / "nb", [], state_dir=tmp_path / "state", out=said.append) == 1
    assert said[-1].startswith("The notebooks' settings cannot be read: configuration_error: .env line 2 ")
    assert not (tmp_path / "state").exists()  # no sandbox started


def _clone_with_a_set_up_venv(tmp_path: Path) -> tuple[Path, dict]:
    """A clone of what dev.sh needs (itself, .gitignore, pyproject.toml, the notebooks), committed,
    and a .venv that dev.sh finds set up: its python is this one (with this checkout's package),
    its stamp the one dev.sh writes after an install, so nothing is installed."""
    import hashlib

    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("dev.sh", "dev.py", ".gitignore", "pyproject.toml"):
        shutil.copy2(ROOT / name, clone / name)
    shutil.copytree(ROOT / "notebooks", clone / "notebooks")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "clone"]):
        subprocess.run([*git, *args], cwd=clone, check=True, capture_output=True)
    venv = clone / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (venv / "bin" / "python").chmod(0o755)
    fingerprint = hashlib.sha256((clone / "pyproject.toml").read_bytes()).hexdigest()[:16]
    (venv / f".fortellis-nb-{fingerprint}-base").touch()
    env = {**command_env(tmp_path / "state"), "PYTHONPATH": str(ROOT)}
    env.pop("VENV", None)
    return clone, env


@pytest.mark.skipif(os.name == "nt" or not shutil.which("git") or not shutil.which("bash"),
                    reason="dev.sh is a bash script; this test needs git")
def test_dev_sh_lab_runs_the_learner_s_copies_and_leaves_the_clone_clean(tmp_path):
    clone, env = _clone_with_a_set_up_venv(tmp_path)
    done = subprocess.run(["bash", "dev.sh", "lab", "--stop-sandbox", "--version"], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    copies = clone / "fortellis-notebooks"
    assert f"Copied 10 notebooks into {copies}." in done.stdout
    assert f"Opening JupyterLab on {copies / '01-welcome-and-setup.ipynb'}." in done.stdout
    # After the course: the copies run and saved, pasted URLs in them, a .env beside them.
    (copies / NOTEBOOKS[1]).write_text('{"cells": "run, saved, with a pasted URL"}')
    (copies / ".env").write_text("FORTELLIS_API_SECRET=a-real-secret\n")
    status = subprocess.run(["git", "status", "--porcelain", "--ignored=no"], cwd=clone, capture_output=True,
                            text=True, check=True)
    assert status.stdout == ""


def test_sandbox_commands_go_to_the_sandbox_and_a_second_foreground_one_says_what_to_do(tmp_path):
    state = tmp_path / "state"
    env = command_env(state)
    assert fortellis_nb("sandbox", "status", env=env, cwd=tmp_path).returncode == 1
    started = fortellis_nb("sandbox", "start", env=env, cwd=tmp_path)
    try:
        info = json.loads(started.stdout)
        second = fortellis_nb("sandbox", "serve", env=env, cwd=tmp_path)
    finally:
        fortellis_nb("sandbox", "stop", env=env, cwd=tmp_path)
    assert second.returncode == 1
    assert f"A sandbox is already running for {state} at {info['base_url']}" in second.stderr
    assert "It is ready to use as it is" in second.stderr and " sandbox status" in second.stderr
    assert f" sandbox stop --state {state}" in second.stderr


def test_help_lists_every_command(tmp_path):
    said = fortellis_nb("--help", env=command_env(tmp_path), cwd=tmp_path).stdout
    for command in ("lab", "notebooks", "check", "kernel-config", "sandbox"):
        assert f"    {command}" in said
    wrong = fortellis_nb("notebooks", env=command_env(tmp_path), cwd=tmp_path)
    assert wrong.returncode == 2 and "the following arguments are required: DIR" in wrong.stderr


def test_kernel_config_where_it_cannot_write_says_so(tmp_path):
    (tmp_path / "etc").write_text("a file where the folder would go")  # refused even to root
    said = []
    assert kernel_config(str(tmp_path), out=said.append) == 1
    assert "not written" in said[0] and "The notebooks still work" in said[0]
    assert kernel_config(str(tmp_path / "venv"), out=said.append) == 0
    assert kernel_config(str(tmp_path / "venv"), out=said.append) == 0 and said[-1].endswith(": already set")


def test_lab_stopped_by_a_sigterm_stops_its_jupyterlab(tmp_path):
    if os.name == "nt":
        pytest.skip("no SIGTERM on Windows: a closed console ends the whole group there")
    import psutil  # ipykernel's dependency

    env = command_env(tmp_path / "state")
    log = open(tmp_path / "lab.log", "w+")  # noqa: SIM115 - read back below
    process = subprocess.Popen([sys.executable, "-m", "fortellis_nb", "lab", "nb", "--no-browser", "--port",
                                str(free_port())], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        lab = []
        while not lab:
            assert time.monotonic() < deadline and process.poll() is None, (tmp_path / "lab.log").read_text()
            time.sleep(0.2)
            lab = [child for child in psutil.Process(process.pid).children()
                   if "jupyterlab" in " ".join(child.cmdline())]  # (the sandbox is a child too, and stays)
        process.terminate()
        assert process.wait(30) == 128 + 15
        gone, alive = psutil.wait_procs(lab, timeout=15)
        assert not alive, f"JupyterLab still runs after fortellis-nb lab was stopped: {alive}"
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
        fortellis_nb("sandbox", "stop", env=env, cwd=tmp_path)
