"""The whole flow in one widget: every step, a progress bar of where the learner is, and
the network log. ``Playground().run_unattended()`` runs it all with no person (sandbox)."""

from __future__ import annotations

import html as _html

import ipywidgets as widgets

from .api import ApiCaller
from .authorize import AuthorizeLink
from .base import StepWidget, html
from .inspector import TokenInspector
from .network import NetworkLog
from .redirect import RedirectCatcher
from .refresh import RefreshPanel
from .settings import SettingsForm

#: The steps in order, each with the Flow trait that records it done.
STEPS = (
    ("Authorize URL", "request"),
    ("Sign in, paste the redirect", "redirect"),
    ("Exchange the code", "tokens"),
    ("Refresh the token", "previous_tokens"),
    ("Call the API", "api_response"),
)
#: Where the exchange is in STEPS. The steps up to it lead to each other (no tokens without a
#: code, no code without an authorize URL), so any later step recorded counts them done; a
#: refresh and an API call are each done only when the flow recorded them (neither needs the
#: other). From the exchange on, the steps hold or use the tokens: a revocation undoes them.
EXCHANGE = 2


def steps_done(flow) -> list[bool]:
    """For each of STEPS, whether ``flow`` recorded it done."""
    recorded = [getattr(flow, trait) is not None for _, trait in STEPS]
    return [recorded[index] or (index <= EXCHANGE and any(recorded[index:])) for index in range(len(STEPS))]


class Playground(StepWidget):
    """Every step of the authorization code flow, chained over one client."""

    css_class = "fnb-playground"
    title = "the authorization code flow"

    def __init__(self, client=None, *, scopes="openid offline_access", pkce: bool = False, live: bool = True,
                 clock=None):
        self._start(client, None, live, clock)
        flow = self.flow
        self.progress = html("fnb-progress")
        self.settings = SettingsForm(flow)
        self.settings_panel = widgets.Accordion([self.settings], titles=("Settings: issuer, API Key, API Secret",))
        self.settings_panel.selected_index = None
        self.authorize = AuthorizeLink(flow, scopes=scopes, pkce=pkce)
        self.catcher = RedirectCatcher(self.authorize)
        self.inspector = TokenInspector(flow)
        self.refresher = RefreshPanel(flow)
        self.catcher.watch(self.refresher.scope_input, self.refresher)
        self.caller = ApiCaller(flow)
        self.network = NetworkLog(flow)
        flow.observe(lambda change: self._render_progress(), [trait for _, trait in STEPS] + ["revoked"])

        def heading(number, text):
            return html(value=f"<h3>{_html.escape(number)} {_html.escape(text)}</h3>")

        self._finish([
            html(value="<h3>The Fortellis authorization code flow</h3>"), self.progress, self.settings_panel,
            heading("1.", "The authorize URL"), self.authorize,
            heading("2.", "Sign in and paste the redirect; 3. exchange the code"), self.catcher,
            heading("", "The tokens"), self.inspector,
            heading("4.", "Refresh"), self.refresher,
            heading("5.", "Call an API"), self.caller,
            heading("", "Network: every HTTP exchange"), self.network])
        self._render_progress()

    @property
    def steps(self):
        return (self.settings, self.authorize, self.catcher, self.inspector, self.refresher, self.caller,
                self.network)

    @property
    def sign_in_button(self) -> widgets.Button:
        return self.catcher.signin_button

    @property
    def progress_text(self) -> str:
        if self.flow.revoked:
            return f"The tokens were revoked ({self.flow.revoked}): sign in again (step 2)."
        done = steps_done(self.flow)
        if all(done):
            return f"All {len(STEPS)} steps done."
        next_step = done.index(False)
        return f"Step {next_step + 1} of {len(STEPS)}: {STEPS[next_step][0]}."

    def _render_progress(self) -> None:
        done = steps_done(self.flow)
        next_step = done.index(False) if not all(done) else None
        items = []
        for index, (name, _) in enumerate(STEPS):
            number = index + 1
            if self.flow.revoked and index >= EXCHANGE and done[index]:
                items.append(f'<li class="fnb-failed">&#10008; {number}. {name} (revoked)</li>')
            elif done[index]:
                items.append(f'<li class="fnb-done">&#10004; {number}. {name}</li>')
            elif index == next_step:
                items.append(f'<li class="fnb-current" aria-current="step">&#9654; {number}. {name}</li>')
            else:
                items.append(f"<li>{number}. {name}</li>")
        self.progress.value = (f'<div role="status"><ol>{"".join(items)}</ol>'
                               f'<div class="fnb-muted">{_html.escape(self.progress_text)}</div></div>')

    def tick(self) -> None:
        """Update every countdown from the flow's clock."""
        self.catcher.tick()
        self.inspector.tick()

    def run_unattended(self, *, refresh: bool = True, call_api: bool = True) -> Playground:
        """Every step with no person: sign in (sandbox only), exchange, refresh, call the API.

        A step that fails shows its error in its own box and the later steps are skipped.
        """
        self.catcher.signin_button.click()
        if self.flow.redirect is None:
            return self
        self.catcher.exchange_button.click()
        if self.flow.tokens is None:
            return self
        if refresh and self.flow.tokens.refresh_token:
            self.refresher.refresh_button.click()
        if call_api:
            self.caller.call_button.click()
        return self

    def close(self) -> None:
        for step in self.steps:
            step.close()
        super().close()
        self.flow.close()
