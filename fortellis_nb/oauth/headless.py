"""Play the browser for unattended runs: open the authorize URL, sign in, return the redirect.

This exists so notebooks and the install check can run the whole flow without a person.
It only ever talks to the local sandbox: before anything is sent it asks
``{base}/sandbox/health`` whether the server is one, and refuses otherwise
(:class:`~errors.SandboxOnlyError`). Against real Fortellis, a person signs in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests

from . import errors
from .transcript import Http

MAX_STEPS = 6


@dataclass
class Form:
    """One HTML form: where it posts, its fields and its submit buttons."""

    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)  # name -> type
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (name, value)

    def has(self, input_type: str) -> bool:
        return input_type in self.inputs.values()


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.messages: list[str] = []
        self._form: Form | None = None
        self._message_depth = 0
        self._message: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._form = Form(action=attrs.get("action", ""), method=attrs.get("method", "get").lower())
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "select", "textarea") and attrs.get("name"):
            kind = attrs.get("type", "text").lower() if tag == "input" else tag
            if kind in ("submit", "button", "image"):
                self._form.buttons.append((attrs["name"], attrs.get("value", "")))
            elif kind in ("checkbox", "radio") and "checked" not in attrs:
                self._form.inputs[attrs["name"]] = kind
            else:
                self._form.inputs[attrs["name"]] = kind
                self._form.fields[attrs["name"]] = attrs.get("value", "")
        elif self._form is not None and tag == "button":
            if attrs.get("type", "submit").lower() == "submit":
                self._form.buttons.append((attrs.get("name", ""), attrs.get("value", "")))
        classes = attrs.get("class", "").split()
        if self._message_depth:
            self._message_depth += 1
        elif attrs.get("role") == "alert" or {"error", "alert", "message-error"} & set(classes):
            self._message_depth = 1
            self._message = []

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        if self._message_depth:
            self._message_depth -= 1
            if not self._message_depth:
                # Elements' texts are joined with a space, so list items do not run together.
                text = " ".join(" ".join(self._message).split())
                if text:
                    self.messages.append(text)

    def handle_data(self, data):
        if self._message_depth:
            self._message.append(data)


def parse_forms(html: str) -> tuple[list[Form], list[str]]:
    """The forms of a page and its error messages (elements with role=alert or class error)."""
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms, parser.messages


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


_ERROR_PAGE = re.compile(r"Error code:\s*(?P<code>\S+)\s+Description:\s*(?P<description>.*?)"
                         r"(?:\s+What to do:\s*(?P<todo>.*?))?"
                         r"(?:\s+Callback URLs registered for this app:\s*(?P<registered>.*))?\s*$", re.S)


def error_page(text: str) -> tuple[str, str, str, list[str]] | None:
    """The sandbox's error page read into its parts: error code, description, what to do, and
    the registered callbacks it lists; None for any other text."""
    match = _ERROR_PAGE.search(text.strip())
    if match is None:
        return None
    registered = (match.group("registered") or "").split()
    return match.group("code"), match.group("description").strip(), (match.group("todo") or "").strip(), registered


def sandbox_health(url: str, http: Http | None = None) -> dict | None:
    """The sandbox's health document if ``url`` is served by a sandbox, else None."""
    http = http or Http()
    try:
        exchange = http.send("GET", _origin(url) + "/sandbox/health",
                             headers={"Accept": "application/json"}, label="Is this the sandbox?")
        document = exchange.json() if exchange.status == 200 else None
    except errors.NetworkError:
        return None
    if isinstance(document, dict) and document.get("sandbox") is True and document.get("status") == "ok":
        return document
    return None


def code_times(issuer: str, code: str, http: Http | None = None) -> dict | None:
    """When the sandbox issued ``code`` and when it expires (``issued_at``, ``expires_at``,
    ``used_at``, ``lifetime``, and the sandbox's ``now``), or None when it cannot say. The
    code goes in a POST body to the sandbox that issued it, never in a URL."""
    http = http or Http()
    try:
        exchange = http.send("POST", _origin(issuer) + "/sandbox/codes", json_body={"code": code},
                             headers={"Accept": "application/json"}, label="When was the code issued? (sandbox)")
        document = exchange.json() if exchange.status == 200 else None
    except errors.NetworkError:
        return None
    if isinstance(document, dict) and all(isinstance(document.get(k), (int, float)) for k in ("expires_at", "now")):
        return document
    return None


def _is_redirect_back(location: str, redirect_uri: str | None) -> bool:
    if redirect_uri and location.startswith(redirect_uri.split("?")[0]):
        return True
    names = {k for k, _ in parse_qsl(urlsplit(location).query)}
    return bool(names & {"code", "error"}) and "state" in names


def sign_in(authorization_url: str, *, username: str, password: str, http: Http | None = None,
            session: requests.Session | None = None, allow: bool = True) -> str:
    """Follow ``authorization_url`` as a browser would, sign in, and return the redirect URL.

    ``session`` plays the browser's cookie jar: reuse it and a second sign-in finds the
    existing session, as a browser would. ``allow=False`` presses Deny instead of Allow.
    """
    outer = http or Http()
    health = sandbox_health(authorization_url, outer)
    issuer = (health or {}).get("issuer") or ""
    if not health or not authorization_url.startswith(issuer.rstrip("/") + "/"):
        raise errors.SandboxOnlyError(
            f"Headless sign-in refuses {_origin(authorization_url)}: it is not the local sandbox.")
    origin = _origin(authorization_url)
    redirect_uri = dict(parse_qsl(urlsplit(authorization_url).query)).get("redirect_uri")
    browser = Http(transcript=outer.transcript, session=session or requests.Session(), timeout=outer.timeout)

    exchange = browser.send("GET", authorization_url, headers={"Accept": "text/html"}, label="Open the sign-in page")
    submitted_password = False
    for _ in range(MAX_STEPS):
        if exchange.status in (301, 302, 303, 307, 308):
            location = urljoin(exchange.url, exchange.header("Location") or "")
            if _is_redirect_back(location, redirect_uri):
                return location
            if _origin(location) != origin:
                raise errors.SignInError(f"The sign-in page sent the browser to {location!r}, off the sandbox.",
                                         exchange=exchange)
            exchange = browser.send("GET", location, headers={"Accept": "text/html"}, label="Follow the redirect")
            continue
        forms, messages = parse_forms(exchange.response_body)
        form = next((f for f in forms if f.method == "post"), None)
        if submitted_password and form is not None and form.has("password"):
            # The page came back with the form again: the sign-in was refused.
            raise errors.SignInError(
                "; ".join(messages) or f"The sign-in page came back (HTTP {exchange.status}).", exchange=exchange)
        if form is None:
            page = error_page(" ".join(messages))
            if page is not None:
                code, description, todo, registered = page
                raise errors.SignInError(
                    f"The identity server refused the authorize request (HTTP {exchange.status}, its error page, "
                    f"no redirect): {code}: {description}", error=code, exchange=exchange,
                    hint=" ".join(part for part in (
                        todo, f"(Registered for this app: {', '.join(registered)})" if registered else "") if part)
                    or "Open the authorization URL in a browser to see the page.")
            raise errors.SignInError(
                f"The sign-in page answered HTTP {exchange.status} without a form"
                + (f": {'; '.join(messages)}" if messages else "."), exchange=exchange,
                hint="Open the authorization URL in a browser to see what the server says.")
        data = dict(form.fields)
        for name, kind in form.inputs.items():
            if kind == "password":
                data[name] = password
                submitted_password = True
            elif name in ("username", "login", "email") or kind == "email":
                data[name] = username
        wanted = "allow" if allow else "deny"
        button = next((b for b in form.buttons if b[1].lower() == wanted), None)
        if button is None and form.buttons and allow:
            button = form.buttons[0]
        if button and button[0]:
            data[button[0]] = button[1]
        target = urljoin(exchange.url, form.action or exchange.url)
        if _origin(target) != origin:
            raise errors.SandboxOnlyError(f"The sign-in form posts to {_origin(target)}, not to the sandbox.")
        exchange = browser.send("POST", target, form=data, headers={"Accept": "text/html"},
                                label="Submit the sign-in form")
    raise errors.SignInError(f"No redirect back after {MAX_STEPS} steps.", exchange=exchange)
