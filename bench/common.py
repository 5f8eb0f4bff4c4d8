"""What the benchmark scripts share: starting a server in its own process and timing its
start, its memory, one percentile, and the browser's part of a sign-in.

Every request goes to 127.0.0.1 only. Memory is read from /proc (Linux)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import requests

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fortellis_nb.local.headless import parse_forms  # noqa: E402  (the package's own form reader)

if TYPE_CHECKING:
    import aiohttp

OIDC_PROVIDER = "oidc-provider@8.8.1"  # the 8.x line runs on node 20
PAGES = 12  # a sign-in that has not come back by then is going round in circles


def percentile(values: list[float], pct: int) -> float:
    """The ``pct``-th percentile (1..99, inclusive method); the value itself for one value."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def memory_mib(pid: int) -> dict[str, float]:
    """The resident set of a process now (VmRSS) and at its peak (VmHWM), in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return {key: int(re.search(rf"{key}:\s+(\d+) kB", status).group(1)) / 1024 for key in ("VmRSS", "VmHWM")}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU a process has used so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError, AttributeError):
        cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text()).group(1)
    return (f"{os.cpu_count()} cores ({cpu}), {platform.platform()}, Python {platform.python_version()}, "
            f"load average {load_average():.2f} at the start")


def load_average() -> float:
    """The machine's load average over the last minute (NaN where the system has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def cores() -> int:
    """The cores this process may run on (its affinity where the system has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Server:
    """A server in its own process, started by ``command``; ready when it prints a line
    ``ready(line)`` accepts, which returns what the line says (a dict). ``started_s`` is the
    time from spawning to that line, ``first_answer_s`` to the first 200 from ``probe_url``."""

    def __init__(self, command: list[str], ready, probe=lambda info: info["issuer"] + "/.well-known/openid-configuration",
                 cwd: Path | None = None):
        began = time.perf_counter()
        self.process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.info = None
        while self.info is None:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"{command[:3]} exited before it was ready")
            self.info = ready(line)
        self.started_s = time.perf_counter() - began
        probe_url = probe(self.info)
        while requests.get(probe_url, timeout=10).status_code != 200:
            time.sleep(0.001)
        self.first_answer_s = time.perf_counter() - began

    def memory(self) -> dict[str, float]:
        return memory_mib(self.process.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.process.stdout.close()


def sandbox(state: Path, *options: str) -> Server:
    """``python -m fortellis_nb.sandbox serve`` on a free port; its first line is JSON."""
    command = [sys.executable, "-m", "fortellis_nb.sandbox", "serve", "--state", str(state), "--port", "0", *options]
    return Server(command, lambda line: json.loads(line), cwd=REPO)


def install_oidc_provider(folder: Path) -> str:
    """npm-install oidc-provider into ``folder`` (with the bench's start script); its version."""
    subprocess.run(["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--no-save",
                    "--loglevel=error", OIDC_PROVIDER], check=True, capture_output=True, timeout=300)
    shutil.copy(REPO / "bench" / "oidc_provider.mjs", folder / "oidc_provider.mjs")
    return json.loads((folder / "node_modules" / "oidc-provider" / "package.json").read_text())["version"]


def oidc_provider(folder: Path, client_id: str, secret: str, redirect_uri: str) -> Server:
    def ready(line):
        return json.loads(line[len("READY "):]) if line.startswith("READY ") else None

    return Server(["node", "oidc_provider.mjs", client_id, secret, redirect_uri], ready, cwd=folder)


REDIRECTS = (301, 302, 303, 307, 308)


def _next_page(url: str, status: int, location: str | None, text: str, username: str,
               password: str) -> tuple[str, dict | None]:
    """What a browser does with one answer during a sign-in: the address it goes to next and
    the form it posts there (None: a plain GET). Raises on an error page."""
    if status in REDIRECTS and location:
        return urljoin(url, location), None
    if status != 200:
        raise RuntimeError(f"{status} at {url}: {text[:120]!r}")
    forms, _messages = parse_forms(text)
    form = forms[0]
    data = dict(form.fields)
    if "login" in form.inputs:  # oidc-provider's development sign-in
        data.update(login=username, password=password)
    elif "password" in form.inputs:
        data.update(username=username, password=password, action="allow")
    return urljoin(url, form.action or url), data


def _timed(timings: dict | None, posted: bool, began: float) -> None:
    if timings is not None:
        timings.setdefault("sign in" if posted else "authorize page", []).append(time.perf_counter() - began)


def sign_in(http: requests.Session, authorize_url: str, redirect_uri: str, username: str, password: str,
            timings: dict | None = None) -> str:
    """A browser's part of the flow on any server: follow redirects, fill in and post each
    form (sign-in and, where a server asks, consent), until it is sent to ``redirect_uri``.
    Returns that address. ``timings`` collects the seconds of each request by its page."""
    url, data = authorize_url, None
    for _ in range(PAGES):
        began = time.perf_counter()
        response = http.post(url, data=data, allow_redirects=False, timeout=60) if data is not None \
            else http.get(url, allow_redirects=False, timeout=60)
        _timed(timings, data is not None, began)
        url, data = _next_page(url, response.status_code, response.headers.get("Location"), response.text,
                               username, password)
        if data is None and url.startswith(redirect_uri):
            return url
    raise RuntimeError(f"no redirect back to {redirect_uri} after {PAGES} pages")


async def sign_in_async(http: aiohttp.ClientSession, authorize_url: str, redirect_uri: str, username: str,
                        password: str, timings: dict | None = None) -> str:
    """``sign_in`` in a browser-like session of aiohttp's."""
    url, data = authorize_url, None
    for _ in range(PAGES):
        began = time.perf_counter()
        async with http.request("POST" if data is not None else "GET", url, data=data,
                                allow_redirects=False) as response:
            text = await response.text()
        _timed(timings, data is not None, began)
        url, data = _next_page(url, response.status, response.headers.get("Location"), text, username, password)
        if data is None and url.startswith(redirect_uri):
            return url
    raise RuntimeError(f"no redirect back to {redirect_uri} after {PAGES} pages")
