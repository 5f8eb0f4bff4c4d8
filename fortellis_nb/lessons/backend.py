"""Notebook 10: the example backend (fortellis_nb/examples/backend.py), started with settings
for the local sandbox when there are none, signed in to without a browser, and its source
shown route by route.

The backend itself knows nothing of this package or of the sandbox: it reads FORTELLIS_*
settings, as it would for real Fortellis. What only the sandbox needs (registering an app
whose callback is the backend's own, a dealer's subscription to it, the address browsers
reach the sandbox at on a hub) is done here, before the backend starts."""

from __future__ import annotations

import html
import os
import socket
import subprocess
import sys
from pathlib import Path

from ..oauth import FortellisError, redact

#: The example backend, run as the one file it is.
BACKEND = Path(__file__).resolve().parents[1] / "examples" / "backend.py"
#: The dealer that activates the backend's app in the sandbox (the Marketplace's part).
DEALER = "Example Motors"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def backend_settings(port: int, public_url: str | None = None, rotate: bool = False) -> dict[str, str]:
    """The environment the backend runs with on ``port``: the FORTELLIS_* settings given (in the
    environment or ``.env``) as they are; with none, the local sandbox's, for an app registered
    there with this server's ``/callback/`` and activated by a dealer (:data:`DEALER`)."""
    import requests

    from ..local import start
    from ..oauth.config import sandbox_browser_base

    config = start().config
    env = dict(os.environ)
    if not config.sandbox:
        # The two addresses the settings may leave out, as the client derives them from the issuer.
        for name, value in (("FORTELLIS_API_BASE_URL", config.api_base_url),
                            ("FORTELLIS_SUBSCRIPTIONS_URL", config.subscriptions_url)):
            if value:
                env.setdefault(name, value)
        return env
    # On JupyterHub or Binder the browser reaches this port through jupyter-server-proxy.
    public_url = (public_url or sandbox_browser_base(f"http://127.0.0.1:{port}") or f"http://127.0.0.1:{port}")
    public_url = public_url.rstrip("/")
    if not public_url.startswith(("http://", "https://")):
        raise FortellisError(f"The browser reaches this server at {public_url}/, which is not a full address.",
                             error="no_public_address",
                             hint="Give it with --public-url https://HOST/... (a redirect URI must be absolute).")
    base = config.sandbox["base_url"]
    # The callback with its trailing slash, as the tutorial registers them: the authorize and
    # token requests must send it character for character.
    wanted = {"name": "Example backend", "redirect_uris": [public_url + "/callback/"],
              "post_logout_redirect_uris": [public_url + "/"]}
    if rotate:
        wanted["refresh_token"] = {"rotation_type": "ROTATE"}
    registered = requests.post(base + "/sandbox/apps", json=wanted, timeout=10)
    registered.raise_for_status()
    app = registered.json()
    requests.post(base + "/sandbox/subscriptions", json={"api_key": app["api_key"], "dealership": DEALER},
                  timeout=10).raise_for_status()
    env.update(FORTELLIS_ISSUER=config.issuer, FORTELLIS_API_KEY=app["api_key"],
               FORTELLIS_API_SECRET=app["api_secret"], FORTELLIS_REDIRECT_URI=public_url + "/callback/",
               FORTELLIS_API_BASE_URL=config.api_base_url, FORTELLIS_SUBSCRIPTIONS_URL=config.subscriptions_url,
               FORTELLIS_BROWSER_ISSUER=config.browser_url(config.issuer))
    return env


def backend_command(port: int, *options: str) -> list[str]:
    return [sys.executable, str(BACKEND), "--port", str(port), *options]


def run_example_backend(argv: list[str]) -> int:
    """``fortellis-nb example backend``: the backend in the foreground, until Ctrl+C."""
    import argparse
    import signal

    import requests

    parser = argparse.ArgumentParser(prog="fortellis-nb example backend", description=(
        "Run the example backend (fortellis_nb/examples/backend.py). With no FORTELLIS_* settings it uses the "
        "local sandbox, with an app of its own registered there whose callback is this server's /callback/; "
        "with them (FORTELLIS_REDIRECT_URI then being this server's /callback/, registered with your app), them. "
        "The first line it prints is JSON."))
    parser.add_argument("--port", type=int, default=8770, help="port on 127.0.0.1 (0: a free one; default 8770)")
    parser.add_argument("--public-url", help="the address browsers use for this server, if not http://127.0.0.1:PORT")
    parser.add_argument("--api-path", default="/sandbox/v1/dealership", help="the API path /dealership calls")
    parser.add_argument("--rotate", action="store_true", help="sandbox only: register the app with rotating "
                        "refresh tokens (Okta's ROTATE), to watch the backend keep the newest one")
    args = parser.parse_args(argv)
    port = args.port or free_port()
    try:
        env = backend_settings(port, args.public_url, args.rotate)
    except (FortellisError, requests.RequestException) as error:
        print(f"Could not set up the app: {error}", file=sys.stderr)
        return 2
    backend = subprocess.Popen(backend_command(port, "--api-path", args.api_path), env=env)
    # Stopped by a signal (a test, a service manager): the backend stops with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return backend.wait()
    except KeyboardInterrupt:  # the terminal sent Ctrl+C to the backend too
        return backend.wait()
    finally:
        if backend.poll() is None:
            backend.terminate()
            backend.wait(10)


class RunningBackend:
    """The example backend in a process of its own, started from a notebook (as
    ``fortellis-nb example backend`` does); it stops with the kernel, or with :meth:`stop`."""

    def __init__(self, *options: str):
        import atexit
        import json

        self.path = BACKEND
        self.options = options
        port = free_port()
        env = backend_settings(port, rotate="--rotate" in options)
        self.process = subprocess.Popen(backend_command(port), env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("{"):
            said = self.process.stderr.read() if self.process.wait(10) is not None else ""
            raise FortellisError(f"The example backend did not start: {redact.text(said.strip()[-500:])}",
                                 error="backend_not_started", hint="Run `fortellis-nb check`, then this cell again.")
        self.info = json.loads(line)
        self.url = self.info["url"]
        atexit.register(self.stop)

    def __repr__(self) -> str:
        return f"The example backend is running at {self.url} (its callback: {self.info['redirect_uri']})"

    def _repr_html_(self) -> str:
        url = html.escape(self.url)
        return (f'<p>The example backend is running: <a href="{url}" target="_blank" rel="noopener">{url}</a> '
                f'(its callback: <code>{html.escape(self.info["redirect_uri"])}</code>)</p>')

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        for stream in (self.process.stdout, self.process.stderr):
            if not stream.closed:
                stream.close()
        return "stopped"

    def sign_in_headless(self):
        """What a browser does, without one (the sandbox only): open /login, sign in on the
        sandbox's page, come back to the backend's callback. Returns the browser (a
        ``requests.Session`` with the backend's cookie) and the callback address it landed on;
        prints each stop on the way."""
        import requests

        from ..local import start
        from ..sandbox.authority import DEMO_PASSWORD, DEMO_USERS

        browser = requests.Session()
        login = browser.get(self.url + "login", allow_redirects=False, timeout=30)
        authorize = login.headers["Location"]
        print(f"GET /login -> {login.status_code}, to the identity server's {authorize.split('?')[0]}")
        # The sandbox the backend uses (the same settings pick the same server), as its first demo
        # user: named here, since a workshop room's sandbox named by settings does not say who.
        landed = start().sign_in_headless(authorize, DEMO_USERS[0][0], DEMO_PASSWORD)
        print(f"signed in on the sandbox's page -> back to {redact.shown_url(landed)}")
        home = browser.get(landed, timeout=30)
        print(f"GET /callback/ -> the code exchanged on the server -> {home.url}: {page_text(home.text)}")
        return browser, landed

    def get(self, browser, path: str) -> str:
        """``path`` of the backend, with ``browser``'s cookie; the page as text."""
        answer = browser.get(self.url + path, timeout=30)
        return f"HTTP {answer.status_code} {page_text(answer.text)}"


def page_text(markup: str) -> str:
    """A page's words, without its markup or style (tokens shortened)."""
    import re

    body = re.sub(r"(?s)<style.*?</style>|<title.*?</title>", "", markup)
    words = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()
    # No space where a tag stood before a comma or inside brackets: "Motors, ...", "(refresh first)".
    return redact.text(re.sub(r"\s+(?=[,.;)])|(?<=\()\s+", "", words))


def start_backend(*options: str) -> RunningBackend:
    """Start the example backend (``--rotate``: its app gets rotating refresh tokens)."""
    return RunningBackend(*options)


def show_code(name: str):
    """The source of one part of the example backend (a function, a class, or ``Class.method``),
    read from the file itself, with where it is: a Markdown code block (highlighted in
    JupyterLab and on GitHub)."""
    import ast

    from IPython.display import Markdown

    # Read, not imported: the file is the backend as it runs, on its own.
    source = BACKEND.read_text()
    nodes = ast.parse(source).body
    for part in name.split("."):
        node = next(n for n in nodes if getattr(n, "name", None) == part)
        nodes = getattr(node, "body", [])
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    lines = source.splitlines()[first - 1:node.end_lineno]
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    where = f"`fortellis_nb/examples/backend.py`, lines {first} to {node.end_lineno}:"
    return Markdown(f"{where}\n\n```python\n" + "\n".join(line[indent:] for line in lines).rstrip() + "\n```")
