"""Property-based tests of ``parse_redirect``: whatever is pasted, it never crashes (only
errors of our family come out), and it accepts a URL only when the scheme, host and path a
browser would read from it are exactly those of the configured redirect URI.

The oracle reads the URL the way the WHATWG URL standard (a browser) does for the parts
that matter here: a backslash ends the host like a slash, ``@`` introduces user info, and
the host is compared without decoding. It shares no code with the parser.
"""

from __future__ import annotations

import re
import string
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fortellis_nb.oauth import errors
from fortellis_nb.oauth.redirect import parse_redirect

REDIRECTS = ["https://example.com/", "http://127.0.0.1:8765/callback/", "https://app.example.org:8443/cb/done/"]
PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- the oracle: what a browser would make of the URL -----------------------------------

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def browser_view(text: str):
    """(scheme, host, port, path) as a browser reads them, or None when the text is not a
    plain http(s) URL a browser would load the same way (control characters, user info)."""
    match = re.fullmatch(r"([A-Za-z][A-Za-z0-9+.\-]*)://([^/\\?#]*)([^?#]*)(\?[^#]*)?(#.*)?", text, re.S)
    if not match:
        return None
    scheme, authority, path = match.group(1).lower(), match.group(2), match.group(3)
    if "@" in authority or any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        return None
    host, _, port = authority.rpartition(":") if re.search(r":\d*$", authority) else (authority, "", "")
    port = port or _DEFAULT_PORTS.get(scheme, "")
    return scheme, host.lower(), port.lstrip("0") or "0", path.replace("\\", "/") or "/"


def expected_view(redirect_uri: str):
    return browser_view(redirect_uri)


def try_parse(text: str, redirect_uri: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return parse_redirect(text, redirect_uri=redirect_uri)
        except errors.FortellisError as error:
            assert error.description and error.error
            return None


def accepted_target(text: str, response) -> tuple | None:
    """What the accepted URL points at, as the oracle sees it (the tutorial's form without
    '?' moves its last path segment into the query, as the parser announces in a note)."""
    view = browser_view(response.url)
    if view is None:
        return None
    if response.notes:
        scheme, host, port, path = view
        view = scheme, host, port, path.rpartition("/")[0] + "/"
    return view


def check(text: str, redirect_uri: str) -> None:
    response = try_parse(text, redirect_uri)
    if response is None:
        return
    assert response.code, text
    assert accepted_target(text, response) == expected_view(redirect_uri), (
        f"{text!r} was accepted for {redirect_uri!r}")


# --- strategies --------------------------------------------------------------------

TRICKS = ["@", "\\", "//", "%2F", "%2f", "%5C", "\t", "\x00", " ", ";", "#", "?", "&", "%00", "%40", ":",
          ".", "..", "%2e", "\n", "\r", "\u2028", "\uff0e", "\u200b", "'", '"', "<", ">"]
HOSTS = ["example.com", "EXAMPLE.COM", "evil.com", "example.com.evil.com", "evil.com@example.com",
         "example.com@evil.com", "evil.com\\@example.com", "example.com\\@evil.com", "example.com%2F@evil.com",
         "example.com:443", "example.com:80", "example.com:0443", "example.com:", "example.com.", "[::1]",
         "[::1", "127.0.0.1:8765", "127.0.0.1:8765@evil.com", "evil.com#@127.0.0.1:8765",
         "app.example.org:8443", "user:pass@app.example.org:8443", "app.example.org:8443\\@evil.com",
         "127.0.0.1:99999", "127.0.0.1:abc", "xn--exmple-cua.com", "exa\x00mple.com", "\u0435xample.com"]
SCHEMES = ["https", "http", "HTTPS", "HtTp", "ftp", "javascript", "file", "https:", ""]
SEPARATORS = ["://", ":/", ":\\\\", "//", ":///", ":\\/", "://\t", ":"]
PATHS = ["/", "", "/callback/", "/cb/done/", "//evil.com/", "/%2F", "/%2Fevil.com", "\\", "/\\evil.com",
         "/;evil", "/callback;x/", "/./", "/callback/./", "/callback/../callback/", "/%2e%2e/", "/CALLBACK/",
         "/callback", "/cb/done", "/callback//", "/\x00/", "/callback/%00", "/cb/done/?", "/code=abc&state=s"]
PARAM_NAMES = ["code", "state", "error", "error_description", "iss", "Code", "code ", "code%00", ""]
CLEAN = st.text(alphabet=string.ascii_letters + string.digits + "-_.~", max_size=12)
VALUES = st.one_of(CLEAN, CLEAN, CLEAN, st.text(alphabet=string.ascii_letters + "%;&=#?@/\\ \t\x00", max_size=8))


@st.composite
def queries(draw):
    pairs = draw(st.lists(st.tuples(st.sampled_from(PARAM_NAMES), VALUES), max_size=4))
    if draw(st.sampled_from([True, True, True, False])):
        pairs.insert(0, ("code", draw(st.text(string.ascii_letters + string.digits, min_size=1, max_size=20))))
    separator = draw(st.sampled_from(["&", ";", "&&", "&amp;"]))
    query = separator.join(f"{k}={v}" for k, v in pairs)
    return draw(st.sampled_from(["?"] * 6 + ["", "#", "?#", "#?", "??"])) + query


@st.composite
def redirect_like(draw, redirect_uri: str):
    """A URL built from the configured URI's own parts: as is, with one part swapped for a
    known trick or one stray character spliced in, or assembled from tricks throughout."""
    scheme, rest = redirect_uri.split("://", 1)
    netloc, path = rest.split("/", 1)
    parts = [draw(st.sampled_from([scheme, scheme.upper()])), "://",
             draw(st.sampled_from([netloc, netloc.upper()])), "/" + path, draw(queries())]
    mode = draw(st.sampled_from(["genuine", "one part", "one character", "wild"]))
    pools = [SCHEMES, SEPARATORS, HOSTS, PATHS]
    if mode == "one part":
        at = draw(st.integers(0, 3))
        parts[at] = draw(st.sampled_from(pools[at]))
    elif mode == "wild":
        parts[:4] = [draw(st.sampled_from(pool)) for pool in pools]
    if draw(st.booleans()):
        parts.append("#" + draw(VALUES))
    text = "".join(parts)
    for _ in range({"one character": 1, "wild": draw(st.integers(0, 2))}.get(mode, 0)):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(TRICKS)) + text[at:]
    if mode == "wild":
        text = draw(st.sampled_from(["", " ", "\x00", "'", "<", "\ufeff"])) + text
    return text


def with_configured(redirect_uri: str, tail: str) -> str:
    base = redirect_uri.split("://", 1)[1]
    return f"{redirect_uri.split('://')[0]}://{base}{tail}"


KNOWN_TRICKS = [
    ("https://evil.com\\@example.com/?code=abc", "https://example.com/"),
    ("https://evil.com@example.com/?code=abc", "https://example.com/"),
    ("https://example.com@evil.com/?code=abc", "https://example.com/"),
    ("https://example.com\\@evil.com/?code=abc", "https://example.com/"),
    ("https://example.com//evil.com/?code=abc", "https://example.com/"),
    ("https://example.com/%2F?code=abc", "https://example.com/"),
    ("https://example.com/\t?code=abc", "https://example.com/"),
    ("\x00https://example.com/?code=abc", "https://example.com/"),
    ("https://example.com\x00.evil.com/?code=abc", "https://example.com/"),
    (" https://evil.com/?code=abc", "https://example.com/"),
    ("https://example.com/;evil?code=abc", "https://example.com/"),
    ("https://example.com/?code=abc;state=x", "https://example.com/"),
    ("https://example.com/?code=a&code=b", "https://example.com/"),
    ("https://evil.com/#https://example.com/?code=abc", "https://example.com/"),
    ("https://[::1/?code=abc", "https://example.com/"),
    ("http://127.0.0.1:8765@evil.com/callback/?code=abc", "http://127.0.0.1:8765/callback/"),
]


# --- the properties ------------------------------------------------------------------

@PROPERTY
@given(data=st.data(), redirect_uri=st.sampled_from(REDIRECTS))
def test_only_the_configured_redirect_uri_is_accepted(data, redirect_uri):
    check(data.draw(redirect_like(redirect_uri), label="text"), redirect_uri)


@pytest.mark.parametrize("text, redirect_uri", KNOWN_TRICKS)
def test_the_known_tricks_obey_the_property(text, redirect_uri):
    check(text, redirect_uri)


@PROPERTY
@given(text=st.text(max_size=80), redirect_uri=st.sampled_from(REDIRECTS))
def test_any_text_gives_a_result_or_one_of_our_errors(text, redirect_uri):
    check(text, redirect_uri)


@PROPERTY
@given(tail=st.lists(st.sampled_from(TRICKS + list("abc=/&")), max_size=8).map("".join),
       redirect_uri=st.sampled_from(REDIRECTS))
def test_tricks_right_after_the_configured_uri(tail, redirect_uri):
    """The configured URI followed by tricks: ``https://example.com/@evil``, ``.../\\..``, ..."""
    check(with_configured(redirect_uri, tail + "?code=abc"), redirect_uri)
    check(redirect_uri.rstrip("/") + tail + "?code=abc", redirect_uri)


@pytest.mark.parametrize("text", [
    "https://evil.com\\@example.com/?code=abc",
    "https://evil.com@example.com/?code=abc",
    "https://user:pw@example.com/?code=abc",
    "\x00https://example.com/?code=abc",
    "https://example.com/\x7f?code=abc",
])
def test_the_known_tricks_are_refused_with_a_clear_message(text):
    with pytest.raises(errors.RedirectParseError) as caught:
        parse_redirect(text, redirect_uri="https://example.com/")
    assert caught.value.hint


def test_a_broken_host_is_our_error_not_a_crash():
    with pytest.raises(errors.NotAURLError, match="not a URL|not an http"):
        parse_redirect("https://[::1/?code=abc", redirect_uri="https://example.com/")


def test_the_genuine_redirect_still_parses():
    assert parse_redirect("HTTPS://Example.COM:443/?code=abc&state=s", redirect_uri="https://example.com/").code == "abc"
