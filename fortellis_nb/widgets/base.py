"""What every step widget shares: its flow, the style sheet, an error box and notes, and a
text setter that passes everything shown through the flow's redaction."""

from __future__ import annotations

import html as html_module
import re

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
        self.flow.busy = action
        try:
            return attempt(action, work, error_box=self.error, notes=self.notes)
        finally:
            self.flow.busy = None
            self.flow.recorded()
            self.flow._sync_revoked()

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

    def _repr_mimebundle_(self, **kwargs):
        """The live widget, and next to it a static ``text/html`` snapshot of what it shows (secrets
        shortened, as on screen): wherever the view is not drawn (GitHub, nbconvert's HTML, a notebook
        saved without the widget's state, whose view ``fortellis_nb/saved_widgets.py`` takes out)
        the step's content shows instead of one line of text."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle["text/html"] = snapshot_html(self)
        return bundle


def _descendants(widget):
    for child in getattr(widget, "children", ()):
        yield from _descendants(child)
        yield child


#: Shown wherever the snapshot is: on GitHub, in nbconvert's HTML, in a notebook reopened with the
#: kernel running or not; so it says what it is and nothing of the kernel.
SNAPSHOT_NOTE = "A snapshot of what this widget showed when its cell ran: run the cell to use it."


def snapshot_html(widget) -> str:
    """A static HTML rendering of a widget tree: HTML parts as they are, controls as disabled
    look-alikes. Nothing a widget hides (display none) or keeps out of its state is included."""
    from .style import CSS

    body = _snapshot(widget)
    return (f'<style>{CSS}</style><div class="fnb-widget fnb-snapshot">'
            f'<p><em>{html_module.escape(SNAPSHOT_NOTE)}</em></p>{body}</div>')


def _escape(text) -> str:
    return html_module.escape(str(text or ""))


#: A link in a widget's HTML: <a ...>text</a>.
_ANCHOR = re.compile(r"<a\b[^>]*>(.*?)</a\s*>", re.DOTALL | re.IGNORECASE)


def _html_part(widget) -> str:
    """A widget's HTML with each link as its text: a snapshot's link would lead to a sign-in
    page, a file or a sandbox of when the cell ran (the address a link shows stays in view)."""
    value = _ANCHOR.sub(r"<span>\1</span>", widget.value)
    classes = " ".join(_escape(c) for c in widget._dom_classes)
    return f'<div class="{classes}">{value}</div>' if classes else value


def _button(widget) -> str:
    return f"<button disabled>{_escape(widget.description)}</button> "


def _checkbox(widget) -> str:
    mark = " checked" if widget.value else ""
    return f'<label><input type="checkbox" disabled{mark}> {_escape(widget.description)}</label> '


def _text_field(widget) -> str:
    shown = "" if isinstance(widget, widgets.Password) else widget.value
    return (f"<div><label>{_escape(widget.description)} "
            f'<input type="text" disabled value="{_escape(shown)}" '
            f'placeholder="{_escape(widget.placeholder)}" size="60"></label></div>')


def _choice(widget) -> str:
    return f"<div>{_escape(widget.description)} <strong>{_escape(str(widget.label))}</strong></div>"


def _sections(widget) -> str:
    """A Tab or an Accordion: each part as <details>, the selected one open."""
    titles = list(getattr(widget, "titles", ()) or ())
    parts = []
    for index, child in enumerate(widget.children):
        title = titles[index] if index < len(titles) and titles[index] else f"part {index + 1}"
        opened = " open" if widget.selected_index == index else ""
        parts.append(f"<details{opened}><summary>{_escape(title)}</summary>{_snapshot(child)}</details>")
    return "".join(parts)


#: How each kind of widget is drawn in a snapshot, the first matching kind winning.
_DRAWN = (
    (widgets.HTML, _html_part),
    ((widgets.Button, widgets.ToggleButton), _button),
    (widgets.Checkbox, _checkbox),
    ((widgets.Text, widgets.Password, widgets.Textarea), _text_field),
    ((widgets.ToggleButtons, widgets.Dropdown, widgets.RadioButtons), _choice),
    ((widgets.Tab, widgets.Accordion), _sections),
)


def _snapshot(widget) -> str:
    layout = getattr(widget, "layout", None)
    if layout is not None and getattr(layout, "display", None) == "none":
        return ""
    for kinds, draw in _DRAWN:
        if isinstance(widget, kinds):
            return draw(widget)
    return _box(widget) if getattr(widget, "children", None) is not None else ""


def _box(widget) -> str:
    """A box of widgets: its children, in a <div> with its classes (an HBox's always)."""
    inner = "".join(_snapshot(child) for child in widget.children)
    classes = " ".join(_escape(c) for c in widget._dom_classes if c != "fnb-widget")
    return f'<div class="{classes}">{inner}</div>' if classes or isinstance(widget, widgets.HBox) else inner
