"""Refresh: new tokens without signing in again, and what changed."""

from __future__ import annotations

import html as _html

import ipywidgets as widgets

from ..oauth.checks import token_changes
from .base import LABEL_STYLE, StepWidget, html
from .curl import RequestView


class RefreshPanel(StepWidget):
    """A "Refresh token" button, an optional narrower scope, and a table of what changed."""

    css_class = "fnb-refresh"
    title = "refresh the tokens"

    def __init__(self, source=None, *, client=None, live: bool = True, clock=None):
        self._start(source, client, live, clock)
        self.scope_input = widgets.Text(
            description="Scope (optional)", continuous_update=False, style=LABEL_STYLE,
            placeholder="empty: the scopes granted; or fewer, e.g. openid offline_access")
        self.refresh_button = widgets.Button(description="Refresh token", button_style="primary",
                                             tooltip="POST grant_type=refresh_token to the token endpoint")
        self.refresh_button.add_class("fnb-refresh-button")
        self.changes = html("fnb-changes")
        self.rows: list = []
        self.request_view = RequestView(redact=self.flow.redact, title="The refresh request")
        self.refresh_button.on_click(lambda button: self.refresh())
        self._finish([self.scope_input, self.refresh_button, self.error, self.notes, self.changes,
                      self.request_view])

    def refresh(self):
        """Refresh; returns the new TokenResponse, or None with the error shown."""
        old = self.flow.tokens
        scopes = self.scope_input.value.replace(",", " ").split() or None
        ok, new = self._attempt("Refreshing the token", lambda: self.client.refresh(scopes=scopes))
        if not ok:
            self.request_view.show(getattr(self.error.error, "exchange", None))
            return None
        self.request_view.show(new.exchange)
        if old is not None:
            self.flow.previous_tokens = old
            self.rows = token_changes(old, new)
            self._render(new)
        self.flow.tokens = new
        return new

    def _render(self, new) -> None:
        body = "".join(
            f"<tr><td>{_html.escape(row.what)}</td><td><code>{_html.escape(row.before)}</code></td>"
            f"<td><code>{_html.escape(row.after)}</code></td><td>"
            + ('<span class="fnb-pass">new</span>' if row.changed else '<span class="fnb-na">same</span>')
            + "</td></tr>" for row in self.rows)
        kept = {"same": "The same refresh token came back: Fortellis keeps one refresh token per sign-in for "
                        "web apps.",
                "rotated": "A new refresh token came back: use it from now on.",
                "not returned": "No refresh token came back: keep using the old one."}.get(
            new.refresh_token_status or "", "")
        self._set(self.changes, (
            f"<div><strong>What changed.</strong> A new access token (new <code>jti</code>, <code>iat</code>, "
            f"<code>exp</code>), signed by the same server for the same user. {kept}</div>"
            '<table class="fnb-table"><tr><th>what</th><th>before</th><th>after</th><th></th></tr>'
            f"{body}</table>"))
