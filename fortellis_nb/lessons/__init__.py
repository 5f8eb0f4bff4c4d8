"""What the notebooks share, by purpose: errors shown as what happened, why and what to do
(``reports``), the start of a lesson (``startup``), and notebook 10's example backend
(``backend``). Apps registered with the sandbox come from :mod:`fortellis_nb.local`.

``%load_ext fortellis_nb.lessons`` shows errors as reports from the first cell on.
"""

from ..local import consent_app, sandbox_app
from .backend import RunningBackend, page_text, show_code, start_backend
from .reports import ErrorReport, NotRunYet, explain, install_friendly_errors, load_ipython_extension
from .startup import catch_up, start, tokens_in_profile

__all__ = [
    "ErrorReport", "NotRunYet", "RunningBackend", "catch_up", "consent_app", "explain", "install_friendly_errors",
    "load_ipython_extension", "page_text", "sandbox_app", "show_code", "start", "start_backend", "tokens_in_profile",
]
