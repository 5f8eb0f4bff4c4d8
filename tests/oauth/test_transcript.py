import io
import socket
import subprocess
import shutil
from contextlib import redirect_stdout

import pytest

from fortellis_nb.oauth import errors
from fortellis_nb.oauth.tokens import basic_authorization
from fortellis_nb.oauth.redact import shorten
from fortellis_nb.oauth.transcript import Http

from .conftest import free_port


def test_shorten_keeps_five_characters_like_the_tutorial():
    assert shorten("MG9hYzE2ZjIzNDU2Nzg5") == "MG9hY..."
    assert shorten("abc") == "..."


def test_token_request_renders_as_the_tutorials_curl(client, info):
    tokens = client.client_credentials()
    curl = tokens.exchange.as_curl()
    assert curl.splitlines() == [
        "curl --request POST \\",
        f"  --url {info.issuer}/v1/token \\",
        "  --header 'accept: application/json' \\",
        f"  --header 'authorization: {basic_authorization(info.api_key, info.api_secret)[:11]}...' \\",
        "  --header 'content-type: application/x-www-form-urlencoded' \\",
        "  --data 'grant_type=client_credentials&scope=anonymous'",
    ]
    assert info.api_secret not in curl
    assert tokens.access_token not in tokens.exchange.response_text()
    assert tokens.access_token[:5] + "..." in tokens.exchange.response_text()
    assert tokens.access_token in tokens.exchange.response_text(full=True)


def test_tokens_and_passwords_are_shortened_in_every_rendering(client, info):
    from .conftest import signed_in
    tokens = client.exchange_code(signed_in(client))
    client.refresh()
    # (The sign-in page itself prints the sandbox's public demo password; only JSON answers count.)
    everything = "\n".join(e.as_curl() + e.as_python() + str(e.as_dict()["request_headers"])
                           + (e.response_text() if e.content_type == "application/json" else "")
                           for e in client.transcript)
    for secret in (info.api_secret, info.password, tokens.access_token, tokens.refresh_token, tokens.id_token):
        assert secret not in everything
    assert "password=********" in everything
    assert "refresh_token=" + tokens.refresh_token[:5] + "..." in everything


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_full_curl_replays_against_the_sandbox(client):
    exchange = client.client_credentials().exchange
    result = subprocess.run(["bash", "-c", exchange.as_curl(full=True) + " --silent"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert '"access_token"' in result.stdout and '"scope":"anonymous"' in result.stdout.replace(" ", "")


def test_full_python_replays_against_the_sandbox(client):
    exchange = client.client_credentials().exchange
    out = io.StringIO()
    with redirect_stdout(out):
        exec(compile(exchange.as_python(full=True), "<replay>", "exec"), {})
    status, _, body = out.getvalue().partition(" ")
    assert status == "200" and "access_token" in body


def test_each_exchange_records_status_headers_body_and_time(client):
    client.client_credentials()
    exchange = client.transcript.last
    assert exchange.method == "POST" and exchange.status == 200
    assert exchange.form == [("grant_type", "client_credentials"), ("scope", "anonymous")]
    assert exchange.request_body == "grant_type=client_credentials&scope=anonymous"
    assert exchange.header("content-type").startswith("application/json")
    assert exchange.elapsed > 0 and exchange.started_at > 0
    assert "-> 200" in str(exchange)


def _assert_clean(exc):
    assert isinstance(exc, errors.FortellisError)
    assert exc.__suppress_context__ and exc.__cause__ is None
    assert exc.hint
    assert exc.exchange is not None


def test_connection_refused_is_ours():
    http = Http()
    with pytest.raises(errors.ConnectionRefused) as caught:
        http.send("GET", f"http://127.0.0.1:{free_port()}/x")
    _assert_clean(caught.value)
    assert http.transcript.last.failure


def test_silence_becomes_a_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        with pytest.raises(errors.Timeout) as caught:
            Http(timeout=0.3).send("GET", f"http://127.0.0.1:{listener.getsockname()[1]}/")
        _assert_clean(caught.value)
    finally:
        listener.close()


def test_tls_to_a_plain_http_server_is_a_tls_error(local_server):
    server = local_server({("GET", "*"): lambda h: (200, {}, {"ok": True})})
    with pytest.raises(errors.TLSError) as caught:
        Http(timeout=5).send("GET", server.url.replace("http://", "https://"))
    _assert_clean(caught.value)


def test_html_page_instead_of_json_names_the_page(local_server):
    server = local_server({("POST", "/v1/token"): lambda h: (200, {"Content-Type": "text/html"},
                                                           "<html><head><title>Sign In</title></head></html>")})
    exchange = Http().send("POST", server.url + "/v1/token", form={"a": "b"})
    with pytest.raises(errors.NotJSONError) as caught:
        exchange.json()
    assert "Sign In" in str(caught.value)
    _assert_clean(caught.value)


def test_unresolvable_host_is_ours():
    with pytest.raises(errors.NetworkError) as caught:
        Http(timeout=5).send("GET", "http://nonexistent.invalid/")
    _assert_clean(caught.value)
