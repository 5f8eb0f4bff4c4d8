import ast
import inspect
import re
from pathlib import Path

import pytest

from fortellis_nb.oauth import FortellisClient, errors, hints
from fortellis_nb.oauth.config import Config
from tests.source import parse

RFC6749_TOKEN_ERRORS = {"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
                        "unsupported_grant_type", "invalid_scope"}


def test_every_error_is_documented_and_belongs_to_the_family():
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, Exception)]
    assert len(classes) > 20
    for cls in classes:
        family = errors.FortellisWarning if issubclass(cls, Warning) else errors.FortellisError
        assert issubclass(cls, family), cls
        assert cls.__doc__ and cls.__doc__.strip().splitlines()[0], cls


def test_oauth_errors_are_spelled_as_rfc_6749_does():
    assert RFC6749_TOKEN_ERRORS <= set(errors.OAUTH_ERRORS)
    for code, cls in errors.OAUTH_ERRORS.items():
        assert cls.default_error == code and issubclass(cls, errors.TokenRequestError)
        assert cls.default_hint, code


def test_message_and_hint_read_as_one_text():
    error = errors.InvalidGrantError("The authorization code is invalid or has expired.", hint="Sign in again.")
    assert str(error) == "invalid_grant: The authorization code is invalid or has expired.\nHint: Sign in again."
    assert error.error == "invalid_grant" and error.exchange is None and error.status is None


def _client_for(server):
    config = Config(issuer=server.url + "/oauth2/aus1", api_key="key", api_secret="secret",
                    redirect_uri="https://example.com/")
    return FortellisClient(config, verify_tokens=False)


def test_html_from_the_token_endpoint_is_not_json_error(local_server):
    page = "<html><head><title>Service Unavailable</title></head></html>"
    server = local_server({("POST", "/oauth2/aus1/v1/token"): lambda h: (200, {"Content-Type": "text/html"}, page)})
    with pytest.raises(errors.NotJSONError, match="Service Unavailable") as caught:
        _client_for(server).client_credentials()
    assert caught.value.exchange.status == 200 and "HTML" in caught.value.hint


def test_server_failure_is_unexpected_response(local_server):
    server = local_server({("POST", "/oauth2/aus1/v1/token"): lambda h: (500, {}, {"error": "server_error"})})
    with pytest.raises(errors.UnexpectedResponseError, match="HTTP 500") as caught:
        _client_for(server).client_credentials()
    assert isinstance(caught.value, errors.NetworkError)


def test_an_error_without_oauth_shape_is_unexpected_response(local_server):
    server = local_server({("POST", "/oauth2/aus1/v1/token"): lambda h: (400, {}, {"message": "nope"})})
    with pytest.raises(errors.UnexpectedResponseError):
        _client_for(server).client_credentials()


def test_unknown_oauth_error_keeps_its_code(local_server):
    server = local_server({("POST", "/oauth2/aus1/v1/token"): lambda h: (
        400, {}, {"error": "slow_down", "error_description": "Too many requests."})})
    with pytest.raises(errors.TokenRequestError) as caught:
        _client_for(server).client_credentials()
    assert type(caught.value) is errors.TokenRequestError
    assert caught.value.error == "slow_down" and caught.value.description == "Too many requests."


# --- hints: chosen by the error code and what the client sent, each sentence written once ---
OKTA_UNKNOWN_CLIENT = "Client authentication failed. Either the client or the client credentials are invalid."


@pytest.mark.parametrize("description", ["", OKTA_UNKNOWN_CLIENT, "No client credentials found.", "Bad client."])
def test_a_hint_does_not_depend_on_the_servers_wording(local_server, description):
    body = {"error": "invalid_client", "error_description": description}
    server = local_server({("POST", "/oauth2/aus1/v1/token"): lambda h: (401, {}, body)})
    with pytest.raises(errors.InvalidClientError) as caught:
        _client_for(server).client_credentials()
    assert caught.value.hint == hints.hint("invalid_client", hints.Sent("client_credentials", api_key="key"))
    assert "developer portal" in caught.value.hint and "API Key:API Secret" in caught.value.hint


#: The modules that write the protocol layer's hints.
HINT_MODULES = ("errors", "hints", "tokens", "redirect", "api", "discovery", "transcript", "exports")


def _strings(module: str) -> list[str]:
    """The string literals of a module of fortellis_nb.oauth, docstrings left out; the literal
    parts of an f-string each count as one."""
    tree = parse((Path(errors.__file__).parent / f"{module}.py").read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def repeated_sentences(texts) -> set[str]:
    sentences = [s.strip() for text in texts for s in re.split(r"(?<=[.;:!?])\s+", text) if len(s.split()) > 4]
    return {s for s in sentences if sentences.count(s) > 1}


def test_each_hint_sentence_is_written_once():
    assert not repeated_sentences(text for module in HINT_MODULES for text in _strings(module))
    # The check sees a sentence written twice (the refresh-scope one was, in three places).
    twice = "When you refresh, you cannot include a scope that is not in the original call; ask for less."
    assert repeated_sentences([twice, "Other words. " + twice])


KEY, SECRET_SHAPED = "RRTKerBb7tgRT4K6ES2eQdYJ1z9cHFsv", "s3cr3t-Value_1234567890"


@pytest.mark.parametrize("code, sent, fact, not_said", [
    ("invalid_client", hints.Sent("refresh_token", api_key=SECRET_SHAPED, swapped=True), "swapped", None),
    ("invalid_client", hints.Sent("authorization_code", api_key=KEY, secret_sent=False), "without an API Secret",
     "swapped"),
    ("invalid_grant", hints.Sent("authorization_code", code_used_before=True, code_age=200), "already exchanged",
     "seconds old"),
    ("invalid_grant", hints.Sent("authorization_code", code_age=61.2), "61 seconds old", None),
    ("invalid_grant", hints.Sent("authorization_code", code_age=5, redirect_uri="https://a/",
                                 authorized_redirect_uri="https://a"), "redirect_uri='https://a/'", "code_verifier"),
    ("invalid_grant", hints.Sent("authorization_code", code_age=5, redirect_uri="https://a/",
                                 authorized_redirect_uri="https://a/", verifier_sent=True), "code_challenge",
     "redirect_uri="),
    ("invalid_grant", hints.Sent("authorization_code", redirect_uri="https://a/"), "redirect_uri='https://a/'", None),
    ("invalid_grant", hints.Sent("authorization_code", code_age=5, redirect_uri="https://a/",
                                 authorized_redirect_uri="https://a/"), f"{hints.CODE_LIFETIME} seconds",
     "redirect_uri="),
    ("invalid_grant", hints.Sent("refresh_token"), "offline_access", None),
    (hints.WIDER_SCOPE_ON_REFRESH, hints.Sent("refresh_token", granted_scopes=("openid",),
                                              requested_scopes=("openid", "email")), "email was not granted", None),
    ("invalid_scope", hints.Sent("client_credentials"), "anonymous", None),
    ("invalid_request", hints.Sent("authorize", verifier_sent=False), "pkce=True", None),
    ("invalid_request", hints.Sent("authorize", verifier_sent=True), "authorization_url()", "pkce=True"),
    ("TOKEN-EXPIRED", hints.Sent("api"), f"{hints.ACCESS_TOKEN_LIFETIME // 60} minutes", None),
])
def test_the_hint_follows_what_the_client_sent(code, sent, fact, not_said):
    text = hints.hint(code, sent)
    assert fact in text
    assert not_said is None or not_said not in text


def test_an_error_the_table_does_not_know_keeps_its_class_hint():
    assert hints.hint("invalid_grant", hints.Sent("client_credentials")) is None
    assert hints.hint("unsupported_grant_type", hints.Sent("refresh_token")) is None
    assert hints.hint("invalid_client", hints.Sent("userinfo")) is None  # a bearer token, no client credentials
