"""The client's deadline is for the whole answer (connecting, the headers and the body), and a
connection closed mid-answer is an error of the project's own with a hint.

The servers here are plain sockets that misbehave as slow or broken servers and proxies do: they
trickle their answer a byte at a time (each byte well within requests' per-read timeout), or
close the connection part way. Deadlines are short and configured, never slept out."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from fortellis_nb.oauth import errors
from fortellis_nb.oauth.deadline import DeadlineAdapter, with_deadlines
from fortellis_nb.oauth.transcript import Http

DEADLINE = 0.6
#: Between two trickled bytes: a third of the deadline, so per read the server is never late.
GAP = DEADLINE / 3
ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"ok": true}'


class Misbehaving:
    """A server on this machine that reads a request, then does ``behaviour(connection)``."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1/token"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection):
        with connection:
            connection.recv(65536)
            try:
                self.behaviour(connection, self.stop)
            except OSError:  # the client cut it: what the deadline is for
                pass

    def close(self):
        self.stop.set()
        self.listener.close()


def trickle(data: bytes):
    def behaviour(connection, stop):
        for byte in data:
            if stop.wait(GAP):
                return
            connection.sendall(bytes([byte]))
        stop.wait()
    return behaviour


def headers_then_trickle(connection, stop):
    head, body = ANSWER.split(b"\r\n\r\n")
    connection.sendall(head + b"\r\n\r\n")
    trickle(body)(connection, stop)


def part_then_close(connection, stop):
    connection.sendall(ANSWER.replace(b"Content-Length: 12", b"Content-Length: 400")[:-4])


def close_at_once(connection, stop):
    pass


@pytest.fixture
def server(request):
    servers = []

    def start(behaviour):
        servers.append(Misbehaving(behaviour))
        return servers[-1]

    yield start
    for one in servers:
        one.close()


@pytest.mark.parametrize("behaviour", [trickle(ANSWER), headers_then_trickle], ids=["headers", "body"])
def test_a_trickled_answer_ends_at_the_deadline_with_what_it_was(server, behaviour):
    url = server(behaviour).url
    started = time.monotonic()
    with pytest.raises(errors.Timeout) as caught:
        Http(timeout=DEADLINE).send("POST", url, form={"grant_type": "refresh_token"}, label="Refresh")
    took = time.monotonic() - started
    assert caught.value.description.startswith(f"POST {url.split('/')[2]}: no complete answer within {DEADLINE:g} s "
                                        "(connecting, the headers and the body together).")
    assert caught.value.error == "timeout" and caught.value.exchange.status is None
    assert DEADLINE <= took < DEADLINE + 5  # cut at the deadline, not after the whole trickle (~14 s)


@pytest.mark.parametrize("behaviour", [part_then_close, close_at_once], ids=["mid-answer", "before-any"])
def test_a_connection_closed_early_is_connection_dropped_with_a_hint(server, behaviour):
    url = server(behaviour).url
    with pytest.raises(errors.ConnectionDropped) as caught:
        Http(timeout=DEADLINE).send("POST", url, form={"grant_type": "refresh_token"})
    assert caught.value.description == f"POST {url.split('/')[2]}: the connection closed before the whole answer came."
    assert caught.value.error == "connection_dropped" and "proxy" in caught.value.hint
    assert "IncompleteRead" not in str(caught.value) and caught.value.exchange.status is None


def test_an_answer_in_time_is_read_whole_and_leaves_no_timer_behind(server):
    def promptly(connection, stop):  # and closes the connection, as it says
        connection.sendall(ANSWER.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))

    url = server(promptly).url
    http = Http(timeout=DEADLINE)
    before = threading.active_count()
    for _ in range(20):
        exchange = http.send("GET", url)
        assert exchange.status == 200 and exchange.response_body == '{"ok": true}'
    deadline = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < deadline:  # a cancelled timer ends
        time.sleep(0.01)
    assert threading.active_count() <= before


def test_a_session_of_requests_with_deadlines_raises_requests_own_timeout(server):
    """What FortellisSession mounts, on a plain requests.Session: the deadline is for the whole
    answer, and a cut-off request is requests' own Timeout from FortellisSession (see below)."""
    url = server(trickle(ANSWER)).url
    session = with_deadlines(requests.Session())
    assert isinstance(session.get_adapter(url), DeadlineAdapter)
    started = time.monotonic()
    with pytest.raises(requests.RequestException):
        session.get(url, timeout=DEADLINE)
    assert time.monotonic() - started < DEADLINE + 5


def test_fortellis_session_says_the_deadline_passed(server, monkeypatch):
    from fortellis_nb.oauth.session import FortellisSession

    url = server(trickle(ANSWER)).url

    class Client:  # what FortellisAuth reads: no token, so no Authorization header is added
        class config:
            api_base_url = url.rsplit("/", 2)[0]

    session = FortellisSession(Client(), timeout=DEADLINE)
    session.auth = None
    with pytest.raises(requests.exceptions.Timeout) as caught:
        session.get(url)
    assert str(caught.value) == f"GET {url}: no complete answer within {DEADLINE:g} s (connecting, the headers " \
                                "and the body together)."
