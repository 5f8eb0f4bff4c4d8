#!/usr/bin/env python
"""Soak run of the sandbox: a workshop room of participants against one server.

Each simulated participant registers an app and a user of their own, then goes round the
tutorial's flow until the time is up, with a short pause between rounds:

* ``GET /v1/authorize`` (the sign-in form the first time and every fifth round, after that
  the session cookie brings the code straight back), the form posted with the password;
* the code exchanged at ``/v1/token`` (and, now and then, exchanged a second time: that
  must fail with ``invalid_grant``);
* the sample API called with the access token and the participant's Subscription-Id;
* the refresh token used (the same one must come back); now and then ``/v1/userinfo``,
  ``/v1/introspect``, and a revoked refresh token that must be refused.

Every answer is checked; anything unexpected (a 5xx, a wrong status, a lost token, a
failed connection outside the restart) is an error. Halfway through, the server is stopped
and started again on the same state directory and port; connection failures while it is
down are retried, and afterwards every participant's refresh token and access token from
before the restart must still work ("nothing lost").

Lifetimes are shortened (codes 10 s, access tokens 60 s, sessions 120 s, spent codes kept
30 s, a purge every 15 s) so expired codes, tokens and sessions are purged within the run:
the server's memory (RSS) and its table sizes are sampled and should stay flat.

    python bench/soak.py              # 100 participants, 5 minutes, restart at 2.5 minutes
    python bench/soak.py --quick      # 20 participants, 30 seconds
    python bench/soak.py --participants 50 --duration 120

Every request goes to 127.0.0.1 only. This is a measuring tool, not a test: it prints
figures and exits 1 if there was any error or anything was lost.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

REPO = Path(__file__).resolve().parent.parent
HIDDEN_INPUT = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')
PASSWORD = "soak-password-1"
SETTINGS = {  # shortened so purging shows within minutes
    "code_lifetime": 10, "token_lifetime": 60, "session_lifetime": 120, "sign_in_page_lifetime": 60,
    "used_code_retention": 30, "refresh_idle_lifetime": 120, "purge_interval": 15,
}
TABLES = ("codes", "access_tokens", "grants", "sessions", "transactions", "apps", "users")
SERVER = """
import json, sys
from pathlib import Path
from fortellis_nb.sandbox import Sandbox, Settings
settings = Settings(state_dir=Path(sys.argv[1]), port=int(sys.argv[2]), **json.loads(sys.argv[3]))
Sandbox(settings).serve_forever(on_ready=lambda info: print(json.dumps(info.as_dict()), flush=True))
"""


class Server:
    """The sandbox in its own process (started like the command line, with short lifetimes)."""

    def __init__(self, state: Path, port: int):
        self.state, self.port, self.process, self.info = state, port, None, None

    def start(self) -> dict:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(self.state), str(self.port), json.dumps(SETTINGS)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=open(self.state / "soak-server.log", "ab"), text=True)
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the sandbox did not start; see {self.state / 'soak-server.log'}")
        self.info = json.loads(line)
        self.port = int(self.info["base_url"].rsplit(":", 1)[1])
        return self.info

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
            self.process.stdout.close()

    def rss_mb(self) -> float:
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    def rows(self) -> dict[str, int]:
        db = sqlite3.connect(f"file:{self.state / 'sandbox.sqlite3'}?mode=ro", uri=True, timeout=5)
        try:
            return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
        finally:
            db.close()

    def db_mb(self) -> float:
        return sum(p.stat().st_size for p in self.state.glob("sandbox.sqlite3*")) / 1e6


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = collections.Counter()
        self.latency: list[float] = []
        self.errors = collections.Counter()
        self.samples: dict[str, str] = {}
        self.retried = 0
        self.flows = 0
        self.lost = 0
        self.checked_after_restart = 0

    def record(self, name: str, seconds: float) -> None:
        with self.lock:
            self.requests[name] += 1
            if len(self.latency) < 2_000_000:
                self.latency.append(seconds)

    def error(self, kind: str, detail: str) -> None:
        with self.lock:
            self.errors[kind] += 1
            self.samples.setdefault(kind, detail[:300])


class Restart:
    """The window in which the server is down on purpose."""

    def __init__(self):
        self.down = threading.Event()
        self.up = threading.Event()
        self.ended_at = None

    def expected(self) -> bool:
        return self.down.is_set() and (self.ended_at is None or time.monotonic() < self.ended_at + 5)


class Participant(threading.Thread):
    def __init__(self, number: int, info: dict, stats: Stats, restart: Restart, deadline: float, seed: int):
        super().__init__(name=f"participant-{number}", daemon=True)
        self.number, self.info, self.stats, self.restart, self.deadline = number, info, stats, restart, deadline
        self.random = random.Random(seed)
        self.http = requests.Session()
        self.username = f"participant{number}@soak.example"
        self.app = None
        self.last_tokens = None
        self.rounds = 0

    # --- HTTP with timing, checks and the restart's retries ---
    def call(self, name, method, url, expect, **kwargs):
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("allow_redirects", False)
        while True:
            start = time.perf_counter()
            try:
                response = self.http.request(method, url, **kwargs)
            except requests.RequestException as exc:
                if self.restart.expected():
                    with self.stats.lock:
                        self.stats.retried += 1
                    self.restart.up.wait(30)
                    time.sleep(0.05 + self.random.random() * 0.2)
                    continue
                self.stats.error(f"{name}: {type(exc).__name__}", str(exc))
                return None
            self.stats.record(name, time.perf_counter() - start)
            allowed = expect if isinstance(expect, tuple) else (expect,)
            if response.status_code not in allowed:
                self.stats.error(f"{name}: HTTP {response.status_code} (expected {' or '.join(map(str, allowed))})",
                                 response.text)
                return None
            return response

    def basic(self):
        return (self.app["api_key"], self.app["api_secret"])

    # --- setting up, as a participant does in the portal ---
    def register(self) -> bool:
        base = self.info["base_url"]
        self.app = self.call("register app", "POST", f"{base}/sandbox/apps", 201, json={
            "name": f"Soak app {self.number}", "redirect_uris": [self.info["redirect_uri"]]})
        user = self.call("add user", "POST", f"{base}/sandbox/users", 201, json={
            "username": self.username, "password": PASSWORD, "name": f"Participant {self.number}"})
        if self.app is None or user is None:
            return False
        self.app = self.app.json()
        return True

    # --- one round of the flow ---
    def round(self) -> None:
        issuer, info, app = self.info["issuer"], self.info, self.app
        if self.rounds % 5 == 0:
            self.http.cookies.clear()  # signed out: the form and the password again
        state = f"s{self.number}-{self.rounds}"
        params = {"client_id": app["api_key"], "response_type": "code", "scope": "openid offline_access",
                  "redirect_uri": info["redirect_uri"], "state": state, "nonce": f"n{self.rounds}"}
        page = self.http_authorize(issuer, params)
        if page is None:
            return
        location = urlsplit(page.headers.get("Location", ""))
        got = {k: v[0] for k, v in parse_qs(location.query).items()}
        if got.get("state") != state or not got.get("code"):
            return self.stats.error("authorize: no code back", page.headers.get("Location", ""))
        exchange = {"grant_type": "authorization_code", "code": got["code"], "redirect_uri": info["redirect_uri"]}
        tokens = self.call("exchange code", "POST", f"{issuer}/v1/token", 200, data=exchange, auth=self.basic())
        if tokens is None:
            return
        tokens = tokens.json()
        if not all(tokens.get(k) for k in ("access_token", "id_token", "refresh_token")):
            return self.stats.error("exchange code: tokens missing", json.dumps(sorted(tokens)))
        if self.random.random() < 0.1:  # a page reload: the same code again must fail
            again = self.call("reuse code", "POST", f"{issuer}/v1/token", 400, data=exchange, auth=self.basic())
            if again is not None and again.json().get("error") != "invalid_grant":
                self.stats.error("reuse code: not invalid_grant", again.text)
            return  # the reuse revoked this grant: start a new round
        self.use(tokens)
        refreshed = self.call("refresh", "POST", f"{issuer}/v1/token", 200, auth=self.basic(), data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        if refreshed is None:
            return
        if refreshed.json().get("refresh_token") != tokens["refresh_token"]:
            self.stats.error("refresh: another refresh token", "")
        tokens = {**tokens, **refreshed.json()}
        self.use(tokens)
        roll = self.random.random()
        if roll < 0.15:
            self.call("userinfo", "GET", f"{issuer}/v1/userinfo", 200,
                      headers={"Authorization": f"Bearer {tokens['access_token']}"})
        elif roll < 0.3:
            found = self.call("introspect", "POST", f"{issuer}/v1/introspect", 200, auth=self.basic(),
                              data={"token": tokens["access_token"]})
            if found is not None and found.json().get("active") is not True:
                self.stats.error("introspect: not active", found.text)
        elif roll < 0.4:
            if self.call("revoke", "POST", f"{issuer}/v1/revoke", 200, auth=self.basic(), data={
                    "token": tokens["refresh_token"], "token_type_hint": "refresh_token"}) is not None:
                self.call("refresh revoked", "POST", f"{issuer}/v1/token", 400, auth=self.basic(), data={
                    "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
                return
        self.last_tokens = tokens
        with self.stats.lock:
            self.stats.flows += 1

    def http_authorize(self, issuer, params):
        # The sign-in form (200), or straight back with a code when the session cookie is there (302).
        first = self.call("authorize", "GET", f"{issuer}/v1/authorize", (200, 302), params=params)
        if first is None or first.status_code == 302:
            return first
        fields = dict(HIDDEN_INPUT.findall(first.text), username=self.username, password=PASSWORD, action="allow")
        return self.call("sign in", "POST", f"{issuer}/v1/authorize", 302, data=fields)

    def use(self, tokens) -> None:
        response = self.call("call API", "GET", f"{self.info['api_base_url']}/sandbox/v1/dealership", 200, headers={
            "Authorization": f"Bearer {tokens['access_token']}", "Subscription-Id": self.app["subscription_id"]})
        if response is not None and response.json().get("subscriptionId") != self.app["subscription_id"]:
            self.stats.error("call API: wrong subscription", response.text)

    def check_after_restart(self) -> None:
        """What this participant had before the restart still works."""
        tokens = self.last_tokens
        if tokens is None:
            return
        issuer = self.info["issuer"]
        api = self.call("after restart: API", "GET", f"{self.info['api_base_url']}/sandbox/v1/dealership", 200,
                        headers={"Authorization": f"Bearer {tokens['access_token']}",
                                 "Subscription-Id": self.app["subscription_id"]})
        refreshed = self.call("after restart: refresh", "POST", f"{issuer}/v1/token", 200, auth=self.basic(),
                              data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        with self.stats.lock:
            self.stats.checked_after_restart += 1
            if api is None or refreshed is None:
                self.stats.lost += 1

    def run(self) -> None:
        if not self.register():
            return
        checked = False
        while time.monotonic() < self.deadline:
            if self.restart.up.is_set() and not checked:
                checked = True
                self.check_after_restart()
            self.round()
            self.rounds += 1
            pause = self.random.uniform(0.5, 1.5)
            time.sleep(max(0.0, min(pause, self.deadline - time.monotonic())))
        self.http.close()


def percentile(values, pct):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(pct / 100 * (len(values) - 1))))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=100)
    parser.add_argument("--duration", type=float, default=300, help="seconds (default 300)")
    parser.add_argument("--quick", action="store_true", help="20 participants for 30 seconds")
    parser.add_argument("--no-restart", action="store_true", help="keep the server up the whole time")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.quick:
        args.participants, args.duration = 20, 30.0
    duration = min(args.duration, 3600.0)  # bounded, whatever is asked
    participants_n = max(1, min(args.participants, 500))

    with tempfile.TemporaryDirectory(prefix="fortellis-soak-") as tmp:
        state = Path(tmp)
        server = Server(state, 0)
        started = time.monotonic()
        info = server.start()
        print(f"# Soak: {participants_n} participants, {duration:.0f} s, one sandbox at {info['base_url']}"
              f"{'' if args.no_restart else f', restart at {duration / 2:.0f} s'}")
        print(f"settings: {json.dumps(SETTINGS)}")
        stats, restart = Stats(), Restart()
        deadline = time.monotonic() + duration
        crowd = [Participant(n, info, stats, restart, deadline, args.seed * 100_000 + n) for n in range(participants_n)]
        for person in crowd:
            person.start()
            time.sleep(0.01)  # people arrive over a second, not in the same millisecond

        samples = []

        def sample(label):
            row = {"label": label, "t": time.monotonic() - started, "rss_mb": server.rss_mb(),
                   "db_mb": server.db_mb(), "requests": sum(stats.requests.values()), **server.rows()}
            samples.append(row)
            return row

        header = "| when | t (s) | RSS (MB) | DB (MB) | requests | " + " | ".join(TABLES) + " |"
        print(header + "\n|" + "---|" * (5 + len(TABLES)))

        def show(row):
            print(f"| {row['label']} | {row['t']:.0f} | {row['rss_mb']:.1f} | {row['db_mb']:.2f} | {row['requests']} | "
                  + " | ".join(str(row[t]) for t in TABLES) + " |", flush=True)

        time.sleep(min(10, duration / 6))
        show(sample("start"))
        half = started + duration / 2
        restart_figures = {}
        while time.monotonic() < deadline:
            now = time.monotonic()
            if not args.no_restart and not restart.down.is_set() and now >= half:
                show(sample("before restart"))
                before = server.rows()
                restart.down.set()
                t0 = time.monotonic()
                server.stop()
                stopped = time.monotonic()
                server.start()
                restart.ended_at = time.monotonic()
                restart.up.set()
                after = server.rows()
                restart_figures = {"stop_s": stopped - t0, "down_s": restart.ended_at - t0,
                                   "rows_before": before, "rows_after": after}
                show(sample("after restart"))
                continue
            time.sleep(min(15, max(0.1, deadline - now)))
            if time.monotonic() < deadline:
                show(sample("running"))
        for person in crowd:
            person.join(timeout=60)
        show(sample("end"))
        server.stop()

    total = sum(stats.requests.values())
    print(f"\n## Figures\n")
    print(f"- participants: {participants_n}; duration: {duration:.0f} s; completed flows: {stats.flows}")
    print(f"- requests: {total} ({total / duration:.1f}/s); latency p50 {percentile(stats.latency, 50) * 1000:.1f} ms, "
          f"p99 {percentile(stats.latency, 99) * 1000:.1f} ms, max {max(stats.latency or [0]) * 1000:.0f} ms")
    print("- by request: " + ", ".join(f"{k} {v}" for k, v in stats.requests.most_common()))
    errors = sum(stats.errors.values())
    print(f"- errors: {errors}")
    for kind, count in stats.errors.most_common():
        print(f"  - {count} x {kind}: {stats.samples[kind]!r}")
    rss = [s["rss_mb"] for s in samples]
    start_row = samples[0]
    print(f"- server memory (RSS): start {rss[0]:.1f} MB, middle {samples[len(samples) // 2]['rss_mb']:.1f} MB, "
          f"end {rss[-1]:.1f} MB, max {max(rss):.1f} MB")
    print(f"- live rows start -> end: " + ", ".join(f"{t} {start_row[t]} -> {samples[-1][t]}" for t in TABLES[:5]))
    if restart_figures:
        lost_rows = {t: restart_figures["rows_before"][t] - restart_figures["rows_after"][t]
                     for t in ("apps", "users", "grants")}
        print(f"- restart: stopped in {restart_figures['stop_s']:.2f} s, back after {restart_figures['down_s']:.2f} s; "
              f"{stats.retried} requests retried while it was down; apps/users/grants before {restart_figures['rows_before']['apps']}/"
              f"{restart_figures['rows_before']['users']}/{restart_figures['rows_before']['grants']}, after "
              f"{restart_figures['rows_after']['apps']}/{restart_figures['rows_after']['users']}/"
              f"{restart_figures['rows_after']['grants']}; participants whose pre-restart tokens were checked "
              f"{stats.checked_after_restart}, lost {stats.lost}")
        if any(v > 0 for v in lost_rows.values()):
            stats.lost += 1
    return 1 if errors or stats.lost else 0


if __name__ == "__main__":
    sys.exit(main())
