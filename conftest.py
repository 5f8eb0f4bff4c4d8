"""Suite-wide set-up.

* The notebooks' kernels share one sandbox, as a learner's do; for a test run it lives in
  a private state directory and is stopped at the end, so the learner's own sandbox is
  neither used nor left changed.
* When the suite runs in parallel (`pytest -n 2 --dist loadgroup`), the cells of one
  notebook (they share a kernel) and the browser tests (they share a Jupyter server) stay
  in one worker each.
"""

import os
import shutil
import tempfile

import pytest

_OWN_STATE = None


def pytest_configure(config):
    global _OWN_STATE
    if hasattr(config, "workerinput"):  # xdist workers inherit the controller's environment
        return
    if "FORTELLIS_SANDBOX_STATE" not in os.environ:
        _OWN_STATE = tempfile.mkdtemp(prefix="fortellis-nb-test-sandbox-")
        os.environ["FORTELLIS_SANDBOX_STATE"] = _OWN_STATE


def pytest_unconfigure(config):
    if hasattr(config, "workerinput") or _OWN_STATE is None:
        return
    from fortellis_nb.sandbox import stop_sandbox

    stop_sandbox(_OWN_STATE)
    shutil.rmtree(_OWN_STATE, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        path = str(item.path)
        if path.endswith(".ipynb"):
            item.add_marker(pytest.mark.xdist_group(name=f"notebook:{item.path.name}"))
        elif "/tests/browser/" in path:
            item.add_marker(pytest.mark.xdist_group(name="browser"))
