"""The sandbox as a process: the command line, and the per-user background launcher."""

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from fortellis_nb.sandbox import Sandbox, Settings, ensure_sandbox, running_sandbox, stop_sandbox
from fortellis_nb.sandbox.launcher import EXIT_STATE_IN_USE, default_state_dir
from fortellis_nb.sandbox.storage import StateInUse

REQUIRED = {"issuer", "api_key", "api_secret", "redirect_uri", "username", "password", "subscription_id",
            "api_base_url", "subscriptions_url"}


def cli(*args, timeout=30):
    return subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGTERM, which Windows delivers as TerminateProcess")
def test_serve_prints_one_json_line_first_and_stops_cleanly_on_sigterm(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "fortellis_nb.sandbox", "--state", str(tmp_path), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(process.stdout.readline())
        assert REQUIRED <= info.keys()
        assert info["issuer"].startswith("http://127.0.0.1:") and "/oauth2/aus" in info["issuer"]
        discovery = requests.get(f"{info['issuer']}/.well-known/openid-configuration", timeout=5).json()
        assert discovery["issuer"] == info["issuer"]
        assert (tmp_path / "server.json").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "Sandbox stopped." in out
    assert not (tmp_path / "server.json").exists()


def test_the_foreground_server_stops_when_asked_through_its_admin_endpoint(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "fortellis_nb.sandbox", "--state", str(tmp_path), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(process.stdout.readline())
        refused = requests.post(f"{info['base_url']}/sandbox/admin/shutdown", timeout=5)
        assert refused.status_code == 401  # not without the admin token
        asked = requests.post(f"{info['base_url']}/sandbox/admin/shutdown", timeout=5,
                              headers={"Authorization": f"Bearer {info['admin_token']}"})
        assert asked.status_code == 202 and asked.json() == {"stopping": True}
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Sandbox stopped." in out and "Traceback" not in err
    assert not (tmp_path / "server.json").exists()


def test_ensure_starts_once_and_reuses(tmp_path):
    state = tmp_path / "state"
    try:
        first = ensure_sandbox(state)
        second = ensure_sandbox(state)
        assert first.pid == second.pid and first.issuer == second.issuer
        assert running_sandbox(state) == first
        if os.name == "posix":
            assert oct(os.stat(state / "server.json").st_mode & 0o777) == "0o600"
        # The CLI refuses to start a second server on the same state, and says how to stop the first.
        refused = cli("--state", str(state), timeout=20)
        assert refused.returncode == 1 and "already running" in refused.stderr and " stop " in refused.stderr
    finally:
        assert stop_sandbox(state) is True
    assert running_sandbox(state) is None
    assert stop_sandbox(state) is False
    # Started again, it comes back on the same port, so the issuer (and every token) stays valid.
    try:
        again = ensure_sandbox(state)
        assert again.issuer == first.issuer and again.api_secret == first.api_secret and again.pid != first.pid
    finally:
        stop_sandbox(state)


def servers_for(state) -> list[int]:
    """The pids of every sandbox process started on ``state``, running or not yet reaped."""
    import psutil  # installed with Jupyter (ipykernel)

    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "fortellis_nb.sandbox" in cmdline and str(state) in cmdline and process.status() != psutil.STATUS_ZOMBIE:
            found.append(process.pid)
    return found


def test_a_background_sandbox_of_other_code_is_replaced(tmp_path, monkeypatch):
    """After an upgrade (or an edit) the sandbox still running in the background is of other code:
    ensure_sandbox replaces it, on the same state and issuer, instead of reusing it."""
    from fortellis_nb.sandbox import launcher
    state = tmp_path / "state"
    try:
        first = ensure_sandbox(state)
        assert ensure_sandbox(state).pid == first.pid  # the same code: reused
        monkeypatch.setattr(launcher, "build_id", lambda: "code-of-another-install")
        second = ensure_sandbox(state)
        assert second.pid != first.pid and second.issuer == first.issuer
        assert requests.get(f"{second.base_url}/sandbox/health").json()["pid"] == second.pid
    finally:
        stop_sandbox(state)


def test_two_notebooks_starting_at_once_share_one_sandbox(tmp_path):
    state = tmp_path / "state"
    try:
        with ThreadPoolExecutor(4) as pool:
            started = list(pool.map(lambda _: ensure_sandbox(state), range(4)))
        assert len({info.pid for info in started}) == 1
        assert running_sandbox(state) == started[0]
    finally:
        stop_sandbox(state)
    # The servers that lost the race exited; none took the state over once the winner stopped.
    deadline = time.monotonic() + 10
    while servers_for(state) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert servers_for(state) == []
    assert running_sandbox(state) is None
    assert "Traceback" not in (state / "sandbox.log").read_text()


def test_a_launcher_whose_server_finds_the_state_taken_waits_for_the_owner(tmp_path):
    # The owner holds the database and is still starting (no server.json yet): the server this
    # launcher started exits at once, and the launcher goes on waiting for the owner.
    state = tmp_path / "state"
    log = state / "sandbox.log"
    with Sandbox(Settings(state_dir=state)) as owner, ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(ensure_sandbox, state, timeout=30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "Another sandbox process" not in (log.read_text() if log.exists() else ""):
            time.sleep(0.05)
        assert "Another sandbox process is using" in log.read_text()
        time.sleep(0.3)
        assert not waiting.done()
        (state / "server.json").write_text(json.dumps(owner.info.as_dict()))  # the owner is ready
        assert waiting.result(timeout=10) == owner.info


def test_a_second_server_on_the_same_state_is_refused_with_a_message(tmp_path):
    state = tmp_path / "state"
    with Sandbox(Settings(state_dir=state)) as first:
        with pytest.raises(StateInUse, match="Another sandbox process is using"):
            Sandbox(Settings(state_dir=state))
        # A server in this process holds the database but wrote no server.json: the CLI cannot
        # reach it, and still refuses the state instead of corrupting it.
        refused = cli("serve", "--state", str(state), "--port", "0", timeout=20)
        assert refused.returncode == EXIT_STATE_IN_USE
        assert "Another sandbox process is using" in refused.stderr and "Traceback" not in refused.stderr
        assert requests.get(f"{first.info.base_url}/sandbox/health", timeout=5).status_code == 200


def test_a_stale_server_file_is_ignored(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "server.json").write_text(json.dumps({"pid": 999999, "base_url": "http://127.0.0.1:9"}))
    assert running_sandbox(state) is None


def test_a_server_file_naming_another_live_process_is_not_that_sandbox(tmp_path):
    # The port answers, the server id matches (the file was copied), but the pid is not the
    # one that answers: a restarted machine reusing a port, or a file from elsewhere.
    with Sandbox(Settings(state_dir=tmp_path / "real")) as real:
        state = tmp_path / "copied"
        state.mkdir()
        (state / "server.json").write_text(json.dumps({**real.info.as_dict(), "pid": real.info.pid + 1}))
        assert running_sandbox(state) is None
        assert stop_sandbox(state) is False
        assert requests.get(f"{real.info.base_url}/sandbox/health", timeout=5).status_code == 200


def test_status_and_stop_commands(tmp_path):
    state = str(tmp_path / "state")
    assert cli("status", "--state", state).returncode == 1
    started = cli("start", "--state", state)
    assert started.returncode == 0 and REQUIRED <= json.loads(started.stdout).keys()
    assert cli("status", "--state", state).returncode == 0
    assert cli("stop", "--state", state).stdout.strip() == "stopped"
    assert cli("status", "--state", state).stdout.strip() == "not running"


def test_start_hands_its_options_to_the_server(tmp_path):
    state = str(tmp_path / "state")
    with __import__("socket").socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = cli("start", "--state", state, "--port", str(port), "--code-lifetime", "7")
    try:
        assert started.returncode == 0, started.stderr
        info = json.loads(started.stdout)
        assert info["base_url"] == f"http://127.0.0.1:{port}"
        page = requests.get(f"{info['base_url']}/callback/?code=x&state=y", timeout=5).text
        assert "within 7 seconds" in page
        # A second start with other options reuses the running one, and says its options were not applied.
        again = cli("start", "--state", state, "--code-lifetime", "30")
        assert json.loads(again.stdout)["pid"] == info["pid"]
        assert "not applied" in again.stderr
    finally:
        cli("stop", "--state", state)


def test_the_state_directory_is_the_users_own(monkeypatch, tmp_path):
    monkeypatch.delenv("FORTELLIS_SANDBOX_STATE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert default_state_dir() == tmp_path / "xdg" / "fortellis-nb" / "sandbox"
    assert default_state_dir().parts[-2:] == ("fortellis-nb", "sandbox")
    monkeypatch.setenv("FORTELLIS_SANDBOX_STATE", str(tmp_path / "mine"))
    assert default_state_dir() == tmp_path / "mine"


def test_each_command_is_an_argparse_subcommand_with_its_function():
    from fortellis_nb.sandbox import __main__ as command_line
    from fortellis_nb.sandbox.authority import Settings
    parser = command_line.parser_for("sandbox")
    assert parser.parse_args([]).func is command_line.serve  # no command: serve
    assert parser.parse_args(["--port", "0"]).func is command_line.serve
    for name in ("serve", "start", "status", "stop"):
        assert parser.parse_args([name, "--state", "d"]).func is getattr(command_line, name)
    assert parser.parse_args(["report", "--json"]).json is True
    # The defaults --help states are the server's own.
    assert parser.get_default("code_lifetime") == Settings.code_lifetime
    with pytest.raises(SystemExit):
        parser.parse_args(["status", "--port", "1"])  # status starts nothing: it takes no server option


@pytest.mark.parametrize("argv", [["--state", "S", "--port", "9000", "start"], ["start", "--state", "S", "--port", "9000"],
                                  ["--state", "S", "start", "--port", "9000"]])
def test_options_stand_before_or_after_the_subcommand(argv):
    # A subcommand's own copy of an option must not put its default over one given before it
    # (`--state DIR stop` stopping the default sandbox instead).
    from fortellis_nb.sandbox.__main__ import parser_for

    args = parser_for("test").parse_args(argv)
    assert (args.state, args.port, args.func.__name__) == ("S", 9000, "start")
    assert parser_for("test").parse_args(["--state", "S", "stop"]).state == "S"
