import subprocess
import sys
from pathlib import Path

import pytest

from fortellis_nb.install import run_checks
from fortellis_nb.oauth import hints
from fortellis_nb.sandbox import ensure_sandbox, running_sandbox, stop_sandbox


def test_check_passes_every_item_and_stops_the_sandbox_it_started(tmp_path):
    state_dir = tmp_path / "state"
    result = subprocess.run([sys.executable, "-m", "fortellis_nb", "check", "--state-dir", str(state_dir)],
                            capture_output=True, text=True, timeout=120)
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    items = lines[:-1]
    assert all(line.startswith("PASS  ") for line in items), result.stdout
    for expected in ("python", "package PyJWT", "package ipywidgets", "JupyterLab widget extension",
                     "sandbox starts", "flow: headless sign-in", "flow: exchange code and verify tokens",
                     "flow: refresh", "flow: call the API"):
        assert any(line.startswith(f"PASS  {expected}: ") for line in items), expected
    assert lines[-1].startswith("all passed")
    assert running_sandbox(state_dir) is None


def test_a_failing_item_is_marked_and_the_exit_status_is_1(tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the sandbox wants its state folder")
    lines = []
    status = run_checks(blocked, out=lines.append)
    assert status == 1
    assert any(line.startswith("FAIL  sandbox starts") for line in lines)
    assert any(line.startswith("FAIL  flow") for line in lines)
    failed = sum(line.startswith("FAIL  ") for line in lines)
    assert lines[-1].startswith(f"{failed} failed")


def test_without_requests_the_check_still_prints_its_lines(tmp_path):
    """The check runs before the protocol layer can be imported: a missing package gets its
    FAIL line, and so do the settings it could not read, not a traceback."""
    script = ("import sys; sys.modules['requests'] = None\n"
              "from fortellis_nb.install import run_checks\n"
              "raise SystemExit(run_checks(env={}, dotenv=False))")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert any(line.startswith("FAIL  package requests: ") and "pip install requests" in line for line in lines)
    assert any(line.startswith("FAIL  settings: not read: ") for line in lines)
    assert lines[-1].startswith(f"{sum(line.startswith('FAIL  ') for line in lines)} failed")


def test_the_check_finds_jupyterlab_without_importing_it_and_says_when_it_is_missing():
    """JupyterLab runs in the Jupyter server: the check looks for it and reads its version, and
    does not spend the seconds of importing it; a missing one is a FAIL line all the same."""
    script = (
        "import sys\n"
        "from fortellis_nb.install import Report, _check_packages\n"
        "lines = []\n"
        "_check_packages(Report(lines.append), {})\n"
        "print(lines[-1]); print('imported' if 'jupyterlab' in sys.modules else 'not imported')\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'jupyterlab': raise ModuleNotFoundError(\"No module named 'jupyterlab'\")\n"
        "sys.meta_path.insert(0, Hide())\n"
        "lines = []\n"
        "_check_packages(Report(lines.append), {})\n"
        "print(lines[-1])\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    found, imported, missing = done.stdout.splitlines()
    import importlib.metadata

    assert found == f"PASS  package jupyterlab: {importlib.metadata.version('jupyterlab')}", done.stderr
    assert imported == "not imported"
    assert missing.startswith("FAIL  package jupyterlab: ModuleNotFoundError: No module named 'jupyterlab' ")
    assert missing.endswith("pip install jupyterlab)")


def _room_env(tmp_path, **changes) -> Path:
    """A sandbox standing for a room's, and a .env naming it and its demo app, as a
    participant writes one (docs/workshop.md, instructor mode)."""
    info = ensure_sandbox(tmp_path / "room").as_dict()
    settings = {"FORTELLIS_ISSUER": info["issuer"], "FORTELLIS_API_KEY": info["api_key"],
                "FORTELLIS_API_SECRET": info["api_secret"], "FORTELLIS_REDIRECT_URI": info["redirect_uri"],
                "FORTELLIS_SUBSCRIPTION_ID": info["subscription_id"], "FORTELLIS_API_BASE_URL": info["api_base_url"]}
    settings.update(changes)
    path = tmp_path / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in settings.items() if v is not None))
    return path


@pytest.fixture
def room(tmp_path):
    yield tmp_path
    stop_sandbox(tmp_path / "room")


def test_settings_in_dotenv_are_what_the_check_tests(room):
    dotenv = _room_env(room)
    lines = []
    status = run_checks(room / "personal", out=lines.append, env={}, dotenv=dotenv)
    assert status == 0, "\n".join(lines)
    assert any(line.startswith("PASS  settings: issuer http://127.0.0.1:")
               and f"set by FORTELLIS_ISSUER, FORTELLIS_API_KEY, FORTELLIS_API_SECRET, FORTELLIS_REDIRECT_URI, "
                   f"FORTELLIS_SUBSCRIPTION_ID and FORTELLIS_API_BASE_URL in {dotenv.resolve()}: " in line
               for line in lines), lines
    for item in ("discovery", "key set", "app credentials", "call the API"):
        assert any(line.startswith(f"PASS  settings: {item}: ") for line in lines), item
    assert "PASS  settings: call the API: HTTP 200, Subscription-Id set" in lines
    assert not any("sandbox starts" in line for line in lines)  # no sandbox of its own
    assert running_sandbox(room / "personal") is None


def test_a_wrong_secret_in_dotenv_fails_with_okta_s_answer(room):
    lines = []
    status = run_checks(room / "personal", out=lines.append, env={},
                        dotenv=_room_env(room, FORTELLIS_API_SECRET="not-the-secret-of-this-app"))
    assert status == 1
    failed = [line for line in lines if line.startswith("FAIL  ")]
    assert failed[0].startswith("FAIL  settings: app credentials: invalid_client: "
                                "The client secret supplied for a confidential client is invalid.")
    assert failed[1] == "FAIL  settings: call the API: not run"
    assert lines[-1].startswith("2 failed")


def test_settings_naming_an_issuer_without_its_app_fail_with_what_is_missing(room):
    lines = []
    status = run_checks(room / "personal", out=lines.append, env={"FORTELLIS_ISSUER": "https://example.invalid/x"},
                        dotenv=False)
    assert status == 1
    assert any(line.startswith("FAIL  settings: configuration_error: The issuer is set (FORTELLIS_ISSUER in the environment) but "
                               "FORTELLIS_API_KEY and FORTELLIS_API_SECRET are not.") for line in lines), lines


def test_settings_naming_a_server_that_does_not_answer_fail_at_discovery(tmp_path):
    lines = []
    status = run_checks(tmp_path / "personal", out=lines.append, dotenv=False,
                        env={"FORTELLIS_ISSUER": "http://127.0.0.1:1/oauth2/ausRoomIsDown", "FORTELLIS_API_KEY": "key",
                             "FORTELLIS_API_SECRET": "secret"})
    assert status == 1
    failed = next(line for line in lines if line.startswith("FAIL  settings: discovery: "))
    assert failed.startswith("FAIL  settings: discovery: connection_refused: GET 127.0.0.1:1: connection refused.")
    # The network, not the server: where the setting was set, and the way back.
    assert hints.NO_ANSWER in failed and "The issuer comes from FORTELLIS_ISSUER in the environment." in failed
    assert failed.endswith(hints.BACK_TO_SANDBOX)
    assert "FAIL  settings: key set: not run" in lines
    assert not any("Traceback" in line for line in lines)


def test_an_issuer_in_dotenv_whose_name_does_not_resolve_names_the_network_and_the_file(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("FORTELLIS_ISSUER=https://identity.example.invalid/oauth2/aus1\nFORTELLIS_API_KEY=key\n"
                      "FORTELLIS_API_SECRET=secret\n")
    lines = []
    assert run_checks(tmp_path / "personal", out=lines.append, env={}, dotenv=dotenv) == 1
    failed = next(line for line in lines if line.startswith("FAIL  settings: discovery: "))
    assert failed.startswith("FAIL  settings: discovery: dns_error: GET identity.example.invalid: ")
    assert hints.NO_ANSWER in failed and f"The issuer comes from FORTELLIS_ISSUER in {dotenv.resolve()}." in failed
    assert failed.endswith(hints.BACK_TO_SANDBOX)
