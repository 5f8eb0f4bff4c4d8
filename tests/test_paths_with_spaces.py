"""Folders whose names have a space and letters beyond ASCII (``C:\\Users\\Fïrst Läst\\...`` on a
learner's laptop): the virtual environment, the notebooks' folder, the sandbox's state folder
and a clone, each under ``Fïrst Läst``.

* A virtual environment there, with this checkout installed in it (editable; the other
  packages are this environment's, through a ``.pth`` file): notebook 01 passes strict nbval
  (its install-check cell runs the environment's Python through the shell), and
  ``fortellis-nb lab`` (the script pip wrote there) starts JupyterLab on a notebooks folder
  there. Slow: pip builds the package.
* ``dev.sh`` with its ``VENV`` and ``FORTELLIS_CONSTRAINTS`` there, in a clone there."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fortellis_nb.lessons.backend import free_port
from fortellis_nb.sandbox import stop_sandbox

ROOT = Path(__file__).resolve().parents[1]
FIRST = "01-welcome-and-setup.ipynb"
PLACE = "Fïrst Läst"
POSIX_ONLY = pytest.mark.skipif(os.name == "nt", reason="the venv's layout and dev.sh are the POSIX ones here")


def clean_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORTELLIS_") and k not in ("PYTHONPATH", "VENV")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """``Fïrst Läst/my env``: a virtual environment with this checkout installed, as
    ``pip install -e .`` does, its other packages this one's, and Jupyter's files (the
    JupyterLab application, the widget extension, the kernel spec) where pip puts them."""
    folder = tmp_path_factory.mktemp("paths") / PLACE / "my env"
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=300)
    python = folder / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "this-environment.pth").write_text(sysconfig.get_path("purelib") + "\n")
    (folder / "share").mkdir(exist_ok=True)
    (folder / "share" / "jupyter").symlink_to(Path(sys.prefix) / "share" / "jupyter")
    done = subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(ROOT)],
                          capture_output=True, text=True, timeout=600, env=clean_env())
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


@POSIX_ONLY
@pytest.mark.slow
def test_notebook_01_passes_strict_nbval_in_a_venv_and_folders_with_a_space(venv):
    place = venv.parent
    notebooks, state = place / "my notebooks", place / "state folder"
    copied = subprocess.run([venv / "bin" / "fortellis-nb", "notebooks", notebooks], capture_output=True, text=True,
                            env=clean_env(), timeout=120)
    assert copied.returncode == 0 and (notebooks / FIRST).is_file(), copied.stdout + copied.stderr
    try:
        done = subprocess.run([venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                               "--nbval-sanitize-with", ROOT / "tests" / "nbval-sanitize.cfg", FIRST],
                              cwd=notebooks, env=clean_env(FORTELLIS_SANDBOX_STATE=str(state)), capture_output=True,
                              text=True, timeout=600)
    finally:
        stop_sandbox(state)
    assert done.returncode == 0, done.stdout[-6000:]
    assert "failed" not in done.stdout


@POSIX_ONLY
@pytest.mark.slow
def test_fortellis_nb_lab_starts_in_a_venv_and_on_a_folder_with_a_space(venv):
    place = venv.parent
    notebooks, state, port, token = place / "lab notebooks", place / "lab state", free_port(), "t0ken"
    log_path = place / "lab log.txt"
    log = open(log_path, "w")  # noqa: SIM115 - JupyterLab's many lines go to a file, read below
    process = subprocess.Popen([venv / "bin" / "fortellis-nb", "lab", notebooks, "--stop-sandbox", "--no-browser",
                                "--port", str(port), f"--ServerApp.token={token}"], cwd=place,
                               env=clean_env(FORTELLIS_SANDBOX_STATE=str(state)), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/contents?token={token}", timeout=5) as answer:
                    listing = json.load(answer)
                break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
        assert FIRST in [item["name"] for item in listing["content"]]
        with urllib.request.urlopen(f"{base}/lab/tree/{FIRST}?token={token}", timeout=10) as answer:
            assert answer.status == 200
        urllib.request.urlopen(urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST"),
                               timeout=10).close()
        assert process.wait(timeout=60) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(30)
        log.close()
        stop_sandbox(state)
    said = log_path.read_text()
    assert f"Opening JupyterLab on {notebooks / FIRST}." in said
    assert "JupyterLab has stopped; so has the sandbox." in said


@POSIX_ONLY
@pytest.mark.skipif(not shutil.which("bash"), reason="dev.sh is a bash script")
def test_dev_sh_with_its_venv_and_constraints_in_folders_with_a_space(tmp_path):
    """A clone, its ``VENV`` and its constraints file under ``Fïrst Läst``; the venv is one dev.sh
    finds set up (its python this one, the stamp of an install with these constraints)."""
    place = tmp_path / PLACE
    clone, venv, constraints = place / "fortellis nb", place / "my env", place / "pins here.txt"
    clone.mkdir(parents=True)
    for name in ("dev.sh", "dev.py", "pyproject.toml"):
        shutil.copy2(ROOT / name, clone / name)
    shutil.copytree(ROOT / "notebooks", clone / "notebooks")
    constraints.write_text("requests>=2\n")
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (venv / "bin" / "python").chmod(0o755)
    fingerprint = hashlib.sha256((clone / "pyproject.toml").read_bytes() + constraints.read_bytes()).hexdigest()[:16]
    (venv / f".fortellis-nb-{fingerprint}-base").touch()
    env = clean_env(VENV=str(venv), FORTELLIS_CONSTRAINTS=str(constraints), PYTHONPATH=str(ROOT),
                    FORTELLIS_SANDBOX_STATE=str(place / "state folder"))
    done = subprocess.run(["bash", "dev.sh", "lab", "--stop-sandbox", "--version"], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Setting up" not in done.stdout  # the stamp was found: nothing installed
    assert f"Opening JupyterLab on {clone / 'fortellis-notebooks' / FIRST}." in done.stdout
    assert "so has the sandbox" in done.stdout
