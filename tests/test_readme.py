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
    for words in ("pip install fortellis-nb", "fortellis-nb lab", "./dev.sh lab", "./dev.sh test", "Binder",
                  "01-welcome-and-setup.ipynb", "fortellis-nb sandbox stop"):
        assert words in first_screen, words
    assert len(first_screen.splitlines()) < 70


def test_the_readme_says_where_the_learner_s_copies_are_and_the_way_back_to_the_sandbox():
    first_screen = " ".join(README[:README.index("## The `fortellis-nb` command")].split())
    assert "`./fortellis-notebooks`" in first_screen and "ignored by git" in first_screen
    assert "`./fortellis-notebooks/.env`" in first_screen  # where a .env is read from
    assert BACK_TO_SANDBOX in first_screen  # the sentence the failures show, word for word
