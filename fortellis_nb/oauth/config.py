"""Where the client finds its settings: arguments, environment, a ``.env`` file, or the sandbox.

For each setting the first of these that has it wins:

1. an argument to :func:`load_config`;
2. an environment variable (``FORTELLIS_ISSUER``, ``FORTELLIS_API_KEY``,
   ``FORTELLIS_API_SECRET``, ``FORTELLIS_REDIRECT_URI``, ``FORTELLIS_SUBSCRIPTION_ID``,
   and also ``FORTELLIS_SCOPES``, ``FORTELLIS_API_BASE_URL`` and ``FORTELLIS_SUBSCRIPTIONS_URL``);
3. a ``.env`` file (by default the one in the current directory);

and ``Config.sources`` says which, by the variable's name and its place (``FORTELLIS_ISSUER in
the environment``, ``FORTELLIS_ISSUER in /home/me/notebooks/.env``).

With none of them naming an issuer :func:`load_config` refuses: settings for the local sandbox
come from :mod:`fortellis_nb.local`, which finds or starts it (starting a server process is
never a side effect of reading settings). In the notebooks nothing set means "the sandbox",
and setting the variables for a real Fortellis app switches every step to real Fortellis
without changing any code.

The API Secret is kept out of every ``repr``, ``str`` and rich display.
"""

from __future__ import annotations

import io
import ipaddress
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv.parser import parse_stream

from .errors import ConfigurationError, NoIssuerError, RedirectURIWarning
from .hints import BACK_TO_SANDBOX
from .redact import HIDDEN, hide

ENV_VARS = {
    "issuer": "FORTELLIS_ISSUER",
    "api_key": "FORTELLIS_API_KEY",
    "api_secret": "FORTELLIS_API_SECRET",
    "redirect_uri": "FORTELLIS_REDIRECT_URI",
    "subscription_id": "FORTELLIS_SUBSCRIPTION_ID",
    "scopes": "FORTELLIS_SCOPES",
    "api_base_url": "FORTELLIS_API_BASE_URL",
    "subscriptions_url": "FORTELLIS_SUBSCRIPTIONS_URL",
}
#: Set by JupyterHub (and so Binder) in the single-user server's and its kernels' environment.
HUB_PREFIX_VAR = "JUPYTERHUB_SERVICE_PREFIX"
#: Where a setting from an environment variable was found, as ``Config.sources`` says it.
IN_ENVIRONMENT = "the environment"
#: Where browsers reach the hub, when known: ours first, then JupyterHub's (set when the hub
#: has ``public_url`` configured). Without either the proxied links are path-absolute and the
#: browser puts its own origin in front, which is always right.
PUBLIC_ORIGIN_VARS = ("FORTELLIS_PUBLIC_ORIGIN", "JUPYTERHUB_PUBLIC_URL")
DEFAULT_SCOPES = ("openid",)

TRAILING_SLASH_RULE = ("Use the redirect URI that you entered when you were registering your app "
                       "with a trailing `/`.")


def parse_dotenv(text: str) -> dict[str, str]:
    """The settings of a ``.env`` file, read by python-dotenv (``KEY=value``, comments,
    ``export``, quotes, multi-line quoted values; no ``${VAR}`` expansion). A line it cannot
    read is an error that names the line, rather than a setting silently lost."""
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text.removeprefix("\ufeff"))):
        if binding.error:
            line = binding.original.string.strip().splitlines()[0] if binding.original.string.strip() else ""
            raise ConfigurationError(
                f".env line {binding.original.line} is not KEY=value: {line[:40]!r}",
                hint="Each line of a .env file is NAME=value (no spaces in the name); quote a value "
                     "that has spaces or several lines.")
        if binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    return values


def read_dotenv(path: Path) -> str:
    """A ``.env`` file's text: UTF-8, with or without the byte-order mark Windows Notepad writes."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{str(path)!r} is not UTF-8 text (byte {exc.start}).",
                                 hint="Save the .env file as UTF-8.") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_private_address(host: str) -> bool:
    """A private network's IP address (10/8, 172.16/12, 192.168/16, fc00::/7): where a workshop
    room's shared sandbox runs. Never a real Fortellis server, which is https only."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private and not (address.is_link_local or address.is_unspecified or address.is_reserved)


def api_base_url_for(issuer: str) -> str | None:
    """The Fortellis API gateway that goes with a Fortellis identity server, if it is one."""
    host = urlsplit(issuer).hostname or ""
    match = re.fullmatch(r"identity(-[a-z]+)?\.fortellis\.io", host)
    if match:
        return f"https://api{match.group(1) or ''}.fortellis.io"
    return None


#: Fortellis' Subscriptions service in production; the other environments' are not published.
PRODUCTION_SUBSCRIPTIONS_URL = "https://subscriptions.fortellis.io"


def subscriptions_url_for(issuer: str) -> str | None:
    """Fortellis' Subscriptions service for Fortellis' production identity server; None for
    any other (its dev and test hosts are not published: set FORTELLIS_SUBSCRIPTIONS_URL)."""
    return PRODUCTION_SUBSCRIPTIONS_URL if urlsplit(issuer).hostname == "identity.fortellis.io" else None


def check_issuer(issuer: str) -> None:
    """Refuse an issuer that is not an https URL, or plain http anywhere but where a sandbox runs."""
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"The issuer {issuer!r} is not an http(s) URL.",
            hint="An issuer looks like https://identity.fortellis.io/oauth2/aus1p1ixy7YL8cMq02p7.")
    if parts.scheme == "http" and not (_is_loopback(parts.hostname) or _is_private_address(parts.hostname)):
        raise ConfigurationError(
            f"The issuer {issuer!r} uses plain http.",
            hint="The API Secret and tokens must travel over https; only a sandbox uses http, on this "
                 "machine or at a private address (a workshop room's shared sandbox, e.g. http://10.0.0.5:8765).")


@dataclass(repr=False, eq=False)
class Config:
    """The settings of one app talking to one identity server."""

    issuer: str
    api_key: str
    #: None for a public client (a single-page or native app): it has no secret and uses PKCE.
    api_secret: str | None = field(default=None, repr=False)
    redirect_uri: str | None = None
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    subscription_id: str | None = None
    api_base_url: str | None = None
    #: Fortellis' Subscriptions service, where a backend finds its Subscription-Ids
    #: (:func:`subscriptions_url_for`; the sandbox's own for the sandbox).
    subscriptions_url: str | None = None
    #: Set when the settings come from the local sandbox (fortellis_nb.local): its base URL and demo user.
    sandbox: dict | None = None
    #: Whether the issuer issues Fortellis' token shapes, so that access tokens are checked for
    #: the audience ``api_providers``: by default, for Fortellis' known identity servers
    #: (:func:`api_base_url_for`); the local layer sets it for a sandbox it found, started or recognised.
    fortellis_tokens: bool | None = None
    #: For each setting, where its value came from.
    sources: dict[str, str] = field(default_factory=dict)
    #: Where the learner's browser reaches the sandbox when that is not where the kernel
    #: does: ``[origin]{prefix}proxy/{port}`` on JupyterHub and Binder (see sandbox_browser_base).
    browser_base: str | None = None

    def __post_init__(self):
        if isinstance(self.scopes, str):
            self.scopes = tuple(self.scopes.replace(",", " ").split())
        else:
            self.scopes = tuple(self.scopes)
        if self.api_secret == "":
            self.api_secret = None
        for name in ("issuer", "api_key"):
            if not getattr(self, name):
                raise ConfigurationError(
                    f"The {name.replace('_', ' ')} is not set.",
                    hint=f"Pass {name}=... or set {ENV_VARS[name]} (in the environment or in .env).")
        check_issuer(self.issuer)
        if self.redirect_uri is not None:
            check_redirect_uri(self.redirect_uri, stacklevel=4)
        if self.api_base_url is None:
            self.api_base_url = api_base_url_for(self.issuer)
        if self.subscriptions_url is None:
            self.subscriptions_url = subscriptions_url_for(self.issuer)
        if self.fortellis_tokens is None:
            self.fortellis_tokens = api_base_url_for(self.issuer) is not None

    @property
    def public(self) -> bool:
        """A public client: no API Secret; it authenticates with PKCE alone (RFC 7636)."""
        return self.api_secret is None

    @property
    def is_sandbox(self) -> bool:
        return self.sandbox is not None

    @property
    def scope(self) -> str:
        """The scopes as the space-separated string OAuth sends."""
        return " ".join(self.scopes)

    def browser_url(self, url: str) -> str:
        """The address the learner's browser uses for ``url``: the same, except that a URL of
        the local sandbox goes through the Jupyter server's proxy when there is one."""
        base = (self.sandbox or {}).get("base_url")
        if self.browser_base and base and (url == base or url.startswith(base.rstrip("/") + "/")):
            return self.browser_base + url[len(base.rstrip("/")):]
        return url

    def replace(self, **changes) -> Config:
        """A copy with some settings changed."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values.update(changes)
        if changes.get("issuer", self.issuer) != self.issuer and "fortellis_tokens" not in changes:
            values["fortellis_tokens"] = None  # a new issuer: derived again
        values["sources"] = {**self.sources, **{k: "argument" for k in changes}}
        return Config(**values)

    def as_dict(self, reveal: bool = False) -> dict:
        data = {name: getattr(self, name) for name in
                ("issuer", "api_key", "api_secret", "redirect_uri", "scopes", "subscription_id", "api_base_url",
                 "subscriptions_url")}
        data["scopes"] = list(self.scopes)
        if not reveal:
            data["api_secret"] = hide(self.api_secret)
        if self.sandbox:
            data["sandbox"] = {**self.sandbox, "password": self.sandbox.get("password") if reveal else HIDDEN}
        return data

    def __repr__(self) -> str:
        shown = self.as_dict(reveal=False)
        shown.pop("sandbox", None)
        inner = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"Config({inner}{', sandbox=True' if self.sandbox else ''})"

    def __str__(self) -> str:
        width = max(len(k) for k in self.as_dict())
        lines = [f"{k:<{width}}  {v}  ({self.sources.get(k, 'default')})"
                 for k, v in self.as_dict(reveal=False).items() if k != "sandbox"]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape
        rows = "".join(
            f"<tr><th style='text-align:left'>{escape(k)}</th><td><code>{escape(str(v))}</code></td>"
            f"<td>{escape(self.sources.get(k, 'default'))}</td></tr>"
            for k, v in self.as_dict(reveal=False).items() if k != "sandbox")
        return f"<table>{rows}</table>"

    def __eq__(self, other) -> bool:
        # subscriptions_url is not among the settings shown (as_dict), yet another one is another Config.
        return (isinstance(other, Config) and self.as_dict(True) == other.as_dict(True)
                and self.subscriptions_url == other.subscriptions_url)


def sandbox_browser_base(base_url: str | None, env=None) -> str | None:
    """Where a browser reaches a sandbox that listens on this machine's loopback, when Jupyter
    runs under JupyterHub or Binder (``JUPYTERHUB_SERVICE_PREFIX`` is set): through
    jupyter-server-proxy at ``[origin]{prefix}proxy/{port}``. None when it is reached directly."""
    env = os.environ if env is None else env
    prefix = env.get(HUB_PREFIX_VAR, "").strip("/")
    parts = urlsplit(base_url or "")
    if HUB_PREFIX_VAR not in env or not parts.port or not _is_loopback(parts.hostname or ""):
        return None
    origin = ""
    for var in PUBLIC_ORIGIN_VARS:
        public = urlsplit(env.get(var, ""))
        if public.scheme in ("http", "https") and public.netloc:
            origin = f"{public.scheme}://{public.netloc}"
            break
    return f"{origin}/{prefix + '/' if prefix else ''}proxy/{parts.port}"


def check_redirect_uri(uri: str, stacklevel: int = 2) -> None:
    """Refuse what cannot be a redirect URI; warn about one without the trailing slash."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"The redirect URI {uri!r} is not an http(s) URL.",
                                 hint="Use the Callback URL registered for the app, e.g. https://example.com/.")
    if parts.fragment:
        raise ConfigurationError(f"The redirect URI {uri!r} has a fragment (#...).",
                                 hint="RFC 6749, 3.1.2: the redirection endpoint URI MUST NOT include a fragment.")
    if not parts.path.endswith("/"):
        warnings.warn(RedirectURIWarning(
            f"The redirect URI {uri!r} does not end with '/'. The tutorial: \"{TRAILING_SLASH_RULE}\" "
            "It must match the registered Callback character for character, or the server refuses it."),
            stacklevel=stacklevel)


@dataclass
class FoundSettings:
    """The settings found in the arguments, the environment and ``.env``, with where each came from."""

    values: dict[str, Any]
    sources: dict[str, str]
    #: The ``.env`` file that was read (or looked for), for messages; None when skipped.
    dotenv_path: Path | None = None


def _dotenv_values(dotenv: str | os.PathLike | bool | None) -> tuple[dict[str, str], Path | None]:
    if dotenv is False:
        return {}, None
    if dotenv is None or dotenv is True:
        path, named = Path(".env"), False
    else:
        path, named = Path(dotenv), True
    if path.is_file():
        return parse_dotenv(read_dotenv(path)), path
    if named:
        raise ConfigurationError(f"No .env file at {str(path)!r}.")
    return {}, path


def find_settings(*, env=None, dotenv: str | os.PathLike | bool | None = None, **arguments) -> FoundSettings:
    """Each setting of :data:`ENV_VARS` from the first place that has it (see the module docstring)."""
    environment = os.environ if env is None else env
    dotenv_values, dotenv_path = _dotenv_values(dotenv)
    found = FoundSettings({}, {}, dotenv_path)
    # The .env file by its full path: a learner with several folders of notebooks sees which one.
    dotenv_place = str(dotenv_path.resolve()) if dotenv_path is not None else ""
    for name, var in ENV_VARS.items():
        if arguments.get(name) is not None:
            found.values[name], found.sources[name] = arguments[name], "argument"
        elif environment.get(var):
            found.values[name], found.sources[name] = environment[var], f"{var} in {IN_ENVIRONMENT}"
        elif dotenv_values.get(var):
            found.values[name], found.sources[name] = dotenv_values[var], f"{var} in {dotenv_place}"
    return found


def settings_origin(sources: dict[str, str]) -> str:
    """Where the FORTELLIS_* settings among ``sources`` were set, one place at a time:
    ``FORTELLIS_ISSUER and FORTELLIS_API_KEY in /home/me/notebooks/.env; FORTELLIS_API_SECRET in
    the environment``. Empty when none was (the sandbox's settings, arguments)."""
    places: dict[str, list[str]] = {}
    for name, var in ENV_VARS.items():
        named, _, place = sources.get(name, "").partition(" in ")
        if named == var and place:
            places.setdefault(place, []).append(var)
    return "; ".join(f"{_and(names)} in {place}" for place, names in places.items())


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def not_the_sandbox(issuer: str, sources: dict[str, str]) -> str:
    """What a learner reads wherever the settings send the notebooks away from the sandbox
    (``fortellis-nb lab``, ``lessons.start()``): the server, where that was set, the way back."""
    origin = settings_origin(sources)
    # The issuer as `code`: in a notebook a bare URL becomes a link, to a server that may not answer.
    return (f"The notebooks use `{issuer}`, not the local sandbox" + (f" (set by {origin})" if origin else "")
            + f". {BACK_TO_SANDBOX}")


def load_config(*, issuer: str | None = None, api_key: str | None = None, api_secret: str | None = None,
                redirect_uri: str | None = None, scopes=None, subscription_id: str | None = None,
                api_base_url: str | None = None, subscriptions_url: str | None = None, env=None,
                dotenv: str | os.PathLike | bool | None = None, public: bool = False) -> Config:
    """Gather the settings (see the module docstring for the order).

    ``env`` replaces ``os.environ`` (tests); ``dotenv=False`` skips the ``.env`` file,
    a path names one; ``public=True`` is for an app without an API Secret. Nothing naming
    an issuer is an error (:class:`NoIssuerError`) whose hint names both ways: the app's
    FORTELLIS_* settings, or the local sandbox (:mod:`fortellis_nb.local`).
    """
    found = find_settings(env=env, dotenv=dotenv, issuer=issuer, api_key=api_key, api_secret=api_secret,
                          redirect_uri=redirect_uri, scopes=scopes, subscription_id=subscription_id,
                          api_base_url=api_base_url, subscriptions_url=subscriptions_url)
    return config_from(found, public=public)


def config_from(found: FoundSettings, *, public: bool = False) -> Config:
    """The settings found, as a Config: refused when they name no issuer, or an issuer without
    the app's API Key and (unless ``public``) API Secret."""
    if "issuer" not in found.values:
        where = f" or in {str(found.dotenv_path)!r}" if found.dotenv_path is not None else ""
        raise NoIssuerError(
            f"No issuer is set: no issuer=... argument, no {ENV_VARS['issuer']} in the environment{where}.",
            hint=f"For your Fortellis app, set {ENV_VARS['issuer']}, {ENV_VARS['api_key']}, "
                 f"{ENV_VARS['api_secret']} and {ENV_VARS['redirect_uri']} (in the environment or in .env). "
                 "For the local sandbox, use fortellis_nb.local.sandbox_client() (in the notebooks, "
                 "lessons.start() does it when nothing is set).")
    values, sources = found.values, found.sources
    missing = [ENV_VARS[n] for n in (("api_key",) if public else ("api_key", "api_secret")) if n not in values]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise ConfigurationError(
            f"The issuer is set ({sources['issuer']}) but {' and '.join(missing)} {verb} not.",
            hint=f"A real server needs the app's API Key and API Secret too. {BACK_TO_SANDBOX}")
    values.setdefault("scopes", DEFAULT_SCOPES)
    return Config(**values, sources=sources)
