"""The README's commands work as written: its curl recipe runs in bash, on a private sandbox,
with the sign-in done headless where the README says to use a browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from fortellis_nb.local.headless import sign_in
from fortellis_nb.oauth.hints import BACK_TO_SANDBOX

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def block_after(heading: str) -> str:
    section = README[README.index(heading):]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


@pytest.mark.skipif(not (shutil.which("bash") and shutil.which("curl")), reason="needs bash and curl")
def test_the_curl_recipe_runs_as_written(tmp_path):
    script = block_after("### The tutorial by curl")
    first, rest = script.split("CODE=paste-the-code-here\n")
    assert first.startswith("PY=.venv/bin/python\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORTELLIS_")}
    env["FORTELLIS_SANDBOX_STATE"] = str(tmp_path / "state")
    env["PY"] = sys.executable
    first = first.replace("PY=.venv/bin/python\n", "")  # this test's Python instead of a clone's .venv
    try:
        shown = subprocess.run(["bash", "-euo", "pipefail", "-c", first], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=120)
        assert shown.returncode == 0, shown.stderr
        url = shown.stdout.strip().splitlines()[-1]
        info = json.loads((tmp_path / "sandbox.json").read_text())
        assert url.startswith(f"{info['issuer']}/v1/authorize?client_id={info['api_key']}&")
        landed = sign_in(url, username="learner@example.com", password="sandbox-password")
        assert landed.startswith("https://example.com/?")
        code = parse_qs(urlsplit(landed).query)["code"][0]
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", first + f"CODE={code}\n" + rest], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)
    finally:
        subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", "stop"], env=env, capture_output=True,
                       timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["token_type"] == "Bearer" and answer["scope"] == "openid offline_access"
    assert {"access_token", "id_token", "refresh_token"} <= set(answer)


def test_the_readme_names_the_first_notebook_and_how_to_stop():
    first_screen = README[:README.index("## The `fortellis-nb` command")]
    for words in ("pip install fortellis-nb", "fortellis-nb lab", "./dev.sh lab", "./dev.sh test", "py dev.py lab",
                  "py dev.py test", "python -m build", "Binder",
                  "01-welcome-and-setup.ipynb", "fortellis-nb sandbox stop"):
        assert words in first_screen, words
    assert len(first_screen.splitlines()) < 70


def test_the_readme_says_where_the_learner_s_copies_are_and_the_way_back_to_the_sandbox():
    first_screen = " ".join(README[:README.index("## The `fortellis-nb` command")].split())
    assert "`./fortellis-notebooks`" in first_screen and "ignored by git" in first_screen
    assert "`./fortellis-notebooks/.env`" in first_screen  # where a .env is read from
    assert BACK_TO_SANDBOX in first_screen  # the sentence the failures show, word for word


SHELLS = "| bash, zsh (Linux, macOS) | PowerShell, cmd.exe (Windows) |"


def shell_tables() -> list[tuple[str, str]]:
    """(bash line, Windows line) from each table of the README that gives a command per shell."""
    rows = []
    for table in README.split(SHELLS)[1:]:
        for line in table.splitlines()[2:]:
            if not line.startswith("|"):
                break
            rows.append(tuple(re.findall(r"`([^`]+)`", line)[:2]))
    return rows


def test_each_command_is_given_for_bash_and_for_powershell_and_cmd_alike():
    rows = shell_tables()
    assert len(rows) == 5  # three to install and start with pip, two from a clone

    def same(line: str) -> str:  # one spelling for what differs between the shells, nothing else
        line = re.sub(r"^python3 |^py ", "PY ", line)
        line = re.sub(r"^(\S*?)/bin/", r"\1/", line)
        line = re.sub(r"^\.\\(\S*?)\\Scripts\\", r"\1/", line)
        return line.replace("./dev.sh ", "PY dev.py ")

    for bash, windows in rows:
        assert same(bash) == same(windows), (bash, windows)
        # cmd.exe runs a program from a folder only through backslashes and hands single quotes
        # on as they are; PowerShell runs one from the current folder only as .\ (or through py).
        assert re.match(r"py |\.\\", windows) and "/" not in windows and "'" not in windows, windows


def test_no_command_in_the_readme_quotes_as_only_a_posix_shell_does():
    # pip install -e '.[test]': cmd.exe hands the quotes to pip, which fails. Double quotes work everywhere.
    blocks = re.findall(r"```\w*\n(.*?)```", README, re.S)
    commands = [*re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", README, flags=re.S)),
                *(line for block in blocks for line in block.splitlines())]
    installs = [c.split("#", 1)[0] for c in commands if "pip install" in c]
    assert len(installs) >= 5 and not [c for c in installs if "'" in c]
    assert 'pip install -e ".[test]"' in README
    assert "`py -m venv .venv`, then `.\\.venv\\Scripts\\python` for `.venv/bin/python`" in README
