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


def _requirement_names(requirements) -> set[str]:
    return {re.split(r"[\[<>=!~ ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_environment_files_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _requirement_names(project["dependencies"])
    text = (ROOT / "environment.yml").read_text()
    dependencies = text.split("dependencies:", 1)[1]
    listed = {re.split(r"[<>=! ]", line.strip()[2:], maxsplit=1)[0].lower()
              for line in dependencies.splitlines() if line.strip().startswith("- ")}
    listed -= {"python", "pip", "pip:"}
    assert wanted == listed
    assert (ROOT / "binder" / "environment.yml").read_text() == text


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
