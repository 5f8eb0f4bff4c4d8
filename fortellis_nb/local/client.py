"""A client for the local sandbox: the protocol client plus what only a sandbox allows."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import requests

from ..oauth import FortellisClient, errors, hints
from ..oauth.authorize import AuthorizationRequest
from ..oauth.config import (
    DEFAULT_SCOPES,
    ENV_VARS,
    Config,
    config_from,
    find_settings,
    sandbox_browser_base,
    settings_origin,
)
from ..oauth.redirect import AuthorizationResponse
from ..oauth.transcript import Exchange, Http, reach_loopback_directly
from . import headless, pages

#: The settings that name a server, and how a learner calls them.
SERVER_SETTINGS = (("issuer", "issuer"), ("api_base_url", "API base URL"), ("subscriptions_url", "Subscriptions service URL"))


def no_answer_explained(error: errors.NetworkError, config: Config) -> errors.NetworkError:
    """``error``, its hint completed when no answer came from a server a FORTELLIS_* setting
    names: that is the network, not the server refusing; where the setting was set; the way
    back to the sandbox (:func:`~fortellis_nb.oauth.hints.unreachable`)."""
    if error.response is not None or error.exchange is None:
        return error
    host = urlsplit(error.exchange.url).netloc
    for name, called in SERVER_SETTINGS:
        value = getattr(config, name)
        origin = settings_origin({name: config.sources.get(name, "")})
        if value and origin and urlsplit(value).netloc == host:
            error.hint = hints.unreachable(error.hint, called, origin)
            break
    return error


class SettingsHttp(Http):
    """:class:`Http` whose failures to reach a server name the setting that sent the request there
    (:func:`no_answer_explained`): the learner's client knows where its settings came from."""

    def __init__(self, settings: Callable[[], Config], **options):
        super().__init__(**options)
        self._settings = settings

    def send(self, method: str, url: str, **options) -> Exchange:
        try:
            return super().send(method, url, **options)
        except errors.NetworkError as error:
            raise no_answer_explained(error, self._settings()) from None


class SandboxClient(FortellisClient):
    """A :class:`FortellisClient` that, on a sandbox, also signs in headless and learns when
    the sandbox issued each code. Against any other server these extras refuse
    (:class:`~fortellis_nb.oauth.errors.SandboxOnlyError`) and the rest works as usual. A server
    its FORTELLIS_* settings name that does not answer says where they were set (SettingsHttp)."""

    def __init__(self, config=None, *, http: Http | None = None, **options):
        super().__init__(config, http=http or SettingsHttp(lambda: self.config), **options)
        #: The cookie jar of the headless browser: a second sign-in finds the session, as a browser does.
        self._browser = requests.Session()

    def parse_redirect(self, url: str) -> AuthorizationResponse:
        response = super().parse_redirect(url)
        if response.issued_at is None and self.is_sandbox:
            self._learn_code_times(response)
        return response

    def _learn_code_times(self, response: AuthorizationResponse) -> None:
        """Ask the sandbox when it issued the code: the countdown then starts there, not at the paste."""
        times = pages.code_times(self.config.issuer, response.code, self.http)
        if times is None:
            return
        offset = self.clock() - times["now"]  # the sandbox's clock against this client's
        response.expires_at = times["expires_at"] + offset
        if isinstance(times.get("issued_at"), (int, float)):
            response.issued_at = times["issued_at"] + offset
        elif isinstance(times.get("lifetime"), (int, float)):
            response.issued_at = response.expires_at - times["lifetime"]

    def sign_in_headless(self, request: AuthorizationRequest | str, username: str | None = None,
                         password: str | None = None, *, allow: bool = True) -> str:
        """Sign in as the sandbox's demo user (or ``username``) without a browser; sandbox only."""
        sandbox = self.config.sandbox or {}
        username = username or sandbox.get("username")
        password = password or sandbox.get("password")
        if not username or not password:
            raise errors.SandboxOnlyError("No sandbox user is configured for a headless sign-in.")
        return headless.sign_in(str(request), username=username, password=password, http=self.http,
                                session=self._browser, allow=allow)


def sandbox_config(info, *, env=None, **overrides) -> Config:
    """Settings for a sandbox's demo app, from its ``SandboxInfo``; ``overrides`` replace some.
    ``env`` (``os.environ`` by default) says whether the browser reaches it through JupyterHub."""
    data = info.as_dict() if hasattr(info, "as_dict") else dict(info)
    values = {"issuer": data["issuer"], "api_key": data["api_key"], "api_secret": data["api_secret"],
              "redirect_uri": data["redirect_uri"], "subscription_id": data.get("subscription_id"),
              "api_base_url": data.get("api_base_url"), "subscriptions_url": data.get("subscriptions_url"),
              "scopes": DEFAULT_SCOPES}
    sources = {k: "sandbox" for k in values}
    for key, value in overrides.items():
        if value is not None:
            values[key] = value
            sources[key] = "argument"
    sandbox = {"base_url": data.get("base_url"), "username": data.get("username"),
               "password": data.get("password"), "state_dir": str(data.get("state_dir") or "")}
    return Config(**values, sandbox=sandbox, sources=sources, fortellis_tokens=True,
                  browser_base=sandbox_browser_base(data.get("base_url"), env))


def _find_or_start(state_dir):
    """The sandbox of ``state_dir`` (this user's by default): the running one, or one started."""
    try:
        from ..sandbox import ensure_sandbox
    except ImportError as exc:  # the sandbox is part of the package; this is a broken install
        raise errors.SandboxNotAvailableError(f"The sandbox cannot be imported ({exc}).") from None
    try:
        return ensure_sandbox(state_dir)
    except Exception as exc:  # any failure to start means the same thing to a learner
        raise errors.SandboxNotAvailableError(f"The local sandbox did not start: {exc}") from None


def sandbox_client(sandbox=None, *, env=None, **options) -> SandboxClient:
    """A client for a sandbox's demo app, whatever FORTELLIS_* says.

    ``sandbox``: a ``SandboxInfo`` or its dict (a sandbox at hand, such as one a test started), a state
    directory (the sandbox running there, started in the background if need be), or None
    (this user's sandbox). Keyword arguments are settings that replace the demo app's
    (``api_key``, ``redirect_uri``...) or the client's own (``http``, ``clock``...); ``env``
    replaces ``os.environ`` where JupyterHub's variables are looked up."""
    at_hand = isinstance(sandbox, dict) or hasattr(sandbox, "as_dict")
    info = sandbox if at_hand else _find_or_start(sandbox)
    settings = {k: options.pop(k) for k in list(options) if k in ENV_VARS}
    return SandboxClient(sandbox_config(info, env=env, **settings), **options)


#: Where ``fortellis_tokens`` came from once :func:`recognise` has asked.
ASKED = "the sandbox's health page"


def recognise(client: FortellisClient) -> FortellisClient:
    """Mark ``client``'s issuer as a sandbox's when its health page says so: a workshop room's
    sandbox named by FORTELLIS_ISSUER, or one standing in for Fortellis. Plain http issuers only,
    and once per settings: the answer is kept in ``config.sources``, not asked again per widget."""
    config = client.config
    if config.fortellis_tokens or config.sources.get("fortellis_tokens") == ASKED:
        return client
    if pages.serves_issuer(config.issuer, client.http):
        client.config = config = config.replace(fortellis_tokens=True)
    config.sources["fortellis_tokens"] = ASKED
    return client


def start(*, state_dir=None, env=None, dotenv=None, public: bool = False, **options) -> SandboxClient:
    """The notebooks' client: the server the FORTELLIS_* settings (or ``.env``) name, else the
    local sandbox (``state_dir``'s, started if need be). Keyword arguments are settings
    (``issuer``, ``api_key``...) or the client's own (``http``, ``clock``...). This process's
    NO_PROXY gets this machine's names (:func:`~fortellis_nb.oauth.transcript.reach_loopback_directly`)."""
    settings = {k: options.pop(k) for k in list(options) if k in ENV_VARS}
    # The notebooks show each step in plain requests and PyJWT too, and run the example backend
    # here: behind a proxy (HTTP_PROXY...), all of it reaches this machine directly.
    reach_loopback_directly()
    found = find_settings(env=env, dotenv=dotenv, **settings)
    if "issuer" not in found.values:
        client = sandbox_client(state_dir, env=env, **found.values, **options)
        client.config.sources.update(found.sources)
        return client
    client = SandboxClient(config_from(found, public=public), **options)
    recognise(client)
    return client
