"""The tokens, read: each token's header and claims explained, every verification check
marked pass or fail, a countdown to expiry, and the token drawn the way jwt.io draws it.

Tokens are shown shortened (the encoded parts) and decoded (the claims, which are not
secret); the full tokens stay in the kernel.
"""

from __future__ import annotations

import html as _html
import json

import ipywidgets as widgets

from ..oauth import hints
from ..oauth.checks import FORMAT, RuleResult, verification_checklist
from ..oauth.redact import shorten
from ..oauth.verify import CLAIM_GLOSSARY, decode, expires_in_words, explain_claims, format_timestamp, looks_like_jwt
from .base import StepWidget, html
from .curl import RequestView
from .errors import prose
from .style import JWT_COLOURS

#: A clock drawn by the style sheet: the timer emoji is an empty box where no emoji font is installed.
CLOCK = '<span class="fnb-clock" aria-hidden="true"></span>'
KINDS = (("access", "Access token"), ("id", "ID token"), ("refresh", "Refresh token"))
MARKS = {"pass": '<span class="fnb-pass">&#10004; pass</span>', "fail": '<span class="fnb-fail">&#10008; fail</span>',
         "n/a": '<span class="fnb-na">&#8211; n/a</span>'}


def jwt_html(token: str) -> str:
    """A JWT as jwt.io shows it: header, payload and signature in three colours, encoded
    (shortened) and decoded. Nothing here is enough to use the token."""
    head, payload, signature = [*token.split("."), "", "", ""][:3]
    decoded = decode(token)
    kid = decoded.header.get("kid")
    style = {k: f"color:{v}" for k, v in JWT_COLOURS.items()}
    encoded = (f'<div class="fnb-jwt-encoded"><span class="fnb-jwt-header">{_html.escape(shorten(head, 16))}</span>.'
               f'<span class="fnb-jwt-payload">{_html.escape(shorten(payload, 16))}</span>.'
               f'<span class="fnb-jwt-signature">{_html.escape(shorten(signature))}</span></div>'
               f'<div class="fnb-muted">Encoded: header {len(head)}, payload {len(payload)}, signature '
               f"{len(signature)} characters, base64url, joined by dots (shortened here; the token stays in the "
               "kernel).</div>")
    signature_text = (f'RSASHA256(\n  base64url(header) + "." + base64url(payload),\n  the server\'s private key\n)\n'
                      f"checked with the public key kid {kid!r}\nfrom the server's /v1/keys")
    columns = "".join(
        f'<div style="flex:1 1 16em;min-width:0"><div class="fnb-jwt-{part}" style="{style[part]};font-weight:bold">'
        f'{title}</div><pre class="fnb-jwt-{part}" style="{style[part]}">{_html.escape(text)}</pre></div>'
        for part, title, text in (
            ("header", "HEADER: algorithm and key", json.dumps(decoded.header, indent=2)),
            ("payload", "PAYLOAD: the claims", json.dumps(decoded.claims, indent=2)),
            ("signature", "SIGNATURE", signature_text)))
    return f'{encoded}<div style="display:flex;flex-wrap:wrap;gap:8px">{columns}</div>'


def claims_html(header: dict, claims: dict, now: float) -> str:
    rows = [f"<tr><td><code>{_html.escape(k)}</code></td><td class='fnb-muted fnb-narrow'>header</td>"
            f"<td><code>{_html.escape(str(v))}</code></td><td>{prose(CLAIM_GLOSSARY.get(k, ''))}</td></tr>"
            for k, v in header.items()]
    rows += [f"<tr><td><code>{_html.escape(k)}</code></td><td class='fnb-muted fnb-narrow'>claim</td>"
             f"<td><code>{_html.escape(json.dumps(v) if isinstance(v, (list, dict)) else str(v))}</code></td>"
             f"<td>{prose(meaning)}</td></tr>" for k, v, meaning in explain_claims(claims, now=now)]
    return ('<table class="fnb-table"><tr><th>name</th><th class="fnb-narrow">in</th><th>value</th><th class="fnb-explain">what it means</th></tr>'
            + "".join(rows) + "</table>")


def summary_html(tokens) -> str:
    """The token response in one line (and that it was revoked, when it was)."""
    revoked = ""
    if tokens.revoked:
        revoked = (f'<div class="fnb-error-box"><span class="fnb-fail">&#10008; Revoked:</span> '
                   f"{_html.escape(tokens.revoked)}. The checks below are of the tokens as issued; the server "
                   "now refuses them. Sign in again for new ones.</div>")
    return (f"{revoked}<div><strong>{_html.escape(tokens.token_type)}</strong> token from a "
            f"<code>{_html.escape(tokens.grant_type or 'token')}</code> grant; scope "
            f"<code>{_html.escape(tokens.scope or '-')}</code>; expires_in {tokens.expires_in}.</div>")


def token_response_html(tokens) -> str:
    """The token endpoint's answer as it came, its status and its JSON, tokens shortened."""
    exchange = tokens.exchange
    status = f"HTTP {exchange.status} {_html.escape(exchange.reason)}".strip() if exchange is not None else "The answer"
    return (f'<div class="fnb-muted fnb-token-response-head">{status}, the token response (tokens shortened; the '
            "full response stays in the kernel):</div>"
            f"<pre>{_html.escape(json.dumps(tokens.as_dict(), indent=2))}</pre>")


def refresh_token_html(tokens) -> str:
    """The refresh token (shortened), whether it is new, and what it is for."""
    if not tokens.refresh_token:
        return ('<div class="fnb-muted">No refresh token: it is only issued when the '
                "authorize URL asked for <code>offline_access</code>.</div>")
    status = {"same": "the same refresh token came back, as Fortellis does for web apps",
              "rotated": "a new refresh token came back; use it from now on",
              "not returned": "none came back; the old one stays valid"}.get(
        tokens.refresh_token_status or "", "issued because the scope had offline_access")
    return (f"<div><code>{_html.escape(shorten(tokens.refresh_token))}</code> "
            f"({len(tokens.refresh_token)} characters, shortened): {status}.</div>"
            '<div class="fnb-muted">Opaque: not a JWT, nothing to decode. Send it to /v1/token with '
            "grant_type=refresh_token for new tokens without signing in again. Keep it secret.</div>")


def access_token_expiry(tokens) -> float | None:
    """When the access token expires: its ``exp`` claim, else what the token response said."""
    exp = None
    if looks_like_jwt(tokens.access_token):
        try:
            exp = decode(tokens.access_token).claims.get("exp")
        except Exception:
            exp = None
    return exp if isinstance(exp, (int, float)) else tokens.expires_at


def countdown_html(exp: float | None, now: float) -> str:
    """The access token's life left; once it is over, what the API gateway answers."""
    if exp is None:
        return '<div class="fnb-muted">The server did not say when the access token expires.</div>'
    words = expires_in_words(exp, now)
    if exp <= now:
        return (f'<div class="fnb-error-box"><span class="fnb-fail">{CLOCK}The access token {words}</span> '
                f"({format_timestamp(exp)}). The API gateway now answers TOKEN-EXPIRED. "
                f"{prose(hints.TOKEN_EXPIRED)}</div>")
    return (f'<div><span class="fnb-pass">{CLOCK}The access token {words}</span> '
            f'<span class="fnb-muted">(at {format_timestamp(exp)})</span></div>')


def checklist_html(checks: dict[str, list[RuleResult]]) -> str:
    """A row per rule, a column per token (KINDS order), and the verdict above."""
    kinds = [(kind, title) for kind, title in KINDS if kind in checks]
    header = "".join(f"<th>{title}</th>" for _, title in kinds)
    rows = "".join(f"<tr><td><code>{_html.escape(name)}</code></td>"
                   + "".join(_checklist_cell(checks[kind], name) for kind, _ in kinds) + "</tr>"
                   for name in _rule_names(checks))
    return (f"<div><strong>Verification</strong> {_verdict(checks)}</div>"
            f'<table class="fnb-table"><tr><th>check</th>{header}</tr>{rows}</table>')


def _verdict(checks: dict[str, list[RuleResult]]) -> str:
    failed = sum(1 for results in checks.values() for result in results if result.passed is False)
    if not failed:
        return '<span class="fnb-pass">&#10004; every check passed</span>'
    return (f'<span class="fnb-fail">&#10008; {failed} check{"s" if failed != 1 else ""} failed: do not '
            "trust these tokens</span>")


def _rule_names(checks: dict[str, list[RuleResult]]) -> list[str]:
    """Each rule's name once, in the order the rules apply (an access token's rules are the
    first of an ID token's); the row of a token that could not be read comes first."""
    names = dict.fromkeys(result.name for results in checks.values() for result in results)
    return sorted(names, key=lambda name: name != FORMAT)


def _checklist_cell(results: list[RuleResult], name: str) -> str:
    """The mark and explanation of rule ``name`` for one token; n/a when it has no such rule."""
    found = next((result for result in results if result.name == name), None)
    if found is None:
        return f"<td>{MARKS['n/a']}</td>"
    return f"<td>{MARKS[found.mark]} <span class='fnb-muted'>{prose(found.detail)}</span></td>"


class TokenInspector(StepWidget):
    """Access, ID and refresh token in tabs, a verification checklist, and a countdown to expiry."""

    css_class = "fnb-inspector"
    title = "the tokens, read and checked"

    def __init__(self, source=None, *, client=None, tokens=None, live: bool = True, clock=None):
        self._start(source, client, live, clock)
        self.summary = html("fnb-token-summary")
        self.countdown = html("fnb-expiry")
        self.checklist = html("fnb-checklist")
        self.checks: dict[str, list[RuleResult]] = {}
        self.jwt = {kind: html("fnb-jwt") for kind in ("access", "id")}
        self.claims = {kind: html("fnb-claims") for kind in ("access", "id")}
        self.refresh_token_html = html("fnb-refresh-token")
        self.tabs = widgets.Tab([widgets.VBox([self.jwt["access"], self.claims["access"]]),
                                 widgets.VBox([self.jwt["id"], self.claims["id"]]),
                                 widgets.VBox([self.refresh_token_html])])
        self.tabs.titles = tuple(title for _, title in KINDS)
        self.tabs.add_class("fnb-token-tabs")
        self.raw_button = widgets.ToggleButton(description="Show the raw JSON response", icon="code", value=False)
        self.raw_button.add_class("fnb-raw-button")
        self.raw = html("fnb-raw")
        self.request_view = RequestView(redact=self.flow.redact, title="The token request")
        self.raw_button.observe(lambda change: self._render_raw(), "value")
        self.raw_button.observe(self._raw_label, "value")
        self.flow.observe(lambda change: self.show(), ["tokens", "revoked"])
        self._finish([self.summary, self.countdown, self.checklist, self.tabs, self.error,
                      widgets.HBox([self.raw_button]), self.raw, self.request_view])
        if tokens is not None:
            self.flow.tokens = tokens
        else:
            self.show()
        self._tick_with(self.tick)

    @property
    def tokens(self):
        return self.flow.tokens

    def _raw_label(self, change) -> None:
        self.raw_button.description = ("Hide the raw JSON response" if change["new"]
                                       else "Show the raw JSON response")

    # --- rendering --------------------------------------------------------------------
    def show(self) -> None:
        tokens = self.flow.tokens
        self.error.clear()
        if tokens is None:
            self._show_nothing()
            return
        self._set(self.summary, summary_html(tokens))
        now = self.flow.now()
        for kind, token in (("access", tokens.access_token), ("id", tokens.id_token)):
            self._show_token(kind, token, now)
        self._set(self.refresh_token_html, refresh_token_html(tokens))
        self.request_view.show(tokens.exchange)
        self._render_checklist()
        self._render_raw()
        self.tick()

    def _show_nothing(self) -> None:
        self.summary.value = '<div class="fnb-muted">No tokens yet: exchange a code first.</div>'
        for widget in (self.countdown, self.checklist, self.raw, *self.jwt.values(), *self.claims.values(),
                       self.refresh_token_html):
            widget.value = ""
        self.checks = {}
        self.request_view.show(None)

    def _show_token(self, kind: str, token: str | None, now: float) -> None:
        """One token's tab: drawn as jwt.io draws it and its claims explained, or why there is nothing to draw."""
        if not looks_like_jwt(token):
            why = ("No ID token: ask for the <code>openid</code> scope." if kind == "id" and not token
                   else "Not a JWT: an opaque token only the server can read (ask it with introspect).")
            self.jwt[kind].value = f'<div class="fnb-muted">{why}</div>'
            self.claims[kind].value = ""
            return
        try:
            decoded = decode(token)
            self._set(self.jwt[kind], jwt_html(token))
            self._set(self.claims[kind], claims_html(decoded.header, decoded.claims, now))
        except Exception as error:  # a token we cannot read is shown as an error, not a traceback
            self.error.show(error, f"Reading the {kind} token")

    def _nonce(self, tokens):
        if tokens.grant_type != "authorization_code":
            return None  # a refreshed ID token carries no nonce to compare
        if tokens.nonce_sent is not None:
            return tokens.nonce_sent
        redirect = self.flow.redirect
        return redirect.request.nonce if redirect is not None and redirect.request is not None else None

    def _checklists(self) -> dict[str, list[RuleResult]]:
        """Each token's verification checklist (the same rules :meth:`FortellisClient.verify` applies)."""
        tokens = self.flow.tokens
        client, now = self.client, self.flow.now()
        checks = {}
        try:
            issuer = client.metadata.issuer
            if looks_like_jwt(tokens.access_token) and client.access_audience:
                checks["access"] = verification_checklist(
                    tokens.access_token, kind="access", jwks=client.jwks, issuer=issuer,
                    audience=client.access_audience, now=now)
            if tokens.id_token:
                checks["id"] = verification_checklist(
                    tokens.id_token, kind="id", jwks=client.jwks, issuer=issuer, client_id=client.config.api_key,
                    nonce=self._nonce(tokens), access_token=tokens.access_token, now=now,
                    fortellis_issuer=client.fortellis_issuer)
        except Exception as error:  # e.g. the key set could not be fetched
            self.error.show(error, "Checking the tokens")
        return checks

    def _render_checklist(self) -> None:
        self.checks = self._checklists()
        self._set(self.checklist, checklist_html(self.checks))

    def _render_raw(self) -> None:
        tokens = self.flow.tokens
        if not self.raw_button.value or tokens is None:
            self.raw.value = ""
            return
        self._set(self.raw, token_response_html(tokens))

    # --- the countdown ------------------------------------------------------------------
    def tick(self) -> None:
        """Update the countdown to expiry from the flow's clock (and the checklist once it expires)."""
        tokens = self.flow.tokens
        if tokens is None:
            return
        now = self.flow.now()
        text = countdown_html(access_token_expiry(tokens), now)
        if self.countdown.value != text:
            self.countdown.value = text
        self._render_checklist()  # the exp and iat checks depend on the time too
        for kind, token in (("access", tokens.access_token), ("id", tokens.id_token)):
            if looks_like_jwt(token):  # keep "in 59 minutes" / "5 seconds ago" current
                decoded = decode(token)
                text = self.flow.redact(claims_html(decoded.header, decoded.claims, now))
                if self.claims[kind].value != text:
                    self.claims[kind].value = text
