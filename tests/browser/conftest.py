"""Fixtures for the browser tests: a real Jupyter server, a real Chromium, a page that keeps
a screenshot of every named step.

* ``jupyter``: the server for the app under test, parametrized over ``app`` in
  ("lab", "notebook7"); ``jupyter_lab`` / ``jupyter_notebook7`` for one app only. One server
  per app for the whole session; each test's kernels are shut down when it ends.
* ``workdir``: a fresh folder for this test inside the server's root (relative path).
* ``browser``: headless Chromium (Debian's), one for this folder's tests; ``page``: a new
  context and page per test, with ``snap(page, "step")`` writing
  ``test-artifacts/browser/<test>/NN-step.png`` (kept; CI stores the folder).

The tests skip only when Chromium is missing, and fail instead when
``FORTELLIS_REQUIRE_BROWSER=1`` (CI).

With pytest-rerunfailures installed, a test here runs a second time for one failure only:
``RunAllNeverReachedTheKernel`` (JupyterLab queued a Run All and sent the kernel nothing) or
``IdleKernelShownBusy`` (the server says the kernel is idle; the page has not shown it).

In parallel runs the servers are per worker, so the browser tests should share one:
with ``--dist loadgroup`` every test here is in the xdist group "browser" (set below);
with ``--dist loadfile`` (what ``./dev.sh test`` runs) each module is one unit, so keep the
browser tests in few modules: a second module may land on the other worker and start its
own servers.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .jupyter import (
    APPS,
    CHROMIUM_ARGS,
    JupyterServer,
    chromium_executable,
    record_screenshots,
    snap,
)

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(config, items):
    """Every test in this folder is in the xdist group "browser" (so one worker runs them
    all, with one server per app), and stays so under pytest >= 9.2.

    xdist (3.8) groups by suffixing node ids with ``@group`` through the old
    ``item._nodeid`` field, which pytest 9.2's structured node ids ignore: the tests would
    be spread over the workers, each starting its own JupyterLab (pytest-xdist issue 1386).
    So on a loadgroup worker the suffix is set here the way pytest 9.2 reads it; should
    xdist add its own as well, the group is still the part after the last "@"."""
    mine = [item for item in items if HERE in Path(item.path).parents]
    rerun = config.pluginmanager.hasplugin("rerunfailures")
    for item in mine:
        if not any(item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group("browser"))
        if rerun and not any(item.iter_markers("flaky")):
            # Once more, and only when JupyterLab queued a Run All it never sent to the
            # kernel (RunAllNeverReachedTheKernel) or never showed an idle kernel idle
            # (IdleKernelShownBusy); any other failure fails.
            item.add_marker(pytest.mark.flaky(reruns=1, only_rerun=["^RunAllNeverReachedTheKernel: ",
                                                                    "^IdleKernelShownBusy: "]))
    if not getattr(config.option, "loadgroup", False):
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # an older pytest, where xdist's own suffix works
        return
    for item in mine:
        groups = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                         for mark in item.iter_markers("xdist_group")})
        if "@" not in item.nodeid.rpartition("]")[2] and isinstance(getattr(item, "_id", None), NodeId):
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(groups)}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)  # the page fixture screenshots failures
    return report


def _artifacts(config) -> Path:
    return config.rootpath / "test-artifacts" / "browser"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium's path. Missing: skip, or fail when FORTELLIS_REQUIRE_BROWSER=1."""
    path = chromium_executable()
    if path is None:
        message = ("Chromium is not installed (no /usr/bin/chromium, no chromium on PATH): "
                   "the browser tests need it. Debian/Ubuntu: apt-get install chromium")
        if os.environ.get("FORTELLIS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{message}. FORTELLIS_REQUIRE_BROWSER=1 is set, so this is a failure, not a skip.",
                        pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="package")
def browser(chromium):
    """Headless Chromium through Playwright's sync API, shared by the tests of this folder.

    Not by the session: while a sync Playwright is open, its event loop counts as running in
    this thread, and a later ``sync_playwright()`` (bench/'s measurements, run by
    tests/test_bench.py) would refuse to start "inside the asyncio loop"."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS))
        yield launched
        launched.close()


@pytest.fixture
def page(browser, request):
    """A fresh context and page (1280x900) for this test. ``snap(page, "step")`` saves
    ``test-artifacts/browser/<test>/NN-step.png``; a failing test gets a last screenshot of
    each open tab, and the browser console's errors land in ``console.txt`` beside them."""
    folder = _artifacts(request.config) / _slug(request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    console: list[str] = []

    def listen(new_page):
        new_page.on("console", lambda msg: console.append(f"[{msg.type}] {new_page.url}: {msg.text}")
                    if msg.type == "error" else None)
        new_page.on("pageerror", lambda error: console.append(f"[pageerror] {new_page.url}: {error}"))

    context.on("page", listen)
    tab = context.new_page()
    record_screenshots(tab, folder)
    yield tab
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed:
        from playwright.sync_api import Error as PlaywrightError

        for open_tab in context.pages:
            with contextlib.suppress(PlaywrightError):  # a crashed tab must not hide the test's error
                snap(open_tab, "failed")
    if console:
        (folder / "console.txt").write_text("\n".join(console) + "\n")
    context.close()


# --------------------------------------------------------------------------- Jupyter


class _Servers:
    """One Jupyter server per app, stopped at the session's end. The apps the selected
    tests use are launched together at first use, so they start side by side."""

    def __init__(self, tmp_path_factory, artifacts: Path, wanted: set[str]):
        self.tmp_path_factory = tmp_path_factory
        self.artifacts = artifacts
        self.wanted = wanted
        self.running: dict[str, JupyterServer] = {}
        self.ready: set[str] = set()

    def _launch(self, app: str) -> None:
        server = JupyterServer(app, self.tmp_path_factory.mktemp(f"jupyter-{app}"))
        self.running[app] = server  # registered first, so a failed start is still stopped
        server.launch()

    def get(self, app: str) -> JupyterServer:
        if app not in self.running:
            for other in sorted(self.wanted | {app}, key=lambda name: name != app):
                if other not in self.running:
                    self._launch(other)
        if app not in self.ready:
            self.running[app].wait_ready()
            self.ready.add(app)
        return self.running[app]

    def stop_all(self) -> None:
        with ThreadPoolExecutor() as pool:
            list(pool.map(JupyterServer.stop, self.running.values()))
        self.artifacts.mkdir(parents=True, exist_ok=True)
        for app, server in self.running.items():
            if server.log_path.exists():
                shutil.copy(server.log_path, self.artifacts / f"jupyter-{app}.log")


def _apps_used(items) -> set[str]:
    apps = set()
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "jupyter" in names:
            callspec = getattr(item, "callspec", None)
            apps.add(callspec.params["app"] if callspec and "app" in callspec.params else "lab")
        apps.update(app for app in APPS if f"jupyter_{app}" in names)
    return apps


@pytest.fixture(scope="session")
def jupyter_servers(chromium, tmp_path_factory, request):
    servers = _Servers(tmp_path_factory, _artifacts(request.config), _apps_used(request.session.items))
    yield servers
    servers.stop_all()


@pytest.fixture(scope="session", params=APPS)
def app(request) -> str:
    """The front end under test: "lab" (JupyterLab) or "notebook7" (Notebook 7)."""
    return request.param


def _server_for_test(servers: _Servers, app: str):
    server = servers.get(app)
    yield server
    server.shutdown_kernels()  # this test's; the server stays for the next test


@pytest.fixture
def jupyter(app, chromium, jupyter_servers):
    """The running server for ``app``: JupyterLab or Notebook 7 (the test runs for both)."""
    yield from _server_for_test(jupyter_servers, app)


@pytest.fixture
def jupyter_lab(chromium, jupyter_servers):
    """The running JupyterLab server, for tests about JupyterLab only."""
    yield from _server_for_test(jupyter_servers, "lab")


@pytest.fixture
def jupyter_notebook7(chromium, jupyter_servers):
    """The running Notebook 7 server, for tests about Notebook 7 only."""
    yield from _server_for_test(jupyter_servers, "notebook7")


@pytest.fixture
def workdir(request) -> str:
    """A folder name for this test's files inside the server's root (created on first write),
    so tests sharing a server never see each other's notebooks."""
    return _slug(request.node.name)
