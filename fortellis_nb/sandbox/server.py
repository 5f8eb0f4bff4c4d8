"""Assemble the tornado application and serve it with tornado's own HTTP server: in a
background thread (tests, one process) or in the foreground (``python -m fortellis_nb.sandbox``).

Nothing here is POSIX-only: the same code starts, serves and stops on Linux, macOS and
Windows (signals through ``signal.signal``, a stop request through the admin endpoint)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import signal
import socket
import threading
from pathlib import Path

import tornado.ioloop
import tornado.netutil
import tornado.web

from .app_clock import AppClock, AppPage
from .authority import DEMO_PASSWORD, DEMO_USERS, SUBSCRIPTIONS_PATH, Authority, Settings
from .connections import CrowdServer, open_file_limit
from .gateway import Customers, Dealership, NoSuchApi
from .identity import Authorize, Discovery, Introspect, Keys, Logout, Revoke, Token, UserInfo
from .portal import (
    AdminActivity,
    AdminProgress,
    AdminRotateKeys,
    AdminShutdown,
    AdminUnknown,
    ApproveSubscription,
    Apps,
    Callback,
    CodeInfo,
    DeactivateSubscription,
    Dealers,
    Health,
    Home,
    Instructor,
    SignedOut,
    Subscriptions,
    Users,
)
from .state import SERVER_FILE, SandboxInfo
from .storage import Store
from .subscriptions import NoSuchResource, SolutionSubscriptions, SubscriptionContext
from .web import NotFound, SandboxApplication, StaticFiles, log

HERE = Path(__file__).parent
DATABASE_FILE = "sandbox.sqlite3"
# What tornado's HTTP server may take from a client (tornado.httpserver.HTTPServer's own limits).
# Headers get room for the cookies a JupyterHub sets on the same host; no sandbox request has
# a body near 1 MiB. An idle keep-alive connection, or a request whose headers trickle in, is
# closed after idle_connection_timeout (tornado's header timeout too), a body after body_timeout:
# within 60 s, as nginx closes such clients (client_header_timeout), so a crowd of idle or slow
# clients frees its connections (connections.py) within a minute.
SERVER_LIMITS = {
    "max_header_size": 64 * 1024,
    "max_body_size": 1024 * 1024,
    "idle_connection_timeout": 60.0,
    "body_timeout": 30.0,
}


def make_app(authority: Authority, shutdown=None) -> tornado.web.Application:
    """The sandbox's one route table: every request it answers is routed here, each page,
    endpoint, admin action and API resource to its own handler.

    ``shutdown`` is what ``POST /sandbox/admin/shutdown`` calls (with the admin token).

    The error page (``templates/error.html``) is also read by scripts that sign in without a
    browser, through a contract that stays when its visible text changes: the error card has
    ``data-error`` (the error code), ``data-error-description`` (the description, as the JSON
    answers carry it) and ``data-hint`` (what to do), and each callback registered for the app is a
    ``<code data-registered-callback>``. Whether a path answers JSON or a page is decided by
    ``web.answer_kind`` alone."""
    sid = r"(?P<server_id>[^/]+)"
    service = SUBSCRIPTIONS_PATH
    args = {"authority": authority}
    admin = {"progress": AdminProgress, "activity": AdminActivity, "rotate-keys": AdminRotateKeys,
             "shutdown": AdminShutdown}
    routes = [
        # Every endpoint answers with or without a trailing slash: Fortellis' own sample app posts
        # to .../v1/token/.
        (r"/", Home, args),
        (r"/callback/?", Callback, args),
        (r"/signed-out/?", SignedOut, args),
        (fr"/oauth2/{sid}/\.well-known/(?P<kind>openid-configuration|oauth-authorization-server)/?", Discovery, args),
        (fr"/oauth2/{sid}/v1/authorize/?", Authorize, args),
        (fr"/oauth2/{sid}/v1/token/?", Token, args),
        (fr"/oauth2/{sid}/v1/keys/?", Keys, args),
        (fr"/oauth2/{sid}/v1/userinfo/?", UserInfo, args),
        (fr"/oauth2/{sid}/v1/introspect/?", Introspect, args),
        (fr"/oauth2/{sid}/v1/revoke/?", Revoke, args),
        (fr"/oauth2/{sid}/v1/logout/?", Logout, args),
        # The sample API behind its gateway: its two resources, and every other path under it.
        (r"/api/sandbox/v1/dealership/*", Dealership, args),
        (r"/api/sandbox/v1/customers/*", Customers, args),
        (r"/api/.*", NoSuchApi, args),
        # Fortellis' Subscriptions service: an app's subscriptions and each one's context.
        (fr"{service}/v1/solution/subscriptions/?", SolutionSubscriptions, args),
        (fr"{service}/subscriptions/(?P<subscription_id>[^/]+)/context/?", SubscriptionContext, args),
        (fr"{service}/.*", NoSuchResource, args),
        (r"/sandbox/apps", Apps, args),
        (r"/sandbox/apps/(?P<api_key>[^/]+)", AppPage, args),  # an app's page, and its clock's form
        (r"/sandbox/users", Users, args),
        (r"/sandbox/subscriptions", Subscriptions, args),
        (r"/sandbox/subscriptions/approve", ApproveSubscription, args),
        (r"/sandbox/subscriptions/deactivate", DeactivateSubscription, args),
        (r"/sandbox/dealers", Dealers, args),
        (r"/sandbox/health", Health, args),
        (r"/sandbox/codes", CodeInfo, args),
        (r"/sandbox/clock", AppClock, args),  # an app's clock, for a script (Basic credentials)
        *((f"/sandbox/admin/{name}", action, {**args, "shutdown": shutdown}) for name, action in admin.items()),
        (r"/sandbox/admin/(?P<action>[a-z\-]+)", AdminUnknown, {**args, "actions": admin, "shutdown": None}),
        (r"/sandbox/instructor", Instructor, args),
        (r"/static/(.*)", StaticFiles, {"path": str(HERE / "static")}),
    ]
    return SandboxApplication(
        routes,
        authority,
        template_path=str(HERE / "templates"),
        default_handler_class=NotFound,
        default_handler_args=args,
        compiled_template_cache=True,
        log_function=_quiet_log,
    )


def _quiet_log(handler) -> None:
    """No line per request: a room makes thousands. What went wrong is logged once, with its
    traceback, where it happened (SandboxHandler.log_exception)."""


def _url_host(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:  # bound to every interface: reach it on loopback
        return "127.0.0.1" if address.version == 4 else "[::1]"
    return f"[{host}]" if address.version == 6 else host


class Sandbox:
    """One sandbox identity server.

    ``with Sandbox(Settings(state_dir=...)) as sandbox:`` runs it in a background thread;
    ``sandbox.info`` tells how to reach it. ``serve_forever()`` runs it in the foreground.
    Opening the state directory's database raises ``StateInUse`` when another sandbox
    process has it."""

    def __init__(self, settings: Settings):
        self.settings = settings
        settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store = Store(settings.state_dir / DATABASE_FILE)
        self.authority = Authority(settings, self.store)
        self._sockets: list[socket.socket] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self.info: SandboxInfo | None = None

    # --- binding ---
    def _bind(self) -> SandboxInfo:
        sockets = tornado.netutil.bind_sockets(self.settings.port, self.settings.host)
        if self.settings.port == 0 and len(sockets) > 1:  # each family got its own free port
            for extra in sockets[1:]:
                extra.close()
            sockets = sockets[:1]
        self._sockets = sockets
        port = sockets[0].getsockname()[1]
        self.authority.base_url = f"http://{_url_host(self.settings.host)}:{port}"
        self.info = self._describe()
        return self.info

    def _describe(self) -> SandboxInfo:
        authority, meta = self.authority, self.store.required_meta
        return SandboxInfo(
            issuer=authority.issuer,
            api_key=meta("demo_api_key"),
            api_secret=meta("demo_api_secret"),
            redirect_uri=f"{authority.public_base()}/callback/",
            username=DEMO_USERS[0][0],
            password=DEMO_PASSWORD,
            subscription_id=meta("demo_subscription_id"),
            api_base_url=f"{authority.public_base()}/api",
            base_url=authority.base_url,
            server_id=authority.server_id,
            state_dir=str(self.settings.state_dir),
            pid=os.getpid(),
            admin_token=meta("admin_token"),
            consent_api_key=self.store.meta("consent_api_key"),
            consent_api_secret=self.store.meta("consent_api_secret"),
            subscriptions_url=authority.subscriptions_url,
        )

    def _purge_now(self) -> None:
        self.purge()

    def purge(self) -> dict[str, int]:
        s = self.settings
        return self.store.purge(self.authority.now, keep_used_codes=max(s.code_lifetime, s.used_code_retention),
                                refresh_idle=s.refresh_idle_lifetime)

    # --- serving (the same in a thread and in the foreground) ---
    async def _run(self, ready, *, own_process: bool = False) -> None:
        """Serve on the bound sockets until ``request_stop()``; ``ready()`` once listening.
        ``own_process``: the process is this server's alone, so it may raise its open-file limit."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = CrowdServer(make_app(self.authority, shutdown=self.request_stop), xheaders=False,
                             open_files=open_file_limit(raise_soft=own_process), **SERVER_LIMITS)
        server.add_sockets(self._sockets)
        purger = tornado.ioloop.PeriodicCallback(self._purge_now, self.settings.purge_interval * 1000)
        purger.start()
        # The NEXT signing key is made once the server answers, on a worker thread: start-up does
        # not wait for an RSA key generation, and a state directory keeps its NEXT key after that.
        next_key = self._loop.run_in_executor(None, self.authority.ensure_next_key)
        self.authority.next_key_made = next_key  # /v1/keys waits for it: the key set is the same every time
        try:
            ready()
            await self._stopping.wait()
        finally:
            purger.stop()
            server.stop()  # no new connections; then the open ones, idle keep-alive ones included
            await server.close_all_connections()
            try:
                await next_key  # done writing before the database closes
            except Exception:
                log.exception("the next signing key could not be made")

    def request_stop(self) -> None:
        """Stop serving soon; safe from any thread and from a signal handler."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)

    # --- background thread ---
    def start(self) -> SandboxInfo:
        info = self._bind()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run():
            try:
                asyncio.run(self._run(ready.set))
            except BaseException as exc:  # surfaced to the caller below
                failure.append(exc)
                ready.set()

        self._thread = threading.Thread(target=run, name="fortellis-sandbox", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return info

    def stop(self) -> None:
        if self._thread is not None:
            self.request_stop()
            self._thread.join(timeout=10)
            self._thread = None
        self.store.close()

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def rotate_keys(self) -> str:
        return self.authority.rotate_keys()

    # --- foreground (the command line) ---
    def serve_forever(self, on_ready=None) -> None:
        """Serve until Ctrl+C, SIGTERM or ``POST /sandbox/admin/shutdown``, keeping
        ``server.json`` in the state directory up to date so notebooks find and reuse this server."""
        self._bind()
        server_file = self.settings.state_dir / SERVER_FILE

        def ready():
            _write_private(server_file, json.dumps(self.info.as_dict()))
            if on_ready:
                on_ready(self.info)

        stop_signals = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGBREAK] if hasattr(signal, "SIGBREAK") else [])
        previous = {sig: signal.signal(sig, lambda _signum, _frame: self.request_stop()) for sig in stop_signals}
        try:
            asyncio.run(self._run(ready, own_process=True))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.store.close()
            # Removed last: once it is gone, the database is free for the next start.
            _remove_if_ours(server_file, os.getpid())


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _remove_if_ours(path: Path, pid: int) -> None:
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError):
        pass


__all__ = ["Sandbox", "SandboxInfo", "Settings", "make_app"]
