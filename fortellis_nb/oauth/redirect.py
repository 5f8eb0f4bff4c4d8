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

from . import errors, hints, redact
from .authorize import AuthorizationRequest, PendingStates

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
                f"url={redact.quoted(self.url)})")

    __str__ = __repr__


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
    problems = _target_problems(parts, expected, url)
    if problems:
        got_path, exp_path = _origin_and_path(parts)[3], _origin_and_path(expected)[3]
        hint = None
        if len(problems) == 1 and got_path != exp_path and got_path.rstrip("/") == exp_path.rstrip("/"):
            hint = "The paths differ only by the trailing '/'; the redirect URI must match exactly."
        raise errors.RedirectMismatchError(
            f"{redact.text(url)!r} is not the configured redirect URI {redirect_uri!r}: {'; '.join(problems)}.", hint=hint)


def _target_problems(parts, expected, url: str) -> list[str]:
    """How the URL differs from the expected redirect URI (nothing when it is the same)."""
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
    return problems


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
    notes: list[str] = []
    params = _redirect_parameters(text, redirect_uri, browser_redirect_uri, notes)
    if issuer and params.get("iss") is not None and params["iss"] != issuer:
        raise errors.IssMismatchError(f"The redirect says it comes from issuer {params['iss']!r}, not {issuer!r}.")
    if "error" in params:
        raise _authorization_error(params, states)
    code = params.get("code")
    if not code:
        raise errors.MissingCodeError(
            f"The redirect URL has {'an empty' if 'code' in params else 'no'} `code` parameter.")
    state = params.get("state")
    if states is None:
        _check_expected_state(state, expected_state)
        return AuthorizationResponse(code=code, state=state, url=text, received_at=received_at,
                                     iss=params.get("iss"), notes=notes)
    earlier = states.answered(state)
    if earlier is not None and hmac.compare_digest(earlier.code.encode(), code.encode()):
        return earlier  # the same redirect read again: the same answer
    response = AuthorizationResponse(code=code, state=state, url=text, received_at=received_at,
                                     request=states.take(state), iss=params.get("iss"), notes=notes)
    states.record(response)
    return response


def _redirect_parameters(text: str, redirect_uri: str, browser_redirect_uri: str | None,
                         notes: list[str]) -> dict[str, str]:
    """The parameters of ``text``, once it is known to be a URL at the redirect URI (or where the
    browser lands for it), each parameter once. The tutorial's form without '?' is read with a note."""
    parts = _url_parts(text, redirect_uri)
    fixed = _split_tutorial_form(parts)
    if fixed is not None:
        message = (f"{redact.quoted(text, 80)} has no '?' before its parameters, like the tutorial's example "
                   "`https://yourRedirectURL/code=...&state=...`. Read as if the '?' were there; "
                   "a real redirect is `https://yourRedirectURL/?code=...&state=...`.")
        warnings.warn(errors.MalformedRedirectWarning(message), stacklevel=3)  # parse_redirect's caller
        notes.append(message)
        parts = fixed
    params = _parameters_once(parts.query)
    if "response_type" in params and "client_id" in params and not ({"code", "error"} & set(params)):
        raise errors.AuthorizeURLPastedError(
            "This is the authorize URL (the link that opens the sign-in page), not the address the browser "
            "is sent back to.")
    _check_redirect_target(parts, redirect_uri, text, browser_redirect_uri)
    return params


def _url_parts(text: str, redirect_uri: str):
    """``text`` split as a URL, or the reason it is not an http(s) URL."""
    if not text:
        raise errors.EmptyRedirectError("The redirect URL is empty.")
    if any(c.isspace() or _is_control(c) for c in text) or "://" not in text:
        raise errors.NotAURLError(f"{redact.quoted(text, 60)} is not a URL.", hint=_not_a_url_hint(text, redirect_uri))
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise errors.NotAURLError(f"{redact.quoted(text, 60)} is not a URL: its host cannot be read.") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise errors.NotAURLError(f"{redact.quoted(text, 60)} is not an http(s) URL.")
    return parts


def _not_a_url_hint(text: str, redirect_uri: str) -> str | None:
    """What the pasted text looks like instead: the query alone, or a URL with spaces in it
    (None: the class's own hint)."""
    if text.startswith(("code=", "?code=", "error=", "?error=")):
        return (f"That is only the end of the address; paste the whole URL, starting with {redirect_uri}, "
                "so it can be checked.")
    if "://" in text:
        return ("An address has no spaces, tabs or control characters; copy it again from the browser's "
                "address bar.")
    return None


def _parameters_once(query: str) -> dict[str, str]:
    """The query's parameters; one that appears twice is refused (RFC 6749, 3.1)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    names = [name for name, _ in pairs]
    repeated = list(dict.fromkeys(name for name in names if names.count(name) > 1))
    if repeated:
        raise errors.DuplicateParameterError(
            f"The redirect URL carries {', '.join(repr(n) for n in repeated)} more than once.")
    return dict(pairs)


def _authorization_error(params: dict[str, str], states: PendingStates | None) -> errors.AuthorizationError:
    """The error the server sent back instead of a code; its state is spent either way."""
    state = params.get("state")
    request = states.take(state) if states is not None and state is not None and state in states else None
    error = params["error"]
    sent = hints.Sent("authorize", verifier_sent=None if request is None else request.code_verifier is not None)
    cls = errors.AuthorizationDenied if error == "access_denied" else errors.AuthorizationError
    return cls(params.get("error_description") or f"The server answered {error}.", error=error,
               state=state, hint=hints.hint(error, sent) or "")


def _check_expected_state(state: str | None, expected_state: str | None) -> None:
    if expected_state is None:
        return
    if state is None:
        raise errors.MissingStateError("The redirect URL has no `state`, but the request sent one.")
    if not hmac.compare_digest(state.encode(), expected_state.encode()):
        raise errors.StateMismatchError(f"The state {state!r} is not the one sent ({expected_state!r}).")
