"""docs/architecture.md is the map of the package: its table of layers must be the layout
test's ranks, layer for layer, and every file and name it points to must exist."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_layout import RANKS

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def layer_rows() -> dict[str, tuple[int, str]]:
    """{layer: (rank, where)} from the table that starts with '| rank | layer |'."""
    lines = DOC.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| rank | layer |"))
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rank, layer, where, _what = (cell.strip() for cell in line.strip("|").split(" | ", 3))
        rows[layer.strip("`")] = (int(rank), where.strip("`"))
    return rows


def test_the_map_s_layers_are_the_layout_test_s():
    assert {layer: rank for layer, (rank, _where) in layer_rows().items()} == RANKS


def test_every_layer_is_where_the_map_says():
    for layer, (_rank, where) in layer_rows().items():
        assert (ROOT / where).exists(), (layer, where)


def test_every_module_the_map_names_exists():
    named = set(re.findall(r"`((?:oauth|sandbox|local|widgets|lessons)/[\w/]+\.(?:py|html))`", DOC))
    assert len(named) > 20
    missing = [name for name in named if not (ROOT / "fortellis_nb" / name).exists()]
    assert missing == []


def test_every_rule_holder_the_map_names_is_defined_there():
    # "`sandbox/okta.py` `ERRORS`": the name after a module is defined in that module.
    for module, name in re.findall(r"`((?:oauth|sandbox|local)/\w+\.py)` `(\w+)`", DOC):
        source = (ROOT / "fortellis_nb" / module).read_text(encoding="utf-8")
        assert re.search(rf"^(?:def |class )?{name}\b|^\s+def {name}\b", source, re.M), (module, name)
