"""Step 4 of the tutorial: call an API through the gateway on the user's behalf.

Three headers: ``Authorization: Bearer {access token}``, ``Subscription-Id`` (which
dealer's data) and ``Request-Id`` (a fresh UUID per request, echoed back so a call can
be traced). Gateway refusals come back as JSON ``{"code": "TOKEN-EXPIRED", ...}`` and
are raised as :class:`~errors.GatewayError` with an explanation.
"""

from __future__ import annotations

import uuid
import warnings
from dataclasses import dataclass
from urllib.parse import urlsplit

from . import errors, hints, redact
from .transcript import Http


@dataclass
class ApiResponse:
    """The answer of a successful API call."""

    status: int
    data: object
    request_id: str
    echoed_request_id: str | None
    exchange: object = None

    @property
    def request_id_matches(self) -> bool:
        return self.echoed_request_id == self.request_id

    def __repr__(self) -> str:
        return (f"ApiResponse(status={self.status}, request_id={self.request_id!r}, "
                f"echoed={'yes' if self.request_id_matches else self.echoed_request_id!r})")


#: The headers of an API call a learner may leave out on purpose (to see the gateway's answer).
OMITTABLE = ("Authorization", "Subscription-Id", "Request-Id")


def api_url(api_base_url: str | None, path: str) -> str:
    """The URL of ``path`` under the API base URL. A full URL is accepted only under that base:
    the access token goes to the configured API and nowhere else."""
    if path.startswith(("http://", "https://")):
        if not api_base_url:
            raise errors.ConfigurationError(
                f"No API base URL is configured, so {redact.url(path)!r} is not known to be the API: the access "
                "token is not sent there.",
                hint=f"{hints.SET_API_BASE_URL} and pass a path.")
        if not under_base(path, api_base_url):
            raise errors.ConfigurationError(
                f"{redact.url(path)!r} is not under the API base URL {api_base_url!r}: the access token is sent "
                "only to the configured API.",
                hint=f"{hints.PASS_A_PATH}; to call another API, configure its base URL (FORTELLIS_API_BASE_URL).")
        return path
    if not api_base_url:
        raise errors.ConfigurationError(
            f"{path!r} is a path, but no API base URL is configured.",
            hint=f"{hints.SET_API_BASE_URL}.")
    return api_base_url.rstrip("/") + "/" + path.lstrip("/")


def under_base(url: str, base: str) -> bool:
    """True when ``url`` has the scheme, host and port of ``base`` and a path within its path."""
    target, root = urlsplit(url), urlsplit(base)
    try:
        same_origin = (target.scheme.lower(), (target.hostname or "").lower(), target.port or _PORTS.get(target.scheme)) \
            == (root.scheme.lower(), (root.hostname or "").lower(), root.port or _PORTS.get(root.scheme))
    except ValueError:  # a port that is not a number
        return False
    prefix = root.path.rstrip("/") + "/"
    return same_origin and not target.username and (target.path + "/").startswith(prefix) \
        and "/../" not in target.path + "/" and "/./" not in target.path + "/"


_PORTS = {"http": 80, "https": 443}


def request_headers(access_token: str, subscription_id: str | None, request_id: str,
                    headers: dict | None = None, omit=()) -> dict[str, str]:
    """The headers of an API call: Bearer token, Subscription-Id (when there is one), Request-Id,
    less those named in ``omit``."""
    unknown = [name for name in omit if name not in OMITTABLE]
    if unknown:
        raise errors.ConfigurationError(f"Cannot leave out {', '.join(unknown)}.",
                                        hint=f"omit= names some of {', '.join(OMITTABLE)}.")
    sent = {"Accept": "application/json"}
    if "Authorization" not in omit:
        sent["Authorization"] = f"Bearer {access_token}"
    if subscription_id and "Subscription-Id" not in omit:
        sent["Subscription-Id"] = subscription_id
    if "Request-Id" not in omit:
        sent["Request-Id"] = request_id
    sent.update(headers or {})
    return sent


def call_api(http: Http, url: str, *, access_token: str | None, subscription_id: str | None,
             method: str = "GET", request_id: str | None = None, json_body=None,
             headers: dict | None = None, omit=()) -> ApiResponse:
    """Call ``url`` with the three Fortellis headers; return its JSON or raise GatewayError.

    ``omit`` leaves some of them out (``("Subscription-Id",)``), to see what the gateway says."""
    if not access_token and "Authorization" not in omit:
        raise errors.ConfigurationError("No access token to call the API with.",
                                        hint="Exchange a code (or use client credentials) first.")
    request_id = request_id or str(uuid.uuid4())
    sent = request_headers(access_token or "", subscription_id, request_id, headers, omit)
    exchange = http.send(method, url, headers=sent, json_body=json_body, label="Call the API")
    echoed = exchange.header("Request-Id")
    if "Request-Id" in omit:
        request_id = echoed or ""
    elif echoed != request_id:
        warnings.warn(errors.RequestIdWarning(
            f"Sent Request-Id {request_id}, got back {echoed!r}. The gateway echoes the request's "
            "Request-Id; a different one means it did not see ours."), stacklevel=2)
    if not exchange.ok:
        raise _gateway_error(exchange, f"{method} {url}", echoed)
    return _api_response(exchange, request_id, echoed)


def _api_response(exchange, request_id: str, echoed: str | None) -> ApiResponse:
    data = exchange.json() if exchange.response_body.strip() else None
    return ApiResponse(status=exchange.status, data=data, request_id=request_id,
                       echoed_request_id=echoed, exchange=exchange)


def _gateway_error(exchange, call: str, echoed: str | None) -> errors.GatewayError:
    """The gateway's refusal: its code (``{"code": "TOKEN-EXPIRED", ...}``) and the hint for it."""
    try:
        body = exchange.json()
    except errors.NotJSONError as exc:
        return errors.GatewayError(f"{call} answered HTTP {exchange.status} with a "
                                   f"non-JSON body ({exc.description})", error=f"HTTP-{exchange.status}",
                                   exchange=exchange, request_id=echoed,
                                   hint="Check the URL; an HTML page means this is not the API gateway.")
    body = body if isinstance(body, dict) else {}
    code = str(body.get("code") or body.get("error") or f"HTTP-{exchange.status}")
    message = str(body.get("message") or body.get("error_description") or exchange.reason)
    return errors.GatewayError(f"HTTP {exchange.status}: {message}", error=code, exchange=exchange,
                               request_id=body.get("requestId") or echoed,
                               hint=hints.hint(code.upper(), hints.Sent("api")) or "")
