"""The repository's promises about itself: the layers import one way, and the
environment files agree with pyproject.toml."""

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fortellis_nb"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_sandbox_stands_on_its_own():
    for path in (PACKAGE / "sandbox").rglob("*.py"):
        for name in imports_of(path):
            assert not name.startswith(("fortellis_nb.oauth", "fortellis_nb.widgets", "fortellis_nb.config",
                                        "ipywidgets", "jwt", "jupyter")), f"{path.name} imports {name}"


def test_the_protocol_layer_has_no_widgets():
    for path in (PACKAGE / "oauth").rglob("*.py"):
        for name in imports_of(path):
            assert not name.startswith(("fortellis_nb.widgets", "ipywidgets", "IPython")), f"{path.name}: {name}"


def _requirement(text: str) -> tuple[str, str]:
    """("name", "specifier") of a requirement; extras are dropped (conda has none)."""
    name, spec = re.match(r"\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(.*)", text).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def _environment(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The conda and the pip requirements of an environment.yml, as {name: specifier}."""
    conda, pip, in_pip = {}, {}, False
    for line in path.read_text().split("dependencies:", 1)[1].splitlines():
        stripped = line.strip()
        if not stripped.startswith("- "):
            continue
        item = stripped[2:].strip()
        if item == "pip:":
            in_pip = True
            continue
        nested = len(line) - len(line.lstrip()) > 2
        if in_pip and not nested:
            in_pip = False
        name, spec = _requirement(item.replace("=", "==", 1) if re.match(r"[\w\-]+=[^=]", item) else item)
        (pip if in_pip else conda)[name] = spec
    return conda, pip


def test_environment_files_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(_requirement(r) for r in project["dependencies"])
    conda, pip = _environment(ROOT / "environment.yml")
    python = conda.pop("python")
    conda.pop("pip")
    # Every dependency once, in conda's list or pip's, with the same lower bound.
    assert not set(conda) & set(pip)
    assert {**conda, **pip} == wanted
    pinned = tuple(int(n) for n in python.removeprefix("==").split("."))
    assert len(pinned) == 2 and pinned >= tuple(int(n) for n in project["requires-python"].lstrip(">=").split("."))
    assert "jupyter-server-proxy" in pip  # conda-forge has it too; pip keeps it in step with PyPI


def test_binder_carries_the_environment_and_installs_the_package():
    # When binder/ exists repo2docker reads only what is in it.
    assert (ROOT / "binder" / "environment.yml").read_text() == (ROOT / "environment.yml").read_text()
    post_build = ROOT / "binder" / "postBuild"
    lines = [line.strip() for line in post_build.read_text().splitlines()]
    assert lines[0] == "#!/usr/bin/env bash"
    assert any(re.match(r"set -[a-z]*e", line) for line in lines)
    assert "python -m pip install --no-deps ." in lines
    assert post_build.stat().st_mode & 0o111


def test_importing_the_sandbox_does_not_load_the_client():
    import subprocess
    import sys

    code = ("import sys, fortellis_nb.sandbox; "
            "print(sorted(m for m in sys.modules if m.startswith(('fortellis_nb.oauth', 'jwt', 'ipywidgets'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_names():
    import fortellis_nb
    from fortellis_nb.oauth import FortellisClient

    assert fortellis_nb.FortellisClient is FortellisClient
    assert set(fortellis_nb.__all__) == {"Config", "FortellisClient", "FortellisError", "load_config"}


def test_every_data_file_of_the_package_is_installed():
    # A plain `pip install .` (Binder's postBuild) copies only what package-data names.
    import fnmatch

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for path in PACKAGE.rglob("*"):
        if path.is_file() and path.suffix not in (".py", ".pyc"):
            package = ".".join(path.parent.relative_to(ROOT).parts)
            owner = max((p for p in patterns if package.startswith(p)), key=len, default=None)
            relative = path.relative_to(ROOT / owner.replace(".", "/")).as_posix() if owner else ""
            assert owner and any(fnmatch.fnmatch(relative, pat) for pat in patterns[owner]), path
