"""The local layer: the two ways to a sandbox client, and a sandbox named by settings
recognised by the local layer, never by the protocol client."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fortellis_nb import lessons
from fortellis_nb.local import SandboxClient, recognise, sandbox_client, start
from fortellis_nb.oauth import FortellisClient, errors, hints
from fortellis_nb.oauth.config import Config, not_the_sandbox
from tests.oauth.conftest import local_server  # noqa: F401  (a fixture: a tiny HTTP server)


def settings_naming(info) -> dict:
    """FORTELLIS_* settings that name a sandbox, as a workshop room's participants set them."""
    return {"FORTELLIS_ISSUER": info.issuer, "FORTELLIS_API_KEY": info.api_key,
            "FORTELLIS_API_SECRET": info.api_secret, "FORTELLIS_REDIRECT_URI": info.redirect_uri}


def test_fortellis_token_shapes_are_a_setting_derived_from_the_issuer():
    fortellis = Config(issuer="https://identity.fortellis.io/oauth2/aus1p1ixy7YL8cMq02p7", api_key="k", api_secret="s")
    okta = Config(issuer="https://login.example.com/oauth2/default", api_key="k", api_secret="s")
    assert fortellis.fortellis_tokens is True and okta.fortellis_tokens is False
    assert okta.replace(issuer=fortellis.issuer).fortellis_tokens is True  # derived again for a new issuer
    assert Config(issuer=okta.issuer, api_key="k", api_secret="s", fortellis_tokens=True).fortellis_tokens
    # Settings applied with the same issuer (the settings form always sends it) keep what the
    # local layer found out about it.
    known = Config(issuer=okta.issuer, api_key="k", api_secret="s", fortellis_tokens=True)
    assert known.replace(issuer=okta.issuer, api_key="other").fortellis_tokens is True


def test_the_protocol_client_asks_no_server_whether_it_is_a_sandbox(sandbox):
    client = FortellisClient(Config(issuer=sandbox.info.issuer, api_key="k", api_secret="s"))
    assert client.fortellis_issuer is False and client.is_sandbox is False and client.access_audience is None
    assert len(client.transcript) == 0


def test_the_local_layer_recognises_a_sandbox_named_by_settings(sandbox):
    client = start(env=settings_naming(sandbox.info), dotenv=False)
    assert isinstance(client, SandboxClient) and not client.config.is_sandbox  # no demo user known
    assert client.fortellis_issuer and client.is_sandbox and client.access_audience == "api_providers"
    assert [e.url for e in client.transcript.exchanges] == [sandbox.info.base_url + "/sandbox/health"]
    with pytest.raises(errors.SandboxOnlyError):
        client.sign_in_headless(client.authorization_url())
    signed_in = client.sign_in_headless(client.authorization_url(), sandbox.info.username, sandbox.info.password)
    assert client.parse_redirect(signed_in).issued_at is not None  # the sandbox said when it issued the code


def test_only_plain_http_issuers_are_asked_and_only_a_sandbox_is_recognised(local_server):
    https = FortellisClient(Config(issuer="https://login.example.com/oauth2/default", api_key="k", api_secret="s"))
    assert recognise(https) is https and not https.fortellis_issuer and len(https.transcript) == 0
    impostor = local_server({("GET", "/sandbox/health"): lambda h: (200, {}, {"status": "ok", "sandbox": True,
                                                                             "issuer": "http://elsewhere/"})})
    client = recognise(FortellisClient(Config(issuer=impostor.url + "/oauth2/default", api_key="k", api_secret="s")))
    assert not client.fortellis_issuer and not client.is_sandbox
    asked = len(client.transcript)
    assert recognise(recognise(client)) is client and len(client.transcript) == asked == 1  # asked once


def test_sandbox_client_takes_a_sandbox_at_hand_and_settings_override_its_demo_app(sandbox):
    client = sandbox_client(sandbox.info, redirect_uri="https://example.com/")
    assert isinstance(client, SandboxClient) and client.config.is_sandbox and client.fortellis_issuer
    assert client.config.redirect_uri == "https://example.com/" and client.config.sources["redirect_uri"] == "argument"
    assert sandbox_client(sandbox.info.as_dict()).config.issuer == sandbox.info.issuer


def test_a_server_the_settings_name_that_does_not_answer_is_the_network_with_where_and_the_way_back(tmp_path,
                                                                                                  capsys):
    dotenv = tmp_path / ".env"
    dotenv.write_text("FORTELLIS_ISSUER=https://identity.example.invalid/oauth2/aus1\nFORTELLIS_API_KEY=key\n"
                      "FORTELLIS_API_SECRET=secret\n")
    env = {"FORTELLIS_API_BASE_URL": "http://127.0.0.1:1/api"}  # nothing listens on port 1
    client = lessons.start(env=env, dotenv=dotenv)
    assert capsys.readouterr().out == not_the_sandbox(client.config.issuer, client.config.sources) + "\n"
    assert f"(set by FORTELLIS_ISSUER, FORTELLIS_API_KEY and FORTELLIS_API_SECRET in {dotenv.resolve()}; " \
           "FORTELLIS_API_BASE_URL in the environment)" in not_the_sandbox(client.config.issuer, client.config.sources)
    with pytest.raises(errors.HostNotFoundError) as unresolved:
        client.authorization_url()
    with pytest.raises(errors.ConnectionRefused) as refused:
        client.call_api("/sandbox/v1/dealership", access_token="not-sent-anywhere")
    for caught, origin in ((unresolved, f"The issuer comes from FORTELLIS_ISSUER in {dotenv.resolve()}."),
                           (refused, "The API base URL comes from FORTELLIS_API_BASE_URL in the environment.")):
        error = caught.value
        assert error.response is None and error.hint.startswith(type(error).default_hint)
        assert hints.NO_ANSWER in error.hint and origin in error.hint and error.hint.endswith(hints.BACK_TO_SANDBOX)


def test_a_server_that_answers_with_a_refusal_is_not_called_the_network(sandbox):
    settings = {**settings_naming(sandbox.info), "FORTELLIS_API_SECRET": "not-the-secret"}
    client = start(env=settings, dotenv=False)
    with pytest.raises(errors.InvalidClientError) as caught:
        client.client_credentials()
    assert caught.value.response is not None and hints.NO_ANSWER not in caught.value.hint
    assert hints.BACK_TO_SANDBOX not in caught.value.hint


def test_the_local_sandbox_that_stopped_is_not_sent_back_to_itself(sandbox):
    client = sandbox_client(sandbox.info)
    sandbox.stop()
    with pytest.raises(errors.ConnectionRefused) as caught:
        client.authorization_url()
    assert caught.value.hint == errors.ConnectionRefused.default_hint  # its settings are the sandbox's own


def test_start_finds_a_running_sandbox_without_importing_the_server(tmp_path):
    """A notebook's first cell: the running sandbox (a background one, as the notebooks share) is
    found by its server.json and health page; tornado, the route table and the sandbox's
    cryptography stay unimported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORTELLIS_")}
    state = str(tmp_path / "state")
    sandbox = [sys.executable, "-m", "fortellis_nb.sandbox"]
    started = subprocess.run([*sandbox, "start", "--state", state], capture_output=True, text=True, timeout=120, env=env)
    try:
        assert started.returncode == 0, started.stderr
        shown = subprocess.run(
            [sys.executable, "-c", "import json, sys\nfrom fortellis_nb.local import start\n"
             "client = start(state_dir=sys.argv[1], env={}, dotenv=False)\n"
             "print(json.dumps([client.config.issuer, sorted(m for m in sys.modules if m.startswith("
             "('tornado', 'fortellis_nb.sandbox')))]))", state], capture_output=True, text=True, timeout=120, env=env)
    finally:
        subprocess.run([*sandbox, "stop", "--state", state], capture_output=True, timeout=120, env=env)
    assert shown.returncode == 0, shown.stderr
    issuer, imported = json.loads(shown.stdout)
    assert issuer == json.loads(started.stdout)["issuer"]
    assert imported == ["fortellis_nb.sandbox", "fortellis_nb.sandbox.ids", "fortellis_nb.sandbox.launcher",
                        "fortellis_nb.sandbox.state"]
