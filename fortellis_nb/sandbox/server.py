"""Assemble the tornado application and run it: in a background thread (tests, one
process) or in the foreground (``python -m fortellis_nb.sandbox``)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import json
import os
import signal
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import tornado.ioloop
import tornado.netutil
import tornado.web

from .authority import DEMO_PASSWORD, DEMO_USERS, Authority, Settings
from .gateway import SampleApi
from .http1 import Balance, HTTP1Server
from .identity import Authorize, Discovery, Introspect, Keys, Logout, Revoke, Token, UserInfo, token_route
from .portal import Admin, Apps, Callback, Health, Home, Instructor, Users
from .storage import FLUSH_AFTER, Store
from .web import NotFound, StaticFiles, log

HERE = Path(__file__).parent
SERVER_FILE = "server.json"
DATABASE_FILE = "sandbox.sqlite3"
_SECRET_FIELDS = {"api_secret", "password", "admin_token"}


@dataclass(frozen=True)
class SandboxInfo:
    """Everything a script or a learner needs to use a running sandbox."""

    issuer: str
    api_key: str
    api_secret: str
    redirect_uri: str
    username: str
    password: str
    subscription_id: str
    api_base_url: str
    base_url: str
    server_id: str
    state_dir: str
    pid: int
    admin_token: str

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SandboxInfo":
        return cls(**{f.name: data[f.name] for f in fields(cls)})

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={'***' if f.name in _SECRET_FIELDS else repr(getattr(self, f.name))}" for f in fields(self)
        )
        return f"SandboxInfo({shown})"

    __str__ = __repr__


def make_app(authority: Authority) -> tornado.web.Application:
    sid = r"(?P<server_id>[^/]+)"
    args = {"authority": authority}
    routes = [
        (r"/", Home, args),
        (r"/callback/?", Callback, args),
        (fr"/oauth2/{sid}/\.well-known/(?P<kind>openid-configuration|oauth-authorization-server)", Discovery, args),
        (fr"/oauth2/{sid}/v1/authorize", Authorize, args),
        (fr"/oauth2/{sid}/v1/token", Token, args),
        (fr"/oauth2/{sid}/v1/keys", Keys, args),
        (fr"/oauth2/{sid}/v1/userinfo", UserInfo, args),
        (fr"/oauth2/{sid}/v1/introspect", Introspect, args),
        (fr"/oauth2/{sid}/v1/revoke", Revoke, args),
        (fr"/oauth2/{sid}/v1/logout", Logout, args),
        (r"/api/sandbox/v1/(?P<resource>dealership|customers)", SampleApi, args),
        (r"/sandbox/apps", Apps, args),
        (r"/sandbox/users", Users, args),
        (r"/sandbox/health", Health, args),
        (r"/sandbox/admin/(?P<action>[a-z\-]+)", Admin, args),
        (r"/sandbox/instructor", Instructor, args),
        (r"/static/(.*)", StaticFiles, {"path": str(HERE / "static")}),
    ]
    return tornado.web.Application(
        routes,
        template_path=str(HERE / "templates"),
        default_handler_class=NotFound,
        default_handler_args=args,
        compiled_template_cache=True,
        log_function=_quiet_log,
    )


def _quiet_log(handler) -> None:
    status = handler.get_status()
    if status >= 500:
        log.error("%d %s %s", status, handler.request.method, handler.request.path)


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
    ``sandbox.info`` tells how to reach it. ``serve_forever()`` runs it in the foreground."""

    def __init__(self, settings: Settings):
        self.settings = settings
        settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store = Store(settings.state_dir / DATABASE_FILE)
        self.authority = Authority(settings, self.store)
        self._sockets = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: HTTP1Server | None = None
        self._purger: tornado.ioloop.PeriodicCallback | None = None
        self._flusher: tornado.ioloop.PeriodicCallback | None = None
        self.info: SandboxInfo | None = None

    # --- binding ---
    def _bind(self) -> None:
        sockets = tornado.netutil.bind_sockets(self.settings.port, self.settings.host)
        if self.settings.port == 0 and len(sockets) > 1:  # each family got its own free port
            for extra in sockets[1:]:
                extra.close()
            sockets = sockets[:1]
        self._sockets = sockets
        port = sockets[0].getsockname()[1]
        self.authority.base_url = f"http://{_url_host(self.settings.host)}:{port}"
        self.info = self._describe()

    def _describe(self) -> SandboxInfo:
        authority, meta = self.authority, self.store.meta
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
        )

    def _attach(self, purge: bool = True, balance: Balance | None = None) -> None:
        if threading.current_thread() is threading.main_thread():
            # A process of its own (the command line, a worker): what start-up made lives as long
            # as the process, so the garbage collector's full passes need not walk it each time.
            gc.collect()
            gc.freeze()
        # Our own HTTP/1.1 layer under tornado.web (http1.py says why); X-Forwarded-* is not
        # trusted for the client's address, as before (tornado's xheaders=False).
        token_path = f"/oauth2/{self.authority.server_id}/v1/token"
        self._server = HTTP1Server(make_app(self.authority), routes={("POST", token_path): token_route(self.authority)},
                                   balance=balance)
        self._server.add_sockets(self._sockets)
        # The store's buffered writes (counts, token records) reach the database within this.
        self._flusher = tornado.ioloop.PeriodicCallback(self.store.flush, FLUSH_AFTER * 1000)
        self._flusher.start()
        if purge:
            self._purger = tornado.ioloop.PeriodicCallback(self.purge, self.settings.purge_interval * 1000)
            self._purger.start()
        self._loop = asyncio.get_running_loop()

    def purge(self) -> dict[str, int]:
        s = self.settings
        return self.store.purge(self.authority.now, keep_used_codes=max(s.code_lifetime, s.used_code_retention),
                                refresh_idle=s.refresh_idle_lifetime)

    # --- background thread ---
    def start(self) -> SandboxInfo:
        self._bind()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(_call(self._attach))
            except BaseException as exc:  # surfaced to the caller below
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._detach())
            loop.close()

        self._thread = threading.Thread(target=run, name="fortellis-sandbox", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self.info

    def stop(self) -> None:
        if self._thread is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None
        self.store.close()

    def __enter__(self) -> "Sandbox":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    async def _detach(self) -> None:
        """Stop listening and close every open connection, idle keep-alive ones included."""
        if self._purger is not None:
            self._purger.stop()
        if self._flusher is not None:
            self._flusher.stop()
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()

    def rotate_keys(self) -> str:
        return self.authority.rotate_keys()

    # --- foreground (the command line) ---
    def serve_forever(self, on_ready=None, workers: int = 1) -> None:
        """Run until SIGINT or SIGTERM, keeping ``server.json`` in the state directory
        up to date so notebooks find and reuse this server.

        With ``workers`` > 1, that many processes share the listening socket (for a room of
        learners or a benchmark: each one signs tokens on its own core); this process
        supervises them."""
        if workers > 1:
            return self._serve_workers(workers, on_ready)
        self._bind()

        async def main():
            self._attach()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            server_file = self.settings.state_dir / SERVER_FILE
            _write_private(server_file, json.dumps(self.info.as_dict()))
            if on_ready:
                on_ready(self.info)
            try:
                await stop.wait()
            finally:
                await self._detach()
                _remove_if_ours(server_file, os.getpid())

        try:
            asyncio.run(main())
        finally:
            self.store.close()


    def _serve_workers(self, workers: int, on_ready) -> None:
        self._bind()
        # An SQLite connection must not cross a fork: every worker opens its own. They share
        # the database file (WAL mode, busy timeout), and each reloads the signing keys when
        # another one rotates them (Authority._current_keys).
        self.store.close()
        children: dict[int, int] = {}
        stopping = False
        balance = Balance(workers)  # shared by the workers, to split the connections evenly

        def stop(_signum=None, _frame=None):
            nonlocal stopping
            stopping = True
            for pid in list(children):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        server_file = self.settings.state_dir / SERVER_FILE
        try:
            for index in range(workers):
                pid = os.fork()
                if pid == 0:
                    os._exit(self._worker(index, balance.for_worker(index)))
                children[pid] = index
            for sock in self._sockets:  # the workers hold it now
                sock.close()
            _write_private(server_file, json.dumps(self.info.as_dict()))
            if on_ready:
                on_ready(self.info)
            while children:
                try:
                    pid, status = os.wait()
                except ChildProcessError:
                    break
                children.pop(pid, None)
                if not stopping:  # a worker died on its own: stop rather than serve short-handed
                    log.error("sandbox worker %d exited (status %d); stopping the others", pid, status)
                    stop()
        finally:
            stop()
            for pid in list(children):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            _remove_if_ours(server_file, os.getpid())

    def _worker(self, index: int, balance: Balance) -> int:
        """One worker process: its own database connection, the shared socket, until SIGTERM."""
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)
            self.store = self.authority.store = Store(self.settings.state_dir / DATABASE_FILE)

            async def main():
                self._attach(purge=index == 0, balance=balance)  # one purger is enough
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                try:
                    await stop.wait()
                finally:
                    await self._detach()

            asyncio.run(main())
            self.store.close()
            return 0
        except BaseException:  # noqa: BLE001 -- a worker reports and exits; never returns into the parent's code
            log.exception("sandbox worker %d failed", index)
            return 1


async def _call(fn):
    fn()


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
