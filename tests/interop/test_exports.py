"""The session's exports, opened and replayed by the real tools: newman runs the Postman
collection's client-credentials request and API call, httpyac the same from the .http file
(the API Secret given to each as a variable), and the HAR passes the HAR 1.2 schema
(har-validator). Against a sandbox, after a whole flow."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from fortellis_nb.local import sandbox_client

from .npm_cache import HERE, npm_package

NEWMAN, HTTPYAC, HAR_VALIDATOR = "newman@6.2.2", "httpyac@6.16.7", "har-validator@5.1.5"
FULL_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{20,}")


@pytest.fixture
def session(sandbox, tmp_path):
    """A client that went through the whole flow, then client credentials and an API call with
    the app's own token; its exports written to files."""
    client = sandbox_client(sandbox.info, clock=sandbox.settings.clock)
    request = client.authorization_url(scopes="openid offline_access")
    tokens = client.exchange_code(client.parse_redirect(client.sign_in_headless(request)))
    client.refresh()
    client.call_api("/sandbox/v1/dealership")
    app_token = client.client_credentials()
    client.call_api("/sandbox/v1/dealership", access_token=app_token.access_token)
    files = {"postman": tmp_path / "session.postman_collection.json", "http": tmp_path / "session.http",
             "har": tmp_path / "session.har"}
    files["postman"].write_text(client.transcript.to_postman())
    files["http"].write_text(client.transcript.to_http())
    files["har"].write_text(client.transcript.to_har())
    return {"client": client, "info": sandbox.info, "files": files, "tokens": tokens, "app_token": app_token}


def test_no_export_holds_a_secret_a_token_or_a_code(session):
    secrets = [session["info"].api_secret, session["tokens"].access_token, session["tokens"].id_token,
               session["tokens"].refresh_token, session["app_token"].access_token]
    codes = [dict(e.form or {}).get("code") for e in session["client"].transcript if e.form]
    for path in session["files"].values():
        text = path.read_text()
        assert not FULL_JWT.search(text), path.name
        for value in [*secrets, *filter(None, codes)]:
            assert value not in text, (path.name, value[:8])


def test_newman_replays_the_client_credentials_request_and_the_api_call(session, tmp_path):
    folder = npm_package(NEWMAN, "newman")
    report = tmp_path / "newman.json"
    done = subprocess.run(["node", str(folder / "node_modules" / "newman" / "bin" / "newman.js"), "run",
                           str(session["files"]["postman"]), "--folder", "Client credentials",
                           "--folder", "Call the API (2)", "--env-var", f"api_secret={session['info'].api_secret}",
                           "--reporters", "json", "--reporter-json-export", str(report)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run = json.loads(report.read_text())["run"]
    assert run["failures"] == []
    answers = [(e["item"]["name"], e["response"]["code"]) for e in run["executions"]]
    assert answers == [("Client credentials", 200), ("Call the API (2)", 200)]
    body = json.loads(bytes(run["executions"][1]["response"]["stream"]["data"]))
    assert body["caller"]["scopes"] == ["anonymous"] and body["subscriptionId"] == session["info"].subscription_id


def test_without_the_secret_newman_gets_okta_s_refusal(session, tmp_path):
    folder = npm_package(NEWMAN, "newman")
    report = tmp_path / "newman.json"
    subprocess.run(["node", str(folder / "node_modules" / "newman" / "bin" / "newman.js"), "run",
                    str(session["files"]["postman"]), "--folder", "Client credentials", "--reporters", "json",
                    "--reporter-json-export", str(report)], capture_output=True, text=True, timeout=120)
    response = json.loads(report.read_text())["run"]["executions"][0]["response"]
    assert response["code"] == 401
    assert json.loads(bytes(response["stream"]["data"]))["error"] == "invalid_client"


def test_httpyac_replays_the_api_call_and_the_token_request_it_needs(session, tmp_path):
    folder = npm_package(HTTPYAC, "httpyac", min_node=(18,))
    work = tmp_path / "httpyac"
    work.mkdir()
    shutil.copy(session["files"]["http"], work / "session.http")  # httpyac reads files under its cwd
    done = subprocess.run(["node", str(folder / "node_modules" / "httpyac" / "bin" / "httpyac.js"), "send",
                           "session.http", "--name", "call_the_api_2", "--var", f"api_secret={session['info'].api_secret}",
                           "--json"], cwd=work, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout)
    sent = [(r["name"], r["response"]["statusCode"]) for r in result["requests"]]
    assert sorted(sent) == [("call_the_api_2", 200), ("client_credentials", 200)]  # the one asked for, and its @ref
    assert result["summary"]["failedRequests"] == 0


def test_the_har_passes_the_har_1_2_schema(session):
    folder = npm_package(HAR_VALIDATOR, "har-validator")
    shutil.copyfile(HERE / "har_validate.mjs", folder / "har_validate.mjs")
    done = subprocess.run(["node", "har_validate.mjs", str(session["files"]["har"])], cwd=folder,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "VALID", done.stdout + done.stderr
    entries = json.loads(session["files"]["har"].read_text())["log"]["entries"]
    assert len(entries) == len(session["client"].transcript)
    assert [e["comment"] for e in entries][-2:] == ["Client credentials", "Call the API"]
