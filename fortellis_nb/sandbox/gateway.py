"""A sample API behind a gateway in the style of Fortellis' (api.fortellis.io): it wants
``Authorization: Bearer``, a ``Subscription-Id`` of the app's, and echoes ``Request-Id``.

Its refusals carry Fortellis' gateway error codes with the cause Fortellis' documentation
gives for each (general/making-calls/fortellis-error-codes.md, updated 2022-08). That page
gives no HTTP status and no body: the statuses here are the sandbox's choice (401 for a
token the gateway cannot accept, 400 for a missing Subscription-Id, 403 for one it will
not serve or an API the app did not add, 404 for an API that does not exist, 429 past the
app's quota), and so is the body ``{"code", "message",
"requestId"}`` (docs/fidelity.md)."""

from __future__ import annotations

import re
import uuid

from . import marketplace
from .authority import ACCESS_TOKEN_AUDIENCE
from .jwt_rs256 import TokenInvalid, verify
from .web import SandboxHandler

REQUEST_ID = re.compile(r"[A-Za-z0-9\-_.:]{1,128}")

CUSTOMERS = (
    {"customerId": "C-1001", "name": "Avery Chen", "vehicle": "2021 Sandbox Roadster"},
    {"customerId": "C-1002", "name": "Jordan Patel", "vehicle": "2019 Sandbox Hauler"},
    {"customerId": "C-1003", "name": "Sam Okafor", "vehicle": "2023 Sandbox Sedan"},
)

# Each code with Fortellis' documented cause, as the message.
CAUSES = {
    "API-DOES-NOT-EXIST": (404, "The app cannot access this endpoint because the endpoint doesn't exist."),
    "UNAUTHORIZED-API-ACCESS": (403, "The App Developers has not requested access to this API."),
    "MISSING-AUTHORIZATION": (401, "The App Developer didn't include the authorization header in the request to "
                                   "the API."),
    "INVALID-TOKEN": (401, "The App Developer has a JSON Web Token that isn't valid."),
    "TOKEN-EXPIRED": (401, "The app's token has expired."),
    "TOKEN-ISSUER-MISMATCH": (401, "The App Developer retrieved a token from an authorization server that is not "
                                   "{issuer}."),
    "TOKEN-AUDIENCE-MISMATCH": (401, "The App Developer retrieved a token with the wrong audience."),
    "QUOTA-EXCEEDED": (429, "The app has made the maximum number of calls to the API allowed."),
    "MISSING-SUBSCRIPTION-ID": (400, "The App Developer didn't include the Subscription-Id header."),
    "SUBSCRIPTION-MISMATCH": (403, "The App Developer provides a Subscription-Id that's not associated with the API."),
    "API-SUBSCRIPTION-INACTIVE": (403, "API Developers must approve each subscription before the subscription can "
                                       "be active."),
}


class GatewayRefusal(Exception):
    """The gateway's refusal of a call: one of CAUSES, its values filled in (not the client's
    ``oauth.errors.GatewayError``, which is how a client sees such a refusal)."""

    def __init__(self, code: str, **values):
        status, message = CAUSES[code]
        super().__init__(message)
        self.status, self.code, self.message = status, code, message.format(**values)


class GatewayHandler(SandboxHandler):
    """An address under ``/api/``: every answer carries the call's Request-Id. The sample API
    only reads: any other method, like any path that is no resource, is an API there is not."""

    def prepare(self):
        incoming = self.request.headers.get("Request-Id", "").strip()
        # The gateway makes an id up when the caller sent none (or one it cannot echo safely).
        self.request_id = incoming if REQUEST_ID.fullmatch(incoming) else str(uuid.uuid4())
        self.set_header("Request-Id", self.request_id)

    def refuse(self, err: GatewayRefusal):
        if err.status == 401:
            self.set_header("WWW-Authenticate", f'Bearer error="invalid_token", error_description="{err.code}"')
        self.send_json({"code": err.code, "message": err.message, "requestId": self.request_id}, err.status)

    def no_such_api(self, *args):
        return self.refuse(GatewayRefusal("API-DOES-NOT-EXIST"))

    post = put = delete = patch = no_such_api

    def authorized_call(self):
        """(token claims, subscription) of a call the gateway lets through, counted for its app;
        None after refusing it."""
        try:
            claims = self.check_token()
            subscription = self.check_subscription(claims)
        except GatewayRefusal as err:
            self.refuse(err)
            return None
        self.store.count(claims["cid"], "api_call", self.now)
        return claims, subscription

    def check_token(self) -> dict:
        header = self.request.headers.get("Authorization", "")
        if not header.strip():
            raise GatewayRefusal("MISSING-AUTHORIZATION")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise GatewayRefusal("INVALID-TOKEN")
        try:
            claims = verify(token.strip(), self.authority.published_keys())
        except TokenInvalid:
            raise GatewayRefusal("INVALID-TOKEN") from None
        if claims.get("iss") != self.authority.issuer:
            raise GatewayRefusal("TOKEN-ISSUER-MISMATCH", issuer=self.authority.issuer)
        if claims.get("aud") != ACCESS_TOKEN_AUDIENCE:
            raise GatewayRefusal("TOKEN-AUDIENCE-MISMATCH")
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= self.authority.now_for(claims.get("cid")):
            raise GatewayRefusal("TOKEN-EXPIRED")
        if self.store.access_token_revoked(str(claims.get("jti"))):
            raise GatewayRefusal("INVALID-TOKEN")
        return claims

    def check_subscription(self, claims: dict):
        """The subscription the call is for, once marketplace.refusal lets the app call for it."""
        subscription_id = self.request.headers.get("Subscription-Id", "").strip()
        if not subscription_id:
            raise GatewayRefusal("MISSING-SUBSCRIPTION-ID")
        code = marketplace.refusal(self.store, self.store.known_app(claims["cid"]), subscription_id)
        if code is not None:
            raise GatewayRefusal(code)
        return self.store.subscription(subscription_id)


class NoSuchApi(GatewayHandler):
    """Any path under ``/api/`` that is not one of the sample API's resources."""

    get = GatewayHandler.no_such_api


class Dealership(GatewayHandler):
    """``GET /api/sandbox/v1/dealership``: the subscribed dealership, and who is calling."""

    def get(self):
        call = self.authorized_call()
        if call is None:
            return
        claims, subscription = call
        caller = {"apiKey": claims["cid"], "user": claims.get("sub") if "uid" in claims else None,
                  "scopes": claims.get("scp", [])}
        self.send_json({"subscriptionId": subscription["id"], "dealership": subscription["dealership"],
                        "caller": caller, "requestId": self.request_id})


class Customers(GatewayHandler):
    """``GET /api/sandbox/v1/customers``: the dealership's customers."""

    def get(self):
        call = self.authorized_call()
        if call is None:
            return
        _, subscription = call
        self.send_json({"subscriptionId": subscription["id"], "items": list(CUSTOMERS), "count": len(CUSTOMERS),
                        "requestId": self.request_id})
