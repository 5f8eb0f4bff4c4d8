"""The sandbox's address in the committed outputs, 127.0.0.1:PORT, is no link: JupyterLab makes
a link of every "scheme://..." in a text output (stream, text/plain), and one to PORT led to a
404. The placeholder's form is tests/placeholder_outputs.py's, which nbval's sanitize file reads
with the same pattern. (What the rewrite does, case by case: tests/test_notebooks.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from nbval.plugin import get_sanitize_patterns

from tests.placeholder_outputs import PORTED, TITLE, placeholder_text

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))

# JupyterLab 4's web-link pattern for text outputs (@jupyterlab/rendermime, renderers.ts,
# webLinkRegex), as its own source spells it.
_CONTROL = "\\u0000-\\u0020\\u007f-\\u009f"
JUPYTERLAB_WEB_LINK = re.compile(
    "(?:[a-zA-Z][a-zA-Z0-9+.-]{2,40}:\\/\\/|data:|www\\.)[^\\s" + _CONTROL + '"]{2,}[^\\s' + _CONTROL
    + "\"'(){}\\[\\],:;.!?]")


def linked_placeholders(text: str) -> list[str]:
    """The links JupyterLab would make in ``text`` that lead to a placeholder address."""
    return [m.group(0) for m in JUPYTERLAB_WEB_LINK.finditer(text) if re.search(r":PORT\b", m.group(0))]


def text_outputs(path: Path):
    for cell in json.loads(path.read_text())["cells"]:
        for output in cell.get("outputs", []):
            if output["output_type"] == "stream":
                yield "".join(output["text"])
            elif "text/plain" in output.get("data", {}):
                yield "".join(output["data"]["text/plain"])


def test_the_placeholder_is_no_link_where_the_address_was():
    fresh = "PASS  sandbox starts: http://127.0.0.1:44227\n  --url http://localhost:8765/oauth2/aus/v1/token \\"
    assert len(JUPYTERLAB_WEB_LINK.findall(fresh)) == 2  # the pattern finds the links it must
    assert linked_placeholders(fresh.replace("44227", "PORT")) != []  # the old placeholder: dead links
    rewritten = placeholder_text(fresh)
    assert rewritten == "PASS  sandbox starts: 127.0.0.1:PORT\n  --url localhost:PORT/oauth2/aus/v1/token \\"
    assert JUPYTERLAB_WEB_LINK.findall(rewritten) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_committed_text_output_links_to_a_placeholder(path):
    found = [link for text in text_outputs(path) for link in linked_placeholders(text)]
    assert found == [], found[:3]


def test_nbval_reads_the_placeholder_with_the_rewrite_s_own_pattern_and_title():
    cfg = (ROOT / "tests" / "nbval-sanitize.cfg").read_text()
    patterns = [regex for regex, _replace in get_sanitize_patterns(cfg)]
    assert PORTED.pattern in patterns
    assert any(f'title="{TITLE}"' in regex for regex in patterns)
