"""npm packages for the interop tests: installed once into a cache folder, run with node.

* :func:`npm_package` installs a package into ``$FORTELLIS_NB_TEST_CACHE`` (default
  ``~/.cache/fortellis-nb-tests``), shared by test runs and xdist workers: each installs
  aside and renames into place; when two race, the first rename wins (no file lock:
  Windows has none of POSIX's).
* :class:`NodeScript` runs one of the scripts beside this file with that package and waits
  for its ``READY {...}`` line; it stops the process when done. The scripts exit by
  themselves when their standard input closes, so a killed test run leaves none behind.

Without node or npm, or when the npm registry cannot be reached, the tests that need them
skip with that reason; with ``CI=true`` in the environment they fail instead (as in
``tests/interop/test_openid_client.py``).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

HERE = Path(__file__).parent

#: What npm prints when it cannot reach the registry (no network, no DNS, a proxy refusing).
_OFFLINE = re.compile(r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|"
                      r"network|request to \S+ failed|getaddrinfo|socket hang up|proxy", re.IGNORECASE)


def registry_unreachable(said: str | bytes | None) -> str | None:
    """The line of npm's output saying that the registry cannot be reached, if it says so."""
    if isinstance(said, bytes):
        said = said.decode("utf-8", errors="replace")
    offline = [line for line in (said or "").splitlines() if _OFFLINE.search(line)]
    if not offline:
        return None
    return next((line for line in offline if "request to" in line), offline[0]).strip()[:200]


def unavailable(reason: str):
    """Skip, or fail when CI=true: there the npm interop tests must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true makes that a failure, not a skip", pytrace=False)
    pytest.skip(reason)


def node_version() -> tuple[int, ...]:
    done = subprocess.run(["node", "--version"], check=False, capture_output=True, text=True, timeout=30,
                          shell=os.name == "nt")
    return tuple(int(part) for part in re.findall(r"\d+", done.stdout)[:3])


def npm_package(package: str, probe: str, *, min_node: tuple[int, ...] = ()) -> Path:
    """The folder where ``package`` (``name@version``) is installed; ``probe`` is the name of
    the package whose package.json shows the install is complete."""
    if not (shutil.which("node") and shutil.which("npm")):
        unavailable(f"node and npm are needed to run {package}")
    if min_node and node_version() < min_node:
        unavailable(f"{package} needs node >= {'.'.join(map(str, min_node))}; this node is "
                    f"{'.'.join(map(str, node_version()))}")
    root = Path(os.environ.get("FORTELLIS_NB_TEST_CACHE", Path.home() / ".cache" / "fortellis-nb-tests"))
    root.mkdir(parents=True, exist_ok=True)
    target = root / package.replace("/", "_")
    if (target / "node_modules" / probe / "package.json").exists():
        return target
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".staging-"))
    try:
        subprocess.run(["npm", "install", "--prefix", str(staging), "--no-audit", "--no-fund", "--no-save",
                        "--loglevel=error", package], check=True, capture_output=True, text=True,
                       timeout=300, shell=os.name == "nt")
    except subprocess.TimeoutExpired:
        shutil.rmtree(staging, ignore_errors=True)
        unavailable(f"npm install {package} took more than 300 s: the npm registry cannot be reached")
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        said = (exc.stderr or exc.stdout or "").strip()
        line = registry_unreachable(said)
        if line:
            unavailable(f"the npm registry cannot be reached to install {package}: {line}")
        raise AssertionError(f"npm install {package} failed:\n{said[-2000:]}") from None
    try:
        staging.rename(target)
    except OSError:  # another worker's copy is in place already
        shutil.rmtree(staging, ignore_errors=True)
    return target


class NodeScript:
    """``node SCRIPT ARGS...`` run from the package's folder (ESM resolves packages from the
    script's own folder, so the script is copied there, atomically: workers may race)."""

    def __init__(self, folder: Path, script: str, *args: str, log: Path, startup: float = 30):
        copy = folder / f".{script}.{os.getpid()}.tmp"
        shutil.copyfile(HERE / script, copy)
        os.replace(copy, folder / script)
        self.log = log
        self._log_file = open(log, "wb")  # noqa: SIM115 - node writes to it until stop()
        self.process = subprocess.Popen(["node", script, *args], cwd=folder, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self._log_file, text=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.process.stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=startup)
        except queue.Empty:
            line = ""
        if not line.startswith("READY "):
            self.stop()
            raise AssertionError(f"node {script} did not start ({line.strip() or 'no READY line'}); "
                                 f"its stderr:\n{log.read_text(errors='replace')[-2000:]}")
        self.ready = json.loads(line[len("READY "):])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()  # the script exits on end of input...
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:  # ...or is made to
                self.process.terminate()
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream and not stream.closed:
                stream.close()
        self._log_file.close()
