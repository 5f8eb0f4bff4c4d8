"""What may be shown: every token, code and secret shortened or hidden, in one place.

The rule the notebooks teach, and keep themselves: an authorization code, a token or the
API Secret never lands in a saved notebook, not in an output, not in a widget's state, not
in an error message. Tokens and codes are shortened (``'eyJra...'``: enough to recognise
one, too little to use it); a secret or a password is hidden entirely (``********``: a
prefix of something that short would help guess it). The transcript, the checks, the
settings and the widgets all show values through this module.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: What replaces a hidden value (its length is not shown either).
HIDDEN = "********"
#: How many characters of a shortened value are shown.
SHOWN = 5

#: Form fields, query parameters and JSON members whose values are shortened on display.
SECRET_FIELDS = frozenset({
    "client_secret", "password", "access_token", "refresh_token", "id_token", "token", "code",
    "code_verifier", "csrf", "admin_token", "api_secret", "assertion", "client_assertion", "id_token_hint",
})
#: Fields hidden entirely (not even a prefix).
HIDDEN_FIELDS = frozenset({"password", "client_secret", "api_secret", "admin_token"})
#: Put between the scheme of a URL shown shortened or cut and its "://": an invisible word joiner.
#: JupyterLab, Notebook 7 and VS Code make a link of any "scheme://..." in a text output, and a
#: shortened URL is no address (opened, it is a 404, or a page for a code that does not exist);
#: with the joiner the text reads the same and is not a link.
UNLINK = "\u2060"
#: A scheme as those front ends find one (JupyterLab's ``webLinkRegex``).
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]{2,40})://")
#: Headers whose values are shortened on display (the scheme word is kept).
SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "x-admin-token"})

#: A ``code=`` parameter, and one percent-encoded inside another URL's value (a redirect URL
#: given as a scope or as a return address: ``...%3Fcode%3DSvUkt...%26state...``).
_CODE_PARAMETER = re.compile(r"(?<![\w.-])(code=)([^&#\s'\"<>\\]{6,})"
                             r"|(?<=%3[fF]|%26)(code%3[dD])((?:(?!%26)[^&#\s'\"<>\\]){6,})")


def shorten(value, keep: int = SHOWN) -> str:
    """``'MG9hYzE2...'`` -> ``'MG9hY...'``: enough to recognise a value, too little to use it."""
    value = "" if value is None else str(value)
    if len(value) <= keep:
        return "..." if value else value
    return value[:keep] + "..."


def hide(value: str | None) -> str | None:
    """A secret replaced by the fixed mask; None stays None."""
    return None if value is None else HIDDEN


def value(name: str, given):
    """A field's value as it may be shown: hidden, shortened, or as it is."""
    if name in HIDDEN_FIELDS:
        return HIDDEN
    return shorten(given) if name in SECRET_FIELDS and isinstance(given, str) else given


def header(name: str, given: str) -> str:
    """A header's value as it may be shown: ``Basic MG9hY...``, cookies' values shortened."""
    if name.lower() not in SECRET_HEADERS:
        return given
    scheme, sep, rest = given.partition(" ")
    if sep and scheme.lower() in ("basic", "bearer", "dpop"):
        return f"{scheme} {shorten(rest)}"
    if name.lower() in ("cookie", "set-cookie"):
        return re.sub(r"=([^;,\s]+)", lambda m: "=" + shorten(m.group(1)), given)
    return shorten(given)


def pairs(items, full: bool = False) -> list[tuple[str, str]]:
    """Form or query pairs as they may be shown."""
    return [(k, v if full else value(k, v)) for k, v in items]


def json_value(data, full: bool = False):
    """A JSON document with its secret members shortened or hidden, at any depth."""
    if full:
        return data
    if isinstance(data, dict):
        return {k: (value(k, v) if k in SECRET_FIELDS else json_value(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [json_value(v) for v in data]
    return data


def readable_query(items) -> str:
    """Pairs as a query string that keeps ':' and '/' readable, as the tutorial prints
    ``redirect_uri=https://example.com/``; a server decodes them the same either way."""
    return urlencode(items, safe=":/*")


def url(given: str, full: bool = False) -> str:
    """A URL with the secret parameters of its query and fragment shortened, and the password
    of its user part (a proxy's ``http://user:password@host``) hidden."""
    if full:
        return given
    parts = urlsplit(given)
    changed = {}
    if parts.password is not None:
        user, _, host = parts.netloc.rpartition("@")
        changed["netloc"] = f"{user.partition(':')[0]}:{HIDDEN}@{host}"
    for part in ("query", "fragment"):
        text = getattr(parts, part)
        if not text or "=" not in text:
            continue
        found = parse_qsl(text, keep_blank_values=True)
        if any(k in SECRET_FIELDS for k, _ in found):
            changed[part] = readable_query(pairs(found))
    return urlunsplit(parts._replace(**changed)) if changed else given


def text(given, secrets=(), hidden=()) -> str:
    """``given`` with every value of ``secrets`` shortened, every value of ``hidden`` replaced by
    the mask, and the value of any ``code=`` parameter shortened: the last line of defence for
    anything displayed, an error message included."""
    shown = str(given)
    for secret in sorted({v for v in hidden if v and len(v) >= 4}, key=len, reverse=True):
        shown = shown.replace(secret, HIDDEN)
    for secret in sorted({v for v in secrets if v and len(v) >= 8}, key=len, reverse=True):
        shown = shown.replace(secret, shorten(secret))
    return _CODE_PARAMETER.sub(_shortened_code, shown)


def _shortened_code(match: re.Match) -> str:
    name, given = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
    return name + shorten(given)


def shown_url(given: str, length: int | None = None) -> str:
    """A URL as a line of output shows it: its secret values shortened and, with ``length``, cut
    after that many characters. Shortened or cut, it is no longer an address, so it is written
    so that no front end makes a link of it (see UNLINK); a URL shown whole stays a link."""
    try:
        shown = url(given)
    except ValueError:  # not even a URL's shape (an unclosed IPv6 bracket): shortened as text
        shown = given
    shown = _cut(text(shown), length)
    return _unlinked(shown) if shown != given else shown


def quoted(given: str, length: int | None = None) -> str:
    """Text pasted as a URL, quoted in a message as it was pasted: in repr's quotes (control
    characters escaped), any ``code=`` value shortened, cut after ``length`` characters, and,
    so shortened or cut, not a link (as :func:`shown_url`)."""
    shown = _cut(text(given), length)
    return _unlinked(repr(shown)) if shown != given else repr(shown)


def _cut(shown: str, length: int | None) -> str:
    return shorten(shown, length) if length is not None and len(shown) > length else shown


def _unlinked(shown: str) -> str:
    return _SCHEME.sub(lambda m: m.group(1) + UNLINK + "://", shown)
