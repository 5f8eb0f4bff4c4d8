"""Step 1: the authorize URL, its parameters explained, and a link that opens it."""

from __future__ import annotations

import html as _html

import ipywidgets as widgets

from ..oauth import errors
from ..oauth.authorize import SIGN_IN_LINK
from ..oauth.hints import CODE_LIFETIME
from ..oauth.transcript import Exchange
from .base import LABEL_STYLE, StepWidget, html
from .curl import RequestView
from .errors import prose
from .redirect import REDIRECT_BOX, looks_like_a_redirect


class AuthorizeLink(StepWidget):
    """Choose the scopes and PKCE; get the authorize URL as a table of parameters and a link.

    Every change makes a fresh URL (new ``state`` and ``nonce``); the flow remembers it so
    the redirect can be checked against it.
    """

    css_class = "fnb-authorize"
    title = "step 1: the authorize URL"

    def __init__(self, source=None, *, client=None, scopes="openid offline_access", pkce: bool = False,
                 live: bool = True, clock=None):
        self._start(source, client, live, clock)
        adopted = self.flow.request if self.flow.request is not None and self.flow.request.state in \
            self.client.states else None
        if adopted is not None:
            # The request a cell made already (one request per attempt): this widget shows it.
            scopes, pkce = adopted.scopes, adopted.code_verifier is not None
        wanted = scopes.split() if isinstance(scopes, str) else list(scopes)
        self.openid_box = widgets.Checkbox(value="openid" in wanted, description="openid (ask for an ID token)",
                                           indent=False)
        self.offline_box = widgets.Checkbox(value="offline_access" in wanted, indent=False,
                                            description="offline_access (ask for a refresh token)")
        self.more_scopes = widgets.Text(
            value=" ".join(s for s in wanted if s not in ("openid", "offline_access")),
            description="More scopes", placeholder="e.g. profile email", continuous_update=False,
            style=LABEL_STYLE)
        self.pkce_box = widgets.Checkbox(value=pkce, indent=False,
                                         description="PKCE (send an S256 code_challenge, prove it with the verifier)")
        self.new_button = widgets.Button(description="New authorize URL", icon="refresh",
                                         tooltip="A fresh state and nonce")
        self.new_button.add_class("fnb-authorize-new")
        self.link = html("fnb-authorize-link")
        self.table = html("fnb-parameters")
        self.request_view = RequestView(redact=self.flow.redact, title="The browser's request")
        for box in (self.openid_box, self.offline_box, self.more_scopes, self.pkce_box):
            box.observe(lambda change: self.build(), "value")
        # After the builds above: a redirect pasted here is no scope (it would end up, code and
        # all, in the next authorize URL); the box lets it go and says where it belongs.
        self.more_scopes.observe(self._refuse_a_redirect, "value")
        self.new_button.on_click(lambda button: self.build())
        self.flow.observe(lambda change: self._render(), "request")
        self.flow.observe(lambda change: self.build(), "settings_version")
        self.flow.observe(lambda change: self._renew(), "attempts")
        self._finish([
            html(value="<strong>Scopes</strong>"), widgets.HBox([self.openid_box, self.offline_box]),
            self.more_scopes, self.pkce_box, self.new_button, self.error, self.notes, self.link, self.table,
            self.request_view])
        if adopted is not None:
            self._render()
        else:
            self.build()

    def _refuse_a_redirect(self, change) -> None:
        if looks_like_a_redirect(change["new"]):
            with self.more_scopes.hold_sync():
                self.more_scopes.value = ""
            self.notes.show([f"That is the address you landed on, not a scope: paste it into the {REDIRECT_BOX} box."])

    def _renew(self) -> None:
        """Once the shown request's state is used up (its redirect read, or refused), offer a
        fresh one with the same choices: "sign in again" then just works."""
        request = self.flow.request
        if request is None or request.state not in self.client.states:
            self.build()

    @property
    def scopes(self) -> tuple[str, ...]:
        chosen = [name for name, box in (("openid", self.openid_box), ("offline_access", self.offline_box))
                  if box.value]
        return tuple(chosen + [s for s in self.more_scopes.value.replace(",", " ").split() if s not in chosen])

    @property
    def request(self):
        return self.flow.request

    def build(self):
        """Make a fresh authorize URL from the choices; returns it (or None, with the error shown)."""
        def work():
            if not self.scopes:  # the client would fall back to its default scopes
                raise errors.ConfigurationError("No scope requested.", hint="Tick at least `openid`.")
            return self.client.authorization_url(scopes=self.scopes, pkce=self.pkce_box.value)

        ok, request = self._attempt("Making the authorize URL", work)
        if ok:
            self.flow.request = request
        return request

    def _render(self) -> None:
        request = self.flow.request
        if request is None:
            self.link.value = self.table.value = ""
            self.request_view.show(None)
            return
        browser_url = self.client.config.browser_url(request.url)
        url = _html.escape(browser_url)
        proxied = ""
        if browser_url != request.url:
            proxied = ('<div class="fnb-muted fnb-proxied">Your browser reaches the sandbox through the Jupyter '
                       "server's proxy (this is JupyterHub or Binder); the kernel reaches it directly at "
                       f"<code>{_html.escape(self.client.config.sandbox['base_url'])}</code>. After the sign-in the "
                       "sandbox sends you to its callback page at the proxied address.</div>")
        self._set(self.link, (
            f'<div><a class="fnb-authorize-anchor" href="{url}" target="_blank" rel="noopener noreferrer">'
            f"{SIGN_IN_LINK} (new tab) &#8599;</a></div>"
            f'<div class="fnb-muted">Sign in, then copy the whole address you land on and paste it into the '
            f"{REDIRECT_BOX} box within {CODE_LIFETIME} seconds.</div>{proxied}<pre>{url}</pre>"))
        rows = "".join(f"<tr><td><code>{_html.escape(k)}</code></td><td><code>{_html.escape(str(v))}</code></td>"
                       f"<td>{prose(h)}</td></tr>" for k, v, h in request.explain())
        self._set(self.table, '<table class="fnb-table"><tr><th>parameter</th><th>value</th>'
                              f"<th class=\"fnb-explain\">what it is for</th></tr>{rows}</table>")
        self.request_view.show(Exchange(method="GET", url=request.url, request_headers={"Accept": "text/html"}))
