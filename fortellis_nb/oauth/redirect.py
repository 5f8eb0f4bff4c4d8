"""Step 2 of the tutorial: read the code out of the URL the browser was sent back to.

``https://example.com/?code=YqCyB3IS9xCAYJSCsd6F&state=f8f5df39-cac3-41ea-a56c-6f6cf18f1be7``

The URL is checked before the code is trusted: it must be the configured redirect URI
(scheme, host, port and path), carry each parameter once, and bring back a ``state``
this client sent and has not used yet. An ``error`` in the URL becomes an
:class:`~errors.AuthorizationError`.
"""

from __future__ import annotations

import hmac
import time
import warnings
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from . import errors, redact
from .authorize import AuthorizationRequest, PendingStates

#: What each error the server may put in the redirect means, and what to do about it.
AUTHORIZATION_ERROR_HINTS = {
    "access_denied": errors.AuthorizationDenied.default_hint,
    "invalid_scope": "Ask only for scopes the server knows (openid, offline_access, ...), separated by spaces.",
    "invalid_request": "A parameter is missing or repeated; rebuild the URL with authorization_url().",
    "unauthorized_client": "The app may not use the authorization code flow; check its registration.",
    "unsupported_response_type": "response_type must be `code`.",
    "login_required": "prompt=none was sent and the user has no session: sign in without prompt=none.",
    "consent_required": "prompt=none was sent but the user has not consented yet.",
    "interaction_required": "The server needs the user; drop prompt=none.",
    "server_error": "The identity server failed; try again in a moment.",
    "temporarily_unavailable": "The identity server is overloaded or down for maintenance; try again later.",
}

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass
class AuthorizationResponse:
    """What the redirect brought back."""

    code: str
    state: str | None
    url: str
    received_at: float
    request: AuthorizationRequest | None = None
    iss: str | None = None
    notes: list[str] = field(default_factory=list)
    #: When the server issued the code and when it expires, on this machine's clock, where the
    #: server can tell (the sandbox); else None, and the code is at most as old as its arrival.
    issued_at: float | None = None
    expires_at: float | None = None

    def age(self, now: float | None = None) -> float:
        """Seconds since the code was issued, where known, else since it arrived (it is valid for 60)."""
        start = self.issued_at if self.issued_at is not None else self.received_at
        return (time.time() if now is None else now) - start

    @property
    def issue_known(self) -> bool:
        return self.issued_at is not None

    def __repr__(self) -> str:
        # The code is shortened, as everywhere it is shown: a saved notebook must not carry it.
        return (f"AuthorizationResponse(code={redact.shorten(self.code)!r}, state={self.state!r}, "
                f"url={redact.url(self.url)!r})")

    __str__ = __repr__


def authorization_error_hint(error: str, description: str, request: AuthorizationRequest | None) -> str:
    """What to do about an error the server sent back to the redirect URI."""
    lowered = description.lower()
    if error == "invalid_request" and ("pkce" in lowered or "code_challenge" in lowered or "code challenge" in lowered):
        if request is None or request.code_verifier is None:
            return ("This server requires PKCE for this app: build the URL with authorization_url(pkce=True); the "
                    "client keeps the code_verifier and sends it with the code exchange (RFC 7636).")
        return "The URL carried a PKCE challenge the server refused; build a fresh one with authorization_url(pkce=True)."
    return AUTHORIZATION_ERROR_HINTS.get(error, "")


def _origin_and_path(parts) -> tuple[str, str, int | None, str]:
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port, parts.path or "/"


def _is_control(char: str) -> bool:
    return ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0


def _split_tutorial_form(parts):
    """``https://host/code=...&state=...`` (no ``?``), as the tutorial prints it: move the
    last path segment into the query. Returns the new parts or None."""
    head, _, last = parts.path.rpartition("/")
    if parts.query or "=" not in last:
        return None
    names = {pair.partition("=")[0] for pair in last.split("&")}
    if not names & {"code", "error"}:
        return None
    return parts._replace(path=head + "/", query=last)


def _lands_on(parts, url: str, address: str) -> bool:
    """Whether the browser landed on ``address``; a path-absolute one (``/user/x/proxy/8765/callback/``)
    is on whatever origin the browser used."""
    if "\\" in url.split("?", 1)[0] or "@" in parts.netloc:
        return False
    got = _origin_and_path(parts)
    if address.startswith("/"):
        return got[0] in ("http", "https") and got[3] == address
    return got == _origin_and_path(urlsplit(address))


def _check_redirect_target(parts, redirect_uri: str, url: str, browser_redirect_uri: str | None = None) -> None:
    if browser_redirect_uri and _lands_on(parts, url, browser_redirect_uri):
        return
    expected = urlsplit(redirect_uri)
    got_scheme, got_host, got_port, got_path = _origin_and_path(parts)
    exp_scheme, exp_host, exp_port, exp_path = _origin_and_path(expected)
    problems = []
    # A browser reads a backslash before the query as '/': `https://evil.com\\@example.com/` goes
    # to evil.com while urlsplit sees example.com. And a redirect never carries user info.
    before_query = url.split("?", 1)[0].split("#", 1)[0]
    if "\\" in before_query:
        problems.append("a backslash before the query (browsers read it as '/')")
    if "@" in parts.netloc:
        problems.append(f"user info before '@' in {parts.netloc!r}")
    if got_scheme != exp_scheme:
        problems.append(f"scheme {got_scheme!r} instead of {exp_scheme!r}")
    if got_host != exp_host or got_port != exp_port:
        problems.append(f"host {parts.netloc!r} instead of {expected.netloc!r}")
    if got_path != exp_path:
        problems.append(f"path {got_path!r} instead of {exp_path!r}")
    if problems:
        hint = None
        if len(problems) == 1 and got_path != exp_path and got_path.rstrip("/") == exp_path.rstrip("/"):
            hint = "The paths differ only by the trailing '/'; the redirect URI must match exactly."
        raise errors.RedirectMismatchError(
            f"{redact.text(url)!r} is not the configured redirect URI {redirect_uri!r}: {'; '.join(problems)}.", hint=hint)


def parse_redirect(url: str, *, redirect_uri: str, states: PendingStates | None = None,
                   expected_state: str | None = None, issuer: str | None = None,
                   clock=time.time, browser_redirect_uri: str | None = None) -> AuthorizationResponse:
    """Check the pasted redirect URL and return its code.

    ``browser_redirect_uri`` is where the browser lands instead of ``redirect_uri`` when it
    reaches the local sandbox through the Jupyter server's proxy (JupyterHub, Binder).

    Give ``states`` (the client's pending requests, each state usable once) or
    ``expected_state``; with neither, the state is not checked. ``issuer`` checks the
    RFC 9207 ``iss`` parameter when the server sends one.
    """
    received_at = clock()
    text = (url or "").strip().strip("'\"<>").strip()
    if not text:
        raise errors.EmptyRedirectError("The redirect URL is empty.")
    if any(c.isspace() or _is_control(c) for c in text) or "://" not in text:
        hint = None
        if text.startswith(("code=", "?code=", "error=", "?error=")):
            hint = ("That is only the end of the address; paste the whole URL, starting with "
                    f"{redirect_uri}, so it can be checked.")
        elif "://" in text:
            hint = ("An address has no spaces, tabs or control characters; copy it again from the "
                    "browser's address bar.")
        raise errors.NotAURLError(f"{redact.text(text[:60])!r} is not a URL.", hint=hint)
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise errors.NotAURLError(f"{redact.text(text[:60])!r} is not a URL: its host cannot be read.") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise errors.NotAURLError(f"{redact.text(text[:60])!r} is not an http(s) URL.")

    notes = []
    fixed = _split_tutorial_form(parts)
    if fixed is not None:
        message = (f"{redact.text(text[:80])!r} has no '?' before its parameters, like the tutorial's example "
                   "`https://yourRedirectURL/code=...&state=...`. Read as if the '?' were there; "
                   "a real redirect is `https://yourRedirectURL/?code=...&state=...`.")
        warnings.warn(errors.MalformedRedirectWarning(message), stacklevel=2)
        notes.append(message)
        parts = fixed

    pairs = parse_qsl(parts.query, keep_blank_values=True)
    seen, repeated = set(), []
    for name, _ in pairs:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    if repeated:
        raise errors.DuplicateParameterError(
            f"The redirect URL carries {', '.join(repr(n) for n in repeated)} more than once.")
    params = dict(pairs)

    if "response_type" in params and "client_id" in params and not ({"code", "error"} & set(params)):
        raise errors.AuthorizeURLPastedError(
            "This is the authorize URL (the link that opens the sign-in page), not the address the browser "
            "is sent back to.")
    _check_redirect_target(parts, redirect_uri, text, browser_redirect_uri)

    if issuer and params.get("iss") is not None and params["iss"] != issuer:
        raise errors.RedirectParseError(
            f"The redirect says it comes from issuer {params['iss']!r}, not {issuer!r}.",
            error="iss_mismatch",
            hint="RFC 9207: a response from another server must not be used (a mix-up attack).")

    if "error" in params:
        state = params.get("state")
        request = states.take(state) if states is not None and state in states else None  # over either way
        error = params["error"]
        description = params.get("error_description") or ""
        cls = errors.AuthorizationDenied if error == "access_denied" else errors.AuthorizationError
        raise cls(description or f"The server answered {error}.", error=error,
                  state=state, hint=authorization_error_hint(error, description, request))

    code = params.get("code")
    if not code:
        raise errors.MissingCodeError(
            f"The redirect URL has {'an empty' if 'code' in params else 'no'} `code` parameter.")

    state = params.get("state")
    request = None
    if states is not None:
        earlier = states.answered(state)
        if earlier is not None and hmac.compare_digest(earlier.code.encode(), code.encode()):
            return earlier  # the same redirect read again: the same answer
        request = states.take(state)
    elif expected_state is not None:
        if state is None:
            raise errors.MissingStateError("The redirect URL has no `state`, but the request sent one.")
        if not hmac.compare_digest(state.encode(), expected_state.encode()):
            raise errors.StateMismatchError(f"The state {state!r} is not the one sent ({expected_state!r}).")
    response = AuthorizationResponse(code=code, state=state, url=text, received_at=received_at,
                                     request=request, iss=params.get("iss"), notes=notes)
    if states is not None:
        states.record(response)
    return response
