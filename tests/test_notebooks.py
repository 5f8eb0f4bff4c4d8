"""The notebooks as documents: each opens with an overview, prerequisites and time, closes
with a summary and what to read next, is committed with every code cell executed, and
carries no full token, no traceback and no link to the author's sandbox. (nbval, run on
notebooks/, checks that the committed outputs are still what the cells produce.)"""

import copy
import json
import re
from collections import OrderedDict
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import get_sanitize_patterns

from tests.placeholder_outputs import TITLE, placeholder_file, placeholder_notebook, placeholder_text

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
def test_no_cell_waits_by_the_clock(path):
    """An expiry is shown with the sandbox's clock moved (notebook 08), a refresh without a
    pause (notebook 05): a learner, and nbval, wait for nothing."""
    waits = [text(cell)[:60] for cell in cells(path)
             if cell["cell_type"] == "code" and re.search(r"\bsleep\s*\(", text(cell))]
    assert waits == []


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


# The author's sandbox in the saved outputs: tests/placeholder_outputs.py (run by ./dev.sh notebooks)
# replaces ports by PORT and takes out the links to 127.0.0.1 and localhost.
PORTED = re.compile(r"(?:127\.0\.0\.1|localhost):\d")
LOOPBACK_HREF = re.compile(r"""href\s*=\s*(?:["']|&quot;|&#x27;|&#39;)?\s*(?:https?:)?//(?:127\.0\.0\.1|localhost)\b""",
                           re.IGNORECASE)
LOOPBACK_MARKDOWN_LINK = re.compile(r"\]\(\s*<?(?:https?:)?//(?:127\.0\.0\.1|localhost)\b", re.IGNORECASE)
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def saved_strings(notebook):
    """(where, MIME type or None, text) for every string a run saved: outputs and widget state."""
    def walk(where, value, mime=None):
        if isinstance(value, str):
            yield where, mime, value
        elif isinstance(value, list):
            for i, item in enumerate(value):
                yield from walk(f"{where}[{i}]", item, mime)
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from walk(f"{where}.{key}", item, key if "/" in key else mime)

    for number, cell in enumerate(notebook["cells"]):
        yield from walk(f"cell {number}", cell.get("outputs", []))
    yield from walk("widget state", notebook["metadata"].get("widgets", {}).get(WIDGET_STATE, {}))


def sandbox_links(notebook) -> list[str]:
    """Where the saved strings show a loopback port or link to a loopback address."""
    found = []
    for where, mime, value in saved_strings(notebook):
        for pattern in (PORTED, LOOPBACK_HREF) + ((LOOPBACK_MARKDOWN_LINK,) if mime == "text/markdown" else ()):
            hit = pattern.search(value)
            if hit:
                found.append(f"{where}: ...{value[max(hit.start() - 40, 0):hit.end() + 20]}...")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_link_to_the_authors_sandbox_in_the_saved_outputs(path):
    """Opened before anything runs, a notebook shows no port of the author's and no link that
    leads nowhere: `python -m tests.placeholder_outputs` puts placeholders in (dev.sh does)."""
    found = sandbox_links(nbformat.read(path, as_version=4))
    assert not found, "\n".join(found[:5])


FRESH_ANCHOR = ('<p><a class="fnb-authorize-anchor" href="http://127.0.0.1:44227/oauth2/ausaVFWFUIgM4Fr5JTFG/v1/'
                'authorize?client_id=RBvv6SI4e7ZFSo8ZzqBDkp8qmyX9dn1O&amp;response_type=code&amp;redirect_uri='
                'http://127.0.0.1:44227/callback/&amp;state=c3070f4c-f0fa-430b-94df-a668ff489dcf" target="_blank" '
                'rel="noopener noreferrer">Open the sign-in page (new tab) &#8599;</a></p>'
                "<pre>http://127.0.0.1:44227/oauth2/ausaVFWFUIgM4Fr5JTFG/v1/authorize?client_id=x</pre>"
                "<p><a href='http://localhost:8765/' target='_blank'>http://localhost:8765/</a> and "
                '<a href="https://example.com/docs">the docs</a>, <a href="dealership">relative</a></p>'
                "<pre>{&quot;issuer&quot;: &quot;http://127.0.0.1:44227/oauth2/aus&quot;}</pre>")
FRESH_MARKDOWN = ("Sandbox home page: [http://127.0.0.1:44227/](http://127.0.0.1:44227/)\n\n"
                  "[sign in](http://127.0.0.1:44227/login?a=1&b=2) or read [the docs](https://example.com/)\n\n"
                  "| `iss` | `http://127.0.0.1:44227/oauth2/aus` |")
FRESH_PLAIN = "PASS  sandbox starts: http://127.0.0.1:44227\nredirect_uri='http://localhost:8765/callback/'"


def test_the_rewrite_takes_out_ports_and_links_and_keeps_the_rest():
    html = placeholder_text(FRESH_ANCHOR)
    assert html == FRESH_ANCHOR.replace(
        'href="http://127.0.0.1:44227/oauth2/ausaVFWFUIgM4Fr5JTFG/v1/authorize?client_id=RBvv6SI4e7ZFSo8ZzqBDkp8qmyX9dn1O'
        '&amp;response_type=code&amp;redirect_uri=http://127.0.0.1:44227/callback/&amp;state='
        'c3070f4c-f0fa-430b-94df-a668ff489dcf"', f'title="{TITLE}"').replace(
        "href='http://localhost:8765/'", f'title="{TITLE}"').replace(
        "http://127.0.0.1:44227", "127.0.0.1:PORT").replace("http://localhost:8765", "localhost:PORT")
    assert '<a href="https://example.com/docs">the docs</a>' in html and '<a href="dealership">' in html
    assert ">Open the sign-in page (new tab) &#8599;</a>" in html
    assert placeholder_text(FRESH_MARKDOWN, markdown=True) == (
        "Sandbox home page: `127.0.0.1:PORT/`\n\nsign in or read [the docs](https://example.com/)\n\n"
        "| `iss` | `127.0.0.1:PORT/oauth2/aus` |")
    # Outside text/markdown a markdown link is only text; its port goes all the same.
    assert placeholder_text(FRESH_MARKDOWN).startswith("Sandbox home page: [127.0.0.1:PORT/](127.0.0.1:PORT/)")
    # No http:// before a placeholder: JupyterLab would make a dead link of it in a text output.
    assert placeholder_text(FRESH_PLAIN) == ("PASS  sandbox starts: 127.0.0.1:PORT\n"
                                             "redirect_uri='localhost:PORT/callback/'")
    assert placeholder_text("127.0.0.1:8 and 127.0.0.1:123456 and 10.0.0.1:8080") == \
        "127.0.0.1:8 and 127.0.0.1:123456 and 10.0.0.1:8080"
    for text in (FRESH_ANCHOR, FRESH_MARKDOWN, FRESH_PLAIN):  # a second run changes nothing
        assert placeholder_text(placeholder_text(text, True), True) == placeholder_text(text, True)


def hand_made_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("Run the sandbox: http://127.0.0.1:44227/ stays in the lesson text."),
                nbformat.v4.new_code_cell("show()", execution_count=1, outputs=[
                    nbformat.v4.new_output("display_data", data={"text/html": FRESH_ANCHOR, "text/markdown": FRESH_MARKDOWN,
                                                                 "text/plain": FRESH_PLAIN}),
                    nbformat.v4.new_output("stream", name="stdout", text=FRESH_PLAIN + "\n"),
                    nbformat.v4.new_output("execute_result", execution_count=1, data={
                        "text/plain": "Config(issuer='http://127.0.0.1:44227/oauth2/aus')",
                        "application/json": {"kept": "http://127.0.0.1:44227/"}})])]
    nb.metadata["widgets"] = {WIDGET_STATE: {"version_major": 2, "version_minor": 0, "state": {
        "a1": {"model_name": "HTMLModel", "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
               "state": {"value": FRESH_ANCHOR, "description": "", "layout": "IPY_MODEL_b2"}},
        "b2": {"model_name": "TextModel", "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
               "state": {"value": "http://127.0.0.1:44227/callback/", "_options_labels": ["localhost:8765", "none"]}},
        "c3": {"model_name": "OutputModel", "model_module": "@jupyter-widgets/output", "model_module_version": "1.0.0",
               "state": {"outputs": [{"output_type": "display_data", "metadata": {},
                                      "data": {"text/markdown": FRESH_MARKDOWN}}]}}}}}
    return nb


def test_the_rewrite_of_a_notebook_covers_outputs_and_widget_state(tmp_path):
    path, made = tmp_path / "lesson.ipynb", hand_made_notebook()
    nbformat.write(made, path)
    before = nbformat.read(path, as_version=4)
    assert len(sandbox_links(before)) >= 10
    assert placeholder_file(path) and not placeholder_file(path)  # written once, then nothing to do
    after = nbformat.read(path, as_version=4)
    # Only the application/json value (not text nbval can sanitize) keeps its port.
    assert sandbox_links(after) == ["cell 1[2].data.application/json.kept: ...http://127.0.0.1:44227/..."]
    state = after["metadata"]["widgets"][WIDGET_STATE]["state"]
    assert state["a1"]["state"]["value"] == placeholder_text(FRESH_ANCHOR)
    assert state["b2"]["state"] == {"value": "127.0.0.1:PORT/callback/", "_options_labels": ["localhost:PORT", "none"]}
    assert state["c3"]["state"]["outputs"][0]["data"]["text/markdown"] == placeholder_text(FRESH_MARKDOWN, markdown=True)
    outputs = after["cells"][1]["outputs"]
    assert outputs[0]["data"]["text/markdown"] == placeholder_text(FRESH_MARKDOWN, markdown=True)
    assert outputs[1]["text"] == placeholder_text(FRESH_PLAIN) + "\n"
    # The rest is as it was: the lesson's own text, and the file as nbformat writes it.
    assert after["cells"][0] == before["cells"][0]
    expected = copy.deepcopy(made)
    assert placeholder_notebook(expected) and not placeholder_notebook(copy.deepcopy(expected))
    assert path.read_text() == nbformat.writes(expected) + "\n"


def nbval_sanitize(text: str) -> str:
    """What nbval does to each output before comparing: tests/nbval-sanitize.cfg read as nbval
    reads it (its own parser, into an ordered dict), every replacement in turn."""
    patterns = OrderedDict()
    patterns.update(get_sanitize_patterns((ROOT / "tests" / "nbval-sanitize.cfg").read_text()))
    for regex, replace in patterns.items():
        text = re.sub(regex, replace, text)
    return text


def test_nbval_sees_a_fresh_output_and_its_rewrite_as_the_same():
    for fresh in (FRESH_ANCHOR, FRESH_MARKDOWN, FRESH_PLAIN):
        for markdown in (False, True):
            assert nbval_sanitize(fresh) == nbval_sanitize(placeholder_text(fresh, markdown))
    sanitized = nbval_sanitize(placeholder_text(FRESH_ANCHOR))
    assert sanitized.count("<SANDBOX-LINK>") == 2 and TITLE not in sanitized
    assert '<a href="https://example.com/docs">the docs</a>, <a href="dealership">' in sanitized


def test_nbval_still_sees_a_real_difference_next_to_a_sandbox_link():
    rewritten = placeholder_text(FRESH_ANCHOR)
    for changed in (FRESH_ANCHOR.replace("Open the sign-in page", "Open the page"),  # the anchor's text
                    FRESH_ANCHOR.replace('target="_blank" ', ""),  # another attribute of the anchor
                    FRESH_ANCHOR.replace("/v1/authorize?client_id=x", "/v1/token?client_id=x"),  # a shown address
                    FRESH_ANCHOR.replace("https://example.com/docs", "https://example.org/docs"),  # another link
                    FRESH_ANCHOR.replace("http://localhost:8765/", "http://10.0.0.1:8765/")):  # not loopback
        assert nbval_sanitize(changed) != nbval_sanitize(rewritten), changed
    # An anchor that lost its href with no title in its place is not taken for a rewritten one.
    assert nbval_sanitize(FRESH_ANCHOR) != nbval_sanitize(rewritten.replace(f' title="{TITLE}"', ""))
    markdown = placeholder_text(FRESH_MARKDOWN, markdown=True)
    for changed in (FRESH_MARKDOWN.replace("[sign in]", "[log in]"), FRESH_MARKDOWN.replace("the docs", "docs"),
                    FRESH_MARKDOWN.replace("[http://127.0.0.1:44227/]", "[http://127.0.0.1:44227/x]")):
        assert nbval_sanitize(changed) != nbval_sanitize(markdown), changed
