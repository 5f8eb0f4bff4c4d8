"""The token endpoint's direct route (answered by the HTTP layer past tornado.web) gives the
same answers as the tornado handler, and worker processes split connections evenly."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import tornado.netutil

from fortellis_nb.sandbox.http1 import Balance, HTTP1Server
from fortellis_nb.sandbox.server import make_app

from .conftest import Browser, exchange


@pytest.fixture
def handler_only(sandbox):
    """The same sandbox served a second time, on another port, with no direct route: every
    token request goes through tornado.web's Token handler."""
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")

    async def attach():
        server = HTTP1Server(make_app(sandbox.authority))
        server.add_sockets(sockets)
        return server

    server = asyncio.run_coroutine_threadsafe(attach(), sandbox._loop).result(10)
    yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}"

    async def detach():
        server.stop()
        await server.close_all_connections()

    asyncio.run_coroutine_threadsafe(detach(), sandbox._loop).result(10)


def cases(info):
    basic = (info.api_key, info.api_secret)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    return {
        "client credentials": dict(auth=basic, data={"grant_type": "client_credentials", "scope": "anonymous"}),
        "in the query string, no body": dict(auth=basic, params={"grant_type": "client_credentials",
                                                                  "scope": "anonymous"}),
        "wrong secret": dict(auth=(info.api_key, "nope"), data={"grant_type": "client_credentials",
                                                                 "scope": "anonymous"}),
        "key and secret swapped": dict(auth=(info.api_secret, info.api_key),
                                       data={"grant_type": "client_credentials", "scope": "anonymous"}),
        "no credentials": dict(data={"grant_type": "client_credentials", "scope": "anonymous"}),
        "a parameter twice": dict(auth=basic, data="grant_type=client_credentials&scope=anonymous&scope=anonymous",
                                  headers=form),
        "JSON instead of a form": dict(auth=basic, data='{"grant_type": "client_credentials"}',
                                       headers={"Content-Type": "application/json"}),
        "no grant type": dict(auth=basic, data={"scope": "anonymous"}),
        "unknown grant type": dict(auth=basic, data={"grant_type": "password"}),
        "a refresh token that does not exist": dict(auth=basic, data={"grant_type": "refresh_token",
                                                                      "refresh_token": "x" * 43}),
        "not UTF-8": dict(auth=basic, data=b"grant_type=%ff", headers=form),
    }


def comparable(response: requests.Response) -> tuple:
    body = response.json()
    if "access_token" in body:  # fresh tokens differ: compare the shape
        body = {k: (v if k in ("token_type", "expires_in", "scope") else type(v).__name__) for k, v in body.items()}
    headers = {k.lower(): v for k, v in response.headers.items() if k.lower() not in ("date", "content-length")}
    return response.status_code, body, headers


def test_the_direct_route_answers_like_the_tornado_handler(sandbox, handler_only):
    info = sandbox.info
    direct, handler = info.issuer, handler_only + urlsplit(info.issuer).path
    for name, kwargs in cases(info).items():
        a = requests.post(f"{direct}/v1/token", timeout=10, **kwargs)
        b = requests.post(f"{handler}/v1/token", timeout=10, **kwargs)
        assert comparable(a) == comparable(b), name


def test_a_code_and_a_refresh_go_through_the_direct_route(sandbox):
    info = sandbox.info
    tokens = exchange(info, Browser(info).sign_in()["code"]).json()
    refreshed = requests.post(f"{info.issuer}/v1/token", auth=(info.api_key, info.api_secret), timeout=10,
                              data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200 and refreshed.json()["refresh_token"] == tokens["refresh_token"]


def test_a_failure_inside_the_direct_route_is_a_json_500_and_the_server_goes_on(sandbox, monkeypatch, caplog):
    from fortellis_nb.sandbox import identity

    def broken(*_args, **_kwargs):
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(identity.TokenEndpoint, "issue", broken)
    info = sandbox.info
    response = requests.post(f"{info.issuer}/v1/token", auth=(info.api_key, info.api_secret), timeout=10,
                             data={"grant_type": "client_credentials", "scope": "anonymous"})
    assert response.status_code == 500 and response.json()["error"] == "server_error"
    assert "broken on purpose" not in response.text and "Traceback" not in response.text
    assert response.headers["X-Frame-Options"] == "DENY"
    monkeypatch.undo()
    assert requests.get(f"{info.base_url}/sandbox/health", timeout=10).status_code == 200


def test_balance_lets_only_the_worker_with_the_fewest_connections_accept():
    balance = Balance(3)
    first, second, third = (Balance.__new__(Balance) for _ in range(3))
    for index, view in enumerate((first, second, third)):
        view._memory, view.counts, view.index = balance._memory, balance.counts, index
    first.set(5)
    second.set(4)
    third.set(4)
    assert not first.my_turn() and second.my_turn() and third.my_turn()
    third.set(6)
    assert second.my_turn() and not third.my_turn()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts sockets in /proc (Linux)")
def test_two_workers_take_half_of_fifty_connections_each(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "fortellis_nb.sandbox", "--state", str(tmp_path), "--port", "0",
                                "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    clients = []
    try:
        info = json.loads(process.stdout.readline())
        host, port = info["base_url"].rsplit("/", 1)[1].split(":")
        for _ in range(50):
            clients.append(socket.create_connection((host, int(port)), timeout=10))
        workers = _children(process.pid)
        assert len(workers) == 2
        deadline = time.monotonic() + 10
        while True:
            counts = sorted(_sockets(pid) for pid in workers)
            if sum(counts) >= 50 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        # Each worker also holds its listening socket and its database's files.
        assert counts[1] - counts[0] <= 2, counts
    finally:
        for client in clients:
            client.close()
        process.terminate()
        process.wait(20)
        process.stdout.close()
        process.stderr.close()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return found


def _sockets(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return count
