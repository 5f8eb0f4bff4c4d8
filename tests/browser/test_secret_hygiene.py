"""Secret hygiene: the notebooks run in JupyterLab configured for a "real" server (a
sandbox standing in, with an app and an API Secret of our choosing, set through the
FORTELLIS_* settings in a ``.env`` file as a learner would), a person signing in where the
notebook asks for one, saved from the UI with widget state saving on. Then every ``.ipynb``
and every checkpoint is scanned: no API Secret (plain, or inside a Basic header), no full
JWT, no live refresh token.

Against a real server the notebooks cannot sign in by themselves; here, as there, the test
opens the authorize link, signs in on the server's page and pastes the address it lands
on, into the widget or into the cell that asks for it."""

from __future__ import annotations

import base64
import re
import secrets
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from fortellis_nb.sandbox import Sandbox, Settings, marketplace

from .jupyter import open_notebook, snap

pytestmark = pytest.mark.xdist_group("browser")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SECRET = "chosen-" + secrets.token_urlsafe(24)
FULL_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{20,}")
AUTHORIZE_URL = re.compile(r"http://127\.0\.0\.1:\d+/oauth2/[A-Za-z0-9]+/v1/authorize\?[^\s'\"<>]+")
OPAQUE = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{40,46}(?![A-Za-z0-9_\-])")


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """The "real" server: a sandbox with an app of our own whose API Secret we chose."""
    with Sandbox(Settings(state_dir=tmp_path_factory.mktemp("stand-in"))) as sandbox:
        info = sandbox.info
        app, _ = sandbox.store.add_app("Stand-in app", [info.redirect_uri], time.time(), api_secret=SECRET)
        dealer = sandbox.store.add_organization("Stand-in Motors")
        subscription = marketplace.activate(sandbox.store, app, dealer, [], time.time())
        settings = {
            "FORTELLIS_ISSUER": info.issuer, "FORTELLIS_API_KEY": app.api_key, "FORTELLIS_API_SECRET": SECRET,
            "FORTELLIS_REDIRECT_URI": info.redirect_uri, "FORTELLIS_SUBSCRIPTION_ID": subscription,
            "FORTELLIS_API_BASE_URL": info.api_base_url,
        }
        yield sandbox, settings


def prepare(jupyter, workdir: str, notebook: str, settings: dict) -> Path:
    """The project's notebook in a folder of its own, next to a ``.env`` naming the server."""
    target = jupyter.copy_in(NOTEBOOKS / notebook, f"{workdir}/{notebook}")
    (target.parent / ".env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return target


def sign_in_by_hand(page, url: str) -> str:
    """What a person does with the authorize link: open it, sign in, copy the address."""
    tab = page.context.new_page()
    response = tab.goto(url)
    assert response is not None and response.status < 400, (url, response and response.status,
                                                             response and tab.content()[:500])
    if not urlsplit(tab.url).path.endswith("/callback/"):  # with a session from an earlier sign-in it comes straight back
        tab.get_by_label("Username").fill("learner@example.com")
        tab.get_by_label("Password").fill("sandbox-password")
        tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(re.compile(r".*/callback/\?code=.*"))
    landed = tab.get_by_label("The URL this page was reached with").input_value()
    snap(tab, "signed in by hand")
    tab.close()
    page.bring_to_front()
    return landed


def replace_cell_source(nb, index: int, source: str) -> None:
    """Select a cell's text in the editor and put ``source`` in its place, as a person pasting."""
    editor = nb.cell(index).locator(".cm-content")
    editor.click()
    nb.page.keyboard.press("Control+a")
    nb.page.keyboard.insert_text(source)  # no key events: the editor adds no closing quotes
    nb.page.keyboard.press("Escape")


def failing_cell(nb) -> int | None:
    """The cell Run All stopped at (its output is an error report or a traceback)."""
    cells = nb.notebook.locator(".jp-Cell")
    for index in range(cells.count()):
        text = cells.nth(index).locator(".jp-OutputArea-output").all_inner_texts()
        joined = "\n".join(text)
        if "What happened: SandboxOnlyError" in joined or "Traceback" in joined or "AttributeError" in joined:
            return index
    return None


def authorize_url_above(nb, index: int) -> str:
    """The last authorize link the notebook printed, up to and including cell ``index``."""
    found = None
    for i in range(index + 1):
        for text in nb.cell(i).locator(".jp-OutputArea-output").all_inner_texts():
            for match in AUTHORIZE_URL.findall(text):
                found = match.rstrip(".")
    assert found, "the notebook printed no authorize link"
    return found


def do_the_widget_by_hand(nb) -> None:
    """The AuthorizeLink / RedirectCatcher pair, as a person uses it."""
    link = nb.by_class("fnb-authorize-anchor").first
    link.wait_for()
    landed = sign_in_by_hand(nb.page, link.get_attribute("href"))
    nb.fill("Redirect URL", landed)
    nb.by_class("fnb-parsed").filter(has_text="state").first.wait_for()
    nb.click_button("Exchange code")
    nb.by_class("fnb-claims").filter(has_text="api_providers").first.wait_for()


def run_with_a_person(nb, original, *, rounds: int = 4) -> None:
    """Run All; wherever the notebook needs a person to sign in, do it and run on from there."""
    nb.run_all(allow_errors=True)
    for _ in range(rounds):
        index = failing_cell(nb)
        if index is None:
            return
        source = original.cells[index].source
        if "catcher.sign_in()" in source:
            do_the_widget_by_hand(nb)
        else:
            landed = sign_in_by_hand(nb.page, authorize_url_above(nb, index))
            if 'pasted_url = ""' in source:
                source = source.replace('pasted_url = ""', f'pasted_url = "{landed}"', 1)
            else:
                source, count = re.subn(r"catch_up\(client, scopes=(\"[^\"]*\")\)",
                                        rf'catch_up(client, scopes=\1, pasted_url="{landed}")', source, count=1)
                assert count, f"cell {index} needs a person but takes no pasted address:\n{source}"
            replace_cell_source(nb, index, source)
        nb.cell(index).locator(".jp-InputPrompt").click()
        nb.menu("Run", "Run Selected Cell and All Below")
        nb.page.wait_for_timeout(300)
        nb.wait_for_kernel_idle()
    assert failing_cell(nb) is None, "the notebook still stops at a cell"


def scan(folder: Path, api_key: str, sandbox) -> list[str]:
    """Every secret found in the notebooks and checkpoints under ``folder``."""
    basic = base64.b64encode(f"{api_key}:{SECRET}".encode()).decode()
    findings = []
    for path in sorted(folder.rglob("*.ipynb")):
        text = path.read_text()
        where = path.relative_to(folder)
        if SECRET in text:
            findings.append(f"{where}: the API Secret")
        if basic[:-4] in text:
            findings.append(f"{where}: a Basic header carrying the API Secret")
        findings += [f"{where}: a full JWT {m.group()[:12]}..." for m in FULL_JWT.finditer(text)]
        for candidate in set(OPAQUE.findall(text)):
            if sandbox.store.grant_by_refresh_token(candidate) is not None:
                findings.append(f"{where}: a refresh token {candidate[:5]}...")
    return findings


@pytest.mark.parametrize("notebook", ["09-playground.ipynb", "03-exchange-the-code-for-tokens.ipynb",
                                      "05-refresh-tokens.ipynb"])
def test_no_secret_in_saved_notebooks_or_checkpoints(jupyter_lab, page, workdir, stand_in, notebook):
    sandbox, settings = stand_in
    path = prepare(jupyter_lab, workdir, notebook, settings)
    original = jupyter_lab.read_notebook(path)
    nb = open_notebook(page, jupyter_lab, path)
    assert nb.widget_state_saving()
    if notebook.startswith("09"):
        nb.run_all()
        # Not the sandbox as far as the client knows: no "Sign in for me"; a person signs in.
        assert nb.button("Sign in for me (sandbox)").count() == 0 or not nb.button(
            "Sign in for me (sandbox)").is_visible()
        do_the_widget_by_hand(nb)
        nb.click_button("Refresh token")
        nb.by_class("fnb-changes").filter(has_text="same refresh token").first.wait_for()
        nb.fill("Path", "/sandbox/v1/dealership")  # a real server's API has its own path
        nb.click_button("Call API")
        nb.by_class("fnb-api-response").filter(has_text="Stand-in Motors").first.wait_for()
    else:
        run_with_a_person(nb, original)
    snap(page, "done, about to save")
    saved = nb.save()
    assert saved.metadata.get("widgets"), "the widget state was saved"
    deadline = time.monotonic() + 10
    folder = path.parent
    while not list(folder.glob(".ipynb_checkpoints/*.ipynb")) and time.monotonic() < deadline:
        time.sleep(0.2)
    checkpoints = list(folder.glob(".ipynb_checkpoints/*.ipynb"))
    assert checkpoints, "saving from the UI made a checkpoint"
    # The flow really ran: the server issued tokens to the app these notebooks used.
    assert sandbox.store.activity(), "no token was issued"
    findings = scan(folder, settings["FORTELLIS_API_KEY"], sandbox)
    if findings:  # keep the evidence
        keep = Path(jupyter_lab.root_dir).parent / "leaks" / workdir
        shutil.copytree(folder, keep, dirs_exist_ok=True)
    assert findings == [], "\n".join(findings)


def test_the_scan_finds_what_it_looks_for(stand_in, tmp_path):
    """The scanner itself: a planted secret, Basic header, JWT and refresh token are all found."""
    sandbox, settings = stand_in
    refresh = "r" * 10 + secrets.token_urlsafe(24)
    sandbox.store.add_grant(api_key=settings["FORTELLIS_API_KEY"], user_id="00u-x", scopes=["offline_access"],
                            auth_time=time.time(), now=time.time(), refresh_token=refresh)
    basic = base64.b64encode(f"{settings['FORTELLIS_API_KEY']}:{SECRET}".encode()).decode()
    jwt = "eyJ" + "a" * 20 + ".eyJ" + "b" * 20 + "." + "c" * 30
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "x-checkpoint.ipynb").write_text(
        f'{{"a": "{SECRET}", "b": "Basic {basic}", "c": "{jwt}", "d": "{refresh}"}}')
    found = scan(tmp_path, settings["FORTELLIS_API_KEY"], sandbox)
    assert [f.split(": ", 1)[1].split(" ")[0:2] for f in found] == [
        ["the", "API"], ["a", "Basic"], ["a", "full"], ["a", "refresh"]]
