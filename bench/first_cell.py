#!/usr/bin/env python
"""What a learner waits for before the first lesson: ``fortellis-nb check`` (notebook 01's
first real cell) next to importing ``jupyterlab`` alone, and next to an interpreter that
starts and does nothing, each a fresh process, the median of ``--repeats``. The check finds
JupyterLab without importing it, starts a sandbox and runs the whole flow.

    python bench/first_cell.py [--repeats 5]

A measuring tool, not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import REPO

COMMANDS = {  # what is timed: a fresh interpreter each time
    "fortellis-nb check": ["-m", "fortellis_nb", "check"],
    "import jupyterlab": ["-c", "import jupyterlab"],
    "an interpreter that does nothing": ["-c", "pass"],
}


def run(repeats: int = 5) -> dict:
    """The median seconds of each command over ``repeats`` runs, taken in turns."""
    seconds: dict[str, list[float]] = {label: [] for label in COMMANDS}
    with tempfile.TemporaryDirectory(prefix="first-cell-") as state:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FORTELLIS_")}
        env["FORTELLIS_SANDBOX_STATE"] = state  # the check's own sandbox, stopped below
        for _ in range(repeats):
            for label, arguments in COMMANDS.items():
                began = time.perf_counter()
                subprocess.run([sys.executable, *arguments], cwd=REPO, env=env, check=True, capture_output=True,
                               timeout=300)
                seconds[label].append(time.perf_counter() - began)
        subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", "stop", "--state", state], cwd=REPO,
                       capture_output=True, timeout=60)
    return {"repeats": repeats, "median_s": {label: statistics.median(v) for label, v in seconds.items()}}


def report(result: dict) -> str:
    median = result["median_s"]
    lines = [f"Each a fresh process, the median of {result['repeats']}:", "",
             "| command | seconds |", "|---|---:|"]
    lines += [f"| `{label}` | {median[label]:.2f} |" for label in COMMANDS]
    check, lab = median["fortellis-nb check"], median["import jupyterlab"]
    lines += ["", f"The check takes {check / lab:.2f}x the time of importing JupyterLab alone."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    print(report(run(parser.parse_args().repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
