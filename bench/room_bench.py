#!/usr/bin/env python
"""A workshop room against one shared sandbox: N participants, each doing what a participant
does: sign up as their own user, register their own app, activate it as a dealer (for a
Subscription-Id), open the authorize page, sign in, exchange the code, refresh, call the API.

They start all at once (an instructor says "go"), or with ``--arrive-over SECONDS`` spread
evenly over that window, each starting on time whatever the others are doing (an open loop:
the way a room follows an instructor, at its own pace). Prints, as Markdown: errors (any
unexpected answer), p50 / p99 / max per step, the room's wall time against its lower bound
(the cryptography the flow cannot avoid, measured in the same run, spread over the cores),
the CPU of the sandbox and of the load generator, and the sandbox's resident memory at rest
and at its peak. Beside the cryptography, the least the room's HTTP costs is measured too: as
many requests, as many at once, to a tornado server that only answers (``http_floor.py``); what
the sandbox spends above both is its own code (routing, rules, SQLite, pages, JSON). The sandbox runs in its own process, as ``python -m fortellis_nb.sandbox
serve``; every request goes to 127.0.0.1.

    python bench/room_bench.py                                   # 100 participants at once
    python bench/room_bench.py --participants 1000 --arrive-over 60

A measuring tool, not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import requests
from common import REPO, Server, cores, load_average, machine, percentile, sandbox, sign_in_async

from fortellis_nb.sandbox.jwt_rs256 import SigningKey, verify
from fortellis_nb.sandbox.storage import PBKDF2_ROUNDS, check_password, hash_password

STEPS = ("sign up", "register app", "activate", "authorize page", "sign in", "exchange", "refresh", "API call")

#: The cryptography one participant's flow cannot avoid, by what the sandbox does at each step:
#: sign up hashes the password (portal.py) and sign in checks it (identity.py), one PBKDF2 each;
#: the exchange and the refresh each sign an access token and an ID token (the scope has openid;
#: authority.issue_tokens); the API call verifies the access token (gateway.py).
CRYPTO_PER_PARTICIPANT = {"password hash": 2, "signature": 4, "verification": 1}

#: A token the size of the sandbox's access tokens (the claims barely change what signing costs).
CLAIMS = {"ver": 1, "jti": "AT.room-bench-0123456789abcdefghijklmnopqrstuvwxyz", "iss": "http://127.0.0.1/oauth2/x",
          "aud": "api://default", "iat": 1_700_000_000, "exp": 1_700_003_600, "cid": "0" * 32,
          "uid": "00u" + "0" * 17, "scp": ["openid", "offline_access"], "sub": "participant0@room.example"}


def crypto_costs(repeats: int = 9) -> tuple[dict[str, float], int]:
    """CPU-seconds of one password hash, one RS256 signature and one verification, each done
    with the sandbox's own functions (median of ``repeats``, this thread's CPU time: what the
    operation costs, not how long the machine's other work made it wait); and the bits of the
    RSA key the sandbox generates."""
    def cost(call, times: int) -> float:
        samples = []
        for _ in range(times):
            began = time.thread_time()
            call()
            samples.append(time.thread_time() - began)
        return statistics.median(samples)

    key = SigningKey.generate(created=0.0, activated=0.0)
    token = key.sign(CLAIMS)
    stored = hash_password("room-password-0")
    hashing = statistics.mean([cost(lambda: hash_password("room-password-0"), repeats),
                               cost(lambda: check_password("room-password-0", stored), repeats)])
    return {"password hash": hashing, "signature": cost(lambda: key.sign(CLAIMS), repeats * 5),
            "verification": cost(lambda: verify(token, {key.kid: key}), repeats * 5)}, key.private_key.key_size


def crypto_all_cores(cpus: int, flows: int = 6) -> dict[str, float]:
    """The cryptography of ``flows`` participants on each of the ``cpus`` cores at once, with the
    sandbox's own functions, as a room makes every core do it: the wall time per participant
    (the rate the cores reach together, the physical limit of a room) and the CPU per
    participant (what it costs while every core is busy: more than on one core alone)."""
    key = SigningKey.generate(created=0.0, activated=0.0)
    token = key.sign(CLAIMS)
    stored = hash_password("room-password-0")
    work = {"password hash": (lambda: hash_password("room-password-0"),  # sign up
                              lambda: check_password("room-password-0", stored)),  # sign in
            "signature": (lambda: key.sign(CLAIMS),), "verification": (lambda: verify(token, {key.kid: key}),)}
    one_flow = [work[what][i % len(work[what])] for what, count in CRYPTO_PER_PARTICIPANT.items()
                for i in range(count)]
    spent: list[float] = []

    def core() -> None:
        began = time.thread_time()
        for _ in range(flows):
            for call in one_flow:
                call()
        spent.append(time.thread_time() - began)

    threads = [threading.Thread(target=core) for _ in range(cpus)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    return {"wall_per_participant_s": wall / (flows * cpus), "cpu_per_participant_s": sum(spent) / (flows * cpus)}


def crypto_costs_around(before: tuple[dict[str, float], int], after: tuple[dict[str, float], int]) -> dict:
    """The costs measured before the room and after it, averaged: a machine whose speed drifts
    during the run (a shared host's) is judged by its speed during the run."""
    return {what: (before[0][what] + after[0][what]) / 2 for what in before[0]}


def crypto_per_participant(costs: dict[str, float]) -> float:
    """CPU-seconds of cryptography one participant's flow cannot avoid."""
    return sum(count * costs[what] for what, count in CRYPTO_PER_PARTICIPANT.items())


def lower_bound(participants: int, crypto_s: float, cpus: int) -> float:
    """The shortest wall time a room could take: the cryptography its flows cannot avoid, every
    core busy with nothing else from the first moment to the last."""
    return participants * crypto_s / cpus


def last_arrival(participants: int, arrive_over: float) -> float:
    """When the last participant of an evenly spread room starts (a room is never over before)."""
    return arrive_over * (participants - 1) / participants


async def participant(n: int, info: dict, http: aiohttp.ClientSession, timings: dict) -> None:
    """One participant's flow in their own session; the seconds of each step go to ``timings``.
    Raises RuntimeError on an answer a participant would not expect."""
    async def step(name, method, url, ok, **options):
        began = time.perf_counter()
        async with http.request(method, url, **options) as response:
            status, text = response.status, await response.text()
        timings.setdefault(name, []).append(time.perf_counter() - began)
        body = json.loads(text) if status < 300 else None
        if not ok(status, body):
            raise RuntimeError(f"{name}: {status} {text[:100]!r}")
        return body

    base, issuer, callback = info["base_url"], info["issuer"], info["redirect_uri"]
    user = {"username": f"participant{n}@room.example", "password": f"room-password-{n}", "name": f"P{n}"}
    await step("sign up", "POST", f"{base}/sandbox/users", lambda status, _: status == 201, json=user)
    app = await step("register app", "POST", f"{base}/sandbox/apps", lambda status, _: status == 201, json={
        "name": f"App {n}", "redirect_uris": [callback]})
    # Playing a dealer, who activates the app: its Subscription-Id for that dealer.
    app.update(await step("activate", "POST", f"{base}/sandbox/subscriptions", lambda status, _: status == 201,
                          json={"api_key": app["api_key"], "dealership": f"Dealer {n}"}))
    query = urlencode({"client_id": app["api_key"], "response_type": "code", "scope": "openid offline_access",
                       "redirect_uri": callback, "state": f"s{n}", "nonce": f"n{n}"})
    landed = await sign_in_async(http, f"{issuer}/v1/authorize?{query}", callback, user["username"],
                                 user["password"], timings=timings)
    code = parse_qs(urlsplit(landed).query)["code"][0]
    auth = {"Authorization": "Basic " + base64.b64encode(f"{app['api_key']}:{app['api_secret']}".encode()).decode()}
    tokens = await step("exchange", "POST", f"{issuer}/v1/token",
                        lambda status, body: status == 200 and "refresh_token" in body, headers=auth, data={
                            "grant_type": "authorization_code", "code": code, "redirect_uri": callback})
    refreshed = await step("refresh", "POST", f"{issuer}/v1/token",
                           lambda status, body: status == 200 and "access_token" in body, headers=auth, data={
                               "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    await step("API call", "GET", f"{info['api_base_url']}/sandbox/v1/dealership",
               lambda status, body: status == 200 and body["caller"]["user"] == user["username"], headers={
                   "Authorization": f"Bearer {refreshed['access_token']}", "Subscription-Id": app["subscription_id"],
                   "Request-Id": f"room-{n}"})


def browser(requests_sent: list[int] | None = None) -> aiohttp.ClientSession:
    """A participant's session, as their browser would be: their cookies (accepted from
    127.0.0.1, an address) and their connection, kept alive from one request to the next. Each
    request it sends adds one to ``requests_sent[0]``."""
    traces = []
    if requests_sent is not None:
        async def sent(*_):
            requests_sent[0] += 1

        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(sent)
        traces.append(trace)
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=aiohttp.ClientTimeout(total=60),
                                 trace_configs=traces)


async def room(participants: int, arrive_over: float, info: dict, timings: dict, errors: list,
               requests_sent: list[int]) -> None:
    """Every participant, each starting at their time in the window whatever the others are
    doing, in a session of their own, all on one event loop."""
    loop = asyncio.get_running_loop()
    began = loop.time()

    async def one(n: int) -> None:
        await asyncio.sleep(began + n * arrive_over / participants - loop.time())
        mine: dict[str, list[float]] = {}
        try:
            async with browser(requests_sent) as http:
                await participant(n, info, http, mine)
        except (RuntimeError, aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
            errors.append(f"participant {n}: {type(exc).__name__}: {exc}")
        finally:
            for name, values in mine.items():
                timings[name].extend(values)

    await asyncio.gather(*(one(n) for n in range(participants)))


async def floor_room(participants: int, arrive_over: float, base_url: str, per_participant: list[int]) -> None:
    """The room's requests without its work: participant ``n`` sends ``per_participant[n]``
    requests one after the other on one kept-alive connection, starting when they did."""
    loop = asyncio.get_running_loop()
    began = loop.time()

    async def one(n: int) -> None:
        await asyncio.sleep(began + n * arrive_over / participants - loop.time())
        async with browser() as http:
            for i in range(per_participant[n]):
                async with http.request("POST" if i % 2 else "GET", f"{base_url}/{n}/{i}", data={"step": str(i)}
                                        if i % 2 else None) as response:
                    await response.read()

    await asyncio.gather(*(one(n) for n in range(participants)))


def http_floor(participants: int, arrive_over: float, requests_sent: int) -> dict:
    """The CPU tornado's HTTP server spends on as many requests as the room sent, as many at
    once: its CPU per request and the wall time."""
    each = [requests_sent // participants + (1 if n < requests_sent % participants else 0)
            for n in range(participants)]
    server = Server([sys.executable, str(REPO / "bench" / "http_floor.py")], json.loads,
                    probe=lambda info: info["base_url"] + "/ready", cwd=REPO)
    try:
        cpu, began = server.cpu(), time.perf_counter()
        asyncio.run(floor_room(participants, arrive_over, server.info["base_url"], each))
        wall, cpu = time.perf_counter() - began, server.cpu() - cpu
    finally:
        server.stop()
    return {"requests": requests_sent, "cpu_s": cpu, "cpu_per_request_s": cpu / max(requests_sent, 1),
            "wall_s": wall}


def run(participants: int, arrive_over: float = 0.0) -> dict:
    """One room on a fresh sandbox: every figure, as a dict."""
    load = load_average()  # before anything of ours runs
    cpus = cores()
    before, together = crypto_costs(), [crypto_all_cores(cpus)]
    with tempfile.TemporaryDirectory(prefix="room-bench-") as state:
        server = sandbox(Path(state))
        try:
            info, idle = server.info, server.memory()["VmRSS"]
            timings: dict[str, list[float]] = {name: [] for name in STEPS}
            errors: list[str] = []
            requests_sent = [0]
            server_cpu, own_cpu = server.cpu(), time.process_time()
            began = time.perf_counter()
            asyncio.run(room(participants, arrive_over, info, timings, errors, requests_sent))
            wall = time.perf_counter() - began
            server_cpu, own_cpu = server.cpu() - server_cpu, time.process_time() - own_cpu
            peak = server.memory()["VmHWM"]
            progress = requests.get(f"{info['base_url']}/sandbox/admin/progress", timeout=30,
                                    headers={"Authorization": f"Bearer {info['admin_token']}"}).json()
        finally:
            server.stop()
    costs, rsa_bits = crypto_costs_around(before, crypto_costs()), before[1]
    together.append(crypto_all_cores(cpus))
    at_once = {what: statistics.mean(t[what] for t in together) for what in together[0]}
    floor = http_floor(participants, arrive_over, requests_sent[0])
    steps = {name: {"n": len(v), "p50_ms": percentile(v, 50) * 1000, "p99_ms": percentile(v, 99) * 1000,
                    "max_ms": max(v, default=float("nan")) * 1000} for name, v in timings.items()}
    complete = sum(1 for r in progress if r["exchanges"] == r["refreshes"] == r["api_calls"] == 1)
    one_core = crypto_per_participant(costs)
    # What the room's cryptography costs, and how fast the cores do it, with every core at it.
    crypto, crypto_wall = at_once["cpu_per_participant_s"], at_once["wall_per_participant_s"]
    crypto_bound = participants * crypto_wall
    bound = max(crypto_bound, last_arrival(participants, arrive_over))
    http = floor["cpu_s"] / participants  # the HTTP floor of one participant's requests
    http_bound = max(crypto_bound + lower_bound(participants, http, cpus), last_arrival(participants, arrive_over))
    generator = own_cpu / participants
    return {"participants": participants, "arrive_over_s": arrive_over, "errors": len(errors),
            "error_samples": errors[:3], "complete": complete, "wall_s": wall, "idle_rss_mib": idle,
            "peak_rss_mib": peak, "server_cpu_s": server_cpu, "participants_cpu_s": own_cpu, "steps": steps,
            "load_before": load, "cores": cpus, "pbkdf2_rounds": PBKDF2_ROUNDS, "rsa_bits": rsa_bits,
            "crypto_costs_s": costs, "crypto_one_core_per_participant_s": one_core,
            "one_core_bound_s": lower_bound(participants, one_core, cpus), "crypto_per_participant_s": crypto,
            "crypto_wall_per_participant_s": crypto_wall, "crypto_bound_s": crypto_bound,
            "bound_s": bound, "wall_to_bound": wall / bound, "http_floor": floor,
            "requests_per_participant": requests_sent[0] / participants, "http_per_participant_s": http,
            "bound_with_http_s": http_bound, "wall_to_bound_with_http": wall / http_bound,
            "server_cpu_per_participant_s": server_cpu / participants,
            "server_cpu_to_crypto": server_cpu / participants / crypto,
            "server_cpu_to_one_core_crypto": server_cpu / participants / one_core,
            "server_cpu_to_crypto_and_http": server_cpu / participants / (crypto + http),
            "generator_cpu_share": own_cpu / (own_cpu + server_cpu),
            # The floor of this room on these cores: a sandbox doing nothing but the cryptography
            # and HTTP's floor, next to this generator, every core busy from first to last.
            "floor_to_bound": (crypto_bound + lower_bound(participants, http + generator, cpus)) / crypto_bound}


def crypto_line(room: dict) -> str:
    costs = room["crypto_costs_s"]
    parts = [f"{count} x {what} ({costs[what] * 1000:.2f} ms)" for what, count in CRYPTO_PER_PARTICIPANT.items()]
    return (f"{', '.join(parts)} = {room['crypto_one_core_per_participant_s'] * 1000:.1f} ms of CPU on one core "
            f"alone; with all {room['cores']} cores at it at once, {room['crypto_per_participant_s'] * 1000:.1f} ms "
            f"of CPU per participant, and one participant's worth done every "
            f"{room['crypto_wall_per_participant_s'] * 1000:.2f} ms; measured in this run before and after the room "
            f"(PBKDF2-SHA256, {room['pbkdf2_rounds']:,} rounds; RS256, {room['rsa_bits']}-bit key)")


def http_line(room: dict) -> str:
    floor = room["http_floor"]
    return (f"{room['requests_per_participant']:.1f} requests per participant ({floor['requests']:,} in all) cost "
            f"tornado's HTTP server {floor['cpu_per_request_s'] * 1e6:.0f} µs of CPU each when it only answers "
            f"(`http_floor.py`, as many at once, in this run): {room['http_per_participant_s'] * 1000:.1f} ms per "
            f"participant")


def split_line(room: dict) -> str:
    """The sandbox's CPU per participant, by what it went on."""
    crypto, http = room["crypto_per_participant_s"], room["http_per_participant_s"]
    own = room["server_cpu_per_participant_s"] - crypto - http
    return (f"{crypto * 1000:.1f} ms cryptography, {http * 1000:.1f} ms HTTP's floor, {own * 1000:.1f} ms the "
            f"sandbox's own work above them")


def bound_line(room: dict) -> str:
    line = (f"{room['participants']} participants' cryptography with all {room['cores']} cores at it: "
            f"{room['crypto_bound_s']:.2f} s; from one core's costs alone it would be {room['one_core_bound_s']:.2f} s")
    return line if room["bound_s"] <= room["crypto_bound_s"] else line + "; the last participant starts later"


def report(room: dict) -> str:
    how = (f"arriving evenly over {room['arrive_over_s']:.0f} s" if room["arrive_over_s"]
           else "all at once")
    lines = [f"**{room['participants']} participants, {how}**, one sandbox process.", "",
             f"- errors: **{room['errors']}**" + (f" (first: {room['error_samples'][0]})" if room["errors"] else ""),
             f"- through exchange, refresh and API call in the instructor's report: {room['complete']} "
             f"of {room['participants']}",
             f"- load average before the room: {room['load_before']:.2f} on {room['cores']} cores",
             f"- the cryptography each participant's flow cannot avoid: {crypto_line(room)}",
             f"- wall time for the whole room: **{room['wall_s']:.1f} s**, {room['wall_to_bound']:.1f}x its lower "
             f"bound of {room['bound_s']:.2f} s ({bound_line(room)})",
             f"- with HTTP's floor too: {http_line(room)}; the room's lower bound with it is "
             f"{room['bound_with_http_s']:.2f} s, and its wall time {room['wall_to_bound_with_http']:.1f}x that",
             f"- the sandbox's CPU: {room['server_cpu_s']:.1f} s, {room['server_cpu_per_participant_s'] * 1000:.1f} ms "
             f"per participant, {room['server_cpu_to_crypto']:.2f}x the cryptography's with every core busy "
             f"({room['server_cpu_to_one_core_crypto']:.2f}x its cost on one core alone), "
             f"{room['server_cpu_to_crypto_and_http']:.1f}x the cryptography and HTTP's floor together "
             f"({split_line(room)}); on average {room['server_cpu_s'] / room['wall_s']:.2f} of a core busy "
             "during the room",
             f"- the load generator's CPU (the participants, on the same cores): {room['participants_cpu_s']:.1f} s, "
             f"{room['generator_cpu_share']:.0%} of the room's (the sandbox's and its own). A sandbox that did "
             "nothing but the cryptography and HTTP's floor, next to this generator, could not finish this room "
             f"under {room['floor_to_bound']:.2f}x the cryptography's bound",
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
    print(f"Machine: {machine()}.\n", flush=True)
    room = run(args.participants, args.arrive_over)
    print(report(room))
    if args.json:
        Path(args.json).write_text(json.dumps(room, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
