"""Every HTTP exchange, recorded, and replayable as curl or as Python ``requests`` code.

The learner should be able to see exactly what went over the wire at each step, and
to repeat it outside the notebook. Secrets and tokens are shortened the way the
tutorial prints them (``authorization: Basic MG9hY...``) unless ``full=True`` is asked
for; the recorded values themselves are never altered.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from . import deadline, errors, hints, redact
from .listeners import Listeners
from .redact import readable_query as _readable_query

#: This machine's names. A sandbox here is reached directly, never through the proxy that
#: HTTP_PROXY, HTTPS_PROXY or ALL_PROXY name: a company's proxy cannot reach the learner's machine.
LOOPBACK = ("localhost", "127.0.0.1", "::1")


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "").lower() in LOOPBACK


def proxies_for(url: str) -> dict[str, str] | None:
    """``requests``' ``proxies=`` for ``url``: no proxy for this machine (NO_PROXY of its names,
    which requests also applies to each redirect); else None, the environment's proxy, as
    requests picks it (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY)."""
    return {"no_proxy": ",".join(LOOPBACK)} if is_loopback(url) else None


def reach_loopback_directly(environ=os.environ) -> None:
    """Add this machine's names to ``environ``'s NO_PROXY (as requests and urllib read it: the
    lower-case spelling first; both set), so that plain ``requests`` and PyJWT calls in this
    process reach a sandbox here directly too."""
    listed = [host.strip() for host in (environ.get("no_proxy") or environ.get("NO_PROXY") or "").split(",")]
    if "*" not in listed:  # "*": no proxy for any host already
        environ["no_proxy"] = environ["NO_PROXY"] = ",".join(dict.fromkeys(h for h in [*listed, *LOOPBACK] if h))


def proxy_variable(url: str, environ=os.environ) -> str | None:
    """The variable that names the proxy a request to ``url`` goes through (as requests picks
    it: the scheme's own, else ALL_PROXY; the lower-case spelling first), or None."""
    scheme = urlsplit(url).scheme.lower()
    for name in (f"{scheme}_proxy", "all_proxy"):
        for variable in (name, name.upper()):
            if environ.get(variable):
                return variable
    return None


#: Headers that ``requests`` adds by itself; left out of the curl / Python renderings.
_AUTOMATIC_HEADERS = frozenset({"user-agent", "accept-encoding", "connection", "content-length"})


def _python_dict(pairs) -> str:
    """A dict literal, one item a line, as it sits among a call's arguments."""
    inner = "".join(f"        {k!r}: {v!r},\n" for k, v in pairs)
    return "{\n" + inner + "    }"


@dataclass
class Exchange:
    """One HTTP request and its response (or the failure that replaced the response)."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str | None = None
    form: list[tuple[str, str]] | None = None
    status: int | None = None
    reason: str = ""
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    elapsed: float = 0.0
    started_at: float = 0.0
    label: str = ""
    failure: str | None = None

    # -- reading the response -----------------------------------------------------
    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def content_type(self) -> str:
        return self.response_headers.get("Content-Type", "").split(";")[0].strip().lower()

    def header(self, name: str, default: str | None = None) -> str | None:
        """A response header, looked up without regard to case."""
        for key, value in self.response_headers.items():
            if key.lower() == name.lower():
                return value
        return default

    def json(self):
        """The response body as JSON, or :class:`~errors.NotJSONError`."""
        try:
            return json.loads(self.response_body)
        except ValueError:
            pass
        title = re.search(r"<title[^>]*>(.*?)</title>", self.response_body, re.IGNORECASE | re.DOTALL)
        body = self.response_body.strip()
        if body[:1] in ("{", "[") or self.content_type.endswith("json"):
            raise errors.NotJSONError(
                f"{self.method} {self.url} answered HTTP {self.status} with JSON that is cut off or malformed "
                f"({len(body)} characters, ending {body[-40:]!r}).", exchange=self,
                hint="The answer was cut short (a dropped connection, a proxy) or is broken; try again. "
                     "If it keeps happening, the server or a proxy in between is at fault.") from None
        if title:
            what = f"an HTML page titled {title.group(1).strip()!r}"
        elif not self.response_body.strip():
            what = "an empty body"
        else:
            what = f"{self.content_type or 'a body'} starting {self.response_body.strip()[:60]!r}"
        raise errors.NotJSONError(
            f"{self.method} {self.url} answered HTTP {self.status} with {what}, not JSON.",
            exchange=self) from None

    # -- display ----------------------------------------------------------------
    def summary(self) -> str:
        outcome = f"{self.status} {self.reason}".strip() if self.status is not None else f"failed: {self.failure}"
        return f"{self.method} {redact.shown_url(self.url)} -> {outcome} ({self.elapsed * 1000:.0f} ms)"

    __str__ = summary

    def __repr__(self) -> str:
        return f"<Exchange {self.summary()}>"

    def _shown_headers(self, full: bool) -> list[tuple[str, str]]:
        return [(k, v if full else redact.header(k, v)) for k, v in self.request_headers.items()
                if k.lower() not in _AUTOMATIC_HEADERS and not (k.lower() == "accept" and v == "*/*")]

    def _shown_body(self, full: bool) -> str | None:
        if self.form is not None:
            return _readable_query(redact.pairs(self.form, full))
        return self.request_body

    def as_curl(self, full: bool = False) -> str:
        """The request as a curl command, in the tutorial's layout."""
        lines = [f"curl --request {self.method}", f"--url {shlex.quote(redact.url(self.url, full))}"]
        for name, value in self._shown_headers(full):
            lines.append(f"--header {shlex.quote(f'{name.lower()}: {value}')}")
        body = self._shown_body(full)
        if body:
            lines.append(f"--data {shlex.quote(body)}")
        return " \\\n  ".join(lines)

    def as_python(self, full: bool = False) -> str:
        """The request as Python code using ``requests``."""
        func = self.method.lower() if self.method in ("GET", "POST", "PUT", "DELETE", "PATCH") else None
        call = f"requests.{func}(" if func else f"requests.request({self.method!r}, "
        args = [repr(redact.url(self.url, full))]
        headers = self._shown_headers(full)
        if self.form is not None:  # requests sets the form's Content-Type itself
            headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
        if headers:
            args.append("headers=" + _python_dict(headers))
        if self.form is not None:
            args.append("data=" + _python_dict(redact.pairs(self.form, full)))
        elif self.request_body:
            args.append(f"data={self.request_body!r}")
        args.append("allow_redirects=False")
        body = "".join(f"    {a},\n" for a in args)
        return f"import requests\n\nresponse = {call}\n{body})\nprint(response.status_code, response.text)"

    def response_text(self, full: bool = False) -> str:
        """The response body, pretty-printed when JSON, tokens shortened unless ``full``."""
        try:
            data = json.loads(self.response_body)
        except ValueError:
            return self.response_body
        return json.dumps(redact.json_value(data, full), indent=2)

    def as_dict(self, full: bool = False) -> dict:
        return {
            "label": self.label,
            "method": self.method,
            "url": redact.url(self.url, full),
            "request_headers": dict(self._shown_headers(full)),
            "request_body": self._shown_body(full),
            "status": self.status,
            "response_headers": {k: v if full else redact.header(k, v) for k, v in self.response_headers.items()},
            "response_body": self.response_text(full),
            "elapsed": self.elapsed,
            "failure": self.failure,
        }


class Transcript:
    """The exchanges of a session, oldest first."""

    def __init__(self):
        self.exchanges: list[Exchange] = []
        self._listeners = Listeners()
        #: The app's settings the exports make variables of (issuer, api_base_url, api_key,
        #: api_secret, subscription_id); the client fills it in.
        self.context: dict = {}

    def record(self, exchange: Exchange) -> Exchange:
        self.exchanges.append(exchange)
        self.notify(exchange)
        return exchange

    def notify(self, exchange: Exchange | None = None) -> None:
        """Tell the listeners: of a new exchange, or (None) that what the last one meant changed."""
        self._listeners(exchange)

    def subscribe(self, callback) -> None:
        """Call ``callback(exchange)`` after each exchange is recorded (a live view of the log).
        Held weakly: a listener that is gone is dropped."""
        self._listeners.add(callback)

    def unsubscribe(self, callback) -> None:
        self._listeners.remove(callback)

    @property
    def last(self) -> Exchange | None:
        return self.exchanges[-1] if self.exchanges else None

    def clear(self) -> None:
        self.exchanges.clear()
        self.notify(None)

    def __iter__(self):
        return iter(self.exchanges)

    def __len__(self) -> int:
        return len(self.exchanges)

    def __getitem__(self, index):
        return self.exchanges[index]

    def as_curl(self, full: bool = False) -> str:
        return "\n\n".join(f"# {e.label or e.method}\n{e.as_curl(full)}" for e in self.exchanges)

    # -- exports (fortellis_nb.oauth.exports): tokens, codes and secrets shortened -------------
    def to_har(self) -> str:
        """The session as HAR 1.2: opens in Chrome's and Firefox's network panels."""
        from . import exports
        return exports.har(self)

    def to_postman(self) -> str:
        """The session as a Postman collection v2.1 (the API Secret a variable left empty)."""
        from . import exports
        return exports.postman(self, self.context)

    def to_http(self) -> str:
        """The session as a .http file (VS Code's REST Client, httpyac, JetBrains)."""
        from . import exports
        return exports.http_file(self, self.context)

    def save(self, path, *, fmt: str | None = None, full: bool = False):
        """Write the session to ``path`` (.har, .postman_collection.json or .http). With
        ``full=True`` the file holds the secret and the tokens as they are (with a warning)."""
        from . import exports
        return exports.save(self, path, self.context, fmt=fmt, full=full)

    def __str__(self) -> str:
        return "\n".join(e.summary() for e in self.exchanges)

    def __repr__(self) -> str:
        return f"<Transcript of {len(self.exchanges)} exchanges>"


def _network_error(exc: requests.RequestException, exchange: Exchange, timeout: float,
                   cut: bool = False) -> errors.NetworkError:
    """Our error for what requests raised; ``cut``: the deadline (see deadline.py) ended it."""
    target = f"{exchange.method} {urlsplit(exchange.url).netloc or exchange.url}"
    text = str(exc)
    if cut or isinstance(exc, requests.exceptions.Timeout):  # one wait, or the whole answer, took too long
        return errors.Timeout(f"{target}: no complete answer within {deadline.total(timeout):g} s (connecting, the "
                              "headers and the body together).", exchange=exchange)
    if isinstance(exc, requests.exceptions.SSLError):
        return errors.TLSError(f"{target}: TLS failed ({text[:160]}).", exchange=exchange)
    if isinstance(exc, requests.exceptions.ProxyError):  # before ConnectionError, which it is too
        return _proxy_error(target, exchange)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError) or any(words in text for words in _DROPPED):
        return errors.ConnectionDropped(f"{target}: the connection closed before the whole answer came.",
                                        exchange=exchange)
    if isinstance(exc, requests.exceptions.ConnectionError):
        return _connection_error(target, text, exchange)
    if isinstance(exc, (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                        requests.exceptions.InvalidURL)):
        return errors.InvalidURLError(f"{exchange.url!r} is not a usable URL ({text[:120]}).", exchange=exchange)
    return errors.NetworkError(f"{target}: {text[:200]}", exchange=exchange)


def _proxy_error(target: str, exchange: Exchange) -> errors.ProxyError:
    variable = proxy_variable(exchange.url)  # None: a proxy this program set itself, not the environment
    proxy = f" {redact.url(os.environ[variable])} ({variable})" if variable else ""
    return errors.ProxyError(f"{target}: the proxy{proxy} refused the request or could not be reached.",
                             exchange=exchange, hint=hints.through_proxy(variable, urlsplit(exchange.url).hostname))


#: How urllib3 words a connection closed mid-answer (or before one), as requests passes it on.
_DROPPED = ("RemoteDisconnected", "IncompleteRead", "Connection broken", "Connection aborted")
#: How the operating system words a refused connection and an unknown host, as requests passes it on.
_REFUSED = ("refused", "errno 111")
_UNKNOWN_HOST = ("name or service not known", "failed to resolve", "nodename nor servname")


def _connection_error(target: str, text: str, exchange: Exchange) -> errors.NetworkError:
    lowered = text.lower()
    if any(words in lowered for words in _REFUSED):
        return errors.ConnectionRefused(f"{target}: connection refused.", exchange=exchange)
    if any(words in lowered for words in _UNKNOWN_HOST):
        return errors.HostNotFoundError(f"{target}: the host name does not resolve.", exchange=exchange)
    return errors.NetworkError(f"{target}: connection failed ({text[:160]}).", exchange=exchange)


class Http:
    """Sends requests, records each one in a :class:`Transcript`, maps failures to our errors.

    Redirects are never followed: in OAuth the redirect *is* the answer.
    """

    def __init__(self, transcript: Transcript | None = None, session: requests.Session | None = None,
                 timeout: float = 10.0):
        self.transcript = transcript if transcript is not None else Transcript()
        #: ``timeout`` is the deadline for the whole answer, on a session of its own (one given
        #: here keeps its own adapters: requests' timeout per read, unless it has a DeadlineAdapter).
        self.session = session or deadline.with_deadlines(requests.Session())
        self.timeout = timeout

    def send(self, method: str, url: str, *, headers: dict | None = None, form=None, params=None,
             json_body=None, label: str = "", timeout: float | None = None) -> Exchange:
        method = method.upper()
        form_pairs = list(form.items()) if isinstance(form, dict) else (list(form) if form is not None else None)
        exchange = Exchange(method=method, url=url, request_headers=dict(headers or {}), form=form_pairs,
                            label=label, started_at=time.time())
        start = time.perf_counter()
        try:
            response = self.session.request(
                method, url, headers=headers, data=form_pairs, params=params, json=json_body,
                timeout=timeout or self.timeout, allow_redirects=False, proxies=proxies_for(url))
        except requests.RequestException as exc:
            exchange.elapsed = time.perf_counter() - start
            cut = deadline.passed()  # the deadline cut the connection: whatever requests made of it, a timeout
            exchange.failure = "Timeout" if cut else type(exc).__name__
            self.transcript.record(exchange)
            raise _network_error(exc, exchange, timeout or self.timeout, cut=cut) from None
        exchange.elapsed = time.perf_counter() - start
        return self.transcript.record(fill_exchange(exchange, response))


def fill_exchange(exchange: Exchange, response: requests.Response) -> Exchange:
    """What was sent (as requests prepared it) and what came back, into ``exchange``."""
    prepared = response.request
    exchange.method = prepared.method or exchange.method
    exchange.url = prepared.url or exchange.url
    exchange.request_headers = dict(prepared.headers)
    body = prepared.body
    exchange.request_body = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    exchange.status = response.status_code
    exchange.reason = response.reason or ""
    exchange.response_headers = dict(response.headers)
    exchange.response_body = response.text
    return exchange
