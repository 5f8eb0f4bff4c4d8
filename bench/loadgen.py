"""A small closed-loop HTTP/1.1 load generator on asyncio, for the benchmark runner.

Every virtual client is one task with one keep-alive connection to 127.0.0.1; it repeats
one flow back to back and records each operation's latency. One event loop drives all the
clients, with prebuilt request bytes and a minimal response parser, so the generator costs
little CPU next to the servers it measures (they share the same cores).

The flows are described per server (``Target``): the sandbox, ``oauth2-mock-server`` and
``oidc-provider`` name their endpoints differently and sign in differently.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import re
import socket
import time
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

MAX_OPS_PER_CELL = 200_000  # a hard bound on every measuring loop, whatever the duration
REQUEST_TIMEOUT = 30.0

_INPUT = re.compile(r"<input\b([^>]*)>", re.I)
_FORM = re.compile(r"<form\b([^>]*)>", re.I)
_ATTR = re.compile(r'([\w\-]+)\s*=\s*"([^"]*)"')


class FlowError(Exception):
    """An operation got an answer it should not have."""


@dataclasses.dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def cookies(self) -> dict[str, str]:
        jar = {}
        for key, value in self.headers:
            if key == "set-cookie":
                pair = value.split(";", 1)[0]
                name, _, val = pair.partition("=")
                jar[name.strip()] = val.strip()
        return jar


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closes it."""

    def __init__(self, host: str, port: int):
        assert host in ("127.0.0.1", "localhost", "::1"), host  # loopback only
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.host_header = f"{host}:{port}".encode()

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, method: str, target: str, headers: dict | None = None,
                      body: bytes = b"") -> Response:
        if self.writer is None:
            await self._open()
        lines = [f"{method} {target} HTTP/1.1".encode(), b"Host: " + self.host_header]
        for key, value in (headers or {}).items():
            lines.append(f"{key}: {value}".encode("latin-1"))
        if body or method == "POST":
            lines.append(b"Content-Length: " + str(len(body)).encode())
        self.writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        try:
            return await asyncio.wait_for(self._response(method), REQUEST_TIMEOUT)
        except BaseException:
            self.close()
            raise

    async def _response(self, method: str) -> Response:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = []
        for line in header_lines:
            key, _, value = line.partition(":")
            headers.append((key.strip().lower(), value.strip()))
        response = Response(status, headers, b"")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif response.header("transfer-encoding").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")  # no trailers expected
                    break
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            body = b"".join(chunks)
        elif response.header("content-length"):
            body = await self.reader.readexactly(int(response.header("content-length")))
        else:
            body = await self.reader.read()  # until the server closes
            self.close()
        response.body = body
        if response.header("connection").lower() == "close":
            self.close()
        return response


def parse_form(html: str, base_url: str) -> tuple[str, dict[str, str]]:
    """The first form of a page: its absolute action URL and its named inputs' values."""
    form = _FORM.search(html)
    if form is None:
        raise FlowError("no form on the page")
    attrs = dict(_ATTR.findall(form.group(1)))
    fields = {}
    for match in _INPUT.finditer(html, form.end()):
        input_attrs = dict(_ATTR.findall(match.group(1)))
        if "name" in input_attrs:
            fields[input_attrs["name"]] = input_attrs.get("value", "")
    return urljoin(base_url, attrs.get("action", base_url)), fields


def cookie_header(jar: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items())


# --------------------------------------------------------------------------- targets
@dataclasses.dataclass
class Target:
    """One running authorization server and how to drive each flow against it."""

    name: str
    kind: str  # "sandbox", "oauth2-mock-server" or "oidc-provider"
    issuer: str
    token_endpoint: str
    authorization_endpoint: str
    client_id: str
    client_secret: str
    redirect_uri: str
    username: str = "learner@example.com"
    password: str = "sandbox-password"
    refresh_token: str | None = None
    roundtrip_note: str = ""

    def __post_init__(self):
        parts = urlsplit(self.token_endpoint)
        self.host, self.port = parts.hostname, parts.port
        self.token_path = parts.path
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        self.token_headers = {"Authorization": f"Basic {basic}",
                              "Content-Type": "application/x-www-form-urlencoded",
                              "Accept": "application/json"}
        self.cc_body = urlencode({"grant_type": "client_credentials", "scope": "anonymous"}).encode()
        self._state = 0

    def next_state(self) -> str:
        self._state += 1
        return f"bench{self._state}"

    # Each flow: async (connection, client) -> per-step seconds; raises FlowError on a bad answer.
    async def client_credentials(self, conn: Connection, client: dict) -> list[float]:
        response = await conn.request("POST", self.token_path, self.token_headers, self.cc_body)
        if response.status != 200 or b'"access_token"' not in response.body:
            raise FlowError(f"client_credentials {response.status}")
        return []

    async def refresh(self, conn: Connection, client: dict) -> list[float]:
        token = client.get("refresh_token") or self.refresh_token
        body = urlencode({"grant_type": "refresh_token", "refresh_token": token}).encode()
        response = await conn.request("POST", self.token_path, self.token_headers, body)
        if response.status != 200 or b'"id_token"' not in response.body:
            raise FlowError(f"refresh_token {response.status} {response.body[:120]!r}")
        new = _json_field(response.body, "refresh_token")
        if new and new != token:  # a rotating server: keep the newest one for this client
            client["refresh_token"] = new
        return []

    async def roundtrip(self, conn: Connection, client: dict, scope: str = "openid offline_access") -> list[float]:
        """authorize, sign in (fresh cookie jar, so a password every time), exchange the code.
        Returns [browser part seconds, exchange seconds]."""
        t0 = time.perf_counter()
        location = await self.sign_in(conn, scope)
        t1 = time.perf_counter()
        params = parse_qs(urlsplit(location).query)
        code = params.get("code", [None])[0]
        if not code:
            raise FlowError(f"no code in {location[:120]}")
        body = urlencode({"grant_type": "authorization_code", "code": code,
                          "redirect_uri": self.redirect_uri}).encode()
        response = await conn.request("POST", self.token_path, self.token_headers, body)
        if response.status != 200 or b'"id_token"' not in response.body:
            raise FlowError(f"exchange {response.status} {response.body[:120]!r}")
        client["last_tokens"] = response.body
        return [t1 - t0, time.perf_counter() - t1]

    async def sign_in(self, conn: Connection, scope: str) -> str:
        """The browser's part: from the authorize URL to the redirect back with the code."""
        query = {"client_id": self.client_id, "response_type": "code", "scope": scope,
                 "redirect_uri": self.redirect_uri, "state": self.next_state()}
        if self.kind == "oidc-provider":
            query["prompt"] = "consent"  # oidc-provider grants offline_access only with consent
        url = f"{self.authorization_endpoint}?{urlencode(query)}"
        jar: dict[str, str] = {}
        method, body = "GET", b""
        for _ in range(12):  # a bounded number of hops
            parts = urlsplit(url)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            headers = {"Accept": "text/html"}
            if jar:
                headers["Cookie"] = cookie_header(jar)
            if method == "POST":
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            response = await conn.request(method, target, headers, body)
            jar.update(response.cookies())
            if response.status in (301, 302, 303, 307):
                url = urljoin(url, response.header("location"))
                if url.startswith(self.redirect_uri):
                    return url
                method, body = "GET", b""
                continue
            if response.status != 200:
                raise FlowError(f"sign-in step {response.status} at {parts.path}")
            action, fields = parse_form(response.body.decode("utf-8", "replace"), url)
            if "password" in fields or "login" in fields or "username" in fields:
                if "login" in fields:  # oidc-provider's development sign-in form
                    fields.update(login=self.username, password=self.password)
                else:
                    fields.update(username=self.username, password=self.password, action="allow")
            url, method, body = action, "POST", urlencode(fields).encode()
        raise FlowError("too many hops before the redirect back")


def _json_field(body: bytes, name: str) -> str | None:
    match = re.search(rb'"' + name.encode() + rb'"\s*:\s*"([^"]*)"', body)
    return match.group(1).decode() if match else None


# --------------------------------------------------------------------------- one cell
def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(round(pct / 100 * len(sorted_values) + 0.4999))))
    return sorted_values[rank - 1]


async def _run_cell(target: Target, flow: str, concurrency: int, duration: float, warmup: float,
                    keep: bool) -> dict:
    op = getattr(target, flow)
    loop_time = time.perf_counter
    t_record = loop_time() + warmup
    t_stop = t_record + duration
    budget = [MAX_OPS_PER_CELL]
    latencies: list[float] = []
    steps: list[list[float]] = []
    errors: list[str] = []

    async def client_task() -> None:
        conn = Connection(target.host, target.port)
        state: dict = {}
        try:
            while budget[0] > 0:
                started = loop_time()
                if started >= t_stop:
                    break
                budget[0] -= 1
                try:
                    detail = await op(conn, state)
                    ok = True
                except (FlowError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        asyncio.TimeoutError, ValueError) as exc:
                    ok, detail = False, f"{type(exc).__name__}: {exc}"
                    conn.close()
                ended = loop_time()
                if started < t_record:
                    continue  # warm-up
                latencies.append(ended - started)
                if ok:
                    if detail:
                        steps.append(detail)
                else:
                    errors.append(detail)
        finally:
            conn.close()

    tasks = [asyncio.ensure_future(client_task()) for _ in range(concurrency)]
    await asyncio.sleep(max(0.0, t_record - loop_time()))
    cpu0, wall0 = time.process_time(), loop_time()
    await asyncio.wait(tasks, timeout=duration + REQUEST_TIMEOUT + 10)
    for task in tasks:
        task.cancel()
    wall1, cpu1 = loop_time(), time.process_time()
    window = max(wall1 - wall0, 1e-9)
    latencies.sort()
    cell = {
        "server": target.name, "flow": flow, "concurrency": concurrency, "seconds": round(window, 3),
        "ops": len(latencies) - len(errors), "errors": len(errors), "error_samples": errors[:3],
        "ops_per_s": (len(latencies) - len(errors)) / window,
        "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": (latencies[-1] * 1000) if latencies else float("nan"),
        "client_cpu_pct": 100 * (cpu1 - cpu0) / window, "hit_op_cap": budget[0] <= 0,
    }
    if steps:
        for i, name in enumerate(("sign_in", "exchange")):
            values = sorted(s[i] for s in steps)
            cell[f"{name}_p50_ms"] = percentile(values, 50) * 1000
            cell[f"{name}_p99_ms"] = percentile(values, 99) * 1000
    if keep:  # the raw figures, for pooling several runs of the same cell
        cell["latencies"], cell["steps"] = latencies, steps
    return cell


def run_cell(target: Target, flow: str, concurrency: int, duration: float, warmup: float,
             keep: bool = False) -> dict:
    """`concurrency` virtual clients repeat `flow` for `warmup` s unrecorded, then `duration` s.
    With ``keep``, the cell also holds every latency (sorted, seconds) and per-step timing."""
    return asyncio.run(_run_cell(target, flow, concurrency, duration, warmup, keep))


def prepare_refresh_token(target: Target) -> None:
    """One full round trip with offline_access, so the refresh cells have a refresh token."""

    async def once():
        conn = Connection(target.host, target.port)
        client: dict = {}
        try:
            await target.roundtrip(conn, client)
        finally:
            conn.close()
        return _json_field(client["last_tokens"], "refresh_token")

    target.refresh_token = asyncio.run(once())
    if not target.refresh_token:
        raise FlowError(f"{target.name}: no refresh token from the round trip")
