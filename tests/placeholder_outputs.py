"""Take the author's sandbox out of the links a notebook's saved outputs show.

The notebooks are committed with their outputs, and those were made on the author's sandbox:
``http://127.0.0.1:44227/...``. Shown before anything runs, such a link is blue, clickable, and
leads nowhere on a learner's machine. This rewrites the saved outputs and the saved widget
state (``metadata.widgets``, which JupyterLab draws before the kernel runs) so that

* every loopback address with a port (``http://127.0.0.1:NNNN``, ``localhost:NNNN``) reads
  ``127.0.0.1:PORT`` (``localhost:PORT``), with no ``http://``: JupyterLab makes a link of
  any ``scheme://...`` in a text output, and this one would lead nowhere. The learner's own
  address appears when the cell runs;
* every HTML anchor whose href points at such an address loses the href and gets, in its
  place, a title saying so (``TITLE``); the anchor's text stays;
* a markdown link to such an address (in a ``text/markdown`` output) becomes its text, in
  backticks when the text is itself an address (a bare address would be linked again).

and, first, each widget view whose model's state the notebook does not hold goes
(``fortellis_nb.saved_widgets``, the rule Jupyter applies to a learner's save): ./dev.sh
notebooks keeps no widget state, so the committed widgets show their ``text/html`` snapshot
everywhere, with no script from the internet (nbconvert's HTML) and no "model not found".

The rest of the file is left as nbformat writes it. tests/nbval-sanitize.cfg maps a fresh
run's outputs and these to the same text, so nbval still compares them.

    python -m tests.placeholder_outputs notebooks/01-welcome-and-setup.ipynb ...
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

from fortellis_nb.saved_widgets import drop_views_without_state

#: What an anchor gets in place of its href.
TITLE = "Run the cell: the link is made for your own sandbox"

_HOST = r"(?:127\.0\.0\.1|localhost)"
#: A loopback address with a port (or the placeholder), with its scheme if it has one. The
#: sanitize file's [port] is this pattern, so nbval reads a fresh run's address as this one.
PORTED = re.compile(r"(?:(?:https?:)?//)?(127\.0\.0\.1|localhost):(?:\d{2,5}(?!\d)|PORT\b)")
#: The start of a URL on a loopback address with a port (a numeric one or the placeholder).
_LOOPBACK_URL = rf"(?:https?:)?//{_HOST}:(?:\d{{2,5}}(?!\d)|PORT\b)"
#: An HTML start tag <a ...>.
_ANCHOR_TAG = re.compile(r"<a\s[^>]*>")
#: An href to a loopback URL, quoted with " or ' (inside an anchor's start tag).
_LOOPBACK_HREF = re.compile(rf"""(?<=\s)href\s*=\s*(["']){_LOOPBACK_URL}(?:(?!\1)[^>])*\1""")
#: A markdown link [text](url) to a loopback URL.
_MARKDOWN_LINK = re.compile(rf"\[([^\[\]\n]*)\]\({_LOOPBACK_URL}[^()\s]*\)")

_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _unlink_anchor(tag: re.Match) -> str:
    return _LOOPBACK_HREF.sub(f'title="{TITLE}"', tag.group(0))


def _markdown_text(link: re.Match) -> str:
    text = link.group(1)
    return f"`{text}`" if "://" in text and "`" not in text else text


def placeholder_text(text: str, markdown: bool = False) -> str:
    """One output's text with the loopback links and ports taken out (``markdown``: the text
    is a text/markdown output, whose [text](url) links go too)."""
    text = _ANCHOR_TAG.sub(_unlink_anchor, text)
    if markdown:
        text = _MARKDOWN_LINK.sub(_markdown_text, text)
    return PORTED.sub(r"\1:PORT", text)


def _rewrite(value, markdown: bool = False):
    """``value`` with every string in it rewritten (a dict's "text/markdown" as markdown)."""
    if isinstance(value, str):
        return placeholder_text(value, markdown)
    if isinstance(value, list):
        return [_rewrite(item, markdown) for item in value]
    if isinstance(value, dict):
        return {key: _rewrite(item, markdown or key == "text/markdown") for key, item in value.items()}
    return value


def placeholder_notebook(nb) -> bool:
    """Rewrite ``nb``'s outputs and saved widget state in place, its widget views without state
    taken out; True when anything changed.

    Only strings are rewritten: an output's text, each of its string MIME values, and the
    values in each saved widget's state (binary buffers are left alone)."""
    changed = drop_views_without_state(nb) > 0

    def put(holder, key, value):
        nonlocal changed
        if value != holder[key]:
            holder[key] = value
            changed = True

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if isinstance(output.get("text"), str):
                put(output, "text", placeholder_text(output["text"]))
            for mime, value in output.get("data", {}).items():
                if isinstance(value, str):
                    put(output["data"], mime, placeholder_text(value, markdown=mime == "text/markdown"))
    for model in nb.metadata.get("widgets", {}).get(_WIDGET_STATE, {}).get("state", {}).values():
        if isinstance(model.get("state"), dict):
            for key, value in model["state"].items():
                put(model["state"], key, nbformat.from_dict(_rewrite(value)))
    return changed


def placeholder_file(path) -> bool:
    """Rewrite the notebook at ``path`` (written back only when something changed)."""
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    if not placeholder_notebook(nb):
        return False
    nbformat.write(nb, path)
    return True


def main(argv: list[str] | None = None) -> int:
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print("usage: python -m tests.placeholder_outputs NOTEBOOK...", file=sys.stderr)
        return 2
    for path in paths:
        if placeholder_file(Path(path)):
            print(f"{path}: sandbox links and ports replaced by placeholders, widget views without state taken out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
