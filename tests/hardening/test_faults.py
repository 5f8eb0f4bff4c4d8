"""Faults a workshop meets, each seen from the protocol layer and from the widgets: a server
that is slow, answers an HTML page or cut-off JSON, refuses the connection, a key set that
cannot be fetched or holds a key we cannot read, and the sandbox killed in the middle of a
flow and started again. Each ends in one of our errors with a message that says what failed
and what to do; nothing ends in a traceback, and after a restart the learner carries on."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import jwt as pyjwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from fortellis_nb.local import sandbox_client
from fortellis_nb.oauth.config import Config
from fortellis_nb.oauth import FortellisClient, errors
from fortellis_nb.oauth.transcript import Http
from fortellis_nb.widgets import Flow, Playground, RedirectCatcher
from fortellis_nb.widgets.playground import steps_done

from ..oauth.conftest import LocalServer, free_port
from ..widgets.conftest import text

TIMEOUT = 0.5  # seconds the client waits in these tests

# --- a fake Fortellis whose answers can be broken on purpose ---------------------------

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
GOOD_JWK = {**json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "good", "use": "sig",
            "alg": "RS256"}
#: Keys a client may meet next to a good one: another key type, a broken RSA key, junk.
ODD_JWKS = [{"kty": "EC", "crv": "P-999", "kid": "ec", "x": "AA", "y": "AA"}, {"kty": "OKP", "kid": "ed"},
            {"kty": "RSA", "kid": "broken", "n": "%%%", "e": "AQAB"}, {"kty": 5, "kid": ["odd"]}, {}, "not a key",
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"}]


class FakeFortellis:
    """Discovery and token endpoint on one local server, the key set on another (so it can
    be down while the rest is up); ``keys`` and ``token`` choose how each answers."""

    def __init__(self):
        self._keys_mode = "ok"
        self.token = "ok"
        self.kid = "good"
        self.server = LocalServer({
            ("GET", "/.well-known/openid-configuration"): self._discovery,
            ("POST", "/v1/token"): self._token,
        }).__enter__()
        self.url = self.server.url
        self.keys_port = free_port()
        self.keys_server = None
        self._start_keys()

    def _start_keys(self):
        server = LocalServer({("GET", "/v1/keys"): self._keys})
        server.server.server_close()  # rebind it on the fixed port
        server.server = type(server.server)(("127.0.0.1", self.keys_port), server.server.RequestHandlerClass)
        server.thread = type(server.thread)(target=server.server.serve_forever, kwargs={"poll_interval": 0.05},
                                            daemon=True)
        self.keys_server = server.__enter__()

    @property
    def keys(self) -> str:
        return self._keys_mode

    @keys.setter
    def keys(self, mode: str) -> None:
        self._keys_mode = mode
        if mode == "refused" and self.keys_server is not None:
            self.keys_server.__exit__()
            self.keys_server = None
        elif mode != "refused" and self.keys_server is None:
            self._start_keys()

    def close(self):
        self.server.__exit__()
        if self.keys_server is not None:
            self.keys_server.__exit__()

    def _discovery(self, handler):
        u = self.url
        return 200, {}, {"issuer": u, "authorization_endpoint": u + "/v1/authorize",
                         "token_endpoint": u + "/v1/token", "jwks_uri": f"http://127.0.0.1:{self.keys_port}/v1/keys"}

    def _keys(self, handler):
        if self.keys == "html":
            return 503, {"Content-Type": "text/html"}, "<html><title>503 Service Unavailable</title></html>"
        if self.keys == "truncated":
            return 200, {"Content-Type": "application/json"}, json.dumps({"keys": [GOOD_JWK]})[:70]
        if self.keys == "slow":
            time.sleep(TIMEOUT * 3)
        if self.keys == "mixed":
            return 200, {}, {"keys": ODD_JWKS + [GOOD_JWK]}
        return 200, {}, {"keys": [GOOD_JWK]}

    def _token(self, handler):
        if self.token == "html":
            return 502, {"Content-Type": "text/html"}, "<html><head><title>502 Bad Gateway</title></head></html>"
        if self.token == "html200":
            return 200, {"Content-Type": "text/html"}, "<html><head><title>Sign in</title></head></html>"
        if self.token == "truncated":
            return 200, {"Content-Type": "application/json"}, '{"access_token": "eyJhbGciOi", "token_ty'
        if self.token == "slow":
            time.sleep(TIMEOUT * 3)
        now = int(time.time())
        access = pyjwt.encode({"iss": self.url, "aud": "api_providers", "iat": now, "exp": now + 3600,
                               "jti": "AT.1", "cid": "key", "sub": "learner@example.com", "scp": ["openid"]},
                              KEY, algorithm="RS256", headers={"kid": self.kid})
        id_token = pyjwt.encode({"iss": self.url, "aud": "key", "sub": "00u1", "iat": now, "exp": now + 3600,
                                 "jti": "ID.1"}, KEY, algorithm="RS256", headers={"kid": self.kid})
        return 200, {}, {"access_token": access, "token_type": "Bearer", "expires_in": 3600, "scope": "openid",
                         "id_token": id_token}


@pytest.fixture(scope="module")
def fake():
    server = FakeFortellis()
    yield server
    server.close()


@pytest.fixture
def fortellis(fake):
    fake.keys = fake.token = "ok"
    fake.kid = "good"
    return fake


def client_for(issuer: str) -> FortellisClient:
    """A client of the fake: it is on a local address, so the client is told to check its access
    tokens as Fortellis' (it does so by itself only for Fortellis' issuers and the sandbox)."""
    config = Config(issuer=issuer, api_key="key", api_secret="the-api-secret", redirect_uri="https://example.com/")
    return FortellisClient(config, http=Http(timeout=TIMEOUT), access_token_audience="api_providers")


# (what breaks, how, the error class, words the message must contain)
FAULTS = [
    ("token", "slow", errors.Timeout, ["no complete answer within 0.5 s"]),
    ("token", "html", errors.UnexpectedResponseError, ["failed on the server", "HTTP 502"]),
    ("token", "html200", errors.NotJSONError, ["HTML page titled 'Sign in'", "not JSON"]),
    ("token", "truncated", errors.NotJSONError, ["cut off or malformed"]),
    ("keys", "html", errors.UnexpectedResponseError, ["signing keys (JWKS) could not be fetched", "HTTP 503"]),
    ("keys", "truncated", errors.NotJSONError, ["signing keys (JWKS) could not be fetched", "cut off"]),
    ("keys", "slow", errors.Timeout, ["signing keys (JWKS) could not be fetched", "no complete answer"]),
    ("keys", "refused", errors.ConnectionRefused, ["signing keys (JWKS) could not be fetched", "refused"]),
]
IDS = [f"{where}-{how}" for where, how, _, _ in FAULTS]


@pytest.mark.parametrize("where, how, kind, words", FAULTS, ids=IDS)
def test_the_protocol_layer_names_the_fault(fortellis, where, how, kind, words):
    setattr(fortellis, where, how)
    client = client_for(fortellis.url)
    with pytest.raises(kind) as caught:
        client.exchange_code("a-code")
    message = str(caught.value)
    for word in words:
        assert word in message, message
    assert caught.value.hint, message
    assert "Traceback" not in message and "the-api-secret" not in message
    error = caught.value  # one clear error, not a stack of someone else's
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


@pytest.mark.parametrize("where, how, kind, words", FAULTS, ids=IDS)
def test_the_widget_shows_the_fault_and_recovers(fortellis, where, how, kind, words):
    client = client_for(fortellis.url)
    flow = Flow(client, live=False)
    catcher = RedirectCatcher(flow)
    request = client.authorization_url(scopes="openid", nonce=False)
    catcher.receive(f"https://example.com/?code=a-code&state={request.state}")
    setattr(fortellis, where, how)
    assert catcher.exchange() is None
    shown = text(catcher.error)
    assert catcher.error.error is not None and isinstance(catcher.error.error, kind)
    assert "Exchanging the code failed" in shown and "What to do:" in shown
    for word in words:
        assert word in shown, shown
    assert "Traceback" not in shown and "the-api-secret" not in shown
    # The server comes back: the same button works (a new code, as a learner would sign in again).
    setattr(fortellis, where, "ok")
    request = client.authorization_url(scopes="openid", nonce=False)
    catcher.receive(f"https://example.com/?code=another-code&state={request.state}")
    assert catcher.exchange() is not None and catcher.error.error is None
    catcher.close()
    flow.close()


def test_an_unreadable_key_next_to_a_good_one_is_skipped(fortellis):
    fortellis.keys = "mixed"
    client = client_for(fortellis.url)
    tokens = client.exchange_code("a-code")
    assert tokens.access_claims["iss"] == fortellis.url  # verified with the good key
    assert [k.get("kid") for k in client.jwks._signing_keys()] == ["broken", "good"]


def test_a_token_naming_the_unreadable_key_is_refused_clearly(fortellis):
    fortellis.keys, fortellis.kid = "mixed", "broken"
    client = client_for(fortellis.url)
    with pytest.raises(errors.TokenVerificationError, match="'broken' is unusable") as caught:
        client.exchange_code("a-code")
    assert caught.value.error == "invalid_jwks" and "do not trust" in caught.value.hint


def test_the_widget_shows_an_unreadable_key(fortellis):
    fortellis.keys, fortellis.kid = "mixed", "broken"
    client = client_for(fortellis.url)
    catcher = RedirectCatcher(client, live=False)
    request = client.authorization_url(scopes="openid", nonce=False)
    catcher.receive(f"https://example.com/?code=a-code&state={request.state}")
    assert catcher.exchange() is None
    assert "invalid_jwks" in text(catcher.error) and "unusable" in text(catcher.error)
    catcher.close()


def test_connection_refused_in_the_protocol_layer_and_the_widget():
    client = client_for(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(errors.ConnectionRefused) as caught:
        client.authorization_url()
    assert "connection refused" in str(caught.value) and "is it running" in caught.value.hint
    catcher = RedirectCatcher(client, live=False)
    catcher.receive("https://example.com/?code=a-code&state=s")
    shown = text(catcher.error)
    assert "connection_refused" in shown and "is it running" in shown and "Traceback" not in shown
    catcher.close()


# --- the sandbox killed in the middle of a flow -----------------------------------------

class SandboxProcess:
    """``python -m fortellis_nb.sandbox`` in a child process, killable with SIGKILL."""

    def __init__(self, state, port):
        self.state, self.port, self.process = state, port, None

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fortellis_nb.sandbox", "--port", str(self.port), "--state", str(self.state)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        assert line, "the sandbox did not start"
        return json.loads(line)

    def kill(self):
        self.process.kill()
        self.process.wait(timeout=10)
        self.process.stdout.close()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process.stdout.close()


@pytest.fixture
def sandbox_process(tmp_path):
    process = SandboxProcess(tmp_path / "state", free_port())
    yield process
    process.stop()


def test_the_sandbox_killed_mid_flow_and_restarted(sandbox_process):
    info = sandbox_process.start()
    client = sandbox_client(info)
    app = requests.post(f"{info['base_url']}/sandbox/apps", timeout=10,
                        json={"name": "Before the crash", "redirect_uris": ["https://example.com/"]}).json()
    first = client.exchange_code(client.parse_redirect(client.sign_in_headless(
        client.authorization_url(scopes="openid offline_access"))))
    # Mid-flow: signed in, the code is in hand, not yet exchanged.
    pending = client.parse_redirect(client.sign_in_headless(client.authorization_url(scopes="openid offline_access")))
    playground = Playground(sandbox_client(info), live=False).run_unattended()
    assert steps_done(playground.flow) == [True] * 5

    sandbox_process.kill()
    with pytest.raises(errors.ConnectionRefused) as caught:
        client.refresh()
    assert "connection refused" in str(caught.value) and "is it running" in caught.value.hint
    playground.refresher.refresh_button.click()
    shown = text(playground.refresher.error)
    assert "connection_refused" in shown and "is it running" in shown and "Traceback" not in shown

    again = sandbox_process.start()
    assert {k: again[k] for k in ("issuer", "api_key", "api_secret", "subscription_id")} == {
        k: info[k] for k in ("issuer", "api_key", "api_secret", "subscription_id")}
    # Nothing lost: the pending code, the refresh token, the access token and its key, the app.
    second = client.exchange_code(pending)
    assert second.access_claims["sub"] == first.access_claims["sub"]
    assert client.refresh(refresh_token=first.refresh_token).refresh_token == first.refresh_token
    assert client.call_api("/sandbox/v1/dealership", access_token=first.access_token).status == 200
    apps = requests.get(f"{info['base_url']}/sandbox/apps", headers={"Accept": "application/json"}, timeout=10)
    assert app["api_key"] in [a["api_key"] for a in apps.json()]
    # The learner in the widget clicks again and carries on.
    playground.refresher.refresh_button.click()
    assert playground.refresher.error.error is None
    playground.caller.call_button.click()
    assert playground.caller.error.error is None and playground.flow.api_response.status == 200
    playground.close()
