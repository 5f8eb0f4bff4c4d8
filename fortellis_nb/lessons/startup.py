"""The start of a lesson: a client for this notebook, and the steps an earlier notebook taught,
caught up on in one go."""

from __future__ import annotations

from .. import local
from ..local import SandboxClient, sandbox_client
from ..oauth import FortellisClient
from ..oauth.config import not_the_sandbox, settings_origin
from ..oauth.errors import SandboxOnlyError
from ..oauth.hints import CODE_LIFETIME
from .reports import install_friendly_errors


def start(**settings) -> SandboxClient:
    """A client for this notebook: the sandbox unless FORTELLIS_* settings say otherwise
    (:func:`fortellis_nb.local.start`), with errors shown as reports from here on. When they do,
    it says so: which server, where that was set, and the way back to the sandbox."""
    install_friendly_errors()
    client = local.start(**settings)
    if not client.is_sandbox and settings_origin(client.config.sources):
        _say(not_the_sandbox(client.config.issuer, client.config.sources))
    return client


def _say(text: str) -> None:
    """``text`` as Markdown in a notebook (its `code` marks shown as code), else printed."""
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is None:
        print(text)
        return
    from IPython.display import Markdown, display
    display(Markdown(text))


def _sign_in_headless(client: FortellisClient, request) -> str:
    if isinstance(client, SandboxClient):
        try:
            return client.sign_in_headless(request)
        except SandboxOnlyError:
            pass
    raise SandboxOnlyError(
        "Against real Fortellis a person must sign in.",
        hint=f"Open this link, sign in, and call catch_up(client, pasted_url='...') with the address "
             f"you land on, within {CODE_LIFETIME} seconds: {request.url}")


def catch_up(client: FortellisClient, scopes: str = "openid offline_access", pasted_url: str = ""):
    """Steps 1 to 3 in one go, for a notebook opened on its own: authorize, sign in, exchange.

    On the sandbox the sign-in is done headless; against real Fortellis a person signs in:
    open the printed link, then call again with ``pasted_url=`` the address you landed on."""
    request = client.authorization_url(scopes=scopes)
    if not pasted_url:
        pasted_url = _sign_in_headless(client, request)
    return client.exchange_code(client.parse_redirect(pasted_url))


def tokens_in_profile(profile: str = "fortellis-2022", scopes: str = "openid offline_access"):
    """Tokens from a sandbox that issues the other shape Fortellis has used (``profile``, see
    ``fortellis_nb.sandbox.Settings.token_profile``): a private sandbox started for the moment,
    the whole flow against it, the tokens verified by the library, the sandbox stopped."""
    import tempfile

    from ..sandbox import Sandbox, Settings

    with tempfile.TemporaryDirectory(prefix="fortellis-profile-") as state, \
            Sandbox(Settings(state_dir=state, token_profile=profile)) as sandbox:
        client = sandbox_client(sandbox.info)
        request = client.authorization_url(scopes=scopes)
        return client.exchange_code(client.parse_redirect(client.sign_in_headless(request)))
