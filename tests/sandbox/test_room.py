"""Instructor mode: one sandbox for a room. Each participant signs up as their own user and
registers their own app; the instructor sees, per app, how far it got."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import requests

from .conftest import Browser, exchange, token_request


def participant(info, n: int) -> dict:
    """What a participant does in the portal: sign up, register an app with the sandbox's callback,
    and (playing a dealer) activate it for a Subscription-Id."""
    user = {"username": f"p{n}@room.example", "password": f"password-{n}", "name": f"Participant {n}"}
    assert requests.post(f"{info.base_url}/sandbox/users", json=user).status_code == 201
    app = requests.post(f"{info.base_url}/sandbox/apps",
                        json={"name": f"App of p{n}", "redirect_uris": [info.redirect_uri]}).json()
    activated = requests.post(f"{info.base_url}/sandbox/subscriptions",
                              json={"api_key": app["api_key"], "dealership": f"Dealer of p{n}"}).json()
    return {**user, **app, "subscription_id": activated["subscription_id"]}


def whole_flow(info, p: dict, *, refresh=True, api=True) -> None:
    me = info.__class__(**{**info.as_dict(), "api_key": p["api_key"], "api_secret": p["api_secret"],
                          "username": p["username"], "password": p["password"]})
    code = Browser(me).sign_in()["code"]
    tokens = exchange(me, code).json()
    assert "access_token" in tokens and "refresh_token" in tokens
    if refresh:
        assert token_request(me, {"grant_type": "refresh_token",
                                  "refresh_token": tokens["refresh_token"]}).status_code == 200
    if api:
        answer = requests.get(f"{info.api_base_url}/sandbox/v1/dealership",
                              headers={"Authorization": f"Bearer {tokens['access_token']}",
                                       "Subscription-Id": p["subscription_id"]})
        assert answer.status_code == 200 and answer.json()["caller"]["user"] == p["username"]


def admin(info) -> dict:
    return {"Authorization": f"Bearer {info.admin_token}"}


def test_each_participant_s_progress_is_counted_per_app(info):
    first, second, third = (participant(info, n) for n in (1, 2, 3))
    whole_flow(info, first)
    whole_flow(info, second, api=False)
    whole_flow(info, second, refresh=False, api=False)
    rows = {r["name"]: r for r in requests.get(f"{info.base_url}/sandbox/admin/progress", headers=admin(info)).json()}
    assert {k: rows["App of p1"][k] for k in ("exchanges", "refreshes", "api_calls")} == \
        {"exchanges": 1, "refreshes": 1, "api_calls": 1}
    assert {k: rows["App of p2"][k] for k in ("exchanges", "refreshes", "api_calls")} == \
        {"exchanges": 2, "refreshes": 1, "api_calls": 0}
    assert rows["App of p3"]["exchanges"] == 0 and rows["App of p3"]["last"] is None
    assert rows["Sandbox Demo App"]["exchanges"] == 0 and third["api_key"] == rows["App of p3"]["api_key"]


def test_progress_needs_the_admin_token(info):
    assert requests.get(f"{info.base_url}/sandbox/admin/progress").status_code == 401
    assert requests.get(f"{info.base_url}/sandbox/admin/progress",
                        headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_the_instructor_page(info):
    whole_flow(info, participant(info, 7))
    page = requests.get(f"{info.base_url}/sandbox/instructor")
    assert page.status_code == 200 and 'name="admin_token"' in page.text and "App of p7" not in page.text
    refused = requests.post(f"{info.base_url}/sandbox/instructor", data={"admin_token": "guess"})
    assert refused.status_code == 401 and "App of p7" not in refused.text
    shown = requests.post(f"{info.base_url}/sandbox/instructor", data={"admin_token": info.admin_token})
    row = re.search(r"<tr><td>App of p7</td>.*?</tr>", shown.text, re.S).group(0)
    assert re.findall(r"<td>(\d+)</td>", row) == ["1", "1", "1"]
    assert info.admin_token not in shown.text


def test_the_report_command(tmp_path):
    state = str(tmp_path / "state")
    run = lambda *args: subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", *args, "--state", state],
                                       capture_output=True, text=True, timeout=30)
    assert run("report").returncode == 1
    info = json.loads(run("start").stdout)
    try:
        requests.post(f"{info['issuer']}/v1/token", auth=(info["api_key"], info["api_secret"]),
                      data={"grant_type": "client_credentials", "scope": "anonymous"}).raise_for_status()
        table = run("report")
        assert table.returncode == 0, table.stderr
        lines = table.stdout.splitlines()
        assert lines[0].split() == ["app", "api", "key", "exchanges", "refreshes", "api", "calls", "last", "(UTC)"]
        assert lines[1].startswith("Sandbox Demo App") and info["api_key"] in lines[1]
        assert lines[-1] == "2 apps; 0 got through exchange, refresh and an API call."  # the two demo apps
        rows = json.loads(run("report", "--json").stdout)
        assert rows[0]["client_credentials"] == 1 and rows[0]["exchanges"] == 0
    finally:
        run("stop")
