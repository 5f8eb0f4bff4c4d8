"""What a saved notebook keeps of its widgets: a widget's view only together with its state.

A widget's output holds a view (``application/vnd.jupyter.widget-view+json``: the id of a
model in the kernel), and the step widgets put a static ``text/html`` snapshot beside it
(``widgets/base.py``). JupyterLab and Notebook 7 draw the view whenever there is one, from the
state saved in ``metadata.widgets``; a view whose model is not there shows "Error displaying
widget: model not found" once the notebook is reopened, and nbconvert's HTML needs that state
and a script from the internet. Saving with "Save Widget State Automatically" off (JupyterLab's
default), or after a kernel restart, leaves exactly such views. So a view goes whenever its
model's state is not saved with it, and the snapshot (or the text) shows instead.

This is also a Jupyter server extension (``python -m fortellis_nb kernel-config`` turns it on
for the environment) whose pre-save hook does it to every notebook the server saves.
Imports nothing of the package, and no ipywidgets: the Jupyter server loads it.
"""

from __future__ import annotations

from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def saved_models(notebook: dict[str, Any]) -> set[str]:
    """The ids of the widget models whose state the notebook holds."""
    saved = notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {})
    return set(saved.get("state", {}) or {})


def drop_views_without_state(notebook: dict[str, Any]) -> int:
    """Take out of ``notebook`` (a dict as nbformat reads it, changed in place) each widget view
    whose model's state it does not hold; the output's other representations stay. Returns
    how many went."""
    models = saved_models(notebook)
    dropped = 0
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) or []:
            data = output.get("data") or {}
            view = data.get(WIDGET_VIEW)
            if view is not None and (not isinstance(view, dict) or view.get("model_id") not in models):
                del data[WIDGET_VIEW]
                dropped += 1
    return dropped


def pre_save_hook(model: dict[str, Any], **_kwargs) -> None:
    """A Jupyter ``ContentsManager`` pre-save hook: a notebook is saved without dangling views."""
    if model.get("type") == "notebook" and isinstance(model.get("content"), dict):
        drop_views_without_state(model["content"])


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": __name__}]


def _load_jupyter_server_extension(serverapp) -> None:
    serverapp.contents_manager.register_pre_save_hook(pre_save_hook)
    serverapp.log.info("fortellis-nb: notebooks are saved without widget views whose state is not saved")
