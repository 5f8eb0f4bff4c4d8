"""A sample API behind a gateway in the style of Fortellis' (api.fortellis.io): it wants
``Authorization: Bearer``, a ``Subscription-Id`` the app holds, and echoes ``Request-Id``."""

from __future__ import annotations

import re
import uuid

from .authority import ACCESS_TOKEN_AUDIENCE
from .jwt_rs256 import TokenInvalid, verify
from .web import SandboxHandler

REQUEST_ID = re.compile(r"^[A-Za-z0-9\-_.:]{1,128}$")

CUSTOMERS = (
    {"customerId": "C-1001", "name": "Avery Chen", "vehicle": "2021 Sandbox Roadster"},
    {"customerId": "C-1002", "name": "Jordan Patel", "vehicle": "2019 Sandbox Hauler"},
    {"customerId": "C-1003", "name": "Sam Okafor", "vehicle": "2023 Sandbox Sedan"},
)


class GatewayError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class SampleApi(SandboxHandler):
    def prepare(self):
        incoming = self.request.headers.get("Request-Id", "").strip()
        # The gateway makes an id up when the caller sent none (or one it cannot echo safely).
        self.request_id = incoming if REQUEST_ID.match(incoming) else str(uuid.uuid4())
        self.set_header("Request-Id", self.request_id)

    def get(self, resource: str):
        try:
            claims = self.check_token()
            subscription = self.check_subscription(claims)
        except GatewayError as err:
            if err.status == 401:
                self.set_header("WWW-Authenticate", f'Bearer error="invalid_token", error_description="{err.code}"')
            return self.send_json({"code": err.code, "message": err.message, "requestId": self.request_id},
                                  err.status)
        self.store.count(claims["cid"], "api_call", self.now)
        caller = {"apiKey": claims["cid"], "user": claims.get("sub") if "uid" in claims else None,
                  "scopes": claims.get("scp", [])}
        if resource == "dealership":
            body = {"subscriptionId": subscription["id"], "dealership": subscription["dealership"], "caller": caller}
        else:
            body = {"subscriptionId": subscription["id"], "items": list(CUSTOMERS), "count": len(CUSTOMERS)}
        self.send_json({**body, "requestId": self.request_id})

    def check_token(self) -> dict:
        header = self.request.headers.get("Authorization", "")
        if not header.strip():
            raise GatewayError(401, "MISSING-AUTHORIZATION",
                               "The request has no Authorization header. Send 'Authorization: Bearer <access token>'.")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise GatewayError(401, "INVALID-TOKEN",
                               "The Authorization header must be 'Bearer <access token>'.")
        try:
            claims = verify(token.strip(), self.authority.published_keys())
        except TokenInvalid as exc:
            raise GatewayError(401, "INVALID-TOKEN", f"The access token is not valid: {exc}.") from None
        if claims.get("iss") != self.authority.issuer:
            raise GatewayError(401, "TOKEN-ISSUER-MISMATCH",
                               f"The token was issued by {claims.get('iss')!r}, not by {self.authority.issuer!r}.")
        if claims.get("aud") != ACCESS_TOKEN_AUDIENCE:
            raise GatewayError(401, "TOKEN-AUDIENCE-MISMATCH",
                               "This is not an access token for Fortellis APIs (its audience is not "
                               "'api_providers'). Did you send the ID token?")
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= self.now:
            raise GatewayError(401, "TOKEN-EXPIRED",
                               "The access token has expired. Refresh it, or sign in again.")
        if self.store.access_token_revoked(str(claims.get("jti"))):
            raise GatewayError(401, "INVALID-TOKEN", "The access token has been revoked.")
        return claims

    def check_subscription(self, claims: dict):
        subscription_id = self.request.headers.get("Subscription-Id", "").strip()
        if not subscription_id:
            raise GatewayError(400, "MISSING-SUBSCRIPTION-ID",
                               "The request has no Subscription-Id header. Send the Subscription-Id the dealer's "
                               "activation of your app created.")
        subscription = self.store.subscription(subscription_id)
        if subscription is None or subscription["api_key"] not in (None, claims.get("cid")):
            raise GatewayError(403, "SUBSCRIPTION-MISMATCH",
                               f"The Subscription-Id {subscription_id!r} does not belong to the app whose token "
                               "was sent.")
        if not subscription["active"]:
            raise GatewayError(403, "API-SUBSCRIPTION-INACTIVE",
                               f"The subscription {subscription_id!r} is not active.")
        return subscription
