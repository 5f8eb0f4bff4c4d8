#!/usr/bin/env python
"""One participant's memory on a real JupyterHub: their server, then one notebook open and
run, then five, each with its own kernel, and their sandbox.

    python bench/hub_memory.py                 # notebooks 01 to 05, about a minute and a half
    python bench/hub_memory.py --notebooks 2   # a smoke run

A real JupyterHub on loopback (``tests/browser/hub.py``: configurable-http-proxy from npm,
local processes), one participant signed in from Chromium (Playwright). The participant
opens the numbered notebooks one after the other in JupyterLab tabs and runs each from the
top (Run All), as a learner does; the figures are read after the server alone, after the
first notebook, and after the last. Every process of the participant is counted: the
``jupyterhub-singleuser`` server, the kernels it started, and the sandbox the first kernel
started (it runs in a session of its own, so it is found by its ``server.json``).

Two figures per process: RSS (resident, counting shared libraries in full in every
process) and PSS (each shared page divided among the processes sharing it). A machine
holds about the sum of the participants' PSS; RSS overstates it. The hub and its proxy are
a fixed cost, printed apart. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

from common import REPO  # and the repository on sys.path

NOTEBOOKS = REPO / "notebooks"


def _kib(path: Path, key: str) -> int:
    try:
        return int(re.search(rf"^{key}:\s+(\d+) kB", path.read_text(), re.MULTILINE).group(1))
    except (OSError, AttributeError):
        return 0


def usage(pid: int) -> dict[str, float]:
    """RSS and PSS of one process, in MiB (PSS from smaps_rollup, Linux 4.14 and newer)."""
    return {"rss": _kib(Path(f"/proc/{pid}/status"), "VmRSS") / 1024,
            "pss": _kib(Path(f"/proc/{pid}/smaps_rollup"), "Pss") / 1024}


def children(pid: int) -> list[int]:
    """Every descendant of ``pid``, read from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in parents.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def snapshot(hub, name: str) -> dict:
    """The participant's processes now, by kind, with their sums."""
    from fortellis_nb.sandbox import running_sandbox

    server = hub.server_pids(name)[0]
    kernels = [pid for pid in children(server) if "ipykernel" in command(pid)]
    sandboxes = []
    for info in hub.sandbox_files(name):
        running = running_sandbox(info.parent)
        if running is not None:
            sandboxes.append(running.pid)
    parts = {"server": [usage(server)], "kernels": [usage(pid) for pid in kernels],
             "sandbox": [usage(pid) for pid in sandboxes if pid not in kernels]}
    total = {key: sum(u[key] for group in parts.values() for u in group) for key in ("rss", "pss")}
    return {"kernels": len(kernels), "parts": {k: {key: sum(u[key] for u in v) for key in ("rss", "pss")}
                                               for k, v in parts.items()}, "total": total}


def measure(notebooks: int = 5) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.browser.hub import Hub, configurable_http_proxy
    from tests.browser.jupyter import CHROMIUM_ARGS, chromium_executable, open_notebook

    chosen = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))[:notebooks]
    result: dict = {"notebooks": [path.name for path in chosen], "steps": []}
    with tempfile.TemporaryDirectory(prefix="hub-memory-") as folder:
        hub = Hub(Path(folder), chp=configurable_http_proxy())
        try:
            hub.start()
            began = time.monotonic()
            hub.spawn("learner")
            result["spawn_s"] = time.monotonic() - began
            time.sleep(2)  # the server settles after its first requests
            result["steps"].append({"step": "the server alone", **snapshot(hub, "learner")})
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium_executable(), args=list(CHROMIUM_ARGS))
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                hub.login(page, "learner")
                server = hub.server("learner")
                for index, path in enumerate(chosen, start=1):
                    nb = open_notebook(page, server, server.copy_in(path))
                    nb.run_all(allow_errors=True, timeout=300_000)
                    if index in (1, len(chosen)):
                        time.sleep(2)
                        result["steps"].append({"step": f"{index} notebook{'s' if index > 1 else ''} open and run",
                                                **snapshot(hub, "learner")})
                browser.close()
            result["hub"] = {"jupyterhub": usage(hub.process.pid) if hub.process else {},
                             "proxy": [usage(pid) for pid in children(hub.process.pid)
                                       if "configurable-http-proxy" in command(pid)]}
        finally:
            hub.stop()
    return result


def report(r: dict) -> str:
    lines = ["| one participant | kernels | server | kernels (all) | sandbox | total RSS | total PSS |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for step in r["steps"]:
        p = step["parts"]
        lines.append(f"| {step['step']} | {step['kernels']} | {p['server']['pss']:.0f} | {p['kernels']['pss']:.0f} | "
                     f"{p['sandbox']['pss']:.0f} | {step['total']['rss']:.0f} MiB | **{step['total']['pss']:.0f} MiB** |")
    hub = r.get("hub", {})
    proxy = sum(u["pss"] for u in hub.get("proxy", []))
    lines += ["", "The server, kernel and sandbox columns are PSS in MiB. The notebooks: "
              + ", ".join(r["notebooks"]) + f". The server started in {r['spawn_s']:.1f} s. The hub itself "
              f"(a fixed cost, not per participant): JupyterHub {hub.get('jupyterhub', {}).get('pss', 0):.0f} MiB "
              f"PSS, configurable-http-proxy {proxy:.0f} MiB."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=int, default=5, help="how many of the numbered notebooks to open")
    args = parser.parse_args()
    r = measure(args.notebooks)
    print(report(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
