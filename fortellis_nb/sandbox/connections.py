"""A crowd of connections: how many the sandbox holds at once, and what it does with the rest.

Each connection holds an open file. When a process has no file left, ``accept()`` fails with
EMFILE while the listening socket stays readable: tornado's own accept handler would raise at
every turn of the loop, with a line in the log each time, at full CPU. So the sandbox holds at
most ``connection_cap(limit)`` connections, below its open-file limit (raised first towards the
system's hard limit where it may be). At the cap it closes the connections that have waited
longest without a request (idle for ``MIN_IDLE`` seconds at least: an idle keep-alive
connection, or one that never sent its headers) to make room, and stops watching its listening
sockets meanwhile: the rest wait in the system's listen queue, and accepting resumes as soon as
a connection closes (or, when every connection is busy or new, ``MIN_IDLE`` later). A client
whose idle connection was closed opens another, as browsers and HTTP libraries do after a
keep-alive connection was closed; a request in progress is never cut. Should ``accept()``
still run out of files (the database, a static file, another thread took them), accepting
pauses for ``RETRY_AFTER`` seconds instead of trying again at once. Either condition is
logged at most once per ``NOTE_INTERVAL``, with how often it happened since the line before."""

from __future__ import annotations

import errno
import functools
import itertools
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import tornado.httpserver
import tornado.httputil
import tornado.ioloop

from .web import log

#: Files kept free for what the sandbox opens besides connections: the database and its -wal
#: and -shm files, the standard streams, the listening sockets, the event loop's own (epoll, its
#: wake-up pipe), the worker threads' files, the templates and static files being read. About
#: 20 in use; 64 leaves room for a burst of those beside a full house of connections.
HEADROOM = 64
#: The soft limit the sandbox asks for: ample for any room (a learner's browser holds 6
#: connections, a room of 500 some 3,000); a higher one would only let a crowd use more memory.
WANTED_FILES = 65536
#: Windows has no open-file limit to raise; tornado watches sockets there with select(), which
#: CPython's Windows build compiles for at most 512 sockets (FD_SETSIZE).
WINDOWS_SOCKETS = 512
#: Seconds accepting pauses after accept() found no file left.
RETRY_AFTER = 1.0
#: Seconds a connection must have waited without a request before it may be closed to make room
#: (a client that just connected has that long to send its request).
MIN_IDLE = 2.0
#: Idle connections closed at most at once to make room for those waiting.
MAKE_ROOM = 32
#: At most one line about a crowd per this many seconds.
NOTE_INTERVAL = 60.0
#: Connections accepted at most per readiness event, as tornado's own accept handler does.
ACCEPT_BATCH = 128
OUT_OF_FILES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def open_file_limit(*, raise_soft: bool) -> int:
    """The open files this process may hold (its soft RLIMIT_NOFILE), with ``raise_soft``
    first raised towards ``WANTED_FILES`` within the hard limit (a desktop's usual 1024 is
    below what a crowded room needs). Only a process of its own raises it: a notebook's
    kernel that runs a sandbox in a thread keeps its limits."""
    try:
        import resource
    except ImportError:  # Windows
        return WINDOWS_SOCKETS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return WANTED_FILES
    wanted = WANTED_FILES if hard == resource.RLIM_INFINITY else min(hard, WANTED_FILES)
    if raise_soft and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):  # macOS refuses more than kern.maxfilesperproc: keep the soft limit
            pass
    return soft


def connection_cap(limit: int) -> int:
    """Connections held at once with ``limit`` open files: ``HEADROOM`` below it, and never
    more than half of a small limit taken by the headroom."""
    return max(limit - HEADROOM, limit // 2)


class CrowdServer(tornado.httpserver.HTTPServer):
    """tornado's HTTP server with a cap on its connections, ``connection_cap(open_files)``
    (``open_files``: the process's limit as it is, when not given). It accepts on a handler of
    its own (tornado's lets EMFILE escape at every turn of the loop), which stops watching the
    listening sockets at the cap or when the process is out of files, and starts again when a
    connection closes (``on_close``, where tornado's HTTP server forgets one) or after a pause."""

    def initialize(self, *args: Any, open_files: int | None = None, retry_after: float = RETRY_AFTER,
                   note_interval: float = NOTE_INTERVAL, min_idle: float = MIN_IDLE, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self.open_files = open_file_limit(raise_soft=False) if open_files is None else open_files
        self.max_connections = connection_cap(self.open_files)
        self.retry_after, self.note_interval, self.min_idle = retry_after, note_interval, min_idle
        # Each connection waiting for a request, by when it began to wait, oldest first.
        self._idle_since: dict[Any, float] = {}
        self._closing: set[Any] = set()  # closed to make room, not yet forgotten (on_close)
        self._listening: list[socket.socket] = []
        self._watching = False
        self._retry: object | None = None  # the IOLoop timeout that resumes accepting after a pause
        self._retry_on_close = False  # whether a connection that closes ends the pause sooner
        self._noted_at = -float("inf")
        self._since = {"full": 0, "closed_idle": 0, "out_of_files": 0}

    # --- the listening sockets: watched, or not while full ---
    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            # What tornado's stop() calls for each socket: no more watching it.
            self._handlers[sock.fileno()] = functools.partial(self._forget, sock)
            self._listening.append(sock)
        self._watch()

    def _forget(self, sock: socket.socket) -> None:
        self._listening.remove(sock)
        tornado.ioloop.IOLoop.current().remove_handler(sock)
        self._cancel_pause()

    def _pause(self, seconds: float, *, until_a_close: bool) -> None:
        """Accept again after ``seconds``, or (``until_a_close``) once a connection closes."""
        self._unwatch()
        self._retry = tornado.ioloop.IOLoop.current().call_later(seconds, self._resume)
        self._retry_on_close = until_a_close

    def _cancel_pause(self) -> None:
        if self._retry is not None:
            tornado.ioloop.IOLoop.current().remove_timeout(self._retry)
            self._retry = None

    def _watch(self) -> None:
        if self._watching or self._stopped:
            return
        self._watching = True
        loop = tornado.ioloop.IOLoop.current()
        for sock in self._listening:
            loop.add_handler(sock, functools.partial(self._accept, sock), tornado.ioloop.IOLoop.READ)

    def _unwatch(self) -> None:
        if self._watching:
            self._watching = False
            for sock in self._listening:
                tornado.ioloop.IOLoop.current().remove_handler(sock)

    def _accept(self, sock: socket.socket, _fd: Any, _events: int) -> None:
        for _ in range(ACCEPT_BATCH):
            if len(self._connections) >= self.max_connections:
                self._unwatch()  # until those closed to make room are gone (on_close)
                if not self._closing and not self._make_room():  # none may be closed yet
                    self._pause(self.min_idle, until_a_close=True)  # the oldest may be, then
                self._note("full")
                return
            try:
                connection, address = sock.accept()
            except BlockingIOError:  # every waiting connection taken
                return
            except ConnectionAbortedError:  # closed while it waited in the queue
                continue
            except OSError as exc:
                if exc.errno not in OUT_OF_FILES:
                    raise
                self._pause(self.retry_after, until_a_close=False)  # a closed connection is no file for us
                self._note("out_of_files")
                return
            self._handle_connection(connection, address)

    def _resume(self) -> None:
        self._retry = None
        self._watch()

    def _make_room(self) -> int:
        """Close up to ``MAKE_ROOM`` of the connections that have waited longest for a request,
        those that have waited ``min_idle`` at least; how many. Each is forgotten in ``on_close``."""
        oldest = time.monotonic() - self.min_idle
        chosen = [conn for conn, since in itertools.islice(self._idle_since.items(), MAKE_ROOM) if since <= oldest]
        for conn in chosen:
            del self._idle_since[conn]
            self._closing.add(conn)
            conn.stream.close()
        self._since["closed_idle"] += len(chosen)
        return len(chosen)

    # --- which connections wait for a request: tornado asks start_request before each one ---
    def start_request(self, server_conn: object, request_conn: tornado.httputil.HTTPConnection,
                      ) -> tornado.httputil.HTTPMessageDelegate:
        self._idle_since.pop(server_conn, None)  # to the end: the newest to wait
        self._idle_since[server_conn] = time.monotonic()
        return _Busy(super().start_request(server_conn, request_conn),
                     functools.partial(self._idle_since.pop, server_conn, None))

    def on_close(self, server_conn: object) -> None:
        super().on_close(server_conn)
        self._idle_since.pop(server_conn, None)
        self._closing.discard(server_conn)
        if self._retry is not None and self._retry_on_close:
            self._cancel_pause()
        if self._retry is None:  # room again (after running out of files, the timer decides)
            self._watch()

    # --- what the log is told ---
    def _note(self, condition: str) -> None:
        self._since[condition] += 1
        now = time.monotonic()
        if now - self._noted_at < self.note_interval:
            return
        held, since = len(self._connections), self._since
        if condition == "full":
            said = (f"The sandbox holds {held} connections, its most at once (the open-file limit is "
                    f"{self.open_files}): it closes those idle longest to make room, and new ones wait in the "
                    f"system's queue meanwhile")
        else:
            said = (f"The system has no file left for a new connection (the open-file limit is {self.open_files}, "
                    f"{held} connections held): accepting pauses {self.retry_after:g} s at a time")
        log.warning("%s (since the line before: full %d, idle connections closed %d, out of files %d; "
                    "one such line at most every %g s).", said, since["full"], since["closed_idle"],
                    since["out_of_files"], self.note_interval)
        self._noted_at = now
        self._since = {"full": 0, "closed_idle": 0, "out_of_files": 0}


class _Busy(tornado.httputil.HTTPMessageDelegate):
    """The application's delegate for one request, which first tells ``busy()`` that the
    request's headers came: from then until the answer is sent, the connection is not idle."""

    def __init__(self, inner: tornado.httputil.HTTPMessageDelegate, busy: Callable[[], Any]):
        self._inner, self._busy = inner, busy

    def headers_received(self, start_line: Any, headers: tornado.httputil.HTTPHeaders) -> Any:
        self._busy()
        return self._inner.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        return self._inner.data_received(chunk)

    def finish(self) -> None:
        self._inner.finish()

    def on_connection_close(self) -> None:
        self._inner.on_connection_close()
