"""What every sandbox page and endpoint shares: security headers, parameter parsing
that refuses duplicates, relative links, JSON and HTML errors without tracebacks."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from urllib.parse import urlencode, urlsplit

import tornado.iostream
import tornado.web

from .authority import SUBSCRIPTIONS_PATH, Authority
from .inputs import BadInput, json_object
from .state import disk_full, full_disk

log = logging.getLogger("fortellis_nb.sandbox")

# No inline script or style anywhere, so the policy can be strict.
BASE_CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)


# jupyter-server-proxy sends X-Forwarded-Context: {base_url}proxy/{port} with each request it
# passes on, and the browser's own Host (and the hub's X-Forwarded-Proto/-Host) untouched.
PROXY_CONTEXT = re.compile(r"((?:/[A-Za-z0-9._~!$&'()*+,;=:@%\-]+)*)/proxy/(\d{1,5})")
FORWARDED_HOST = re.compile(r"(?:[A-Za-z0-9\-]+\.)*[A-Za-z0-9\-]+(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")


def _outermost(request, header: str) -> str:
    """A forwarding header's first value: what the outermost proxy saw (each hop appends)."""
    return request.headers.get(header, "").split(",")[0].strip()


def proxied_origin(request, authority) -> tuple[str, str] | None:
    """(the browser's origin, the proxy's path to this server) when the request came through
    jupyter-server-proxy of the JupyterHub this sandbox runs under, for this server's own port,
    e.g. ("https://hub.example.org", "/user/learner/proxy/8765"); None otherwise, and always
    None for a sandbox that is not on a hub (``Settings.hub_prefix``), whatever headers say.
    Built only from what that browser sent (its Host, the hub's X-Forwarded-Proto and -Host)
    and the proxy's context."""
    prefix = authority.settings.hub_prefix
    context = request.headers.get("X-Forwarded-Context", "")
    match = PROXY_CONTEXT.fullmatch(context)
    if prefix is None or match is None or context != hub_context(prefix, urlsplit(authority.base_url).port):
        return None
    host = _outermost(request, "X-Forwarded-Host") or request.host
    scheme = _outermost(request, "X-Forwarded-Proto").lower() or "http"
    if scheme not in ("http", "https") or not FORWARDED_HOST.fullmatch(host):
        return None
    return f"{scheme}://{host}", match.group(0)


# --- the gate in front of every route: DNS rebinding and cross-site writes ---------------

def _name_of(host: str) -> str:
    """The name or address of a Host header's value, without its port, lower case."""
    if host.startswith("["):
        return host[1:host.find("]")].lower()
    return host.rsplit(":", 1)[0].lower() if ":" in host else host.lower()


def foreign_host(request, authority) -> str | None:
    """The Host a request names when it is none of this server's own, else None.

    Accepted: loopback names (localhost, *.localhost), any IP address (a rebinding page
    always uses a name it controls), the host of the configured public URL, and, on a
    JupyterHub (``Settings.hub_prefix``), whatever host the hub's browser used when the
    request came through jupyter-server-proxy under that prefix for this server's port."""
    host = request.headers.get("Host")
    if host is None:  # HTTP/1.0 without Host: no browser sends that
        return None
    if FORWARDED_HOST.fullmatch(host):
        name = _name_of(host)
        if name == "localhost" or name.endswith(".localhost") or name == _name_of(
                urlsplit(authority.public_base()).netloc):
            return None
        try:
            ipaddress.ip_address(name)
            return None
        except ValueError:
            pass
        if proxied_origin(request, authority) is not None:
            return None
    return host


def hub_context(prefix: str, port: int) -> str:
    """The X-Forwarded-Context jupyter-server-proxy sends under a hub's service prefix."""
    inner = prefix.strip("/")
    return f"/{inner}/proxy/{port}" if inner else f"/proxy/{port}"


def foreign_origin(request, authority) -> str | None:
    """The Origin a browser sent when it is not this server's own (as that browser reaches
    it), else None. No Origin at all (a script, curl) is not foreign."""
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    proxied = proxied_origin(request, authority)
    own = {f"http://{request.host}".lower(), authority.base_url.lower(), authority.public_base().lower()}
    if proxied:
        own.add(proxied[0].lower())
    return None if origin.strip().lower() in own else origin


class DuplicateParameter(BadInput):
    """RFC 6749 section 3.1: request parameters MUST NOT be included more than once."""

    def __init__(self, name: str):
        super().__init__(f"The '{name}' parameter was given more than once.")
        self.name = name


def merge_params(*sources: dict[str, list[bytes]]) -> dict[str, str]:
    """Parsed query and form arguments as one dict of text. A name given twice is refused
    (RFC 6749 section 3.1: request parameters MUST NOT be included more than once)."""
    merged: dict[str, str] = {}
    for source in sources:
        for name, values in source.items():
            if len(values) > 1 or name in merged:
                raise DuplicateParameter(name)
            try:
                merged[name] = values[0].decode("utf-8")
            except UnicodeDecodeError:
                raise BadInput(f"The '{name}' parameter is not valid UTF-8.") from None
    return merged


def relative_root(path: str) -> str:
    """The relative path from a page back to the server's root, so links keep working
    when the sandbox is reached under a path prefix (a JupyterHub or Binder proxy)."""
    depth = max(path.count("/") - 1, 0)
    return "../" * depth if depth else "./"


def add_query(uri: str, params: dict, *, fragment: bool = False) -> str:
    """Append parameters to a registered redirect URI without disturbing its own query."""
    encoded = urlencode({k: v for k, v in params.items() if v is not None})
    if not encoded:
        return uri
    if fragment:
        return f"{uri.split('#')[0]}#{encoded}"
    base, hash_mark, frag = uri.partition("#")
    joined = f"{base}{'&' if '?' in base else '?'}{encoded}"
    return joined + (hash_mark + frag if hash_mark else "")


def media_type(request) -> str:
    """The request body's media type, lower case (media types are case-insensitive)."""
    return request.headers.get("Content-Type", "").split(";")[0].strip().lower()


def wants_json(request) -> bool:
    """The client sent JSON, or asks for JSON and not for a page."""
    accept = request.headers.get("Accept", "").lower()
    return media_type(request) == "application/json" or ("application/json" in accept and "text/html" not in accept)


def is_identity_path(path: str) -> bool:
    """An address of the identity server (the issuer's endpoints and discovery documents)."""
    return "/v1/" in path or "/.well-known/" in path


#: Behind Fortellis' gateway: the APIs, and the Subscriptions service.
GATEWAY_PATHS = ("/api/", f"{SUBSCRIPTIONS_PATH}/")


def answer_kind(request, *, json_only: bool = False) -> str:
    """How the sandbox answers, the one place that decides it: "gateway" under ``GATEWAY_PATHS`` (the
    gateway's error body), "json" at the identity server's endpoints (Okta answers JSON), at an
    endpoint that only speaks JSON (``json_only``) and to a client that asks for JSON, else
    "html" (a page). Errors, refusals, "not found" and the portal's pages all ask here."""
    if request.path.startswith(GATEWAY_PATHS):
        return "gateway"
    if json_only or is_identity_path(request.path) or wants_json(request):
        return "json"
    return "html"


BASIC_CHALLENGE = 'Basic realm="fortellis-nb sandbox"'
SECURITY_HEADERS = (
    ("Content-Security-Policy", BASE_CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    # Nothing leaves for another site (as with no-referrer), while a form posted on a sandbox
    # page carries its real Origin (no-referrer would make it "null"), which the gate checks.
    ("Referrer-Policy", "same-origin"),
    ("Server", "fortellis-nb-sandbox"),
)
# What every page and endpoint adds: nothing is cached (RFC 6749 section 5.1; Pragma for old caches).
NO_STORE_HEADERS = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))


def security_headers(handler: tornado.web.RequestHandler) -> None:
    """The headers every answer carries, pages, JSON, errors and static files alike."""
    for name, value in SECURITY_HEADERS:
        handler.set_header(name, value)


STATIC_NAME = re.compile(r"[A-Za-z0-9_\-]+\.(?:css|js)")


class StaticFiles(tornado.web.StaticFileHandler):
    """The style sheet and the callback page's script, with the security headers. Only plain
    file names are looked up: nothing else (a NUL, a path, ..) reaches the file system."""

    def set_default_headers(self):
        security_headers(self)

    def parse_url_path(self, url_path: str) -> str:
        if not STATIC_NAME.fullmatch(url_path):
            raise tornado.web.HTTPError(404)
        return url_path

    def log_exception(self, typ, value, tb):
        if not (isinstance(value, tornado.web.HTTPError) and value.status_code < 500):
            log.error("%s %s failed", self.request.method, self.request.path, exc_info=(typ, value, tb))

    def write_error(self, status_code: int, **kwargs):
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        description = "Not found" if status_code == 404 else client_error_description(self, status_code,
                                                                                    kwargs.get("exc_info"))
        self.finish(f"{status_code}: {description} (the sandbox serves sandbox.css and callback.js here)\n")


class SandboxHandler(tornado.web.RequestHandler):
    """Base of every handler: headers, parameters, errors."""

    authority: Authority
    #: An endpoint that answers JSON whatever the client asks for (``answer_kind``).
    json_only = False

    def initialize(self, authority: Authority):
        self.authority = authority
        self.store = authority.store

    def set_default_headers(self):
        for name, value in (*SECURITY_HEADERS, *NO_STORE_HEADERS):
            self.set_header(name, value)

    @property
    def now(self) -> float:
        return self.authority.now

    @property
    def root(self) -> str:
        return relative_root(self.request.path)

    def browser_base(self) -> str | None:
        """This server's base URL as the browser that sent this request reaches it, when the
        request came through jupyter-server-proxy (JupyterHub, Binder): ``{origin}{prefix}proxy/{port}``."""
        proxied = proxied_origin(self.request, self.authority)
        return f"{proxied[0]}{proxied[1]}" if proxied else None

    def browser_address(self, redirect_uri: str) -> str:
        """Where to send this browser for ``redirect_uri``: the same, except for this server's
        own callback and signed-out pages when the browser came through the proxy (it cannot
        reach this server directly, so it gets the page at the address it did use). Never
        anywhere else."""
        for page in ("/callback/", "/signed-out/"):
            if redirect_uri in {f"{base}{page}" for base in (self.authority.base_url, self.authority.public_base())}:
                base = self.browser_base()
                return f"{base}{page}" if base else redirect_uri
        return redirect_uri

    def cookie_name(self, what: str) -> str:
        # Cookies ignore ports: several sandboxes on 127.0.0.1 must not share them.
        return f"sb_{what}_{self.authority.server_id}"

    def params(self, *, body: bool = True) -> dict[str, str]:
        """Query and form parameters as one dict. A name given twice is refused
        (RFC 6749 section 3.1: request parameters MUST NOT be included more than once)."""
        sources = [self.request.query_arguments]
        if body:
            sources.append(self.request.body_arguments)
        return merge_params(*sources)

    def json_body(self) -> dict:
        return json_object(self.request.body)

    def form(self) -> dict[str, str]:
        """The form body's fields, each given once, as UTF-8 text exactly as sent: not through
        tornado's get_body_argument, which turns control characters into spaces. BadInput
        (DuplicateParameter) when a field is given twice or is not UTF-8."""
        return merge_params(self.request.body_arguments)

    def media_type(self) -> str:
        return media_type(self.request)

    def answer_kind(self) -> str:
        return answer_kind(self.request, json_only=self.json_only)

    def send_json(self, body: dict | list, status: int = 200):
        """Answer with JSON; the returned future resolves once the answer is written."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        return self.finish(json.dumps(body))

    def oauth_error(self, status: int, error: str, description: str) -> None:
        """An OAuth error response, RFC 6749 section 5.2."""
        if status == 401:
            self.set_header("WWW-Authenticate", BASIC_CHALLENGE)
        self.send_json({"error": error, "error_description": description}, status)

    def page(self, template: str, status: int = 200, **values) -> None:
        self.set_status(status)
        self.render(template, root=self.root, **values)

    def error_page(self, status: int, title: str, error: str, description: str, hint: str = "",
                   **extra) -> None:
        self.page("error.html", status, title=title, error=error, description=description, hint=hint,
                  registered=extra.get("registered", ()))

    def log_exception(self, typ, value, tb):
        """Whatever escaped a handler, logged once with its traceback (the answer has none);
        an HTTPError for a client's mistake was answered and is not the server's fault, nor is
        a client that went away before its answer was written (one line, not a traceback)."""
        if isinstance(value, tornado.web.HTTPError) and value.status_code < 500:
            return
        if isinstance(value, (tornado.iostream.StreamClosedError, ConnectionResetError, BrokenPipeError)):
            log.info("%s %s: the client went away before its answer was written", self.request.method,
                     self.request.path)
            return
        log.error("%s %s failed", self.request.method, self.request.path, exc_info=(typ, value, tb))

    def write_error(self, status_code: int, **kwargs):
        # Never a traceback: an honest short message in the form the client asked for.
        reason = self._reason or "Error"
        failure = (kwargs.get("exc_info") or (None, None))[1]
        settings = getattr(getattr(self, "authority", None), "settings", None)
        if status_code >= 500 and failure is not None and settings and disk_full(failure, settings.state_dir):
            # SQLite rolled the request's transaction back; the next write succeeds once there is room.
            description = (f"{full_disk(settings.state_dir)}, so this request's changes were not saved. "
                           "Free some space there and send it again.")
        elif status_code >= 500:
            description = "The sandbox hit an unexpected error. Its log has the details."
        else:
            description = client_error_description(self, status_code, kwargs.get("exc_info"))
        kind = self.answer_kind()
        if kind == "gateway":
            self.finish({"code": "GATEWAY-ERROR", "message": description})
        elif kind == "json":
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.finish(json.dumps({"error": "server_error" if status_code >= 500 else "invalid_request",
                                    "error_description": description}))
        else:
            self.clear_header("Content-Type")
            self.render("error.html", root=self.root, title=f"{status_code} {reason}",
                        error="server_error" if status_code >= 500 else "not_found",
                        description=description, hint="", registered=())


def allowed_methods(handler: tornado.web.RequestHandler) -> list[str]:
    """The HTTP methods a handler class answers (those it defines itself)."""
    base = tornado.web.RequestHandler
    methods = [m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
               if getattr(type(handler), m.lower()) is not getattr(base, m.lower())]
    if getattr(handler, "cors_methods", "") is None:  # an issuer endpoint that answers no CORS preflight
        methods.remove("OPTIONS")
    return methods


def client_error_description(handler: tornado.web.RequestHandler, status: int, exc_info) -> str:
    """What a 4xx that tornado itself raised was about, for the learner: the method to use for
    a 405 (with its Allow header), what could not be read for a 400."""
    if status == 405:
        methods = allowed_methods(handler)
        handler.set_header("Allow", ", ".join(methods))
        usable = [m for m in methods if m not in ("HEAD", "OPTIONS")]  # OPTIONS: CORS preflights only
        return (f"{handler.request.method} is not what {handler.request.path} answers; "
                f"use {' or '.join(usable) or 'another path'}.")
    error = exc_info[1] if exc_info else None
    if isinstance(error, tornado.web.HTTPError) and error.log_message:
        try:  # tornado's own message, e.g. "Invalid unicode in url: b'\\xff'"
            said = error.log_message % error.args if error.args else error.log_message
        except (TypeError, ValueError):
            said = error.log_message
        return f"{said[:200]}."
    return handler._reason or "Error"


class NotFound(SandboxHandler):
    def prepare(self):
        path = self.request.path
        if is_identity_path(path):
            # Okta's answer for an unknown authorization server or endpoint.
            self.send_json({"errorCode": "E0000007", "errorSummary": f"Not found: Resource not found: {path}"}, 404)
        elif self.answer_kind() == "json":
            self.send_json({"error": "not_found", "error_description": f"Nothing lives at {path} in the sandbox."},
                           404)
        else:
            self.error_page(404, "Not found", "not_found", f"Nothing lives at {path} in the sandbox.",
                            "The sandbox's home page lists what it serves.")


class Refused(SandboxHandler):
    """The answer to a request the gate stops (``SandboxApplication``), whatever its method."""

    def initialize(self, authority: Authority, description: str = "", hint: str = ""):
        super().initialize(authority)
        self.description, self.hint = description, hint

    def prepare(self):
        kind = self.answer_kind()
        if kind == "gateway":
            self.send_json({"code": "FORBIDDEN", "message": f"{self.description} {self.hint}"}, 403)
        elif kind == "json":
            self.send_json({"error": "forbidden", "error_description": f"{self.description} {self.hint}"}, 403)
        else:
            self.error_page(403, "Request refused", "forbidden", self.description, self.hint)


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class SandboxApplication(tornado.web.Application):
    """The route table behind a gate: before any route is chosen, a request naming a Host
    that is not this server's (DNS rebinding) is refused, and so is a write to the sandbox's
    own pages (``/sandbox/...``) sent by a page of another site (its Origin)."""

    def __init__(self, routes, authority: Authority, **settings):
        super().__init__(routes, **settings)
        self.authority = authority

    def find_handler(self, request, **kwargs):
        authority = self.authority
        host = foreign_host(request, authority)
        if host is not None:
            return self.get_handler_delegate(request, Refused, target_kwargs={
                "authority": authority,
                "description": f"This sandbox answers only at its own addresses, and {host!r} is not one of them.",
                "hint": f"Open it at {authority.public_base()}/ (a page that points a name of its own at this "
                        "machine, as DNS rebinding does, is refused this way)."})
        if request.method not in SAFE_METHODS and request.path.startswith("/sandbox/"):
            origin = foreign_origin(request, authority)
            if origin is not None:
                return self.get_handler_delegate(request, Refused, target_kwargs={
                    "authority": authority,
                    "description": f"A page of another site ({origin}) may not change this sandbox.",
                    "hint": f"Use the sandbox's own pages ({authority.public_base()}/sandbox/apps, /sandbox/users) "
                            "or a script, which sends no Origin."})
        return super().find_handler(request, **kwargs)
