"""What Binder builds from this repository: the Dockerfile ``repo2docker --no-build --debug``
prints (no Docker daemon needed) installs binder/requirements.txt and runs binder/postBuild."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def dockerfile() -> str:
    repo2docker = Path(sys.executable).with_name("repo2docker")
    command = [str(repo2docker) if repo2docker.exists() else "repo2docker", "--no-build", "--debug", str(ROOT)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "FROM " in done.stdout, done.stdout[:2000]
    return done.stdout


def test_repo2docker_installs_our_pins_and_runs_our_post_build():
    text = dockerfile()
    python = re.fullmatch(r"python-(\d+\.\d+)\s*", (ROOT / "binder" / "runtime.txt").read_text()).group(1)
    # The Python buildpack, on the Python that binder/runtime.txt names ...
    assert f"environment.py-{python}-linux-64.lock" in text.replace("-2e", ".").replace("-2d", "-")
    # ... with every package pinned by binder/requirements.txt (the root environment.yml is
    # for conda users: once binder/ exists repo2docker reads only what is in it) ...
    assert "COPY --chown=0:0 src/binder/requirements.txt ${REPO_DIR}/binder/requirements.txt" in text
    assert re.search(r'pip install --no-cache-dir -r "binder/requirements.txt"', text)
    assert "environment.yml" not in text
    # ... and our postBuild, run as the notebook user after the repository is copied in.
    copied, post_build = text.index("COPY --chown=0:0 src/ ${REPO_DIR}/"), text.index("RUN ./binder/postBuild")
    assert copied < post_build
    assert "USER ${NB_USER}" in text[copied:post_build]
