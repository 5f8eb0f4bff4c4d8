"""A crowd of idle connections on one sandbox whose open-file limit is a desktop's (1024).

    .venv/bin/python bench/crowd.py                     # soft limit 1024, the hard limit as it is
    .venv/bin/python bench/crowd.py --hard 1024         # and no way to raise it
    .venv/bin/python bench/crowd.py --idle 2000 --seconds 10

The sandbox runs in its own process with the soft RLIMIT_NOFILE set to ``--soft`` (and the hard
one to ``--hard``, when given). ``--idle`` connections are opened to it and held without a
byte sent; while they are held, the sandbox's CPU is read over ``--seconds``, and the bytes its
log (stderr) grew by; then a whole code flow (authorize, sign in, exchange) is timed from a
fresh browser. Prints the figures as one JSON object. Linux (reads /proc)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from common import REPO, cpu_seconds, sign_in


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def crowd_in(pid: int, port: int, count: int, most: int, batch: int = 100) -> list[socket.socket]:
    """``count`` idle connections, opened ``batch`` at a time, each batch once the server has
    taken the one before (or holds ``most`` files, or 2 s passed): a burst of thousands at once
    would overflow the listen queue (128), and those connects would wait for the kernel's retries."""
    held: list[socket.socket] = []
    base = open_files(pid)
    while len(held) < count:
        held += hold(port, min(batch, count - len(held)))
        end = time.monotonic() + 2
        while open_files(pid) < min(base + len(held), most) and time.monotonic() < end:
            time.sleep(0.02)
    return held


def states(held: list[socket.socket]) -> dict[str, int]:
    """How many of the held connections are open, closed by the server, or never connected."""
    counts = {"open": 0, "closed_by_server": 0, "not_connected": 0}
    for sock in held:
        try:
            counts["closed_by_server" if sock.recv(1) == b"" else "open"] += 1
        except BlockingIOError:
            counts["open"] += 1
        except OSError:  # ENOTCONN: its SYN still unanswered; ECONNRESET
            counts["not_connected" if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 else
                   "closed_by_server"] += 1
    return counts


def soft_limit(pid: int) -> int:
    """The soft open-file limit of a process, as it is now (the sandbox may have raised it)."""
    return int(next(line.split()[3] for line in Path(f"/proc/{pid}/limits").read_text().splitlines()
                    if line.startswith("Max open files")))


def hold(port: int, count: int) -> list[socket.socket]:
    """``count`` connections opened without waiting for the server to accept them (those it
    does not take wait in the system's queue, or retry their SYN), nothing sent on them."""
    held = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        held.append(sock)
    return held


def code_flow(info: dict) -> float:
    """Seconds for a whole code flow from a fresh browser: authorize, sign in, exchange."""
    began = time.perf_counter()
    query = {"client_id": info["api_key"], "response_type": "code", "scope": "openid", "state": "s",
             "nonce": "n", "redirect_uri": info["redirect_uri"]}
    with requests.Session() as browser:
        back = sign_in(browser, f"{info['issuer']}/v1/authorize?{urlencode(query)}", info["redirect_uri"],
                       info["username"], info["password"])
        code = parse_qs(urlsplit(back).query)["code"][0]
        answer = browser.post(f"{info['issuer']}/v1/token", auth=(info["api_key"], info["api_secret"]), timeout=300,
                               data={"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": info["redirect_uri"]})
    answer.raise_for_status()
    return time.perf_counter() - began


def run(idle: int, seconds: float, soft: int = 1024, hard: int | None = None) -> dict:
    own_soft, own_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if own_soft < idle + 64:  # this process holds the other end of each connection
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(own_hard, idle + 256), own_hard))
    limits = (soft, own_hard if hard is None else hard)
    with tempfile.TemporaryDirectory() as folder:
        log_path = Path(folder) / "sandbox.log"
        with open(log_path, "wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "fortellis_nb.sandbox", "serve", "--state", f"{folder}/state", "--port", "0"],
                cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True,
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limits))
        try:
            info = json.loads(server.stdout.readline())
            port = int(info["base_url"].rsplit(":", 1)[1])
            code_flow(info)  # warm: the first sign-in's page and hash
            at_rest = open_files(server.pid)
            limit = soft_limit(server.pid)
            held = crowd_in(server.pid, port, idle, most=limit - 64)
            log_before, cpu_before, files_before = log_path.stat().st_size, cpu_seconds(server.pid), open_files(server.pid)
            time.sleep(seconds)
            cpu = (cpu_seconds(server.pid) - cpu_before) / seconds
            log_added = log_path.stat().st_size - log_before
            files_after = open_files(server.pid)
            began = time.perf_counter()
            try:
                flow_s, flow_error = code_flow(info), None
            except requests.RequestException as exc:  # a server that cannot take the connection
                flow_s, flow_error = time.perf_counter() - began, type(exc).__name__
            crowd = states(held)
            for sock in held:
                sock.close()
        finally:
            server.terminate()
            server.wait(20)
            server.stdout.close()
        log_text = log_path.read_text(errors="replace")
    return {"idle": idle, "seconds": seconds, "limits_given": list(limits), "soft_limit_in_use": limit,
            "open_files_at_rest": at_rest, "open_files_in_the_window": [files_before, files_after],
            "cpu_percent": round(100 * cpu, 2), "log_bytes_added": log_added, "flow_s": round(flow_s, 2), "flow_error": flow_error,
            "held_after_the_flow": crowd, "log_bytes": len(log_text.encode()), "log_lines": log_text.splitlines()[:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--soft", type=int, default=1024)
    parser.add_argument("--hard", type=int, default=None)
    args = parser.parse_args()
    print(json.dumps(run(args.idle, args.seconds, args.soft, args.hard), indent=2))


if __name__ == "__main__":
    main()
