"""Drive a real Jupyter server (JupyterLab or Notebook 7) from a real Chromium, as a person
would: open a notebook, run all cells, click widget buttons, fill widget inputs, follow
links into new tabs, save from the UI, then read what landed on disk.

The fixtures in ``conftest.py`` build on this module; a flow test only needs::

    def test_flow(jupyter, page):
        path = jupyter.write_notebook("flow/flow.ipynb", ["from fortellis_nb import ...", ...])
        nb = open_notebook(page, jupyter, path)
        nb.run_all()
        nb.click_button("Exchange code")
        nb.wait_for_output("access_token")
        snap(page, "exchanged")

Everything here works the same for both front ends; the differences (URLs, the
"kernel idle" indicator) are handled inside.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from fortellis_nb.sandbox import stop_sandbox

APPS = ("lab", "notebook7")

#: Generous, because a cold JupyterLab on a 2-core CI machine takes a while to first paint;
#: every wait returns as soon as its condition holds.
TIMEOUT_MS = 60_000

#: Any cell that starts makes the kernel report "busy" at once, so a Run All after which
#: the kernel has heard nothing for this long never reached it.
RUN_ALL_STALL_S = 20

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The machine has no network beyond package registries: without these Chromium keeps
    # retrying its own background services and fills the log with refused connections.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

WIDGET_MANAGER_PLUGIN = "@jupyter-widgets/jupyterlab-manager:plugin"

# Front-end settings written into the isolated settings folder before the server starts.
# Nothing the user has set applies; these make the pages quiet and deterministic.
BASE_LAB_SETTINGS: dict[str, dict] = {
    # No "Would you like to receive official Jupyter news?" toast over the notebook.
    "@jupyterlab/apputils-extension:notification": {"checkForUpdates": False, "fetchNews": "false"},
    # Render every cell: with windowing, cells far from the viewport are not (fully) in the
    # page, and a locator looking for their output would wait in vain.
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
}


# --------------------------------------------------------------------------- browser


def chromium_executable() -> str | None:
    """``$FORTELLIS_CHROMIUM`` (a Chromium elsewhere, e.g. the one ``playwright install`` puts in its
    cache), else Debian's Chromium, else whatever ``chromium`` is on PATH; None when there is none."""
    chosen = os.environ.get("FORTELLIS_CHROMIUM")
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


# --------------------------------------------------------------------------- server


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def write_lab_settings(settings_dir: Path, plugin: str, values: dict) -> Path:
    """Write one plugin's user settings (``<settings_dir>/<package>/<name>.jupyterlab-settings``),
    merged over what is already there. Read by JupyterLab and Notebook 7 when a page loads."""
    package, _, name = plugin.partition(":")
    path = settings_dir / package / f"{name}.jupyterlab-settings"
    path.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(path.read_text()) if path.exists() else {}
    current.update(values)
    path.write_text(json.dumps(current, indent=2))
    return path


@dataclass
class JupyterServer:
    """A Jupyter server in a subprocess, with everything it reads in private folders.

    ``app`` is ``"lab"`` (``jupyter lab``) or ``"notebook7"`` (``jupyter notebook``).
    ``root_dir`` is what the file browser shows; put the notebooks a test needs there.
    ``sandbox_state`` is the kernels' ``FORTELLIS_SANDBOX_STATE``: a sandbox a notebook
    starts with ``ensure_sandbox()`` belongs to this server alone and is stopped with it.
    """

    app: str
    base_dir: Path
    widget_state: bool = True
    port: int = 0
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    process: subprocess.Popen | None = None
    #: The server's ``--ServerApp.base_url``: ``"/user/learner/"`` serves it as JupyterHub would.
    prefix: str = "/"
    #: More environment for the server and so its kernels (``JUPYTERHUB_SERVICE_PREFIX``, ...).
    env: dict[str, str] = field(default_factory=dict)
    #: More command-line options for the server.
    args: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.app not in APPS:
            raise ValueError(f"app must be one of {APPS}, not {self.app!r}")
        self.base_dir = Path(self.base_dir)
        self.root_dir = self.base_dir / "root"
        self.config_dir = self.base_dir / "config"
        self.data_dir = self.base_dir / "data"
        self.runtime_dir = self.base_dir / "runtime"
        self.settings_dir = self.config_dir / "lab" / "user-settings"
        self.workspaces_dir = self.base_dir / "workspaces"
        self.ipython_dir = self.base_dir / "ipython"
        self.sandbox_state = self.base_dir / "sandbox-state"
        self.log_path = self.base_dir / "server.log"

    # ---- addresses

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix.rstrip('/')}"

    def url(self, path: str = "", **query: str) -> str:
        """An address on this server with the token: ``url("lab/tree/a.ipynb")``."""
        query = {"token": self.token, **query}
        qs = "&".join(f"{k}={urllib.parse.quote(v)}" if v != "" else k for k, v in query.items())
        return f"{self.base_url}/{path.lstrip('/')}?{qs}"

    def notebook_url(self, path: str | Path, workspace: str | None = None) -> str:
        """Where a person opens ``path`` (relative to ``root_dir``) in this front end.

        In JupyterLab each call can name its own workspace, so the tabs a previous test
        left open are not restored around this one."""
        rel = urllib.parse.quote(self._relative(path))
        if self.app == "notebook7":
            return self.url(f"notebooks/{rel}")
        if workspace:
            return self.url(f"lab/workspaces/{workspace}/tree/{rel}", reset="")
        return self.url(f"lab/tree/{rel}", reset="")

    def api(self, path: str, method: str = "GET", body: dict | None = None, timeout: float = 10):
        """Call the server's REST API (``api("api/sessions")``); returns the decoded JSON."""
        return call_json_api(f"{self.base_url}/{path.lstrip('/')}", self.token, method, body, timeout)

    # ---- files in the root

    def _relative(self, path: str | Path) -> str:
        path = Path(path)
        if path.is_absolute():
            path = path.relative_to(self.root_dir)
        return path.as_posix()

    def path(self, relative: str | Path) -> Path:
        """Where ``relative`` is on disk (an absolute path is returned as it is)."""
        return self.root_dir / relative

    def write_notebook(self, relative: str | Path, cells: Iterable[str | tuple[str, str]],
                       **metadata) -> Path:
        """Write a notebook into the root. A cell is code (a string) or ``("markdown", text)``.
        The notebook names the python3 kernel, so it starts without asking."""
        nb = nbformat.v4.new_notebook()
        nb.metadata.update({
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
            "language_info": {"name": "python"},
            **metadata,
        })
        for cell in cells:
            if isinstance(cell, tuple):
                kind, source = cell
                nb.cells.append(nbformat.v4.new_markdown_cell(source) if kind == "markdown"
                                else nbformat.v4.new_code_cell(source))
            else:
                nb.cells.append(nbformat.v4.new_code_cell(cell))
        target = self.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        return target

    def copy_in(self, source: str | Path, relative: str | Path | None = None) -> Path:
        """Copy a file or folder (a project notebook, say) into the root."""
        source = Path(source)
        target = self.path(relative if relative is not None else source.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
        return target

    def read_notebook(self, relative: str | Path) -> nbformat.NotebookNode:
        """A notebook in the root as it is on disk now (an absolute path works too)."""
        return nbformat.read(self.path(relative), as_version=4)

    # ---- life cycle

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               # Real Fortellis settings or another Jupyter's paths must not leak in.
               if not k.startswith(("FORTELLIS_", "JUPYTER", "IPYTHON"))}
        env.update({
            "JUPYTER_CONFIG_DIR": str(self.config_dir),
            "JUPYTER_DATA_DIR": str(self.data_dir),
            "JUPYTER_RUNTIME_DIR": str(self.runtime_dir),
            "JUPYTERLAB_SETTINGS_DIR": str(self.settings_dir),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.workspaces_dir),
            "IPYTHONDIR": str(self.ipython_dir),
            "FORTELLIS_SANDBOX_STATE": str(self.sandbox_state),
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.env)
        return env

    def command(self) -> list[str]:
        module = "jupyterlab" if self.app == "lab" else "notebook"
        cmd = [
            sys.executable, "-m", module,
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            # A safety net should the test run die without tearing down: kernels idle for
            # 10 minutes are culled, then the server stops itself.
            "--MappingKernelManager.cull_idle_timeout=600",
            "--MappingKernelManager.cull_interval=60",
            "--ServerApp.shutdown_no_activity_timeout=600",
        ]
        if self.prefix != "/":
            cmd.append(f"--ServerApp.base_url={self.prefix}")
        if hasattr(os, "getuid") and os.getuid() == 0:
            cmd.append("--allow-root")
        return cmd + list(self.args)

    def prepare(self) -> None:
        for folder in (self.root_dir, self.config_dir, self.data_dir, self.runtime_dir,
                       self.settings_dir, self.workspaces_dir, self.ipython_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.sandbox_state.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Server-side: never ask the internet for news or a newer JupyterLab.
        (self.config_dir / "jupyter_server_config.json").write_text(json.dumps({
            "LabApp": {"check_for_updates_class": "jupyterlab.NeverCheckForUpdate", "news_url": None},
        }, indent=2))
        # Nor check whether JupyterLab needs a rebuild at each page load: it never does here,
        # and the check costs seconds of CPU while the page loads.
        (self.config_dir / "labconfig").mkdir(exist_ok=True)
        (self.config_dir / "labconfig" / "page_config.json").write_text(json.dumps(
            {"buildCheck": False, "buildAvailable": False}, indent=2))
        for plugin, values in BASE_LAB_SETTINGS.items():
            write_lab_settings(self.settings_dir, plugin, values)
        if self.widget_state:
            self.enable_widget_state_saving()

    def enable_widget_state_saving(self, on: bool = True) -> Path:
        """"Settings > Save Widget State Automatically": saving a notebook then also writes
        the widgets' state into ``metadata.widgets``. Applies to pages opened afterwards."""
        return write_lab_settings(self.settings_dir, WIDGET_MANAGER_PLUGIN, {"saveState": on})

    def launch(self) -> JupyterServer:
        """Start the server process and return at once; :meth:`wait_ready` waits for it.
        (Two servers launched one after the other come up side by side.)"""
        self.prepare()
        if not self.port:
            self.port = free_port()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=self.root_dir, env=self.environment(),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = 60) -> JupyterServer:
        """Until ``/api/status`` answers."""
        if self.process is None:
            raise RuntimeError(f"jupyter {self.app} was not launched")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter {self.app} exited at start (code {self.process.returncode}):\n"
                                   f"{self.log_tail()}")
            with contextlib.suppress(OSError, ValueError):
                if self.api("api/status", timeout=2) is not None:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"jupyter {self.app} did not answer /api/status within {timeout:.0f} s:\n"
                           f"{self.log_tail()}")

    def start(self, timeout: float = 60) -> JupyterServer:
        return self.launch().wait_ready(timeout)

    def shutdown_kernels(self) -> None:
        """End every session and its kernel; the server keeps running."""
        with contextlib.suppress(OSError, ValueError):
            for session in self.api("api/sessions"):
                self.api(f"api/sessions/{session['id']}", method="DELETE")

    def stop(self, timeout: float = 20) -> None:
        """Shut the server down (its kernels with it), then the sandbox its kernels started
        (as ``python -m fortellis_nb.sandbox stop --state DIR`` does)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self.api("api/shutdown", method="POST", timeout=5)
        # The sandbox runs in a session of its own (it outlives kernels on purpose), so the
        # server's shutdown does not reach it; it stops while the server winds down.
        stop_sandbox(self.sandbox_state)
        if process is None:
            return
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)


# --------------------------------------------------------------------------- screenshots


@dataclass
class _Shots:
    folder: Path
    count: int = 0


# Keyed by browser context, so a tab a link opened shares its test's folder and numbering.
_SHOTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def record_screenshots(page, folder: Path) -> None:
    """Send ``snap()`` screenshots of ``page`` (and of tabs opened from it) to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    _SHOTS[page.context] = _Shots(folder)


def call_json_api(url: str, token: str, method: str = "GET", body: dict | None = None, timeout: float = 10):
    """A Jupyter-style REST call (``Authorization: token ...``, JSON both ways); the decoded
    answer, or None for an empty one."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a server's log, for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def snap(page, step: str, *, full_page: bool = False) -> Path | None:
    """Screenshot ``page`` as ``NN-step.png`` in its test's artifact folder; returns the path.

    A page whose context no fixture registered is not recorded (returns None), so helpers
    can call ``snap`` unconditionally."""
    shots = _SHOTS.get(page.context)
    if shots is None:
        return None
    shots.count += 1
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", step.strip()).strip("-").lower() or "step"
    path = shots.folder / f"{shots.count:02d}-{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@contextlib.contextmanager
def serving(server: JupyterServer, rootpath: Path, log_name: str):
    """A server of a test's own, started, stopped after, its log kept as
    ``test-artifacts/browser/<log_name>``."""
    try:
        yield server.start()
    finally:
        server.stop()
        artifacts = rootpath / "test-artifacts" / "browser"
        artifacts.mkdir(parents=True, exist_ok=True)
        if server.log_path.exists():
            (artifacts / log_name).write_bytes(server.log_path.read_bytes())


# --------------------------------------------------------------------------- the notebook page


class NotebookFailed(AssertionError):
    """Run All stopped at a cell that raised; the message quotes what the page shows."""


class IdleKernelShownBusy(TimeoutError):
    """The server says the notebook's kernel is idle and connected, but the page's kernel
    indicator has not said so within the wait: the front end's, not the notebook's (a cell that
    hangs keeps the kernel busy on the server too). ``conftest.py`` runs a test that meets this
    once more."""


class RunAllNeverReachedTheKernel(TimeoutError):
    """JupyterLab took a Run All (queued its cells, or marked them and dropped them back to
    "[ ]") but sent none of them to the kernel: the kernel's last activity is what it was
    before the click. This is the front end's, not
    the notebook's: code that hangs keeps the kernel busy, and a cell that ran at all
    moved its last activity. ``conftest.py`` runs a test that meets this once more."""


# Whether the notebook's background is dark (arg true) or light, as the browser paints it.
_PAINTED_IN = """
(dark) => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook') || document.body;
  const rgb = (getComputedStyle(panel).backgroundColor.match(/[\\d.]+/g) || []).map(Number);
  if (rgb.length < 3 || (rgb.length > 3 && rgb[3] === 0)) return false;
  const light = (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255;
  return dark ? light < 0.5 : light > 0.5;
}
"""
# The colours of the widgets' text and backgrounds, read after the next two frames are drawn.
_COLOURS = """
() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(
  Array.from(document.querySelectorAll('.fnb-widget, .fnb-widget *')).slice(0, 400).map(el => {
    const style = getComputedStyle(el);
    return style.color + '/' + style.backgroundColor + '/' + style.borderTopColor;
  }).join(';')))))
"""


class NotebookPage:
    """One notebook open in a browser page, with what a person does to it.

    Get one from :func:`open_notebook`. Locators are scoped to the notebook, so a toolbar
    button and a widget button with the same name never mix."""

    def __init__(self, page, server: JupyterServer, path: str | Path):
        self.page = page
        self.server = server
        self.rel = server._relative(path)
        self.file = server.path(self.rel)
        self._activity_before_run_all: str | None = None

    # ---- where things are

    @property
    def notebook(self):
        """The notebook's cells (in JupyterLab: of the tab on show)."""
        return self.page.locator(".jp-NotebookPanel:visible .jp-Notebook")

    @property
    def outputs(self):
        """Every output area of every cell."""
        return self.notebook.locator(".jp-OutputArea-output")

    def cell(self, index: int):
        """The index-th cell (0-based, markdown cells count)."""
        return self.notebook.locator(".jp-Cell").nth(index)

    # ---- kernel

    def kernel(self) -> dict | None:
        """The server's view of this notebook's kernel (``execution_state``, ``connections``,
        ``last_activity``), or None while it has none."""
        for session in self.server.api("api/sessions"):
            if session.get("path") == self.rel and session.get("kernel"):
                return session["kernel"]
        return None

    def wait_for_kernel_idle(self, timeout: float = TIMEOUT_MS) -> None:
        """Until the page shows "Kernel status: Idle" and the server agrees: the kernel is idle
        and the page's websocket to it is open (the page's indicator alone can say idle before
        the kernel is connected, and what is run then may never reach the kernel)."""
        from playwright.sync_api import TimeoutError as PageTimeout

        try:
            self.page.locator(".jp-NotebookPanel:visible .jp-Notebook-ExecutionIndicator[data-status=idle]") \
                .wait_for(timeout=timeout)
        except PageTimeout:
            kernel = self.kernel() or {}
            if kernel.get("execution_state") == "idle" and kernel.get("connections", 0) >= 1:
                raise IdleKernelShownBusy(
                    f"The kernel of {self.rel} is idle with {kernel.get('connections')} connection(s), but the "
                    f"page has not shown it idle after {timeout / 1000:.0f} s") from None
            raise TimeoutError(f"The kernel of {self.rel} is {kernel.get('execution_state', 'not started')} after "
                               f"{timeout / 1000:.0f} s (the page does not show it idle either)") from None
        deadline = time.monotonic() + timeout / 1000
        kernel = None
        while time.monotonic() < deadline:
            kernel = self.kernel()
            if kernel and kernel.get("execution_state") == "idle" and kernel.get("connections", 1) >= 1:
                return
            time.sleep(0.1)
        state = "not started" if kernel is None else (
            f"{kernel.get('execution_state')} with {kernel.get('connections')} connection(s)")
        raise TimeoutError(f"The kernel of {self.rel} is {state} after {timeout / 1000:.0f} s")

    def focus(self) -> None:
        """Click the first cell's prompt, as a person does before a shortcut: the notebook,
        in command mode, gets the keys (not an editor, nor a widget's input)."""
        self.notebook.locator(".jp-Cell .jp-InputPrompt").first.click()

    # ---- menus

    def menu_item(self, label: str):
        """An item of the menu open on top, by its label (its shortcut, "Ctrl+S", not included)."""
        label_text = self.page.locator(".lm-Menu-itemLabel").filter(has_text=re.compile(rf"^{re.escape(label)}$"))
        return self.page.locator(".lm-Menu").last.locator(".lm-Menu-item").filter(has=label_text)

    def menu(self, *labels: str) -> None:
        """Click through the menu bar: ``menu("Run", "Run All Cells")``, ``menu("File", "Save Notebook")``."""
        top, *items = labels
        self.page.locator(".lm-MenuBar").get_by_role("menuitem", name=top, exact=True).click()
        for label in items:
            # Each submenu opens as its own .lm-Menu; the last one opened is on top.
            self.menu_item(label).click()

    def use_theme(self, theme: str, *, timeout: float = TIMEOUT_MS) -> None:
        """Switch JupyterLab to ``theme`` ("JupyterLab Light", "JupyterLab Dark") from the menu, and
        return once the page is painted in it: JupyterLab names the theme on <body> as it loads the
        theme's style sheet, and on a busy machine the colours come a moment later. Waits for the
        notebook's background to be the theme's (dark or light), then for two frames alike."""
        if not self.page.locator(f"body[data-jp-theme-name='{theme}']").count():
            self.menu("Settings", "Theme", theme)
            self.page.wait_for_selector(f"body[data-jp-theme-name='{theme}']", state="attached", timeout=timeout)
        self.page.wait_for_function(_PAINTED_IN, arg="Dark" in theme, timeout=timeout)
        deadline, before = time.monotonic() + timeout / 1000, None
        while True:
            now = self.page.evaluate(_COLOURS)
            if now == before or time.monotonic() > deadline:
                return
            before = now

    def menu_item_checked(self, *labels: str) -> bool:
        """Open the menus down to the last label, read whether it is ticked, close them."""
        top, *items = labels
        self.page.locator(".lm-MenuBar").get_by_role("menuitem", name=top, exact=True).click()
        for label in items[:-1]:
            self.menu_item(label).hover()
        checked = self.menu_item(items[-1]).get_attribute("aria-checked") == "true"
        for _ in labels:
            self.page.keyboard.press("Escape")
        return checked

    def command_palette(self, command: str) -> None:
        """Run a command by its label through the command palette (Ctrl+Shift+C)."""
        self.focus()
        self.page.keyboard.press("Control+Shift+C")
        search = self.page.locator(".lm-CommandPalette-input")
        search.fill(command)
        self.page.locator(".lm-CommandPalette-item", has_text=re.compile(rf"^{re.escape(command)}")).first.click()

    # ---- running

    def run_all(self, *, via: str = "menu", allow_errors: bool = False, timeout: float = TIMEOUT_MS) -> None:
        """Run > Run All Cells (``via="menu"``) or the same through the command palette
        (``via="palette"``), then wait until the kernel has run every cell.

        Raises :class:`NotebookFailed` if a cell raised (Run All stops there), unless
        ``allow_errors``; the message quotes the traceback."""
        self.start_run_all(via=via, timeout=timeout)
        self.wait_run_all(allow_errors=allow_errors, timeout=timeout)

    def start_run_all(self, *, via: str = "menu", timeout: float = TIMEOUT_MS) -> None:
        """Click Run All and return while the cells run (two notebooks can run side by side);
        :meth:`wait_run_all` waits for the end."""
        self.wait_for_kernel_idle(timeout)
        self._activity_before_run_all = (self.kernel() or {}).get("last_activity")
        if via == "menu":
            self.menu("Run", "Run All Cells")
        elif via == "palette":
            self.command_palette("Run All Cells")
        else:
            raise ValueError(f"via must be 'menu' or 'palette', not {via!r}")

    def wait_run_all(self, *, allow_errors: bool = False, timeout: float = TIMEOUT_MS) -> None:
        """Until the Run All that :meth:`start_run_all` started is done (see :meth:`run_all`)."""
        # Run All marks every code cell [*] as it queues them, before the click returns,
        # so an old "[1]:" cannot be mistaken for this run's. And a Run All with code to run
        # is not over before the kernel has heard of it: JupyterLab can also drop the cells
        # back to "[ ]" at once, having sent nothing.
        deadline = time.monotonic() + timeout / 1000
        stall_at = time.monotonic() + RUN_ALL_STALL_S
        heard = not self.page.evaluate(_CODE_TO_RUN_JS)
        while True:
            finished = self.page.evaluate(_RUN_FINISHED_JS)
            kernel = None if heard else (self.kernel() or {})
            heard = heard or kernel.get("last_activity") != self._activity_before_run_all
            if finished and heard:
                break
            now = time.monotonic()
            if not heard and now > stall_at:
                raise RunAllNeverReachedTheKernel(
                    f"Run All in {self.rel}: after {RUN_ALL_STALL_S} s the page shows its cells "
                    f"{'not run' if finished else 'queued'} while the kernel ({kernel.get('execution_state')}, "
                    f"{kernel.get('connections')} connection(s)) has had no message since the click")
            if now > deadline:
                raise self._run_all_overdue(timeout)
            time.sleep(0.2)
        self.wait_for_kernel_idle(timeout)
        if allow_errors:
            return
        stopped = self.page.evaluate(_CELLS_NOT_RUN_JS)
        errors = self.errors()
        if stopped or errors:
            raise NotebookFailed(f"Run All in {self.rel}: {len(errors)} cell(s) raised, "
                                 f"{stopped} code cell(s) did not run.\n" + "\n".join(errors)[-3000:])

    def _run_all_overdue(self, timeout: float) -> TimeoutError:
        """What a Run All past its time is: the page showing a cell queued or running while
        the server says the kernel is idle and connected is the front end's (a reply it never
        showed; :class:`IdleKernelShownBusy`); a kernel still busy is the notebook's, and the
        message names the cell and the end of what it printed."""
        kernel = self.kernel() or {}
        waiting = self.page.evaluate(_CELL_WAITING_JS)
        where = (f"cell {waiting['index']} shows {waiting['prompt'].strip()!r}, its output ending "
                 f"{waiting['output'][-300:]!r}") if waiting else "no cell shows [*]"
        if kernel.get("execution_state") == "idle" and kernel.get("connections", 0) >= 1:
            return IdleKernelShownBusy(
                f"Run All in {self.rel}: the kernel is idle with {kernel.get('connections')} connection(s), but "
                f"after {timeout / 1000:.0f} s the page has not shown the run finished ({where})")
        return TimeoutError(f"Run All in {self.rel} did not finish within {timeout / 1000:.0f} s: the kernel is "
                            f"{kernel.get('execution_state', 'not started')}; {where}")

    def errors(self) -> list[str]:
        """The tracebacks the page shows. An error and a print to stderr look alike in the
        page; only the error has IPython's "Traceback ..." or "Cell In[N], line M" lines."""
        texts = self.notebook.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
        return [text for text in texts if _TRACEBACK.search(text)]

    def wait_for_output(self, text: str | re.Pattern, *, cell: int | None = None, timeout: float = TIMEOUT_MS):
        """Until some output (of cell ``cell``, if given) contains ``text`` (a string or a
        regex); returns that output's locator."""
        scope = self.cell(cell) if cell is not None else self.notebook
        output = scope.locator(".jp-OutputArea-output").filter(has_text=text).first
        output.wait_for(timeout=timeout)
        return output

    def output_text(self, cell: int) -> str:
        return "\n".join(self.cell(cell).locator(".jp-OutputArea-output").all_inner_texts())

    # ---- widgets

    def button(self, label: str, *, exact: bool = True):
        """A button in the outputs (a widget's, or any HTML button) by its visible label."""
        return self.outputs.get_by_role("button", name=label, exact=exact)

    def click_button(self, label: str, *, exact: bool = True, timeout: float = TIMEOUT_MS) -> None:
        """Click a widget button by its label: ``click_button("Exchange code")``. Waits until
        it is there and enabled (a widget may disable a button while it works)."""
        button = self.button(label, exact=exact)
        button.wait_for(timeout=timeout)
        button.click(timeout=timeout)

    def input(self, label: str, *, exact: bool = True):
        """A widget's text input or text area by its description (label), e.g. "Redirect URL"."""
        return self.outputs.get_by_label(label, exact=exact)

    def fill(self, label: str, value: str, *, exact: bool = True, commit: bool = True,
             timeout: float = TIMEOUT_MS) -> None:
        """Type ``value`` into the input described by ``label``. With ``commit``, press Tab
        afterwards: a ``Text(continuous_update=False)`` tells the kernel only on blur/Enter."""
        box = self.input(label, exact=exact)
        box.fill(value, timeout=timeout)
        if commit:
            box.press("Tab")

    def by_class(self, css_class: str):
        """Output elements with a CSS class (``widget.add_class("fnb-status")``)."""
        return self.outputs.locator(f".{css_class}")

    # ---- links and tabs

    def follow_link_to_new_tab(self, link, *, timeout: float = TIMEOUT_MS):
        """Click a link (a locator, or its text) that opens a new tab; returns that tab's page,
        loaded. Its screenshots go to the same test folder as this page's."""
        if isinstance(link, (str, re.Pattern)):
            link = self.outputs.get_by_role("link", name=link).first
        with self.page.context.expect_page(timeout=timeout) as new:
            link.click(timeout=timeout)
        tab = new.value
        tab.wait_for_load_state("load", timeout=timeout)
        return tab

    # ---- saving

    def save(self, *, via: str = "keyboard", timeout: float = TIMEOUT_MS) -> nbformat.NotebookNode:
        """Save from the UI (Ctrl+S, or ``via="menu"``: File > Save Notebook), wait until the
        file on disk has changed, and return it as read from disk.

        Notebook 7 offers saving only when there are unsaved changes (running cells makes
        some); JupyterLab always does."""
        before = self.file.stat().st_mtime_ns if self.file.exists() else None
        if via == "keyboard":
            self.focus()
            self.page.keyboard.press("Control+s")
        elif via == "menu":
            self.menu("File", "Save Notebook")
        else:
            raise ValueError(f"via must be 'keyboard' or 'menu', not {via!r}")
        # The server writes the file in place and keeps the old one as ".~name" until the
        # write is through: the save is over once the file has changed and that copy is gone.
        backup = self.file.with_name(".~" + self.file.name)
        deadline = time.monotonic() + timeout / 1000
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, json.JSONDecodeError):
                if self.file.stat().st_mtime_ns != before and not backup.exists():
                    return nbformat.read(self.file, as_version=4)
            time.sleep(0.1)
        raise TimeoutError(f"{self.rel} was not written within {timeout / 1000:.0f} s of saving "
                           "(in Notebook 7, Save is disabled while nothing has changed)")

    def read(self) -> nbformat.NotebookNode:
        """The notebook as it is on disk now."""
        return nbformat.read(self.file, as_version=4)

    def widget_state_saving(self) -> bool:
        """Whether Settings > Save Widget State Automatically is ticked, as the page shows it."""
        return self.menu_item_checked("Settings", "Save Widget State Automatically")


_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*Cell In\[\d+\], line \d+", re.MULTILINE)

_RUN_FINISHED_JS = """() => {
  const panel = [...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent !== null);
  if (!panel) return false;
  const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
  return prompts.length > 0 && !prompts.some(p => p.textContent.includes('*'));
}"""

# The first code cell showing "[*]" (queued or running): its index among all cells, its
# prompt and the text of its output so far; null when none does.
_CELL_WAITING_JS = """() => {
  const panel = [...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent !== null);
  if (!panel) return null;
  const cells = [...panel.querySelectorAll('.jp-Cell')];
  const index = cells.findIndex(cell => {
    const prompt = cell.querySelector('.jp-CodeCell .jp-InputArea-prompt, .jp-InputArea-prompt');
    return cell.classList.contains('jp-CodeCell') && prompt && prompt.textContent.includes('*');
  });
  if (index < 0) return null;
  const cell = cells[index];
  return {index, prompt: cell.querySelector('.jp-InputArea-prompt').textContent,
          output: [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText).join('\\n')};
}"""

# Whether the notebook has a code cell with source (a Run All of it sends the kernel something).
_CODE_TO_RUN_JS = """() => {
  const panel = [...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent !== null);
  return !!panel && [...panel.querySelectorAll('.jp-CodeCell .cm-content')].some(c => c.textContent.trim());
}"""

# Code cells with source that have no execution count once Run All is done: Run All
# stopped before them (an empty cell is never run, so it does not count).
_CELLS_NOT_RUN_JS = """() => {
  const panel = [...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent !== null);
  return [...panel.querySelectorAll('.jp-CodeCell')].filter(cell => {
    const source = cell.querySelector('.cm-content');
    const prompt = cell.querySelector('.jp-InputArea-prompt');
    return source && source.textContent.trim() && prompt && !/\\d/.test(prompt.textContent);
  }).length;
}"""


def open_notebook(page, server: JupyterServer, path: str | Path, *, workspace: str | None = None,
                  timeout: float = TIMEOUT_MS) -> NotebookPage:
    """Open ``path`` (relative to the server's root, or absolute inside it) as a person would,
    by its address in the app the server runs, and wait until its kernel is idle."""
    if workspace is None:
        workspace = "w" + secrets.token_hex(4)
    page.goto(server.notebook_url(path, workspace=workspace), timeout=timeout)
    nb = NotebookPage(page, server, path)
    nb.notebook.wait_for(timeout=timeout)
    nb.wait_for_kernel_idle(timeout)
    return nb


def iter_widget_states(nb: nbformat.NotebookNode) -> Iterator[tuple[str, dict]]:
    """(model id, state) of each widget a saved notebook holds in ``metadata.widgets``."""
    saved = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    yield from saved.get("state", {}).items()
