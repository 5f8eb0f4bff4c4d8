#!/usr/bin/env python
"""A learner's path, timed: from opening notebook 01 in JupyterLab to the first API answer in
notebook 06, each notebook opened in order in Chromium (Playwright) and run with Run > Run All
Cells, as a learner who reads nothing would. On the sandbox the sign-ins are the sandbox's own
(``catch_up``), so no typing is timed: this is the machine's share of the path, the floor a
learner's reading adds to.

Next to it, in the same run, the same notebooks executed by a kernel alone
(``jupyter nbconvert --execute``, one after the other, on a sandbox of their own): what the
path costs without a browser, a page or a widget. The ratio of the two is what JupyterLab and
the page add.

    python bench/learner_path.py [--last 6]

A measuring tool, not a test: nothing here is asserted. Uses the browser test helpers of
``tests/browser/jupyter.py`` (read only).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def notebooks(last: int) -> list[Path]:
    return [p for p in sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb")) if int(p.name[:2]) <= last]


def in_the_browser(paths: list[Path], timeout_ms: float = 120_000) -> dict:
    """Open each notebook in order in one JupyterLab tab after another and Run All; the
    seconds from the first open to the end of each notebook's run."""
    from playwright.sync_api import sync_playwright

    from tests.browser.jupyter import CHROMIUM_ARGS, JupyterServer, chromium_executable, open_notebook

    with tempfile.TemporaryDirectory(prefix="bench-learner-") as tmp:
        server = JupyterServer("lab", Path(tmp))
        server.start(timeout=90)
        try:
            copied = [server.copy_in(path, path.name) for path in paths]
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium_executable() or "/usr/bin/chromium",
                                            args=list(CHROMIUM_ARGS), headless=True)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                began = time.perf_counter()
                done = []
                try:
                    for path in copied:
                        nb = open_notebook(page, server, path, timeout=timeout_ms)
                        nb.run_all(timeout=timeout_ms)
                        done.append({"notebook": path.name, "at_s": time.perf_counter() - began})
                    last_outputs = "\n".join(nb.outputs.all_inner_texts())
                finally:
                    browser.close()
        finally:
            server.stop()
    return {"steps": done, "seconds": done[-1]["at_s"], "api_answered": "200 OK" in last_outputs}


def kernel_alone(paths: list[Path]) -> dict:
    """The same notebooks executed one after the other by nbconvert, on a sandbox of their own."""
    with tempfile.TemporaryDirectory(prefix="bench-kernel-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FORTELLIS_")}
        env["FORTELLIS_SANDBOX_STATE"] = str(Path(tmp) / "sandbox")
        began = time.perf_counter()
        for path in paths:
            subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                            "--output-dir", tmp, str(path)], cwd=REPO, env=env, check=True,
                           capture_output=True, timeout=900)
        seconds = time.perf_counter() - began
        subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", "stop", "--state", env["FORTELLIS_SANDBOX_STATE"]],
                       cwd=REPO, capture_output=True, timeout=60)
    return {"seconds": seconds}


def measure(last: int = 6) -> dict:
    paths = notebooks(last)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    browser = in_the_browser(paths)
    kernel = kernel_alone(paths)
    return {"notebooks": [p.name for p in paths], "load_at_start": load, "browser": browser, "kernel": kernel}


def report(result: dict) -> str:
    browser, kernel = result["browser"], result["kernel"]
    steps = ", ".join(f"{s['notebook'][:2]} at {s['at_s']:.1f} s" for s in browser["steps"])
    return (f"From opening {result['notebooks'][0]} to the end of {result['notebooks'][-1]} (its API answer), "
            f"Run All in JupyterLab in Chromium: {browser['seconds']:.1f} s ({steps}; the API's "
            f"200 OK {'shown' if browser['api_answered'] else 'NOT shown'}); the same notebooks run "
            f"by a kernel alone: {kernel['seconds']:.1f} s; {browser['seconds'] / kernel['seconds']:.2f}x. "
            f"Load average at the start: {result['load_at_start']:.2f} on {os.cpu_count()} cores.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--last", type=int, default=6, help="the last notebook to run (default 6)")
    print(report(measure(parser.parse_args().last)))
