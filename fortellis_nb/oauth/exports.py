"""The transcript as files other tools open and replay:

* HAR 1.2 (``.har``): Chrome's and Firefox's network panels, HAR viewers;
* a Postman collection v2.1 (``.postman_collection.json``): Postman, newman;
* a ``.http`` file: VS Code's REST Client, httpyac, JetBrains' HTTP client.

In the Postman and ``.http`` files the issuer, the API base URL, the API Key and the
Subscription-Id are variables; the API Secret is a variable left empty (fill it in the
tool); a token request sets ``access_token`` and ``refresh_token`` for the requests after
it, and each API call gets a fresh ``Request-Id`` (``{{$guid}}``). So the client-credentials
request and the API calls replay as they are; a code exchange does not (a code works once).

Tokens, codes and secrets are shortened, as everywhere (:mod:`redact`). ``full=True``
exists only for :func:`save`, which writes a file and warns: never into a notebook output.
"""

from __future__ import annotations

import base64
import json
import re
import warnings
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

from . import errors, redact

POSTMAN_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
#: File name endings and the format each one means, for save().
FORMATS = {".har": "har", ".postman_collection.json": "postman", ".json": "postman", ".http": "http", ".rest": "http"}
_HOP_HEADERS = {"content-length", "connection", "accept-encoding", "user-agent", "host"}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fortellis-nb")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _body(exchange, full: bool) -> str:
    """A request body as it may be written: JSON with its secret members shortened, other text
    with any secret the exchange's own fields name shortened."""
    if full or not exchange.request_body:
        return exchange.request_body or ""
    try:
        return json.dumps(redact.json_value(json.loads(exchange.request_body)))
    except ValueError:
        return redact.text(exchange.request_body)


# --------------------------------------------------------------------------- HAR 1.2
def _pairs(mapping) -> list[dict]:
    return [{"name": k, "value": v} for k, v in (mapping.items() if isinstance(mapping, dict) else mapping)]


def _har_request(exchange, full: bool) -> dict:
    headers = {k: v if full else redact.text(redact.header(k, v)) for k, v in exchange.request_headers.items()}
    request = {"method": exchange.method, "url": redact.url(exchange.url, full), "httpVersion": "HTTP/1.1",
               "cookies": [], "headers": _pairs(headers),
               "queryString": _pairs(redact.pairs(parse_qsl(urlsplit(exchange.url).query, keep_blank_values=True),
                                                  full)),
               "headersSize": -1, "bodySize": -1}
    if exchange.form is not None:
        shown = redact.pairs(exchange.form, full)
        request["postData"] = {"mimeType": "application/x-www-form-urlencoded", "params": _pairs(shown),
                               "text": redact.readable_query(shown)}
        request["bodySize"] = len(redact.readable_query(shown).encode())
    elif exchange.request_body:
        request["postData"] = {"mimeType": headers.get("Content-Type", "application/octet-stream"),
                               "text": _body(exchange, full)}
        request["bodySize"] = len(request["postData"]["text"].encode())
    return request


def _har_response(exchange, full: bool) -> dict:
    body = exchange.response_text(full) if exchange.status is not None else ""
    body = body if full else redact.text(body)  # a page may quote a code too
    # redact.text too: a Location header carries the code back to the redirect URI.
    headers = {k: v if full else redact.text(redact.header(k, v)) for k, v in exchange.response_headers.items()}
    location = exchange.header("Location", "")
    return {"status": exchange.status or 0, "statusText": exchange.reason or (exchange.failure or ""),
            "httpVersion": "HTTP/1.1", "cookies": [], "headers": _pairs(headers),
            "content": {"size": len(body.encode()), "mimeType": exchange.header("Content-Type", "") or "",
                        "text": body},
            "redirectURL": location if full else redact.url(location),
            "headersSize": -1, "bodySize": len(body.encode())}


def _har_entry(exchange, full: bool) -> dict:
    millis = round(exchange.elapsed * 1000, 3)
    started = datetime.fromtimestamp(exchange.started_at or 0, tz=timezone.utc)
    entry = {"startedDateTime": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
             "time": millis, "request": _har_request(exchange, full), "response": _har_response(exchange, full),
             "cache": {}, "timings": {"send": 0, "wait": millis, "receive": 0}}
    if exchange.label:
        entry["comment"] = exchange.label
    return entry


def har(transcript, full: bool = False) -> str:
    log = {"version": "1.2", "creator": {"name": "fortellis-nb", "version": _version()},
           "entries": [_har_entry(e, full) for e in transcript.exchanges]}
    return json.dumps({"log": log}, indent=2)


# --------------------------------------------------------------------------- variables
class _Variables:
    """What becomes a variable, and the variable that stands for it."""

    def __init__(self, context: dict, full: bool):
        self.full = full
        self.values = {"issuer": context.get("issuer") or "", "api_base_url": context.get("api_base_url") or "",
                       "api_key": context.get("api_key") or "", "api_secret": context.get("api_secret") or "",
                       "subscription_id": context.get("subscription_id") or ""}

    def listed(self) -> dict:
        """The variables and the values the file gives them (the secret: only in full)."""
        return {**self.values, "api_secret": self.values["api_secret"] if self.full else ""}

    def url(self, url: str) -> str:
        shown = redact.url(url, self.full)
        if self.values["api_key"]:
            shown = shown.replace(f"client_id={self.values['api_key']}", "client_id={{api_key}}")
        for name in ("issuer", "api_base_url"):
            base = self.values[name].rstrip("/")
            if base and (shown == base or shown.startswith((base + "/", base + "?"))):
                return "{{" + name + "}}" + shown[len(base):]
        return shown

    def basic(self, value: str) -> bool:
        """Whether a Basic header names this app's API Key (then its password is {{api_secret}})."""
        try:
            decoded = base64.b64decode(value.partition(" ")[2]).decode()
        except ValueError:
            return False
        return bool(self.values["api_key"]) and decoded.partition(":")[0] == self.values["api_key"]

    def header(self, name: str, value: str) -> str:
        """A request header's value, a variable where it carries one."""
        lower = name.lower()
        if lower == "authorization" and value.lower().startswith("bearer "):
            return "Bearer {{access_token}}"
        if lower == "subscription-id" and value == self.values["subscription_id"]:
            return "{{subscription_id}}"
        if lower == "request-id":
            return "{{$guid}}"
        if lower in redact.SECRET_HEADERS and not self.full:
            return redact.header(name, value)
        return value

    def field(self, name: str, value: str) -> str:
        if name == "client_id" and value == self.values["api_key"]:
            return "{{api_key}}"
        if name == "client_secret":
            return "{{api_secret}}"
        if name == "refresh_token":
            return "{{refresh_token}}"
        return value if self.full else str(redact.value(name, value))


def _is_token_request(exchange) -> bool:
    return exchange.method == "POST" and urlsplit(exchange.url).path.rstrip("/").endswith("/v1/token")


def _request_parts(exchange, variables: _Variables) -> tuple[str, list[tuple[str, str]], bool, list | None]:
    """(url, headers, Basic auth with the app's credentials, form pairs) with variables in."""
    headers, basic = [], False
    for name, value in exchange.request_headers.items():
        lower = name.lower()
        if lower in _HOP_HEADERS or (lower == "accept" and value == "*/*"):
            continue
        if lower == "authorization" and value.lower().startswith("basic ") and variables.basic(value):
            basic = True
            continue
        headers.append((name, variables.header(name, value)))
    form = None if exchange.form is None else [(k, variables.field(k, v)) for k, v in exchange.form]
    return variables.url(exchange.url), headers, basic, form


def _named(transcript) -> list[tuple[str, object]]:
    """Each exchange with a distinct, readable name (of one snapshot of the transcript)."""
    exchanges = list(transcript.exchanges)
    seen: dict[str, int] = {}
    names = []
    for exchange in exchanges:
        name = exchange.label or f"{exchange.method} {urlsplit(exchange.url).path}"
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return list(zip(names, exchanges, strict=True))


# --------------------------------------------------------------------------- Postman v2.1
_SET_TOKENS = ["if (pm.response.code === 200) {",
               "  const body = pm.response.json();",
               "  if (body.access_token) pm.collectionVariables.set('access_token', body.access_token);",
               "  if (body.refresh_token) pm.collectionVariables.set('refresh_token', body.refresh_token);",
               "}"]


def postman(transcript, context: dict, full: bool = False) -> str:
    variables = _Variables(context, full)
    items = []
    for name, exchange in _named(transcript):
        item = {"name": name, "request": _postman_request(exchange, variables)}
        if _is_token_request(exchange):
            item["event"] = [{"listen": "test", "script": {"type": "text/javascript", "exec": _SET_TOKENS}}]
        items.append(item)
    listed = {**variables.listed(), "access_token": "", "refresh_token": ""}
    collection = {"info": {"name": "fortellis-nb session", "schema": POSTMAN_SCHEMA,
                           "description": "Exported by fortellis-nb. Set api_secret (left empty) before sending."},
                  "item": items, "variable": [{"key": k, "value": v, "type": "string"} for k, v in listed.items()]}
    return json.dumps(collection, indent=2)


def _postman_request(exchange, variables: _Variables) -> dict:
    url, headers, basic, form = _request_parts(exchange, variables)
    request = {"method": exchange.method, "header": [{"key": k, "value": v} for k, v in headers], "url": url}
    if basic:
        request["auth"] = {"type": "basic", "basic": [
            {"key": "username", "value": "{{api_key}}", "type": "string"},
            {"key": "password", "value": "{{api_secret}}", "type": "string"}]}
    if form is not None:
        request["header"] = [h for h in request["header"] if h["key"].lower() != "content-type"]
        request["body"] = {"mode": "urlencoded", "urlencoded": [{"key": k, "value": v} for k, v in form]}
    elif exchange.request_body:
        request["body"] = {"mode": "raw", "raw": _body(exchange, variables.full)}
    return request


# --------------------------------------------------------------------------- .http
#: After a token request: its tokens become {{access_token}} and {{refresh_token}} for the
#: requests after it (a response handler, as JetBrains' HTTP client and httpyac run them).
_HTTP_SET_TOKENS = ["> {%",
                    "  client.global.set(\"access_token\", response.body.access_token);",
                    "  if (response.body.refresh_token) client.global.set(\"refresh_token\", response.body.refresh_token);",
                    "%}"]


_HTTP_PREAMBLE = [
    "# Exported by fortellis-nb, for JetBrains' HTTP client and httpyac (its VS Code extension too).",
    "# A code exchange does not replay: a code works once. The client-credentials request and the API",
    "# calls do, once the API Secret is set: a line `@api_secret = ...` below, or from the tool",
    "# (httpyac send FILE --name NAME --var api_secret=...). Each token request's answer sets",
    "# {{access_token}} and {{refresh_token}}; `# @ref` sends the one a request needs first.", ""]


def http_file(transcript, context: dict, full: bool = False) -> str:
    variables = _Variables(context, full)
    # No empty `@name =` line: tools read one as an error in every variable of the file.
    lines = _HTTP_PREAMBLE + [f"@{name} = {value}" for name, value in variables.listed().items() if value]
    answers = _TokenAnswers()
    for index, (name, exchange) in enumerate(_named(transcript)):
        lines += _http_request(name, index, exchange, variables, answers)
    return "\n".join(lines) + "\n"


class _TokenAnswers:
    """The latest token requests, whose answers set the tokens later requests use (``# @ref``)."""

    def __init__(self):
        self.access: str | None = None
        self.refresh: str | None = None

    def needed_by(self, headers: list[tuple[str, str]], form: list | None) -> list[str]:
        needs = []
        if self.access and any(v == "Bearer {{access_token}}" for _, v in headers):
            needs.append(self.access)
        if self.refresh and any(v == "{{refresh_token}}" for _, v in form or ()):
            needs.append(self.refresh)
        return list(dict.fromkeys(needs))

    def answered(self, request_name: str, exchange) -> None:
        self.access = request_name
        if '"refresh_token"' in exchange.response_body:
            self.refresh = request_name


def _http_request(name: str, index: int, exchange, variables: _Variables, answers: _TokenAnswers) -> list[str]:
    """One request of the .http file, after a blank line."""
    url, headers, basic, form = _request_parts(exchange, variables)
    request_name = re.sub(r"\W+", "_", name.lower()).strip("_") or f"request{index + 1}"
    lines = ["", f"### {name}", f"# @name {request_name}"]
    lines += [f"# @ref {r}" for r in answers.needed_by(headers, form)]
    lines.append(f"{exchange.method} {url}")
    if basic:
        lines.append("Authorization: Basic {{api_key}}:{{api_secret}}")
    lines += [f"{header_name}: {value}" for header_name, value in headers]
    if form is not None:
        lines += ["", "&".join(f"{k}={_http_value(v)}" for k, v in form)]
    elif exchange.request_body:
        lines += ["", _body(exchange, variables.full)]
    if _is_token_request(exchange) and exchange.ok:
        lines += ["", *_HTTP_SET_TOKENS]
        answers.answered(request_name, exchange)
    return lines


def _http_value(value: str) -> str:
    """A form value in a .http body: percent-encoded, except the {{variables}} the tools fill in."""
    return "".join(part if part.startswith("{{") else quote(part, safe=":/*")
                   for part in re.split(r"(\{\{[^}]+\}\})", value))


# --------------------------------------------------------------------------- files
def render(transcript, fmt: str, context: dict, full: bool = False) -> str:
    if fmt == "har":
        return har(transcript, full)
    if fmt == "postman":
        return postman(transcript, context, full)
    if fmt == "http":
        return http_file(transcript, context, full)
    raise errors.ConfigurationError(f"{fmt!r} is not an export format.", hint="Use har, postman or http.")


def save(transcript, path, context: dict, *, fmt: str | None = None, full: bool = False) -> Path:
    """Write the transcript to ``path``, in the format its name ends with (or ``fmt``).
    ``full=True`` writes the tokens, codes and the API Secret as they are, and warns."""
    path = Path(path)
    if fmt is None:
        name = path.name.lower()
        fmt = next((f for end, f in FORMATS.items() if name.endswith(end)), None)
        if fmt is None:
            raise errors.ConfigurationError(f"{path.name}: the name does not say the format.",
                                            hint="End it with .har, .postman_collection.json or .http.")
    text = render(transcript, fmt, context, full)
    path.write_text(text, encoding="utf-8")
    if full:
        warnings.warn(errors.FortellisWarning(
            f"{path} holds the API Secret, tokens and codes in full: keep it out of notebooks, repositories and "
            "chats, and delete it when done."), stacklevel=2)
    return path
