"""What a client sends, checked where it enters: one function per kind of input, each
refusing with a ``BadInput`` whose message a learner understands. Nothing that fails
here reaches the database, a page or a header.

- ``text``: a field of text (a name, a username, a password): real text, no control
  characters, within a length;
- ``json_object``: a JSON request body, bounded in size and nesting before it is parsed;
- ``redirect_uri``: a callback URL as RFC 3986 and the redirect rules allow it;
- ``json_segment``: a part of a JWT, bounded in size and nesting before it is parsed.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import unicodedata

MAX_JSON_BODY = 64 * 1024
MAX_NESTING = 16
MAX_REDIRECT_URI = 2000

# RFC 3986 section 3.3 / 3.4: what a path and a query may hold, beside percent-encodings.
URI_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*")
LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")  # a '%' that does not start %XX
DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9\-]{1,63}(?<!-)")


class BadInput(ValueError):
    """What a client sent cannot be used; the message says what and why."""


# Unicode general categories that are not text a person typed and sees: controls, invisible
# format characters (zero-width spaces, byte-order marks, direction overrides), surrogates,
# private-use and unassigned code points (noncharacters among them), line and paragraph separators.
NOT_TEXT = {
    "Cc": "a control character", "Cf": "an invisible formatting character", "Cs": "an unpaired surrogate",
    "Co": "a private-use character", "Cn": "an unassigned code point", "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def problem_character(value: str) -> str | None:
    """A description of the first character that is not text a person typed and can see
    (NOT_TEXT), with its code point and position. None when there is none."""
    for index, char in enumerate(value):
        kind = NOT_TEXT.get(unicodedata.category(char))
        if kind:
            return f"{kind} (U+{ord(char):04X}) at position {index + 1}"
    return None


def shown(value) -> str:
    """A refused value as a page may show it back (so nothing typed is lost): anything that is
    not text a person typed becomes U+FFFD."""
    value = value if isinstance(value, str) else ""
    return "".join("\ufffd" if unicodedata.category(c) in NOT_TEXT and c != "\n" else c for c in value)


def text(value, what: str, *, max_length: int, min_length: int = 1, strip: bool = True) -> str:
    """A text field: a string of real text (no unpaired surrogates, no control characters,
    tabs and line breaks included) of ``min_length`` to ``max_length`` characters."""
    if not isinstance(value, str):
        raise BadInput(f"The {what} must be text (a JSON string), not {type(value).__name__}.")
    bad = problem_character(value)
    if bad:
        raise BadInput(f"The {what} contains {bad}; use plain text.")
    if strip:
        value = value.strip()
    if not min_length <= len(value) <= max_length:
        raise BadInput(f"The {what} must have {min_length} to {max_length} characters (it has {len(value)}).")
    return value


# An e-mail address as HTML's <input type="email"> accepts one (the WHATWG definition): ASCII
# only, so no look-alike of another user's address can be made with other scripts' letters.
EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


def username(value) -> str:
    """A sandbox username: an e-mail address, as on Fortellis."""
    name = text(value, "username", max_length=254)
    if not EMAIL.fullmatch(name):
        raise BadInput(f"The username must be an e-mail address, as on Fortellis (letters, digits and "
                       f"punctuation of ASCII, one '@', a domain): {name!r} is not one.")
    return name


def email(value) -> str:
    """A user's e-mail address (the ``email`` claim), as HTML's e-mail field takes one."""
    address = text(value, "e-mail address", max_length=254)
    if not EMAIL.fullmatch(address):
        raise BadInput(f"{address!r} is not an e-mail address (letters, digits and punctuation of ASCII, one '@', "
                       "a domain).")
    return address


def nesting_depth(source: str) -> int:
    """How deeply arrays and objects nest in a JSON text, counted without parsing it (so a
    hostile text cannot exhaust the parser's recursion first)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in source:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_json(raw: bytes | str, what: str, *, max_bytes: int, max_depth: int = MAX_NESTING):
    """Parse JSON after checking its size and nesting; BadInput when it cannot be used."""
    if len(raw) > max_bytes:
        raise BadInput(f"The {what} is too large ({len(raw):,} bytes; at most {max_bytes:,}).")
    try:
        source = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise BadInput(f"The {what} is not valid UTF-8.") from None
    if nesting_depth(source) > max_depth:
        raise BadInput(f"The {what} nests arrays or objects more than {max_depth} deep.")
    try:
        return json.loads(source)
    except (ValueError, RecursionError):
        raise BadInput(f"The {what} is not valid JSON.") from None


def json_object(raw: bytes) -> dict:
    """A request's JSON body, which must be one object."""
    data = parse_json(raw or b"{}", "request body", max_bytes=MAX_JSON_BODY)
    if not isinstance(data, dict):
        raise BadInput("The request body must be a JSON object ({...}).")
    return data


def json_segment(raw: bytes, max_bytes: int):
    """A decoded part of a JWT (its header, its claims)."""
    return parse_json(raw, "token", max_bytes=max_bytes)


def host(name: str, uri: str) -> str:
    """A URI's host: a DNS name of letters, digits and hyphens (an internationalised name in
    its punycode form), an IPv4 address, or an IPv6 address in brackets."""
    if name.startswith("["):
        try:
            ipaddress.IPv6Address(name[1:-1] if name.endswith("]") else "x")
        except ValueError:
            raise BadInput(f"The callback URL {uri!r} has {name!r} as its host, which is not an IPv6 address.") from None
        return name.lower()
    if not name:
        raise BadInput(f"The callback URL {uri!r} has no host.")
    if not name.isascii():
        try:
            ascii_form = name.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_form = None
        hint = f" Register its punycode form: {ascii_form}." if ascii_form else ""
        raise BadInput(f"The callback URL {uri!r} has a host with non-ASCII characters ({name}); browsers "
                       f"send such names as punycode (xn--...).{hint}")
    if re.fullmatch(r"[0-9.]+", name):
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            raise BadInput(f"The callback URL {uri!r} has {name!r} as its host, which is not an IPv4 address.") \
                from None
        return name
    labels = name.split(".")
    if len(name) > 253 or not all(DNS_LABEL.fullmatch(label) for label in labels):
        raise BadInput(f"The callback URL {uri!r} has {name!r} as its host: a host name is made of letters, "
                       "digits and hyphens, in labels of 1 to 63 characters separated by dots.")
    return name.lower()


def redirect_uri(value) -> str:
    """A callback URL to register (RFC 6749 section 3.1.2 and RFC 3986): an absolute http(s)
    URL with a host, no user name or password, no fragment, and only characters a URI may
    hold (anything else percent-encoded). Returned exactly as given."""
    uri = text(value, "callback URL", max_length=MAX_REDIRECT_URI, strip=False)
    if any(char.isspace() for char in uri):
        raise BadInput(f"The callback URL {uri!r} contains a space; a URL has none (percent-encode it as %20).")
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise BadInput(f"The callback URL {uri!r} must be an absolute http:// or https:// URL.")
    if "#" in rest:
        raise BadInput(f"The callback URL {uri!r} has a fragment (#...); RFC 6749 section 3.1.2: the "
                       "redirection endpoint URI MUST NOT include a fragment component.")
    end = next((i for i, char in enumerate(rest) if char in "/?"), len(rest))
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        raise BadInput(f"The callback URL {uri!r} has a user name or password before its host; a callback has none.")
    hostname, port = split_authority(authority)
    host(hostname, uri)
    if port and not (re.fullmatch(r":[0-9]{1,5}", port) and 0 < int(port[1:]) <= 65535):
        raise BadInput(f"The callback URL {uri!r} has {port[1:]!r} as its port; a port is a number from 1 to 65535.")
    path_and_query(tail, uri)
    return uri


def path_and_query(tail: str, uri: str) -> None:
    """BadInput unless a callback URL's path and query hold only URI characters (RFC 3986)."""
    if not URI_CHARACTERS.fullmatch(tail) or LONE_PERCENT.search(tail):
        bad = next((c for c in tail if not URI_CHARACTERS.fullmatch(c)), "%")
        raise BadInput(f"The callback URL {uri!r} contains {bad!r}, which a URL's path or query may not hold "
                       "as it is; percent-encode it (a '%' must start %XX).")


def split_authority(authority: str) -> tuple[str, str]:
    """(host, ":port" or "") of a URL's authority without user info; an IPv6 host keeps its brackets."""
    if authority.startswith("["):
        end = authority.find("]")
        return (authority[:end + 1], authority[end + 1:]) if end > 0 else (authority, "")
    if ":" in authority:
        hostname, _, port = authority.rpartition(":")
        return hostname, ":" + port
    return authority, ""


def csp_source(uri: str) -> str:
    """The Content-Security-Policy source for a (validated) callback URL's origin. CSP host
    sources cannot name an IPv6 address, so one gets its scheme alone."""
    scheme, _, rest = uri.partition("://")
    authority = re.split(r"[/?]", rest, maxsplit=1)[0]
    if authority.startswith("["):
        return f"{scheme.lower()}:"
    if not re.fullmatch(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?", authority):
        raise BadInput(f"{uri!r} has no host a policy can name.")
    return f"{scheme.lower()}://{authority}"


# --- a user's claims (the users page): OIDC Core 5.1 claims and custom ones ----------------------
CLAIM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")
MAX_CLAIMS, MAX_CLAIMS_BYTES, MAX_CLAIM_DEPTH = 30, 4096, 4
#: Claims the server sets itself: a user's claims may not replace them.
SERVER_CLAIMS = frozenset({"sub", "iss", "aud", "exp", "iat", "nbf", "jti", "nonce", "auth_time", "amr", "idp",
                           "ver", "at_hash", "c_hash", "azp", "sid", "acr", "cid", "uid", "scp"})
#: Claims with a field of their own on the users page.
FIELD_CLAIMS = {"name": "name", "preferred_username": "username", "email": "email", "email_verified": "email"}


def claims(value) -> dict:
    """A user's claims: a JSON object of at most 30 members and 4 KiB, names as JWT claim names
    go, values JSON (text without control characters, numbers, true/false, lists and objects up
    to 4 deep), none that the server sets itself or that has a field of its own."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):  # the form's text area
        try:
            value = parse_json(value, "claims", max_bytes=MAX_CLAIMS_BYTES, max_depth=MAX_CLAIM_DEPTH + 1)
        except BadInput as bad:
            raise BadInput(f"The claims must be a JSON object, such as {{\"dealer_role\": \"sales\"}}: {bad}") from None
    if not isinstance(value, dict):
        raise BadInput("The claims must be a JSON object, such as {\"dealer_role\": \"sales\"}.")
    if len(value) > MAX_CLAIMS:
        raise BadInput(f"At most {MAX_CLAIMS} claims (there are {len(value)}).")
    for name, member in value.items():
        if problem_character(name) or not CLAIM_NAME.fullmatch(name):
            raise BadInput(f"{shown(name)!r} is not a claim name: letters, digits and _ . : - (64 at most), "
                           "starting with a letter or _.")
        if name in SERVER_CLAIMS:
            raise BadInput(f"The server sets {name!r} itself (a token's {name} is not the user's to choose).")
        if name in FIELD_CLAIMS:
            raise BadInput(f"{name!r} comes from the user's {FIELD_CLAIMS[name]} field: set it there.")
        _claim_value(member, name, 1)
    if len(json.dumps(value).encode()) > MAX_CLAIMS_BYTES:
        raise BadInput(f"The claims take more than {MAX_CLAIMS_BYTES} bytes as JSON; a token carries them in "
                       "every request.")
    return value


def _claim_value(value, name: str, depth: int) -> None:
    if depth > MAX_CLAIM_DEPTH:
        raise BadInput(f"The claim {name!r} nests more than {MAX_CLAIM_DEPTH} levels deep.")
    if isinstance(value, str):
        bad = problem_character(value)
        if bad:
            raise BadInput(f"The claim {name!r} contains {bad}; use plain text.")
    elif isinstance(value, float) and not math.isfinite(value):
        raise BadInput(f"The claim {name!r} is not a number JSON can carry.")
    elif isinstance(value, list):
        for item in value:
            _claim_value(item, name, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if problem_character(key):
                raise BadInput(f"A member name in the claim {name!r} contains {problem_character(key)}.")
            _claim_value(item, name, depth + 1)
    elif value is not None and not isinstance(value, (bool, int, float)):
        raise BadInput(f"The claim {name!r} is not a JSON value.")
