import warnings

import pytest

from fortellis_nb.local import SandboxClient, sandbox_client, sandbox_config
from fortellis_nb.oauth import errors, hints
from fortellis_nb.oauth.tokens import basic_authorization
from fortellis_nb.oauth.verify import decode

from .conftest import signed_in


def test_basic_header_is_api_key_then_api_secret():
    assert basic_authorization("RRTKerBb7tgRT4K6ES2eQdYJ1z9cHFsv", "secret") == \
        "Basic UlJUS2VyQmI3dGdSVDRLNkVTMmVRZFlKMXo5Y0hGc3Y6c2VjcmV0"


def test_exchange_code_returns_verified_tokens(client, info):
    response = signed_in(client)
    tokens = client.exchange_code(response)
    assert tokens.token_type == "Bearer" and tokens.expires_in == 3600
    assert tokens.scopes == ("openid", "offline_access")
    assert tokens.access_claims["cid"] == info.api_key and tokens.access_claims["aud"] == "api_providers"
    assert tokens.id_claims["aud"] == info.api_key
    assert tokens.id_claims["nonce"] == response.request.nonce
    assert "at_hash" in tokens.id_claims
    assert tokens.expires_in_words().startswith("expires in 59 minutes") or \
        tokens.expires_in_words() == "expires in 1 hour"
    exchange = tokens.exchange
    assert exchange.request_headers["Authorization"] == basic_authorization(info.api_key, info.api_secret)
    assert dict(exchange.form) == {"grant_type": "authorization_code", "redirect_uri": info.redirect_uri,
                                   "code": response.code}
    assert info.api_secret not in repr(tokens) and tokens.access_token not in repr(tokens)


def test_pkce_verifier_is_sent_and_checked(client):
    response = signed_in(client, pkce=True)
    tokens = client.exchange_code(response)
    assert dict(tokens.exchange.form)["code_verifier"] == response.request.code_verifier
    other = signed_in(client, pkce=True)
    with pytest.raises(errors.InvalidGrantError):
        client.exchange_code(other, code_verifier="x" * 64)


def test_parameters_in_the_query_as_in_the_tutorials_later_curl(client):
    tokens = client.exchange_code(signed_in(client), params_in="query")
    assert "grant_type=authorization_code" in tokens.exchange.url and tokens.exchange.form is None


def test_old_code_warns_and_fails_with_an_age_hint(own_sandbox, clock):
    client = sandbox_client(own_sandbox.info, clock=clock)
    response = signed_in(client)
    clock.advance(61)
    with pytest.warns(errors.CodeAgeWarning, match="61 seconds old"):
        with pytest.raises(errors.InvalidGrantError) as caught:
            client.exchange_code(response)
    assert caught.value.error == "invalid_grant"
    assert caught.value.description == "The authorization code is invalid or has expired."
    assert "61 seconds old" in caught.value.hint
    assert caught.value.exchange.status == 400


def test_fresh_code_gives_no_warning(client):
    response = signed_in(client)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client.exchange_code(response)


def test_reused_code_fails_and_revokes_the_first_tokens(client):
    response = signed_in(client)
    first = client.exchange_code(response)
    with pytest.raises(errors.InvalidGrantError) as caught:
        client.exchange_code(response.code)
    assert "already exchanged" in caught.value.hint
    assert client.introspect(first.access_token)["active"] is False


def test_redirect_uri_mismatch_at_token_time_names_the_trailing_slash(client, info):
    response = signed_in(client)
    with pytest.raises(errors.InvalidGrantError) as caught:
        sandbox_client(info, redirect_uri="https://example.com/").exchange_code(response.code)
    assert "redirect" in caught.value.description.lower()
    assert "trailing" in caught.value.hint


def test_swapped_key_and_secret_is_invalid_client_with_the_swap_named(info):
    client = SandboxClient(sandbox_config(info).replace(api_key=info.api_secret, api_secret=info.api_key))
    with pytest.raises(errors.InvalidClientError) as caught:
        client.client_credentials()
    assert caught.value.status == 401
    assert "swapped" in caught.value.hint and "API Key:API Secret" in caught.value.hint


def test_wrong_secret_is_invalid_client(info):
    client = SandboxClient(sandbox_config(info).replace(api_secret="not-the-secret"))
    with pytest.raises(errors.InvalidClientError) as caught:
        client.client_credentials()
    assert caught.value.error == "invalid_client" and caught.value.hint
    assert isinstance(caught.value, errors.TokenRequestError)


def test_refresh_returns_the_same_refresh_token(client):
    first = client.exchange_code(signed_in(client))
    again = client.refresh()
    assert again.refresh_token == first.refresh_token and again.refresh_token_status == "same"
    assert again.access_token != first.access_token
    assert again.id_claims["sub"] == first.id_claims["sub"]
    assert dict(again.exchange.form) == {"grant_type": "refresh_token", "refresh_token": first.refresh_token}


def test_refresh_for_a_subset_of_scopes(client):
    client.exchange_code(signed_in(client, scopes="openid profile offline_access"))
    narrowed = client.refresh(scopes=["openid", "offline_access"])
    assert set(decode(narrowed.access_token).claims["scp"]) == {"openid", "offline_access"}


def test_refresh_with_a_scope_not_granted_is_access_denied_explained(client):
    client.exchange_code(signed_in(client))
    with pytest.raises(errors.AccessDeniedError) as caught:
        client.refresh(scopes="openid offline_access email")
    assert caught.value.status == 400
    assert "cannot include a scope that is not in the original call" in caught.value.hint
    assert "email" in caught.value.hint


def test_refresh_without_offline_access_explains_why(client):
    client.exchange_code(signed_in(client, scopes="openid"))
    assert client.tokens.refresh_token is None
    with pytest.raises(errors.ConfigurationError, match="no refresh token") as caught:
        client.refresh()
    assert "offline_access" in caught.value.hint


def test_revoked_refresh_token_is_invalid_grant(client):
    tokens = client.exchange_code(signed_in(client))
    client.revoke(tokens.refresh_token, "refresh_token")
    with pytest.raises(errors.InvalidGrantError) as caught:
        client.refresh()
    assert "offline_access" in caught.value.hint


def test_client_credentials_token_is_for_the_app_itself(client, info):
    tokens = client.client_credentials()
    claims = tokens.access_claims
    assert claims["scp"] == ["anonymous"] and claims["sub"] == claims["cid"] == info.api_key
    assert "uid" not in claims and tokens.id_token is None and tokens.refresh_token is None


def test_introspect_and_revoke(client, info):
    tokens = client.exchange_code(signed_in(client))
    about = client.introspect()
    assert about["active"] is True and about["client_id"] == info.api_key
    assert client.introspect(tokens.refresh_token, "refresh_token")["active"] is True
    assert client.revoke().status == 200
    assert client.introspect()["active"] is False


def test_userinfo_with_the_access_token(client):
    tokens = client.exchange_code(signed_in(client, scopes="openid profile email"))
    assert client.userinfo()["sub"] == tokens.id_claims["sub"]
    client.revoke()
    with pytest.raises(errors.TokenRequestError) as caught:
        client.userinfo()
    assert caught.value.status == 401


def test_errors_carry_the_exchange_and_render_as_curl(info):
    client = SandboxClient(sandbox_config(info).replace(api_secret="wrong"))
    with pytest.raises(errors.InvalidClientError) as caught:
        client.client_credentials()
    assert caught.value.exchange is client.transcript.last
    assert caught.value.response.status == 401
    assert "wrong" not in caught.value.exchange.as_curl()


def test_a_different_redirect_uri_can_be_sent_to_see_the_refusal(client, info):
    response = signed_in(client)
    with pytest.raises(errors.InvalidGrantError) as caught:
        client.exchange_code(response, redirect_uri=info.redirect_uri.rstrip("/"))
    assert "trailing" in caught.value.hint
    assert client.exchange_code(response).access_token  # the code survived the refused attempt


def test_a_wrong_pkce_verifier_gets_a_pkce_hint(client):
    request = client.authorization_url(pkce=True)
    response = client.parse_redirect(client.sign_in_headless(request))
    with pytest.raises(errors.InvalidGrantError) as caught:
        client.exchange_code(response, code_verifier="w" * 43)
    assert caught.value.description == "PKCE verification failed."
    assert "code_challenge" in caught.value.hint


# --- the lifetimes the hints quote are the server's -----------------------------------------
def test_a_code_works_for_the_lifetime_the_hints_quote_and_not_after(own_sandbox, clock):
    client = sandbox_client(own_sandbox.info, clock=clock)
    fresh = signed_in(client)
    clock.advance(hints.CODE_LIFETIME - 1)
    assert client.exchange_code(fresh).access_token
    old = signed_in(client)
    clock.advance(hints.CODE_LIFETIME + 1)
    with pytest.warns(errors.CodeAgeWarning), pytest.raises(errors.InvalidGrantError) as caught:
        client.exchange_code(old)
    assert f"codes expire after {hints.CODE_LIFETIME}" in caught.value.hint


def test_a_refresh_token_unused_for_the_days_the_hint_says_expires(own_sandbox, clock):
    client = sandbox_client(own_sandbox.info, clock=clock)
    client.exchange_code(signed_in(client))
    idle = hints.REFRESH_IDLE_DAYS * 24 * 3600
    clock.advance(idle - 60)
    client.refresh()  # used in time: the idle time starts again
    clock.advance(idle + 60)
    with pytest.raises(errors.InvalidGrantError) as caught:
        client.refresh()
    assert f"unused for {hints.REFRESH_IDLE_DAYS} days" in caught.value.hint
