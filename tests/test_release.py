"""What a release is made of: the metadata PyPI shows (rated by pyroma; the Pythons it names are
the ones the workflow tests), a CHANGELOG entry for the version, and the GitHub workflows' shape:
every action pinned to a commit, the repository read and nothing more, the tests on Linux, macOS
and Windows with the wheel-install tests among them, and a release only from a version tag,
published by trusted publishing from one job alone. (``twine check`` on the built distributions
is in tests/test_distribution.py, which builds them.)"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
#: A step's `uses:` pinned to a full commit, its version said in a comment: owner/repo[/path]@<40 hex>  # vX.Y.Z
PINNED = re.compile(r"^\s*(?:- )?uses: [\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}\s+# v\d+(?:\.\d+)*\b", re.M)


def workflow(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8"))


def triggers(flow: dict) -> dict:
    return flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` key as true


def steps(flow: dict):
    for name, job in flow["jobs"].items():
        for step in job.get("steps", []):
            yield name, step


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_there_are_the_two_workflows():
    assert [p.name for p in WORKFLOWS] == ["release.yml", "tests.yml"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_and_checkout_keeps_no_credentials(path):
    text = path.read_text(encoding="utf-8")
    uses = [line for line in text.splitlines() if re.match(r"^\s*(- )?uses:", line)]
    assert uses and all(PINNED.match(line) for line in uses), [u for u in uses if not PINNED.match(u)]
    for _, step in steps(yaml.safe_load(text)):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_read_the_repository_and_nothing_more(path):
    flow = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert flow["permissions"] == {"contents": "read"}
    granted = {name: job["permissions"] for name, job in flow["jobs"].items() if "permissions" in job}
    # The one exception: the job that publishes proves who it is to PyPI, and may do nothing else.
    assert granted == ({"publish": {"id-token": "write"}} if path.name == "release.yml" else {})


def test_the_tests_run_on_three_systems_the_wheel_install_tests_included():
    jobs = workflow("tests.yml")["jobs"]
    systems = {"ubuntu-latest", "macos-latest", "windows-latest"}
    assert set(jobs["tests"]["strategy"]["matrix"]["os"]) == systems
    assert set(jobs["wheel"]["strategy"]["matrix"]["os"]) == systems
    # The wheel job runs the slow tests of tests/test_distribution.py: no marker leaves them out.
    pytest_options = re.search(r"python -m pytest (.*)", runs(jobs["wheel"]))[1]
    assert "tests/test_distribution.py" in pytest_options.split() and " -m " not in f" {pytest_options}"
    assert 'python -m pip install -e ".[test]"' in runs(jobs["tests"])  # the README's line, fine in every shell
    # The browser tests are left out on Windows only, and may not skip where they run.
    assert "FORTELLIS_REQUIRE_BROWSER=1" in runs(jobs["tests"])
    assert re.search(r'if \[ "\$RUNNER_OS" = Windows \]; then extra=--ignore=tests/browser; else extra=; fi',
                     runs(jobs["tests"]))


def test_the_pythons_named_in_the_metadata_are_the_ones_tested():
    named = [tuple(map(int, c.rsplit(" ", 1)[1].split("."))) for c in PROJECT["classifiers"]
             if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    tested = {tuple(map(int, v.split("."))) for v in workflow("tests.yml")["jobs"]["tests"]["strategy"]["matrix"]["python"]}
    floor = tuple(map(int, PROJECT["requires-python"].removeprefix(">=").split(".")))
    assert named == [(3, minor) for minor in range(floor[1], max(tested)[1] + 1)]
    assert min(tested) == floor
    assert "Operating System :: OS Independent" in PROJECT["classifiers"]
    assert "Framework :: Jupyter" in PROJECT["classifiers"]


def test_a_release_is_built_checked_and_published_from_a_version_tag():
    flow = workflow("release.yml")
    assert triggers(flow) == {"push": {"tags": ["v*"]}}
    build, publish = flow["jobs"]["build"], flow["jobs"]["publish"]
    checks = runs(build)
    for wanted in ("python -m build", "twine check --strict dist/*", "pyroma --min 9"):
        assert wanted in checks, wanted
    assert publish["needs"] == "build"
    assert publish["environment"]["name"] == "pypi"
    used = [step["uses"].split("@")[0] for step in publish["steps"]]
    assert used == ["actions/download-artifact", "pypa/gh-action-pypi-publish"]
    # Trusted publishing: no password or token handed to the action, none stored as a secret.
    assert "with" not in publish["steps"][-1] and "secrets." not in (ROOT / ".github/workflows/release.yml").read_text()


def test_the_changelog_s_newest_entry_is_this_version():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    newest = re.search(r"^## \[([^\]]+)\]", changelog, re.M)
    assert newest and newest[1] == PROJECT["version"]


def pyroma_rating() -> tuple[int, list[str]]:
    from pyroma import projectdata, ratings

    return ratings.rate(projectdata.get_data(str(ROOT)))


def test_pyroma_misses_nothing_but_the_publisher_s_addresses():
    rating, missing = pyroma_rating()
    # What only the publisher can give: a contact email and the repository's public address.
    assert all("author-email" in m or "'url' field" in m for m in missing), missing
    assert rating >= 8


@pytest.mark.xfail(strict=True, reason="pyproject.toml names no contact email yet (the publisher's to give); "
                   "pyroma gives 8 without it. Once it is there this passes: drop this mark")
def test_pyroma_rates_the_package_9_or_more():
    assert pyroma_rating()[0] >= 9
