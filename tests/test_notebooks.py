"""The notebooks as documents: each opens with an overview, prerequisites and time, closes
with a summary and what to read next, is committed with every code cell executed, and
carries no full token and no traceback. (nbval, run on notebooks/, checks that the
committed outputs are still what the cells produce.)"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
FULL_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{20,}")
#: An authorization code shown whole: after `code=`, `code: `, `"code": "` or `code `, 16 or more
#: URL-safe characters not followed by the "..." of a shortened one (the sandbox's codes have 20).
FULL_CODE = re.compile(r"""code(?:=|\\?["']?\s*[:=]\s*\\?["']?|\s)([A-Za-z0-9_\-]{16,})(?![A-Za-z0-9_.\-])""")


def cells(path):
    return json.loads(path.read_text())["cells"]


def text(cell) -> str:
    return "".join(cell["source"])


def test_the_set_is_numbered_without_gaps():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(NOTEBOOKS) + 1)) and len(NOTEBOOKS) >= 9


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_opens_with_overview_prerequisites_and_time(path):
    first = text(cells(path)[0])
    assert first.startswith("# ") and "**Overview.**" in first
    assert "**Prerequisites:**" in first and "**Time:**" in first


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_closes_with_summary_and_what_to_read_next(path):
    last = text(cells(path)[-1])
    assert "## Summary" in last and ("**Next:**" in last or "**Read next:**" in last)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_executed_without_errors(path):
    for cell in cells(path):
        if cell["cell_type"] != "code":
            continue
        assert cell["execution_count"] is not None, text(cell)[:60]
        for output in cell["outputs"]:
            assert output["output_type"] != "error", text(cell)[:60]
            assert "Traceback" not in json.dumps(output), text(cell)[:60]
            # A kernel with the friendly errors shows a NameError as one line, not as an error.
            assert "is not defined: if a cell above defines it" not in json.dumps(output), text(cell)[:60]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_full_token_in_the_saved_file(path):
    assert not FULL_JWT.search(path.read_text())


def saved_outputs(path) -> str:
    """Everything a run saved in the file: cell outputs and the widget state, not the sources."""
    notebook = json.loads(path.read_text())
    return json.dumps([cell.get("outputs", []) for cell in notebook["cells"]]) + json.dumps(notebook["metadata"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_full_authorization_code_in_the_saved_outputs(path):
    found = FULL_CODE.search(saved_outputs(path))
    assert found is None, f"a code shown whole: {found.group(0)[:12]}..."


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_widget_output_carries_a_static_html_snapshot(path):
    """GitHub and nbviewer render text/html, not widgets: each widget leaves what it showed."""
    widget_outputs = [output for cell in cells(path) for output in cell.get("outputs", [])
                      if "application/vnd.jupyter.widget-view+json" in output.get("data", {})]
    for output in widget_outputs:
        snapshot = "".join(output["data"].get("text/html", ""))
        assert "run the cell to use it" in snapshot and len(snapshot) > 500, output["data"]["text/plain"]


def test_the_code_pattern_finds_what_it_must_and_only_that():
    for whole in ('code=Ab3dEf6hIj9kLm2oPq5s&state', 'code : Ab3dEf6hIj9kLm2oPq5s\n', "'code': 'Ab3dEf6hIj9kLm2oPq5s'",
                  '\\"code\\": \\"Ab3dEf6hIj9kLm2oPq5s\\"', 'code Ab3dEf6hIj9kLm2oPq5s, 3 s old'):
        assert FULL_CODE.search(whole), whole
    for fine in ("code=Ab3dE...&state", "code Ab3dE..., 3 s old", "code: invalid_request", "code_verifier=x"):
        assert not FULL_CODE.search(fine), fine


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_links_to_other_notebooks_exist(path):
    for cell in cells(path):
        for target in re.findall(r"\]\(([^)#]+\.ipynb)\)", text(cell)):
            assert (path.parent / target).exists(), target


def test_readme_maps_the_tutorial_to_the_notebooks():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.name}" in readme, path.name
