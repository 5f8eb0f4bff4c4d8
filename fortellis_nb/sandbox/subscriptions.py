"""Fortellis' Subscriptions service (``https://subscriptions.fortellis.io``), served under
``/subscriptions`` of the sandbox: an app finds its subscriptions and their context with an
access token of its own (``marketplace.py`` has the rules, ``docs/fidelity.md`` what the docs
leave open). The token is checked as the gateway checks it, and refused with its codes."""

from __future__ import annotations

from . import marketplace
from .gateway import GatewayHandler, GatewayRefusal

#: Where the service lives in the sandbox: its base URL is the sandbox's plus this.
BASE_PATH = "/subscriptions"


class ServiceHandler(GatewayHandler):
    """A resource of the service: GET with the app's token, anything else does not exist."""

    def caller(self):
        """The calling app (the token's ``cid``, its API Key); None after refusing the call."""
        try:
            claims = self.check_token()
        except GatewayRefusal as err:
            self.refuse(err)
            return None
        return self.store.known_app(claims["cid"])


class SolutionSubscriptions(ServiceHandler):
    """``GET /v1/solution/subscriptions[?entityId=...&orgId=...]``: the app's subscriptions."""

    def get(self):
        app = self.caller()
        if app is None:
            return
        filters = {name: self.get_query_argument(arg, None) for name, arg in (("entity_id", "entityId"),
                                                                              ("org_id", "orgId"))}
        self.send_json(marketplace.listing(self.store, app.api_key, **filters))


class SubscriptionContext(ServiceHandler):
    """``GET /subscriptions/{subscriptionId}/context``: who subscribed, where, to which app."""

    def get(self, subscription_id: str):
        app = self.caller()
        if app is None:
            return
        answer = marketplace.context(self.store, app, subscription_id)
        if answer is None:
            return self.refuse(GatewayRefusal("SUBSCRIPTION-MISMATCH"))
        self.send_json(answer)


class NoSuchResource(ServiceHandler):
    """Any other path under the service's base."""

    get = GatewayHandler.no_such_api
