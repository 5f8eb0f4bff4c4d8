"""Widgets readable everywhere: a saved notebook keeps a widget's view only with the widget's
state (fortellis_nb/saved_widgets.py, a Jupyter server extension), the committed notebooks keep
no view and no state, so their snapshots show on GitHub, in nbconvert's HTML read offline and in
a fresh JupyterLab; the snapshot says what it is and holds no link that leads nowhere."""

from __future__ import annotations

import copy
import html
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from fortellis_nb import saved_widgets
from fortellis_nb.install import JUPYTER_SETTINGS, kernel_config
from fortellis_nb.saved_widgets import WIDGET_STATE, WIDGET_VIEW, drop_views_without_state, pre_save_hook
from fortellis_nb.widgets import AuthorizeLink
from fortellis_nb.widgets.base import SNAPSHOT_NOTE, StepWidget, snapshot_html

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def _step_widget_names() -> set[str]:
    found, todo = set(), [StepWidget]
    while todo:
        for kind in todo.pop().__subclasses__():
            found.add(kind.__name__)
            todo.append(kind)
    return found


#: A step widget's output, known by its text/plain (``AuthorizeLink(step 1: ...)``), which does
#: not depend on the view or the snapshot being there.
STEP_WIDGET_REPR = re.compile(rf"^(?:{'|'.join(sorted(_step_widget_names()))})\(")


def widget_outputs(nb) -> list[dict]:
    return [output for cell in nb["cells"] for output in cell.get("outputs", [])
            if STEP_WIDGET_REPR.match("".join(output.get("data", {}).get("text/plain", "")))]


def view(model_id: str) -> dict:
    return {"output_type": "display_data", "metadata": {},
            "data": {WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": model_id},
                     "text/html": "<div>snapshot</div>", "text/plain": "AuthorizeLink(step 1)"}}


def saved(*model_ids: str) -> dict:
    outputs = [view(model_id) for model_id in model_ids]
    return {"cells": [{"cell_type": "code", "source": "link", "metadata": {}, "outputs": outputs}],
            "metadata": {"widgets": {WIDGET_STATE: {"version_major": 2, "version_minor": 0, "state": {
                "kept": {"model_name": "VBoxModel", "state": {}}}}}}}


# --------------------------------------------------------------------------- the rule and the hook


def test_a_view_stays_with_its_state_and_goes_without():
    nb = saved("kept", "gone")
    assert drop_views_without_state(nb) == 1
    kept, gone = nb["cells"][0]["outputs"]
    assert WIDGET_VIEW in kept["data"] and WIDGET_VIEW not in gone["data"]
    # What is left of the other shows the snapshot; its text stays too.
    assert gone["data"] == {"text/html": "<div>snapshot</div>", "text/plain": "AuthorizeLink(step 1)"}
    assert drop_views_without_state(nb) == 0


def test_with_no_saved_state_every_view_goes():
    nb = saved("kept")
    del nb["metadata"]["widgets"]
    assert drop_views_without_state(nb) == 1 and WIDGET_VIEW not in nb["cells"][0]["outputs"][0]["data"]


def test_the_pre_save_hook_changes_notebooks_only():
    model = {"type": "notebook", "content": saved("kept", "gone")}
    pre_save_hook(model=model, path="a.ipynb", contents_manager=None)
    assert [WIDGET_VIEW in o["data"] for o in model["content"]["cells"][0]["outputs"]] == [True, False]
    other = {"type": "file", "format": "text", "content": json.dumps(saved("gone"))}
    untouched = copy.deepcopy(other)
    pre_save_hook(model=other, path="a.txt", contents_manager=None)
    assert other == untouched


def test_kernel_config_turns_the_extension_and_widget_state_saving_on(tmp_path):
    said: list[str] = []
    assert kernel_config(str(tmp_path), out=said.append) == 0
    server = json.loads((tmp_path / "etc/jupyter/jupyter_server_config.d/fortellis-nb.json").read_text())
    assert server == {"ServerApp": {"jpserver_extensions": {"fortellis_nb.saved_widgets": True}}}
    lab = json.loads((tmp_path / "etc/jupyter/labconfig/default_setting_overrides.d/fortellis-nb.json").read_text())
    assert lab == {"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": True}}
    assert len(said) == 1 + len(JUPYTER_SETTINGS)
    # The extension is what Jupyter finds under that name.
    module = __import__(saved_widgets.__name__, fromlist=["_"])
    assert module._jupyter_server_extension_points() == [{"module": "fortellis_nb.saved_widgets"}]


def test_kernel_config_says_which_file_it_could_not_write(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "jupyter").write_text("a file where the folder would go")
    said: list[str] = []
    assert kernel_config(str(tmp_path), out=said.append) == 1
    refused = [line for line in said if "not written" in line]
    assert len(refused) == len(JUPYTER_SETTINGS) and all("model not found" in line for line in refused)
    assert said[0].endswith("load fortellis_nb.lessons")  # the kernels' file was written all the same


def test_the_server_does_not_need_ipywidgets_to_load_the_extension():
    code = ("import sys, fortellis_nb.saved_widgets; "
            "print(sorted(m for m in sys.modules if m.startswith(('ipywidgets', 'fortellis_nb.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['fortellis_nb.saved_widgets']"


# --------------------------------------------------------------------------- the snapshot


def test_the_snapshot_says_what_it_is_and_nothing_of_the_kernel(flow):
    shot = snapshot_html(AuthorizeLink(flow))
    note = re.search(r"<p><em>(.*?)</em></p>", shot).group(1)
    assert html.unescape(note) == SNAPSHOT_NOTE
    assert "snapshot" in note and "run the cell" in note and "kernel" not in note


def test_the_snapshot_shows_links_as_text_and_keeps_the_address_in_view(flow):
    link = AuthorizeLink(flow)
    assert "<a " in link.link.value  # the live widget's link is a link
    shot = snapshot_html(link)
    assert "<a " not in shot and "</a>" not in shot
    assert "<span>Open the sign-in page (new tab) &#8599;</span>" in shot
    assert f"<pre>{html.escape(link.request.url)}</pre>" in shot  # the authorize URL, as text


# --------------------------------------------------------------------------- the committed notebooks


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_widget_outputs_are_snapshots_with_no_dangling_view(path):
    nb = json.loads(path.read_text())
    # No widget state either: with it, nbconvert's HTML asks unpkg.com for a script (./dev.sh
    # notebooks keeps none).
    assert "widgets" not in nb["metadata"]
    models = saved_widgets.saved_models(nb)
    dangling = [output["data"][WIDGET_VIEW]["model_id"] for cell in nb["cells"] for output in cell.get("outputs", [])
                if WIDGET_VIEW in output.get("data", {}) and output["data"][WIDGET_VIEW]["model_id"] not in models]
    assert dangling == []
    for output in widget_outputs(nb):
        snapshot = "".join(output["data"].get("text/html", ""))
        assert 'class="fnb-widget fnb-snapshot"' in snapshot and html.escape(SNAPSHOT_NOTE) in snapshot
        assert "<a " not in snapshot, "a snapshot holds no link"
        assert WIDGET_VIEW not in output["data"], "committed with a view, JupyterLab would draw it, not the snapshot"


def test_the_committed_snapshots_show_the_link_the_tokens_and_the_log():
    shown = {}
    for path in NOTEBOOKS:
        for output in widget_outputs(json.loads(path.read_text())):
            name = "".join(output["data"]["text/plain"]).split("(")[0]
            shown.setdefault(name, "".join(output["data"]["text/html"]))
    assert {"AuthorizeLink", "RedirectCatcher", "TokenInspector", "RefreshPanel", "ApiCaller", "NetworkLog",
            "Playground"} <= set(shown)
    assert re.search(r"<pre>127\.0\.0\.1:PORT/oauth2/\w+/v1/authorize\?client_id=", shown["AuthorizeLink"])
    assert "<table" in shown["TokenInspector"] and "iss" in shown["TokenInspector"]
    assert "POST" in shown["NetworkLog"] and "/v1/token" in shown["NetworkLog"]


def test_nbconvert_html_shows_every_widget_output_as_its_snapshot_with_no_script_from_the_internet(tmp_path):
    """`jupyter nbconvert --to html`, as a workshop handout is made: read offline, each widget
    output is its snapshot (nbconvert draws a view only with the widget state and a script from
    unpkg.com; the committed notebooks carry neither)."""
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--output-dir", str(tmp_path),
                    *map(str, NOTEBOOKS)], check=True, capture_output=True)
    total = 0
    for path in NOTEBOOKS:
        page = (tmp_path / path.with_suffix(".html").name).read_text()
        expected = len(widget_outputs(nbformat.read(path, as_version=4)))
        assert page.count('class="fnb-widget fnb-snapshot"') == expected, path.name
        assert "unpkg.com" not in page and "jupyter-widgets/html-manager" not in page, path.name
        assert WIDGET_VIEW not in page, path.name
        total += expected
    assert total >= 9  # 02 and 03 two each, 04, 05, 06 two, 09
