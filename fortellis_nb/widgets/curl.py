"""A step's HTTP request as curl or as Python, with a copy button.

Secrets are shortened the way the tutorial prints them (``authorization: Basic MG9hY...``):
what is shown, and what the copy button copies, is exactly that text. The full values
stay in the kernel, so they never reach the page, the widget state or a saved notebook;
to run the command, put your own values in place of the shortened ones.
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from ..oauth.transcript import Exchange

# Copies the text of the <pre> next to the button; falls back to selecting it for
# pages that are not a secure context (no navigator.clipboard).
_COPY_JS = (
    "var b=this,p=b.parentNode.querySelector('pre');"
    "function sel(){var r=document.createRange();r.selectNodeContents(p);var s=window.getSelection();"
    "s.removeAllRanges();s.addRange(r);try{document.execCommand('copy');b.textContent='Copied';}"
    "catch(e){b.textContent='Press Ctrl+C';}}"
    "if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(p.innerText)"
    ".then(function(){b.textContent='Copied';},sel);}else{sel();}"
    "setTimeout(function(){b.textContent='Copy';},1500);return false;"
)


def copyable(text: str, label: str = "") -> str:
    """HTML: ``text`` in a <pre> with a Copy button (``text`` must already be safe to show)."""
    caption = f'<span class="fnb-muted">{html.escape(label)}</span> ' if label else ""
    return (f'<div class="fnb-copyable">{caption}<button class="fnb-copy" type="button" title="Copy to the clipboard" '
            f'aria-label="Copy {html.escape(label or "text")}" onclick="{html.escape(_COPY_JS)}">Copy</button>'
            f"<pre>{html.escape(text)}</pre></div>")


class RequestView(widgets.VBox):
    """One HTTP request, as curl or as Python ``requests`` code, secrets shortened."""

    def __init__(self, redact=None, title: str = "The request"):
        self._redact = redact or (lambda text: text)
        self.title = title
        self.exchange: Exchange | None = None
        self.curl_text = ""
        self.python_text = ""
        self.language = widgets.ToggleButtons(options=["curl", "Python"], value="curl",
                                              description="Show as", style={"button_width": "70px"})
        self.code = widgets.HTML()
        self.code.add_class("fnb-curl")
        self.language.observe(lambda change: self._render(), "value")
        super().__init__([self.language, self.code])
        self.add_class("fnb-request")
        self.layout.display = "none"

    def show(self, exchange: Exchange | None) -> None:
        self.exchange = exchange
        if exchange is None:
            self.curl_text = self.python_text = ""
            self.layout.display = "none"
            return
        self.curl_text = self._redact(exchange.as_curl())
        self.python_text = self._redact(exchange.as_python())
        self.layout.display = None
        self._render()

    @property
    def text(self) -> str:
        return self.curl_text if self.language.value == "curl" else self.python_text

    def _render(self) -> None:
        self.code.value = copyable(self.text, f"{self.title} as {self.language.value} (secrets shortened)")

    def __repr__(self) -> str:
        return f"RequestView({self.title!r})"
