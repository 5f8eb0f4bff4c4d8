"""What the redaction module lets through: codes shortened wherever they sit in a text."""

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
