#!/usr/bin/env python
"""The benchmark runner: measures everything in one run on this machine and writes
``docs/benchmarks.md`` (machine, command, figures, ratios).

* token endpoint throughput and latency (p50, p99) at concurrency 1, 10 and 50 for
  ``client_credentials``, ``refresh_token`` and the full authorization code round trip:
  the sandbox (with ``--workers N`` and as learners run it, one process) next to
  ``oauth2-mock-server`` and ``oidc-provider`` from the npm registry, installed into a
  temporary folder and started on 127.0.0.1 with equivalent settings, all four running at
  once and measured in rounds, taking turns cell by cell;
* the RS256 signing ceiling of this machine and what it allows per flow;
* where a token request's CPU goes: each part timed on its own (``cost_lines.py``), and the
  loaded servers sampled with Linux ``perf`` (``cpu_split.py``), ours next to oidc-provider;
* sandbox cold start, ``import fortellis_nb`` next to ``import ipywidgets``;
* nbval over every notebook next to the same number of trivial notebooks;
* in the browser, "Exchange code" clicked to the decoded claims on screen.

    .venv/bin/python bench/run_benchmarks.py            # full run, about 8 minutes
    .venv/bin/python bench/run_benchmarks.py --quick    # smoke run, about 2 minutes

Every request goes to 127.0.0.1. Nothing is asserted: this is a measuring tool.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import functools
import io
import json
import multiprocessing
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import cpu_split  # noqa: E402
import loadgen  # noqa: E402
import sandbox_bench  # noqa: E402

PEERS = ("oauth2-mock-server", "oidc-provider")
NPM_PACKAGES = ("oauth2-mock-server", "oidc-provider@8")  # oidc-provider 9 asks for node 22
CLIENT_ID, CLIENT_SECRET, REDIRECT_URI = "bench-client", "bench-secret-0123456789abcdef", "https://example.com/cb"
FLOWS = ("client_credentials", "refresh", "roundtrip")
FLOW_TITLES = {"client_credentials": "client_credentials", "refresh": "refresh_token",
               "roundtrip": "round trip (authorize + sign-in + exchange)"}


def progress(text: str) -> None:
    print(f"... {text}", file=sys.stderr, flush=True)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def cpu_busy(seconds: float = 2.0) -> float:
    """Share of all cores busy (anything but idle and iowait) over the next ``seconds``, in %."""
    def sample():
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(values), values[3] + values[4]

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return float("nan")
    return 100 * (1 - (idle1 - idle0) / max(total1 - total0, 1))


def wait_for_quiet(limit: float, most: float = 120.0) -> tuple[float, float]:
    """Wait (at most ``most`` seconds) until other work leaves the CPU: (busy %, seconds waited)."""
    t0 = time.monotonic()
    busy = cpu_busy()
    while busy > limit and time.monotonic() - t0 < most:
        progress(f"other work keeps {busy:.0f}% of the CPU busy; waiting for it to finish")
        busy = cpu_busy(5.0)
    return busy, time.monotonic() - t0


def child_pids(pid: int) -> list[int]:
    """The live children of a process (the sandbox's workers)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live children."""
    total = sandbox_bench.proc_cpu_seconds(pid)
    for child in child_pids(pid):
        seconds = sandbox_bench.proc_cpu_seconds(child)
        if seconds == seconds:  # not NaN: a child that ended meanwhile has nothing to read
            total += seconds
    return total


# --------------------------------------------------------------------------- servers
class Sandbox(sandbox_bench.Server):
    def __init__(self, state_dir: Path, log_path: Path, workers: int):
        super().__init__(state_dir, log_path)
        self.workers = workers

    def command(self) -> list[str]:
        return super().command() + ["--workers", str(self.workers)]

    def target(self, name: str) -> loadgen.Target:
        i = self.info
        return loadgen.Target(name, "sandbox", i["issuer"], f"{i['issuer']}/v1/token", f"{i['issuer']}/v1/authorize",
                              i["api_key"], i["api_secret"], i["redirect_uri"], i["username"], i["password"])


class Peer:
    """One npm peer started with bench/peers/peer_server.mjs from the install folder."""

    def __init__(self, kind: str, folder: Path, log_path: Path):
        self.kind, self.folder, self.log_path = kind, folder, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> "Peer":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(["node", "peer_server.mjs", self.kind, CLIENT_ID, CLIENT_SECRET,
                                             REDIRECT_URI], cwd=self.folder, stdout=subprocess.PIPE,
                                            stderr=log, text=True)
        deadline = time.monotonic() + 60
        for line in self.process.stdout:  # bounded: the process prints a few lines, then READY
            if line.startswith("READY "):
                self.info = json.loads(line[len("READY "):])
                return self
            if time.monotonic() > deadline:
                break
        self.stop()
        raise RuntimeError(f"{self.kind} did not start; see {self.log_path}")

    def target(self) -> loadgen.Target:
        i = self.info
        note = "" if self.kind == "oidc-provider" else "no sign-in page: authorize redirects at once"
        return loadgen.Target(self.kind, self.kind, i["issuer"], i["token_endpoint"], i["authorization_endpoint"],
                              CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, "learner", "any", roundtrip_note=note)

    def cpu_seconds(self) -> float:
        return sandbox_bench.proc_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def install_peers(folder: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--no-save",
                    "--loglevel=error", *NPM_PACKAGES], check=True, capture_output=True, timeout=300)
    shutil.copy(HERE / "peers" / "peer_server.mjs", folder / "peer_server.mjs")
    return time.perf_counter() - t0


def npm_version(folder: Path, package: str) -> str:
    try:
        return json.loads((folder / "node_modules" / package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


@dataclasses.dataclass
class Measured:
    """A running server as the rounds see it."""

    name: str
    target: loadgen.Target
    cpu_seconds: Callable[[], float]
    pids: Callable[[], list[int]]


def fresh_refresh_token(server: Measured, flow: str) -> None:
    """A refresh token from a round trip just now, before each refresh cell: oidc-provider's
    development store keeps only its 1,000 most recent entries, so the round trips of an
    earlier round push out a refresh token issued before them."""
    if flow == "refresh":
        loadgen.prepare_refresh_token(server.target)


def measure_rounds(servers: list[Measured], concurrencies, duration, warmup, rounds: int) -> list[dict]:
    """Every cell of every server, ``rounds`` times over. The servers take turns cell by cell,
    their order turned by one each round, so a slow spell of this (shared, virtual) machine
    falls on all of them alike instead of on whichever server was measured then."""
    runs: dict[tuple, list[dict]] = {}
    for round_ in range(rounds):
        order = servers[round_ % len(servers):] + servers[:round_ % len(servers)]
        for flow in FLOWS:
            for concurrency in concurrencies:
                progress(f"round {round_ + 1} of {rounds}: {flow} at concurrency {concurrency}")
                for server in order:
                    fresh_refresh_token(server, flow)
                    cpu0 = server.cpu_seconds()
                    cell = loadgen.run_cell(server.target, flow, concurrency, duration, warmup, keep=True)
                    cell["server_cpu_s"] = server.cpu_seconds() - cpu0
                    runs.setdefault((server.name, flow, concurrency), []).append(cell)
    notes = {s.name: s.target.roundtrip_note for s in servers}
    return [merge_rounds(cells, duration, warmup, notes[name] if flow == "roundtrip" else "")
            for (name, flow, _c), cells in runs.items()]


def merge_rounds(rounds: list[dict], duration: float, warmup: float, note: str) -> dict:
    """One cell from its rounds: throughput is the median round's, latencies are pooled, CPU is
    summed (it was read over warm-up and measurement, so it is scaled per operation measured)."""
    first = rounds[0]
    latencies = sorted(x for r in rounds for x in r.pop("latencies"))
    steps = [s for r in rounds for s in r.pop("steps")]
    ops = sum(r["ops"] for r in rounds)
    cpu = sum(r["server_cpu_s"] for r in rounds)
    cell = {
        "server": first["server"], "flow": first["flow"], "concurrency": first["concurrency"],
        "rounds": len(rounds), "seconds": sum(r["seconds"] for r in rounds), "ops": ops,
        "ops_per_s": statistics.median(r["ops_per_s"] for r in rounds),
        "ops_per_s_rounds": [r["ops_per_s"] for r in rounds],
        "errors": sum(r["errors"] for r in rounds), "error_samples": [e for r in rounds for e in r["error_samples"]][:3],
        "p50_ms": loadgen.percentile(latencies, 50) * 1000, "p99_ms": loadgen.percentile(latencies, 99) * 1000,
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "client_cpu_pct": statistics.fmean(r["client_cpu_pct"] for r in rounds),
        "hit_op_cap": any(r["hit_op_cap"] for r in rounds),
        "server_cpu_s": cpu, "server_cpu_pct": 100 * cpu / (len(rounds) * (duration + warmup)),
        "server_cpu_us_per_op": 1e6 * cpu / (ops * (duration + warmup) / duration) if ops else float("nan"),
        "note": note,
    }
    for i, name in enumerate(("sign_in", "exchange")):
        values = sorted(s[i] for s in steps)
        if values:
            cell[f"{name}_p50_ms"] = loadgen.percentile(values, 50) * 1000
            cell[f"{name}_p99_ms"] = loadgen.percentile(values, 99) * 1000
    return cell


def cpu_splits(servers: list[Measured], concurrency: int, duration: float, warmup: float) -> dict:
    """Each server sampled with perf during one more cell of each token flow: where its CPU goes."""
    why = cpu_split.available()
    if why:
        return {"error": why}
    result: dict = {}
    for flow in ("client_credentials", "refresh"):
        for server in servers:
            progress(f"perf: {server.name}, {flow} at concurrency {concurrency}")
            fresh_refresh_token(server, flow)
            box: dict = {}
            sampler = threading.Thread(target=lambda: box.update(cpu_split.sample(server.pids(), duration, warmup)))
            cpu0 = server.cpu_seconds()
            sampler.start()
            cell = loadgen.run_cell(server.target, flow, concurrency, duration, warmup)
            cpu = server.cpu_seconds() - cpu0
            sampler.join()
            if "error" in box:
                return {"error": box["error"]}
            per_op = 1e6 * cpu / (cell["ops"] * (duration + warmup) / duration) if cell["ops"] else float("nan")
            result.setdefault(flow, {})[server.name] = {
                "ops_per_s": cell["ops_per_s"], "cpu_us_per_op": per_op, "samples": box["samples"],
                "errors": cell["errors"], "error_samples": cell["error_samples"], "seconds": cell["seconds"],
                "us_per_op": {group: share * per_op for group, share in box["groups"].items()}}
    return result


# --------------------------------------------------------------------------- ceiling
def _sign_worker(seconds: float, queue) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    message = b"eyJraWQiOiJrIiwiYWxnIjoiUlMyNTYifQ." + b"x" * 400
    key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    count, t0 = 0, time.perf_counter()
    while count < 1_000_000:
        key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        count += 1
        if time.perf_counter() - t0 >= seconds:
            break
    queue.put(count / (time.perf_counter() - t0))


def machine_signing_rate(processes: int, seconds: float) -> float:
    """RS256 signatures per second with every core signing at once (one process per core)."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_sign_worker, args=(seconds, queue)) for _ in range(processes)]
    for w in workers:
        w.start()
    rates = [queue.get(timeout=seconds + 60) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    return sum(rates)


def machine_signing_ceiling(processes: int, seconds: float, tries: int = 3) -> tuple[float, list[float]]:
    """The best of `tries` runs of `machine_signing_rate`, and every run's figure. A ceiling is
    what the hardware can do, so a run slowed by a neighbour of this shared machine should not set it."""
    runs = [machine_signing_rate(processes, seconds) for _ in range(tries)]
    return max(runs), runs


# --------------------------------------------------------------------------- cost lines
def proc_cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / sandbox_bench.CLK_TCK, int(fields[12]) / sandbox_bench.CLK_TCK


def cost_breakdown(work: Path, duration: float) -> dict:
    """The in-process cost lines of one token request (``cost_lines.py``) next to the CPU one
    sandbox process really spends per request at c=10, split into user and system time."""
    import cost_lines

    lines = cost_lines.measure()
    for flow, figures in lines["flows"].items():
        fixed = subprocess.Popen([sys.executable, str(HERE / "cost_lines.py"), "--serve-fixed",
                                  str(figures["answer_bytes"])], stdout=subprocess.PIPE, text=True, cwd=REPO)
        try:
            port = int(fixed.stdout.readline())
            target = loadgen.Target("fixed", "sandbox", "", f"http://127.0.0.1:{port}/token", "", CLIENT_ID,
                                    CLIENT_SECRET, REDIRECT_URI)
            loadgen.run_cell(target, "client_credentials", 10, 0.5, 0.0)  # warm
            user0, sys0 = proc_cpu_split(fixed.pid)
            cell = loadgen.run_cell(target, "client_credentials", 10, duration, 0.0)
            user1, sys1 = proc_cpu_split(fixed.pid)
            figures["http_layer_us"] = 1e6 * ((user1 - user0) + (sys1 - sys0)) / max(cell["ops"], 1)
        finally:
            fixed.kill()
            fixed.wait(10)
            fixed.stdout.close()
    with Sandbox(work / "state-cost", work / "sandbox-cost.log", 1) as server:
        target = server.target("cost")
        loadgen.prepare_refresh_token(target)
        pid = server.process.pid
        for flow in ("client_credentials", "refresh"):
            loadgen.run_cell(target, flow, 10, 0.5, 0.0)  # warm
            user0, sys0 = proc_cpu_split(pid)
            cell = loadgen.run_cell(target, flow, 10, duration, 0.0)
            user1, sys1 = proc_cpu_split(pid)
            ops = max(cell["ops"], 1)
            lines["flows"][flow]["measured"] = {"user_us": 1e6 * (user1 - user0) / ops,
                                                "sys_us": 1e6 * (sys1 - sys0) / ops,
                                                "ops_per_s": cell["ops_per_s"]}
    return lines


# --------------------------------------------------------------------------- imports, nbval
def import_times(runs: int) -> dict:
    out = {}
    for label, code in (("python -c pass", "pass"), ("import fortellis_nb", "import fortellis_nb"),
                        ("import fortellis_nb.widgets", "import fortellis_nb.widgets"),
                        ("import ipywidgets", "import ipywidgets")):
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120)
            times.append(time.perf_counter() - t0)
        out[label] = times
    return out


def trivial_notebooks(folder: Path, count: int) -> None:
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        cell = nbformat.v4.new_code_cell("1 + 1", execution_count=1)
        cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
        nb.cells.append(cell)
        nbformat.write(nb, folder / f"{i + 1:02d}-trivial.ipynb")


def nbval_times(work: Path) -> dict:
    notebooks = sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    floor = work / "floor"
    trivial_notebooks(floor, len(notebooks))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORTELLIS_")}
    env["FORTELLIS_SANDBOX_STATE"] = str(work / "nbval-sandbox")  # the notebooks' own, stopped below
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    runs = {}
    for label, cmd in (
        ("notebooks", base + ["notebooks"]),
        ("floor", base + ["-o", "addopts=", "--nbval", "--rootdir", str(floor), str(floor)]),
    ):
        t0 = time.perf_counter()
        result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        runs[label] = {"seconds": time.perf_counter() - t0, "returncode": result.returncode,
                       "summary": (result.stdout.strip().splitlines() or [""])[-1]}
    with contextlib.suppress(Exception):
        from fortellis_nb.sandbox import stop_sandbox

        stop_sandbox(work / "nbval-sandbox")
    runs["count"] = len(notebooks)
    runs["cells"] = sum(sum(1 for c in json.loads(p.read_text())["cells"] if c["cell_type"] == "code")
                        for p in notebooks)
    return runs


# --------------------------------------------------------------------------- report
def fmt(value: float, digits: int = 0) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:,.{digits}f}"


def rounds_text(cell: dict) -> str:
    return "rounds: " + ", ".join(fmt(x) for x in cell["ops_per_s_rounds"])


def write_cpu_split(w, r: dict) -> None:
    split = r.get("cpu_split") or {"error": "not measured"}
    w("### Inside the loaded server, sampled")
    w()
    if "error" in split:
        w(f"Not measured in this run: {split['error']}.")
        w()
        return
    columns = [(flow, name) for flow in split for name in split[flow]]
    w("The lines above are timed one by one outside a server. Here the real servers were sampled with "
      "Linux `perf` (999 times a second, every process and thread of the server) during one more cell at "
      "c=50, and each sample put in a group by the code it landed in. Each group's share of the samples, "
      "times the CPU the server used per operation in that cell, gives µs per operation. OpenSSL's "
      "bignum code has the same names inside `cryptography` and inside `node`, so the first line is "
      "measured the same way for both.")
    w()
    w("| µs per operation | " + " | ".join(f"{name}, {FLOW_TITLES[flow]}" for flow, name in columns) + " |")
    w("|---|" + "---:|" * len(columns))
    for group, title in cpu_split.GROUPS:
        w(f"| {title} | " + " | ".join(fmt(split[flow][name]["us_per_op"][group]) for flow, name in columns) + " |")
    w("| **all (CPU per operation in the sampled cell)** | " + " | ".join(
        f"**{fmt(split[flow][name]['cpu_us_per_op'])}**" for flow, name in columns) + " |")
    w("| operations per second in the sampled cell | " + " | ".join(
        fmt(split[flow][name]["ops_per_s"]) for flow, name in columns) + " |")
    w()


def write_report(r: dict, path: Path) -> None:
    m = r["machine"]
    ours = f"sandbox, {r['workers']} workers"
    names = [ours, "sandbox, 1 process", *PEERS]
    cells = {(c["server"], c["flow"], c["concurrency"]): c for c in r["cells"]}
    out = io.StringIO()
    w = lambda s="": print(s, file=out)  # noqa: E731

    w("# Benchmarks")
    w()
    w("Produced by `bench/run_benchmarks.py` in one run on one machine; every figure below "
      "comes from that run. Every request went to 127.0.0.1.")
    w()
    w(f"- Date: {r['date']}; the whole run took {r['elapsed_s']:.0f} s")
    w(f"- Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['os']}, "
      f"load average before / after: {r['load_before']} / {r['load_after']}")
    w(f"- Python {m['python']}, tornado {m['tornado']}, cryptography {m['cryptography']} ({m['openssl']}), "
      f"SQLite {m['sqlite']}; node {r['node']}, oauth2-mock-server {r['versions']['oauth2-mock-server']}, "
      f"oidc-provider {r['versions']['oidc-provider']} (npm install into a temporary folder: "
      f"{r['npm_install_s']:.1f} s)")
    w(f"- Command: `{r['command']}`")
    w(f"- Before the run the CPU was {fmt(r['busy_before'])}% busy with other work (measured over 2 s, "
      f"after waiting {fmt(r['waited_s'])} s for it to settle)")
    if r["busy_before"] > 25:
        w()
        w(f"**Other work shared this machine when the run began** ({fmt(r['busy_before'])}% of the CPU): "
          f"the servers took turns, so each met it alike, but every figure is lower than on an idle machine "
          f"and the rounds spread wider. Repeat the run on an idle machine before drawing conclusions.")
    w()
    w("## Token endpoint")
    w()
    w(f"Closed loop: each of *c* clients (one keep-alive connection each, all in one asyncio "
      f"load generator process on the same machine) repeats the flow back to back. All four servers run "
      f"at once; each cell was measured in {r['rounds']} round{'s' if r['rounds'] != 1 else ''} ({r['warmup']:g} s warm-up, then "
      f"{r['duration']:g} s measured), the servers taking turns cell by cell in an order that turns each "
      f"round, so that a slow spell of this shared machine does not fall on one server alone. Throughput "
      f"is the median of the rounds; latencies are pooled over them. The sandbox runs as "
      f"`python -m fortellis_nb.sandbox --workers {r['workers']}` and, for reference, as learners "
      f"run it (one process). The peers run with one client and one RS256 key (2048 bits), JWT access "
      f"tokens, ID tokens for `openid` (`bench/peers/peer_server.mjs`). Cells: operations per "
      f"second, then p50 / p99 latency in ms.")
    w()
    w("| flow | c | " + " | ".join(names) + " | ours / mock | ours / oidc-provider |")
    w("|---|---:|" + "---:|" * len(names) + "---:|---:|")
    for flow in FLOWS:
        for c in r["concurrency"]:
            row = [FLOW_TITLES[flow], str(c)]
            for name in names:
                cell = cells.get((name, flow, c))
                if cell is None:
                    row.append("n/a")
                    continue
                text = f"**{fmt(cell['ops_per_s'])}**/s {fmt(cell['p50_ms'], 1)} / {fmt(cell['p99_ms'], 1)}"
                if cell["errors"]:
                    text += f" ({cell['errors']} errors)"
                if cell.get("note"):
                    text += " †"
                row.append(text)
            mine = cells.get((ours, flow, c))
            for peer in PEERS:
                other = cells.get((peer, flow, c))
                if mine is None or other is None or other.get("note"):
                    row.append("n/a †" if other is not None and other.get("note") else "n/a")
                else:
                    row.append(f"{mine['ops_per_s'] / other['ops_per_s']:.2f}×")
            w("| " + " | ".join(row) + " |")
    w()
    w("† oauth2-mock-server has no sign-in: its authorize endpoint redirects with a code at once, so "
      "its round trip is one redirect and one exchange, not comparable; no ratio is given. "
      "oidc-provider's round trip goes through its development sign-in and consent pages "
      "(about 9 HTTP requests; it accepts any password, with no hash), the sandbox's through its "
      "sign-in form (3 HTTP requests and a real password check: PBKDF2 the first time a user signs in "
      "to a sandbox process, then that process's memory of the match, one HMAC; a wrong password "
      "always pays PBKDF2).")
    w()
    errors = [c for c in r["cells"] if c["errors"]]
    w("Errors: " + ("none in any cell." if not errors else "; ".join(
        f"{c['server']} {c['flow']} c={c['concurrency']}: {c['errors']} ({c['error_samples'][:1]})" for c in errors)))
    w()
    w("Server CPU per operation (µs, all its processes and threads) and the load generator's CPU, at c=50:")
    w()
    w("| flow | " + " | ".join(names) + " | load generator |")
    w("|---|" + "---:|" * len(names) + "---:|")
    for flow in FLOWS:
        row = [FLOW_TITLES[flow]]
        for name in names:
            cell = cells.get((name, flow, 50))
            row.append(fmt(cell["server_cpu_us_per_op"]) if cell else "n/a")
        cell = cells.get((ours, flow, 50))
        row.append(f"{fmt(cell['client_cpu_pct'])}% of a core" if cell else "n/a")
        w("| " + " | ".join(row) + " |")
    w()

    # ---- goals
    w("### Goals")
    w()
    for c in (10, 50):
        for flow in FLOWS:
            mine = cells.get((ours, flow, c))
            peers = [cells.get((p, flow, c)) for p in PEERS]
            peers = [p for p in peers if p and not p.get("note")]
            if not mine or not peers:
                continue
            best = max(peers, key=lambda p: p["ops_per_s"])
            verdict = "met" if mine["ops_per_s"] >= best["ops_per_s"] else "NOT met"
            if verdict == "met" and min(mine["ops_per_s_rounds"]) < max(best["ops_per_s_rounds"]):
                verdict += " (on the medians; the rounds overlap)"
            elif verdict != "met" and max(mine["ops_per_s_rounds"]) > min(best["ops_per_s_rounds"]):
                verdict += " (on the medians; the rounds overlap)"
            w(f"- {FLOW_TITLES[flow]}, c={c}: ours {fmt(mine['ops_per_s'])}/s ({rounds_text(mine)}), fastest peer "
              f"({best['server']}) {fmt(best['ops_per_s'])}/s ({rounds_text(best)}): {verdict}")
    for flow in FLOWS:
        mine = cells.get((ours, flow, 50))
        if mine:
            verdict = "met" if mine["p99_ms"] < 50 else "NOT met"
            w(f"- p99 under 50 ms at c=50, {FLOW_TITLES[flow]}: {fmt(mine['p99_ms'], 1)} ms: {verdict}")
            if flow == "roundtrip" and "exchange_p99_ms" in mine:
                verdict = "met" if mine["exchange_p99_ms"] < 50 else "NOT met"
                w(f"  - its token request alone (the exchange): p99 {fmt(mine['exchange_p99_ms'], 1)} ms: {verdict}")
    w()
    w("Why p99 under 50 ms at c=50 is arithmetic as much as speed: in a closed loop each of the 50 "
      "clients sends its next request when the last one is answered, so the mean latency is 50 divided "
      "by the throughput (Little's law), whatever the server. A mean under 50 ms needs more than 1,000 "
      "operations per second, and p99 some margin above that. A refresh signs two tokens: 1,000 refreshes "
      "per second would be 2,000 signatures per second, next to the "
      f"{fmt(r['machine_sign_per_s'])} this machine makes with every core doing nothing else; a round trip "
      "is three requests and two signatures. Neither can reach it here with 2048-bit RS256; "
      "client_credentials (one signature) can.")
    w()

    # ---- ceiling
    c = r["ceiling"]
    one, everything = c["rs256_sign_per_s"], r["machine_sign_per_s"]
    pbkdf2 = c["pbkdf2_check_per_s"]
    w("## The signing ceiling")
    w()
    w("| operation | per second |")
    w("|---|---:|")
    w(f"| RS256 sign, 2048-bit key, `cryptography`, one core | {fmt(one)} ({fmt(1e6 / one)} µs each) |")
    runs = r["machine_sign_runs"]
    w(f"| the same on every core at once ({m['usable_cores']} processes; the best of {len(runs)} runs: "
      f"{', '.join(fmt(x) for x in runs)}) | {fmt(everything)} |")
    w(f"| the same through the sandbox's JWT signer (JSON + base64url + sign), one core | "
      f"{fmt(c['sandbox_jwt_sign_per_s'])} |")
    w(f"| password check, PBKDF2-SHA256 {c['pbkdf2_rounds']:,} rounds, one core | {fmt(pbkdf2)} "
      f"({fmt(1e6 / pbkdf2)} µs each) |")
    w()
    bounds = {"client_credentials": everything, "refresh": everything / 2,
              "roundtrip": everything / 2}
    w("What signing alone allows on this machine (every core signing, nothing else running: no HTTP, "
      "no database, no load generator), and the sandbox's best as a fraction of it:")
    w()
    w("| flow | signatures | ceiling /s | ours, best of c=10 and c=50 | fraction |")
    w("|---|---|---:|---:|---:|")
    for flow, what in (("client_credentials", "1 (access token)"),
                       ("refresh", "2 (access token + ID token)"),
                       ("roundtrip", "2 (the password check is remembered after the first)")):
        best = max((cells[(ours, flow, cc)]["ops_per_s"] for cc in (10, 50) if (ours, flow, cc) in cells),
                   default=float("nan"))
        w(f"| {FLOW_TITLES[flow]} | {what} | {fmt(bounds[flow])} | {fmt(best)} | "
          f"{fmt(100 * best / bounds[flow])}% |")
    w()
    w("A code exchange signs an access token and an ID token, like a refresh: so at most "
      f"{fmt(everything / 2)} exchanges per second on this machine.")
    w()
    cost = r.get("cost")
    if cost:
        w("### Where a token request's CPU goes, line by line")
        w()
        cc, rt = cost["flows"]["client_credentials"], cost["flows"]["refresh"]
        w(f"Each line measured on its own (`bench/cost_lines.py`): the first four in-process, the sandbox's "
          f"own code called many times, median of five batches, the lines after the signatures with the "
          f"signature replaced by a constant; the HTTP layer under load. Then the CPU one sandbox process "
          f"really used per request under load at c=10 ({fmt(cc['measured']['ops_per_s'])} client_credentials "
          f"and {fmt(rt['measured']['ops_per_s'])} refreshes per second), from `/proc`. µs per request:")
        w()
        w("| line | client_credentials | refresh_token |")
        w("|---|---:|---:|")
        rows = (("RS256 signature (1 for client_credentials; access token + ID token for a refresh)", "sign_us"),
                ("the same signature(s) run slower while the other core is busy, as in a loaded server "
                 "(timed again next to a process spinning on the other core)", "sign_busy_extra_us"),
                ("JWT encoding: JSON, base64url, `at_hash`", "jwt_encoding_us"),
                ("the grant: client authentication, database, claims", "grant_us"),
                ("the route's rest: form parsing, the JSON answer and its headers", "route_rest_us"),
                ("the HTTP/1.1 layer, the event loop and the kernel's part (a direct route with a fixed answer "
                 "of the same size, loaded the same way, from `/proc`)", "http_layer_us"))
        for label, key in rows:
            w(f"| {label} | {fmt(cc[key])} | {fmt(rt[key])} |")
        timed = {f: sum(v[k] for _, k in rows) for f, v in (("cc", cc), ("rt", rt))}
        total = {f: v["measured"]["user_us"] + v["measured"]["sys_us"] for f, v in (("cc", cc), ("rt", rt))}
        w(f"| **sum of the lines** | **{fmt(timed['cc'])}** | **{fmt(timed['rt'])}** |")
        w(f"| **measured: the sandbox's CPU per request under load** (user + system) | **{fmt(total['cc'])}** | "
          f"**{fmt(total['rt'])}** |")
        w(f"| measured minus the sum (what the lines miss, and the drift of a shared virtual machine between "
          f"one measurement and the next) | {fmt(total['cc'] - timed['cc'])} | "
          f"{fmt(total['rt'] - timed['rt'])} |")
        w()
        w(f"Above the signature(s): {fmt(total['cc'] - cc['sign_us'])} µs per client_credentials request "
          f"({fmt(100 * (total['cc'] - cc['sign_us']) / total['cc'])}% of it) and "
          f"{fmt(total['rt'] - rt['sign_us'])} µs per refresh ({fmt(100 * (total['rt'] - rt['sign_us']) / total['rt'])}%).")
        w()
    write_cpu_split(w, r)

    # ---- cold start, imports
    cs = r["cold_start"]
    w("## Start-up")
    w()
    w(f"Median and maximum of {cs['runs']} runs, in ms.")
    w()
    w("| what | median | max |")
    w("|---|---:|---:|")
    for label, key in (("sandbox, fresh state directory (RSA key, users, database), to first JSON line", "fresh"),
                       ("sandbox, warm restart, to first JSON line", "warm")):
        lines = [a for a, _ in cs[key]]
        health = [b for _, b in cs[key]]
        w(f"| {label} | {fmt(1000 * statistics.median(lines))} | {fmt(1000 * max(lines))} |")
        w(f"| the same, to the first `GET /sandbox/health` answered | {fmt(1000 * statistics.median(health))} | "
          f"{fmt(1000 * max(health))} |")
    for label, times in r["imports"].items():
        w(f"| `{label}` (a fresh interpreter, to exit) | {fmt(1000 * statistics.median(times))} | "
          f"{fmt(1000 * max(times))} |")
    w()
    imp = r["imports"]
    base = statistics.median(imp["python -c pass"])
    w(f"Above a bare interpreter: `import fortellis_nb` adds "
      f"{fmt(1000 * (statistics.median(imp['import fortellis_nb']) - base))} ms, `import ipywidgets` "
      f"{fmt(1000 * (statistics.median(imp['import ipywidgets']) - base))} ms.")
    w()

    # ---- nbval
    nb = r.get("nbval")
    w("## Notebooks under nbval")
    w()
    if nb:
        w(f"`pytest --nbval` over the {nb['count']} notebooks ({nb['cells']} code cells, one kernel each, "
          f"their own sandbox) next to the floor: {nb['count']} trivial notebooks of one cell (`1 + 1`) each.")
        w()
        w("| run | seconds | result |")
        w("|---|---:|---|")
        w(f"| the notebooks | {nb['notebooks']['seconds']:.1f} | {nb['notebooks']['summary']} |")
        w(f"| the floor | {nb['floor']['seconds']:.1f} | {nb['floor']['summary']} |")
        w(f"| ratio | {nb['notebooks']['seconds'] / nb['floor']['seconds']:.2f}× | |")
    else:
        w("Skipped in this run.")
    w()

    # ---- browser
    b = r.get("browser")
    w("## In the browser")
    w()
    if b and "median_ms" in b:
        w(f"JupyterLab with `fortellis_nb.widgets.Playground` in Chromium (Playwright, headless). "
          f"Each time: \"Sign in for me (sandbox)\" for a fresh code, then \"Exchange code\"; timed in "
          f"the page from the click event to the frame after the claims table shows the new token "
          f"(kernel round trip, token request, verification against the key set, widget update). "
          f"{b['repetitions']} runs after one warm-up ({fmt(b['first_ms'])} ms):")
        w()
        w(f"- median {fmt(b['median_ms'])} ms, max {fmt(b['max_ms'])} ms "
          f"(each: {', '.join(fmt(x) for x in b['painted_ms'])} ms)")
    else:
        w(f"Not measured in this run{': ' + b['error'] if b and 'error' in b else ''}.")
    w()
    w("## Reproduce")
    w()
    w("```sh")
    w(r["command"])
    w("```")
    w()
    w("See `bench/README.md` for what each part measures and how to read it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue())


# --------------------------------------------------------------------------- main
def reproducible_args(argv: list[str]) -> list[str]:
    """The arguments that shape the figures: ``--json FILE`` only saves a copy, so it is left out
    of the command the document gives."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--json":
            skip = True
        elif not arg.startswith("--json="):
            kept.append(arg)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short cells, fewer runs: a smoke run")
    parser.add_argument("--duration", type=float, help="measured seconds per cell and round (default 1.5, quick 1)")
    parser.add_argument("--rounds", type=int, help="times every cell is measured, the servers taking turns "
                        "(default 5, quick 1)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="the sandbox's --workers (default: the number of cores)")
    parser.add_argument("--concurrency", default="1,10,50")
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument("--skip-nbval", action="store_true")
    parser.add_argument("--skip-browser", action="store_true")
    args = parser.parse_args(argv)

    duration = args.duration or (1.0 if args.quick else 1.5)
    warmup = 0.3 if args.quick else 0.4
    rounds = args.rounds or (1 if args.quick else 5)
    runs = 2 if args.quick else 5
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    if any(c < 1 or c > 200 for c in concurrencies):
        parser.error("concurrency must be between 1 and 200")
    busy_before, waited = wait_for_quiet(10.0)
    t_begin = time.perf_counter()
    r = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
         "command": " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/run_benchmarks.py",
                                                      *reproducible_args(sys.argv[1:])]),
         "machine": sandbox_bench.machine(), "load_before": loadavg(), "busy_before": busy_before,
         "waited_s": waited, "workers": args.workers,
         "duration": duration, "warmup": warmup, "rounds": rounds, "concurrency": concurrencies, "cells": []}
    r["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()

    with tempfile.TemporaryDirectory(prefix="fortellis-bench-") as tmp:
        work = Path(tmp)
        progress("npm install of the peers")
        peers_dir = work / "peers"
        r["npm_install_s"] = install_peers(peers_dir)
        r["versions"] = {p: npm_version(peers_dir, p) for p in PEERS}

        progress("signing ceiling")
        r["ceiling"] = sandbox_bench.signing_ceiling(0.5 if args.quick else 2.0)
        r["machine_sign_per_s"], r["machine_sign_runs"] = machine_signing_ceiling(
            r["machine"]["usable_cores"], 0.5 if args.quick else 1.0)

        with contextlib.ExitStack() as running:
            servers = []
            for name, workers in ((f"sandbox, {args.workers} workers", args.workers), ("sandbox, 1 process", 1)):
                progress(f"starting {name}")
                sandbox = running.enter_context(Sandbox(work / f"state-{workers}", work / f"sandbox-{workers}.log",
                                                        workers))
                pid = sandbox.process.pid
                servers.append(Measured(name, sandbox.target(name), functools.partial(tree_cpu_seconds, pid),
                                        functools.partial(lambda p: [p, *child_pids(p)], pid)))
            for kind in PEERS:
                progress(f"starting {kind}")
                peer = Peer(kind, peers_dir, work / f"{kind}.log").start()
                running.callback(peer.stop)
                servers.append(Measured(kind, peer.target(), peer.cpu_seconds,
                                        functools.partial(lambda p: [p], peer.process.pid)))
            r["cells"] = measure_rounds(servers, concurrencies, duration, warmup, rounds)
            r["cpu_split"] = cpu_splits([servers[0], servers[-1]], 50, duration, warmup)

        progress("cost lines of one token request")
        r["cost"] = cost_breakdown(work, max(1.0, duration))
        progress("cold start and imports")
        r["cold_start"] = sandbox_bench.cold_start(work, runs)
        r["imports"] = import_times(runs)
        if not args.skip_nbval:
            progress("nbval: the notebooks and the floor")
            r["nbval"] = nbval_times(work)
        if not args.skip_browser:
            progress("browser: Exchange code to claims")
            try:
                import browser_exchange

                r["browser"] = browser_exchange.measure(3 if args.quick else 5)
            except Exception as exc:  # noqa: BLE001 -- reported in the document instead
                r["browser"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    r["load_after"] = loadavg()
    r["elapsed_s"] = time.perf_counter() - t_begin
    write_report(r, Path(args.out))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2, default=str) + "\n")
    print(Path(args.out).read_text())
    print(f"Benchmark took {r['elapsed_s']:.0f} s; written to {args.out}.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
