"""``fortellis-nb check``: the install check for workshop day; and ``fortellis-nb
kernel-config``: this environment's kernels explain errors as the notebooks do, from the
first cell a learner runs (after a restart too), and its Jupyter servers save notebooks whose
widgets come back when reopened. (``python -m fortellis_nb ...`` is the same.)

One line per item, ``PASS``, ``FAIL`` or ``SKIP``; the exit status is 0 only if no item
fails. Items: the Python version, the packages the notebooks need, the JupyterLab widget
extension, the sandbox starting, and the whole authorization code flow run headless
against it (discovery, sign-in, code exchange, token checks, refresh, API call, revoke).

* **Settings.** When FORTELLIS_* settings name an issuer (in the environment, or in the
  ``.env`` of the folder the check runs in, as the notebooks read them), the check tests
  that server and that app, not a sandbox of its own: a room's sandbox gets discovery, the
  key set, the app's API Key and Secret (a client-credentials token) and an API call; real
  Fortellis gets discovery and the key set (its sign-in needs a browser: notebook 02).
* **JupyterHub and Binder** (``JUPYTERHUB_SERVICE_PREFIX`` set): the learner's browser
  reaches the sandbox only through jupyter-server-proxy, at ``{prefix}proxy/{port}/`` on the
  Jupyter server. The check asks the running Jupyter server for that address, as the
  browser will, and passes only if the sandbox answers there.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from . import saved_widgets

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
#: As ``oauth.config.HUB_PREFIX_VAR``; not imported from there, because the check must run (and
#: report a missing requests or PyJWT) before the protocol layer can be imported.
HUB_PREFIX_VAR = "JUPYTERHUB_SERVICE_PREFIX"
#: Found, not imported: they run in the Jupyter server, not in the check's process, and importing
#: JupyterLab alone takes longer than the rest of the check. The others are imported, as the flow
#: below imports them anyway: a broken install (a compiled part that does not load) shows here.
FOUND_NOT_IMPORTED = {"jupyterlab", "jupyter_server_proxy"}
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

    def skip(self, name: str, why: str) -> None:
        """An item that does not apply here; it is not a failure."""
        self.out(f"SKIP  {name}: {why}")


def _check_packages(report: Report, env) -> None:
    on_hub = bool(env.get(HUB_PREFIX_VAR))
    for module, distribution, purpose in PACKAGES + (HUB_PACKAGES if on_hub else ()):
        try:
            if module in FOUND_NOT_IMPORTED:
                if importlib.util.find_spec(module) is None:
                    raise ModuleNotFoundError(f"No module named {module!r}")
            else:
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
        return redact.shown_url(state["request"].url, 60)

    def sign_in():
        state["redirect"] = client.sign_in_headless(state["request"])
        return redact.shown_url(state["redirect"])

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
    from .local import sandbox_client

    _run_steps(report, "flow", _flow_steps(sandbox_client(info)))


def _run_steps(report: Report, kind: str, steps) -> bool:
    """Run named steps in order, a line each; after the first that fails, the rest are "not
    run". True when all passed."""
    from .oauth import FortellisError

    for index, (name, step) in enumerate(steps):
        try:
            detail = step()
        except FortellisError as exc:
            report.item(False, f"{kind}: {name}", str(exc).replace("\n", " "))
            for rest, _ in steps[index + 1:]:
                report.item(False, f"{kind}: {rest}", "not run")
            return False
        report.item(True, f"{kind}: {name}", str(detail))
    return True


def _jupyter_server_url(env) -> tuple[str, str] | None:
    """Where this user's Jupyter server listens, from inside it (a kernel or a terminal), and
    the token it takes: JupyterHub's ``JUPYTERHUB_SERVICE_URL`` and ``JUPYTERHUB_API_TOKEN``;
    else the server Jupyter's runtime folder lists under this prefix. A server bound to every
    interface (``0.0.0.0``, as in a container) is asked on loopback."""
    prefix = "/" + env.get(HUB_PREFIX_VAR, "").strip("/") + "/"
    url, token = env.get("JUPYTERHUB_SERVICE_URL", ""), env.get("JUPYTERHUB_API_TOKEN", "")
    if not url:
        try:
            from jupyter_server.serverapp import list_running_servers
            listed = [s for s in list_running_servers() if s.get("base_url", "/") == prefix]
        except Exception:  # no jupyter_server, or an unreadable runtime folder: nothing to ask
            listed = []
        if not listed:
            return None
        url, token = listed[0]["url"], token or listed[0].get("token", "")
    parts = urlsplit(url)
    if parts.hostname in ("0.0.0.0", "::", ""):
        parts = parts._replace(netloc=f"127.0.0.1:{parts.port}" if parts.port else "127.0.0.1")
    path = parts.path if parts.path.rstrip("/").endswith(prefix.rstrip("/")) else prefix
    return urlunsplit(parts._replace(path=path.rstrip("/") + "/", query="", fragment="")), token


def check_hub_proxy(report: Report, sandbox_base_url: str, env=None, timeout: float = 10) -> None:
    """On JupyterHub and Binder: ask the Jupyter server for ``{prefix}proxy/{port}/sandbox/health``,
    the path the learner's browser takes to the sandbox, and see the sandbox answer."""
    import requests

    from .oauth.transcript import proxies_for

    env = os.environ if env is None else env
    name = "sandbox through the hub's proxy"
    port = urlsplit(sandbox_base_url).port
    found = _jupyter_server_url(env)
    if found is None:
        return report.skip(name, "this Jupyter server's address is not known here (no JUPYTERHUB_SERVICE_URL); "
                           "open the sandbox's home page from notebook 01 to see that it loads")
    server, token = found
    url = f"{server}proxy/{port}/sandbox/health"
    shown = f"{urlsplit(server).path}proxy/{port}/"
    try:
        answer = requests.get(url, headers={"Authorization": f"token {token}"} if token else {},
                              timeout=timeout, allow_redirects=False, proxies=proxies_for(url))
    except requests.RequestException as exc:
        return report.item(False, name, f"the Jupyter server at {server} did not answer ({type(exc).__name__})")
    try:
        sandbox = answer.json().get("sandbox") is True if answer.status_code == 200 else False
    except ValueError:
        sandbox = False
    if sandbox:
        return report.item(True, name, f"the browser's address {shown} reaches the sandbox")
    if answer.status_code == 404:
        return report.item(False, name, f"{shown} answered 404 Not Found: jupyter-server-proxy is not enabled in this "
                           "Jupyter server, so the sign-in link will show JupyterLab's \"404 : Not Found\". "
                           "Fix: `jupyter server extension enable --sys-prefix jupyter_server_proxy` in the users' "
                           "environment, then restart this server (File > Hub Control Panel > Stop My Server, Start My Server)")
    if answer.status_code in (301, 302, 303, 307, 401, 403):
        return report.item(False, name, f"{shown} answered {answer.status_code}: the Jupyter server refused the "
                           "check's token (JUPYTERHUB_API_TOKEN), so the proxy could not be tried; open the sandbox's "
                           "home page from notebook 01 and see whether it loads")
    return report.item(False, name, f"{shown} answered {answer.status_code}, not the sandbox: "
                       "something other than jupyter-server-proxy answers there")


def _proxy(report: Report, env) -> None:
    """When the environment names a proxy: which, and what goes through it (a line only then)."""
    from .oauth import redact
    from .oauth.transcript import proxy_variable

    found = dict.fromkeys(filter(None, (proxy_variable(f"{scheme}://fortellis.io", env) for scheme in ("https", "http"))))
    if found:
        named = ", ".join(f"{variable} {redact.url(env[variable])}" for variable in found)
        report.item(True, "proxy", f"{named}: requests to real Fortellis go through it; the sandbox on this machine "
                    "is reached directly")


def _named_issuer(report: Report, config) -> None:
    """The server and app the FORTELLIS_* settings name: discovery, the key set, and on a
    sandbox (a room's) the API Key and Secret and an API call."""
    from .local import SandboxClient, recognise

    # The notebooks' client: a server that does not answer is told apart from one that refuses,
    # with where its setting was set and the way back to the sandbox.
    client = recognise(SandboxClient(config))
    steps = [("discovery", lambda: client.metadata.source),
             ("key set", lambda: f"{len(client.jwks.keys)} key(s)")]
    if client.is_sandbox:
        app: dict = {}

        def credentials():
            app["token"] = client.client_credentials()
            return f"API Key and Secret accepted ({app['token'].expires_in_words()})"

        def call_api():
            answer = client.call_api("/sandbox/v1/dealership", access_token=app["token"].access_token)
            return f"HTTP {answer.status}, Subscription-Id {'set' if client.config.subscription_id else 'not set'}"
        steps += [("app credentials", credentials), ("call the API", call_api)]
    if _run_steps(report, "settings", steps) and not client.is_sandbox:
        report.skip("settings: sign-in", "real Fortellis signs you in in the browser: notebook 02 does it")


def run_checks(state_dir=None, keep_sandbox: bool = False, out=print, *, env=None,
               dotenv: str | os.PathLike | bool | None = None) -> int:
    """Run every check, print one line each, return the exit status. ``env`` replaces
    ``os.environ`` and ``dotenv`` names the ``.env`` file (as in ``load_config``)."""
    report = Report(out)
    started = time.monotonic()
    env = os.environ if env is None else env
    report.item(sys.version_info >= MIN_PYTHON, "python", sys.version.split()[0]
                + ("" if sys.version_info >= MIN_PYTHON else f" (needs {'.'.join(map(str, MIN_PYTHON))} or newer)"))
    _check_packages(report, env)
    path = widget_extension_path()
    report.item(path is not None, "JupyterLab widget extension",
                str(path) if path else f"{WIDGET_EXTENSION} not found; pip install jupyterlab_widgets")

    try:  # the protocol layer needs the packages above: a missing one has its FAIL line
        from .oauth.config import load_config, settings_origin
        from .oauth.errors import ConfigurationError, NoIssuerError
    except ImportError as exc:
        report.item(False, "settings", f"not read: {exc}")
        return _finish(report, started)
    _proxy(report, env)
    try:
        config = load_config(env=env, dotenv=dotenv)
    except NoIssuerError:
        config = None
    except ConfigurationError as exc:  # settings that name a server but are incomplete
        report.item(False, "settings", str(exc).replace("\n", " "))
        return _finish(report, started)
    if config is not None:
        report.item(True, "settings", f"issuer {config.issuer}, set by {settings_origin(config.sources)}: "
                    "the check tests that server and app, not a sandbox of its own")
        _named_issuer(report, config)
        return _finish(report, started)

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
            if env.get(HUB_PREFIX_VAR):
                check_hub_proxy(report, info.base_url, env)
            _run_flow(report, info)
        finally:
            if started_here and not keep_sandbox:
                stop_sandbox(state_dir)
    return _finish(report, started)


def _finish(report: Report, started: float) -> int:
    total = "all passed" if not report.failures else f"{report.failures} failed"
    report.out(f"{total} ({time.monotonic() - started:.1f} s)")
    return 0 if not report.failures else 1


KERNEL_CONFIG_LINE = 'c.InteractiveShellApp.extensions.append("fortellis_nb.lessons")'
KERNEL_CONFIG = f"""# Written by `fortellis-nb kernel-config`: every IPython kernel of this environment
# loads fortellis_nb.lessons, which shows a FortellisError as what happened, why and what to do,
# and a name used before the cell defining it ran (after a restart, or out of order) as one
# line that says what to run, instead of a traceback. Delete this file to undo it.
{KERNEL_CONFIG_LINE}
"""


#: Jupyter's settings for this environment's servers, each a file of fortellis-nb's own in a
#: folder under {prefix}/etc/jupyter where Jupyter reads every package's file: (the file, its
#: JSON, what it does). Saved widgets then come back: with their state, or as the snapshot.
JUPYTER_SETTINGS = (
    ("jupyter_server_config.d/fortellis-nb.json",
     {"ServerApp": {"jpserver_extensions": {saved_widgets.__name__: True}}},
     "Jupyter saves notebooks without widget views whose state is not saved with them"),
    # A default only: a learner's own Settings menu still decides.
    ("labconfig/default_setting_overrides.d/fortellis-nb.json",
     {f"{WIDGET_EXTENSION}:plugin": {"saveState": True}},
     "JupyterLab and Notebook 7 save the widgets' state with the notebook"),
)


def kernel_config(prefix: str | None = None, out=print) -> int:
    """Set up this environment (``prefix``, default ``sys.prefix``) for the notebooks: its kernels
    load fortellis_nb.lessons (``etc/ipython/ipython_kernel_config.py``, which IPython reads for
    the kernels of this environment only; a file already there gets the line added, once), and
    its Jupyter servers keep the widgets readable in saved notebooks (``JUPYTER_SETTINGS``)."""
    root = Path(prefix or sys.prefix)
    failed = not _write_kernel_config(root / "etc" / "ipython" / "ipython_kernel_config.py", out)
    for relative, settings, what in JUPYTER_SETTINGS:
        failed |= not _write_json(root / "etc" / "jupyter" / relative, settings, what, out)
    return 1 if failed else 0


def _not_written(path: Path, exc: OSError) -> str:
    return f"{path}: not written ({exc.strerror or exc})."


def _write_kernel_config(path: Path, out) -> bool:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            text = path.read_text(encoding="utf-8")
            if KERNEL_CONFIG_LINE in text:
                out(f"{path}: already set")
                return True
            path.write_text(text.rstrip("\n") + "\n\n" + KERNEL_CONFIG, encoding="utf-8")
        else:
            path.write_text(KERNEL_CONFIG, encoding="utf-8")
    except OSError as exc:  # a system-wide Python this user may not write to
        out(f"{_not_written(path, exc)} The notebooks still work; each loads the friendly errors itself when "
            "its first cell runs. In a virtual environment of your own this works.")
        return False
    out(f"{path}: the kernels of this environment load fortellis_nb.lessons")
    return True


def _write_json(path: Path, settings: dict, what: str, out) -> bool:
    text = json.dumps(settings, indent=2) + "\n"
    try:
        if path.exists() and path.read_text(encoding="utf-8") == text:
            out(f"{path}: already set")
            return True
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        out(f"{_not_written(path, exc)} Without it, a notebook saved after a run may show "
            "\"model not found\" for its widgets when reopened (run their cells again).")
        return False
    out(f"{path}: {what}")
    return True
