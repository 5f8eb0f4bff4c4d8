"""The sandbox's own HTTP/1.1 layer (fortellis_nb/sandbox/http1.py), spoken to over raw
sockets: keep-alive, pipelining, request bodies, the limits, malformed requests, and
clients that leave early. Most tests use a real sandbox; a few serve a small tornado app
of their own for what no sandbox page does (several cookies, a streamed answer)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests
import tornado.netutil
import tornado.web

from fortellis_nb.sandbox import http1
from fortellis_nb.sandbox.http1 import HTTP1Server

from .conftest import HIDDEN, Browser

SECURITY = {"content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy"}


# --- a raw HTTP/1.1 client ---------------------------------------------------------------

class Raw:
    """One TCP connection; reads answers one at a time, framed as the headers say."""

    def __init__(self, port: int, timeout: float = 10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise ConnectionError("closed before the answer was complete")
        taken = bytes(self.buffer[:size])
        del self.buffer[:size]
        return taken

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError("closed before the line ended")
        end = self.buffer.index(b"\r\n")
        line = bytes(self.buffer[:end])
        del self.buffer[:end + 2]
        return line

    def answer(self, *, head: bool = False) -> tuple[int, list[tuple[str, str]], bytes]:
        """(status, [(lower-case name, value)], body) of the next answer."""
        status = int(self._line().split(b" ", 2)[1])
        headers = []
        while line := self._line():
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip().lower(), value.strip()))
        found = dict(headers)
        if head or status in (204, 304) or status < 200:
            return status, headers, b""
        if "content-length" in found:
            return status, headers, self._take(int(found["content-length"]))
        if found.get("transfer-encoding") == "chunked":
            body = b""
            while size := int(self._line(), 16):
                body += self._take(size)
                assert self._take(2) == b"\r\n"
            assert self._line() == b""
            return status, headers, body
        while self._fill():  # delimited by the end of the connection
            pass
        body, self.buffer = bytes(self.buffer), bytearray()
        return status, headers, body

    def closed_by_server(self, within: float = 5) -> bool:
        """True when the server closes the connection (after anything it still sends)."""
        self.sock.settimeout(within)
        try:
            while self._fill():
                pass
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        return True

    def close(self) -> None:
        self.sock.close()


def get(path: str, host: str = "127.0.0.1", version: str = "1.1", extra: str = "") -> bytes:
    return f"GET {path} HTTP/{version}\r\nHost: {host}\r\n{extra}\r\n".encode()


@pytest.fixture
def port(sandbox):
    return urlsplit(sandbox.info.base_url).port


@pytest.fixture
def raw(port):
    connection = Raw(port)
    yield connection
    connection.close()


def token_path(info) -> str:
    return urlsplit(info.issuer).path + "/v1/token"


def token_head(info, body_headers: str) -> bytes:
    basic = base64.b64encode(f"{info.api_key}:{info.api_secret}".encode()).decode()
    return (f"POST {token_path(info)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {basic}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n"
            f"{body_headers}\r\n").encode()


FORM = b"grant_type=client_credentials&scope=anonymous"


def assert_secure(headers) -> None:
    names = {name for name, _ in headers}
    assert SECURITY <= names, headers
    assert ("server", "fortellis-nb-sandbox") in headers


# --- keep-alive and pipelining ------------------------------------------------------------

def test_a_connection_is_kept_alive_and_reused(raw):
    for _ in range(3):
        raw.send(get("/sandbox/health"))
        status, headers, body = raw.answer()
        assert status == 200 and b'"status": "ok"' in body
        assert ("connection", "close") not in headers
    assert not raw.closed_by_server(within=0.3)


def test_two_pipelined_requests_are_answered_in_order(raw):
    raw.send(get("/sandbox/health") + get("/static/sandbox.css"))
    first, second = raw.answer(), raw.answer()
    assert first[0] == 200 and b'"status"' in first[2]
    assert second[0] == 200 and ("content-type", "text/css") in second[1]


def test_a_slow_sign_in_and_a_fast_request_pipelined_come_back_in_order(info, port):
    # A wrong password is always checked on a worker thread: the first answer is the slow one.
    browser = Browser(info)
    page = browser.authorize()
    form = "&".join(f"{k}={v}" for k, v in HIDDEN.findall(page.text)) + \
        f"&username={info.username}&password=wrong&action=allow"
    cookies = "; ".join(f"{c.name}={c.value}" for c in browser.http.cookies)
    sign_in = (f"POST {urlsplit(info.issuer).path}/v1/authorize HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Cookie: {cookies}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
               f"Content-Length: {len(form)}\r\n\r\n{form}").encode()
    raw = Raw(port)
    raw.send(sign_in + get("/sandbox/health"))
    first, second = raw.answer(), raw.answer()
    raw.close()
    assert first[0] == 401 and b"Sign-in failed" in first[2]
    assert second[0] == 200 and b'"status"' in second[2]


# --- request bodies -----------------------------------------------------------------------

def test_a_chunked_body_reaches_the_token_endpoint(info, raw):
    chunks = [FORM[:10], FORM[10:31], FORM[31:]]
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    raw.send(token_head(info, "Transfer-Encoding: chunked\r\n") + body)
    status, _, answer = raw.answer()
    assert status == 200 and b'"access_token"' in answer


def test_expect_100_continue_is_answered_before_the_body_is_sent(info, raw):
    raw.send(token_head(info, f"Content-Length: {len(FORM)}\r\nExpect: 100-continue\r\n"))
    assert raw.answer()[0] == 100  # the interim answer, before any body byte
    raw.send(FORM)
    status, _, answer = raw.answer()
    assert status == 200 and b'"access_token"' in answer


def test_a_body_over_the_limit_is_refused_without_a_100_continue(info, raw):
    raw.send(token_head(info, f"Content-Length: {2 * 1024 * 1024}\r\nExpect: 100-continue\r\n"))
    status, headers, _ = raw.answer()
    assert status == 413
    assert_secure(headers)
    assert raw.closed_by_server()


def test_a_chunked_body_over_the_limit_is_refused(info, raw):
    chunk = b"a" * 65536
    raw.send(token_head(info, "Transfer-Encoding: chunked\r\n"))
    with contextlib.suppress(OSError):  # the server may stop reading once it has refused
        for _ in range(20):
            raw.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    assert raw.answer()[0] == 413


# --- HTTP/1.0, HEAD, Connection: close ----------------------------------------------------

def test_http_1_0_closes_unless_asked_to_keep_alive(raw, port):
    raw.send(get("/sandbox/health", version="1.0"))
    status, _, body = raw.answer()
    assert status == 200 and b'"status"' in body
    assert raw.closed_by_server()

    kept = Raw(port)
    for _ in range(2):
        kept.send(get("/sandbox/health", version="1.0", extra="Connection: keep-alive\r\n"))
        status, headers, _ = kept.answer()
        assert status == 200 and ("connection", "keep-alive") in headers
    kept.close()


def test_head_has_the_headers_of_get_and_no_body(raw):
    raw.send(get("/static/sandbox.css"))
    _, _, css = raw.answer()
    raw.send(b"HEAD /static/sandbox.css HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status, headers, _ = raw.answer(head=True)
    assert status == 200 and ("content-length", str(len(css))) in headers
    # Had any body byte followed, it would be read here as the next answer's status line.
    raw.send(get("/sandbox/health"))
    assert raw.answer()[0] == 200


def test_connection_close_from_the_client_is_honoured(raw):
    raw.send(get("/sandbox/health", extra="Connection: close\r\n"))
    status, headers, _ = raw.answer()
    assert status == 200 and ("connection", "close") in headers
    assert raw.closed_by_server()


# --- limits and malformed requests --------------------------------------------------------

@pytest.mark.parametrize("extra", [
    "X-Big: " + "a" * 70_000 + "\r\n",                                         # one long header
    "".join(f"X-Many-{i}: {'b' * 100}\r\n" for i in range(700)),               # many headers
])
def test_oversized_headers_get_431(raw, extra):
    raw.send(get("/sandbox/health", extra=extra))
    status, headers, body = raw.answer()
    assert status == 431 and b"431" in body
    assert_secure(headers)
    assert raw.closed_by_server()


def test_a_header_line_that_never_ends_is_cut_off(raw):
    raw.send(b"GET /sandbox/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: ")
    with contextlib.suppress(OSError):
        for _ in range(10):
            raw.send(b"c" * 16384)
    assert raw.answer()[0] == 431


@pytest.mark.parametrize("request_bytes", [
    b"NOT-HTTP\r\n\r\n",
    b"GET /a b/c HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  # tornado refuses two Hosts; the answer is ours
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
])
def test_a_malformed_request_gets_a_short_400_with_the_security_headers(raw, request_bytes):
    raw.send(request_bytes)
    status, headers, body = raw.answer()
    assert status == 400, body
    assert_secure(headers)
    assert ("connection", "close") in headers
    assert body.startswith(b"400 Bad Request") and len(body) < 200
    assert b"Traceback" not in body and b"File " not in body
    assert raw.closed_by_server()


def test_answers_before_a_malformed_request_are_still_given(raw):
    raw.send(get("/sandbox/health") + b"\x16\x03\x01garbage\r\n\r\n")
    assert raw.answer()[0] == 200
    assert raw.answer()[0] == 400


def test_another_http_version_is_refused(raw):
    raw.send(get("/sandbox/health", version="2.0"))
    status, headers, _ = raw.answer()
    assert status == 505
    assert_secure(headers)


# --- clients that leave, and the clock ----------------------------------------------------

@pytest.fixture
def errors_logged(caplog):
    caplog.set_level(logging.WARNING)
    yield lambda: [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_client_that_disconnects_mid_request_leaves_the_server_serving(info, port, errors_logged):
    half_head = Raw(port)
    half_head.send(b"GET /sandbox/health HTTP/1.1\r\nHost: 12")
    half_body = Raw(port)
    half_body.send(token_head(info, "Content-Length: 100\r\n") + FORM[:20])
    time.sleep(0.1)
    half_head.close()
    half_body.close()
    # A client that leaves while its sign-in is being checked on a thread.
    browser = Browser(info)
    page = browser.authorize()
    form = "&".join(f"{k}={v}" for k, v in HIDDEN.findall(page.text)) + "&username=x&password=y"
    cookies = "; ".join(f"{c.name}={c.value}" for c in browser.http.cookies)
    leaving = Raw(port)
    leaving.send((f"POST {urlsplit(info.issuer).path}/v1/authorize HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  f"Cookie: {cookies}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                  f"Content-Length: {len(form)}\r\n\r\n{form}").encode())
    leaving.close()
    time.sleep(0.5)
    assert requests.get(f"{info.base_url}/sandbox/health", timeout=5).status_code == 200
    assert requests.post(f"{info.issuer}/v1/token", data=FORM, auth=(info.api_key, info.api_secret),
                         headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=5).status_code == 200
    assert not errors_logged()


def test_an_idle_connection_is_closed_after_the_idle_timeout(sandbox, port):
    sandbox._server.idle_timeout = 0.3
    raw = Raw(port)
    raw.send(get("/sandbox/health"))
    assert raw.answer()[0] == 200
    started = time.monotonic()
    assert raw.closed_by_server(within=5)
    assert 0.2 < time.monotonic() - started < 3
    raw.close()


def test_a_request_that_arrives_too_slowly_is_closed(sandbox, port):
    sandbox._server.request_timeout = 0.3
    raw = Raw(port)
    raw.send(b"GET /sandbox/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the blank line never comes
    assert raw.closed_by_server(within=5)
    raw.close()


def test_a_request_that_trickles_in_is_closed_too(sandbox, port):
    sandbox._server.request_timeout = 0.5
    raw = Raw(port)
    started = time.monotonic()
    with contextlib.suppress(OSError):
        for byte in b"GET /sandbox/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 40:
            raw.send(bytes([byte]))  # one byte every 0.05 s: each arrives well within the timeout
            time.sleep(0.05)
    assert raw.closed_by_server(within=2)
    assert time.monotonic() - started < 2.5  # 0.5 s after the first byte, not 0.5 s after the last
    raw.close()


def test_stopping_the_sandbox_closes_idle_connections_at_once(tmp_path):
    from fortellis_nb.sandbox import Sandbox, Settings

    sandbox = Sandbox(Settings(state_dir=tmp_path / "s")).__enter__()
    raw = Raw(urlsplit(sandbox.info.base_url).port)
    raw.send(get("/sandbox/health"))
    assert raw.answer()[0] == 200
    started = time.monotonic()
    sandbox.__exit__(None, None, None)
    assert time.monotonic() - started < 2
    assert raw.closed_by_server(within=1)
    raw.close()


# --- the layer under a small app of its own -----------------------------------------------

class Cookies(tornado.web.RequestHandler):
    def get(self):
        self.set_cookie("first", "1")
        self.set_cookie("second", "2", httponly=True)
        self.finish("two cookies")


class Slow(tornado.web.RequestHandler):
    async def get(self):
        await asyncio.sleep(0.3)
        self.finish("slow")


class Fast(tornado.web.RequestHandler):
    def get(self):
        self.finish("fast")


class Streamed(tornado.web.RequestHandler):
    """An answer without a Content-Length, in several flushed pieces, `n` KiB each."""

    async def get(self):
        size = int(self.get_argument("kib", "1"))
        for index in range(int(self.get_argument("pieces", "3"))):
            self.write(bytes([65 + index % 26]) * (1024 * size))
            await self.flush()  # with a big answer: waits until the client has read enough
        self.finish()


class Closing(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Connection", "close")
        self.finish("bye")


class Broken(tornado.web.RequestHandler):
    def get(self):
        raise RuntimeError("a handler bug")


@contextlib.contextmanager
def serving(app, routes=None):
    """``app`` on HTTP1Server in a thread of its own; yields its port."""
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder = {}

    def run():
        asyncio.set_event_loop(loop)

        async def attach():
            holder["server"] = HTTP1Server(app, routes=routes)
            holder["server"].add_sockets(sockets)

        loop.run_until_complete(attach())
        started.set()
        loop.run_forever()
        server = holder["server"]
        server.stop()
        loop.run_until_complete(server.close_all_connections())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait()
    try:
        yield sockets[0].getsockname()[1]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
def own_app():
    app = tornado.web.Application([("/cookies", Cookies), ("/slow", Slow), ("/fast", Fast),
                                   ("/streamed", Streamed), ("/closing", Closing), ("/broken", Broken)])
    with serving(app) as port:
        yield port


def test_several_set_cookie_headers_each_arrive(own_app):
    raw = Raw(own_app)
    raw.send(get("/cookies"))
    status, headers, body = raw.answer()
    raw.close()
    cookies = [value for name, value in headers if name == "set-cookie"]
    assert status == 200 and body == b"two cookies"
    assert len(cookies) == 2 and cookies[0].startswith("first=1") and cookies[1].startswith("second=2")
    assert "httponly" in cookies[1].lower()


def test_pipelined_answers_wait_for_a_slow_handler(own_app):
    raw = Raw(own_app)
    raw.send(get("/slow") + get("/fast") + get("/slow"))
    assert [raw.answer()[2] for _ in range(3)] == [b"slow", b"fast", b"slow"]
    raw.close()


def test_an_answer_without_a_length_is_chunked_or_close_delimited(own_app):
    raw = Raw(own_app)
    raw.send(get("/streamed"))
    status, headers, body = raw.answer()
    assert ("transfer-encoding", "chunked") in headers
    assert body == b"A" * 1024 + b"B" * 1024 + b"C" * 1024
    raw.send(get("/fast"))  # the chunked answer ended cleanly: the connection goes on
    assert raw.answer()[2] == b"fast"
    raw.close()

    old = Raw(own_app)
    old.send(get("/streamed", version="1.0", extra="Connection: keep-alive\r\n"))
    status, headers, body = old.answer()
    assert "transfer-encoding" not in dict(headers) and "content-length" not in dict(headers)
    assert body == b"A" * 1024 + b"B" * 1024 + b"C" * 1024
    old.close()


def test_a_client_that_reads_slowly_gets_all_of_a_big_answer(own_app, monkeypatch):
    paused = []
    original = http1._Connection.pause_writing
    monkeypatch.setattr(http1._Connection, "pause_writing", lambda self: (paused.append(1), original(self)))
    raw = Raw(own_app, timeout=30)
    raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    raw.send(get("/streamed?kib=256&pieces=16"))
    time.sleep(0.5)  # the server's buffers fill up: it has to wait for us (pause_writing)
    status, _, body = raw.answer()
    raw.close()
    assert paused
    assert status == 200 and len(body) == 16 * 256 * 1024
    assert body[-1:] == b"P"


def test_connection_close_from_the_handler_is_honoured(own_app):
    raw = Raw(own_app)
    raw.send(get("/closing"))
    status, headers, body = raw.answer()
    assert body == b"bye" and ("connection", "close") in headers
    assert raw.closed_by_server()
    raw.close()


def test_a_handler_error_is_tornados_500_and_the_connection_goes_on(own_app):
    raw = Raw(own_app)
    raw.send(get("/broken"))
    status, _, body = raw.answer()
    assert status == 500 and b"Traceback" not in body
    raw.send(get("/fast"))
    assert raw.answer()[2] == b"fast"
    raw.close()


class BrokenRouting(tornado.web.Application):
    """An application whose delegate itself fails, below any RequestHandler."""

    def start_request(self, server_conn, request_conn):
        delegate = super().start_request(server_conn, request_conn)

        def fail(start_line, headers):
            if start_line.path == "/fails":
                raise RuntimeError("a bug below the handlers")
            return type(delegate).headers_received(delegate, start_line, headers)

        delegate.headers_received = fail
        return delegate


def test_an_error_in_tornados_delegate_is_a_short_500_and_logged(errors_logged):
    with serving(BrokenRouting([("/fast", Fast)])) as port:
        raw = Raw(port)
        raw.send(get("/fails"))
        status, headers, body = raw.answer()
        assert status == 500 and ("connection", "close") in headers
        assert_secure(headers)
        assert b"Traceback" not in body and b"RuntimeError" not in body
        assert raw.closed_by_server()
        raw.close()
        working = Raw(port)  # the server itself goes on
        working.send(get("/fast"))
        assert working.answer()[2] == b"fast"
        working.close()
    assert any("failed on a request" in r.getMessage() for r in errors_logged())


def test_requests_are_answered_in_the_order_they_arrived_across_connections():
    """Each answer sends the requests that arrive while it is given, so the server sees exactly
    this: w; a1 and b1 arrive during w; c1 during a1; a2 and b2 during b1, after c1.

    Answering everything one poll returns, in the poll's order, gives w a1 b1 a2 b2 c1: epoll
    lists a and b again first, and c1 waits although it came first. That is how, under load,
    one client kept waiting two rounds while the others waited one."""
    order: list[str] = []
    sends: dict[str, list[tuple[str, str]]] = {
        "/w": [("a", "/a1"), ("b", "/b1")], "/a1": [("c", "/c1")], "/b1": [("a", "/a2"), ("b", "/b2")]}
    clients: dict[str, Raw] = {}

    def route(path):
        def answer(query, headers, body):
            order.append(path)
            for name, target in sends.get(path, ()):
                clients[name].send(f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
            return 200, [("Content-Type", "text/plain")], path.encode()
        return answer

    routes = {("POST", path): route(path) for path in ("/w", "/a1", "/b1", "/c1", "/a2", "/b2")}
    with serving(tornado.web.Application([("/fast", Fast)]), routes) as port:
        clients.update((name, Raw(port)) for name in "wabc")
        for raw in clients.values():  # every connection accepted and idle before it starts
            raw.send(get("/fast"))
            assert raw.answer()[2] == b"fast"
        clients["w"].send(b"POST /w HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        answers = {name: [] for name in clients}
        for name, count in (("w", 1), ("a", 2), ("b", 2), ("c", 1)):
            answers[name] = [clients[name].answer()[2] for _ in range(count)]
        for raw in clients.values():
            raw.close()
    assert answers == {"w": [b"/w"], "a": [b"/a1", b"/a2"], "b": [b"/b1", b"/b2"], "c": [b"/c1"]}
    assert order == ["/w", "/a1", "/b1", "/c1", "/a2", "/b2"]
