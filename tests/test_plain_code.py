"""Each step also in plain code: notebooks 02 to 07 each have one cell that does the step with
``requests`` or PyJWT alone (``urllib.parse`` for the authorize URL), the code a learner copies
into their own backend. Its settings come from the notebook on the lines under one marked
comment; the rest of the cell reads nothing else of the notebook until its closing comparison
with what the library did. Here each such cell is found, checked for what it must hold, and its
copyable part run against a sandbox with only those settings at hand (nbval runs the whole
cells in the notebooks, against their committed outputs)."""

from __future__ import annotations

import ast
import base64
import json
import re
import tempfile
from pathlib import Path

import pytest

from fortellis_nb.lessons import catch_up
from fortellis_nb.local import sandbox_client
from fortellis_nb.sandbox import Sandbox, Settings
from tests.test_notebooks import FULL_JWT

ROOT = Path(__file__).resolve().parents[1]
#: The comment above the lines that hand the notebook's settings over to the plain code.
SETTINGS_MARK = re.compile(r"^# Your settings: put your own values on the lines below", re.M)
#: Where the copyable part ends: the comparison with the library, for the notebook only.
COMPARISON_MARK = "# Only in this notebook:"

#: Per notebook: the module the plain cell imports for its step, and what its code must say.
STEPS = {
    "02": ("urllib.parse", ["urlencode(", '"response_type": "code"', '"state": state']),
    "03": ("requests", ["requests.post(", "auth=(api_key, api_secret)", '"grant_type": "authorization_code"',
                        '"code": code', '"redirect_uri": redirect_uri', "timeout="]),
    "04": ("jwt", ["jwt.PyJWKClient(", "/v1/keys", 'algorithms=["RS256"]', "audience=", "issuer=issuer"]),
    "05": ("requests", ["requests.post(", "auth=(api_key, api_secret)", '"grant_type": "refresh_token"', "timeout="]),
    "06": ("requests", ["requests.get(", '"Authorization": f"Bearer {access_token}"', '"Subscription-Id"',
                        '"Request-Id": request_id', "uuid.uuid4()", "timeout="]),
    "07": ("requests", ["requests.post(", "auth=(api_key, api_secret)", '"grant_type": "client_credentials"',
                        "timeout="]),
}


def notebook(number: str) -> Path:
    return next((ROOT / "notebooks").glob(f"{number}-*.ipynb"))


def plain_cells(number: str) -> list[tuple[int, dict]]:
    cells = json.loads(notebook(number).read_text())["cells"]
    return [(i, c) for i, c in enumerate(cells)
            if c["cell_type"] == "code" and SETTINGS_MARK.search("".join(c["source"]))]


def plain_cell(number: str) -> str:
    found = plain_cells(number)
    assert len(found) == 1, f"notebook {number} has {len(found)} plain-code cells"
    return "".join(found[0][1]["source"])


def parts(source: str) -> tuple[str, str, str]:
    """(the imports above the mark, the settings lines under it, the copyable code after them);
    the comparison at the end is left out."""
    mark = SETTINGS_MARK.search(source)
    head, rest = source[:mark.start()], source[mark.end():].split("\n", 1)[1]
    settings, _, code = rest.partition("\n\n")
    return head, settings, code.split(COMPARISON_MARK)[0]


def imported(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
    return names


@pytest.mark.parametrize("number", sorted(STEPS))
def test_the_notebook_has_one_plain_cell_for_its_step(number):
    source = plain_cell(number)
    module, says = STEPS[number]
    modules = imported(source)
    assert not any(name.split(".")[0] == "fortellis_nb" for name in modules), modules
    assert module in modules
    for fact in says:
        assert fact in source, fact
    assert COMPARISON_MARK in source  # the cell shows it agrees with the library


@pytest.mark.parametrize("number", sorted(STEPS))
def test_the_settings_are_handed_over_in_one_place(number):
    """Only the marked lines read the notebook (``client``, ``tokens``, ``fresh``); each is an
    assignment, so the learner sees what to put their own values in place of."""
    head, settings, code = parts(plain_cell(number))
    assert all(isinstance(node, ast.Assign) for node in ast.parse(settings).body) and settings.strip()
    assert "client." in settings
    read = {node.id for node in ast.walk(ast.parse(head + code)) if isinstance(node, ast.Name)}
    assert not read & {"client", "tokens", "fresh", "redact"}, read


@pytest.mark.parametrize("number", sorted(STEPS))
def test_a_markdown_cell_before_says_what_to_copy(number):
    index, _ = plain_cells(number)[0]
    cells = json.loads(notebook(number).read_text())["cells"]
    before = next("".join(c["source"]) for c in reversed(cells[:index]) if c["cell_type"] == "markdown")
    assert before.startswith("### ") and "plain Python" in before.splitlines()[0]
    assert "Copy" in before and "your own settings" in before


@pytest.mark.parametrize("number", sorted(STEPS))
def test_the_committed_run_shows_agreement_with_the_library(number):
    cell = plain_cells(number)[0][1]
    shown = "".join("".join(o.get("text", "")) for o in cell["outputs"] if o["output_type"] == "stream")
    assert "True" in shown and "False" not in shown, shown
    assert all(o["output_type"] == "stream" and o["name"] == "stdout" for o in cell["outputs"])


@pytest.fixture(params=["tutorial", "fortellis-2022"])
def notebook_state(request):
    """What a notebook holds before its plain cell: a client on a sandbox of that token shape,
    tokens from a sign-in, and a fresh redirect whose code is not used yet."""
    with tempfile.TemporaryDirectory() as state, \
            Sandbox(Settings(state_dir=state, token_profile=request.param)) as sandbox:
        client = sandbox_client(sandbox.info)
        tokens = catch_up(client)
        fresh = client.parse_redirect(client.sign_in_headless(client.authorization_url(scopes="openid offline_access")))
        yield {"client": client, "tokens": tokens, "fresh": fresh}


def run_alone(number: str, notebook_state: dict, capsys) -> tuple[dict, str]:
    """The copyable part of the cell, run with nothing of the notebook but the settings lines."""
    head, settings, code = parts(plain_cell(number))
    given: dict = dict(notebook_state)
    exec(settings, given)
    alone = {name: given[name] for node in ast.parse(settings).body for target in node.targets
             for name in ([target.id] if isinstance(target, ast.Name) else [e.id for e in target.elts])}
    exec(head + code, alone)
    return alone, capsys.readouterr().out


@pytest.mark.parametrize("number", sorted(STEPS))
def test_the_plain_code_runs_on_a_sandbox_with_only_its_settings(number, notebook_state, capsys):
    client, tokens = notebook_state["client"], notebook_state["tokens"]
    alone, printed = run_alone(number, notebook_state, capsys)
    if number == "02":
        assert alone["plain_url"].startswith(client.metadata.endpoint("authorization_endpoint") + "?")
    elif number == "04":
        assert alone["access_claims"] == tokens.access_claims and alone["id_claims"] == tokens.id_claims
    else:
        assert alone["answer"].status_code == 200, alone["answer"].text[:200]
    # What it prints keeps tokens, codes and the secret shortened.
    basic = base64.b64encode(f"{client.config.api_key}:{client.config.api_secret}".encode()).decode()
    assert not FULL_JWT.search(printed)
    for whole in (client.config.api_secret, basic, tokens.refresh_token, notebook_state["fresh"].code):
        assert whole not in printed
