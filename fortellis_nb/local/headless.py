"""Play the browser for unattended runs: open the authorize URL, sign in, return the redirect.

This exists so notebooks and the install check can run the whole flow without a person.
It only ever talks to the local sandbox: before anything is sent it asks the sandbox's
health page whether the server is one, and refuses otherwise
(:class:`~fortellis_nb.oauth.errors.SandboxOnlyError`). Against real Fortellis, a person signs in.

It reads the pages as a browser does: forms, HTTP status and ``Location``. The sandbox's
error page is read through its documented machine-readable contract
(``sandbox/templates/error.html``): the error card's ``data-error`` and
``data-error-description``, and each registered callback as ``<code data-registered-callback>``.
What to do about an error is this client's own hint for its code, not the page's text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests

from ..oauth import errors
from ..oauth.transcript import Exchange, Http
from . import pages

MAX_STEPS = 6
REDIRECTS = (301, 302, 303, 307, 308)
HTML = {"Accept": "text/html"}

OPEN_THE_PAGE = "Open the authorization URL in a browser to see what the server says."


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


@dataclass
class ErrorCard:
    """The sandbox's error page, as its machine-readable contract states it."""

    error: str
    description: str
    hint: str = ""  # the page's "What to do"
    registered: list[str] = field(default_factory=list)


class _PageParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.messages: list[str] = []
        self.card: ErrorCard | None = None
        self._form: Form | None = None
        self._message_depth = 0
        self._message: list[str] = []
        self._callback: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._form = Form(action=attrs.get("action", ""), method=attrs.get("method", "get").lower())
            self.forms.append(self._form)
        elif self._form is not None:
            self._form_control(self._form, tag, attrs)
        self._error_card(attrs)
        self._message_start(attrs)

    @staticmethod
    def _form_control(form: Form, tag: str, attrs: dict[str, str]) -> None:
        if tag == "button":
            if attrs.get("type", "submit").lower() == "submit":
                form.buttons.append((attrs.get("name", ""), attrs.get("value", "")))
            return
        name = attrs.get("name")
        if tag not in ("input", "select", "textarea") or not name:
            return
        kind = attrs.get("type", "text").lower() if tag == "input" else tag
        if kind in ("submit", "button", "image"):
            form.buttons.append((name, attrs.get("value", "")))
            return
        form.inputs[name] = kind
        if kind not in ("checkbox", "radio") or "checked" in attrs:  # an unchecked box sends nothing
            form.fields[name] = attrs.get("value", "")

    def _error_card(self, attrs: dict[str, str]) -> None:
        if "data-error" in attrs:
            self.card = ErrorCard(attrs["data-error"], attrs.get("data-error-description", ""),
                                  attrs.get("data-hint", ""))
        elif "data-registered-callback" in attrs:
            self._callback = []

    def _message_start(self, attrs: dict[str, str]) -> None:
        if self._message_depth:
            self._message_depth += 1
        elif attrs.get("role") == "alert" or {"error", "alert", "message-error"} & set(attrs.get("class", "").split()):
            self._message_depth = 1
            self._message = []

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        if self._callback is not None:
            if self.card is not None:
                self.card.registered.append("".join(self._callback).strip())
            self._callback = None
        if self._message_depth:
            self._message_depth -= 1
            if not self._message_depth:
                # Elements' texts are joined with a space, so list items do not run together.
                text = " ".join(" ".join(self._message).split())
                if text:
                    self.messages.append(text)

    def handle_data(self, data):
        if self._callback is not None:
            self._callback.append(data)
        if self._message_depth:
            self._message.append(data)


def read_page(html: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser


def parse_forms(html: str) -> tuple[list[Form], list[str]]:
    """The forms of a page and its error messages (elements with role=alert or class error)."""
    page = read_page(html)
    return page.forms, page.messages


def error_card(html: str) -> ErrorCard | None:
    """The sandbox's error page read through its contract; None for any other page."""
    return read_page(html).card


def page_hint(card: ErrorCard) -> str:
    """What the page says to do, as a person reading it would take it, with the callbacks it
    lists (it lists them when it refuses the redirect URI)."""
    hint = card.hint or OPEN_THE_PAGE
    return f"{hint} (Registered for this app: {', '.join(card.registered)})" if card.registered else hint


def _is_redirect_back(location: str, redirect_uri: str | None) -> bool:
    if redirect_uri and location.startswith(redirect_uri.split("?")[0]):
        return True
    names = {k for k, _ in parse_qsl(urlsplit(location).query)}
    return bool(names & {"code", "error"}) and "state" in names


class _Browser:
    """One headless sign-in: the pages it opens, the forms it fills in."""

    def __init__(self, authorization_url: str, *, username: str, password: str, http: Http,
                 session: requests.Session | None, allow: bool):
        self.url = authorization_url
        self.origin = pages.origin(authorization_url)
        self.redirect_uri = dict(parse_qsl(urlsplit(authorization_url).query)).get("redirect_uri")
        self.username, self.password, self.allow = username, password, allow
        self.http = Http(transcript=http.transcript, session=session, timeout=http.timeout)  # cookies of its own
        self.submitted_password = False

    def run(self) -> str:
        exchange = self.http.send("GET", self.url, headers=HTML, label="Open the sign-in page")
        for _ in range(MAX_STEPS):
            if exchange.status not in REDIRECTS:
                exchange = self._submit(self._form_of(exchange), exchange)
                continue
            location = urljoin(exchange.url, exchange.header("Location") or "")
            if _is_redirect_back(location, self.redirect_uri):
                return location
            if pages.origin(location) != self.origin:
                raise errors.SignInError(f"The sign-in page sent the browser to {location!r}, off the sandbox.",
                                         exchange=exchange)
            exchange = self.http.send("GET", location, headers=HTML, label="Follow the redirect")
        raise errors.SignInError(f"No redirect back after {MAX_STEPS} steps.", exchange=exchange)

    def _form_of(self, exchange: Exchange) -> Form:
        page = read_page(exchange.response_body)
        form = next((f for f in page.forms if f.method == "post"), None)
        if form is None:
            raise self._refusal(exchange, page)
        if self.submitted_password and form.has("password"):
            # The page came back with the form again: the sign-in was refused.
            raise errors.SignInError(
                "; ".join(page.messages) or f"The sign-in page came back (HTTP {exchange.status}).", exchange=exchange)
        return form

    def _refusal(self, exchange: Exchange, page: _PageParser) -> errors.SignInError:
        card = page.card
        if card is not None:
            return errors.SignInError(
                f"The identity server refused the authorize request (HTTP {exchange.status}, its error page, "
                f"no redirect): {card.error}: {card.description}", error=card.error, exchange=exchange,
                hint=page_hint(card))
        return errors.SignInError(
            f"The sign-in page answered HTTP {exchange.status} without a form"
            + (f": {'; '.join(page.messages)}" if page.messages else "."), exchange=exchange,
            hint=OPEN_THE_PAGE)

    def _fill(self, form: Form) -> dict[str, str]:
        data = dict(form.fields)
        for name, kind in form.inputs.items():
            if kind == "password":
                data[name] = self.password
                self.submitted_password = True
            elif name in ("username", "login", "email") or kind == "email":
                data[name] = self.username
        button = self._button(form)
        if button and button[0]:
            data[button[0]] = button[1]
        return data

    def _button(self, form: Form) -> tuple[str, str] | None:
        """Allow (or Deny); on a form with neither, its first button, as Enter would press."""
        wanted = "allow" if self.allow else "deny"
        button = next((b for b in form.buttons if b[1].lower() == wanted), None)
        if button is None and form.buttons and self.allow:
            return form.buttons[0]
        return button

    def _submit(self, form: Form, exchange: Exchange) -> Exchange:
        data = self._fill(form)
        target = urljoin(exchange.url, form.action or exchange.url)
        if pages.origin(target) != self.origin:
            raise errors.SandboxOnlyError(f"The sign-in form posts to {pages.origin(target)}, not to the sandbox.")
        return self.http.send("POST", target, form=data, headers=HTML, label="Submit the sign-in form")


def sign_in(authorization_url: str, *, username: str, password: str, http: Http | None = None,
            session: requests.Session | None = None, allow: bool = True) -> str:
    """Follow ``authorization_url`` as a browser would, sign in, and return the redirect URL.

    ``session`` plays the browser's cookie jar: reuse it and a second sign-in finds the
    existing session, as a browser would. ``allow=False`` presses Deny instead of Allow.
    """
    outer = http or Http()
    health = pages.health(authorization_url, outer)
    issuer = (health or {}).get("issuer") or ""
    if not health or not authorization_url.startswith(issuer.rstrip("/") + "/"):
        raise errors.SandboxOnlyError(
            f"Headless sign-in refuses {pages.origin(authorization_url)}: it is not the local sandbox.")
    return _Browser(authorization_url, username=username, password=password, http=outer, session=session,
                    allow=allow).run()
