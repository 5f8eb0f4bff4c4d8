#!/usr/bin/env python
"""A workshop room against one shared sandbox: N participants, each doing what a participant
does: sign up as their own user, register their own app, activate it as a dealer (for a
Subscription-Id), open the authorize page, sign in, exchange the code, refresh, call the API.

They start all at once (an instructor says "go"), or with ``--arrive-over SECONDS`` spread
evenly over that window, each starting on time whatever the others are doing (an open loop:
the way a room follows an instructor, at its own pace). Prints, as Markdown: errors (any
unexpected answer), p50 / p99 / max per step, the room's wall time, and the sandbox's
resident memory at rest and at its peak. The sandbox runs in its own process, as
``python -m fortellis_nb.sandbox serve``; every request goes to 127.0.0.1.

    python bench/room_bench.py                                   # 100 participants at once
    python bench/room_bench.py --participants 1000 --arrive-over 60

A measuring tool, not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from common import machine, percentile, sandbox, sign_in

STEPS = ("sign up", "register app", "activate", "authorize page", "sign in", "exchange", "refresh", "API call")


def participant(n: int, info: dict, timings: dict, errors: list, lock: threading.Lock) -> None:
    http = requests.Session()
    mine: dict[str, list[float]] = {}

    def step(name, call, ok):
        began = time.perf_counter()
        response = call()
        mine.setdefault(name, []).append(time.perf_counter() - began)
        if not ok(response):
            raise RuntimeError(f"{name}: {response.status_code} {response.text[:100]!r}")
        return response.json()

    base, issuer, callback = info["base_url"], info["issuer"], info["redirect_uri"]
    user = {"username": f"participant{n}@room.example", "password": f"room-password-{n}", "name": f"P{n}"}
    try:
        step("sign up", lambda: http.post(f"{base}/sandbox/users", json=user, timeout=60),
             lambda r: r.status_code == 201)
        app = step("register app", lambda: http.post(f"{base}/sandbox/apps", timeout=60, json={
            "name": f"App {n}", "redirect_uris": [callback]}), lambda r: r.status_code == 201)
        # Playing a dealer, who activates the app: its Subscription-Id for that dealer.
        app.update(step("activate", lambda: http.post(f"{base}/sandbox/subscriptions", timeout=60, json={
            "api_key": app["api_key"], "dealership": f"Dealer {n}"}), lambda r: r.status_code == 201))
        query = urlencode({"client_id": app["api_key"], "response_type": "code", "scope": "openid offline_access",
                           "redirect_uri": callback, "state": f"s{n}", "nonce": f"n{n}"})
        landed = sign_in(http, f"{issuer}/v1/authorize?{query}", callback, user["username"], user["password"],
                         timings=mine)
        code = parse_qs(urlsplit(landed).query)["code"][0]
        auth = (app["api_key"], app["api_secret"])
        tokens = step("exchange", lambda: http.post(f"{issuer}/v1/token", auth=auth, timeout=60, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": callback}),
            lambda r: r.status_code == 200 and "refresh_token" in r.json())
        refreshed = step("refresh", lambda: http.post(f"{issuer}/v1/token", auth=auth, timeout=60, data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}),
            lambda r: r.status_code == 200 and "access_token" in r.json())
        step("API call", lambda: http.get(f"{info['api_base_url']}/sandbox/v1/dealership", timeout=60, headers={
            "Authorization": f"Bearer {refreshed['access_token']}", "Subscription-Id": app["subscription_id"],
            "Request-Id": f"room-{n}"}), lambda r: r.status_code == 200 and r.json()["caller"]["user"] == user["username"])
    except (RuntimeError, requests.RequestException, KeyError, ValueError) as exc:
        with lock:
            errors.append(f"participant {n}: {type(exc).__name__}: {exc}")
    finally:
        http.close()
        with lock:
            for name, values in mine.items():
                timings[name].extend(values)


def run(participants: int, arrive_over: float = 0.0) -> dict:
    """One room on a fresh sandbox: every figure, as a dict."""
    with tempfile.TemporaryDirectory(prefix="room-bench-") as state:
        server = sandbox(Path(state))
        try:
            info, idle = server.info, server.memory()["VmRSS"]
            timings: dict[str, list[float]] = {name: [] for name in STEPS}
            errors: list[str] = []
            lock = threading.Lock()
            threads = [threading.Thread(target=participant, args=(n, info, timings, errors, lock), daemon=True)
                       for n in range(participants)]
            gap = arrive_over / participants if participants else 0.0
            server_cpu, own_cpu = server.cpu(), time.process_time()
            began = time.perf_counter()
            for n, thread in enumerate(threads):
                delay = began + n * gap - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                thread.start()
            for thread in threads:
                thread.join(timeout=600)
            wall = time.perf_counter() - began
            server_cpu, own_cpu = server.cpu() - server_cpu, time.process_time() - own_cpu
            peak = server.memory()["VmHWM"]
            progress = requests.get(f"{info['base_url']}/sandbox/admin/progress", timeout=30,
                                    headers={"Authorization": f"Bearer {info['admin_token']}"}).json()
        finally:
            server.stop()
    steps = {name: {"n": len(v), "p50_ms": percentile(v, 50) * 1000, "p99_ms": percentile(v, 99) * 1000,
                    "max_ms": max(v, default=float("nan")) * 1000} for name, v in timings.items()}
    complete = sum(1 for r in progress if r["exchanges"] == r["refreshes"] == r["api_calls"] == 1)
    return {"participants": participants, "arrive_over_s": arrive_over, "errors": len(errors),
            "error_samples": errors[:3], "complete": complete, "wall_s": wall, "idle_rss_mib": idle,
            "peak_rss_mib": peak, "server_cpu_s": server_cpu, "participants_cpu_s": own_cpu, "steps": steps}


def report(room: dict) -> str:
    how = (f"arriving evenly over {room['arrive_over_s']:.0f} s" if room["arrive_over_s"]
           else "all at once")
    lines = [f"**{room['participants']} participants, {how}**, one sandbox process.", "",
             f"- errors: **{room['errors']}**" + (f" (first: {room['error_samples'][0]})" if room["errors"] else ""),
             f"- through exchange, refresh and API call in the instructor's report: {room['complete']} "
             f"of {room['participants']}",
             f"- wall time for the whole room: {room['wall_s']:.1f} s; CPU used meanwhile: the sandbox "
             f"{room['server_cpu_s']:.1f} s, the participants (the load generator, on the same 2 cores) "
             f"{room['participants_cpu_s']:.1f} s",
             f"- sandbox memory: {room['idle_rss_mib']:.1f} MiB at rest, {room['peak_rss_mib']:.1f} MiB at its peak",
             "", "| step | n | p50 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|"]
    for name, s in room["steps"].items():
        lines.append(f"| {name} | {s['n']} | {s['p50_ms']:.0f} | {s['p99_ms']:.0f} | {s['max_ms']:.0f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=100)
    parser.add_argument("--arrive-over", type=float, default=0.0, metavar="SECONDS",
                        help="spread the starts evenly over this many seconds (default 0: all at once)")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    args = parser.parse_args()
    room = run(args.participants, args.arrive_over)
    print(f"Machine: {machine()}.\n")
    print(report(room))
    if args.json:
        Path(args.json).write_text(json.dumps(room, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
