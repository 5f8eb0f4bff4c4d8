"""What the redaction module lets through: codes shortened wherever they sit in a text."""

import re

from fortellis_nb.oauth import redact

CODE = "QPiq2pLyxet7mSdMp9Gf"


def test_a_code_parameter_is_shortened_in_any_text():
    shown = redact.text(f"pasted http://127.0.0.1:8123/callback/?code={CODE}&state=abc")
    assert CODE not in shown and "code=QPiq2...&state=abc" in shown


def test_a_code_inside_another_urls_value_is_shortened_too():
    # A redirect URL given as a scope: the authorize URL carries it percent-encoded.
    nested = f"http://h/v1/authorize?scope=openid+http://h/cb/%3Fcode%3D{CODE}%26state%3Dabc&state=s"
    shown = redact.text(nested)
    assert CODE not in shown and f"code%3D{CODE[:5]}...%26state%3Dabc&state=s" in shown


def test_only_a_parameter_named_code_is_shortened():
    assert redact.text(f"http://h/?zipcode={CODE}&x%3Dcode%3D{CODE}") == f"http://h/?zipcode={CODE}&x%3Dcode%3D{CODE}"


# JupyterLab's webLinkRegex (rendermime's autolink, JupyterLab 4), which Notebook 7 shares: any
# text it matches in an output becomes a link.
AUTOLINK = re.compile(r"(?:[a-zA-Z][a-zA-Z0-9+.-]{2,40}://|data:|www\.)[^\s\x00-\x20\x7f-\x9f\"]{2,}"
                      r"[^\s\x00-\x20\x7f-\x9f\"'(){}\[\],:;.!?]")
REDIRECT = f"http://127.0.0.1:8123/callback/?code={CODE}&state=d5477420-ce66-4a23-9978-064e6da28b75"
AUTHORIZE = ("http://127.0.0.1:8123/oauth2/aus/v1/authorize?client_id=lu4ziqRbR9R3x6xhRxEnOeAZJRkLbT7t"
             "&response_type=code&scope=openid&redirect_uri=http://127.0.0.1:8123/callback/&state=s")


def test_a_url_shown_shortened_is_not_a_link_and_reads_the_same():
    shown = redact.shown_url(REDIRECT)
    assert CODE not in shown and AUTOLINK.search(shown) is None
    assert shown.replace(redact.UNLINK, "") == REDIRECT.replace(CODE, CODE[:5] + "...")


def test_a_url_cut_is_not_a_link_nor_any_url_inside_it():
    shown = redact.shown_url(AUTHORIZE, 100)
    assert shown.replace(redact.UNLINK, "") == AUTHORIZE[:100] + "..."
    assert AUTOLINK.search(shown) is None


def test_a_url_shown_whole_stays_a_link():
    assert redact.shown_url(AUTHORIZE) == AUTHORIZE and AUTOLINK.search(AUTHORIZE).group(0) == AUTHORIZE
    assert redact.shown_url("http://[::1") == "http://[::1"  # not even a URL's shape: as it is


def test_pasted_text_is_quoted_as_pasted_shortened_and_unlinked():
    assert redact.quoted("http://elsewhere.example/") == "'http://elsewhere.example/'"
    quoted = redact.quoted(REDIRECT + "\n", 60)
    assert quoted.startswith("'http" + redact.UNLINK + "://127.0.0.1") and quoted.endswith("...'")
    assert CODE not in quoted and "\\n" not in quoted and AUTOLINK.search(quoted) is None
    assert redact.quoted("code=abc\n") == "'code=abc\\n'"  # control characters escaped, as repr does
