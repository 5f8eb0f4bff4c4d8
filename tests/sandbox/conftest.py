"""A browser stand-in for the sandbox's own tests: plain HTTP, no client library of ours,
so these tests check the server independently of ``fortellis_nb.oauth``."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


class Browser:
    """Plays a person's browser against the sandbox: cookies, forms, no redirects followed."""

    def __init__(self, info):
        self.info = info
        self.http = requests.Session()

    def authorize_params(self, **overrides) -> dict:
        params = {
            "client_id": self.info.api_key,
            "response_type": "code",
            "scope": "openid offline_access",
            "redirect_uri": self.info.redirect_uri,
            "state": "state-" + secrets.token_hex(8),
            "nonce": "nonce-" + secrets.token_hex(8),
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, **overrides) -> requests.Response:
        return self.http.get(f"{self.info.issuer}/v1/authorize", params=self.authorize_params(**overrides),
                             allow_redirects=False)

    def submit(self, page: requests.Response, *, username=None, password=None) -> requests.Response:
        """Sign in on a sign-in page."""
        fields = dict(HIDDEN.findall(page.text))
        fields.update(username=username or self.info.username, password=password or self.info.password,
                      action="sign-in")
        return self.http.post(f"{self.info.issuer}/v1/authorize", data=fields, allow_redirects=False)

    def consent(self, page: requests.Response, action: str = "allow") -> requests.Response:
        """Press Allow (or Don't allow: ``action="deny"``) on a consent page."""
        assert "Allow" in page.text and 'value="deny"' in page.text, page.text[:300]
        fields = dict(HIDDEN.findall(page.text), action=action)
        return self.http.post(f"{self.info.issuer}/v1/authorize", data=fields, allow_redirects=False)

    def sign_in(self, **overrides) -> dict:
        """The whole browser part: authorize, sign in, return the redirect's parameters."""
        page = self.authorize(**overrides)
        response = self.submit(page) if page.status_code == 200 else page
        assert response.status_code == 302, response.text[:500]
        return redirect_params(response)


def redirect_params(response: requests.Response) -> dict:
    location = urlsplit(response.headers["Location"])
    return {k: v[0] for k, v in parse_qs(location.fragment or location.query).items()}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def token_request(info, data: dict, *, auth="basic", params=None) -> requests.Response:
    kwargs = {}
    if auth == "basic":
        kwargs["auth"] = (info.api_key, info.api_secret)
    elif auth == "body":
        data = {**data, "client_id": info.api_key, "client_secret": info.api_secret}
    elif isinstance(auth, tuple):
        kwargs["auth"] = auth
    return requests.post(f"{info.issuer}/v1/token", data=data, params=params,
                         headers={"Accept": "application/json"}, **kwargs)


def exchange(info, code: str, redirect_uri: str | None = None, **extra) -> requests.Response:
    return token_request(info, {"grant_type": "authorization_code", "code": code,
                                "redirect_uri": redirect_uri or info.redirect_uri, **extra})


@pytest.fixture
def info(sandbox):
    return sandbox.info


@pytest.fixture
def browser(info):
    return Browser(info)


@pytest.fixture
def tokens(info, browser):
    """A completed flow: the token response for the demo user with openid and offline_access."""
    code = browser.sign_in()["code"]
    response = exchange(info, code)
    assert response.status_code == 200, response.text
    return response.json()
