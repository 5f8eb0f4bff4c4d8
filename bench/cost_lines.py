"""What one token request costs the sandbox, line by line, measured in-process.

Each line times a real part of the sandbox on its own, on one core, many times over:

* the RS256 signature(s) alone (``cryptography``, the 2048-bit key), and again while another
  process keeps the other core busy, as it is inside a loaded server;
* turning claims into a JWT around the signature (JSON, base64url), and the at_hash;
* the grant itself: client authentication, the database, the claims (``TokenEndpoint.issue``);
* the rest of the direct route: parsing the form, the JSON answer and its headers;
* the HTTP/1.1 layer with the event loop and the kernel's part: ``--serve-fixed SIZE`` serves
  a direct route with a fixed answer of the same size, which the runner loads like the real
  endpoint and measures from ``/proc``.

The runner sets the sum against the CPU a sandbox process really spends per request.

    .venv/bin/python bench/cost_lines.py
"""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tornado import httputil  # noqa: E402

from fortellis_nb.sandbox.authority import Settings  # noqa: E402
from fortellis_nb.sandbox.identity import TokenEndpoint, token_route  # noqa: E402
from fortellis_nb.sandbox.server import Sandbox  # noqa: E402


class _NoSignature:
    """A private key whose signature is a constant: the signature is timed on its own."""

    def __init__(self, real):
        self._size = real.key_size // 8

    def sign(self, data, pad, algorithm):
        return b"\0" * self._size


def _per_call_us(fn, seconds: float) -> float:
    """Median of five timed batches, in µs per call."""
    fn()
    batch, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds / 10:
        fn()
        batch += 1
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        runs.append((time.perf_counter() - t0) / batch * 1e6)
    return sorted(runs)[2]


def measure(seconds: float = 1.0) -> dict:
    """µs per request for each line, for client_credentials and refresh_token."""
    with tempfile.TemporaryDirectory(prefix="fortellis-cost-") as tmp:
        sandbox = Sandbox(Settings(state_dir=Path(tmp)))
        try:
            return _measure(sandbox, seconds)
        finally:
            sandbox.store.close()


def _measure(sandbox: Sandbox, seconds: float) -> dict:
    authority, store = sandbox.authority, sandbox.store
    authority.base_url = "http://127.0.0.1:8000"
    api_key, secret = store.meta("demo_api_key"), store.meta("demo_api_secret")
    basic = "Basic " + base64.b64encode(f"{api_key}:{secret}".encode()).decode()
    endpoint, route = TokenEndpoint(authority), token_route(authority)
    user = store.users()[0]
    refresh = "r" * 43
    grant_id = store.add_grant(api_key=api_key, user_id=user.id, scopes=["openid", "offline_access"],
                               auth_time=authority.now, now=authority.now, refresh_token=refresh)
    key = authority.signing_key()

    forms = {
        "client_credentials": b"grant_type=client_credentials&scope=anonymous",
        "refresh": f"grant_type=refresh_token&refresh_token={refresh}".encode(),
    }
    headers = httputil.HTTPHeaders({"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded",
                                    "Accept": "application/json"})
    signing_input = key.sign({"x": 1}).rpartition(".")[0].encode()
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    def sign_once():
        key.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())

    raw_sign = _per_call_us(sign_once, seconds)
    # Inside a loaded server the other core is busy too (the load generator, a sibling
    # worker): time the signature again with another process spinning on the other core.
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        busy_sign = _per_call_us(sign_once, seconds)
    finally:
        spinner.kill()
        spinner.wait(10)
    # Every other line is timed with the signature replaced by a constant, so a few µs are not
    # lost in the noise of a 900 µs signature.
    unsigned = dataclasses.replace(key, private_key=_NoSignature(key.private_key))
    authority.signing_key = lambda: unsigned
    result = {"rs256_sign_us": raw_sign, "rs256_sign_other_core_busy_us": busy_sign, "flows": {}}
    for flow, body in forms.items():
        def sources(body=body):
            return (httputil.parse_qs_bytes("", keep_blank_values=True),
                    httputil.parse_qs_bytes(body, keep_blank_values=True))

        issued = endpoint.issue(basic, "application/x-www-form-urlencoded", True, sources())
        signatures = 1 + (issued.id_claims is not None)
        issue_us = _per_call_us(lambda: endpoint.issue(basic, "application/x-www-form-urlencoded", True,
                                                       sources()), seconds)
        encode_us = _per_call_us(issued.sign, seconds)
        route_us = _per_call_us(lambda body=body: route("", headers, body), seconds)
        status, _headers, answer = route("", headers, body)
        assert status == 200 and b"access_token" in answer, answer[:200]
        store.flush()
        result["flows"][flow] = {
            "signatures": signatures,
            "sign_us": raw_sign * signatures,
            "sign_busy_extra_us": max(busy_sign - raw_sign, 0.0) * signatures,
            "jwt_encoding_us": encode_us,
            "grant_us": issue_us,
            "route_rest_us": max(route_us - issue_us - encode_us, 0.0),
            "route_unsigned_us": route_us,
            "answer_bytes": len(answer),
        }
    assert grant_id
    return result


def serve_fixed(body_size: int) -> None:
    """The sandbox's HTTP/1.1 layer alone: ``POST /token`` answered by a direct route with a
    fixed JSON body of ``body_size`` bytes and the token endpoint's headers, nothing else.
    Prints the port, then serves until killed. The runner loads it like the real endpoint."""
    import asyncio

    import tornado.netutil
    import tornado.web

    from fortellis_nb.sandbox.http1 import HTTP1Server
    from fortellis_nb.sandbox.web import json_headers

    answer = json.dumps({"access_token": "x" * max(body_size - 30, 1)}).encode()

    def fixed(query, headers, body):
        return 200, json_headers(), answer

    async def run():
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        server = HTTP1Server(tornado.web.Application([]), routes={("POST", "/token"): fixed})
        server.add_sockets(sockets)
        print(sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-fixed":
        serve_fixed(int(sys.argv[2]))
        return 0
    figures = measure()
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
