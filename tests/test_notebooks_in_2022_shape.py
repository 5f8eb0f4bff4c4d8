"""Every notebook runs green against a sandbox that issues the tokens of Fortellis' 2020-2022
shape (``FORTELLIS_SANDBOX_TOKEN_PROFILE=fortellis-2022``): nbval in lax mode, in a process of
its own with its own sandbox, since the committed outputs show the tutorial's shape."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from fortellis_nb.sandbox import running_sandbox, stop_sandbox

ROOT = Path(__file__).resolve().parents[1]


def test_every_notebook_runs_with_tokens_of_the_2022_shape(tmp_path):
    state = tmp_path / "sandbox-2022"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORTELLIS_")}
    env.update(FORTELLIS_SANDBOX_STATE=str(state), FORTELLIS_SANDBOX_TOKEN_PROFILE="fortellis-2022")
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                               "-o", "addopts=", "--nbval-lax", "notebooks"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=900)
        # The notebooks' sandbox issued the 2022 shape: its keys are named by UUIDs.
        info = running_sandbox(state)
        kids = [k["kid"] for k in requests.get(f"{info.issuer}/v1/keys", timeout=10).json()["keys"]]
    finally:
        stop_sandbox(state)
    assert done.returncode == 0, done.stdout[-4000:]
    assert " passed" in done.stdout.strip().splitlines()[-1]
    assert kids and all(len(kid) == 36 and kid.count("-") == 4 for kid in kids)
