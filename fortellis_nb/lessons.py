"""What the notebooks share: start a lesson, catch up on the steps an earlier notebook
taught, and show errors as what happened, why, and what to do (never a traceback)."""

from __future__ import annotations

import html
import warnings

from .oauth import FortellisClient, FortellisError, redact
from .oauth.errors import FortellisWarning, SandboxOnlyError


class ErrorReport:
    """A :class:`FortellisError` laid out for a learner: what, why, what to do, and the request."""

    def __init__(self, error: BaseException):
        self.error = error

    def _parts(self) -> tuple[str, str, str, str]:
        error = self.error
        if isinstance(error, FortellisError):
            what = f"{type(error).__name__}: {error.error}"
            why = error.description
            todo = error.hint or ""
            request = error.exchange.as_curl() if getattr(error, "exchange", None) is not None else ""
        else:
            what, why, todo, request = type(error).__name__, str(error), "", ""
        # The last line of defence: a code or token quoted in a message is shortened too.
        return tuple(redact.text(part) for part in (what, why, todo, request))

    def __repr__(self) -> str:
        what, why, todo, request = self._parts()
        lines = [f"What happened: {what}", f"Why: {why}"]
        if todo:
            lines.append(f"What to do: {todo}")
        if request:
            lines.append("The request, as curl:\n" + request)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        what, why, todo, request = (html.escape(p) for p in self._parts())
        red = "var(--jp-error-color1, #b42318)"
        rows = [f"<div><strong>What happened:</strong> <code>{what}</code></div>",
                f"<div><strong>Why:</strong> {why}</div>"]
        if todo:
            rows.append(f"<div><strong>What to do:</strong> {todo}</div>")
        if request:
            rows.append(f"<details><summary>The request, as curl</summary><pre>{request}</pre></details>")
        return (f'<div class="fnb-error" style="border-left:4px solid {red};padding:4px 10px;'
                f'color:var(--jp-ui-font-color1)">{"".join(rows)}</div>')


def explain(error: BaseException) -> ErrorReport:
    """Lay an error out for a learner: ``except FortellisError as error: explain(error)``."""
    return ErrorReport(error)


class NotRunYet:
    """A name a cell uses before the cell that defines it ran: cells run out of order, or the
    kernel restarted. One line that says what to run, not a traceback."""

    def __init__(self, error: NameError):
        self.name = getattr(error, "name", None) or str(error).split("'")[1 if "'" in str(error) else 0]

    def text(self) -> str:
        return (f"`{self.name}` is not defined: if a cell above defines it, run the cells above this one first "
                "(Run > Run All Above Selected Cell); after a kernel restart, run the notebook from the top "
                "(Run > Run All Cells). Otherwise check its spelling.")

    def __repr__(self) -> str:
        return self.text().replace("`", "")

    def _repr_html_(self) -> str:
        name = html.escape(self.name)
        rest = html.escape(self.text().split(": ", 1)[1])
        return (f'<div class="fnb-error" style="border-left:4px solid var(--jp-warn-color1, #f57c00);'
                f'padding:4px 10px;color:var(--jp-ui-font-color1)"><code>{name}</code> is not defined: {rest}</div>')


def _friendly_handler(shell, etype, evalue, tb, tb_offset=None):
    from IPython.display import display

    display(NotRunYet(evalue) if isinstance(evalue, NameError) else ErrorReport(evalue))
    return []


_plain_formatwarning = warnings.formatwarning


def _formatwarning(message, category, filename, lineno, line=None):
    # A learner needs the advice, not the file and line inside this package that gave it.
    if issubclass(category, FortellisWarning):
        return f"Warning ({category.__name__}): {message}\n"
    return _plain_formatwarning(message, category, filename, lineno, line)


def install_friendly_errors() -> bool:
    """In IPython, show every FortellisError as an :class:`ErrorReport` instead of a traceback,
    and our warnings as one plain sentence."""
    warnings.formatwarning = _formatwarning
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc((FortellisError, NameError), _friendly_handler)
    return True


def load_ipython_extension(ipython) -> None:
    """``%load_ext fortellis_nb.lessons`` (or the kernel config ``python -m fortellis_nb
    kernel-config`` writes): friendly errors from the first cell on."""
    install_friendly_errors()


def start(**settings) -> FortellisClient:
    """A client for this notebook: the sandbox unless FORTELLIS_* settings say otherwise."""
    install_friendly_errors()
    return FortellisClient(sandbox_if_unset=True, **settings)


def catch_up(client: FortellisClient, scopes: str = "openid offline_access", pasted_url: str = ""):
    """Steps 1 to 3 in one go, for a notebook opened on its own: authorize, sign in, exchange.

    On the sandbox the sign-in is done headless; against real Fortellis a person signs in:
    open the printed link, then call again with ``pasted_url=`` the address you landed on."""
    request = client.authorization_url(scopes=scopes)
    if not pasted_url:
        try:
            pasted_url = client.sign_in_headless(request)
        except SandboxOnlyError:
            raise SandboxOnlyError(
                "Against real Fortellis a person must sign in.",
                hint=f"Open this link, sign in, and call catch_up(client, pasted_url='...') with the address "
                     f"you land on, within 60 seconds: {request.url}") from None
    return client.exchange_code(client.parse_redirect(pasted_url))


def tokens_in_profile(profile: str = "fortellis-2022", scopes: str = "openid offline_access"):
    """Tokens from a sandbox that issues the other shape Fortellis has used (``profile``, see
    ``fortellis_nb.sandbox.Settings.token_profile``): a private sandbox started for the moment,
    the whole flow against it, the tokens verified by the library, the sandbox stopped."""
    import tempfile

    from .oauth.config import Config
    from .sandbox import Sandbox, Settings

    with tempfile.TemporaryDirectory(prefix="fortellis-profile-") as state:
        with Sandbox(Settings(state_dir=state, token_profile=profile)) as sandbox:
            client = FortellisClient(Config.from_sandbox(sandbox.info))
            request = client.authorization_url(scopes=scopes)
            return client.exchange_code(client.parse_redirect(client.sign_in_headless(request)))


def consent_app(client: FortellisClient) -> FortellisClient:
    """A client for the sandbox's second demo app, which asks the user's consent (Allow, Don't
    allow) after the sign-in, as apps registered with Okta's consent_method REQUIRED do."""
    sandbox = client.config.sandbox or {}
    from .sandbox import running_sandbox

    info = running_sandbox(sandbox.get("state_dir")) if sandbox.get("state_dir") else None
    if info is None or not info.consent_api_key:
        raise SandboxOnlyError("The consent demo app is the sandbox's; this notebook is not using a sandbox of "
                               "its own here.", hint="Register an app that requires consent, or run on the sandbox.")
    return FortellisClient(client.config.replace(api_key=info.consent_api_key, api_secret=info.consent_api_secret))


def sandbox_app(client: FortellisClient, name: str, *, public: bool = False, **registration) -> FortellisClient:
    """Register another app with the sandbox (its /sandbox/apps page, as JSON) and return a
    client for it: a confidential app, or a public one (``public=True``: no API Secret, PKCE
    always). Other fields of the registration (``rate_limit_per_minute``, ``consent_method``,
    ``redirect_uris``) pass through; the redirect URI is this client's unless given."""
    sandbox = client.config.sandbox or {}
    if not sandbox.get("base_url"):
        raise SandboxOnlyError("Apps are registered with the sandbox only; this client talks to a real server.",
                               hint="Register a real app in the Fortellis developer portal.")
    fields = {"name": name, "redirect_uris": [client.config.redirect_uri], "public": public, **registration}
    exchange = client.http.send("POST", sandbox["base_url"].rstrip("/") + "/sandbox/apps", json_body=fields,
                                headers={"Accept": "application/json"}, label="Register an app (sandbox)")
    made = exchange.json()
    if not exchange.ok or not isinstance(made, dict) or "api_key" not in made:
        message = made.get("error_description") if isinstance(made, dict) else None
        raise FortellisError(f"The sandbox did not register the app: {message or exchange.status}",
                             error="registration_failed", exchange=exchange)
    # A new app has no dealer's subscription yet: `test`, the sample dealership, serves every app.
    return FortellisClient(client.config.replace(api_key=made["api_key"], api_secret=made.get("api_secret"),
                                                 redirect_uri=fields["redirect_uris"][0], subscription_id="test"),
                           http=client.http)



# --- notebook 10: the example backend ------------------------------------------------------
class RunningBackend:
    """The example backend (fortellis_nb/examples/backend.py) in a process of its own, started
    from a notebook; it stops with the kernel, or with :meth:`stop`."""

    def __init__(self, *options: str):
        import atexit
        import json
        import subprocess
        import sys
        from pathlib import Path

        from .examples import backend

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

        from .oauth.headless import sign_in

        browser = requests.Session()
        login = browser.get(self.url + "login", params={"scope": scope} if scope else None, allow_redirects=False,
                            timeout=30)
        authorize = login.headers["Location"]
        print(f"GET /login -> {login.status_code}, to the identity server's {authorize.split('?')[0]}")
        landed = sign_in(authorize, username="learner@example.com", password="sandbox-password")
        print(f"signed in on the sandbox's page -> back to {redact.url(landed)}")
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

    from .examples import backend

    lines, first = inspect.getsourcelines(getattr(backend, name))
    where = f"`fortellis_nb/examples/backend.py`, lines {first} to {first + len(lines) - 1}:"
    return Markdown(f"{where}\n\n```python\n{''.join(lines).rstrip()}\n```")
