"""What every step widget shares: its flow, the style sheet, an error box and notes, and a
text setter that passes everything shown through the flow's redaction."""

from __future__ import annotations

import ipywidgets as widgets

from ..oauth import FortellisClient
from .errors import ErrorBox, Notes, attempt
from .flow import Flow
from .style import style_tag


def flow_of(source=None, *, client: FortellisClient | None = None, live: bool = True, clock=None) -> Flow:
    """The flow a widget joins: ``source`` may be a Flow, a client, or another step widget."""
    if source is None:
        source = client
    if hasattr(source, "flow") and isinstance(source.flow, Flow):
        return source.flow
    return Flow.of(source, live=live, clock=clock)


def html(css_class: str = "", value: str = "") -> widgets.HTML:
    widget = widgets.HTML(value)
    if css_class:
        widget.add_class(css_class)
    return widget


LABEL_STYLE = {"description_width": "initial"}
WIDE = {"width": "100%", "max_width": "60em"}


class StepWidget(widgets.VBox):
    """A VBox over one :class:`Flow`; subclasses build their children and call ``_finish``."""

    css_class = ""
    title = ""

    def _start(self, source, client, live, clock) -> None:
        self.flow = flow_of(source, client=client, live=live, clock=clock)
        self.error = ErrorBox(redact=self.flow.redact)
        self.notes = Notes(redact=self.flow.redact)
        self._ticking = None

    def _finish(self, children) -> None:
        first = []
        if not getattr(self.flow, "_style_shown", False):
            self.flow._style_shown = True
            first.append(style_tag())
        super().__init__(first + list(children))
        self.add_class("fnb-widget")
        if self.css_class:
            self.add_class(self.css_class)

    @property
    def client(self) -> FortellisClient:
        return self.flow.client

    def _set(self, widget: widgets.HTML, text: str) -> None:
        widget.value = self.flow.redact(text)

    def _attempt(self, action: str, work):
        try:
            return attempt(action, work, error_box=self.error, notes=self.notes)
        finally:
            self.flow.recorded()

    def _tick_with(self, callback) -> None:
        self._ticking = callback
        self.flow.ticker.add(callback)

    def close(self) -> None:
        if self._ticking is not None:
            self.flow.ticker.remove(self._ticking)
        for child in _descendants(self):
            child.close()
        super().close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.title})"


def _descendants(widget):
    for child in getattr(widget, "children", ()):
        yield from _descendants(child)
        yield child
