"""Step 2 and 3: paste the redirect URL, see its code and state checked, watch the code's
60 seconds run out, and exchange it for tokens.

The pasted URL holds the authorization code, so it does not stay in the text box: it is
read, the box is emptied, and only a shortened copy is shown.
"""

from __future__ import annotations

import html as _html

import ipywidgets as widgets

from ..local import SandboxClient
from ..oauth import errors
from ..oauth.authorize import SIGN_IN_LINK
from ..oauth.checks import code_countdown, redirect_parameters
from ..oauth.hints import CODE_LIFETIME
from ..oauth.redact import shorten
from .base import LABEL_STYLE, WIDE, StepWidget, html
from .curl import RequestView
from .errors import prose
from .inspector import token_response_html

#: The label of the box the redirect is pasted into, as the learner sees it: hints name it so.
REDIRECT_BOX = "Redirect URL"


class RedirectCatcher(StepWidget):
    """A text box for the redirect URL, the parsed code and state, a countdown, and "Exchange code"."""

    css_class = "fnb-redirect"
    title = "steps 2 and 3: the redirect and the token request"

    def __init__(self, source=None, *, client=None, live: bool = True, clock=None):
        self._start(source, client, live, clock)
        # continuous_update: a paste arrives as one change and is read at once (no Enter needed);
        # text that does not look like a whole redirect yet waits for Enter or the Read button.
        self.url_input = widgets.Text(
            description=REDIRECT_BOX, placeholder="Paste the whole address you landed on after signing in",
            continuous_update=True, style=LABEL_STYLE, layout=widgets.Layout(**WIDE))
        self.url_input.add_class("fnb-redirect-input")
        self.read_button = widgets.Button(description="Read", tooltip="Read the address in the box",
                                          layout=widgets.Layout(width="auto"))
        self.read_button.add_class("fnb-read-button")
        self.signin_button = widgets.Button(description="Sign in for me (sandbox)", icon="user",
                                            tooltip="Sign in as the sandbox's demo user without a browser")
        self.signin_button.add_class("fnb-signin-button")
        self.exchange_button = widgets.Button(description="Exchange code", button_style="primary",
                                              tooltip="POST the code to the token endpoint")
        self.exchange_button.add_class("fnb-exchange-button")
        self.parsed = html("fnb-parsed")
        self.countdown = html("fnb-code-countdown")
        self.request_view = RequestView(redact=self.flow.redact, title="The token request")
        self.token_answer = html("fnb-token-response")  # the answer to it, once there is one
        self.pasted = ""
        self.state_check = ""
        self.exchanged_at: float | None = None
        #: Set when the exchange of the current code failed: the countdown stops there, red.
        self.failed_because: str | None = None
        self.url_input.observe(self._on_paste, "value")
        # Enter reaches the kernel only as the front end's "submit" message: the value is synced
        # already (continuous_update), so observing it cannot tell Enter apart. (Text.on_submit,
        # ipywidgets 8's wrapper of this message, is deprecated in favour of continuous_update=False,
        # which would make a paste wait for Enter.)
        self.url_input.on_msg(self._on_message)
        self.read_button.on_click(lambda button: self._read_box())
        self.signin_button.on_click(lambda button: self.sign_in())
        self.exchange_button.on_click(lambda button: self.exchange())
        self.flow.observe(self._on_settings, "settings_version")
        self.flow.observe(lambda change: self._update_buttons(), ["redirect", "busy", "revoked"])
        self._show_signin()
        self._finish([widgets.HBox([self.url_input, self.read_button]),
                      widgets.HBox([self.exchange_button, self.signin_button]), self.error,
                      self.notes, self.parsed, self.countdown, self.request_view, self.token_answer])
        self._update_buttons()
        self._tick_with(self.tick)
        # Made from the authorize link (RedirectCatcher(link)): a redirect pasted into its More
        # scopes box, the first box under the link, is read here, where it belongs.
        more_scopes = getattr(source, "more_scopes", None)
        if isinstance(more_scopes, widgets.Text):
            self.watch(more_scopes, source)

    @property
    def response(self):
        """The parsed redirect (an AuthorizationResponse), or None."""
        return self.flow.redirect

    @property
    def tokens(self):
        return self.flow.tokens

    def _on_settings(self, change) -> None:
        self._show_signin()

    def _show_signin(self) -> None:
        on_sandbox = isinstance(self.client, SandboxClient) and self.client.config.is_sandbox
        self.signin_button.layout.display = None if on_sandbox else "none"

    def _update_buttons(self) -> None:
        """Exchange code works once per code: off while a request runs and once the code is spent."""
        response = self.flow.redirect
        spent = response is not None and self.client.code_spent(response.code)
        self.exchange_button.disabled = response is None or spent or self.flow.busy is not None
        self.exchange_button.tooltip = ("A code works once: sign in again for a new one" if spent else
                                        "Read a redirect first" if response is None else
                                        "POST the code to the token endpoint")
        self.signin_button.disabled = self.flow.busy is not None

    # --- reading the redirect ---------------------------------------------------------
    def _on_paste(self, change) -> None:
        text = change["new"]
        if not text or not looks_like_a_redirect(text):
            return  # still being typed: Enter or Read reads it
        self._read_box()

    def _on_message(self, widget, content, buffers) -> None:
        if content.get("event") == "submit":  # Enter in the box: what Read does
            self._read_box()

    def watch(self, box: widgets.Text, step: StepWidget | None = None) -> None:
        """Read a redirect pasted into another step's text ``box`` here, and say so next to
        that box (in ``step``'s notes): the code leaves that box at once, as it leaves this one."""
        box.observe(lambda change: self._misplaced(box, change["new"], step), "value")

    def _misplaced(self, box: widgets.Text, text: str, step: StepWidget | None) -> None:
        if not looks_like_a_redirect(text):
            return
        with box.hold_sync():
            box.value = ""
        self.receive(text)
        where = (f"The address you landed on was pasted into the {box.description} box; it belongs in the "
                 f"{REDIRECT_BOX} box, and was read there.")
        self.notes.show([where, *self.notes.messages])
        if step is not None:
            step.notes.show([f"That was the address you landed on, not a value for {box.description}: it was "
                             f"read in the {REDIRECT_BOX} box."])

    def _read_box(self) -> None:
        text = self.url_input.value
        if not text.strip():
            return
        # The URL carries the code: keep it out of the widget state (and a saved notebook).
        with self.url_input.hold_sync():
            self.url_input.value = ""
        self.receive(text)

    def receive(self, url: str):
        """Read a redirect URL (as pasting it does); returns the AuthorizationResponse or None."""
        params = redirect_parameters(url)
        self.flow.remember(params.get("code"))
        self.pasted = self.flow.redact(url.strip())
        previous = self.flow.redirect
        ok, response = self._attempt("Reading the redirect URL", lambda: self.client.parse_redirect(url))
        if ok and response is previous:
            # The same address read again (pasted twice, or in two places): the same answer.
            self.notes.show(["This is the address read already: the same code and state."])
            return response
        self.exchanged_at = self.failed_because = None
        self.request_view.show(None)
        self.token_answer.value = ""
        if ok:
            self.state_check = "pass"
            self.flow.redirect = response
            self.refused = None
        else:
            self.state_check = "fail" if isinstance(self.error.error, errors.StateMismatchError) else "not checked"
            self.flow.redirect = None
            self.refused = self.error.error  # what Exchange says if clicked now
        self.flow.request_used()  # the authorize link's state is used up: it offers a fresh one
        self._render_parsed(params, response)
        self._update_buttons()
        self.tick()
        return response

    def _render_parsed(self, params: dict, response) -> None:
        code = params.get("code")
        lifetime = CODE_LIFETIME
        if response is not None and response.issue_known and response.expires_at is not None:
            lifetime = round(response.expires_at - response.issued_at)
        state = params.get("state")
        mark = {"pass": '<span class="fnb-pass">&#10004; pass</span>',
                "fail": '<span class="fnb-fail">&#10008; fail</span>'}.get(
            self.state_check, '<span class="fnb-na">not checked</span>')
        if self.state_check == "pass":
            why = "it is the state this notebook put in the authorize URL, used once (CSRF protection)"
        elif self.state_check == "fail":
            why = prose(self.error.parts.get("why", ""))
        else:
            why = "the URL was refused before the state could be compared"
        rows = [("pasted", f"<code>{_html.escape(self.pasted)}</code>"),
                ("code", f"<code>{_html.escape(shorten(code))}</code> <span class='fnb-muted'>(shortened; "
                         f"single use, {lifetime} seconds)</span>" if code else "<span class='fnb-fail'>none</span>"),
                ("state", f"<code>{_html.escape(state)}</code>" if state is not None else "none"),
                ("state check", f"{mark} {why}")]
        if params.get("error"):
            rows.insert(1, ("error", f"<code>{_html.escape(params['error'])}</code> "
                                     f"{_html.escape(params.get('error_description', ''))}"))
        body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        self._set(self.parsed, f'<table class="fnb-table">{body}</table>')

    # --- the sandbox's headless sign-in ---------------------------------------------
    def sign_in(self):
        """Sign in as the sandbox's demo user and read the redirect (sandbox only)."""
        def work():
            request = self.flow.request
            if request is None or request.state not in self.client.states:
                scopes = request.scopes if request is not None else None
                pkce = request is not None and request.code_verifier is not None
                request = self.client.authorization_url(scopes=scopes, pkce=pkce)
                self.flow.request = request
            if not isinstance(self.client, SandboxClient):  # a client made by hand, not by start()
                raise errors.SandboxOnlyError("Headless sign-in is the sandbox's: this client is not a SandboxClient.")
            return self.client.sign_in_headless(request)

        ok, url = self._attempt("Signing in (sandbox)", work)
        if ok:
            user = (self.client.config.sandbox or {}).get("username", "the demo user")
            response = self.receive(url)
            if response is not None:
                self.notes.show([f"Signed in as {user} on the sandbox; the browser would now be at the "
                                 "address shown as 'pasted'."])
            return response
        return None

    # --- the token request ------------------------------------------------------------
    def exchange(self):
        """Trade the code for tokens; returns the TokenResponse or None (the error shown).

        A second click (a double click, or a click after success) sends nothing: the code is
        spent, and sending it again would only make the server revoke the tokens it gave."""
        response = self.flow.redirect
        if self.flow.busy is not None:
            return None
        if response is not None and self.client.code_spent(response.code):
            self.notes.show(["This code was exchanged already; a code works once (sent again, it would make "
                             "the server revoke the tokens it gave). Sign in again for a new code."])
            self._update_buttons()
            return None

        def work():
            refused = getattr(self, "refused", None)
            if response is None and isinstance(refused, errors.FortellisError):
                # The table above shows why; say the same here, not that nothing was read.
                raise errors.FortellisError(
                    f"The address read last was refused ({refused.error}), so there is no code to exchange.",
                    error=refused.error,
                    hint=f"Sign in again with the {SIGN_IN_LINK} link (it carries a fresh state), then paste the new "
                         "address.")
            if response is None:
                raise errors.EmptyRedirectError(
                    "No redirect URL has been read yet.",
                    hint=f"Sign in with the {SIGN_IN_LINK} link, then paste the whole address you land on.")
            return self.client.exchange_code(response)

        ok, tokens = self._attempt("Exchanging the code", work)
        if ok:
            self.exchanged_at = self.flow.now()
            self.request_view.show(tokens.exchange)
            self._set(self.token_answer, token_response_html(tokens))
            self.flow.tokens = tokens
        else:
            self.failed_because = getattr(self.error.error, "error", None) or "failed"
            self.request_view.show(getattr(self.error.error, "exchange", None))
            self.token_answer.value = ""
        self._update_buttons()
        self.tick()
        return tokens

    # --- the countdown ------------------------------------------------------------------
    def tick(self) -> None:
        """Update the code's countdown from the flow's clock: from the code's issue where the
        server says when that was (the sandbox), else from its arrival, as an upper bound."""
        response = self.flow.redirect
        if response is None:
            text = ""
        elif self.exchanged_at is not None:
            age = self.exchanged_at - (response.issued_at or response.received_at)
            since = "it was issued" if response.issue_known else "it arrived"
            text = (f'<div class="fnb-ok-box">Exchanged {seconds(age)} after {since}. A code works once: this one '
                    "is now spent, and using it again fails with invalid_grant.</div>")
        elif self.failed_because is not None:
            text = (f'<div class="fnb-error-box"><span class="fnb-fail">Stopped:</span> the exchange failed '
                    f"({_html.escape(self.failed_because)}), and the code is spent or expired. Sign in again for a "
                    "new code.</div>")
        else:
            lifetime = (response.expires_at - response.issued_at) if response.issue_known and response.expires_at \
                else CODE_LIFETIME
            left, words = code_countdown(response.issued_at or response.received_at, self.flow.now(), lifetime)
            if left > 0 and not response.issue_known:
                words = "at most " + words + " (counted from when the address arrived; the code may be older)"
            if left > 0:
                text = f'<div><span class="fnb-pass fnb-countdown">{_html.escape(words)}</span></div>'
            else:
                text = (f'<div class="fnb-error-box"><span class="fnb-fail">Expired.</span> '
                        f"{_html.escape(words)}</div>")
        if self.countdown.value != text:
            self.countdown.value = text


def seconds(value: float) -> str:
    count = round(value)
    return f"{count} second{'s' if count != 1 else ''}"


def looks_like_a_redirect(text: str) -> bool:
    """A whole address that carries ``code=`` or ``error=`` (a paste), not a half-typed one."""
    text = text.strip()
    return text.startswith(("http://", "https://")) and ("code=" in text or "error=" in text)
