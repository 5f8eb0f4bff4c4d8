"""What the notebooks state in prose is what the code does. Each fact a sentence teaches is
checked here against the constant or the server table that makes it true, so that a sentence
cannot contradict the server a few cells below it."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from fortellis_nb.oauth.tokens import CODE_LIFETIME
from fortellis_nb.sandbox import Settings, okta

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def prose(path: Path) -> str:
    """The markdown of a notebook, without emphasis marks."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown").replace("**", "")


def notebook(prefix: str) -> Path:
    return next(p for p in NOTEBOOKS if p.name.startswith(prefix))


def test_the_client_and_the_sandbox_agree_on_the_code_s_lifetime():
    sandbox_default = next(f.default for f in dataclasses.fields(Settings) if f.name == "code_lifetime")
    assert CODE_LIFETIME == sandbox_default == 60


def test_every_sentence_on_the_code_s_lifetime_says_the_client_s_constant():
    # "within 60 seconds", "the code's 60 seconds", "lives 60 seconds"
    said = [int(n) for path in NOTEBOOKS
            for n in re.findall(r"(?:within|code's|lives|code for) (\d+) seconds", prose(path))]
    assert len(said) >= 4  # the sentences are there to check
    assert set(said) == {CODE_LIFETIME}


def test_notebook_05_names_the_error_the_server_gives_a_widened_refresh():
    answer = okta.ERRORS["refresh_scopes_denied"].error
    text = prose(notebook("05"))
    named = re.findall(r"`(access_denied|invalid_scope|invalid_grant|invalid_request)`", text)
    assert named and set(named) == {answer}


@pytest.mark.parametrize("value", ["1", "req-1", "2aabcd13-2c70-44d2-b3ce-48c3f110fdb6"])
def test_notebook_06_and_its_exercise_accept_any_request_id_the_gateway_does(value):
    from fortellis_nb.exercises import check_api_headers

    assert not re.search(r"Request-Id[^.]*must be a UUID", prose(notebook("06")))
    headers = {"Authorization": "Bearer t", "Subscription-Id": "s", "Request-Id": value}
    assert check_api_headers(headers, access_token="t", subscription_id="s")
