"""The repository's promises about itself: the layers import one way, and the
environment files agree with pyproject.toml."""

import ast
import re
import sys
from pathlib import Path

from tests.source import parse

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, before it joined the standard library
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fortellis_nb"

# The parts of the package, lowest first. A part may import the parts below it, never one
# above: notebooks -> lessons/exercises -> widgets -> local -> the protocol (oauth); the
# sandbox stands on its own and knows nothing of the client. The protocol knows no sandbox:
# what the client does only for the sandbox (headless sign-in, starting one...) is `local`,
# the one part of the client that may start the sandbox. On top: the install check, the
# fortellis-nb command, and python -m fortellis_nb. Beside the widgets, saved_widgets: what the
# Jupyter server keeps of them when it saves a notebook (it imports nothing).
RANKS = {"sandbox": 0, "oauth": 1, "local": 2, "examples": 3, "widgets": 3, "saved_widgets": 3, "lessons": 4,
         "exercises": 4, "install": 5, "cli": 6, "__main__": 7}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved to absolute names."""
    tree = parse(path.read_text())
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = resolve(package, node.level, node.module)
            found.add(base)
            # `from . import config` imports the module fortellis_nb.oauth.config
            found.update(f"{base}.{alias.name}" for alias in node.names if node.module is None)
    return found


def resolve(package: str, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def part_of(module: str) -> str | None:
    """The part of the package a module belongs to: ``fortellis_nb.oauth.verify`` -> ``oauth``."""
    parts = module.split(".")
    return parts[1] if parts[0] == "fortellis_nb" and len(parts) > 1 else None


def upward_imports(modules: dict[str, set[str]]) -> list[str]:
    """Imports that point up or sideways across the parts (RANKS): each one a broken arrow."""
    broken = []
    for module, imported in sorted(modules.items()):
        here = part_of(module)
        for name in sorted(imported):
            there = part_of(name)
            if here is None or there is None or there == here:
                continue
            if RANKS.get(there, 99) >= RANKS.get(here, -1):
                broken.append(f"{module} imports {name}")
    return broken


def package_imports() -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}


def test_every_part_of_the_package_has_a_rank():
    parts = {path.relative_to(PACKAGE).parts[0].removesuffix(".py") for path in PACKAGE.iterdir()
             if path.suffix == ".py" or (path / "__init__.py").exists()}
    assert parts - {"__init__"} == set(RANKS)


def test_imports_point_one_way():
    # Any cycle between two parts needs an arrow pointing up, so this also rules out cycles
    # such as the one config once made with the error family (config -> oauth.errors ->
    # oauth/__init__ -> client -> config): settings are part of the protocol layer now.
    assert upward_imports(package_imports()) == []


def test_the_check_sees_relative_imports_that_point_up():
    # A relative import is resolved before it is judged, so this would be caught.
    assert resolve("fortellis_nb.oauth", 2, "widgets") == "fortellis_nb.widgets"
    assert upward_imports({"fortellis_nb.oauth.client": {resolve("fortellis_nb.oauth", 2, "widgets.base")}}) == [
        "fortellis_nb.oauth.client imports fortellis_nb.widgets.base"]
    assert upward_imports({"fortellis_nb.sandbox.server": {"fortellis_nb.oauth.errors"}}) != []
    assert upward_imports({"fortellis_nb.widgets.base": {"fortellis_nb.oauth"}}) == []


def test_the_sandbox_stands_on_its_own():
    for module, imported in package_imports().items():
        if part_of(module) != "sandbox":
            continue
        for name in imported:
            assert not name.startswith(("fortellis_nb.", "ipywidgets", "jwt", "jupyter", "IPython")) \
                or name.startswith("fortellis_nb.sandbox"), f"{module} imports {name}"


def sandbox_arrows(modules: dict[str, set[str]]) -> list[str]:
    """The protocol layer's imports of the sandbox or of the local layer: each one forbidden."""
    return sorted(f"{module} imports {name}" for module, imported in modules.items() if part_of(module) == "oauth"
                  for name in imported if part_of(name) in ("sandbox", "local"))


#: A sandbox page's path (``/sandbox/health``, ``/sandbox/codes``, ``/sandbox/apps``...); the
#: sample API's gateway path ``/sandbox/v1/...`` is an API address like any other.
SANDBOX_PAGE = re.compile(r"/sandbox/(?!v1/)")


def sandbox_pages_named(sources: dict[str, str]) -> list[str]:
    return sorted(f"{name}: {match.group(0)}..." for name, text in sources.items()
                  for match in SANDBOX_PAGE.finditer(text))


def test_the_protocol_layer_knows_no_sandbox():
    assert sandbox_arrows(package_imports()) == []
    sources = {module_name(path): path.read_text() for path in (PACKAGE / "oauth").rglob("*.py")}
    assert sandbox_pages_named(sources) == []


def test_the_sandbox_rule_catches_an_arrow_and_a_page():
    # Broken once on purpose: the old arrows and a sandbox page named in the protocol layer.
    assert sandbox_arrows({"fortellis_nb.oauth.config": {"fortellis_nb.sandbox"},
                           "fortellis_nb.oauth.client": {"fortellis_nb.local.headless"}}) == [
        "fortellis_nb.oauth.client imports fortellis_nb.local.headless",
        "fortellis_nb.oauth.config imports fortellis_nb.sandbox"]
    assert sandbox_pages_named({"fortellis_nb.oauth.client": 'origin + "/sandbox/health"'}) != []
    assert sandbox_pages_named({"fortellis_nb.oauth.api": '"""call /sandbox/v1/dealership"""'}) == []
    assert upward_imports({"fortellis_nb.local.client": {"fortellis_nb.widgets"}}) != []


def test_the_protocol_layer_has_no_widgets():
    for module, imported in package_imports().items():
        if part_of(module) == "oauth":
            for name in imported:
                assert not name.startswith(("fortellis_nb.widgets", "ipywidgets", "IPython")), f"{module}: {name}"


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


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[_requirement(name)[0]] = version.split(";")[0].strip()
    return pins


def test_binder_pins_every_package_within_pyproject_and_installs_the_package():
    from packaging.specifiers import SpecifierSet

    # When binder/ exists repo2docker reads only what is in it: a pinned requirements.txt and
    # the Python of runtime.txt, not the root environment.yml.
    assert not (ROOT / "binder" / "environment.yml").exists()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    python = re.fullmatch(r"python-(\d+)\.(\d+)\s*", (ROOT / "binder" / "runtime.txt").read_text())
    assert (int(python[1]), int(python[2])) >= tuple(int(n) for n in project["requires-python"].lstrip(">=").split("."))
    text = (ROOT / "binder" / "requirements.txt").read_text()
    assert all("==" in line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    assert "uv pip compile pyproject.toml" in text  # how to make it again
    pins = _pins(ROOT / "binder" / "requirements.txt")
    for requirement in project["dependencies"]:
        name, spec = _requirement(requirement)
        assert name in pins and pins[name] in SpecifierSet(spec), (name, spec, pins.get(name))
    post_build = ROOT / "binder" / "postBuild"
    lines = [line.strip() for line in post_build.read_text().splitlines()]
    assert lines[0] == "#!/usr/bin/env bash"
    assert any(re.match(r"set -[a-z]*e", line) for line in lines)
    assert "python -m pip install --no-deps ." in lines  # the pins stay as they are
    assert post_build.stat().st_mode & 0o111


def test_the_package_list_names_every_folder_of_the_package():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in PACKAGE.rglob("__init__.py")}
    assert set(setuptools["packages"]) == folders | {"fortellis_nb.notebooks"}
    assert setuptools["package-dir"] == {"fortellis_nb.notebooks": "notebooks"}


def test_the_packaged_notebooks_are_the_repository_s():
    from fortellis_nb.cli import notebook_files

    assert [p.name for p in notebook_files()] == sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    assert len(notebook_files()) == 10


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
