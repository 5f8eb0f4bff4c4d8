#!/usr/bin/env python
"""Benchmark of the sandbox identity server (``python -m fortellis_nb.sandbox serve``).

Measures, in one run, and prints as Markdown:

* cold start: spawning the server to its first JSON line and to the first successful
  ``GET /sandbox/health``, for a fresh state directory and for a warm restart;
* the RS256 signing ceiling of ``cryptography`` on this machine, and the PBKDF2 cost of
  one sign-in, with the upper bounds they put on each flow;
* token endpoint latency (p50, p99) and throughput at several concurrencies for the
  ``client_credentials`` grant, the ``refresh_token`` grant and the full authorization
  code round trip (authorize, sign-in form, code exchange).

The server always runs in its own process, started with the command line, so the load
generator never shares its interpreter. Every request goes to 127.0.0.1 only.

    python bench/sandbox_bench.py                 # full run (about 2 minutes)
    python bench/sandbox_bench.py --quick         # smoke run (about 30 seconds)
    python bench/sandbox_bench.py --json out.json # also write the figures as JSON
    python bench/sandbox_bench.py --profile roundtrip  # cProfile the server during one cell

This is a measuring tool, not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import http.client
import json
import os
import platform
import re
import select
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

HIDDEN_INPUT = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')
FLOWS = ("client_credentials", "refresh_token", "roundtrip")
FLOW_TITLES = {
    "client_credentials": "client_credentials (scope anonymous)",
    "refresh_token": "refresh_token (grant scope openid offline_access)",
    "roundtrip": "authorization code round trip (authorize + sign-in + exchange)",
}
ROUNDTRIP_SCOPE = "openid offline_access"
MAX_OPS_PER_CELL = 200_000  # a hard bound on every measuring loop, whatever the duration
START_TIMEOUT = 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- machine
def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import cryptography
    import tornado
    from cryptography.hazmat.backends.openssl.backend import backend

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": affinity,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "tornado": tornado.version,
        "cryptography": cryptography.__version__,
        "openssl": backend.openssl_version_text(),
        "sqlite": __import__("sqlite3").sqlite_version,
    }


def proc_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds a process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14 and 15)


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(round(pct / 100 * len(sorted_values) + 0.4999))))
    return sorted_values[rank - 1]


# --------------------------------------------------------------------------- the server
class Server:
    """One sandbox process started with the command line, on a free loopback port."""

    def __init__(self, state_dir: Path, log_path: Path, *, profile_to: Path | None = None):
        self.state_dir = state_dir
        self.log_path = log_path
        self.profile_to = profile_to
        self.process: subprocess.Popen | None = None
        self.info: dict = {}
        self.t_line = self.t_health = float("nan")

    def command(self) -> list[str]:
        prefix = [sys.executable]
        if self.profile_to is not None:
            prefix += ["-m", "cProfile", "-o", str(self.profile_to)]
        return prefix + ["-m", "fortellis_nb.sandbox", "serve", "--state", str(self.state_dir),
                         "--host", "127.0.0.1", "--port", "0"]

    def start(self) -> "Server":
        with open(self.log_path, "ab") as log:
            t0 = time.perf_counter()
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                            stderr=log, bufsize=0, cwd=REPO)
        line = self._first_line(t0 + START_TIMEOUT)
        self.t_line = time.perf_counter() - t0
        self.info = json.loads(line)
        self.host, self.port = _host_port(self.info["base_url"])
        assert self.host == "127.0.0.1", self.info["base_url"]
        self._wait_health(t0 + START_TIMEOUT)
        self.t_health = time.perf_counter() - t0
        return self

    def _first_line(self, deadline: float) -> bytes:
        buffer = b""
        fd = self.process.stdout.fileno()
        while b"\n" not in buffer:
            left = deadline - time.perf_counter()
            if left <= 0:
                self.stop()
                raise RuntimeError(f"the sandbox printed nothing in {START_TIMEOUT:.0f} s; see {self.log_path}")
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.stop()
                    raise RuntimeError(f"the sandbox exited at start; see {self.log_path}")
                buffer += chunk
        return buffer.split(b"\n", 1)[0]

    def _wait_health(self, deadline: float) -> None:
        while time.perf_counter() < deadline:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=5)
            try:
                connection.request("GET", "/sandbox/health")
                response = connection.getresponse()
                body = response.read()
                if response.status == 200 and json.loads(body).get("server_id") == self.info["server_id"]:
                    return
            except (OSError, http.client.HTTPException, ValueError):
                pass
            finally:
                connection.close()
            time.sleep(0.002)
        self.stop()
        raise RuntimeError(f"the sandbox never answered /sandbox/health; see {self.log_path}")

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


# --------------------------------------------------------------------------- clients
class HttpClientTransport:
    """http.client: one keep-alive connection, next to no per-request overhead."""

    name = "http.client"

    def __init__(self, host: str, port: int):
        self.connection = http.client.HTTPConnection(host, port, timeout=60)

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        try:
            self.connection.request(method, path, body=body, headers=headers or {})
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()  # reconnects on the next request
            raise
        if response.will_close:
            self.connection.close()
        return response.status, response.msg, data

    def close(self) -> None:
        self.connection.close()


class RequestsTransport:
    """requests.Session: one keep-alive connection; cookies are handled by the flows."""

    name = "requests"

    def __init__(self, host: str, port: int):
        import requests

        self.base = f"http://{host}:{port}"
        self.session = requests.Session()
        self.session.trust_env = False  # never a proxy: loopback only

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        response = self.session.request(method, self.base + path, data=body, headers=headers or {},
                                        allow_redirects=False, timeout=60)
        self.session.cookies.clear()  # the flows send their own Cookie header

        class _Headers:
            def __init__(self, raw):
                self.raw = raw

            def get(self, name, default=None):
                return self.raw.headers.get(name, default)

            def get_all(self, name):
                return self.raw.headers.getlist(name)

        return response.status_code, _Headers(response.raw), response.content

    def close(self) -> None:
        self.session.close()


TRANSPORTS = {"http.client": HttpClientTransport, "requests": RequestsTransport}


# --------------------------------------------------------------------------- the flows
class Flows:
    """The requests each benchmark cell repeats, for one running sandbox."""

    def __init__(self, info: dict):
        self.info = info
        issuer = urlsplit(info["issuer"])
        self.issuer_path = issuer.path
        self.token_path = f"{issuer.path}/v1/token"
        self.authorize_path = f"{issuer.path}/v1/authorize"
        basic = base64.b64encode(f"{info['api_key']}:{info['api_secret']}".encode()).decode()
        self.token_headers = {"Authorization": f"Basic {basic}",
                              "Content-Type": "application/x-www-form-urlencoded",
                              "Accept": "application/json"}
        self.cc_body = urlencode({"grant_type": "client_credentials", "scope": "anonymous"}).encode()
        self.refresh_body = b""
        self._state = 0
        self._state_lock = threading.Lock()

    def next_state(self) -> str:
        with self._state_lock:
            self._state += 1
            return f"bench{self._state}"

    # Each op returns (ok, detail); detail is an error description or per-step timings.
    def client_credentials(self, transport):
        status, _h, data = transport.call("POST", self.token_path, self.cc_body, self.token_headers)
        return status == 200 and b'"access_token"' in data, status

    def refresh_token(self, transport):
        status, _h, data = transport.call("POST", self.token_path, self.refresh_body, self.token_headers)
        return status == 200 and b'"id_token"' in data, status

    def roundtrip(self, transport, scope: str = ROUNDTRIP_SCOPE):
        """authorize (GET) + sign-in form (POST) + code exchange, with a fresh cookie jar,
        so every round trip signs in with the password. Returns the token response too."""
        steps = []
        cookies: dict[str, str] = {}
        query = urlencode({"client_id": self.info["api_key"], "response_type": "code", "scope": scope,
                           "redirect_uri": self.info["redirect_uri"], "state": self.next_state()})
        t = time.perf_counter()
        status, headers, data = transport.call("GET", f"{self.authorize_path}?{query}", None,
                                               {"Accept": "text/html"})
        steps.append(time.perf_counter() - t)
        if status != 200:
            return False, f"authorize {status}"
        _take_cookies(headers, cookies)
        form = dict(HIDDEN_INPUT.findall(data.decode("utf-8", "replace")))
        if "txn" not in form or "csrf" not in form:
            return False, "authorize: no txn/csrf in the sign-in form"
        form.update(username=self.info["username"], password=self.info["password"], action="allow")
        t = time.perf_counter()
        status, headers, _data = transport.call(
            "POST", self.authorize_path, urlencode(form).encode(),
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html",
             "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())})
        steps.append(time.perf_counter() - t)
        location = headers.get("Location", "") if status == 302 else ""
        code = parse_qs(urlsplit(location).query).get("code", [None])[0]
        if not code:
            return False, f"sign-in {status}"
        body = urlencode({"grant_type": "authorization_code", "code": code,
                          "redirect_uri": self.info["redirect_uri"]}).encode()
        t = time.perf_counter()
        status, _h, data = transport.call("POST", self.token_path, body, self.token_headers)
        steps.append(time.perf_counter() - t)
        if status != 200:
            return False, f"exchange {status}"
        return True, (steps, data)

    def prepare_refresh_token(self, transport) -> None:
        ok, detail = self.roundtrip(transport, scope="openid offline_access")
        if not ok:
            raise RuntimeError(f"could not get a refresh token: {detail}")
        refresh = json.loads(detail[1])["refresh_token"]
        self.refresh_body = urlencode({"grant_type": "refresh_token", "refresh_token": refresh}).encode()


def _take_cookies(headers, jar: dict) -> None:
    for raw in headers.get_all("Set-Cookie") or []:
        name, _, rest = raw.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0].strip()


# --------------------------------------------------------------------------- one cell
def run_cell(server: Server, flows: Flows, flow: str, concurrency: int, duration: float, warmup: float,
             transport_name: str) -> dict:
    """`concurrency` worker threads, each with its own keep-alive connection, repeat one
    flow back to back: `warmup` seconds unrecorded, then `duration` seconds recorded."""
    transport_cls = TRANSPORTS[transport_name]
    op = getattr(flows, flow)
    start_gate = threading.Barrier(concurrency + 1)
    t_record = [0.0]
    t_stop = [0.0]
    results = [None] * concurrency
    ops_left = [MAX_OPS_PER_CELL]
    ops_lock = threading.Lock()

    def worker(index: int) -> None:
        transport = transport_cls(server.host, server.port)
        latencies, steps, errors, samples = [], [], 0, []
        try:
            start_gate.wait(timeout=30)
            while True:
                started = time.perf_counter()
                if started >= t_stop[0]:
                    break
                with ops_lock:
                    if ops_left[0] <= 0:
                        break
                    ops_left[0] -= 1
                try:
                    ok, detail = op(transport)
                except (OSError, http.client.HTTPException) as exc:
                    ok, detail = False, type(exc).__name__
                ended = time.perf_counter()
                if started < t_record[0]:
                    continue  # warm-up
                latencies.append(ended - started)
                if not ok:
                    errors += 1
                    if len(samples) < 3:
                        samples.append(str(detail))
                elif flow == "roundtrip":
                    steps.append(detail[0])
        finally:
            transport.close()
            results[index] = (latencies, steps, errors, samples, time.perf_counter())

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    now = time.perf_counter()
    t_record[0] = now + warmup
    t_stop[0] = t_record[0] + duration
    start_gate.wait(timeout=30)
    time.sleep(max(0.0, t_record[0] - time.perf_counter()))
    cpu_server0, cpu_client0, wall0 = server.cpu_seconds(), time.process_time(), time.perf_counter()
    time.sleep(max(0.0, t_stop[0] - time.perf_counter()))
    for thread in threads:
        thread.join(timeout=duration + 120)
    wall1, cpu_server1, cpu_client1 = time.perf_counter(), server.cpu_seconds(), time.process_time()

    latencies = sorted(x for r in results if r for x in r[0])
    errors = sum(r[2] for r in results if r)
    samples = [s for r in results if r for s in r[3]][:3]
    window = wall1 - wall0
    ops = len(latencies)
    per_op_requests = 3 if flow == "roundtrip" else 1
    cell = {
        "flow": flow,
        "concurrency": concurrency,
        "client": transport_name,
        "seconds": round(window, 3),
        "ops": ops,
        "http_requests": ops * per_op_requests,
        "ops_per_s": ops / window if window else float("nan"),
        "http_requests_per_s": ops * per_op_requests / window if window else float("nan"),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": (latencies[-1] * 1000) if latencies else float("nan"),
        "errors": errors,
        "error_samples": samples,
        "server_cpu_pct": 100 * (cpu_server1 - cpu_server0) / window,
        "client_cpu_pct": 100 * (cpu_client1 - cpu_client0) / window,
        "hit_op_cap": ops_left[0] <= 0,
    }
    if flow == "roundtrip":
        all_steps = [s for r in results if r for s in r[1]]
        cell["steps_ms"] = {}
        for i, name in enumerate(("authorize", "sign_in", "exchange")):
            values = sorted(s[i] for s in all_steps)
            cell["steps_ms"][name] = {"p50": percentile(values, 50) * 1000, "p99": percentile(values, 99) * 1000}
    return cell


# --------------------------------------------------------------------------- cold start
def time_to_first_line(command: list[str]) -> float:
    """Seconds from spawning a command to its first line of output (it then runs to its end)."""
    t0 = time.perf_counter()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, cwd=REPO)
    try:
        process.stdout.readline()
        return time.perf_counter() - t0
    finally:
        process.stdout.close()
        process.wait(timeout=60)


def cold_start(work: Path, runs: int) -> dict:
    """Spawn the CLI on a fresh state directory `runs` times, and restart it `runs` times on
    one state directory that already holds its keys and database."""
    out = {"runs": runs, "fresh": [], "warm": [], "baseline": {}}
    for name, code in (("python -c print", "print('ready', flush=True)"),
                       ("python -c 'import fortellis_nb.sandbox.server; print'",
                        "import fortellis_nb.sandbox.server; print('ready', flush=True)")):
        out["baseline"][name] = [time_to_first_line([sys.executable, "-c", code]) for _ in range(runs)]
    for i in range(runs):
        state = work / f"cold-{i}"
        with Server(state, work / "cold.log") as server:
            out["fresh"].append((server.t_line, server.t_health))
    warm_state = work / "warm"
    Server(warm_state, work / "warm.log").start().stop()  # creates keys and database once
    for _ in range(runs):
        with Server(warm_state, work / "warm.log") as server:
            out["warm"].append((server.t_line, server.t_health))
    return out


# --------------------------------------------------------------------------- ceilings
def signing_ceiling(seconds: float) -> dict:
    """RS256 signatures per second on one core with cryptography (2048-bit key), the same
    through the sandbox's own JWT signer, and the cost of one password check."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from fortellis_nb.sandbox.jwt_rs256 import SigningKey
    from fortellis_nb.sandbox.storage import check_password, hash_password

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    message = b"eyJraWQiOiJrIiwiYWxnIjoiUlMyNTYifQ." + b"x" * 400  # a JWT-sized signing input

    def rate(fn, budget: float, cap: int = 1_000_000) -> tuple[float, int]:
        fn()
        count, t0 = 0, time.perf_counter()
        deadline = t0 + budget
        while count < cap:
            fn()
            count += 1
            if time.perf_counter() >= deadline:
                break
        return count / (time.perf_counter() - t0), count

    raw_rate, raw_n = rate(lambda: key.sign(message, padding.PKCS1v15(), hashes.SHA256()), seconds)
    verify_key = key.public_key()
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    verify_rate, _ = rate(lambda: verify_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256()),
                          seconds / 4)
    jwt_key = SigningKey(kid="bench", private_key=key, created=0.0)
    claims = {"ver": 1, "jti": "AT." + "x" * 43, "iss": "http://127.0.0.1:8000/oauth2/aus" + "x" * 17,
              "aud": "api_providers", "iat": 1, "exp": 3601, "cid": "x" * 32, "scp": ["anonymous"],
              "sub": "x" * 32}
    jwt_rate, _ = rate(lambda: jwt_key.sign(claims), seconds / 2)
    stored = hash_password("sandbox-password")
    pbkdf2_rate, _ = rate(lambda: check_password("sandbox-password", stored), seconds / 2)
    return {
        "rs256_sign_per_s": raw_rate,
        "rs256_sign_samples": raw_n,
        "rs256_verify_per_s": verify_rate,
        "sandbox_jwt_sign_per_s": jwt_rate,
        "pbkdf2_check_per_s": pbkdf2_rate,
        "pbkdf2_rounds": int(stored.split("$")[1]),
    }


# --------------------------------------------------------------------------- reporting
def fmt(value: float, digits: int = 1) -> str:
    if value != value:  # NaN
        return "n/a"
    return f"{value:,.{digits}f}"


def ms(seconds: float) -> str:
    return fmt(seconds * 1000, 0)


def print_report(result: dict) -> None:
    m, opts = result["machine"], result["options"]
    print("# fortellis-nb sandbox identity server benchmark\n")
    print(f"- Date: {result['date']}")
    print(f"- Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['os']}")
    print(f"- Python {m['python']} ({m['python_implementation']}), tornado {m['tornado']}, "
          f"cryptography {m['cryptography']} ({m['openssl']}), SQLite {m['sqlite']}")
    print(f"- Server: `python -m fortellis_nb.sandbox serve --port 0` in its own process, state in a fresh "
          f"temporary directory ({opts['tmp_fs']})")
    print(f"- Load generator: `{opts['client']}`, one keep-alive connection per worker thread, in this process")
    print(f"- Cells: {opts['warmup']:g} s warm-up then {opts['duration']:g} s measured (at most "
          f"{MAX_OPS_PER_CELL:,} operations) per flow and concurrency")
    print(f"- Command: `{result['command']}`\n")

    if "cold_start" in result:
        cs = result["cold_start"]
        print(f"## Cold start ({cs['runs']} runs each; ms)\n")
        print("| case | first JSON line, median | max | first health 200, median | max |")
        print("|---|---:|---:|---:|---:|")
        for name, times in cs["baseline"].items():
            print(f"| baseline: `{name}` | {ms(statistics.median(times))} | {ms(max(times))} | | |")
        for label, key in (("fresh state dir (creates RSA key, users, database)", "fresh"),
                           ("warm restart (same state dir)", "warm")):
            lines = [a for a, _ in cs[key]]
            health = [b for _, b in cs[key]]
            print(f"| {label} | {ms(statistics.median(lines))} | {ms(max(lines))} | "
                  f"{ms(statistics.median(health))} | {ms(max(health))} |")
        print()

    if "ceiling" in result:
        c = result["ceiling"]
        sign = c["rs256_sign_per_s"]
        pbkdf2 = c["pbkdf2_check_per_s"]
        roundtrip_bound = 1 / (2 / sign + 1 / pbkdf2)
        print("## Signing ceiling (one core, in this process)\n")
        print("| operation | per second | µs each |")
        print("|---|---:|---:|")
        for label, value in (("RS256 sign, 2048-bit key (cryptography, raw)", sign),
                             ("RS256 sign through the sandbox's JWT signer (JSON + base64url + sign)",
                              c["sandbox_jwt_sign_per_s"]),
                             ("RS256 verify, 2048-bit key", c["rs256_verify_per_s"]),
                             (f"password check (PBKDF2-SHA256, {c['pbkdf2_rounds']:,} rounds)", pbkdf2)):
            print(f"| {label} | {fmt(value, 0)} | {fmt(1e6 / value, 0)} |")
        print()
        print("Upper bounds for one single-threaded server process from cryptography alone "
              "(no HTTP, no SQLite):\n")
        print(f"- client_credentials (1 signature: access token): <= {fmt(sign, 0)} /s")
        print(f"- refresh_token or code exchange (2 signatures: access token + ID token): <= {fmt(sign / 2, 0)} /s")
        print(f"- full round trip (2 signatures + 1 password check): <= {fmt(roundtrip_bound, 0)} /s\n")
        result["ceiling"]["bounds"] = {"client_credentials": sign, "exchange": sign / 2,
                                       "roundtrip": roundtrip_bound}

    if result.get("cells"):
        print(f"## Token endpoint (client: {opts['client']})\n")
        print("An operation is one token request, or for the round trip three HTTP requests "
              "(GET authorize, POST sign-in form, POST token). CPU is per cent of one core "
              "over the measured window.\n")
        print("| flow | conc. | ops | ops/s | HTTP req/s | p50 ms | p99 ms | max ms | errors | server CPU | client CPU |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for cell in result["cells"]:
            print(f"| {cell['flow']} | {cell['concurrency']} | {cell['ops']:,} | {fmt(cell['ops_per_s'])} | "
                  f"{fmt(cell['http_requests_per_s'])} | {fmt(cell['p50_ms'], 2)} | {fmt(cell['p99_ms'], 2)} | "
                  f"{fmt(cell['max_ms'], 1)} | {cell['errors']} | {fmt(cell['server_cpu_pct'], 0)}% | "
                  f"{fmt(cell['client_cpu_pct'], 0)}% |")
        print()
        bad = [c for c in result["cells"] if c["errors"] or c["hit_op_cap"]]
        for cell in bad:
            print(f"- {cell['flow']} at {cell['concurrency']}: {cell['errors']} errors "
                  f"{cell['error_samples']}{' (hit the operation cap)' if cell['hit_op_cap'] else ''}")
        if not any(c["errors"] for c in result["cells"]):
            print("Errors (unexpected status or connection failure): none in any cell.\n")
        trips = [c for c in result["cells"] if c["flow"] == "roundtrip"]
        if trips:
            print("Round trip, time per step (ms, p50 / p99):\n")
            print("| conc. | GET authorize | POST sign-in (password check) | POST token (exchange) |")
            print("|---:|---:|---:|---:|")
            for cell in trips:
                s = cell["steps_ms"]
                print(f"| {cell['concurrency']} | " + " | ".join(
                    f"{fmt(s[n]['p50'], 2)} / {fmt(s[n]['p99'], 2)}" for n in ("authorize", "sign_in", "exchange"))
                      + " |")
            print()

    if result.get("client_comparison"):
        print("## Load generator check: same cell, two clients\n")
        print("| client | flow | conc. | ops/s | p50 ms | p99 ms | server CPU | client CPU |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for cell in result["client_comparison"]:
            print(f"| {cell['client']} | {cell['flow']} | {cell['concurrency']} | {fmt(cell['ops_per_s'])} | "
                  f"{fmt(cell['p50_ms'], 2)} | {fmt(cell['p99_ms'], 2)} | {fmt(cell['server_cpu_pct'], 0)}% | "
                  f"{fmt(cell['client_cpu_pct'], 0)}% |")
        print()
        print("When the server's CPU is near 100% of a core the server is the bottleneck, not the client.\n")


def tmp_filesystem(path: Path) -> str:
    best, fstype = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and str(path).startswith(parts[1]) and len(parts[1]) > len(best):
                best, fstype = parts[1], parts[2]
    except OSError:
        pass
    return f"{path}, {fstype}"


# --------------------------------------------------------------------------- profiling
def profile_cell(work: Path, flow: str, concurrency: int, duration: float, warmup: float, client: str,
                 top: int) -> None:
    """Run one cell against a server started under cProfile and print where its time went."""
    import pstats

    out = work / "server.prof"
    server = Server(work / "profiled", work / "profiled.log", profile_to=out).start()
    try:
        flows = Flows(server.info)
        if flow == "refresh_token":
            transport = TRANSPORTS[client](server.host, server.port)
            flows.prepare_refresh_token(transport)
            transport.close()
        cell = run_cell(server, flows, flow, concurrency, duration, warmup, client)
    finally:
        server.stop()
    stats = pstats.Stats(str(out))
    total_ops = cell["ops"] * 1.0
    # Warm-up operations also ran under the profiler: count them from the server's calls.
    handler_calls = 0
    for (filename, _line, name), (_cc, nc, _tt, _ct, _callers) in stats.stats.items():
        if filename.endswith("identity.py") and name == "post" and flow != "roundtrip":
            handler_calls = max(handler_calls, nc)
        if flow == "roundtrip" and filename.endswith("identity.py") and name == "authorization_code":
            handler_calls = nc
    ops = handler_calls or total_ops
    print(f"## Server profile: {flow} at concurrency {concurrency} under cProfile\n")
    print(f"{cell['ops']:,} measured operations ({fmt(cell['ops_per_s'])} /s under the profiler, which slows "
          f"Python code more than C code); the profile covers {ops:,.0f} operations including warm-up and setup. "
          f"Times are per operation.\n")
    # Busy time: what the event loop's callbacks took (request handling), which leaves out
    # start-up (imports, key loading) and the idle wait in epoll.
    busy = sum(v[3] for k, v in stats.stats.items() if k[0].endswith("asyncio/events.py") and k[2] == "_run")
    idle = sum(v[2] for k, v in stats.stats.items() if "poll" in k[2] and "epoll" in k[2])
    total = busy or stats.total_tt
    print(f"Profiled server process: {stats.total_tt:.2f} s in all, of which {busy:.2f} s in event-loop callbacks "
          f"(request handling: {fmt(busy / ops * 1e6, 0)} µs per operation) and {idle:.2f} s idle in epoll. "
          f"Own % below is of the request-handling time.\n")
    for sort_key, title in (("tottime", "own time"), ("cumulative", "cumulative time")):
        rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2 if sort_key == "tottime" else 3], reverse=True)
        print(f"### Top {top} by {title}\n")
        print("| function | calls/op | own µs/op | cumulative µs/op | own % |")
        print("|---|---:|---:|---:|---:|")
        rows = [row for row in rows if row[1][1] / ops >= 0.5]  # not start-up work
        for (filename, line, name), (_cc, nc, tt, ct, _callers) in rows[:top]:
            where = name if filename == "~" else f"{_short(filename)}:{line} {name}"
            print(f"| `{where}` | {nc / ops:.2f} | {tt / ops * 1e6:,.1f} | {ct / ops * 1e6:,.1f} | "
                  f"{100 * tt / total:.1f}% |")
        print()
    store = sorted(((k, v) for k, v in stats.stats.items()
                    if k[0].endswith(("sandbox/storage.py", "sandbox/authority.py")) and v[1] / ops >= 0.05),
                   key=lambda kv: kv[1][1], reverse=True)
    if store:
        print("### Store and authority calls per operation\n")
        print("| function | calls/op | cumulative µs/op |")
        print("|---|---:|---:|")
        for (filename, line, name), (_cc, nc, _tt, ct, _callers) in store:
            print(f"| `{_short(filename)}:{line} {name}` | {nc / ops:.2f} | {ct / ops * 1e6:,.1f} |")
        print()
    sql = [(k, v) for k, v in stats.stats.items() if "sqlite3.Connection" in k[2] or "sqlite3.Cursor" in k[2]]
    if sql:
        print("SQLite calls: " + ", ".join(
            f"`{k[2]}` {v[1] / ops:.1f}/op, {v[3] / ops * 1e6:,.0f} µs/op" for k, v in sql) + "\n")


def _short(filename: str) -> str:
    if "fortellis_nb/" in filename:
        return "fortellis_nb/" + filename.split("fortellis_nb/", 1)[1]
    for marker in ("site-packages/", "lib/python"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return Path(filename).name


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter cells and fewer runs: a smoke run")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE as JSON")
    parser.add_argument("--client", choices=sorted(TRANSPORTS), default="http.client",
                        help="HTTP client of the load generator (default http.client)")
    parser.add_argument("--duration", type=float, help="measured seconds per cell (default 4, quick 1)")
    parser.add_argument("--concurrency", default="1,10,50", help="comma-separated (default 1,10,50)")
    parser.add_argument("--flows", default=",".join(FLOWS), help=f"comma-separated subset of {','.join(FLOWS)}")
    parser.add_argument("--skip-cold-start", action="store_true")
    parser.add_argument("--skip-client-check", action="store_true")
    parser.add_argument("--profile", choices=FLOWS, metavar="FLOW",
                        help="instead of the benchmark: run one cell of FLOW against a server under cProfile "
                        "and print its hot spots")
    parser.add_argument("--profile-concurrency", type=int, default=10)
    parser.add_argument("--top", type=int, default=25, help="rows of the profile tables (25)")
    args = parser.parse_args(argv)

    duration = args.duration or (1.0 if args.quick else 4.0)
    warmup = 0.3 if args.quick else 1.0
    runs = 2 if args.quick else 5
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    flows_wanted = [f.strip() for f in args.flows.split(",") if f.strip()]
    for name in flows_wanted:
        if name not in FLOWS:
            parser.error(f"unknown flow {name!r}")
    if any(c < 1 or c > 200 for c in concurrencies):
        parser.error("concurrency must be between 1 and 200")

    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        work = Path(tmp)
        if args.profile:
            profile_cell(work, args.profile, args.profile_concurrency, duration, warmup, args.client, args.top)
            return 0

        result = {
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(shlex.quote(a) for a in ["python", "bench/sandbox_bench.py", *sys.argv[1:]]),
            "machine": machine(),
            "options": {"quick": args.quick, "duration": duration, "warmup": warmup, "client": args.client,
                        "concurrency": concurrencies, "flows": flows_wanted, "tmp_fs": tmp_filesystem(work)},
        }
        t_begin = time.perf_counter()
        progress = lambda text: print(f"... {text}", file=sys.stderr, flush=True)  # noqa: E731

        if not args.skip_cold_start:
            progress(f"cold start, {runs} runs each")
            result["cold_start"] = cold_start(work, runs)
        progress("signing ceiling")
        result["ceiling"] = signing_ceiling(0.5 if args.quick else 2.0)

        result["cells"] = []
        with Server(work / "load", work / "load.log") as server:
            flows = Flows(server.info)
            transport = TRANSPORTS[args.client](server.host, server.port)
            flows.prepare_refresh_token(transport)
            transport.close()
            for flow in flows_wanted:
                for concurrency in concurrencies:
                    progress(f"{flow} at concurrency {concurrency}")
                    result["cells"].append(run_cell(server, flows, flow, concurrency, duration, warmup,
                                                    args.client))
            if not args.skip_client_check:
                result["client_comparison"] = []
                check_duration = max(0.5, duration / 2)
                for client in ("http.client", "requests"):
                    for concurrency in (1, 10):
                        progress(f"client check: {client} at concurrency {concurrency}")
                        result["client_comparison"].append(run_cell(
                            server, flows, "client_credentials", concurrency, check_duration, warmup / 2, client))
        result["elapsed_s"] = time.perf_counter() - t_begin

    print_report(result)
    print(f"Benchmark took {result['elapsed_s']:.0f} s.")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(f"Figures written to {args.json}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
