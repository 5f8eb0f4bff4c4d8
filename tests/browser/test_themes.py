"""The widgets read well in JupyterLab's light and dark themes: the text of every part a
learner reads has enough contrast (WCAG AA, 4.5:1) against the background it sits on."""

from __future__ import annotations

import pytest

from .jupyter import open_notebook, snap

pytestmark = pytest.mark.xdist_group("browser")

FILLED_PLAYGROUND = [
    "from fortellis_nb.widgets import Playground\n\nplayground = Playground()\nplayground",
    "playground.run_unattended();",
]
PARTS = [".fnb-widget h3", ".fnb-parameters td", ".fnb-claims td", ".fnb-checklist td", ".fnb-pass",
         ".fnb-api-response pre", ".fnb-curl pre", ".fnb-network-log .fnb-url", ".fnb-progress"]

# The colour of an element's text and of the first non-transparent background behind it,
# as the browser computed them, and the WCAG contrast ratio between the two.
CONTRAST = """
(selector) => {
  const el = document.querySelector(selector);
  if (!el) return null;
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  let node = el, bg = null;
  while (node && node.nodeType === 1) {
    const b = rgb(getComputedStyle(node).backgroundColor);
    if (b.length >= 3 && (b.length < 4 || b[3] > 0.5)) { bg = b; break; }
    node = node.parentElement;
  }
  bg = bg || [255, 255, 255];
  const fg = rgb(getComputedStyle(el).color);
  const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
  return {ratio: (hi + 0.05) / (lo + 0.05), fg: fg, bg: bg};
}
"""


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_text_contrast_in_both_themes(jupyter_lab, page, workdir, theme):
    path = jupyter_lab.write_notebook(f"{workdir}/themes.ipynb", FILLED_PLAYGROUND)
    nb = open_notebook(page, jupyter_lab, path)
    nb.run_all()
    nb.by_class("fnb-api-response").filter(has_text="Sandbox Motors").first.wait_for()
    try:
        nb.use_theme(theme)
        snap(page, theme)
        poor = {}
        for selector in PARTS:
            found = page.evaluate(CONTRAST, selector)
            assert found is not None, f"{selector} is not on the page"
            if found["ratio"] < 4.5:
                poor[selector] = found
        assert not poor, f"too little contrast in {theme}: {poor}"
    finally:
        if "Dark" in theme:
            nb.use_theme("JupyterLab Light")
