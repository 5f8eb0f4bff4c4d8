"""The app's settings: issuer, API Key, API Secret (a password field), redirect URI,
Subscription-Id. The secret is read into the client's settings and the field emptied at
once, so it never stays in the widget state or a saved notebook."""

from __future__ import annotations

from html import escape

import ipywidgets as widgets

from ..local import SandboxClient, recognise
from ..oauth import errors
from ..oauth.config import Config, settings_origin
from ..oauth.hints import BACK_TO_SANDBOX
from ..oauth.tokens import looks_swapped
from .base import LABEL_STYLE, WIDE, StepWidget, html

SECRET_SET = "API Secret set (hidden)"


def where_set(config: Config) -> str:
    """What the form starts with: where its settings come from and, when the FORTELLIS_*
    settings name them, the way back to the sandbox."""
    origin = settings_origin(config.sources)
    if origin:
        return f"{SECRET_SET}. Set by {origin}. {BACK_TO_SANDBOX}"
    return f"{SECRET_SET}; source: {config.sources.get('api_secret', '-')}"


class SettingsForm(StepWidget):
    """Change the app the flow runs as; "Use these settings" applies them."""

    css_class = "fnb-settings"
    title = "the app's settings"

    def __init__(self, source=None, *, client=None, live: bool = True, clock=None):
        self._start(source, client, live, clock)
        config = self.client.config
        layout = dict(style=LABEL_STYLE, layout=widgets.Layout(**WIDE), continuous_update=False)
        self.issuer_input = widgets.Text(value=config.issuer, description="Issuer",
                                         placeholder="https://identity.fortellis.io/oauth2/aus1p1ixy7YL8cMq02p7",
                                         **layout)
        self.api_key_input = widgets.Text(value=config.api_key, description="API Key", **layout)
        self.api_secret_input = widgets.Password(value="", description="API Secret",
                                                 placeholder="set (hidden): type to replace it", **layout)
        self.api_secret_input.add_class("fnb-secret-input")
        self.redirect_uri_input = widgets.Text(value=config.redirect_uri or "", description="Redirect URI",
                                               placeholder="https://example.com/", **layout)
        self.subscription_input = widgets.Text(value=config.subscription_id or "", description="Subscription-Id",
                                               **layout)
        self.apply_button = widgets.Button(description="Use these settings", icon="check")
        self.apply_button.add_class("fnb-settings-button")
        self.swap_button = widgets.Button(description="Swap API Key and API Secret", icon="exchange",
                                          tooltip="Make the tutorial's mistake on purpose (the secret stays hidden)")
        self.swap_button.add_class("fnb-swap-button")
        self.swapped = False
        self.status = html("fnb-settings-status")
        self.apply_button.on_click(lambda button: self.apply())
        self.swap_button.on_click(lambda button: self.swap())
        self._finish([self.issuer_input, self.api_key_input, self.api_secret_input, self.redirect_uri_input,
                      self.subscription_input, widgets.HBox([self.apply_button, self.swap_button]), self.error,
                      self.notes, self.status])
        self.status.value = f"<span class='fnb-muted'>{escape(where_set(config))}</span>"

    def swap(self):
        """Swap the API Key and the API Secret in the client's settings (the tutorial's `API Secret:API
        Key` mistake, made on purpose); again to swap them back. The secret never enters a field."""
        def work():
            current = self.client.config
            config = current.replace(api_key=current.api_secret, api_secret=current.api_key)
            self.client.config = config
            self.flow.settings_changed()
            return config

        ok, config = self._attempt("Swapping the API Key and API Secret", work)
        if not ok:
            return None
        self.swapped = not self.swapped
        with self.api_key_input.hold_sync():
            self.api_key_input.value = "(the API Secret: swapped, hidden)" if self.swapped else config.api_key
            self.api_key_input.disabled = self.swapped
        self.swap_button.description = "Swap them back" if self.swapped else "Swap API Key and API Secret"
        self.status.value = ("<span class='fnb-fail'>The API Key and API Secret are swapped: the token endpoint "
                             "will answer invalid_client.</span>" if self.swapped else
                             f"<span class='fnb-pass'>&#10004; Settings in use; {SECRET_SET}.</span>")
        return config

    def apply(self):
        """Read the fields into the client's settings; returns the Config, or None with the error shown."""
        if self.swapped:  # the key field holds a placeholder, not a key
            self.swap()
        typed = self.api_secret_input.value
        with self.api_secret_input.hold_sync():
            self.api_secret_input.value = ""  # the secret lives in the kernel only
        self.flow.remember(typed)
        current = self.client.config
        issuer = self.issuer_input.value.strip()
        api_key = self.api_key_input.value.strip()

        def work():
            secret = typed.strip()
            if not secret:
                if issuer != current.issuer or api_key != current.api_key:
                    raise errors.ConfigurationError(
                        "The API Secret is not set.",
                        hint="A new API Key or issuer needs its API Secret too; type it in the API Secret field.")
                secret = current.api_secret
            values = dict(issuer=issuer, api_key=api_key, api_secret=secret,
                          redirect_uri=self.redirect_uri_input.value.strip() or None,
                          subscription_id=self.subscription_input.value.strip() or None)
            if issuer == current.issuer:
                # Same server: keep the flow going (pending states, tokens, transcript).
                config = current.replace(**values)
                self.client.config = config
                self.flow.settings_changed()
                return config
            client = recognise(SandboxClient(Config(**values), clock=self.client.clock))
            self.flow.use_client(client)
            return client.config

        ok, config = self._attempt("Applying the settings", work)
        if ok:
            self.status.value = f"<span class='fnb-pass'>&#10004; Settings in use; {SECRET_SET}.</span>"
            if looks_swapped(config.api_key, config.api_secret):
                self.notes.show(["The API Key looks like an API Secret, and the API Secret like an API Key: are they "
                                 "swapped? The client_id is the API Key (the tutorial's `API Secret:API Key` is a known "
                                 "mistake); the token endpoint will answer invalid_client."])
        return config
