"""Notebook 01's text that other places also hold: its table of what comes next lists every
notebook by its own title, and its way back to the sandbox is the one the failures show."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from fortellis_nb.oauth.hints import BACK_TO_SANDBOX

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
WELCOME = nbformat.read(NOTEBOOKS / "01-welcome-and-setup.ipynb", as_version=4)


def title(path: Path) -> str:
    """A notebook's title: its first cell's heading."""
    return nbformat.read(path, as_version=4).cells[0].source.splitlines()[0].removeprefix("# ")


def test_the_next_table_lists_every_notebook_after_01_by_its_title_in_order():
    summary = WELCOME.cells[-1].source
    listed = re.findall(r"^\| \[([^\]]+)\]\(([^)]+)\) \|", summary, re.M)
    after_01 = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))[1:]
    assert listed == [(title(path), path.name) for path in after_01]


def test_notebook_01_gives_the_way_back_to_the_sandbox_as_the_failures_do():
    text = " ".join(" ".join(cell.source.split()) for cell in WELCOME.cells if cell.cell_type == "markdown")
    assert BACK_TO_SANDBOX in text
