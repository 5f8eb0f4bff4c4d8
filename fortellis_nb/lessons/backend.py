"""Notebook 10: the example backend (fortellis_nb/examples/backend.py) run from a notebook,
signed in to without a browser, and its source shown part by part."""

from __future__ import annotations

import html

from ..oauth import FortellisError, redact


class RunningBackend:
    """The example backend (fortellis_nb/examples/backend.py) in a process of its own, started
    from a notebook; it stops with the kernel, or with :meth:`stop`."""

    def __init__(self, *options: str):
        import atexit
        import json
        import subprocess
        import sys
        from pathlib import Path

        from ..examples import backend

        self.path = Path(backend.__file__)
        self.options = options
        self.process = subprocess.Popen([sys.executable, "-m", "fortellis_nb.examples.backend", "--port", "0",
                                         *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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

    def sign_in_headless(self, scope: str | None = None):
        """What a browser does, without one (the sandbox only): open /login, sign in on the
        sandbox's page, come back to the backend's callback. Returns the browser (a
        ``requests.Session`` with the backend's cookie) and the callback address it landed on;
        prints each stop on the way."""
        import requests

        from ..local import start
        from ..sandbox.authority import DEMO_PASSWORD, DEMO_USERS

        browser = requests.Session()
        login = browser.get(self.url + "login", params={"scope": scope} if scope else None, allow_redirects=False,
                            timeout=30)
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
    words = html.unescape(re.sub(r"<[^>]+>", " ", body))
    return redact.text(re.sub(r"\s+", " ", words).strip())


def start_backend(*options: str) -> RunningBackend:
    """Start the example backend (``--rotate``: its app gets rotating refresh tokens)."""
    return RunningBackend(*options)


def show_code(name: str):
    """The source of one part of the example backend (a class or function), read from the file
    itself, with where it is: a Markdown code block (highlighted in JupyterLab and on GitHub)."""
    import inspect

    from IPython.display import Markdown

    from ..examples import backend

    lines, first = inspect.getsourcelines(getattr(backend, name))
    where = f"`fortellis_nb/examples/backend.py`, lines {first} to {first + len(lines) - 1}:"
    return Markdown(f"{where}\n\n```python\n{''.join(lines).rstrip()}\n```")
