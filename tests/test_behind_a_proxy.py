"""Behind a company's proxy: HTTP_PROXY and HTTPS_PROXY set (upper and lower case), no NO_PROXY.

The proxy here is a port that refuses every connection: whatever reaches the sandbox on this
machine through it fails. The install check, the launcher, the client and the notebooks'
plain requests and PyJWT calls still work, because a sandbox here is reached directly; a
server elsewhere still goes through the proxy (a stand-in that records what it was asked),
and a proxy that refuses a request is an error of its own that names its variable."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import jwt
import pytest
import requests

from fortellis_nb.local import sandbox_client, start
from fortellis_nb.oauth import errors
from fortellis_nb.oauth.transcript import Http, proxies_for, reach_loopback_directly
from fortellis_nb.sandbox import running_sandbox, stop_sandbox

PROXY_VARIABLES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")
NO_PROXY_VARIABLES = ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY")
ROOT = Path(__file__).resolve().parents[1]
#: A host that resolves nowhere: only a proxy can answer for it.
ELSEWHERE = "http://fortellis.invalid"


@pytest.fixture(scope="module")
def refusing_port():
    """A port bound but not listening: every connection to it is refused, and no other
    process can take it while the tests run."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


def proxy_environment(proxy: str) -> dict[str, str]:
    """This process's environment as a managed laptop has it: every proxy variable names
    ``proxy``, nothing in NO_PROXY, no FORTELLIS_* setting."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FORTELLIS_") and k not in PROXY_VARIABLES + NO_PROXY_VARIABLES}
    return {**env, **dict.fromkeys(PROXY_VARIABLES, proxy)}


@pytest.fixture
def behind_the_proxy(monkeypatch, refusing_port):
    """The proxy variables set in this process (requests reads them per request), restored after."""
    proxy = f"http://learner:pa55word@127.0.0.1:{refusing_port}"
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, proxy)
    for name in NO_PROXY_VARIABLES:
        monkeypatch.setenv(name, "")
    return proxy


class Recorder(BaseHTTPRequestHandler):
    """A proxy stand-in: it answers every request itself, with the target it was asked for."""

    asked: ClassVar[list[str]] = []

    def do_GET(self):
        Recorder.asked.append(self.path)  # a proxy is sent the whole URL
        body = json.dumps({"answered_by": "the proxy", "asked": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def recording_proxy(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Recorder.asked = []
    address = f"http://127.0.0.1:{server.server_port}"
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, address)
    for name in NO_PROXY_VARIABLES:
        monkeypatch.setenv(name, "")
    try:
        yield Recorder.asked
    finally:
        server.shutdown()
        server.server_close()


def test_the_install_check_passes_and_says_what_the_proxy_is_for(tmp_path, refusing_port):
    proxy = f"http://learner:pa55word@127.0.0.1:{refusing_port}"
    done = subprocess.run([sys.executable, "-m", "fortellis_nb", "check", "--state-dir", str(tmp_path / "state")],
                          env=proxy_environment(proxy), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    said = next(line for line in lines if line.startswith("PASS  proxy: "))
    assert "https_proxy" in said and "http_proxy" in said and "Fortellis" in said and "sandbox" in said
    assert "pa55word" not in done.stdout  # the proxy's password is not shown
    assert any(line.startswith("PASS  flow: call the API: ") for line in lines)
    assert running_sandbox(tmp_path / "state") is None


def test_without_a_proxy_the_check_has_no_proxy_line():
    from fortellis_nb.install import Report, _proxy

    lines: list[str] = []
    _proxy(Report(lines.append), {"NO_PROXY": "corp.example"})
    assert lines == []


def test_the_launcher_starts_reports_and_stops_a_sandbox_behind_a_refusing_proxy(tmp_path, refusing_port):
    """In a process of its own: urllib reads the proxy variables when the launcher is imported."""
    env = proxy_environment(f"http://127.0.0.1:{refusing_port}")
    state = str(tmp_path / "state")

    def sandbox(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "fortellis_nb.sandbox", *command, "--state", state], env=env,
                              capture_output=True, text=True, timeout=60)

    try:
        assert sandbox("start").returncode == 0
        assert json.loads(sandbox("status").stdout)["base_url"].startswith("http://127.0.0.1:")
        assert sandbox("report").returncode == 0
        assert sandbox("stop").returncode == 0
    finally:
        stop_sandbox(state)
    assert running_sandbox(state) is None


def test_the_client_reaches_a_sandbox_directly(sandbox, behind_the_proxy):
    client = sandbox_client(sandbox.info)
    request = client.authorization_url(scopes="openid offline_access")
    tokens = client.exchange_code(client.parse_redirect(client.sign_in_headless(request)))
    assert tokens.access_token and client.refresh().access_token
    assert client.call_api("/sandbox/v1/dealership").status == 200
    assert client.session().get("/sandbox/v1/dealership").status_code == 200


def test_the_notebooks_plain_requests_and_pyjwt_reach_the_sandbox_directly(tmp_path, behind_the_proxy):
    """Notebooks 03 to 07 show each step in plain requests and PyJWT (whose key fetch is urllib):
    the notebooks' start() puts this machine's names in NO_PROXY, as a learner would by hand."""
    state = tmp_path / "state"
    try:
        client = start(state_dir=state, env={}, dotenv=False)
        assert os.environ["NO_PROXY"] == os.environ["no_proxy"] == "localhost,127.0.0.1,::1"
        issuer = client.config.issuer
        assert requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).status_code == 200
        assert jwt.PyJWKClient(f"{issuer}/v1/keys", timeout=10).get_signing_keys()
    finally:
        stop_sandbox(state)


def test_the_install_check_asks_a_jupyter_server_here_directly(behind_the_proxy):
    """On a hub, the check asks this user's Jupyter server (on this machine) for the sandbox's
    health through jupyter-server-proxy; here a stand-in answers for that path."""
    from fortellis_nb.install import Report, check_hub_proxy

    class JupyterServerProxy(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"sandbox": True}).encode() if self.path == "/user/lee/proxy/8099/sandbox/health" else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), JupyterServerProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lines: list[str] = []
    try:
        check_hub_proxy(Report(lines.append), "http://127.0.0.1:8099", {
            "JUPYTERHUB_SERVICE_PREFIX": "/user/lee/", "JUPYTERHUB_API_TOKEN": "t",
            "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{server.server_port}/user/lee/"})
    finally:
        server.shutdown()
        server.server_close()
    assert lines[0].startswith("PASS  sandbox through the hub's proxy: "), lines


def test_no_proxy_keeps_what_the_learner_set_and_is_not_repeated():
    env = {"NO_PROXY": "corp.example, .internal"}
    reach_loopback_directly(env)
    reach_loopback_directly(env)
    assert env["no_proxy"] == env["NO_PROXY"] == "corp.example,.internal,localhost,127.0.0.1,::1"
    everything = {"no_proxy": "*"}
    reach_loopback_directly(everything)
    assert everything == {"no_proxy": "*"}


def test_a_redirect_on_this_machine_stays_direct(behind_the_proxy):
    class Redirecting(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302 if self.path == "/first" else 200)
            self.send_header("Location", f"http://localhost:{self.server.server_port}/second")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/first"
        answer = requests.get(url, proxies=proxies_for(url), timeout=10)
        assert answer.status_code == 200 and answer.url.endswith("/second") and answer.history
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_elsewhere_goes_through_the_proxy(recording_proxy):
    exchange = Http().send("GET", f"{ELSEWHERE}/.well-known/openid-configuration")
    assert exchange.status == 200 and exchange.json()["answered_by"] == "the proxy"
    assert recording_proxy == [f"{ELSEWHERE}/.well-known/openid-configuration"]


def test_a_refusing_proxy_is_a_proxy_error_that_names_its_variable(behind_the_proxy):
    http = Http()
    with pytest.raises(errors.ProxyError) as raised:
        http.send("GET", f"{ELSEWHERE}/.well-known/openid-configuration")
    error = raised.value
    assert isinstance(error, errors.NetworkError) and error.error == "proxy_error"
    assert "http_proxy" in error.description and "pa55word" not in str(error)
    assert "`http_proxy`" in error.hint and "`fortellis.invalid`" in error.hint and "NO_PROXY" in error.hint
    assert http.transcript.last.failure == "ProxyError"


def test_notebooks_01_to_06_pass_nbval_behind_the_refusing_proxy(tmp_path, refusing_port):
    """Copies of notebooks 01 to 06, strict nbval against their committed outputs, in a
    process whose proxy variables name the refusing port. Notebook 01's install check prints
    one line more there (the proxy it found): the comparison leaves that line out."""
    notebooks = sorted((ROOT / "notebooks").glob("0[1-6]-*.ipynb"))
    work = tmp_path / "notebooks"
    work.mkdir()
    for path in notebooks:
        shutil.copyfile(path, work / path.name)
    rules = tmp_path / "sanitize.cfg"
    rules.write_text((ROOT / "tests" / "nbval-sanitize.cfg").read_text()
                     + "\n[proxy-line]\nregex: PASS  proxy: [^\\r\\n]*\\r?\\n\nreplace: \n")
    env = {**proxy_environment(f"http://127.0.0.1:{refusing_port}"), "FORTELLIS_SANDBOX_STATE": str(tmp_path / "state"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                               "--nbval-sanitize-with", str(rules), *(p.name for p in notebooks)],
                              cwd=work, env=env, capture_output=True, text=True, timeout=900)
    finally:
        stop_sandbox(tmp_path / "state")
    assert done.returncode == 0, done.stdout[-6000:]
    assert "failed" not in done.stdout
