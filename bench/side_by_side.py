#!/usr/bin/env python
"""The sandbox next to oidc-provider (npm, a certified OpenID provider), in one run:

- the sign-in round trip a learner makes (authorize, sign in from a fresh browser, exchange
  the code for tokens), as completed round trips per second with ``--concurrency`` browsers
  at once, and its p50 / p99;
- cold start: from spawning the server to its ready line, and to its first answer
  (the discovery document);
- resident memory at rest after start, and at its peak after the round trips.

Both servers run at the same time; the round trips are measured in ``--rounds`` turns, the
servers taking turns (in an order that alternates), so a slow spell of this shared machine
falls on both. oidc-provider is installed from the npm registry into a temporary folder.
Every request goes to 127.0.0.1.

    python bench/side_by_side.py
    python bench/side_by_side.py --rounds 1 --seconds 1 --concurrency 2     # a smoke run

A measuring tool, not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from common import install_oidc_provider, machine, oidc_provider, percentile, sandbox, sign_in

CLIENT_ID, CLIENT_SECRET, PEER_REDIRECT = "bench-client", "bench-secret-0123456789", "https://example.com/"


def targets(ours, theirs) -> dict[str, dict]:
    info = ours.info
    return {
        "sandbox": {"server": ours, "authorize": f"{info['issuer']}/v1/authorize", "token": f"{info['issuer']}/v1/token",
                    "client": (info["api_key"], info["api_secret"]), "redirect_uri": info["redirect_uri"],
                    "user": (info["username"], info["password"])},
        "oidc-provider": {"server": theirs, "authorize": f"{theirs.info['issuer']}/auth",
                          "token": f"{theirs.info['issuer']}/token", "client": (CLIENT_ID, CLIENT_SECRET),
                          "redirect_uri": PEER_REDIRECT, "user": ("learner", "any password")},
    }


def round_trip(target: dict, n: int) -> float:
    """One learner's sign-in from a fresh browser, then the code exchange; seconds."""
    began = time.perf_counter()
    with requests.Session() as browser:
        query = urlencode({"client_id": target["client"][0], "response_type": "code", "scope": "openid",
                           "redirect_uri": target["redirect_uri"], "state": f"state{n}", "nonce": f"nonce{n}"})
        landed = sign_in(browser, f"{target['authorize']}?{query}", target["redirect_uri"], *target["user"])
        code = parse_qs(urlsplit(landed).query)["code"][0]
        tokens = browser.post(target["token"], auth=target["client"], timeout=60, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": target["redirect_uri"]})
    if tokens.status_code != 200 or "id_token" not in tokens.json():
        raise RuntimeError(f"exchange: {tokens.status_code} {tokens.text[:100]!r}")
    return time.perf_counter() - began


def measure(target: dict, concurrency: int, seconds: float) -> dict:
    """``concurrency`` browsers, each repeating round trips back to back for ``seconds``."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def browser(index: int):
        n = 0
        while time.perf_counter() < stop_at and n < 100_000:
            n += 1
            try:
                took = round_trip(target, index * 100_000 + n)
            except (RuntimeError, requests.RequestException, KeyError, ValueError) as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                latencies.append(took)

    threads = [threading.Thread(target=browser, args=(i,)) for i in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"per_s": len(latencies) / (time.perf_counter() - began), "latencies": latencies, "errors": errors}


def run(concurrency: int = 10, seconds: float = 4.0, rounds: int = 3) -> dict:
    with tempfile.TemporaryDirectory(prefix="side-by-side-") as work:
        work = Path(work)
        version = install_oidc_provider(work / "npm")
        # One app makes every round trip here, far past the 1,200 a minute that the sandbox (like
        # Okta) allows one client: the limit is off, as oidc-provider has none.
        ours = sandbox(work / "state", "--rate-limit", "0")
        theirs = oidc_provider(work / "npm", CLIENT_ID, CLIENT_SECRET, PEER_REDIRECT)
        try:
            both = targets(ours, theirs)
            start = {name: {"ready_s": t["server"].started_s, "first_answer_s": t["server"].first_answer_s,
                            "idle_rss_mib": t["server"].memory()["VmRSS"]} for name, t in both.items()}
            for target in both.values():  # one unmeasured round trip each: code paths loaded
                round_trip(target, 0)
            cells: dict[str, list[dict]] = {name: [] for name in both}
            for turn in range(rounds):
                order = list(both) if turn % 2 == 0 else list(reversed(both))
                for name in order:
                    cells[name].append(measure(both[name], concurrency, seconds))
            peak = {name: t["server"].memory()["VmHWM"] for name, t in both.items()}
        finally:
            ours.stop()
            theirs.stop()
        warm = sandbox(work / "state", "--rate-limit", "0")  # the same state again: a learner's every later start
        warm.stop()
    figures = {}
    for name, runs in cells.items():
        latencies = [x for r in runs for x in r["latencies"]]
        figures[name] = {**start[name], "peak_rss_mib": peak[name],
                         "round_trips_per_s": statistics.median(r["per_s"] for r in runs),
                         "rounds_per_s": [r["per_s"] for r in runs],
                         "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
                         "errors": sum(len(r["errors"]) for r in runs),
                         "error_samples": [e for r in runs for e in r["errors"]][:3]}
    figures["sandbox"]["warm_ready_s"] = warm.started_s
    figures["sandbox"]["warm_first_answer_s"] = warm.first_answer_s
    return {"concurrency": concurrency, "seconds": seconds, "rounds": rounds, "oidc_provider": version,
            "servers": figures}


RATIOS = (  # (label, figure, the goal for ours / theirs, "at least" or "at most")
    ("sign-in round trips per second", "round_trips_per_s", 2.0, "at least"),
    ("cold start to the ready line", "ready_s", 0.5, "at most"),
    ("cold start to the first answer", "first_answer_s", 0.5, "at most"),
    ("resident memory at rest", "idle_rss_mib", 0.5, "at most"),
    ("resident memory at its peak", "peak_rss_mib", 0.5, "at most"),
)


def report(result: dict) -> str:
    ours, theirs = result["servers"]["sandbox"], result["servers"]["oidc-provider"]
    lines = [f"The sandbox and oidc-provider {result['oidc_provider']} side by side: {result['concurrency']} "
             f"browsers at once, {result['rounds']} turns of {result['seconds']:.0f} s each.", "",
             "| figure | sandbox | oidc-provider | sandbox / oidc-provider | goal |", "|---|---:|---:|---:|---|"]
    units = {"round_trips_per_s": "{:.0f}/s", "ready_s": "{:.0f} ms", "first_answer_s": "{:.0f} ms",
             "idle_rss_mib": "{:.1f} MiB", "peak_rss_mib": "{:.1f} MiB"}
    for label, key, goal, sense in RATIOS:
        scale = 1000 if key in ("ready_s", "first_answer_s") else 1
        ratio = ours[key] / theirs[key]
        met = ratio >= goal if sense == "at least" else ratio <= goal
        lines.append(f"| {label} | {units[key].format(ours[key] * scale)} | {units[key].format(theirs[key] * scale)} "
                     f"| {ratio:.2f}x | {sense} {goal}x: **{'met' if met else 'not met'}** |")
    lines += ["", f"- round trips, each turn: sandbox {', '.join(f'{x:.0f}' for x in ours['rounds_per_s'])}/s; "
              f"oidc-provider {', '.join(f'{x:.0f}' for x in theirs['rounds_per_s'])}/s",
              f"- round-trip latency p50 / p99: sandbox {ours['p50_ms']:.0f} / {ours['p99_ms']:.0f} ms; "
              f"oidc-provider {theirs['p50_ms']:.0f} / {theirs['p99_ms']:.0f} ms",
              f"- errors: sandbox {ours['errors']}, oidc-provider {theirs['errors']}"
              + "".join(f" ({s})" for s in ours["error_samples"] + theirs["error_samples"]),
              f"- the sandbox's warm start (its state already made, as at every start after the first): "
              f"{ours['warm_ready_s'] * 1000:.0f} ms to the ready line, {ours['warm_first_answer_s'] * 1000:.0f} ms "
              "to the first answer"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each measured turn")
    parser.add_argument("--rounds", type=int, default=3, help="turns per server")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    args = parser.parse_args()
    print(f"Machine: {machine()}.\n", flush=True)  # its load average before the run
    result = run(args.concurrency, args.seconds, args.rounds)
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
