import subprocess
import sys

from fortellis_nb.install import run_checks
from fortellis_nb.sandbox import running_sandbox


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
