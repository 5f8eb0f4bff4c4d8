"""A deadline for the whole answer: connecting, the headers and the body together.

requests' ``timeout`` bounds each wait for the next bytes, not the answer: a server that sends
a byte every few seconds, or a proxy that trickles, keeps the caller waiting for as long as it
likes (urllib3 says as much, and suggests a watcher that cuts the request off). This is that
watcher, as a transport adapter: when the deadline passes, it shuts the request's socket, the
read that waits returns, and the request fails; ``Http.send`` then says no complete answer came
within the deadline. A request that ends in time costs one timer, cancelled.
"""

from __future__ import annotations

import contextlib
import socket
import threading

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

#: How often a deadline that has passed looks again for a socket to shut (one still connecting).
RECHECK = 0.05


class _Watch:
    """The connections one request uses, and whether its deadline passed."""

    def __init__(self):
        self.connections: list = []
        self.passed = False
        self.done = threading.Event()

    def cut(self) -> None:
        self.passed = True
        while not self.done.is_set():
            for connection in list(self.connections):
                sock = getattr(connection, "sock", None)
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
            self.done.wait(RECHECK)


_current = threading.local()


def _watched(pool_class):
    class Pool(pool_class):
        def _get_conn(self, timeout=None):
            connection = super()._get_conn(timeout)
            watch = getattr(_current, "watch", None)
            if watch is not None:
                watch.connections.append(connection)
            return connection

    Pool.__name__ = Pool.__qualname__ = f"Deadline{pool_class.__name__}"
    return Pool


POOLS = {"http": _watched(HTTPConnectionPool), "https": _watched(HTTPSConnectionPool)}


def total(timeout) -> float | None:
    """The deadline a requests ``timeout`` gives: a number, or (connect, read) added up."""
    if isinstance(timeout, tuple):
        parts = [part for part in timeout if part is not None]
        return sum(parts) if parts else None
    return timeout


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter, with the request's ``timeout`` as the deadline for the whole answer.
    After a cut, :func:`passed` says so for the request's thread."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOLS

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if hasattr(manager, "pool_classes_by_scheme"):
            manager.pool_classes_by_scheme = POOLS
        return manager

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        seconds = total(timeout)
        if seconds is None or stream:  # a stream's body is read later, by its reader
            return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        watch = _current.watch = _Watch()
        timer = threading.Timer(seconds, watch.cut)
        timer.daemon = True
        timer.start()
        try:
            response = super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert,
                                    proxies=proxies)
            response.content  # noqa: B018 - the body too, within the deadline (requests reads it after send)
            return response
        finally:
            watch.done.set()
            timer.cancel()
            _current.watch = None
            _current.last_passed = watch.passed


def passed() -> bool:
    """Whether the last request this thread sent through a DeadlineAdapter was cut off."""
    return getattr(_current, "last_passed", False)


def with_deadlines(session: requests.Session) -> requests.Session:
    """``session``, its http:// and https:// requests given a deadline for the whole answer."""
    adapter = DeadlineAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
