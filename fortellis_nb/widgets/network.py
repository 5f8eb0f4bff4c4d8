"""Every HTTP exchange so far, in order, like a browser's network tab."""

from __future__ import annotations

import html as _html

import ipywidgets as widgets

from .base import StepWidget, html
from .curl import copyable

MAX_BODY = 4000
EXPORTS = {"har": "Save HAR", "postman": "Save Postman", "http": "Save .http"}
EXPORT_NAMES = {"har": "fortellis-session.har", "postman": "fortellis-session.postman_collection.json",
                "http": "fortellis-session.http"}
EXPORT_USES = {"har": "open it in a browser's network panel", "postman": "import it into Postman, or run it with newman",
               "http": "open it with httpyac or JetBrains' HTTP client"}


def _status(exchange) -> str:
    if exchange.status is None:
        return f'<span class="fnb-fail">{_html.escape(exchange.failure or "failed")}</span>'
    kind = "fnb-pass" if exchange.status < 400 else "fnb-fail"
    return f'<span class="{kind}">{exchange.status}</span>'


def _response_body(exchange) -> str:
    if exchange.status is None:
        return "(no response)"
    if exchange.content_type == "text/html":
        return f"(an HTML page, {len(exchange.response_body)} characters)"
    text = exchange.response_text()
    return text if len(text) <= MAX_BODY else text[:MAX_BODY] + f"\n... ({len(text) - MAX_BODY} more characters)"


class NetworkLog(StepWidget):
    """The client's transcript as a table: step, method, URL, status, time; each row opens
    to the request as curl and the response."""

    css_class = "fnb-network"
    title = "every HTTP exchange"

    def __init__(self, source=None, *, client=None, live: bool = True, clock=None):
        self._start(source, client, live, clock)
        self.table = html("fnb-network-log")
        self.clear_button = widgets.Button(description="Clear log", icon="trash")
        self.clear_button.add_class("fnb-network-clear")
        self.clear_button.on_click(lambda button: self.clear())
        # Take the session with you: the files land beside the notebook, secrets shortened.
        self.export_buttons = {}
        for fmt, label in EXPORTS.items():
            button = widgets.Button(description=label, icon="download",
                                    tooltip=f"Save every exchange as {EXPORT_NAMES[fmt]} (tokens, codes and the "
                                            "API Secret shortened)")
            button.add_class(f"fnb-export-{fmt}")
            button.on_click(lambda _button, fmt=fmt: self.export(fmt))
            self.export_buttons[fmt] = button
        self.export_note = html("fnb-export-note")
        self.flow.observe(lambda change: self.refresh(), "exchanges")
        self.flow.observe(lambda change: self.refresh(), "client")
        self._finish([self.table, widgets.HBox([self.clear_button, *self.export_buttons.values()]), self.export_note])
        self.refresh()

    def export(self, fmt: str, folder=".") -> str:
        """Save the session as ``fortellis-session`` + the format's ending in ``folder`` (the
        notebook's, by default); returns the path. Shortened secrets only: to write them in full,
        ``client.transcript.save(path, full=True)`` from a cell."""
        from pathlib import Path

        path = Path(folder) / EXPORT_NAMES[fmt]
        try:
            self.client.transcript.save(path, fmt=fmt)
        except OSError as exc:
            self._set(self.export_note, f'<span class="fnb-fail">Could not write {_html.escape(str(path))}: '
                                        f"{_html.escape(exc.strerror or str(exc))}</span>")
            return ""
        self._set(self.export_note, f"Saved {len(self.exchanges)} exchanges to <a href='{_html.escape(path.name)}' "
                  f"target='_blank'><code>{_html.escape(str(path))}</code></a> ({EXPORT_USES[fmt]}). Tokens, codes "
                  "and the API Secret are shortened; set <code>api_secret</code> in the tool to replay.")
        return str(path)

    @property
    def exchanges(self):
        return list(self.client.transcript)

    def clear(self) -> None:
        self.client.transcript.clear()
        self.flow.recorded()
        self.refresh()

    def refresh(self) -> None:
        exchanges = self.exchanges
        if not exchanges:
            self.table.value = '<div class="fnb-muted">No HTTP exchange yet.</div>'
            return
        rows = []
        for number, exchange in enumerate(exchanges, 1):
            shown = exchange.as_dict()
            headers = "\n".join(f"{k}: {v}" for k, v in shown["response_headers"].items())
            rows.append(
                f"<details><summary><span>{number}</span><span>{_html.escape(exchange.label or '-')}</span>"
                f"<span>{exchange.method}</span><span class='fnb-url' title='{_html.escape(shown['url'])}'>"
                f"{_html.escape(shown['url'])}</span><span>{_status(exchange)}</span>"
                f"<span>{exchange.elapsed * 1000:.0f} ms</span></summary>"
                f"{copyable(exchange.as_curl(), 'Request as curl (secrets shortened)')}"
                f"<div class='fnb-muted'>Response: {exchange.status or ''} {_html.escape(exchange.reason)}</div>"
                f"<pre>{_html.escape(headers)}\n\n{_html.escape(_response_body(exchange))}</pre></details>")
        head = ("<div class='fnb-log-head'><span>#</span><span>step</span><span>method</span><span>URL</span>"
                "<span>status</span><span>time</span></div>")
        self._set(self.table, head + "".join(rows))
