"""A real JupyterHub on loopback, as a workshop runs one: JupyterHub with
configurable-http-proxy (from npm), the dummy authenticator (any password) and
SimpleLocalProcessSpawner, every participant a home folder of their own and a
``jupyterhub-singleuser`` JupyterLab server under ``/user/NAME/``, with this environment's
packages (jupyter-server-proxy among them). Nothing from the test's own environment
reaches the users' servers but what JupyterHub itself passes on.

::

    hub = Hub(tmp_path, chp=configurable_http_proxy()).start()
    hub.spawn("learner1", "learner2")            # side by side, through the hub's REST API
    server = hub.server("learner1")              # a JupyterServer for open_notebook()
    hub.login(page, "learner1")                  # the browser signs in on /hub/login
    nb = open_notebook(page, server, server.copy_in(NOTEBOOK_02))

Used by ``tests/browser/test_real_hub.py`` and ``bench/hub_memory.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from fortellis_nb.sandbox import stop_sandbox
from fortellis_nb.sandbox.state import SERVER_FILE

from .jupyter import TIMEOUT_MS, JupyterServer, call_json_api, free_port, log_tail

#: configurable-http-proxy, the proxy JupyterHub starts by default, as `npm install` gives it.
CHP_PACKAGE = "configurable-http-proxy@5.3.0"
#: Turns jupyter-server-proxy's server extension off in one participant's server (the package
#: stays installed): what a hub whose image forgot to enable it looks like.
PROXY_OFF = "--ServerApp.jpserver_extensions=jupyter_server_proxy=False"
#: How long ``Hub.spawn`` waits for the servers to answer (the hub itself waits twice as long).
SPAWN_TIMEOUT = 120


def configurable_http_proxy() -> Path:
    """The ``configurable-http-proxy`` command, installed once from npm into the test cache
    (skips, or fails under CI=true, without node, npm or the registry)."""
    from tests.interop.npm_cache import npm_package

    folder = npm_package(CHP_PACKAGE, "configurable-http-proxy")
    return folder / "node_modules" / ".bin" / ("configurable-http-proxy.cmd" if os.name == "nt" else
                                              "configurable-http-proxy")


CONFIG = """\
# Written by tests/browser/hub.py: a JupyterHub on loopback for a workshop's tests.
import json
from pathlib import Path

settings = json.loads(Path(__file__).with_name("settings.json").read_text())
c = get_config()  # noqa: F821 - JupyterHub's config loader defines it
c.JupyterHub.bind_url = f"http://127.0.0.1:{settings['port']}/"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{settings['hub_port']}/"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings['api_port']}"
c.ConfigurableHTTPProxy.command = [settings["chp"]]
c.ConfigurableHTTPProxy.auth_token = settings["proxy_token"]
c.JupyterHub.db_url = f"sqlite:///{settings['dir']}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{settings['dir']}/cookie_secret"
c.JupyterHub.pid_file = f"{settings['dir']}/jupyterhub.pid"
c.JupyterHub.cleanup_servers = True
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = settings["homes"] + "/{username}"
c.Spawner.cmd = [settings["singleuser"]]
c.Spawner.args = settings["args"]
c.Spawner.default_url = "/lab"
# The spawn API answers at once (202) and the tests wait on the server's "ready" in the API;
# the hub gives a server longer to start than they wait, so that on a busy machine the wait
# that ends first is the tests' own, which says whose server and shows the hub's log.
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}
c.Spawner.start_timeout = settings["hub_spawn_timeout"]
c.Spawner.http_timeout = settings["hub_spawn_timeout"]
c.JupyterHub.services = [{"name": "tests", "api_token": settings["service_token"]}]
c.JupyterHub.load_roles = [{"name": "tests", "services": ["tests"],
                            "scopes": ["admin:users", "admin:servers", "tokens", "list:users"]}]


def per_user_args(spawner):
    spawner.args = spawner.args + settings["user_args"].get(spawner.user.name, [])


c.Spawner.pre_spawn_hook = per_user_args
"""


@dataclass
class Hub:
    base_dir: Path
    chp: Path
    #: More options for one participant's server: ``{"learner3": [PROXY_OFF]}``.
    user_args: dict[str, list[str]] = field(default_factory=dict)
    port: int = 0
    service_token: str = field(default_factory=lambda: secrets.token_hex(16))
    process: subprocess.Popen | None = None

    def __post_init__(self):
        self.base_dir = Path(self.base_dir)
        self.homes = self.base_dir / "home"
        self.log_path = self.base_dir / "jupyterhub.log"
        self._tokens: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def home(self, name: str) -> Path:
        return self.homes / name

    # ---- life cycle

    def args(self) -> list[str]:
        """Every participant's server: quiet, culls kernels idle for 10 minutes (as a hub
        should; docs/workshop.md), ``--allow-root`` when the hub runs as root."""
        args = ["--MappingKernelManager.cull_idle_timeout=600", "--MappingKernelManager.cull_interval=60"]
        if hasattr(os, "getuid") and os.getuid() == 0:
            args.append("--allow-root")
        return args

    def write_config(self) -> Hub:
        """The hub's folder: its settings and jupyterhub_config.py (nothing started)."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.homes.mkdir(exist_ok=True)
        self.port = self.port or free_port()
        settings = {
            "port": self.port, "hub_port": free_port(), "api_port": free_port(), "chp": str(self.chp),
            "proxy_token": secrets.token_hex(16), "dir": str(self.base_dir), "homes": str(self.homes),
            "singleuser": str(Path(sys.executable).with_name("jupyterhub-singleuser")),
            "args": self.args(), "user_args": self.user_args, "service_token": self.service_token,
            "hub_spawn_timeout": 2 * SPAWN_TIMEOUT,
        }
        (self.base_dir / "settings.json").write_text(json.dumps(settings, indent=2))
        (self.base_dir / "jupyterhub_config.py").write_text(CONFIG)
        return self

    def launch(self) -> Hub:
        self.write_config()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FORTELLIS_", "JUPYTER", "IPYTHON"))}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(self.base_dir / "jupyterhub_config.py")],
                cwd=self.base_dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 60) -> Hub:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyterhub exited at start (code {self.process.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(OSError, ValueError):
                self.api("")  # the hub's API answers through the proxy: both are up
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"jupyterhub did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def start(self, timeout: float = 60) -> Hub:
        return self.launch().wait_ready(timeout)

    def stop(self, timeout: float = 30) -> None:
        """Stop the users' servers and the hub (SIGTERM: it stops the proxy and, with
        ``cleanup_servers``, every server), then the sandboxes the users' kernels started."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for info in self.sandbox_files():
            with contextlib.suppress(Exception):
                stop_sandbox(info.parent)

    def sandbox_files(self, name: str | None = None) -> list[Path]:
        """The ``server.json`` of each sandbox the participant ``name`` (default: anyone)
        started, wherever platformdirs put it in their home."""
        return sorted((self.home(name) if name else self.homes).glob(f"*/**/{SERVER_FILE}"))

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    # ---- the hub's REST API

    def api(self, path: str, method: str = "GET", body: dict | None = None, timeout: float = 10):
        return call_json_api(f"{self.url}/hub/api/{path.lstrip('/')}", self.service_token, method, body, timeout)

    def spawn(self, *names: str, timeout: float = SPAWN_TIMEOUT) -> None:
        """Create the users and start their servers side by side, as a room logging in does;
        returns when every one answers, as the hub's API says (a server whose start failed
        fails at once)."""
        for name in names:
            with contextlib.suppress(urllib.error.HTTPError):  # 409: the user exists
                self.api(f"users/{name}", method="POST", body={})
            self.prepare_home(name)
            with contextlib.suppress(urllib.error.HTTPError):  # 400: already running
                self.api(f"users/{name}/server", method="POST", body={})
        deadline = time.monotonic() + timeout
        waiting = set(names)
        while waiting and time.monotonic() < deadline:
            for name in list(waiting):
                server = self.api(f"users/{name}").get("servers", {}).get("", {})
                if not server:  # neither pending nor ready: its start failed
                    raise RuntimeError(f"the server of {name} failed to start:\n{self.log_tail()}")
                if server.get("ready"):
                    waiting.discard(name)
            time.sleep(0.3)
        if waiting:
            raise RuntimeError(f"the servers of {sorted(waiting)} did not start within {timeout:.0f} s:\n"
                               f"{self.log_tail()}")

    def prepare_home(self, name: str) -> Path:
        """The participant's home, with the quiet front-end settings every test server has
        (no news, no build check, widget state saved) in its ``~/.jupyter``."""
        home = self.home(name)
        server = HubUserServer(self, name)
        server.prepare()
        return home

    def token(self, name: str) -> str:
        """An API token of the participant's (what their own scripts would use)."""
        if name not in self._tokens:
            made = self.api(f"users/{name}/tokens", method="POST", body={"note": "tests"})
            self._tokens[name] = made["token"]
        return self._tokens[name]

    def server(self, name: str) -> HubUserServer:
        """The participant's running server, for ``open_notebook()`` and its REST API."""
        server = HubUserServer(self, name)
        server.token = self.token(name)
        return server

    def server_pids(self, name: str) -> list[int]:
        """The process ids of the participant's server: the jupyterhub-singleuser process
        (its kernels and the sandbox are its children or started from them)."""
        state = self.api(f"users/{name}").get("servers", {}).get("", {}).get("state", {})
        return [state["pid"]] if state.get("pid") else []

    # ---- the browser

    def login(self, page, name: str, next_path: str | None = None, timeout: float = TIMEOUT_MS) -> None:
        """Sign in on the hub's login page (the dummy authenticator takes any password),
        then land on ``next_path`` (default: the participant's JupyterLab)."""
        target = next_path or f"/user/{name}/lab"
        page.goto(f"{self.url}/hub/login?next={urllib.request.quote(target)}", timeout=timeout)
        page.fill("#username_input", name)
        page.fill("#password_input", "workshop-password")
        page.click("#login_submit")
        page.wait_for_url(f"**{target}**", timeout=timeout)


class HubUserServer(JupyterServer):
    """A participant's server as the notebook helpers see one: JupyterLab under
    ``/user/NAME/`` on the hub's address, its root the participant's home. The browser is
    signed in by the hub's cookie (no token in the address); the REST API takes the
    participant's API token."""

    def __init__(self, hub: Hub, name: str):
        super().__init__("lab", hub.home(name), port=hub.port, prefix=f"/user/{name}/")
        self.hub = hub
        self.name = name
        self.root_dir = self.base_dir
        self.config_dir = self.base_dir / ".jupyter"
        self.settings_dir = self.config_dir / "lab" / "user-settings"
        self.data_dir = self.base_dir / ".local" / "share" / "jupyter"
        self.runtime_dir = self.data_dir / "runtime"
        self.workspaces_dir = self.config_dir / "lab" / "workspaces"
        self.ipython_dir = self.base_dir / ".ipython"
        self.sandbox_state = self.base_dir  # unused: the kernels keep their sandbox where platformdirs says

    def url(self, path: str = "", **query: str) -> str:
        qs = "&".join(f"{k}={urllib.request.quote(v)}" if v != "" else k for k, v in query.items())
        return f"{self.base_url}/{path.lstrip('/')}" + (f"?{qs}" if qs else "")

    def sandbox_info(self) -> dict:
        """The participant's sandbox, as its ``server.json`` says (wherever platformdirs put it)."""
        found = self.hub.sandbox_files(self.name)
        if not found:
            raise FileNotFoundError(f"{self.name} has no sandbox running")
        return json.loads(found[0].read_text())
