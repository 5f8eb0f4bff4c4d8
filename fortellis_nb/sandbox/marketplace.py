"""Fortellis' Marketplace and its Subscriptions service, as rules apart from HTTP (the handlers
are in ``subscriptions.py`` and ``portal.py``; the gateway asks ``refusal``).

A dealer (an organization with locations, Fortellis' *entities*) activates an app, choosing
locations: that makes a subscription, whose id is the ``Subscription-Id`` the app sends with
its API calls for that dealer. An app set for manual approval gets ``pending`` subscriptions,
active once approved; either can be deactivated. The Subscriptions service lists an app's
subscriptions and tells one's context (Fortellis' docs,
``tutorials/app-toolbox/using-the-subscriptions-endpoint.md``, 2022-06): the field names and
shapes are those, the rest is the sandbox's choice (docs/fidelity.md)."""

from __future__ import annotations

import json
import re
import time
import uuid

from .inputs import BadInput

PENDING, ACTIVE, DEACTIVATED = "pending", "active", "deactivated"
STATUSES = (PENDING, ACTIVE, DEACTIVATED)
#: The gateway's answer to a call with a subscription in each state (None: let through).
GATEWAY_CODES = {PENDING: "API-SUBSCRIPTION-INACTIVE", ACTIVE: None, DEACTIVATED: "SUBSCRIPTION-MISMATCH"}
#: Fortellis' test Subscription-Id: a sample dealership every app may call at once.
TEST_SUBSCRIPTION_ID = "test"
#: The sample API's name in an app's list of APIs (``App.apis``).
SAMPLE_API = "sandbox"
#: Who developed an app, as ``appInfo`` tells it: the sandbox keeps no developer accounts.
DEVELOPER = {"developer": "Sandbox Developer", "contactEmail": "developer@sandbox.invalid"}


class MarketplaceError(BadInput):
    """A Marketplace step that cannot be taken (no such dealer, a subscription already deactivated...)."""


def today(now: float) -> str:
    """A date as the Subscriptions service writes it: ``2021-12-10`` (UTC)."""
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def app_id(api_key: str) -> str:
    """The app's Fortellis id (a UUID, not its API Key), the same every time for one app."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fortellis-sandbox-app:{api_key}"))


def kebab(name: str) -> str:
    """An app's name in lower kebab-case, as ``appInfo.name`` has it (``repair-order-app-v2``)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "app"


# --- the Marketplace's steps ---
def activate(store, app, org_id: str, entity_ids: list[str], now: float) -> str:
    """The dealer ``org_id`` activates ``app`` for some of its locations (all when none are
    chosen): pending when the app's developer approves activations by hand, else active."""
    org = store.organization(org_id)
    if org is None or org["parent_id"] is not None:
        raise MarketplaceError(f"There is no dealer (organization) {org_id!r}.")
    locations = [row["id"] for row in store.locations(org_id)] or [org_id]
    chosen = list(dict.fromkeys(entity_ids)) or locations
    foreign = [e for e in chosen if e not in locations]
    if foreign:
        raise MarketplaceError(f"{foreign[0]!r} is not one of {org['name']}'s locations.")
    status = PENDING if app.manual_approval else ACTIVE
    return store.add_subscription(app.api_key, org_id, chosen, status=status, activation_date=today(now))


def approve(store, subscription_id: str) -> None:
    """The app's developer approves a pending activation: the subscription becomes active."""
    _move(store, subscription_id, PENDING, ACTIVE)


def deactivate(store, subscription_id: str, now: float) -> None:
    """The dealer (or the developer) ends a subscription, pending or active."""
    _move(store, subscription_id, None, DEACTIVATED, deactivation_date=today(now))


def _move(store, subscription_id: str, origin: str | None, status: str, **dates) -> None:
    row = store.subscription(subscription_id)
    if row is None or row["api_key"] is None:
        raise MarketplaceError(f"There is no subscription {subscription_id!r} of an app.")
    if row["status"] == DEACTIVATED or (origin is not None and row["status"] != origin):
        raise MarketplaceError(f"Subscription {subscription_id!r} is {row['status']}: it cannot become {status}.")
    store.set_subscription_status(subscription_id, status, **dates)


# --- the gateway ---
def refusal(store, app, subscription_id: str) -> str | None:
    """The gateway's code for ``app`` calling the sample API for ``subscription_id``, or None
    when the call goes through (the quota is counted by the caller, after this)."""
    if SAMPLE_API not in app.apis:
        return "UNAUTHORIZED-API-ACCESS"
    subscription = store.subscription(subscription_id)
    if subscription is None or subscription["api_key"] not in (None, app.api_key):
        return "SUBSCRIPTION-MISMATCH"
    if app.api_quota is not None and store.activity_count(app.api_key, "api_call") >= app.api_quota:
        return "QUOTA-EXCEEDED"
    return GATEWAY_CODES[subscription["status"]]


# --- the Subscriptions service ---
def listing(store, api_key: str, *, entity_id: str | None = None, org_id: str | None = None) -> dict:
    """``GET /v1/solution/subscriptions``: the app's subscriptions, each filter matching the
    subscription's organization or one of its locations (the docs say both filter "by the
    subscriptionId entityId or organizationId")."""
    rows = [row for row in store.subscriptions(api_key)
            if all(wanted is None or wanted == row["org_id"] or wanted in json.loads(row["entity_ids"])
                   for wanted in (entity_id, org_id))]
    return {"subscriptions": [{"subscriptionId": row["id"], "orgId": row["org_id"], "orgName": row["dealership"],
                               "status": row["status"], "activationDate": row["activation_date"],
                               "deactivationDate": row["deactivation_date"]} for row in rows]}


def context(store, app, subscription_id: str) -> dict | None:
    """``GET /subscriptions/{subscriptionId}/context``: who subscribed, where, to which app;
    None when the subscription is not the app's. ``entityInfo`` is the first location chosen."""
    row = store.subscription(subscription_id)
    if row is None or row["api_key"] != app.api_key:
        return None
    org = store.organization(row["org_id"])
    entity = store.organization(json.loads(row["entity_ids"])[0])
    info = {"id": app_id(app.api_key), "name": kebab(app.name), **DEVELOPER}
    return {"organizationInfo": _place(org), "appInfo": info, "entityInfo": _place(entity), "solutionInfo": info}


def _place(row) -> dict:
    return {"id": row["id"], "name": row["name"], "address": row["address"], "countryCode": row["country_code"],
            "phoneNumber": row["phone"]}
