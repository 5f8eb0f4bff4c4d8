"""Step 4: call an API with the token, the Subscription-Id and a fresh Request-Id."""

from __future__ import annotations

import html as _html
import json
import uuid

import ipywidgets as widgets

from ..local import recognise
from ..oauth import api
from ..oauth.transcript import Exchange
from .base import LABEL_STYLE, WIDE, StepWidget, html
from .curl import RequestView

SANDBOX_PATH = "/sandbox/v1/dealership"


class ApiCaller(StepWidget):
    """Subscription-Id, path, the headers about to be sent, "Call API", and the response."""

    css_class = "fnb-api"
    title = "step 4: call an API"

    def _on_a_sandbox(self) -> bool:
        """The sandbox's sample API is the default path on any sandbox: this kernel's, or a room's
        named by FORTELLIS_* settings (recognised by its health page; never asked of https; an
        unreachable one is not recognised, and the learner types the path)."""
        return recognise(self.client).is_sandbox

    def __init__(self, source=None, *, client=None, path: str | None = None, live: bool = True, clock=None):
        self._start(source, client, live, clock)
        config = self.client.config
        self.subscription_input = widgets.Text(
            value=config.subscription_id or "", description="Subscription-Id", continuous_update=False,
            placeholder="the dealer's subscription to your app (a UUID)", style=LABEL_STYLE,
            layout=widgets.Layout(**WIDE))
        self.path_input = widgets.Text(
            value=path if path is not None else (SANDBOX_PATH if self._on_a_sandbox() else ""), description="Path",
            continuous_update=False, placeholder="/sales/v1/...", style=LABEL_STYLE, layout=widgets.Layout(**WIDE))
        self.headers = html("fnb-api-headers")
        self.preview = RequestView(redact=self.flow.redact, title="The API request")
        self.call_button = widgets.Button(description="Call API", button_style="primary",
                                          tooltip="Send the request with these headers")
        self.call_button.add_class("fnb-api-button")
        self.response = html("fnb-api-response")
        self.request_id = str(uuid.uuid4())
        self.result = None
        for box in (self.subscription_input, self.path_input):
            box.observe(lambda change: self._render_preview(), "value")
        self.flow.observe(lambda change: self._render_preview(), "tokens")
        self.flow.observe(self._on_settings, "settings_version")
        self.call_button.on_click(lambda button: self.call())
        self._finish([self.subscription_input, self.path_input, self.headers, self.preview, self.call_button,
                      self.error, self.notes, self.response])
        self._render_preview()

    def _on_settings(self, change) -> None:
        self.subscription_input.value = self.client.config.subscription_id or ""

    def _url(self) -> str:
        return api.api_url(self.client.config.api_base_url, self.path_input.value.strip())

    def _render_preview(self) -> None:
        tokens = self.flow.tokens
        subscription = self.subscription_input.value.strip() or None
        headers = api.request_headers(tokens.access_token if tokens else "", subscription, self.request_id)
        try:
            url = self._url()
        except Exception as error:
            url = f"(no URL: {getattr(error, 'description', error)})"
        shown = Exchange(method="GET", url=url, request_headers=headers).as_dict()["request_headers"]
        notes = {"Authorization": "the access token (shortened here)" if tokens else
                 "no access token yet: exchange a code first",
                 "Subscription-Id": "which dealer's data: the subscription that activated your app",
                 "Request-Id": "a fresh UUID for this request; the gateway echoes it back",
                 "Accept": "ask for JSON"}
        rows = "".join(f"<tr><td><code>{_html.escape(k)}</code></td><td><code>{_html.escape(v)}</code></td>"
                       f"<td>{_html.escape(notes.get(k, ''))}</td></tr>" for k, v in shown.items())
        missing = "" if subscription else ('<div class="fnb-note">No Subscription-Id: the gateway will answer '
                                           "MISSING-SUBSCRIPTION-ID.</div>")
        self._set(self.headers, f"<div><strong>GET</strong> <code>{_html.escape(url)}</code></div>"
                                '<table class="fnb-table"><tr><th>header about to be sent</th><th>value</th>'
                                f"<th>why</th></tr>{rows}</table>{missing}")
        self.preview.show(Exchange(method="GET", url=url, request_headers=headers))

    def call(self):
        """Send the request; returns the ApiResponse, or None with the error shown."""
        tokens = self.flow.tokens
        request_id = self.request_id
        subscription = self.subscription_input.value.strip() or None

        def work():
            # Through the client, as an app calls: the token goes only under the configured API base URL.
            return self.client.call_api(self.path_input.value.strip(),
                                        access_token=tokens.access_token if tokens else "",
                                        subscription_id=subscription, request_id=request_id,
                                        omit=() if subscription else ("Subscription-Id",))

        ok, result = self._attempt("Calling the API", work)
        self.result = result
        if ok:
            self.flow.api_response = result
            self._render_response(result.status, request_id, result.echoed_request_id, result.data, result.exchange)
        else:
            exchange = getattr(self.error.error, "exchange", None)
            if exchange is not None:
                try:
                    data = exchange.json()
                except Exception:
                    data = exchange.response_body[:500]
                self._render_response(exchange.status, request_id, exchange.header("Request-Id"), data, exchange)
            else:
                self.response.value = ""
        self.request_id = str(uuid.uuid4())  # a fresh one for the next call
        self._render_preview()
        return result

    def _render_response(self, status, sent_id, echoed_id, data, exchange) -> None:
        same = echoed_id == sent_id
        echo = ('<span class="fnb-pass">&#10004; the same as sent</span>' if same else
                f'<span class="fnb-fail">&#10008; not the Request-Id sent ({_html.escape(sent_id)})</span>')
        kind = "fnb-ok-box" if exchange is not None and exchange.ok else "fnb-error-box"
        body = data if isinstance(data, str) else json.dumps(data, indent=2)
        elapsed = f" in {exchange.elapsed * 1000:.0f} ms" if exchange is not None else ""
        self._set(self.response, (
            f'<div class="{kind}"><div><strong>HTTP {status}</strong>{elapsed}</div>'
            f"<div>Request-Id sent: <code>{_html.escape(str(sent_id))}</code>, echoed: "
            f"<code>{_html.escape(str(echoed_id))}</code> {echo}</div>"
            "<div class=\"fnb-muted\">The headers above are already those of the next call, with a fresh "
            "Request-Id.</div></div>"
            f"<pre>{_html.escape(body)}</pre>"))
