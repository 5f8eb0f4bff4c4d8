"""ipywidgets views over :mod:`fortellis_nb.oauth`, one module per step, plus the playground.

    >>> from fortellis_nb.widgets import Playground
    >>> Playground()                      # every step, over the sandbox unless FORTELLIS_* is set
    >>> Playground().run_unattended()     # the same, run through with no person (sandbox only)

Or one step at a time, all sharing one flow (each takes the previous widget, a
:class:`Flow`, or a ``FortellisClient``)::

    link = AuthorizeLink(client)          # step 1: parameters, link
    catcher = RedirectCatcher(link)       # steps 2-3: paste, "Exchange code"
    TokenInspector(link); RefreshPanel(link); ApiCaller(link); NetworkLog(link)

The widgets hold presentation only; every request, check and rule lives in the protocol
layer. Nothing secret is ever put in a widget's state, which is what a notebook saves:
tokens, codes and the API Secret are shortened or hidden in everything shown (see
:meth:`Flow.redact`), the pasted redirect URL and the API Secret are read and their input
fields emptied at once, and the copy buttons copy the shown (shortened) text.

Stable CSS classes, for styling and for browser tests:

=========================  ===========================================================
``fnb-widget``             every widget of this package
``fnb-playground``         the Playground
``fnb-progress``           the playground's progress through the five steps
``fnb-authorize-link``     the HTML holding the ``<a class="fnb-authorize-anchor">`` link
``fnb-parameters``         the authorize URL's parameters, explained
``fnb-redirect-input``     the text box to paste the redirect URL into
``fnb-exchange-button``    the "Exchange code" button
``fnb-signin-button``      the "Sign in for me (sandbox)" button
``fnb-parsed``             the code and state as parsed, and the state check
``fnb-code-countdown``     the code's 60 seconds
``fnb-token-tabs``         the access / ID / refresh token tabs
``fnb-jwt``                a token drawn as jwt.io draws it (``fnb-jwt-header``, ``-payload``, ``-signature``)
``fnb-claims``             a token's header and claims with their meaning
``fnb-checklist``          the verification checks, each ``fnb-pass`` / ``fnb-fail`` / ``fnb-na``
``fnb-expiry``             the countdown to the access token's expiry
``fnb-raw-button``         "Show the raw JSON response"; ``fnb-raw`` the response
``fnb-refresh-button``     the "Refresh token" button; ``fnb-changes`` what changed
``fnb-api-headers``        the headers about to be sent
``fnb-api-button``         the "Call API" button
``fnb-api-response``       the API's response and its echoed Request-Id
``fnb-curl``               a request as curl or Python, with a ``fnb-copy`` button
``fnb-error``              an error box: what happened, why, what to do
``fnb-notes``              warnings of the last action
``fnb-network-log``        every HTTP exchange so far
``fnb-settings-button``    "Use these settings"; ``fnb-secret-input`` the API Secret field
=========================  ===========================================================
"""

from .api import ApiCaller
from .authorize import AuthorizeLink
from .curl import RequestView
from .errors import ErrorBox
from .flow import Flow
from .inspector import TokenInspector, jwt_html
from .network import NetworkLog
from .playground import Playground
from .redirect import RedirectCatcher
from .refresh import RefreshPanel
from .settings import SettingsForm

__all__ = [
    "ApiCaller", "AuthorizeLink", "ErrorBox", "Flow", "NetworkLog", "Playground", "RedirectCatcher",
    "RefreshPanel", "RequestView", "SettingsForm", "TokenInspector", "jwt_html",
]
