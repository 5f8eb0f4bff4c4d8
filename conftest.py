"""Suite-wide set-up.

* The notebooks' kernels share one sandbox, as a learner's do; for a test run it lives in
  a private state directory and is stopped at the end, so the learner's own sandbox is
  neither used nor left changed.
* When the suite runs in parallel, it does so with `--dist loadfile` (see dev.sh): the
  cells of one notebook share a kernel, so they must stay in one worker, in order.
"""

import os
import shutil
import tempfile

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
