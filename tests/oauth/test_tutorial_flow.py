"""The tutorial, from a Python prompt, in a few lines; every step printable as curl."""

from fortellis_nb.local import sandbox_client


def test_the_whole_tutorial_in_a_few_lines(info):
    client = sandbox_client(info)

    request = client.authorization_url(scopes="openid offline_access")      # step 1
    redirect = client.sign_in_headless(request)                               # (a person, in a browser)
    tokens = client.exchange_code(client.parse_redirect(redirect))           # steps 2 and 3
    refreshed = client.refresh()                                              # refresh tokens
    answer = client.call_api("/sandbox/v1/dealership")                        # step 4

    assert tokens.id_claims and refreshed.refresh_token_status == "same" and answer.status == 200
    steps = [tokens.exchange, refreshed.exchange, answer.exchange]
    for exchange in steps:
        curl = exchange.as_curl()
        assert curl.startswith(f"curl --request {exchange.method} \\\n  --url ")
        assert info.api_secret not in curl and tokens.access_token not in curl
    assert "--data 'grant_type=authorization_code&redirect_uri=" in steps[0].as_curl()
    assert "--data 'grant_type=refresh_token&refresh_token=" in steps[1].as_curl()
    assert "--header 'subscription-id: " in steps[2].as_curl()
    assert "# Exchange the code" in client.transcript.as_curl()
