#!/usr/bin/env python
"""How long nbval takes on every notebook, next to its floor: as many one-cell notebooks,
which cost what any notebook costs nbval (a kernel started, a cell run, outputs compared).
What is above the floor is what our notebooks themselves cost: the sandbox's start, the
sign-ins, the token requests, the widgets.

    python bench/nbval_floor.py

A measuring tool, not a test: nothing here is asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from common import REPO


def one_cell_notebooks(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        cell = nbformat.v4.new_code_cell("1 + 1", execution_count=1)
        cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
        nb.cells.append(cell)
        nbformat.write(nb, folder / f"{i + 1:02d}-one-cell.ipynb")


def run(only: int | None = None) -> dict:
    """nbval on the notebooks (the first ``only`` of them, if given) and on as many one-cell ones."""
    notebooks = sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb"))[:only]
    with tempfile.TemporaryDirectory(prefix="nbval-floor-") as work:
        floor = Path(work) / "floor"
        one_cell_notebooks(floor, len(notebooks))
        env = {k: v for k, v in os.environ.items() if not k.startswith("FORTELLIS_")}
        env["FORTELLIS_SANDBOX_STATE"] = str(Path(work) / "sandbox")  # the notebooks' own, stopped below
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
        runs = {}
        for label, command in (("notebooks", base + [str(p.relative_to(REPO)) for p in notebooks]),
                               ("floor", base + ["-o", "addopts=", "--nbval", "--rootdir", str(floor), str(floor)])):
            began = time.perf_counter()
            done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
            runs[label] = {"seconds": time.perf_counter() - began, "returncode": done.returncode,
                           "summary": (done.stdout.strip().splitlines() or [""])[-1]}
        subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", "stop", "--state", env["FORTELLIS_SANDBOX_STATE"]],
                       cwd=REPO, capture_output=True, timeout=60)
    cells = sum(sum(1 for c in json.loads(p.read_text())["cells"] if c["cell_type"] == "code") for p in notebooks)
    return {**runs, "count": len(notebooks), "cells": cells}


def report(result: dict) -> str:
    nb, floor = result["notebooks"], result["floor"]
    return (f"nbval on the {result['count']} notebooks ({result['cells']} code cells): {nb['seconds']:.1f} s "
            f"({nb['summary']}); on {result['count']} one-cell notebooks: {floor['seconds']:.1f} s "
            f"({floor['summary']}); {nb['seconds'] / floor['seconds']:.2f}x the floor.")


if __name__ == "__main__":
    print(report(run()))
