"""More apps on the sandbox: its second demo app (which asks for consent), and apps
registered for a lesson (public, rotating refresh tokens, a low rate limit...)."""

from __future__ import annotations

from ..oauth import FortellisClient, errors
from . import pages
from .client import SandboxClient


def consent_app(client: FortellisClient) -> SandboxClient:
    """A client for the sandbox's second demo app, which asks the user's consent (Allow, Don't
    allow) after the sign-in, as apps registered with Okta's consent_method REQUIRED do."""
    from ..sandbox import running_sandbox

    state_dir = (client.config.sandbox or {}).get("state_dir")
    info = running_sandbox(state_dir) if state_dir else None
    if info is None or not info.consent_api_key:
        raise errors.SandboxOnlyError(
            "The consent demo app is the sandbox's; this notebook is not using a sandbox of its own here.",
            hint="Register an app that requires consent, or run on the sandbox.")
    return SandboxClient(client.config.replace(api_key=info.consent_api_key, api_secret=info.consent_api_secret))


def sandbox_app(client: FortellisClient, name: str, *, public: bool = False, **registration) -> SandboxClient:
    """Register another app with the sandbox and return a client for it: a confidential app,
    or a public one (``public=True``: no API Secret, PKCE always). Other fields of the
    registration (``rate_limit_per_minute``, ``consent_method``, ``redirect_uris``) pass
    through; the redirect URI is this client's unless given."""
    base_url = (client.config.sandbox or {}).get("base_url")
    if not base_url:
        raise errors.SandboxOnlyError("Apps are registered with the sandbox only; this client talks to a real server.",
                                      hint="Register a real app in the Fortellis developer portal.")
    fields = {"name": name, "redirect_uris": [client.config.redirect_uri], "public": public, **registration}
    made = pages.register_app(base_url, fields, client.http)
    # A new app has no dealer's subscription yet: `test`, the sample dealership, serves every app.
    return SandboxClient(client.config.replace(api_key=made["api_key"], api_secret=made.get("api_secret"),
                                               redirect_uri=fields["redirect_uris"][0], subscription_id="test"),
                         http=client.http)
