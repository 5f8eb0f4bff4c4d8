"""What the sandbox says when it refuses: Okta's own words.

Fortellis' identity server is an Okta custom authorization server, so every OAuth error the
sandbox gives has Okta's HTTP status, ``error`` and ``error_description``, character for
character, from Okta's OAuth error catalog (``okta/okta-developer-docs``,
``packages/@okta/vuepress-site/data/oauth2-error-codes.json``, release 2026.08.1), keyed by
the catalog's ``internalErrorCode``. Where the catalog shows a value (``en``, ``{1}``), the
description here has ``{0}``, ``{1}``.

A few refusals have no entry in the catalog (the sandbox checks something Okta's catalog
does not name); those are marked with their source, and their wording is the sandbox's.
What the sandbox wants to teach beyond Okta's words goes to the client's hints, the
notebooks and the sandbox's own pages, never into these answers.
"""

from __future__ import annotations

from dataclasses import dataclass

CATALOG = "Okta's OAuth error catalog, release 2026.08.1"
CATALOG_RELEASE = "2026.08.1"

GRANT_TYPES = "authorization_code, refresh_token, client_credentials"
RESPONSE_MODES = "query, fragment, form_post, okta_post_message"


@dataclass(frozen=True)
class Error:
    status: int
    error: str
    description: str
    source: str = CATALOG


def _okta(status: int, error: str, description: str) -> Error:
    return Error(status, error, description)


ERRORS: dict[str, Error] = {
    # --- /v1/authorize ---------------------------------------------------------------
    "invalid_client_id": _okta(401, "invalid_client", "Invalid value for 'client_id' parameter."),
    "missing_redirect_uri": _okta(400, "missing_redirect_uri", "redirect_uri is missing."),
    "illegal_redirect_uri": _okta(400, "invalid_request",
                                  "The 'redirect_uri' parameter must be a Login redirect URI in the client app "
                                  "settings."),
    "unsupported_response_type": _okta(400, "unsupported_response_type", "The response type is not supported by the "
                                       "authorization server. Configured response types: [{0}]."),
    "unsupported_response_mode": _okta(400, "unsupported_response_mode", "The response mode is not supported by the "
                                       "authorization server. Valid response modes: [{0}]."),
    "invalid_state": _okta(400, "invalid_request", "The authentication request has an invalid 'state' parameter."),
    "no_default_scopes": _okta(400, "invalid_scope", "The authorization server resource does not have any configured "
                               "default scopes, 'scope' must be provided."),
    "no_matching_scope": _okta(400, "invalid_scope",
                               "One or more scopes are not configured for the authorization server resource."),
    "invalid_prompt": _okta(400, "invalid_request", "Invalid value for 'prompt' parameter. Supported values: [{0}]"),
    "invalid_max_age": _okta(400, "invalid_request",
                             "Invalid value for 'max_age' parameter. It should be within range 0 - 2^31-1."),
    "login_required": _okta(400, "login_required", "The client specified not to prompt, but the user is not logged in."),
    "consent_required": _okta(400, "consent_required", "The following scopes require user consent: [{0}]."),
    "unsupported_response_mode_okta_post_message_with_code": _okta(400, "unsupported_response_mode",
                                                                   "'okta_post_message' response mode cannot be used "
                                                                   "with the 'code' response type."),
    "access_denied": _okta(403, "access_denied", "The resource owner or authorization server denied the request."),
    "user_not_assigned": _okta(400, "access_denied", "User is not assigned to the client application."),
    "pkce_unsupported_code_challenge_method": _okta(400, "invalid_request", "PKCE code challenge method is not "
                                                    "supported. Valid values: [{0}]"),
    "pkce_invalid_challenge": _okta(400, "invalid_request", "PKCE code challenge contains illegal characters."),
    "pkce_missing_challenge": _okta(400, "invalid_request", "PKCE code challenge is required by the application."),
    # --- client authentication (/v1/token, /v1/introspect, /v1/revoke) ------------------
    "missing_client_credentials": _okta(401, "invalid_client", "No client credentials found."),
    "invalid_basic_auth_creds": _okta(401, "invalid_client",
                                      "Found Authentication header but was not valid client credentials."),
    "invalid_client": _okta(401, "invalid_client",
                            "Client authentication failed. Either the client or the client credentials are invalid."),
    "invalid_client_secret": _okta(401, "invalid_client",
                                   "The client secret supplied for a confidential client is invalid."),
    "multiple_client_credentials": _okta(401, "invalid_request", "Cannot supply multiple client credentials. Use one "
                                         "of the following: credentials in the Authorization header, credentials in "
                                         "the post body, or a client_assertion in the post body."),
    "client_credentials_in_query": _okta(400, "invalid_request",
                                         "Client credentials cannot be supplied via query parameters."),
    "unsupported_auth_method_browser_request": _okta(401, "invalid_client", "Browser requests to the token endpoint "
                                                     "must use Proof Key for Code Exchange."),
    "illegal_origin_browser_request": _okta(400, "invalid_request", "Browser requests to the token endpoint must be "
                                            "part of at least one whitelisted redirect_uri."),
    "unsupported_grant_type_browser_request": _okta(400, "unauthorized_client", "Browser requests to the token "
                                                    "endpoint may only use the authorization_code grant_type."),
    # --- /v1/token -----------------------------------------------------------------------
    "token_request_missing_grant_type": _okta(400, "invalid_request",
                                              "The token request must specify a 'grant_type'. Valid values: [{0}]"),
    "unsupported_grant_type": _okta(400, "unsupported_grant_type", "The authorization grant type is not supported by "
                                    "the authorization server. Configured grant types: [{0}]."),
    "unauthorized_client": _okta(400, "unauthorized_client", "The client is not authorized to use the provided grant "
                                 "type. Configured grant types: [{0}]."),
    "missing_token_request_parameter": _okta(400, "invalid_request", "The required parameter '{0}' is missing."),
    "invalid_authorization_code": _okta(400, "invalid_grant", "The authorization code is invalid or has expired."),
    "mismatched_client": _okta(400, "invalid_grant", "The grant was issued to another client. Please make sure the "
                               "'client_id' matches the one used at the authorize request."),
    "mismatched_redirect_uri": _okta(400, "invalid_grant", "The 'redirect_uri' does not match the redirection URI used "
                                     "in the authorization request."),
    "pkce_verification_failed": _okta(400, "invalid_grant", "PKCE verification failed."),
    "pkce_missing_verifier": _okta(400, "invalid_request", "PKCE code verifier is required by the application."),
    "pkce_missing_challenge_verifier_present": _okta(400, "invalid_request", "PKCE code challenge should be specified "
                                                     "in the authorize request for code verification."),
    "invalid_refresh_token": _okta(400, "invalid_grant", "The refresh token is invalid or expired."),
    "refresh_scopes_denied": _okta(400, "access_denied", "Some of the scopes requested for the refresh request were not "
                                   "granted in the original authorize request. Denied scopes: {0}."),
    "openid_not_allowed_client_creds": _okta(400, "invalid_scope", "Cannot request 'openid' scopes using client "
                                             "credentials."),
    "invalid_scope": _okta(400, "invalid_scope", "The requested scope is invalid, unknown, malformed, or exceeds the "
                           "scope granted by the resource owner."),
    # --- /v1/introspect, /v1/revoke, /v1/userinfo, /v1/logout ----------------------------
    "request_missing_token": _okta(400, "invalid_request", "The 'token' parameter is required."),
    "illegal_post_logout_redirect_uri": _okta(400, "invalid_request", "The 'post_logout_redirect_uri' parameter must "
                                              "be a Logout redirect URI in the client app settings."),
    # The catalog has two entries for a parameter given twice and does not say which endpoint
    # answers which; this one names the parameter (docs/fidelity.md).
    "illegal_duplicated_parameters": _okta(400, "invalid_request", "Duplicate parameter provided in request. "
                                           "Duplicated parameters: [{0}]."),
    # --- what the catalog has no entry for: the sandbox's own words -------------------------
    "sandbox_unreadable_parameter": Error(400, "invalid_request", "The '{0}' parameter is not valid UTF-8.",
                                          "the sandbox (no entry in Okta's catalog)"),
    "sandbox_token_request_body": Error(400, "invalid_request",
                                        "The token request body must be application/x-www-form-urlencoded.",
                                        "RFC 6749 section 4.1.3 (no entry in Okta's catalog)"),
}


class OAuthError(Exception):
    """An OAuth error answer (RFC 6749 section 5.2): one entry of ERRORS, its values filled in."""

    def __init__(self, key: str, *values: str):
        entry = ERRORS[key]
        self.key, self.status, self.error = key, entry.status, entry.error
        self.description = entry.description.format(*values)
        super().__init__(self.description)
