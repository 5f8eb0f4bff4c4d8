"""The sandbox's HTTP/1.1 server: an ``asyncio.Protocol`` that parses with httptools (llhttp)
and hands each request to the tornado ``Application`` through tornado's delegate interface.

Why not ``tornado.httpserver.HTTPServer``: on this project's machines its connection layer
(HTTP1Connection, IOStream, a coroutine per connection) cost about 240 µs of CPU per request,
more than the token endpoint's own work but the signature; a Protocol with a C parser costs a
fraction of that. Everything above the connection (routing, RequestHandlers, templates,
static files, error pages) is still tornado.web, unchanged.

What this layer does itself, and why:

* one request at a time per connection, answers in order: pipelined requests wait in a
  queue (reading pauses while one does), because tornado handlers may be async;
* a request's body is read whole (at most ``max_body_size``) before tornado sees it, so a
  client that disconnects half-way costs nothing but the buffer;
* answers it cannot leave to tornado (a request that does not parse, headers or a body over
  the limits) are short plain-text errors with the same security headers as every other
  answer, then the connection closes; never a traceback;
* idle keep-alive connections and requests that arrive too slowly are closed.
"""

from __future__ import annotations

import asyncio
import collections
import json
import mmap
import time

import httptools
from tornado import httputil
from tornado.iostream import StreamClosedError

from .web import SECURITY_HEADERS, json_headers, log

# Responses that never carry a body, whatever their headers say (RFC 9110 section 6.4.1).
_NO_BODY_STATUSES = frozenset((204, 304))
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _Refusal(Exception):
    """A request this layer answers itself with an error, then closes the connection."""

    def __init__(self, status: int, reason: str, text: str):
        super().__init__(text)
        self.status, self.reason, self.text = status, reason, text


def plain_answer(status: int, reason: str, text: str) -> bytes:
    """A complete short plain-text answer that closes the connection."""
    body = f"{status} {reason}: {text}\n".encode("utf-8", "replace")
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in SECURITY_HEADERS),
             "Cache-Control: no-store", "Content-Type: text/plain; charset=UTF-8",
             f"Date: {httputil.format_timestamp(time.time())}", f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class HTTP1Server:
    """Serves a tornado Application on already bound listening sockets.

    The limits and timeouts are plain attributes, read when they apply, so a test can
    shorten them on a running server."""

    def __init__(self, app, *, routes: dict | None = None, balance: "Balance | None" = None,
                 idle_timeout: float = 60.0, request_timeout: float = 30.0,
                 max_header_size: int = 64 * 1024, max_body_size: int = 1024 * 1024, linger: float = 2.0):
        self.app = app
        # (method, exact path) -> function(query, headers, body) -> (status, headers, body): answered
        # here, past tornado.web, for the busiest endpoint (identity.token_route says why).
        self.routes = routes or {}
        self.balance = balance
        self._loop: asyncio.AbstractEventLoop | None = None
        self.idle_timeout = idle_timeout  # a keep-alive connection with no request is closed after this
        self.request_timeout = request_timeout  # from a request's first byte to its last
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size
        self.linger = linger  # after a closing answer, how long to drain what the client still sends
        self.connections: set[_Connection] = set()
        # Connections with a request to answer, in the order their requests were read: one is
        # answered per turn of the event loop (see _take_turns).
        self._turns: collections.deque[_Connection] = collections.deque()
        self._taking_turns = False
        self._listeners: list = []  # the listening sockets
        self._stopped = False
        self._all_closed = asyncio.Event()

    def add_sockets(self, sockets) -> None:
        """Start accepting on each socket (from a running event loop). Worker processes each
        call this with the same inherited socket; ``balance`` keeps their shares of the
        connections even (see ``Balance``)."""
        loop = self._loop = asyncio.get_running_loop()
        for sock in sockets:
            sock.setblocking(False)
            self._listeners.append(sock)
            loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, sock) -> None:
        """One connection per wake-up (asyncio's own server takes up to its backlog at once,
        which hands a burst of new clients to whichever worker woke first)."""
        loop = asyncio.get_running_loop()
        if self.balance is not None and not self.balance.my_turn():
            # A sibling worker holds fewer connections: leave this one to it, look again soon.
            loop.remove_reader(sock.fileno())
            loop.call_later(0.002, self._resume_accepting, sock)
            return
        try:
            conn, _address = sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # a sibling took it, or the client gave up
        except OSError as exc:  # out of file descriptors, say: wait a little instead of spinning
            log.error("the sandbox could not accept a connection: %s", exc)
            loop.remove_reader(sock.fileno())
            loop.call_later(0.1, self._resume_accepting, sock)
            return
        conn.setblocking(False)
        loop.create_task(loop.connect_accepted_socket(lambda: _Connection(self), conn))

    def _resume_accepting(self, sock) -> None:
        if not self._stopped and sock.fileno() != -1:
            asyncio.get_running_loop().add_reader(sock.fileno(), self._accept, sock)

    def stop(self) -> None:
        """Stop accepting connections and close the listening sockets."""
        self._stopped = True
        for sock in self._listeners:
            if sock.fileno() != -1:
                if self._loop is not None and not self._loop.is_closed():
                    self._loop.remove_reader(sock.fileno())
                sock.close()
        self._listeners = []

    async def close_all_connections(self, grace: float = 5.0) -> None:
        """Close idle connections now; let requests being answered finish (for ``grace``
        seconds at most), then close their connections too."""
        for connection in list(self.connections):
            connection.shut_down()
        if self.connections:
            try:
                await asyncio.wait_for(self._all_closed.wait(), grace)
            except asyncio.TimeoutError:
                for connection in list(self.connections):
                    connection.transport.abort()
        await asyncio.sleep(0)  # let the transports' own closing callbacks run

    def _wants_turn(self, connection: "_Connection") -> None:
        """Queue a connection that has a request to answer; it is answered in its turn."""
        if connection.queued:
            return
        connection.queued = True
        self._turns.append(connection)
        if not self._taking_turns:
            self._taking_turns = True
            connection.loop.call_soon(self._take_turns)

    def _take_turns(self) -> None:
        """Answer one request, then let the event loop poll the sockets before the next.

        Answering everything one poll returned, in the poll's order, is unfair under load:
        epoll lists again first the sockets it listed last time, so the client answered last
        in one round sends its next request just after the poll, is read at the end of the
        round after, and keeps waiting two rounds while every other client waits one. With a
        poll between two answers, requests are answered in the order they arrived."""
        connection = self._turns.popleft()
        connection.queued = False
        try:
            connection._next()
        finally:
            if self._turns:
                connection.loop.call_soon(self._take_turns)
            else:
                self._taking_turns = False

    def _opened(self, connection: "_Connection") -> None:
        self.connections.add(connection)
        self._all_closed.clear()
        if self.balance is not None:
            self.balance.set(len(self.connections))

    def _closed(self, connection: "_Connection") -> None:
        self.connections.discard(connection)
        if self.balance is not None:
            self.balance.set(len(self.connections))
        if not self.connections:
            self._all_closed.set()


class Balance:
    """Open connections per worker process, in memory the workers share (made before they
    fork). A worker accepts only while it holds no more connections than any sibling, so
    fifty keep-alive clients become 25 + 25, not 40 + 10 for as long as they stay."""

    def __init__(self, workers: int):
        self._memory = mmap.mmap(-1, 8 * workers)  # anonymous and shared across fork
        self.counts = memoryview(self._memory).cast("q")
        self.index = 0

    def for_worker(self, index: int) -> "Balance":
        self.index = index
        return self

    def set(self, count: int) -> None:
        self.counts[self.index] = count

    def my_turn(self) -> bool:
        return self.counts[self.index] <= min(self.counts)


class _Context:
    """What tornado's HTTPServerRequest reads from ``connection.context``."""

    __slots__ = ("address", "remote_ip", "protocol")

    def __init__(self, address):
        self.address = address
        # A Unix socket has no address: tornado fakes one the same way.
        self.remote_ip = address[0] if isinstance(address, tuple) and address else "0.0.0.0"
        self.protocol = "http"

    def __str__(self) -> str:
        return self.remote_ip


class _Request:
    """A request as it arrives: collected whole before tornado sees it."""

    __slots__ = ("started", "url", "raw_headers", "head_size", "in_head", "method", "version", "headers",
                 "keep_alive", "body", "wants_continue")

    def __init__(self, started: float):
        self.started = started
        self.url = b""
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.head_size = 0
        self.in_head = True
        self.body = bytearray()
        self.wants_continue = False


class _Connection(asyncio.Protocol):
    """One client connection: parses requests, answers them one at a time, in order."""

    def __init__(self, server: HTTP1Server):
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.context: _Context | None = None
        self.incoming: _Request | None = None  # the request being read
        self.waiting: collections.deque = collections.deque()  # read, behind the one being answered
        self.current: _Exchange | None = None  # the request being answered
        self.queued = False  # waiting for its turn to answer (HTTP1Server._wants_turn)
        self.last_request = False  # the client said this is its last request (or hung up its side)
        self.eof = False  # the client closed its side: it reads, but sends nothing more
        self.hung_up = False  # we said our last word: what arrives now is read and dropped
        self.closed = False
        self.reading_paused = False
        self.writing_paused = False
        self.drained: list[asyncio.Future] = []
        self.written = self.loop.create_future()  # what every write returns while nothing is queued
        self.written.set_result(None)
        self.idle_since = self.loop.time()
        self.timer: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol ---
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.context = _Context(transport.get_extra_info("peername"))
        self.server._opened(self)
        self._watch()

    def data_received(self, data: bytes) -> None:
        if self.hung_up or self.last_request:
            return
        was_in_head = self.incoming is not None and self.incoming.in_head
        refusal = None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            refusal = exc.__context__ if isinstance(exc.__context__, _Refusal) else None
            if refusal is None:
                log.error("the HTTP layer failed on a request", exc_info=exc.__context__ or exc)
                refusal = _Refusal(400, "Bad Request", "the request could not be read")
        except httptools.HttpParserUpgrade:  # only reached without a handled request: see _headers_done
            refusal = _Refusal(400, "Bad Request", "the sandbox does not switch protocols")
        except httptools.HttpParserError as exc:
            refusal = _Refusal(400, "Bad Request", f"the request is not valid HTTP/1.1 ({exc})")
        if refusal is None and was_in_head and self.incoming is not None and self.incoming.in_head:
            # A header line that has not ended yet is not counted by on_header: count this whole
            # read, which was all head.
            self.incoming.head_size += len(data)
            if self.incoming.head_size > self.server.max_header_size:
                refusal = self._too_large_head()
        if refusal is not None and not self.last_request:
            self.incoming = None
            self.waiting.append(refusal)
            self.last_request = True
        if self.current is None and self.waiting:  # (not _idle: a trickle must not reset the clock)
            self.server._wants_turn(self)
        if len(self.waiting) > (0 if self.current is not None else 1) and not self.reading_paused:
            # A whole request waits its turn: read no more until it has been answered.
            self.reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        # The client will send nothing more. Answer what it already asked, then close.
        self.last_request = self.eof = True
        self.incoming = None
        if self.hung_up or (self.current is None and not self.waiting):
            return False  # asyncio closes the transport
        return True

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.server._closed(self)
        if self.timer is not None:
            self.timer.cancel()
        self.waiting.clear()
        self.incoming = None
        for future in self.drained:
            if not future.done():
                future.set_exception(StreamClosedError())
                future.exception()  # retrieved: an unawaited write is no error
        self.drained = []
        exchange, self.current = self.current, None
        if exchange is not None and not exchange.finished:
            exchange.finished = True
            callback, exchange.close_callback = exchange.close_callback, None
            if callback is not None:
                try:
                    callback()  # tornado's RequestHandler.on_connection_close
                except Exception:
                    log.exception("on_connection_close failed")

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        drained, self.drained = self.drained, []
        for future in drained:
            if not future.done():
                future.set_result(None)

    # --- httptools callbacks ---
    def on_message_begin(self) -> None:
        self.incoming = _Request(self.loop.time())

    def on_url(self, url: bytes) -> None:
        request = self.incoming
        request.url += url
        request.head_size += len(url)
        if request.head_size > self.server.max_header_size:
            raise self._too_large_head()

    def on_header(self, name: bytes, value: bytes) -> None:
        request = self.incoming
        request.raw_headers.append((name, value))
        request.head_size += len(name) + len(value) + 4
        if request.head_size > self.server.max_header_size:
            raise self._too_large_head()

    def on_headers_complete(self) -> None:
        request, parser = self.incoming, self.parser
        request.in_head = False
        request.method = parser.get_method().decode("ascii")
        request.version = parser.get_http_version()
        request.keep_alive = parser.should_keep_alive()
        if request.version not in ("1.0", "1.1"):
            raise _Refusal(505, "HTTP Version Not Supported", "the sandbox speaks HTTP/1.0 and HTTP/1.1")
        if parser.should_upgrade():  # a WebSocket, h2c or CONNECT: nothing here speaks them
            raise _Refusal(400, "Bad Request", "the sandbox does not switch protocols")
        headers = request.headers = httputil.HTTPHeaders()
        for name, value in request.raw_headers:
            headers.add(name.decode("latin-1"), value.decode("latin-1"))
        request.raw_headers = None
        # As strict as tornado: llhttp also accepts "gzip, chunked", which nothing here decodes.
        if "Transfer-Encoding" in headers and headers["Transfer-Encoding"].lower() != "chunked":
            raise _Refusal(400, "Bad Request", "only the chunked transfer coding is supported")
        length = headers.get("Content-Length")
        if length is not None and int(length) > self.server.max_body_size:
            raise self._too_large_body()
        if request.version == "1.1" and headers.get("Expect", "").lower() == "100-continue":
            if self.current is None and not self.waiting:
                self.transport.write(_CONTINUE)
            else:  # an interim answer must not overtake the answers before it: see _idle
                request.wants_continue = True

    def on_body(self, body: bytes) -> None:
        request = self.incoming
        request.body += body
        if len(request.body) > self.server.max_body_size:
            raise self._too_large_body()

    def on_message_complete(self) -> None:
        request, self.incoming = self.incoming, None
        request.wants_continue = False
        self.waiting.append(request)
        if not request.keep_alive:
            self.last_request = True  # what follows is not read (llhttp refuses it anyway)

    def _too_large_head(self) -> _Refusal:
        return _Refusal(431, "Request Header Fields Too Large",
                        f"the request line and headers exceed {self.server.max_header_size} bytes")

    def _too_large_body(self) -> _Refusal:
        return _Refusal(413, "Content Too Large", f"the request body exceeds {self.server.max_body_size} bytes")

    # --- answering, one request at a time ---
    def _next(self) -> None:
        """Answer the oldest request that waits, if none is being answered."""
        if self.current is not None or self.closed or self.hung_up:
            return
        if not self.waiting:
            return self._idle()
        request = self.waiting.popleft()
        if isinstance(request, _Refusal):
            self.transport.write(plain_answer(request.status, request.reason, request.text))
            return self.hang_up()
        url = request.url.decode("latin-1")
        route = self.server.routes.get((request.method, url.partition("?")[0]))
        if route is not None:
            return self._direct(request, route, url.partition("?")[2])
        exchange = self.current = _Exchange(self, request)
        delegate = self.server.app.start_request(self, exchange)
        start_line = httputil.RequestStartLine(request.method, url, "HTTP/" + request.version)
        steps = [lambda: delegate.headers_received(start_line, request.headers)]
        if request.body:
            steps.append(lambda: delegate.data_received(bytes(request.body)))
        steps.append(delegate.finish)
        self._drive(exchange, steps)

    def _direct(self, request: _Request, route, query: str) -> None:
        """A request for one of the server's direct routes: answered whole, here and now."""
        try:
            status, headers, body = route(query, request.headers, bytes(request.body))
        except Exception:
            log.exception("the sandbox failed on a request")
            status, headers = 500, json_headers()
            body = json.dumps({"error": "server_error", "error_description":
                               "The sandbox hit an unexpected error. Its log has the details."}).encode()
        keep_alive = request.keep_alive and not (self.last_request and not self.waiting)
        lines = [f"HTTP/1.1 {status} {httputil.responses.get(status, 'Unknown')}",
                 *(f"{name}: {value}" for name, value in headers), f"Content-Length: {len(body)}"]
        if request.version == "1.1" and not keep_alive:
            lines.append("Connection: close")
        elif request.version == "1.0" and keep_alive:
            lines.append("Connection: keep-alive")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        if not keep_alive:
            self.hang_up()
        elif self.waiting:
            self.server._wants_turn(self)
        else:
            self._idle()

    def _drive(self, exchange: "_Exchange", steps: list) -> None:
        """Feed a request to tornado. A handler that streams its request body may return an
        awaitable from a step: the remaining steps then wait for it."""
        try:
            for index, step in enumerate(steps):
                pending = step()
                if pending is not None:
                    self.loop.create_task(self._drive_later(exchange, pending, steps[index + 1:]))
                    return
        except httputil.HTTPInputError as exc:  # tornado refused the request (a bad Host, query)
            self._failed(exchange, 400, "Bad Request", str(exc))
        except Exception:
            log.exception("the sandbox failed on a request")
            self._failed(exchange, 500, "Internal Server Error", "the sandbox hit an unexpected error")

    async def _drive_later(self, exchange: "_Exchange", pending, steps: list) -> None:
        try:
            await pending
        except Exception:
            log.exception("the sandbox failed on a request")
            return self._failed(exchange, 500, "Internal Server Error", "the sandbox hit an unexpected error")
        self._drive(exchange, steps)

    def _failed(self, exchange: "_Exchange", status: int, reason: str, text: str) -> None:
        """Tornado raised instead of answering: answer if nothing was sent yet, and close."""
        if exchange.finished or self.closed:
            return
        exchange.finished = True
        self.current = None
        if not exchange.headers_written:
            self.transport.write(plain_answer(status, reason, text))
        self.hang_up()  # an answer cut short cannot be followed by another

    def _answered(self, exchange: "_Exchange") -> None:
        """Tornado finished an answer: go on to the next request, or close."""
        self.current = None
        if not exchange.keep_alive:
            self.hang_up()
        elif self.waiting:
            self.server._wants_turn(self)  # not from inside the handler's finish()
        else:
            self._idle()

    def _idle(self) -> None:
        """Nothing to answer: read again and start the idle clock (or close, if the client is done)."""
        if self.last_request:
            return self.hang_up()
        if self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()
        if self.incoming is not None and self.incoming.wants_continue:
            self.incoming.wants_continue = False
            self.transport.write(_CONTINUE)
        self.idle_since = self.loop.time()
        self._watch()

    def shut_down(self) -> None:
        """The server is stopping: close now if idle, else after the answer being written."""
        self.last_request = True
        self.waiting.clear()
        self.incoming = None
        if self.current is None and not self.hung_up:
            self.hung_up = True
            self.transport.close()  # no answer in flight, nothing to protect

    def hang_up(self) -> None:
        """Close once what was written is sent. Until the client closes too (or ``linger``
        runs out), read and drop what it still sends: closing with unread data would reset
        the connection, and the reset could destroy the answer before the client reads it."""
        if self.hung_up or self.closed:
            return
        self.hung_up = self.last_request = True
        self.waiting.clear()
        self.incoming = None
        if self.eof or not self.transport.can_write_eof():
            return self.transport.close()  # sends what is buffered first
        self.transport.write_eof()
        if self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(self.server.linger, self.transport.close)

    # --- timeouts: one timer per connection, re-armed only when it fires ---
    def _watch(self) -> None:
        if self.timer is None and not self.closed:
            self.timer = self.loop.call_later(self._period(), self._check)

    def _period(self) -> float:
        return min(self.server.idle_timeout, self.server.request_timeout)

    def _check(self) -> None:
        self.timer = None
        if self.current is not None or self.queued or self.hung_up:
            return  # being answered, or about to be: _idle starts the clock again
        if self.incoming is not None:  # (the clock stopped while an earlier request was answered)
            deadline = max(self.incoming.started, self.idle_since) + self.server.request_timeout
        else:
            deadline = self.idle_since + self.server.idle_timeout
        now = self.loop.time()
        if now >= deadline:
            self.transport.close()  # an idle keep-alive connection, or a request too slow to arrive
        else:
            self.timer = self.loop.call_at(min(deadline, now + self._period()), self._check)

    def written_future(self) -> asyncio.Future:
        """What a write returns: done now, or when the transport has drained."""
        if self.closed or self.hung_up:
            future = self.loop.create_future()
            future.set_exception(StreamClosedError())
            future.exception()
            return future
        if not self.writing_paused:
            return self.written
        future = self.loop.create_future()
        self.drained.append(future)
        return future


class _Exchange(httputil.HTTPConnection):
    """One request's side of a connection: the ``HTTPConnection`` tornado writes its answer to."""

    def __init__(self, connection: _Connection, request: _Request):
        self.connection = connection
        self.request = request
        self.context = connection.context
        self.keep_alive = request.keep_alive
        self.headers_written = False
        self.finished = False
        self.no_body = request.method == "HEAD"
        self.chunked = False
        self.remaining: int | None = None  # body bytes still owed under a Content-Length
        self.close_callback = None

    def set_close_callback(self, callback) -> None:
        self.close_callback = callback

    def write_headers(self, start_line, headers, chunk=None):
        connection, request = self.connection, self.request
        if self.finished or connection.closed or connection.hung_up:
            return connection.written_future()
        self.headers_written = True
        status = start_line.code
        self.no_body = self.no_body or status < 200 or status in _NO_BODY_STATUSES
        if headers.get("Connection", "").lower() == "close" or (connection.last_request and not connection.waiting):
            self.keep_alive = False  # the last answer on this connection says so
        if self.no_body:
            self.remaining = 0
        elif "Content-Length" in headers:
            self.remaining = int(headers["Content-Length"])
        elif request.version == "1.1":
            self.chunked = True
            headers["Transfer-Encoding"] = "chunked"
        else:
            self.keep_alive = False  # an HTTP/1.0 body without a length ends when the connection does
        if request.version == "1.1" and not self.keep_alive:
            headers["Connection"] = "close"
        elif request.version == "1.0" and self.keep_alive:
            headers["Connection"] = "keep-alive"
        lines = [f"HTTP/1.1 {status} {start_line.reason}", *(f"{n}: {v}" for n, v in headers.get_all())]
        head = "\r\n".join(lines)
        if head.count("\n") != len(lines) - 1 or head.count("\r") != len(lines) - 1:
            raise ValueError("a CR or LF inside a header")  # would let a value add headers of its own
        data = head.encode("latin-1") + b"\r\n\r\n"
        if chunk:
            data += self._frame(chunk)
        connection.transport.write(data)
        return connection.written_future()

    def write(self, chunk: bytes):
        connection = self.connection
        if self.finished or connection.closed or connection.hung_up:
            return connection.written_future()
        if chunk:
            connection.transport.write(self._frame(chunk))
        return connection.written_future()

    def _frame(self, chunk: bytes) -> bytes:
        if self.no_body:
            return b""
        if self.remaining is not None:
            self.remaining -= len(chunk)
            if self.remaining < 0:
                self.connection._failed(self, 500, "", "")  # the client cannot frame what follows
                raise httputil.HTTPOutputError("Tried to write more data than Content-Length")
        if self.chunked:
            return b"%x\r\n%b\r\n" % (len(chunk), chunk)
        return chunk

    def finish(self) -> None:
        connection = self.connection
        if self.finished:
            return
        if connection.closed or connection.hung_up:
            self.finished = True
            return
        if self.remaining:
            connection._failed(self, 500, "", "")
            raise httputil.HTTPOutputError(f"Tried to write {self.remaining} bytes less than Content-Length")
        if self.chunked:
            connection.transport.write(b"0\r\n\r\n")
        self.finished = True
        self.close_callback = None
        connection._answered(self)
