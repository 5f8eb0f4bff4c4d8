"""Step 1 of the tutorial: the URL that sends the user to sign in.

``$[authServerUrl]/v1/authorize?client_id=...&response_type=code&scope=openid
&redirect_uri=https://example.com/&state=...``

Each request gets a fresh ``state`` (and ``nonce``); PKCE (RFC 7636, S256) is optional.
The :class:`PendingStates` book remembers what was sent so the redirect can be checked,
once, against it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode

from . import errors
from .listeners import Listeners

#: One line per parameter, for display next to the URL.
#: The words of the link that opens the authorize URL, wherever one is drawn; hints name it so.
SIGN_IN_LINK = "Open the sign-in page"

PARAMETER_HELP = {
    "client_id": "Your app's API Key: tells the server which app is asking.",
    "response_type": "`code`: send back an authorization code (the authorization code flow).",
    "scope": "What the app asks for: `openid` for an ID token, `offline_access` for a refresh token.",
    "redirect_uri": "Where the browser is sent back; must equal the registered Callback, trailing `/` included.",
    "state": "A fresh random value per request; the redirect must bring it back unchanged (CSRF protection).",
    "nonce": "A fresh random value the server copies into the ID token, so a replayed token is caught.",
    "code_challenge": "PKCE: the SHA-256 of a secret verifier; the token request must show the verifier.",
    "code_challenge_method": "PKCE: `S256`, the challenge is BASE64URL(SHA256(code_verifier)).",
    "prompt": "`login` forces the sign-in page, `consent` the consent page, `none` fails instead of asking.",
    "login_hint": "Pre-fills the username on the sign-in page.",
    "max_age": "Seconds since the last sign-in after which the user must sign in again.",
    "response_mode": "How the code comes back: `query` (the default here), `fragment` or `form_post`.",
}


def new_state() -> str:
    """A fresh state, a UUID as in the tutorial (only letters, digits and hyphens)."""
    return str(uuid.uuid4())


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def new_code_verifier() -> str:
    """43 to 128 characters from the unreserved set (RFC 7636, 4.1); this gives 64."""
    return secrets.token_urlsafe(48)


def code_challenge(verifier: str) -> str:
    """``BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`` (RFC 7636, 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class AuthorizationRequest:
    """An authorization URL and the values the client must remember about it."""

    url: str
    params: dict[str, str]
    state: str
    redirect_uri: str
    scopes: tuple[str, ...]
    nonce: str | None = None
    code_verifier: str | None = field(default=None, repr=False)
    #: Where the learner's browser opens ``url`` when that is not ``url`` itself: through the
    #: Jupyter server's proxy on JupyterHub and Binder (the client sets it; None: ``url``).
    browser_url: str | None = field(default=None, repr=False)

    @property
    def link(self) -> str:
        """The address to open in the browser."""
        return self.browser_url or self.url

    def explain(self) -> list[tuple[str, str, str]]:
        """``(parameter, value, one-line explanation)`` for each parameter, in URL order."""
        return [(k, v, PARAMETER_HELP.get(k, "")) for k, v in self.params.items()]

    def __str__(self) -> str:
        return self.url

    def _repr_markdown_(self) -> str:
        rows = "\n".join(f"| `{k}` | `{v}` | {h} |" for k, v, h in self.explain())
        return f"[{self.link}]({self.link})\n\n| parameter | value | meaning |\n|---|---|---|\n{rows}"

    def _repr_html_(self) -> str:
        """The link, the whole URL wrapped (never clipped), and each parameter explained."""
        from html import escape

        from .hints import prose

        rows = "".join(f"<tr><td><code>{escape(k)}</code></td><td><code>{escape(v)}</code></td><td>{prose(h)}</td>"
                       "</tr>" for k, v, h in self.explain())
        url = escape(self.link)
        via = ("" if self.link == self.url else
               "<p>Through the Jupyter server's proxy: the identity server listens on this machine, which your "
               f"browser may not be on. Its own address: <code>{escape(self.url)}</code></p>")
        return (f'<p><a href="{url}" target="_blank" rel="noopener noreferrer">{SIGN_IN_LINK} (new tab)</a></p>'
                f'<pre style="white-space: pre-wrap; word-break: break-all">{url}</pre>{via}'
                f"<table><tr><th>parameter</th><th>value</th><th>meaning</th></tr>{rows}</table>")


def build_authorization_url(authorization_endpoint: str, *, client_id: str, redirect_uri: str,
                            scopes=("openid",), state: str | None = None, nonce: str | bool | None = True,
                            pkce: bool = False, prompt: str | None = None, login_hint: str | None = None,
                            max_age: int | None = None,
                            response_mode: str | None = None) -> AuthorizationRequest:
    """Build the authorize URL. ``nonce=True`` makes a fresh one, ``False``/``None`` sends none."""
    scopes = tuple(scopes.split()) if isinstance(scopes, str) else tuple(scopes)
    if not scopes:
        raise errors.ConfigurationError("No scope requested.", hint="Ask at least for `openid`.")
    state = state or new_state()
    if nonce is True:
        nonce = new_nonce()
    params = {
        "client_id": client_id,
        "response_type": "code",
        "scope": " ".join(scopes),
        "redirect_uri": redirect_uri,
        "state": state,
    }
    if nonce:
        params["nonce"] = nonce
    verifier = None
    if pkce:
        verifier = new_code_verifier()
        params["code_challenge"] = code_challenge(verifier)
        params["code_challenge_method"] = "S256"
    for name, value in (("prompt", prompt), ("login_hint", login_hint), ("max_age", max_age),
                        ("response_mode", response_mode)):
        if value is not None:
            params[name] = str(value)
    sep = "&" if "?" in authorization_endpoint else "?"
    # ':' and '/' stay readable in redirect_uri, as in the tutorial; both forms decode the same.
    url = authorization_endpoint + sep + urlencode(params, safe=":/")
    return AuthorizationRequest(url=url, params=params, state=state, redirect_uri=redirect_uri,
                                scopes=scopes, nonce=nonce or None, code_verifier=verifier)


class PendingStates:
    """The authorization requests still waiting for their redirect. Each state works once."""

    def __init__(self, max_pending: int = 100):
        self._pending: dict[str, AuthorizationRequest] = {}
        self._used: set[str] = set()
        self._answered: dict[str, object] = {}  # state -> the AuthorizationResponse read for it
        self._lock = threading.Lock()
        self._listeners = Listeners()
        self.max_pending = max_pending
        self.latest: AuthorizationRequest | None = None

    def subscribe(self, callback) -> None:
        """Call ``callback(state)`` after a state is used up by a redirect, wherever it was
        read (a widget, or a cell's own ``parse_redirect``). Held weakly, as the transcript's."""
        self._listeners.add(callback)

    def unsubscribe(self, callback) -> None:
        self._listeners.remove(callback)

    def add(self, request: AuthorizationRequest) -> None:
        with self._lock:
            self._pending[request.state] = request
            self.latest = request
            while len(self._pending) > self.max_pending:
                self._pending.pop(next(iter(self._pending)))

    def answered(self, state: str | None):
        """The response already read for ``state``, if any: the same redirect read twice (pasted
        in two places) is the same answer, not a replay."""
        return self._answered.get(state) if state else None

    def record(self, response) -> None:
        with self._lock:
            self._answered[response.state] = response
            while len(self._answered) > self.max_pending:
                self._answered.pop(next(iter(self._answered)))

    def __contains__(self, state: str) -> bool:
        return state in self._pending

    def __len__(self) -> int:
        return len(self._pending)

    def take(self, state: str | None) -> AuthorizationRequest:
        """Consume ``state``: return its request, or raise the matching StateMismatchError."""
        with self._lock:
            if not state:
                raise errors.MissingStateError(
                    "The redirect URL has no `state`, but the authorization request sent one.")
            request = self._pending.pop(state, None)
            reused = request is None and state in self._used
            if request is not None:
                self._used.add(state)
        if request is not None:
            self._listeners(state)
            return request
        if reused:
            raise errors.StateReusedError(
                f"The state {state!r} was already used by an earlier redirect, which brought another code.")
        raise errors.StateMismatchError(
            f"The state {state!r} does not match any authorization request made by this client.")
