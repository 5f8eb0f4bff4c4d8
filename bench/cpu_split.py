"""Where a loaded server's CPU goes, sampled with Linux ``perf`` (when it is installed).

The cost lines (``cost_lines.py``) time each part of a token request on its own, outside a
server. This samples the real server while the load generator drives it: ``perf record``
on the server's processes, then every sample put in one of a few groups by the shared
object and symbol it landed in. Multiplied by the CPU the server used per operation, each
group becomes µs per operation, for the sandbox and for a peer alike (OpenSSL's bignum code
has the same symbol names inside ``cryptography``'s module and inside ``node``).

    sample([pid, ...], seconds, delay) -> {"groups": {group: share}, "samples": n} or {"error": ...}
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

GROUPS = (
    ("rsa", "RSA arithmetic (OpenSSL's bignum code: the signatures)"),
    ("interpreter", "the language runtime (CPython's interpreter, or V8 and its compiled code)"),
    ("kernel", "the kernel (loopback TCP, waking the load generator, scheduling, files)"),
    ("database", "SQLite"),
    ("other", "the rest in user space (C library and allocator, JSON, HTTP parser, hashing)"),
)
# OpenSSL's big-number and RSA routines, by the names they have in every OpenSSL build.
_RSA = re.compile(r"^(_*bn_|BN_|_*rsaz|ossl_rsa|rsa_|RSA_|ossl_bn|mulx4x|sqrx8x|_*sqr8x|_*mul4x|"
                  r"bn_powerx5|_*bn_sqrx8x|_*bn_postx4x|bn_mulx4x|_*ossl_bn|RSA|int_bn)")
# The node binary holds V8, libuv, llhttp and OpenSSL: V8's own functions are named so.
_V8 = re.compile(r"^(v8::|Builtins_|Builtin|Runtime_|Stub|LazyCompile|Function:|Interpreter|"
                 r"v8_|node::|cppgc::|heap::|0x)")
_LINE = re.compile(r"^\s*([\d.]+)%\s+(.+?)\s+\[(.)\]\s+(.*?)\s*$")


def available() -> str | None:
    """None when perf can sample here, else why not."""
    if shutil.which("perf") is None:
        return "perf is not installed"
    try:
        paranoid = int(Path("/proc/sys/kernel/perf_event_paranoid").read_text())
    except (OSError, ValueError):
        paranoid = 2
    if paranoid > 1 and os.geteuid() != 0:
        return f"kernel.perf_event_paranoid is {paranoid}: perf may not watch other processes"
    return None


def classify(dso: str, kind: str, symbol: str) -> str:
    if kind == "k" or dso.startswith("[kernel"):
        return "kernel"
    if _RSA.match(symbol):
        return "rsa"
    if "sqlite" in dso:
        return "database"
    if dso.startswith("libpython") or dso.startswith("[JIT]") or (dso == "node" and _V8.match(symbol)):
        return "interpreter"
    return "other"


def parse_report(text: str) -> dict[str, float]:
    """``perf report --sort dso,sym`` lines -> share of samples per group (0..1)."""
    shares = {name: 0.0 for name, _ in GROUPS}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            share, dso, kind, symbol = match.groups()
            shares[classify(dso, kind, symbol)] += float(share) / 100
    return shares


def sample(pids: list[int], seconds: float, delay: float = 0.0) -> dict:
    """Sample ``pids`` for ``seconds`` after ``delay`` seconds; returns the groups' shares."""
    why = available()
    if why:
        return {"error": why}
    with tempfile.TemporaryDirectory(prefix="fortellis-perf-") as tmp:
        data = Path(tmp) / "perf.data"
        record = subprocess.run(
            ["perf", "record", "-q", "-F", "999", "-o", str(data), "-p", ",".join(map(str, pids)),
             "-D", str(int(delay * 1000)), "--", "sleep", f"{delay + seconds:.3f}"],
            capture_output=True, text=True, timeout=delay + seconds + 60)
        if record.returncode != 0 or not data.exists():
            return {"error": f"perf record failed: {(record.stderr or '').strip()[:200]}"}
        report = subprocess.run(
            ["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso,sym", "-g", "none",
             "--percent-limit", "0"], capture_output=True, text=True, timeout=120)
        if report.returncode != 0:
            return {"error": f"perf report failed: {(report.stderr or '').strip()[:200]}"}
        count = re.search(r"^# Samples: (\S+)", report.stdout, re.M)
    shares = parse_report(report.stdout)
    if sum(shares.values()) < 0.5:
        return {"error": "perf recorded too few samples to split"}
    return {"groups": shares, "samples": count.group(1) if count else "?"}
