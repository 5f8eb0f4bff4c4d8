"""A ``requests.Session`` that calls Fortellis APIs on a signed-in user's behalf and keeps
its tokens fresh by itself: what a backend uses after the code exchange.

    session = client.session()                       # after client.exchange_code(...)
    session.get("/sandbox/v1/dealership").json()     # a path under the API base URL

Every request gets ``Authorization: Bearer``, ``Subscription-Id`` (when one is configured)
and a fresh ``Request-Id``. Shortly before the access token expires the session refreshes
it first; a ``401 TOKEN-EXPIRED`` from the gateway (a clock that disagrees, a token revoked
early) makes it refresh once and send the request again. A rotated refresh token replaces
the old one in the client (store ``client.tokens.refresh_token`` after each refresh if your
backend keeps tokens elsewhere). Threads may share one session: one refresh at a time, and
a thread that waited for another's refresh uses its result instead of refreshing again.
Every exchange, the API calls and the refreshes, is in ``client.transcript``.
"""

from __future__ import annotations

import time
import uuid
import weakref

import requests

from . import api, deadline, errors, hints
from .transcript import Exchange, fill_exchange, proxies_for

#: Refresh this many seconds before expiry at most (a tenth of the token's lifetime when shorter).
REFRESH_MARGIN = 60.0


class FortellisAuth(requests.auth.AuthBase):
    """The three Fortellis headers on a request, with a token refreshed when need be."""

    def __init__(self, client, *, subscription_id: str | None = None, margin: float = REFRESH_MARGIN):
        self.client = client
        self.subscription_id = subscription_id
        self.margin = margin
        self.refreshes = 0  # how many refreshes this auth made (before expiry or on TOKEN-EXPIRED)
        self._retries: weakref.WeakSet[requests.PreparedRequest] = weakref.WeakSet()  # each retried once only

    # -- tokens ------------------------------------------------------------------------
    def _stale(self, current) -> bool:
        if current.expires_at is None:
            return False
        lifetime = current.expires_at - current.received_at
        return self.client.clock() >= current.expires_at - min(self.margin, lifetime / 10)

    def access_token(self) -> str:
        """The current access token, refreshed first when it is about to expire."""
        current = self.client.tokens
        if current is None:
            raise errors.ConfigurationError("No tokens yet: the session calls APIs for a signed-in user.",
                                            hint="Exchange a code first (client.exchange_code), then client.session().")
        if self._stale(current):
            self._refresh_unless_done(current.access_token)
        return self.client.tokens.access_token

    def _refresh_unless_done(self, stale_token: str) -> None:
        with self.client.refresh_lock:
            if self.client.tokens.access_token == stale_token:  # no other thread refreshed meanwhile
                self.client.refresh()
                self.refreshes += 1

    # -- requests' hooks ---------------------------------------------------------------------
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        base = self.client.config.api_base_url
        if not base or not request.url or not api.under_base(request.url, base):
            raise errors.ConfigurationError(
                f"{request.url} is not under the API base URL {base!r}: the session sends the access token "
                "only to the configured API.", hint=f"{hints.PASS_A_PATH}.")
        token = self.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        subscription_id = self.subscription_id or self.client.config.subscription_id
        if subscription_id and "Subscription-Id" not in request.headers:
            request.headers["Subscription-Id"] = subscription_id
        if "Request-Id" not in request.headers:
            request.headers["Request-Id"] = str(uuid.uuid4())
        request.register_hook("response", self._on_response)
        return request

    def _on_response(self, response: requests.Response, **send_options) -> requests.Response:
        self._record(response)
        if response.status_code != 401 or _gateway_code(response) != "TOKEN-EXPIRED" \
                or response.request in self._retries:
            return response
        sent = response.request.headers["Authorization"].removeprefix("Bearer ")
        self._refresh_unless_done(sent)
        retry = response.request.copy()
        self._retries.add(retry)
        retry.headers["Authorization"] = f"Bearer {self.client.tokens.access_token}"
        retry.headers["Request-Id"] = str(uuid.uuid4())
        retry.hooks = {"response": []}  # recorded below; retried once, not again
        response.content  # noqa: B018 - read it, so the connection goes back to the pool
        response.close()
        answer = response.connection.send(retry, **send_options)
        answer.history.append(response)
        answer.request = retry
        self._record(answer)
        return answer

    def _record(self, response: requests.Response) -> None:
        exchange = Exchange(method=response.request.method or "GET", url=response.request.url or "", request_headers={},
                            label="Call the API (session)", started_at=time.time() - response.elapsed.total_seconds())
        exchange.elapsed = response.elapsed.total_seconds()
        self.client.transcript.record(fill_exchange(exchange, response))


def _gateway_code(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


class FortellisSession(requests.Session):
    """``requests.Session`` with :class:`FortellisAuth`; a path is taken under the API base URL."""

    def __init__(self, client, *, subscription_id: str | None = None, margin: float = REFRESH_MARGIN,
                 timeout: float = 10.0):
        super().__init__()
        self.client = client
        self.auth = FortellisAuth(client, subscription_id=subscription_id, margin=margin)
        #: The deadline for the whole answer (connecting, the headers and the body together).
        self.timeout = timeout
        deadline.with_deadlines(self)
        self.headers["Accept"] = "application/json"

    def request(self, method, url, *args, **kwargs):
        if not str(url).startswith(("http://", "https://")):
            url = api.api_url(self.client.config.api_base_url, str(url))
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("proxies", proxies_for(str(url)))
        try:
            return super().request(method, url, *args, **kwargs)
        except requests.RequestException as exc:
            if not deadline.passed():
                raise
            raise requests.exceptions.Timeout(f"{method} {url}: no complete answer within "
                                              f"{deadline.total(kwargs['timeout']):g} s (connecting, the headers "
                                              "and the body together).", request=exc.request) from None
