import pytest

from fortellis_nb.oauth import errors
from fortellis_nb.oauth.discovery import discover
from fortellis_nb.oauth.transcript import Http

from .conftest import free_port


def test_sandbox_publishes_its_metadata(info):
    metadata = discover(info.issuer)
    assert metadata.source == info.issuer + "/.well-known/openid-configuration"
    assert metadata.issuer == info.issuer
    assert metadata.authorization_endpoint == info.issuer + "/v1/authorize"
    assert metadata.token_endpoint == info.issuer + "/v1/token"
    assert metadata.jwks_uri == info.issuer + "/v1/keys"
    assert metadata.revocation_endpoint and metadata.introspection_endpoint and metadata.userinfo_endpoint
    assert "S256" in metadata.code_challenge_methods_supported


def test_no_document_falls_back_to_the_v1_paths(local_server):
    server = local_server({})
    issuer = server.url + "/oauth2/aus1"
    metadata = discover(issuer)
    assert metadata.source == "fallback /v1 paths"
    assert metadata.token_endpoint == issuer + "/v1/token" and metadata.jwks_uri == issuer + "/v1/keys"
    assert len(metadata.raw["attempts"]) == 2


def test_oauth_authorization_server_document_is_used_when_openid_one_is_missing(local_server):
    def document(handler):
        issuer = f"http://{handler.headers['Host']}/as"
        return 200, {}, {"issuer": issuer, "authorization_endpoint": issuer + "/auth",
                         "token_endpoint": issuer + "/token", "jwks_uri": issuer + "/jwks"}
    server = local_server({("GET", "/as/.well-known/oauth-authorization-server"): document})
    metadata = discover(server.url + "/as")
    assert metadata.token_endpoint == server.url + "/as/token"


def test_a_document_naming_another_issuer_is_refused(local_server):
    document = {"issuer": "https://identity.fortellis.io/oauth2/aus1p1ixy7YL8cMq02p7",
                "authorization_endpoint": "https://evil.example/authorize", "token_endpoint": "https://evil.example/token",
                "jwks_uri": "https://evil.example/keys"}
    server = local_server({("GET", "/oauth2/aus1/.well-known/openid-configuration"): lambda h: (200, {}, document)})
    with pytest.raises(errors.IssuerMismatchError) as caught:
        discover(server.url + "/oauth2/aus1")
    assert caught.value.exchange.status == 200 and caught.value.hint


def test_a_trailing_slash_difference_is_refused_and_named(info):
    with pytest.raises(errors.IssuerMismatchError) as caught:
        discover(info.issuer + "/")
    assert "trailing" in caught.value.hint


def test_nothing_listening_is_connection_refused_not_a_fallback():
    with pytest.raises(errors.ConnectionRefused):
        discover(f"http://127.0.0.1:{free_port()}/oauth2/aus1", Http())
