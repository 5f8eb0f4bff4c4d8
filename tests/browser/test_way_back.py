"""The way back from real settings, and a JupyterLab started again, tried as a learner would:
a ``.env`` naming a server this machine cannot reach (what the notebook says, where the
setting came from, how to go back, and a later cell after the failed one), then the way back
taken; and ``fortellis-nb lab`` started again after notebooks were left open, which opens
notebook 01 alone with one kernel. Screenshots land in test-artifacts/browser/<test>/."""

from __future__ import annotations

import sys
import time

import pytest

from fortellis_nb.oauth.hints import BACK_TO_SANDBOX, NO_ANSWER

from .jupyter import TIMEOUT_MS, JupyterServer, NotebookPage, open_notebook, snap

pytestmark = pytest.mark.xdist_group("browser")

UNREACHABLE = "https://identity.example.invalid/oauth2/aus1"
CELLS = [
    "from fortellis_nb.lessons import start\n\nclient = start()",
    'request = client.authorization_url(scopes="openid offline_access")',
    "request.url",
]


def plain(text: str) -> str:
    """What a page shows of a sentence written with `code` marks, spaces collapsed."""
    return " ".join(text.replace("`", "").split())


def test_a_dotenv_naming_a_server_out_of_reach_says_so_and_the_way_back_works(jupyter_lab, page, workdir):
    path = jupyter_lab.write_notebook(f"{workdir}/way-back.ipynb", CELLS)
    dotenv = path.parent / ".env"  # beside the notebook, where its kernel runs
    dotenv.write_text(f"FORTELLIS_ISSUER={UNREACHABLE}\nFORTELLIS_API_KEY=my-api-key\nFORTELLIS_API_SECRET=my-secret\n")
    nb = open_notebook(page, jupyter_lab, path)
    nb.run_all(allow_errors=True)  # Run All stops at the cell that fails
    started = plain(nb.output_text(0))
    assert f"The notebooks use {UNREACHABLE}, not the local sandbox" in started
    assert f"in {dotenv.resolve()}" in started and plain(BACK_TO_SANDBOX) in started
    failed = plain(nb.wait_for_output("dns_error", cell=1).inner_text())
    assert plain(NO_ANSWER) in failed  # the network, not a refusal by the server
    assert f"The issuer comes from FORTELLIS_ISSUER in {dotenv.resolve()}." in failed
    assert plain(BACK_TO_SANDBOX) in failed and "my-secret" not in failed
    snap(page, "a server out of reach: where the setting came from, and the way back")
    # The learner goes on with the next cell, as if the one above had worked.
    nb.cell(2).locator(".jp-InputPrompt").click()
    page.keyboard.press("Shift+Enter")
    said = plain(nb.wait_for_output("is not defined", cell=2).inner_text())
    assert said.startswith("request is not defined") and "one of them failed before defining it" in said
    snap(page, "the next cell: a cell above failed")
    # The way back, as written: the .env lines gone, start() again (here with the rest).
    dotenv.unlink()
    nb.run_all()
    assert "not the local sandbox" not in nb.output_text(0)
    assert nb.output_text(2).strip("'").startswith("http://127.0.0.1:")  # the sandbox's authorize URL
    snap(page, "back on the sandbox")


class LabCommand(JupyterServer):
    """JupyterLab as ``fortellis-nb lab DIR`` starts it, with this server's private folders
    (among them a kept workspaces folder, as a learner's ``~/.jupyter/lab/workspaces`` is)."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "fortellis_nb", "lab", str(self.root_dir), "--no-browser",
                "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}"]


def saved_notebooks(server: JupyterServer) -> list[str]:
    """The notebooks the default workspace keeps open, as JupyterLab saved it on the server."""
    workspace = server.api("lab/api/workspaces/default") or {}
    return sorted(key.removeprefix("notebook:") for key in workspace.get("data", {}) if key.startswith("notebook:"))


def notebook_tabs(page) -> list[str]:
    return sorted(t for t in page.locator(".lm-DockPanel-tabBar .lm-TabBar-tabLabel").all_inner_texts()
                  if t.endswith(".ipynb"))


def test_jupyterlab_started_again_opens_notebook_01_alone_with_one_kernel(chromium, page, tmp_path):
    lab = LabCommand("lab", tmp_path / "lab")
    first = ["01-welcome-and-setup.ipynb", "02-get-the-authorization-code.ipynb", "03-exchange-the-code-for-tokens.ipynb"]
    try:
        lab.start()
        for opened, name in enumerate(first, start=1):  # the learner opens one notebook after another
            page.goto(lab.url(f"lab/tree/{name}"), timeout=TIMEOUT_MS)
            NotebookPage(page, lab, name).wait_for_kernel_idle()
            # JupyterLab saves its layout a moment after a change; the next address loads the
            # page again, so it waits for that save (a learner's pace gives it the moment).
            deadline = time.monotonic() + TIMEOUT_MS / 1000
            while saved_notebooks(lab) != first[:opened]:
                assert time.monotonic() < deadline, saved_notebooks(lab)
                time.sleep(0.2)
        assert len(lab.api("api/kernels")) == 3
        snap(page, "three notebooks open, three kernels")
        lab.stop()
        # The next day: fortellis-nb lab again, and the browser at the address it opens.
        lab.launch().wait_ready()
        page.goto(lab.url(""), timeout=TIMEOUT_MS)
        NotebookPage(page, lab, first[0]).wait_for_kernel_idle()
        snap(page, "started again: notebook 01 alone")
        assert notebook_tabs(page) == [first[0]]
        sessions = lab.api("api/sessions")
        assert [s["path"] for s in sessions] == [first[0]] and len(lab.api("api/kernels")) == 1
    finally:
        lab.stop()
