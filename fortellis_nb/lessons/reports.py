"""Errors shown to a learner as what happened, why, and what to do (never a traceback), in
code (:func:`explain`) and in IPython for every cell (``%load_ext fortellis_nb.lessons``)."""

from __future__ import annotations

import html
import warnings

from ..oauth import FortellisError, redact
from ..oauth.errors import FortellisWarning
from ..widgets.errors import prose


class ErrorReport:
    """A :class:`FortellisError` laid out for a learner: what, why, what to do, and the request."""

    def __init__(self, error: BaseException):
        self.error = error

    def _parts(self) -> tuple[str, str, str, str]:
        error = self.error
        if isinstance(error, FortellisError):
            what = f"{type(error).__name__}: {error.error}"
            why = error.description
            todo = error.hint or ""
            request = error.exchange.as_curl() if getattr(error, "exchange", None) is not None else ""
        else:
            what, why, todo, request = type(error).__name__, str(error), "", ""
        # The last line of defence: a code or token quoted in a message is shortened too.
        return tuple(redact.text(part) for part in (what, why, todo, request))

    def __repr__(self) -> str:
        what, why, todo, request = self._parts()
        lines = [f"What happened: {what}", f"Why: {why}"]
        if todo:
            lines.append(f"What to do: {todo}")
        if request:
            lines.append("The request, as curl:\n" + request)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        what, why, todo, request = self._parts()
        # The messages write names and values in `backticks`: set as code, as the widgets do.
        what, why, todo, request = html.escape(what), prose(why), prose(todo), html.escape(request)
        red = "var(--jp-error-color1, #b42318)"
        rows = [f"<div><strong>What happened:</strong> <code>{what}</code></div>",
                f"<div><strong>Why:</strong> {why}</div>"]
        if todo:
            rows.append(f"<div><strong>What to do:</strong> {todo}</div>")
        if request:
            rows.append(f"<details><summary>The request, as curl</summary><pre>{request}</pre></details>")
        return (f'<div class="fnb-error" style="border-left:4px solid {red};padding:4px 10px;'
                f'color:var(--jp-ui-font-color1)">{"".join(rows)}</div>')


def explain(error: BaseException) -> ErrorReport:
    """Lay an error out for a learner: ``except FortellisError as error: explain(error)``."""
    return ErrorReport(error)


class NotRunYet:
    """A name a cell uses before the cell that defines it ran: cells run out of order, the
    kernel restarted, or the cell defining it failed. One line that says what to run, not a traceback."""

    def __init__(self, error: NameError):
        self.name = getattr(error, "name", None) or str(error).split("'")[1 if "'" in str(error) else 0]

    def text(self) -> str:
        return (f"`{self.name}` is not defined: if a cell above defines it, run the cells above this one first "
                "(Run > Run All Above Selected Cell); if you did, one of them failed before defining it: find its "
                "error above and fix that first. After a kernel restart, run the notebook from the top "
                "(Run > Run All Cells). Otherwise check its spelling.")

    def __repr__(self) -> str:
        return self.text().replace("`", "")

    def _repr_html_(self) -> str:
        return (f'<div class="fnb-error" style="border-left:4px solid var(--jp-warn-color1, #f57c00);'
                f'padding:4px 10px;color:var(--jp-ui-font-color1)">{prose(self.text())}</div>')


def _friendly_handler(shell, etype, evalue, tb, tb_offset=None):
    from IPython.display import display

    display(NotRunYet(evalue) if isinstance(evalue, NameError) else ErrorReport(evalue))
    return []


_plain_formatwarning = warnings.formatwarning


def _formatwarning(message, category, filename, lineno, line=None):
    # A learner needs the advice, not the file and line inside this package that gave it.
    if issubclass(category, FortellisWarning):
        return f"Warning ({category.__name__}): {message}\n"
    return _plain_formatwarning(message, category, filename, lineno, line)


def install_friendly_errors() -> bool:
    """In IPython, show every FortellisError as an :class:`ErrorReport` instead of a traceback,
    and our warnings as one plain sentence."""
    warnings.formatwarning = _formatwarning
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc((FortellisError, NameError), _friendly_handler)
    return True


def load_ipython_extension(ipython) -> None:
    """``%load_ext fortellis_nb.lessons`` (or the kernel config ``python -m fortellis_nb
    kernel-config`` writes): friendly errors from the first cell on."""
    install_friendly_errors()
