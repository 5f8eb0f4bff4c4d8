#!/usr/bin/env python
"""A workshop room against one shared sandbox: N participants (100 by default) at once,
each doing what a participant does: sign up as their own user, register their own app,
then the whole flow (sign in, exchange the code, refresh, call the API).

Prints, as Markdown: errors (any non-2xx/302 answer or a missing field), p50 / p99 / max
per step, wall time, and the server's peak memory (the peak resident set of the sandbox
process, summed over its workers with ``--workers``). The sandbox runs in its own process
(``python -m fortellis_nb.sandbox serve``); every request goes to 127.0.0.1 only.

    python bench/room_bench.py                      # 100 participants, 1 server process
    python bench/room_bench.py --participants 30 --workers 2

A measuring tool, not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')
STEPS = ("sign up", "register app", "authorize page", "sign in", "exchange", "refresh", "API call")
REPO = Path(__file__).resolve().parent.parent


def peak_rss_kib(pid: int) -> int:
    """VmHWM of a process and its children (the workers), in KiB."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for one in pids:
        try:
            status = Path(f"/proc/{one}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        total += int(match.group(1)) if match else 0
    return total


def participant(n: int, info: dict, start: threading.Barrier, timings: dict, errors: list) -> None:
    http = requests.Session()
    base, issuer = info["base_url"], info["issuer"]

    def step(name, call, ok):
        began = time.perf_counter()
        try:
            response = call()
        except requests.RequestException as exc:
            errors.append(f"p{n} {name}: {type(exc).__name__}")
            return None
        timings[name].append(time.perf_counter() - began)
        if not ok(response):
            errors.append(f"p{n} {name}: {response.status_code} {response.text[:120]!r}")
            return None
        return response

    start.wait()
    user = {"username": f"participant{n}@room.example", "password": f"room-password-{n}", "name": f"P{n}"}
    if not step("sign up", lambda: http.post(f"{base}/sandbox/users", json=user), lambda r: r.status_code == 201):
        return
    made = step("register app", lambda: http.post(f"{base}/sandbox/apps", json={
        "name": f"App {n}", "redirect_uris": [info["redirect_uri"]]}), lambda r: r.status_code == 201)
    if not made:
        return
    app = made.json()
    params = {"client_id": app["api_key"], "response_type": "code", "scope": "openid offline_access",
              "redirect_uri": info["redirect_uri"], "state": f"s{n}", "nonce": f"n{n}"}
    page = step("authorize page", lambda: http.get(f"{issuer}/v1/authorize", params=params, allow_redirects=False),
                lambda r: r.status_code == 200 and "txn" in r.text)
    if not page:
        return
    form = dict(HIDDEN.findall(page.text), username=user["username"], password=user["password"], action="allow")
    back = step("sign in", lambda: http.post(f"{issuer}/v1/authorize", data=form, allow_redirects=False),
                lambda r: r.status_code == 302 and "code=" in r.headers.get("Location", ""))
    if not back:
        return
    code = parse_qs(urlsplit(back.headers["Location"]).query)["code"][0]
    auth = (app["api_key"], app["api_secret"])
    tokens = step("exchange", lambda: http.post(f"{issuer}/v1/token", auth=auth, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": info["redirect_uri"]}),
        lambda r: r.status_code == 200 and "refresh_token" in r.json())
    if not tokens:
        return
    refreshed = step("refresh", lambda: http.post(f"{issuer}/v1/token", auth=auth, data={
        "grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]}),
        lambda r: r.status_code == 200 and "access_token" in r.json())
    if not refreshed:
        return
    step("API call", lambda: http.get(f"{info['api_base_url']}/sandbox/v1/dealership", headers={
        "Authorization": f"Bearer {refreshed.json()['access_token']}", "Subscription-Id": app["subscription_id"],
        "Request-Id": f"room-{n}"}), lambda r: r.status_code == 200 and r.json()["caller"]["user"] == user["username"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1, help="sandbox server processes (--workers)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as state:
        command = [sys.executable, "-m", "fortellis_nb.sandbox", "serve", "--state", state, "--port", "0",
                   "--workers", str(args.workers)]
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
        try:
            info = json.loads(server.stdout.readline())
            idle_kib = peak_rss_kib(server.pid)
            timings = {name: [] for name in STEPS}
            errors: list[str] = []
            start = threading.Barrier(args.participants)
            began = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.participants) as pool:
                for n in range(args.participants):
                    pool.submit(participant, n, info, start, timings, errors)
            wall = time.perf_counter() - began
            peak_kib = peak_rss_kib(server.pid)
            progress = requests.get(f"{info['base_url']}/sandbox/admin/progress",
                                    headers={"Authorization": f"Bearer {info['admin_token']}"}).json()
        finally:
            server.terminate()
            server.wait(30)

    complete = sum(1 for r in progress if r["exchanges"] == 1 and r["refreshes"] == 1 and r["api_calls"] == 1)
    print(f"## {args.participants} participants, one shared sandbox ({args.workers} server process"
          f"{'es' if args.workers > 1 else ''})\n")
    print(f"Machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}. "
          f"All participants start together (threads in one load-generator process).\n")
    print(f"- errors: **{len(errors)}**" + (f" (first: {errors[0]})" if errors else ""))
    print(f"- participants the instructor's report shows through exchange, refresh and API call: "
          f"{complete} of {args.participants}")
    print(f"- wall time for the whole room: {wall:.1f} s")
    print(f"- server peak memory (VmHWM{', all workers' if args.workers > 1 else ''}): {peak_kib / 1024:.1f} MiB "
          f"(idle after start: {idle_kib / 1024:.1f} MiB)\n")
    print("| step | n | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|")
    for name in STEPS:
        values = sorted(timings[name])
        if not values:
            print(f"| {name} | 0 | | | |")
            continue
        p99 = values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]
        print(f"| {name} | {len(values)} | {statistics.median(values) * 1000:.0f} | {p99 * 1000:.0f} | "
              f"{values[-1] * 1000:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
