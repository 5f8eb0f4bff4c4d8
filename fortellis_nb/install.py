"""``fortellis-nb check``: the install check for workshop day; and ``fortellis-nb
kernel-config``: this environment's kernels explain errors as the notebooks do, from the
first cell a learner runs (after a restart too). (``python -m fortellis_nb ...`` is the same.)

One line per item, ``PASS`` or ``FAIL``; the exit status is 0 only if every item passes.
Items: the Python version, the packages the notebooks need, the JupyterLab widget
extension, the sandbox starting, and the whole authorization code flow run headless
against it (discovery, sign-in, code exchange, token checks, refresh, API call, revoke).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
import time
from pathlib import Path

MIN_PYTHON = (3, 10)
#: import name, distribution name, what it is for
PACKAGES = (
    ("requests", "requests", "HTTP"),
    ("jwt", "PyJWT", "token verification"),
    ("cryptography", "cryptography", "RS256 keys"),
    ("tornado", "tornado", "the sandbox server"),
    ("ipywidgets", "ipywidgets", "the notebook widgets"),
    ("jupyterlab", "jupyterlab", "JupyterLab"),
)
#: Checked on JupyterHub and Binder only (JUPYTERHUB_SERVICE_PREFIX set), where browsers
#: reach the sandbox through it.
HUB_PACKAGES = (("jupyter_server_proxy", "jupyter-server-proxy", "the sandbox's pages on JupyterHub and Binder"),)
WIDGET_EXTENSION = "@jupyter-widgets/jupyterlab-manager"


class Report:
    def __init__(self, out=print):
        self.out = out
        self.failures = 0

    def item(self, ok: bool, name: str, detail: str = "") -> bool:
        if not ok:
            self.failures += 1
        self.out(f"{'PASS' if ok else 'FAIL'}  {name}" + (f": {detail}" if detail else ""))
        return ok


def _check_packages(report: Report) -> None:
    on_hub = bool(os.environ.get("JUPYTERHUB_SERVICE_PREFIX"))
    for module, distribution, purpose in PACKAGES + (HUB_PACKAGES if on_hub else ()):
        try:
            importlib.import_module(module)
            version = importlib.metadata.version(distribution)
        except Exception as exc:  # an install check reports any failure to import, whatever it is
            report.item(False, f"package {distribution}", f"{type(exc).__name__}: {exc} "
                        f"(needed for {purpose}; pip install {distribution})")
        else:
            report.item(True, f"package {distribution}", version)


def widget_extension_path() -> Path | None:
    """Where JupyterLab finds the ipywidgets front-end extension, if it is installed."""
    try:
        from jupyter_core.paths import jupyter_path
    except ImportError:
        return None
    for folder in jupyter_path("labextensions"):
        candidate = Path(folder) / WIDGET_EXTENSION / "package.json"
        if candidate.is_file():
            return candidate.parent
    return None


def _flow_steps(client):
    """The tutorial as named steps; each returns a short detail or raises FortellisError."""
    state: dict = {}

    def authorize():
        state["request"] = client.authorization_url(scopes="openid offline_access", pkce=True)
        return state["request"].url[:60] + "..."

    def sign_in():
        state["redirect"] = client.sign_in_headless(state["request"])
        return redact.url(state["redirect"])

    def parse():
        state["response"] = client.parse_redirect(state["redirect"])
        return f"code {redact.shorten(state['response'].code)}"

    def exchange():
        tokens = client.exchange_code(state["response"])
        return f"access token and ID token verified, {tokens.expires_in_words()}"

    def refresh():
        return f"refresh token {client.refresh().refresh_token_status}"

    def call_api():
        return f"HTTP {client.call_api('/sandbox/v1/dealership').status}"

    def revoke():
        client.revoke()
        if client.introspect()["active"]:
            raise FortellisError("The revoked access token is still active.", error="revoke_failed")
        return "access token inactive"

    from .oauth import FortellisError, redact
    return (("discovery", lambda: client.metadata.source), ("authorize URL", authorize),
            ("headless sign-in", sign_in), ("parse redirect", parse),
            ("exchange code and verify tokens", exchange), ("refresh", refresh), ("call the API", call_api),
            ("revoke", revoke))


def _run_flow(report: Report, info) -> None:
    from .oauth.config import Config
    from .oauth import FortellisClient, FortellisError

    steps = _flow_steps(FortellisClient(Config.from_sandbox(info)))
    for index, (name, step) in enumerate(steps):
        try:
            detail = step()
        except FortellisError as exc:
            report.item(False, f"flow: {name}", str(exc).replace("\n", " "))
            for rest, _ in steps[index + 1:]:
                report.item(False, f"flow: {rest}", "not run")
            return
        report.item(True, f"flow: {name}", str(detail))


def run_checks(state_dir=None, keep_sandbox: bool = False, out=print) -> int:
    """Run every check, print one line each, return the exit status."""
    report = Report(out)
    started = time.monotonic()
    report.item(sys.version_info >= MIN_PYTHON, "python", sys.version.split()[0]
                + ("" if sys.version_info >= MIN_PYTHON else f" (needs {'.'.join(map(str, MIN_PYTHON))} or newer)"))
    _check_packages(report)
    path = widget_extension_path()
    report.item(path is not None, "JupyterLab widget extension",
                str(path) if path else f"{WIDGET_EXTENSION} not found; pip install jupyterlab_widgets")

    info, started_here = None, False
    try:
        from .sandbox import ensure_sandbox, running_sandbox, stop_sandbox
        started_here = running_sandbox(state_dir) is None
        info = ensure_sandbox(state_dir)
        report.item(True, "sandbox starts", info.base_url)
    except Exception as exc:  # whatever stops the sandbox is reported, not raised
        report.item(False, "sandbox starts", f"{type(exc).__name__}: {exc}".splitlines()[0])
        report.item(False, "flow", "not run: no sandbox")
    if info is not None:
        try:
            _run_flow(report, info)
        finally:
            if started_here and not keep_sandbox:
                stop_sandbox(state_dir)
    total = "all passed" if not report.failures else f"{report.failures} failed"
    out(f"{total} ({time.monotonic() - started:.1f} s)")
    return 0 if not report.failures else 1


KERNEL_CONFIG_LINE = 'c.InteractiveShellApp.extensions.append("fortellis_nb.lessons")'
KERNEL_CONFIG = f"""# Written by `fortellis-nb kernel-config`: every IPython kernel of this environment
# loads fortellis_nb.lessons, which shows a FortellisError as what happened, why and what to do,
# and a name used before the cell defining it ran (after a restart, or out of order) as one
# line that says what to run, instead of a traceback. Delete this file to undo it.
{KERNEL_CONFIG_LINE}
"""


def kernel_config(prefix: str | None = None, out=print) -> int:
    """Write ``{sys.prefix}/etc/ipython/ipython_kernel_config.py`` (IPython reads config there for
    the kernels of this environment only); a file already there gets the line added, once."""
    path = Path(prefix or sys.prefix) / "etc" / "ipython" / "ipython_kernel_config.py"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            text = path.read_text(encoding="utf-8")
            if KERNEL_CONFIG_LINE in text:
                out(f"{path}: already set")
                return 0
            path.write_text(text.rstrip("\n") + "\n\n" + KERNEL_CONFIG, encoding="utf-8")
        else:
            path.write_text(KERNEL_CONFIG, encoding="utf-8")
    except OSError as exc:  # a system-wide Python this user may not write to
        out(f"{path}: not written ({exc.strerror or exc}). The notebooks still work; each loads the "
            "friendly errors itself when its first cell runs. In a virtual environment of your own this works.")
        return 1
    out(f"{path}: the kernels of this environment load fortellis_nb.lessons")
    return 0
