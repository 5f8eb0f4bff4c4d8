"""In the browser: from a click on "Exchange code" to the decoded claims on screen.

JupyterLab runs a small notebook with ``fortellis_nb.widgets.Playground`` in Debian's
Chromium (Playwright). Each repetition clicks "Sign in for me (sandbox)" (a fresh code),
then "Exchange code", and times, inside the page, from the click event to the frame after
the claims table (``fnb-claims``) shows the new token's claims: the widget message to the
kernel, the token request to the sandbox, verification against its key set, and the
widget update back to the page.

Uses the browser test helpers of ``tests/browser/jupyter.py`` (read only).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PLAYGROUND = "from fortellis_nb.widgets import Playground\n\nPlayground()\n"

# Arms a click listener and a mutation observer; resolves with the times in ms.
_ARM_JS = """() => {
  const claims = () => [...document.querySelectorAll('.fnb-claims')].map(e => e.innerText).join('|');
  const before = claims();
  const button = [...document.querySelectorAll('.fnb-exchange-button')].pop();
  window.__fnbBench = new Promise((resolve) => {
    let clicked = null;
    button.addEventListener('click', () => { clicked = performance.now(); }, {capture: true, once: true});
    const observer = new MutationObserver(() => {
      const now = claims();
      if (clicked !== null && now !== before && now.includes('api_providers')) {
        observer.disconnect();
        const shown = performance.now();
        requestAnimationFrame(() => resolve({clicked, shown, painted: performance.now()}));
      }
    });
    observer.observe(document.body, {subtree: true, childList: true, characterData: true});
  });
}"""


def measure(repetitions: int = 5, timeout_ms: float = 60_000, server=None, browser=None) -> dict:
    """Median and slowest of ``repetitions`` clicks (after one unmeasured one). A running
    JupyterServer and Playwright browser may be passed in (the test suite's); else both are
    started here and stopped after."""
    if server is None or browser is None:
        return _with_own_server_and_browser(repetitions, timeout_ms)
    path = server.write_notebook("bench/playground.ipynb", [PLAYGROUND])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        from tests.browser.jupyter import open_notebook

        nb = open_notebook(page, server, path, timeout=timeout_ms)
        nb.run_all(timeout=timeout_ms)
        signin = nb.by_class("fnb-signin-button").first
        exchange = nb.by_class("fnb-exchange-button").first
        signin.wait_for(timeout=timeout_ms)
        samples = []
        for _ in range(repetitions + 1):  # the first one warms up the kernel's imports
            signin.click(timeout=timeout_ms)
            page.wait_for_function(
                "() => { const b = [...document.querySelectorAll('.fnb-exchange-button')].pop();"
                " return b && !b.disabled; }", timeout=timeout_ms)
            page.evaluate(_ARM_JS)
            exchange.click(timeout=timeout_ms)
            samples.append(page.evaluate("() => window.__fnbBench"))
    finally:
        page.close()
    measured = samples[1:]
    painted = [s["painted"] - s["clicked"] for s in measured]
    return {"repetitions": len(measured), "first_ms": samples[0]["painted"] - samples[0]["clicked"],
            "painted_ms": painted, "median_ms": statistics.median(painted), "max_ms": max(painted)}


def _with_own_server_and_browser(repetitions: int, timeout_ms: float) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.browser.jupyter import CHROMIUM_ARGS, JupyterServer, chromium_executable

    with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp:
        server = JupyterServer("lab", Path(tmp))
        server.start(timeout=90)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium_executable() or "/usr/bin/chromium",
                                            args=list(CHROMIUM_ARGS), headless=True)
                try:
                    return measure(repetitions, timeout_ms, server=server, browser=browser)
                finally:
                    browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    print(measure())
