import inspect

import pytest

from fortellis_nb.oauth.config import Config
from fortellis_nb.oauth import FortellisClient, errors

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
