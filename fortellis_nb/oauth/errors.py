"""One family of errors and warnings for every step of the flow.

Every error is a :class:`FortellisError`. Each carries

* ``error``       - a short code: the OAuth ``error`` exactly as RFC 6749 spells it
                    (``invalid_grant``, ``invalid_client``, ...), the gateway's code
                    (``TOKEN-EXPIRED``), or a name of ours for local failures;
* ``description`` - what happened, in the server's words when there was a server;
* ``hint``        - what a learner can do about it;
* ``uri``         - where to read more (a section of an RFC or of the tutorial);
* ``exchange``    - the recorded HTTP exchange, when there was one.

Lower-level exceptions (``requests``, ``jwt``, ``json``) never escape: they are
re-raised as one of these, ``from None``, so a learner sees one clear message.
"""

from __future__ import annotations

from . import hints


class FortellisError(Exception):
    """Base class of every error raised by fortellis_nb.oauth."""

    default_error = "fortellis_error"
    default_hint = ""
    uri = ""

    def __init__(self, description: str = "", *, error: str | None = None, hint: str | None = None,
                 exchange=None, uri: str | None = None):
        self.error = error or self.default_error
        self.description = description or (self.__doc__ or "").strip()
        self.hint = self.default_hint if hint is None else hint
        self.exchange = exchange
        if uri is not None:
            self.uri = uri
        super().__init__(self.description)

    @property
    def request(self):
        """The request part of the recorded exchange (or None)."""
        return self.exchange

    @property
    def response(self):
        """Status, headers and body of the server's answer, if there was one."""
        if self.exchange is None or self.exchange.status is None:
            return None
        return self.exchange

    @property
    def status(self) -> int | None:
        return None if self.exchange is None else self.exchange.status

    def __str__(self) -> str:
        text = f"{self.error}: {self.description}" if self.error else self.description
        if self.hint:
            text += f"\nHint: {self.hint}"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(error={self.error!r}, description={self.description!r})"


# --- configuration ---------------------------------------------------------------

class ConfigurationError(FortellisError, ValueError):
    """A setting is missing or malformed."""

    default_error = "configuration_error"


class NoIssuerError(ConfigurationError):
    """No setting names an issuer (no argument, no FORTELLIS_ISSUER, nothing in .env)."""


class SandboxNotAvailableError(ConfigurationError):
    """No setting points at a server and the local sandbox could not be started."""

    default_error = "sandbox_not_available"
    default_hint = ("Start it with `fortellis-sandbox`, or set FORTELLIS_ISSUER, FORTELLIS_API_KEY and "
                    "FORTELLIS_API_SECRET to use a real Fortellis server.")


# --- network -------------------------------------------------------------------

# Either no answer came (``response`` is None: the network, hints.NO_ANSWER) or one the protocol
# cannot use (NotJSONError, UnexpectedResponseError); a server's refusal is another family
# (TokenRequestError, GatewayError, ...).
class NetworkError(FortellisError, ConnectionError):
    """The HTTP exchange did not produce a usable answer."""

    default_error = "network_error"


class ConnectionRefused(NetworkError):
    """Nothing is listening at that address."""

    default_error = "connection_refused"
    default_hint = ("Nothing listens at that host and port: check the port. For the sandbox, is it running? "
                    "`python -m fortellis_nb check` starts and tests it.")


class Timeout(NetworkError, TimeoutError):
    """The server took too long to answer."""

    default_error = "timeout"
    default_hint = ("Try again; if it keeps happening, check the URL, and that this machine reaches the server "
                    "(a VPN or proxy it needs?).")


class ConnectionDropped(NetworkError):
    """The connection closed before the whole answer came (or before any answer)."""

    default_error = "connection_dropped"
    default_hint = ("The server, or something between (a proxy, a VPN, a firewall), closed the connection "
                    "before the whole answer came. Try again; if it keeps happening, try without the VPN or "
                    "proxy, or ask whoever runs them.")


class ProxyError(NetworkError):
    """The proxy that HTTP_PROXY, HTTPS_PROXY or ALL_PROXY names refused the request or could not be reached."""

    default_error = "proxy_error"
    default_hint = hints.through_proxy()


class TLSError(NetworkError):
    """The HTTPS connection could not be established (certificate or protocol)."""

    default_error = "tls_error"
    default_hint = ("Check the URL's host name and your system's certificate store; "
                    "a proxy that intercepts HTTPS causes this too.")


class HostNotFoundError(NetworkError):
    """The URL's host name does not resolve (DNS)."""

    default_error = "dns_error"
    default_hint = "Check the spelling of the host, and that this machine is online (or on the VPN that knows it)."


class InvalidURLError(NetworkError, ValueError):
    """The URL cannot be requested: no scheme, another scheme than http(s), or malformed."""

    default_error = "invalid_url"
    default_hint = "URLs start with https:// (or http:// for the local sandbox)."


class NotJSONError(NetworkError, ValueError):
    """The server answered with something other than the JSON the protocol expects."""

    default_error = "not_json"
    default_hint = ("An HTML page usually means the URL is wrong (a web page, not the API) "
                    "or a proxy answered instead of the server.")


class UnexpectedResponseError(NetworkError):
    """The server answered with a status or shape the protocol does not allow here."""

    default_error = "unexpected_response"


# --- discovery -----------------------------------------------------------------

class DiscoveryError(FortellisError):
    """The server's endpoints could not be found."""

    default_error = "discovery_failed"
    uri = "https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig"


class EndpointNotSupportedError(DiscoveryError):
    """The server's metadata names no endpoint for this step."""

    default_error = "endpoint_not_supported"
    default_hint = "This server does not offer that step."


class IssuerMismatchError(DiscoveryError):
    """The discovery document names an issuer other than the configured one.

    OpenID Connect Discovery 1.0, section 4.3: "The issuer value returned MUST be
    identical to the Issuer URL that was used as the prefix to
    /.well-known/openid-configuration to retrieve the configuration information."
    """

    default_error = "issuer_mismatch"
    default_hint = ("Use exactly the issuer the server publishes (https://{host}/oauth2/{authServerId}); "
                    "tokens from a different issuer would fail validation anyway.")
    uri = "https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfigurationValidation"


# --- the redirect back to the app ------------------------------------------------

class RedirectParseError(FortellisError, ValueError):
    """The URL pasted from the browser is not a usable authorization response."""

    default_error = "invalid_redirect"
    uri = "https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2"


class EmptyRedirectError(RedirectParseError):
    """Nothing was pasted."""

    default_error = "empty_redirect"
    default_hint = ("Copy the whole address from the browser's address bar after signing in "
                    "(it starts with your redirect URI) and paste it here.")


class NotAURLError(RedirectParseError):
    """The text pasted is not a URL."""

    default_error = "not_a_url"
    default_hint = ("Paste the whole address, starting with http:// or https://, "
                    "not just the code.")


class AuthorizeURLPastedError(RedirectParseError):
    """The authorize URL itself was pasted where the redirect belongs."""

    default_error = "authorize_url_pasted"
    default_hint = ("Open that link, sign in, and then copy the address in the browser's address bar: it starts "
                    "with your redirect URI and carries `code=` and `state=`.")


class DuplicateParameterError(RedirectParseError):
    """A parameter appears more than once in the redirect URL.

    RFC 6749, section 3.1: "Request and response parameters MUST NOT be included
    more than once."
    """

    default_error = "duplicate_parameter"
    default_hint = ("A URL with two codes or two states has been tampered with or pasted twice; "
                    "start the sign-in again.")
    uri = "https://www.rfc-editor.org/rfc/rfc6749#section-3.1"


class RedirectMismatchError(RedirectParseError):
    """The URL does not start with the configured redirect URI."""

    default_error = "redirect_uri_mismatch"
    default_hint = ("Paste the address the identity server sent the browser to; it must match the "
                    "redirect URI registered for the app, trailing `/` included.")


class MissingCodeError(RedirectParseError):
    """The redirect URL carries no `code` parameter."""

    default_error = "missing_code"
    default_hint = ("Did you copy the address before the redirect finished? The URL must contain "
                    "`?code=...&state=...`.")


class IssMismatchError(RedirectParseError):
    """The redirect's ``iss`` names another issuer than the one the request went to.

    RFC 9207, section 2.4: a client compares the ``iss`` it received with the issuer
    identifier of the server it sent the authorization request to, and rejects a mismatch.
    """

    default_error = "iss_mismatch"
    default_hint = "RFC 9207: a response from another server must not be used (a mix-up attack)."
    uri = "https://www.rfc-editor.org/rfc/rfc9207#section-2.4"


class StateMismatchError(RedirectParseError):
    """The `state` in the redirect is not one this client sent.

    RFC 6749, section 10.12: the client MUST implement CSRF protection; the `state`
    value binds the response to the request that the user's browser made.
    """

    default_error = "state_mismatch"
    default_hint = ("Start again from a fresh authorization URL. A state that does not match means the "
                    "response belongs to another request (or another person's browser).")
    uri = "https://www.rfc-editor.org/rfc/rfc6749#section-10.12"


class MissingStateError(StateMismatchError):
    """The redirect URL carries no `state` parameter, but one was sent."""

    default_error = "missing_state"


class StateReusedError(StateMismatchError):
    """This `state` has already been used by an earlier redirect."""

    default_error = "state_reused"
    default_hint = ("Each state is good for one response only. Make a new authorization URL "
                    "and sign in again.")


class AuthorizationError(FortellisError):
    """The identity server sent the browser back with an error instead of a code.

    RFC 6749, section 4.1.2.1: "If the resource owner denies the access request or
    if the request fails for reasons other than a missing or invalid redirection
    URI, the authorization server informs the client by adding the following
    parameters to the query component of the redirection URI".
    """

    default_error = "authorization_error"
    uri = "https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1"

    def __init__(self, description: str = "", *, state: str | None = None, **kwargs):
        self.state = state
        super().__init__(description, **kwargs)


class AuthorizationDenied(AuthorizationError):
    """access_denied: the user (or a policy) refused the request."""

    default_error = "access_denied"
    default_hint = hints.USER_DECLINED


# --- token endpoint ------------------------------------------------------------

class TokenRequestError(FortellisError):
    """The token endpoint refused the request (RFC 6749, section 5.2)."""

    default_error = "token_request_failed"
    uri = "https://www.rfc-editor.org/rfc/rfc6749#section-5.2"


class InvalidRequestError(TokenRequestError):
    """invalid_request: "The request is missing a required parameter, includes an
    unsupported parameter value (other than grant type), repeats a parameter,
    includes multiple credentials, [...] or is otherwise malformed." (RFC 6749, 5.2)"""

    default_error = "invalid_request"
    default_hint = ("Check the form body: grant_type, code and redirect_uri for a code exchange; "
                    "send the credentials once, in the Basic header only.")


class InvalidClientError(TokenRequestError):
    """invalid_client: "Client authentication failed (e.g., unknown client, no client
    authentication included, or unsupported authentication method)." (RFC 6749, 5.2)"""

    default_error = "invalid_client"
    default_hint = f"The Authorization header must be `Basic base64(API Key:API Secret)`. {hints.API_KEY_FIRST}"


class InvalidGrantError(TokenRequestError):
    """invalid_grant: "The provided authorization grant [...] or refresh token is
    invalid, expired, revoked, does not match the redirection URI used in the
    authorization request, or was issued to another client." (RFC 6749, 5.2)"""

    default_error = "invalid_grant"
    default_hint = hints.CODE_GONE


class UnauthorizedClientError(TokenRequestError):
    """unauthorized_client: "The authenticated client is not authorized to use this
    authorization grant type." (RFC 6749, 5.2)"""

    default_error = "unauthorized_client"
    default_hint = "Enable this grant type for the app where it is registered."


class UnsupportedGrantTypeError(TokenRequestError):
    """unsupported_grant_type: "The authorization grant type is not supported by the
    authorization server." (RFC 6749, 5.2)"""

    default_error = "unsupported_grant_type"
    default_hint = "grant_type must be authorization_code, refresh_token or client_credentials."


class InvalidScopeError(TokenRequestError):
    """invalid_scope: "The requested scope is invalid, unknown, malformed, or exceeds
    the scope granted by the resource owner." (RFC 6749, 5.2)"""

    default_error = "invalid_scope"
    default_hint = hints.KNOWN_SCOPES


class AccessDeniedError(TokenRequestError):
    """access_denied at the token endpoint: Okta's answer to a refresh that asks for a scope
    the original authorize request was not granted ("Some of the scopes requested for the
    refresh request were not granted in the original authorize request.")."""

    default_error = "access_denied"
    default_hint = f"{hints.NO_WIDER_SCOPE}; {hints.ASK_A_SUBSET}"


class RateLimitedError(TokenRequestError):
    """HTTP 429: the app made more requests than its rate limit allows in this window (Okta's
    error object E0000047, "API call exceeded rate limit due to too many requests.")."""

    default_error = "E0000047"
    default_hint = "Wait until the window resets (X-Rate-Limit-Reset, UTC epoch seconds), then try again."
    uri = "https://www.rfc-editor.org/rfc/rfc6585#section-4"


class UnsupportedTokenTypeError(TokenRequestError):
    """unsupported_token_type: "The authorization server does not support the
    revocation of the presented token type." (RFC 7009, 2.2.1)"""

    default_error = "unsupported_token_type"
    default_hint = "Use token_type_hint access_token or refresh_token."
    uri = "https://www.rfc-editor.org/rfc/rfc7009#section-2.2.1"


class InvalidTokenError(TokenRequestError):
    """invalid_token: the bearer token sent to the identity server is not valid
    (RFC 6750, section 3.1)."""

    default_error = "invalid_token"
    default_hint = "The access token expired, was revoked, or was copied incompletely; get a new one."
    uri = "https://www.rfc-editor.org/rfc/rfc6750#section-3.1"


OAUTH_ERRORS: dict[str, type[TokenRequestError]] = {
    cls.default_error: cls
    for cls in (InvalidRequestError, InvalidClientError, InvalidGrantError, UnauthorizedClientError,
                UnsupportedGrantTypeError, InvalidScopeError, AccessDeniedError, UnsupportedTokenTypeError,
                InvalidTokenError)
}


# --- token verification ----------------------------------------------------------

class TokenVerificationError(FortellisError, ValueError):
    """A token failed validation; do not trust anything it says."""

    default_error = "token_invalid"
    uri = "https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation"


class MalformedTokenError(TokenVerificationError):
    """The text is not a JSON Web Token (three base64url parts separated by dots)."""

    default_error = "malformed_token"
    default_hint = "Copy the whole token: it is long, starts with `eyJ` and has two dots."


class AlgorithmNotAllowedError(TokenVerificationError):
    """The token's `alg` is not RS256, the only algorithm Fortellis signs with."""

    default_error = "alg_not_allowed"
    default_hint = ("The verifier, not the token, chooses the algorithm. A token claiming `none` or "
                    "HS256 is a classic forgery.")
    uri = "https://www.rfc-editor.org/rfc/rfc8725#section-3.1"


class UnknownKeyError(TokenVerificationError):
    """No key in the server's JWKS matches the token's `kid`."""

    default_error = "unknown_kid"
    default_hint = ("Keys rotate (Fortellis at least every 90 days): fetch /v1/keys again and never "
                    "hard-code a kid. A token from another issuer also ends up here.")


class InvalidSignatureError(TokenVerificationError):
    """The signature does not match the token's contents and the server's key."""

    default_error = "invalid_signature"
    default_hint = "The token was altered or signed by someone else. Do not use it."


class InvalidIssuerError(TokenVerificationError):
    """The token's `iss` is not the configured issuer."""

    default_error = "invalid_issuer"
    default_hint = ("Validate against the custom authorization server that issued the token "
                    "(https://{host}/oauth2/{authServerId}), not the org server.")


class InvalidAudienceError(TokenVerificationError):
    """The token's `aud` is not the expected audience."""

    default_error = "invalid_audience"
    default_hint = ("Fortellis access tokens have aud `api_providers`; ID tokens have aud = your API Key. "
                    "A token minted for another app must not be accepted.")


class TokenExpiredError(TokenVerificationError):
    """The token's `exp` is in the past."""

    default_error = "token_expired"
    default_hint = hints.TOKEN_EXPIRED


class TokenNotYetValidError(TokenVerificationError):
    """The token's `iat` (or `nbf`) is in the future: a clock is wrong."""

    default_error = "token_not_yet_valid"
    default_hint = "Check this machine's clock."


class MissingClaimError(TokenVerificationError):
    """A claim the token must carry is absent."""

    default_error = "missing_claim"
    default_hint = "iss, aud, exp and iat are required (and sub in an ID token); do not use this token."


class InvalidClaimError(TokenVerificationError):
    """A claim has the wrong type (a date that is not a number, an audience that is not a string)."""

    default_error = "invalid_claim"
    default_hint = ("Standard servers write dates as numbers of seconds and the audience as a string or a "
                    "list of strings; a token that does not was not made by one, or was altered. Do not use it.")


class MissingIdTokenError(TokenVerificationError):
    """The authorize request asked for `openid` and the token response has no ID token."""

    default_error = "missing_id_token"
    default_hint = ("OpenID Connect Core 3.1.3.3: a response to a request with the `openid` scope carries an "
                    "`id_token`. Check that the server is an OpenID provider and that `openid` was granted; "
                    "without an ID token nothing says who signed in.")


class NonceMismatchError(TokenVerificationError):
    """The ID token's `nonce` is not the one sent in the authorization request.

    OpenID Connect Core 1.0, 3.1.3.7 step 11: "The value of the nonce Claim MUST be
    checked to verify that it is the same value as the one that was sent in the
    Authentication Request."
    """

    default_error = "nonce_mismatch"
    default_hint = "This ID token belongs to another sign-in (possibly replayed). Sign in again."


class AtHashMismatchError(TokenVerificationError):
    """The ID token's `at_hash` does not match the access token it came with.

    OpenID Connect Core 1.0, 3.2.2.9: at_hash is the base64url of the left half of the
    SHA-256 of the access token.
    """

    default_error = "at_hash_mismatch"
    default_hint = "The access token was swapped or altered on the way. Do not use either token."


class ClaimChangedError(TokenVerificationError):
    """A refreshed ID token names a different issuer or subject than the original.

    OpenID Connect Core 1.0, section 12.2: "its iss Claim Value MUST be the same as in
    the ID Token issued when the original authentication occurred, its sub Claim
    Value MUST be the same [...]".
    """

    default_error = "claim_changed"
    default_hint = "A refresh must not change who the user is. Discard these tokens."
    uri = "https://openid.net/specs/openid-connect-core-1_0.html#RefreshTokenResponse"


# --- APIs behind the gateway ----------------------------------------------------

class GatewayError(FortellisError):
    """The API gateway refused the call."""

    default_error = "gateway_error"

    def __init__(self, description: str = "", *, request_id: str | None = None, **kwargs):
        self.request_id = request_id
        super().__init__(description, **kwargs)


# --- headless sign-in ------------------------------------------------------------

class SandboxOnlyError(FortellisError, PermissionError):
    """Headless sign-in plays a browser, which is only allowed against the local sandbox."""

    default_error = "sandbox_only"
    default_hint = ("Against real Fortellis, open the authorization URL in a browser, sign in "
                    "yourself, and paste the address you land on.")


class SignInError(FortellisError):
    """The sign-in page did not let the user in."""

    default_error = "sign_in_failed"
    default_hint = "Check the username and password (the sandbox prints its demo user)."


# --- warnings --------------------------------------------------------------------

class FortellisWarning(UserWarning):
    """Base class of the warnings fortellis_nb.oauth gives."""


class RedirectURIWarning(FortellisWarning):
    """The redirect URI looks unlike the one the tutorial asks for."""


class MalformedRedirectWarning(FortellisWarning):
    """A redirect URL was accepted although it is not well formed."""


class CodeAgeWarning(FortellisWarning):
    """The authorization code is older than its lifetime (hints.CODE_LIFETIME)."""


class RequestIdWarning(FortellisWarning):
    """The response's Request-Id is not the one the request sent."""
