"""What Binder builds from this repository: the Dockerfile ``repo2docker --no-build --debug``
prints (no Docker daemon needed) installs binder/requirements.txt and runs binder/postBuild, over
the base environment that repo2docker's lock file pins for binder/runtime.txt's Python."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import repo2docker
from packaging.utils import canonicalize_name

from .test_distribution import python_311, quiet_env, run, venv

ROOT = Path(__file__).resolve().parents[1]


def dockerfile() -> str:
    repo2docker = Path(sys.executable).with_name("repo2docker")
    command = [str(repo2docker) if repo2docker.exists() else "repo2docker", "--no-build", "--debug", str(ROOT)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "FROM " in done.stdout, done.stdout[:2000]
    return done.stdout


def runtime_python() -> str:
    return re.fullmatch(r"python-(\d+\.\d+)\s*", (ROOT / "binder" / "runtime.txt").read_text()).group(1)


#: conda-forge names of the base's Python packages whose name on PyPI differs.
PYPI_NAMES = {"brotli-python": "brotli", "jupyterhub-base": "jupyterhub", "nbconvert-core": "nbconvert",
              "python-fastjsonschema": "fastjsonschema"}


def base_python_packages(python: str) -> list[str]:
    """The Python packages of the base environment repo2docker builds on Binder (linux-64) for
    this Python, as ``name==version`` at the versions its conda lock file pins. Conda packages
    built for Python have a build string starting with "py" (``pyhd8ed1ab_0``, ``py311h...``);
    the rest (python itself, C libraries, nodejs, metapackages) pip has nothing to say about."""
    lock = Path(repo2docker.__file__).parent / "buildpacks" / "conda" / f"environment.py-{python}-linux-64.lock"
    packages = []
    for file in re.findall(r"^https://\S+/([^/#\s]+)\.(?:conda|tar\.bz2)#", lock.read_text(), re.M):
        name, version, build = file.rsplit("-", 2)
        if build.startswith("py"):
            packages.append(f"{PYPI_NAMES.get(name, name)}=={version}")
    return packages


def test_repo2docker_installs_our_pins_and_runs_our_post_build():
    text = dockerfile()
    python = runtime_python()
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


def test_the_base_lock_names_the_jupyter_packages_binder_starts_with():
    pins = dict(p.split("==") for p in base_python_packages(runtime_python()))
    assert {"jupyterlab", "notebook", "jupyter_server", "jupyterhub", "ipywidgets", "nbconvert"} <= set(pins)
    assert "python" not in pins and "nodejs" not in pins


@pytest.mark.slow
def test_our_pins_install_over_binder_s_base_without_a_conflict(tmp_path):
    """As repo2docker does: the base's packages at its lock's versions, then ``pip install
    --no-cache-dir -r binder/requirements.txt`` over them; whatever the pins leave of the base
    (notebook, jupyterhub, jupyter-resource-usage, ...) must still have what it requires."""
    python = python_311()
    if runtime_python() != "3.11" or python is None:
        pytest.skip("no Python 3.11 here, the one binder/runtime.txt names")
    bin_dir = venv(tmp_path / "binder", python)
    env = quiet_env()
    base = tmp_path / "base.txt"
    base.write_text("\n".join(base_python_packages(runtime_python())) + "\n")
    run([bin_dir / "python", "-m", "pip", "install", "--quiet", "--no-deps", "-r", base], env=env)
    run([bin_dir / "python", "-m", "pip", "install", "--quiet", "--no-cache-dir", "-r", "binder/requirements.txt"],
        env=env, cwd=ROOT)
    done = subprocess.run([bin_dir / "python", "-m", "pip", "check"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout
    # Every pin holds over the base, notebook among them: Binder opens Notebook 7 unless the link
    # says otherwise, and the base's own is pinned to an older JupyterLab than ours.
    freeze = run([bin_dir / "python", "-m", "pip", "list", "--format=freeze"], env=env).stdout
    installed = {canonicalize_name(name): version for name, version in re.findall(r"^(\S+)==(\S+)$", freeze, re.M)}
    pinned = {canonicalize_name(name): version for name, version
              in re.findall(r"^([\w.-]+)==(\S+)", (ROOT / "binder" / "requirements.txt").read_text(), re.M)}
    assert "notebook" in pinned and "jupyterlab" in pinned
    assert {name: installed.get(name) for name in pinned} == pinned
