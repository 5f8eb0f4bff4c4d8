"""Refresh: new tokens without signing in again, and what changed."""

from __future__ import annotations

import html as _html

import ipywidgets as widgets

from ..oauth.checks import Change, token_changes
from .base import LABEL_STYLE, WIDE, StepWidget, html
from .curl import RequestView

#: Two clicks sent closer together than this are one double-click (the usual desktop setting).
DOUBLE_CLICK = 0.5

DOUBLE_CLICK_NOTE = "A double-click: one refresh was sent. Click once for each refresh."

SAME_SECOND_MARK = '<strong title="see the note below the table">same second</strong>'
SAME_SECOND = ("Minted within the same second as the tokens before: <code>iat</code> and <code>exp</code> count "
               "whole seconds, so they read the same; the new <code>jti</code> shows these are new tokens.")


def click_sent_at() -> float | None:
    """When the browser sent the click being handled (on the browser's clock), or None for a
    click made by code (``button.click()`` in a cell) or outside a kernel. The kernel runs a
    widget's clicks one after the other: a second click made while the first one's refresh was
    on the wire is only read after that refresh, so only the browser's own time tells the two
    clicks of a double-click apart from two clicks."""
    try:
        from IPython import get_ipython

        header = get_ipython().kernel.get_parent()["header"]
    except (AttributeError, ImportError, KeyError, TypeError):
        return None
    date = header.get("date")
    if header.get("msg_type") != "comm_msg" or not hasattr(date, "timestamp"):
        return None
    return date.timestamp()


def change_mark(row: Change, rows: list[Change]) -> str:
    """"new" or "same" for one row; "same second" for the times of a token that is new (its
    ``jti`` changed) but was minted in the second its predecessor was."""
    if row.changed:
        return '<span class="fnb-pass">new</span>'
    token, _, claim = row.what.rpartition(" ")
    if claim in ("iat", "exp") and any(other.what == f"{token} jti" and other.changed for other in rows):
        return SAME_SECOND_MARK
    return '<span class="fnb-na">same</span>'


class RefreshPanel(StepWidget):
    """A "Refresh token" button, an optional narrower scope, and a table of what changed."""

    css_class = "fnb-refresh"
    title = "refresh the tokens"

    def __init__(self, source=None, *, client=None, live: bool = True, clock=None):
        self._start(source, client, live, clock)
        self.scope_input = widgets.Text(
            description="Scope (optional)", continuous_update=False, style=LABEL_STYLE, layout=widgets.Layout(**WIDE),
            placeholder="empty: the scopes granted; or fewer, e.g. openid offline_access")
        self.refresh_button = widgets.Button(description="Refresh token", button_style="primary",
                                             tooltip="POST grant_type=refresh_token to the token endpoint")
        self.refresh_button.add_class("fnb-refresh-button")
        self.changes = html("fnb-changes")
        self.rows: list = []
        self.request_view = RequestView(redact=self.flow.redact, title="The refresh request")
        #: When the browser sent the click that made the last refresh (see click_sent_at).
        self._last_click: float | None = None
        #: Whether a second click came while the last click's refresh was running.
        self._double_clicked = False
        self.refresh_button.on_click(lambda button: self._on_click())
        # Off while a request is on the wire: a click then would send a second refresh.
        self.flow.observe(lambda change: setattr(self.refresh_button, "disabled", change["new"] is not None), "busy")
        self._finish([self.scope_input, self.refresh_button, self.error, self.notes, self.changes,
                      self.request_view])

    def _on_click(self) -> None:
        sent, last = click_sent_at(), self._last_click
        if sent is not None and last is not None and 0 <= sent - last < DOUBLE_CLICK:
            # The kernel may read this second click while the first one's refresh is still on
            # the wire; that refresh then clears the notes as it ends, and puts this one back.
            self._double_clicked = True
            self._note_double_click()
            return
        self._last_click, self._double_clicked = sent, False
        self.refresh()
        if self._double_clicked:
            self._note_double_click()

    def _note_double_click(self) -> None:
        if DOUBLE_CLICK_NOTE not in self.notes.messages:
            self.notes.show([*self.notes.messages, DOUBLE_CLICK_NOTE])

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
        marks = [change_mark(row, self.rows) for row in self.rows]
        body = "".join(
            f"<tr><td>{_html.escape(row.what)}</td><td><code>{_html.escape(row.before)}</code></td>"
            f"<td><code>{_html.escape(row.after)}</code></td><td class='fnb-narrow'>{mark}</td></tr>"
            for row, mark in zip(self.rows, marks, strict=True))
        kept = {"same": "The same refresh token came back: Fortellis keeps one refresh token per sign-in for "
                        "web apps.",
                "rotated": "A new refresh token came back: use it from now on.",
                "not returned": "No refresh token came back: keep using the old one."}.get(
            new.refresh_token_status or "", "")
        same_second = f'<div class="fnb-note">{SAME_SECOND}</div>' if SAME_SECOND_MARK in marks else ""
        self._set(self.changes, (
            f"<div><strong>What changed.</strong> A new access token (its own <code>jti</code>, minted now: "
            f"<code>iat</code>, with its expiry counted from now: <code>exp</code>), signed by the same server for "
            f"the same user. {kept}</div>"
            '<table class="fnb-table"><tr><th>what</th><th class="fnb-value">before</th><th class="fnb-value">after</th>'
            f'<th class="fnb-narrow"></th></tr>{body}</table>{same_second}'))
