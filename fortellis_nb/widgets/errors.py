"""Errors shown inside the widget: what happened, why, what to do. Never a traceback.

:func:`attempt` runs one action of a step (a button's work): a
:class:`~fortellis_nb.oauth.errors.FortellisError` becomes an :class:`ErrorBox`; any other
exception is shown as a one-line message; warnings the protocol gives (an old code, a
redirect without ``?``) become notes instead of lines on stderr.
"""

from __future__ import annotations

import html
import warnings

import ipywidgets as widgets

from ..oauth import FortellisError
from ..oauth.hints import prose


def describe(error: BaseException, action: str = "") -> dict[str, str]:
    """The four parts of an error box, as plain text."""
    doing = action or "This step"
    if isinstance(error, FortellisError):
        exchange = error.exchange
        where = ""
        if exchange is not None:
            outcome = f"HTTP {exchange.status}" if exchange.status is not None else (exchange.failure or "no answer")
            where = f" ({outcome} from {exchange.method} {exchange.url.split('?')[0]})"
        return {"what": f"{doing} failed{where}.",
                "why": f"{error.error}: {error.description}" if error.error else error.description,
                "todo": error.hint or "Check the settings and the step's inputs, then try again.",
                "more": error.uri or ""}
    return {"what": f"{doing} failed unexpectedly.",
            "why": f"{type(error).__name__}: {str(error)[:300]}",
            "todo": "Run the cell again; if it keeps happening, restart the kernel and start from step 1.",
            "more": ""}


class ErrorBox(widgets.HTML):
    """Shows the last error of a step (hidden while there is none)."""

    def __init__(self, redact=None, **kwargs):
        super().__init__(**kwargs)
        self._redact = redact or (lambda text: text)
        self.add_class("fnb-error")
        self.layout.display = "none"
        self.error: BaseException | None = None
        self.parts: dict[str, str] = {}

    def show(self, error: BaseException, action: str = "") -> None:
        self.error = error
        self.parts = {k: self._redact(v) for k, v in describe(error, action).items()}
        p = {k: (html.escape(v) if k == "more" else prose(v)) for k, v in self.parts.items()}
        more = f'<div>Read more: <a href="{p["more"]}" target="_blank" rel="noopener">{p["more"]}</a></div>' \
            if p["more"] else ""
        self.value = (f'<div class="fnb-error-box" role="alert"><div class="fnb-error-title">&#9888; {p["what"]}</div>'
                      f'<div><strong>Why:</strong> {p["why"]}</div>'
                      f'<div><strong>What to do:</strong> {p["todo"]}</div>{more}</div>')
        self.layout.display = None

    def clear(self) -> None:
        self.error = None
        self.parts = {}
        self.value = ""
        self.layout.display = "none"

    def __repr__(self) -> str:
        return f"ErrorBox({self.parts.get('why', '')!r})"


class Notes(widgets.HTML):
    """The warnings of a step's last action, as short notes."""

    def __init__(self, redact=None, **kwargs):
        super().__init__(**kwargs)
        self._redact = redact or (lambda text: text)
        self.add_class("fnb-notes")
        self.messages: list[str] = []

    def show(self, messages) -> None:
        self.messages = [self._redact(str(m)) for m in messages]
        self.value = "".join(f'<div class="fnb-note">{prose(m)}</div>' for m in self.messages)


def attempt(action: str, work, *, error_box: ErrorBox, notes: Notes | None = None):
    """Run ``work()``; return ``(True, result)``, or ``(False, None)`` with the error shown."""
    error_box.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = work()
        except Exception as error:  # shown in the widget: a learner never sees a traceback
            error_box.show(error, action)
            ok, result = False, None
        else:
            ok = True
    if notes is not None:
        notes.show(str(w.message) for w in caught)
    return ok, result
