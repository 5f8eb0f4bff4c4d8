"""What a learner who never clones the repository gets: the wheel and sdist built as PyPI
would have them, installed into fresh virtual environments (not editable).

* the wheel carries the ten notebooks, byte for byte those of ``notebooks/``; the sdist
  carries what runs the suite; building either prints no setuptools warning; ``twine check
  --strict`` passes both (what the release workflow checks before publishing);
* ``pip install <wheel>`` then ``fortellis-nb notebooks DIR`` in an empty folder gives the
  notebooks, and notebook 01 passes nbval there, away from this repository;
* ``binder/requirements.txt``, exactly as pinned, installs into a fresh Python 3.11 and
  passes the install check (what Binder builds).

Slow (each makes a virtual environment): ``-m "not slow"`` leaves them out.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
pytestmark = pytest.mark.slow

#: What setuptools prints when it warns (its deprecation banners and distutils' "warning:").
SETUPTOOLS_WARNING = re.compile(r"SetuptoolsDeprecationWarning|BuildBackendWarning|SetuptoolsWarning|"
                                r"^\s*warning: |^\s*!!\s*$", re.M)


def quiet_env(**extra) -> dict:
    """This environment without the settings that would leak into a child's run: no FORTELLIS_*
    (the sandbox is the child's own), bytecode allowed (as on a learner's machine)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FORTELLIS_", "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV"))}
    return {**env, **extra}


def run(command, **options) -> subprocess.CompletedProcess:
    options.setdefault("timeout", 900)
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, **options)
    assert done.returncode == 0, f"{' '.join(map(str, command))} exited {done.returncode}:\n" \
                                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def venv(folder: Path, python: str = sys.executable) -> Path:
    run([python, "-m", "venv", folder])
    return folder / ("Scripts" if os.name == "nt" else "bin")


def clean_copy(folder: Path) -> Path:
    """The repository as a fresh clone would have it, in `folder` (this tree itself when git is
    not here): files left by local runs (.venv, caches, artifacts) are not copied."""
    if not ((ROOT / ".git").exists() and shutil.which("git")):
        return ROOT
    files = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT).stdout
    for name in filter(None, files.split("\0")):
        if (ROOT / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """The wheel and the sdist, built by ``python -m build`` in its isolated environment, as a
    release would be; with what the build printed."""
    out = tmp_path_factory.mktemp("dist")
    source = clean_copy(tmp_path_factory.mktemp("source") / "fortellis-nb")
    done = run([sys.executable, "-m", "build", "--outdir", out, source], env=quiet_env())
    return {"wheel": next(out.glob("*.whl")), "sdist": next(out.glob("*.tar.gz")),
            "log": done.stdout + done.stderr}


def test_the_build_prints_no_setuptools_warning(built):
    found = [line for line in built["log"].splitlines() if SETUPTOOLS_WARNING.search(line)]
    assert not found, "\n".join(found[:20])


def test_the_wheel_carries_the_notebooks_as_they_are_in_the_repository(built):
    with zipfile.ZipFile(built["wheel"]) as wheel:
        packaged = {Path(n).name: wheel.read(n) for n in wheel.namelist()
                    if n.startswith("fortellis_nb/notebooks/") and n.endswith(".ipynb")}
        metadata = wheel.read(next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))).decode()
        names = wheel.namelist()
    assert packaged == {p.name: p.read_bytes() for p in NOTEBOOKS} and len(packaged) == 10
    assert "License-Expression: MIT" in metadata
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert any(n.endswith("entry_points.txt") for n in names)


def test_the_sdist_carries_what_runs_the_suite(built):
    with tarfile.open(built["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for wanted in ("dev.sh", "dev.py", "CHANGELOG.md", "conftest.py", "LICENSE", "pyproject.toml", "tests/conftest.py",
                   "tests/nbval-sanitize.cfg", "tests/interop/npm_cache.py", "binder/requirements.txt",
                   "binder/postBuild", ".ci/run", *(f"notebooks/{p.name}" for p in NOTEBOOKS)):
        assert wanted in names, wanted
    assert not [n for n in names if "__pycache__" in n or n.startswith("test-artifacts")]
    # Every file of the suite and the benchmarks that the repository holds (a browser test's
    # page and script too), where this runs from a checkout.
    tracked = subprocess.run(["git", "ls-files", "tests", "bench"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode == 0:
        assert sorted(set(tracked.stdout.splitlines()) - names) == []


def test_twine_passes_the_distributions_as_pypi_would_take_them(built):
    # What the release workflow runs before publishing: the README renders on PyPI, metadata complete.
    done = run([sys.executable, "-m", "twine", "check", "--strict", built["wheel"], built["sdist"]])
    assert done.stdout.count("PASSED") == 2, done.stdout


def test_pip_install_then_fortellis_nb_notebooks_then_notebook_01_passes(built, tmp_path):
    bin_dir = venv(tmp_path / "v")
    run([bin_dir / "python", "-m", "pip", "install", "--quiet", built["wheel"], "nbval", "pytest"],
        env=quiet_env())
    work = tmp_path / "learner"
    work.mkdir()
    command = bin_dir / ("fortellis-nb.exe" if os.name == "nt" else "fortellis-nb")
    said = run([command, "notebooks", "nb"], cwd=work, env=quiet_env()).stdout
    assert sorted(p.name for p in (work / "nb").iterdir()) == [p.name for p in NOTEBOOKS]
    assert "Copied 10 notebooks" in said and "01-welcome-and-setup.ipynb" in said
    # A second time keeps the learner's copies, and says so.
    (work / "nb" / NOTEBOOKS[0].name).write_text("my work")
    said = run([command, "notebooks", "nb"], cwd=work, env=quiet_env()).stdout
    assert "Kept 10 notebooks" in said and (work / "nb" / NOTEBOOKS[0].name).read_text() == "my work"
    shutil.copyfile(NOTEBOOKS[0], work / "nb" / NOTEBOOKS[0].name)

    state = tmp_path / "sandbox"
    env = quiet_env(FORTELLIS_SANDBOX_STATE=str(state))
    try:
        done = subprocess.run([bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                               "--nbval-sanitize-with", ROOT / "tests" / "nbval-sanitize.cfg",
                               "nb/01-welcome-and-setup.ipynb"], cwd=work, env=env, capture_output=True,
                              text=True, timeout=600)
    finally:
        subprocess.run([command, "sandbox", "stop", "--state", state], env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stdout[-4000:]
    assert re.search(r"\b\d+ passed\b", done.stdout) and "failed" not in done.stdout


def python_311() -> str | None:
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(root.glob("3.11.*/bin/python3"))
    # On PATH otherwise: the CI workflow's setup-python puts 3.11 there beside the Python it tests.
    return str(found[-1]) if found else shutil.which("python3.11")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Binder builds on Linux, and its pins are Linux's")
def test_the_pinned_binder_requirements_install_and_pass_the_install_check(built, tmp_path):
    python = python_311()
    if python is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no Python 3.11 here (binder/runtime.txt's); CI=true makes that a failure")
        pytest.skip("no Python 3.11 here, the one binder/runtime.txt names")
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
    bin_dir = venv(tmp_path / "binder", python)
    env = quiet_env()
    run([bin_dir / "python", "-m", "pip", "install", "--quiet", "-r", ROOT / "binder" / "requirements.txt"], env=env)
    run([bin_dir / "python", "-m", "pip", "install", "--quiet", "--no-deps", built["wheel"]], env=env)  # postBuild's
    run([bin_dir / "python", "-m", "pip", "check"], env=env)
    state = tmp_path / "sandbox"
    done = run([bin_dir / "python", "-m", "fortellis_nb", "check", "--state-dir", state], env=env)
    assert done.stdout.rstrip().splitlines()[-1].startswith("all passed"), done.stdout
