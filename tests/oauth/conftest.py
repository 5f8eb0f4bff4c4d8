"""Fixtures for the protocol layer: a real sandbox per module (or per test when a test
changes its keys or its clock, the ``clock`` fixture of tests/conftest.py), and a tiny
local HTTP server for the cases the sandbox cannot produce (another issuer, an HTML
page, a silent server)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fortellis_nb.local import SandboxClient, sandbox_config
from fortellis_nb.oauth import FortellisClient
from fortellis_nb.sandbox import Sandbox, Settings


def start_sandbox(tmp_path, **settings):
    sandbox = Sandbox(Settings(state_dir=tmp_path, port=0, **settings))
    sandbox.start()
    return sandbox


@pytest.fixture(scope="module")
def shared_sandbox(tmp_path_factory):
    """One sandbox for the tests of a module that do not change its keys or clock."""
    sandbox = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    yield sandbox
    sandbox.stop()


@pytest.fixture
def own_sandbox(tmp_path, clock):
    """A sandbox of the test's own, on the test's clock."""
    sandbox = start_sandbox(tmp_path / "sandbox", clock=clock)
    yield sandbox
    sandbox.stop()


@pytest.fixture
def info(shared_sandbox):
    return shared_sandbox.info


@pytest.fixture
def config(info):
    return sandbox_config(info)


@pytest.fixture
def client(config):
    return SandboxClient(config)


def signed_in(client: FortellisClient, scopes="openid offline_access", **kwargs):
    """Steps 1 and 2 for a test: authorize URL, headless sign-in, parsed redirect."""
    request = client.authorization_url(scopes=scopes, **kwargs)
    return client.parse_redirect(client.sign_in_headless(request))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalServer:
    """A throw-away HTTP server on a free port. ``routes`` maps (method, path) to a
    function ``handler -> (status, headers, body)``; every request is logged."""

    def __init__(self, routes: dict):
        self.routes = routes
        self.requests: list[tuple[str, str, dict, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                outer.requests.append((self.command, self.path, dict(self.headers), body))
                route = outer.routes.get((self.command, path)) or outer.routes.get((self.command, "*"))
                if route is None:
                    status, headers = 404, {"Content-Type": "text/html"}
                    payload = "<html><title>Not Found</title></html>"
                else:
                    status, headers, payload = route(self)
                if isinstance(payload, (dict, list)):
                    payload = json.dumps(payload)
                    headers = {"Content-Type": "application/json", **headers}
                data = payload.encode() if isinstance(payload, str) else payload
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def local_server():
    servers = []

    def make(routes):
        server = LocalServer(routes).__enter__()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.__exit__()
