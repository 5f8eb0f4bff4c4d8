"""Workshop exercises: the learner builds a piece of the flow by hand, and a check says
at once whether it is right, and if not, why.

Each ``check_*`` returns a :class:`Check`, which shows itself in a notebook as a green or
red box, and reads as one line of text anywhere else.
"""

from __future__ import annotations

import base64
import binascii
import html
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from .oauth.errors import InvalidClientError
from .oauth.hints import ACCESS_TOKEN_LIFETIME, WIDER_SCOPE_ON_REFRESH

#: What the token endpoint answers a Basic header of `API Secret:API Key` (the client's error for it).
SWAP_ANSWER = InvalidClientError.default_error

NOT_ANSWERED = "Not answered yet: replace the ... with your answer and run the cell again."


@dataclass
class Check:
    """The verdict on one answer."""

    ok: bool
    message: str
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        lines = [("Right: " if self.ok else "Not yet: ") + self.message] + [f"  - {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = "var(--jp-success-color1, #1a7f37)" if self.ok else "var(--jp-error-color1, #b42318)"
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (f'<div class="fnb-check" style="border-left:4px solid {colour};padding:4px 10px;">'
                f'<strong style="color:{colour}">{"Right" if self.ok else "Not yet"}:</strong> '
                f'{html.escape(self.message)}{f"<ul>{notes}</ul>" if notes else ""}</div>')


def _unanswered(answer) -> bool:
    return answer is None or answer is Ellipsis or (isinstance(answer, str) and answer.strip() in ("", "..."))


def check_basic_header(answer, *, api_key: str, api_secret: str) -> Check:
    """The ``Authorization`` header of the token request: ``Basic base64(API Key:API Secret)``."""
    if _unanswered(answer):
        return Check(False, NOT_ANSWERED)
    text = str(answer).strip()
    if text.lower().startswith("authorization:"):
        text = text.split(":", 1)[1].strip()
    if not text.startswith("Basic "):
        return Check(False, "The header value must start with 'Basic ' (the word, then one space).")
    try:
        decoded = base64.b64decode(text[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return Check(False, "After 'Basic ' comes Base64 of 'API Key:API Secret'; this part is not valid Base64.")
    if decoded == f"{api_key}:{api_secret}":
        return Check(True, "Basic base64(API Key:API Secret), API Key first, as RFC 6749 section 2.3.1 says.")
    if decoded == f"{api_secret}:{api_key}":
        return Check(False, "Swapped: you encoded 'API Secret:API Key', as the tutorial's note says. The server "
                     f"expects the API Key (the client_id) first and answers the swap with {SWAP_ANSWER}.")
    if ":" not in decoded:
        return Check(False, "The encoded text has no ':' between the API Key and the API Secret.")
    return Check(False, "The decoded pair does not match 'API Key:API Secret'.",
                 _pair_notes(decoded, api_key, api_secret))


def _pair_notes(decoded: str, api_key: str, api_secret: str) -> list[str]:
    """Which half of ``key:secret`` is wrong, and whether only by white space."""
    key, _, secret = decoded.partition(":")
    notes = []
    if key != api_key:
        notes.append("The part before ':' is not your API Key." + (" (Stray spaces?)" if key.strip() == api_key else ""))
    if secret != api_secret:
        notes.append("The part after ':' is not your API Secret." +
                     (" (A trailing newline? Use printf, not echo.)" if secret.strip() == api_secret else ""))
    return notes


def check_authorize_url(answer, *, authorization_endpoint: str, api_key: str, redirect_uri: str,
                        api_secret: str | None = None) -> Check:
    """An authorize URL built by hand, checked parameter by parameter against the tutorial."""
    if _unanswered(answer):
        return Check(False, NOT_ANSWERED)
    text = str(answer).strip()
    parts = urlsplit(text)
    notes: list[str] = []
    if f"{parts.scheme}://{parts.netloc}{parts.path}" != authorization_endpoint:
        notes.append(f"The URL must start with the authorize endpoint {authorization_endpoint}, then '?'.")
    params = parse_qs(parts.query, keep_blank_values=True)
    notes += [f"'{name}' appears {len(values)} times; each parameter may appear once."
              for name, values in params.items() if len(values) > 1]
    if api_secret and api_secret in text:
        notes.append("The URL contains your API Secret! The secret never goes into a URL; client_id is the API Key.")
    notes += _authorize_parameter_notes({k: v[0] for k, v in params.items()}, api_key, redirect_uri)
    if notes:
        return Check(False, "Some parameters need another look.", notes)
    return Check(True, "Every parameter the tutorial lists is there, with the right value.")


def _authorize_parameter_notes(value: dict[str, str], api_key: str, redirect_uri: str) -> list[str]:
    """What is wrong with the values of the tutorial's parameters (nothing when they are right)."""
    notes = []
    if value.get("client_id") != api_key:
        notes.append("client_id must be your API Key.")
    if value.get("response_type") != "code":
        notes.append("response_type must be 'code'.")
    scopes = value.get("scope", "").split()
    if "openid" not in scopes and "offline_access" not in scopes:
        notes.append("scope should include 'openid' (and 'offline_access' for a refresh token).")
    got_redirect = value.get("redirect_uri")
    if got_redirect != redirect_uri:
        if got_redirect and got_redirect.rstrip("/") == redirect_uri.rstrip("/"):
            notes.append("redirect_uri lacks (or adds) the trailing '/': it must equal the registered Callback exactly.")
        else:
            notes.append(f"redirect_uri must be exactly {redirect_uri}.")
    if not value.get("state"):
        notes.append("state is missing: send a fresh unique value (for example a UUID) with every request.")
    return notes


def check_token_lifetime(answer, *, claims: dict) -> Check:
    """How many seconds the access token is valid: ``exp - iat``."""
    if _unanswered(answer):
        return Check(False, NOT_ANSWERED)
    expected = int(claims["exp"]) - int(claims["iat"])
    try:
        given = int(answer)
    except (TypeError, ValueError):
        return Check(False, "Give a number of seconds.")
    if given == expected:
        usual = ("the tutorial's expires_in" if expected == ACCESS_TOKEN_LIFETIME
                 else f"where the tutorial's expires_in is {ACCESS_TOKEN_LIFETIME}")
        return Check(True, f"exp - iat = {expected} seconds ({expected // 60} minutes), {usual}.")
    if given in (int(claims["exp"]), int(claims["iat"])):
        return Check(False, "That is a moment in time (seconds since 1970), not a duration: subtract iat from exp.")
    return Check(False, "Subtract the iat claim from the exp claim.")


def check_refresh_scopes(answer, *, granted) -> Check:
    """Which scopes a refresh may ask for: a subset of the original grant."""
    if _unanswered(answer):
        return Check(False, NOT_ANSWERED)
    asked = answer.split() if isinstance(answer, str) else list(answer)
    extra = [s for s in asked if s not in granted]
    if not asked:
        return Check(False, "Ask for at least one scope, or leave scope out to keep the original grant.")
    if extra:
        return Check(False, f"{', '.join(extra)} was not in the original authorize request: the server answers "
                     f"{WIDER_SCOPE_ON_REFRESH}. A refresh can keep or narrow the scopes, never widen them.")
    return Check(True, "A subset of the original grant: the refresh will succeed.")


def check_api_headers(answer, *, access_token: str, subscription_id: str) -> Check:
    """The three headers of a Fortellis API call."""
    if _unanswered(answer):
        return Check(False, NOT_ANSWERED)
    if not isinstance(answer, dict):
        return Check(False, "Give the headers as a dict, for example {'Authorization': '...', ...}.")
    headers = {str(k).lower(): str(v) for k, v in answer.items()}
    notes = _authorization_notes(headers.get("authorization", ""), access_token)
    if not headers.get("subscription-id"):
        notes.append("Subscription-Id is missing: the gateway answers MISSING-SUBSCRIPTION-ID.")
    elif headers["subscription-id"] != subscription_id:
        notes.append("Subscription-Id must be the one the dealer's activation of your app created.")
    refused = bool(notes)
    request_id = headers.get("request-id", "").strip()
    if not request_id:  # the gateway makes one up: the call works, and the app cannot trace it
        notes.append("Request-Id is missing: send one with every request, so its answer and logs can be matched "
                     "to it (a fresh UUID, uuid.uuid4(), is good practice).")
    if notes:
        return Check(False, "The gateway would not accept these headers yet." if refused else
                     "The gateway would answer, with a Request-Id it made up.", notes)
    # The gateway accepts and echoes any Request-Id; a fresh UUID is a habit, not its rule.
    practice = [] if _is_uuid(request_id) else [
        (f"Request-Id {request_id!r} works: the gateway accepts it and echoes it back. A fresh UUID per request "
         "(uuid.uuid4()) is good practice: it tells one call from every other in the logs.")]
    return Check(True, "Bearer token, Subscription-Id and a Request-Id: the gateway will let this through.", practice)


def _authorization_notes(auth: str, access_token: str) -> list[str]:
    if not auth:
        return ["Authorization is missing: the gateway answers MISSING-AUTHORIZATION."]
    if auth == access_token:
        return ["Authorization needs the word 'Bearer' and a space before the token."]
    if auth != f"Bearer {access_token}":
        return ["Authorization must be 'Bearer ' followed by the access token (not the ID token)."]
    return []


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
