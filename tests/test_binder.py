"""What Binder builds from this repository: the Dockerfile ``repo2docker --no-build --debug``
prints (no Docker daemon needed) uses binder/environment.yml and runs binder/postBuild."""

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


def test_repo2docker_uses_our_environment_and_runs_our_post_build():
    text = dockerfile()
    pinned = re.search(r"^\s*- python=(\d+\.\d+)\s*$", (ROOT / "binder" / "environment.yml").read_text(), re.M)
    # The conda buildpack, on the Python that binder/environment.yml pins ...
    assert f"environment.py-{pinned.group(1)}-linux-64.lock" in text.replace("-2e", ".").replace("-2d", "-")
    # ... updated from binder/environment.yml (the root one is ignored once binder/ exists) ...
    assert "COPY --chown=0:0 src/binder/environment.yml ${REPO_DIR}/binder/environment.yml" in text
    assert re.search(r'env update -p \$\{NB_PYTHON_PREFIX\} --file "binder/environment.yml"', text)
    assert '--file "environment.yml"' not in text
    # ... and our postBuild, run as the notebook user after the repository is copied in.
    copied, post_build = text.index("COPY --chown=0:0 src/ ${REPO_DIR}/"), text.index("RUN ./binder/postBuild")
    assert copied < post_build
    assert "USER ${NB_USER}" in text[copied:post_build]
