"""The tutorial's own curl examples, run word for word with the real ``curl`` against
the sandbox. Only the tutorial's placeholders are filled in: the issuer for
``$[authServerUrl]``, real codes, the real Basic header and the real refresh token.

The commands come from a committed copy (``data/tutorial-curl.txt``) of the curl blocks in
``shared/seed/authorization-code-flow.md``; when that file is beside the repository, one
test checks the copy still matches it.

Curl reads a ``.curlrc`` written for the test (through ``CURL_HOME``) that makes it print
the HTTP status after the body, so the commands themselves stay untouched."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import jwt
import pytest

HERE = Path(__file__).parent
COMMITTED = HERE / "data" / "tutorial-curl.txt"
SEED = Path(__file__).parents[2].parent / "shared" / "seed" / "authorization-code-flow.md"

# The tutorial's placeholders and example values, exactly as it prints them.
AUTH_SERVER = "$[authServerUrl]"
FIRST_BASIC = "Basic MG9hY..."
LATER_BASIC = "Basic Ul...I3WA=="
FIRST_CODE = "P59yPm1_X1gxtdEOEZjn"
OFFLINE_CODE = "YqCyB3IS9xCAYJSCsd6F"
REFRESH_TOKEN = "iztTKKkT5L7V8DeJhiGIAtvR4jVKlHBt1pHCek69o7M"
EXAMPLE_REDIRECT = "https://example.com/"

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="the curl command is not installed")


def curl_blocks(markdown: str) -> list[str]:
    """The fenced bash blocks of the tutorial that are curl commands, unindented."""
    blocks = re.findall(r"```bash\n(.*?)```", markdown, re.DOTALL)
    return [b for b in (textwrap.dedent(b).strip("\n") for b in blocks) if b.startswith("curl")]


def committed_commands() -> list[str]:
    return COMMITTED.read_text().strip("\n").split("\n\n")


COMMANDS = committed_commands()
CODE_EXCHANGE, QUERY_EXCHANGE, QUERY_REFRESH = COMMANDS


def fill(command: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        assert placeholder in command, f"{placeholder!r} is not in the tutorial's command any more"
        command = command.replace(placeholder, value)
    return command


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


@pytest.fixture
def run_curl(tmp_path):
    """Run one command line with bash (the first example continues lines with backslashes)."""
    home = tmp_path / "curl-home"
    home.mkdir()
    (home / ".curlrc").write_text('write-out = "\\n%{http_code}"\nnoproxy = "*"\nmax-time = 20\n')
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["CURL_HOME"] = str(home)

    def run(command: str) -> tuple[int, dict]:
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, timeout=30,
                              check=False)
        assert done.returncode == 0, done.stderr
        body, _, status = done.stdout.rpartition("\n")
        return int(status), json.loads(body)

    return run


def test_the_committed_commands_are_the_three_curl_examples():
    assert len(COMMANDS) == 3
    assert all(c.startswith("curl ") for c in COMMANDS)
    assert "--data 'grant_type=authorization_code" in CODE_EXCHANGE
    assert "grant_type=authorization_code" in QUERY_EXCHANGE and "--data" not in QUERY_EXCHANGE
    assert "grant_type=refresh_token" in QUERY_REFRESH


@pytest.mark.skipif(not SEED.exists(), reason=f"the tutorial is not at {SEED}")
def test_the_committed_copy_matches_the_tutorial():
    assert curl_blocks(SEED.read_text()) == COMMANDS


@needs_curl
def test_code_exchange_with_a_form_body(info, browser, run_curl):
    code = browser.sign_in(redirect_uri=EXAMPLE_REDIRECT, scope="openid")["code"]
    status, body = run_curl(fill(CODE_EXCHANGE, {
        AUTH_SERVER: info.issuer, FIRST_BASIC: basic(info.api_key, info.api_secret), FIRST_CODE: code}))

    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "openid"
    assert {"access_token", "id_token"} <= body.keys()
    assert "refresh_token" not in body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["cid"], claims["scp"], claims["aud"]) == (info.api_key, ["openid"], "api_providers")


@needs_curl
def test_query_only_exchange_then_refresh_as_the_tutorial_does(info, browser, run_curl):
    code = browser.sign_in(redirect_uri=EXAMPLE_REDIRECT, scope="offline_access")["code"]
    header = basic(info.api_key, info.api_secret)
    status, body = run_curl(fill(QUERY_EXCHANGE, {AUTH_SERVER: info.issuer, LATER_BASIC: header,
                                                  OFFLINE_CODE: code}))

    assert status == 200, body
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 3600, "offline_access")
    assert {"access_token", "refresh_token"} <= body.keys()
    assert "id_token" not in body  # no openid in this request, as in the tutorial's example

    # The refresh example also sends the (now used) code and the redirect URI; both are ignored.
    status, renewed = run_curl(fill(QUERY_REFRESH, {AUTH_SERVER: info.issuer, LATER_BASIC: header,
                                                    OFFLINE_CODE: code, REFRESH_TOKEN: body["refresh_token"]}))

    assert status == 200, renewed
    assert renewed["refresh_token"] == body["refresh_token"]
    assert (renewed["token_type"], renewed["expires_in"], renewed["scope"]) == ("Bearer", 3600, "offline_access")
    assert renewed["access_token"] != body["access_token"]


@needs_curl
def test_the_tutorials_basic_order_secret_first_is_refused_and_named(info, browser, run_curl):
    code = browser.sign_in(redirect_uri=EXAMPLE_REDIRECT, scope="openid")["code"]
    status, body = run_curl(fill(CODE_EXCHANGE, {
        AUTH_SERVER: info.issuer, FIRST_BASIC: basic(info.api_secret, info.api_key), FIRST_CODE: code}))

    assert status == 401  # Okta's answer: an unknown client (fortellis_nb.oauth's hint names the swap)
    assert body == {"error": "invalid_client", "error_description": "Client authentication failed. Either the client "
                    "or the client credentials are invalid."}
