import warnings

import pytest

from fortellis_nb.oauth.config import (
    Config,
    api_base_url_for,
    load_config,
    not_the_sandbox,
    parse_dotenv,
    settings_origin,
    subscriptions_url_for,
)
from fortellis_nb.oauth.errors import ConfigurationError, RedirectURIWarning
from fortellis_nb.oauth.hints import BACK_TO_SANDBOX
from fortellis_nb.oauth.redact import HIDDEN as MASK
from fortellis_nb.sandbox import running_sandbox, stop_sandbox

REAL = {
    "FORTELLIS_ISSUER": "https://identity-dev.fortellis.io/oauth2/aus1ni5i9n9WkzcYa2p7",
    "FORTELLIS_API_KEY": "RRTKerBb7tgRT4K6ES2eQdYJ1z9cHFsv",
    "FORTELLIS_API_SECRET": "s3cr3t-VALUE-never-shown",
    "FORTELLIS_REDIRECT_URI": "https://example.com/",
    "FORTELLIS_SUBSCRIPTION_ID": "test",
}


def test_environment_alone_configures_real_fortellis_without_touching_the_sandbox():
    config = load_config(env=REAL, dotenv=False)
    assert config.issuer == REAL["FORTELLIS_ISSUER"]
    assert config.api_key == REAL["FORTELLIS_API_KEY"]
    assert config.api_secret == REAL["FORTELLIS_API_SECRET"]
    assert config.subscription_id == "test"
    assert config.api_base_url == "https://api-dev.fortellis.io"
    assert not config.is_sandbox
    assert config.sources["issuer"] == "FORTELLIS_ISSUER in the environment"


def test_arguments_beat_environment_which_beats_dotenv(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("FORTELLIS_API_KEY=from-dotenv\nFORTELLIS_SUBSCRIPTION_ID=dotenv-sub\n"
                      "FORTELLIS_SCOPES='openid offline_access'\n")
    env = {k: v for k, v in REAL.items() if k not in ("FORTELLIS_API_KEY", "FORTELLIS_SUBSCRIPTION_ID")}
    config = load_config(env=env, dotenv=dotenv, redirect_uri="https://app.example/callback/")
    assert config.api_key == "from-dotenv"
    assert config.sources["api_key"] == f"FORTELLIS_API_KEY in {dotenv.resolve()}"  # the file, by its path
    assert config.subscription_id == "dotenv-sub"
    assert config.scopes == ("openid", "offline_access")
    assert config.redirect_uri == "https://app.example/callback/"
    assert config.sources["redirect_uri"] == "argument"
    assert config.sources["issuer"] == "FORTELLIS_ISSUER in the environment"
    assert settings_origin(config.sources) == (f"FORTELLIS_ISSUER and FORTELLIS_API_SECRET in the environment; "
                                               f"FORTELLIS_API_KEY, FORTELLIS_SUBSCRIPTION_ID and FORTELLIS_SCOPES "
                                               f"in {dotenv.resolve()}")


def test_default_dotenv_is_read_from_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("".join(f"export {k}=\"{v}\"\n" for k, v in REAL.items()))
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config.api_secret == REAL["FORTELLIS_API_SECRET"]
    # Read as ./.env, named by its full path: which folder's .env it was.
    assert config.sources["api_secret"] == f"FORTELLIS_API_SECRET in {tmp_path.resolve() / '.env'}"


def test_parse_dotenv_handles_comments_quotes_and_export():
    values = parse_dotenv('# comment\n\nexport A=1\nB = "two words"\nC=\'x#y\'\nD=plain # trailing\nE="a\\nb"\n')
    assert values == {"A": "1", "B": "two words", "C": "x#y", "D": "plain", "E": "a\nb"}
    with pytest.raises(ConfigurationError) as caught:
        parse_dotenv("A=1\nthis is not a setting\n")
    assert "line 2" in caught.value.description


def test_a_dotenv_written_by_windows_notepad_is_read(tmp_path, monkeypatch):
    """Notepad saves UTF-8 with a byte-order mark and CRLF line ends; a quoted value may span lines."""
    text = "".join(f"{k}={v}\r\n" for k, v in REAL.items()) + 'FORTELLIS_SCOPES="openid\r\noffline_access"\r\n'
    (tmp_path / ".env").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config.issuer == REAL["FORTELLIS_ISSUER"] and config.sources["issuer"] == f"FORTELLIS_ISSUER in {tmp_path.resolve() / '.env'}"
    assert config.api_secret == REAL["FORTELLIS_API_SECRET"]
    assert config.scopes == ("openid", "offline_access")


def test_a_dotenv_that_is_not_utf8_is_refused_with_a_message(tmp_path):
    path = tmp_path / "latin1.env"
    path.write_bytes("FORTELLIS_API_SECRET=caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigurationError) as caught:
        load_config(env={}, dotenv=path)
    assert "not UTF-8" in caught.value.description


def test_issuer_without_credentials_names_the_missing_variables():
    with pytest.raises(ConfigurationError) as caught:
        load_config(env={"FORTELLIS_ISSUER": REAL["FORTELLIS_ISSUER"]}, dotenv=False)
    assert "FORTELLIS_API_KEY" in str(caught.value) and "FORTELLIS_API_SECRET" in str(caught.value)
    assert "(FORTELLIS_ISSUER in the environment)" in caught.value.description
    assert caught.value.hint.endswith(BACK_TO_SANDBOX)


def test_settings_that_leave_the_sandbox_say_so_with_where_they_were_set_and_the_way_back(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("".join(f"{k}={v}\n" for k, v in REAL.items() if k != "FORTELLIS_API_SECRET"))
    config = load_config(env={"FORTELLIS_API_SECRET": "s"}, dotenv=dotenv)
    said = not_the_sandbox(config.issuer, config.sources)
    assert said.startswith(f"The notebooks use `{REAL['FORTELLIS_ISSUER']}`, not the local sandbox")
    assert f"FORTELLIS_SUBSCRIPTION_ID in {dotenv.resolve()}" in said
    assert "FORTELLIS_API_SECRET in the environment" in said and said.endswith(BACK_TO_SANDBOX)
    # Settings that are not FORTELLIS_* (the sandbox's own, arguments) have no place to go back from.
    assert settings_origin({"issuer": "sandbox", "api_key": "argument"}) == ""


def test_plain_http_issuer_is_refused_unless_it_is_this_machine():
    with pytest.raises(ConfigurationError):
        Config(issuer="http://identity.example.com/oauth2/x", api_key="k", api_secret="s")
    Config(issuer="http://127.0.0.1:8080/oauth2/x", api_key="k", api_secret="s")
    Config(issuer="http://localhost:8080/oauth2/x", api_key="k", api_secret="s")


def test_the_secret_is_masked_in_every_repr_str_and_display():
    config = load_config(env=REAL, dotenv=False)
    secret = REAL["FORTELLIS_API_SECRET"]
    for shown in (repr(config), str(config), config._repr_html_(), str(config.as_dict()), f"{config}",
                  f"{config!r}"):
        assert secret not in shown
        assert secret[:5] not in shown
    assert MASK in repr(config)
    assert config.as_dict(reveal=True)["api_secret"] == secret


def test_redirect_uri_without_trailing_slash_warns_with_the_tutorials_rule():
    with pytest.warns(RedirectURIWarning, match="with a trailing `/`") as caught:
        load_config(env={**REAL, "FORTELLIS_REDIRECT_URI": "https://example.com/callback"}, dotenv=False)
    assert "Use the redirect URI that you entered when you were registering your app" in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_config(env=REAL, dotenv=False)


def test_redirect_uri_must_be_an_http_url_without_fragment():
    with pytest.raises(ConfigurationError):
        load_config(env={**REAL, "FORTELLIS_REDIRECT_URI": "example.com/"}, dotenv=False)
    with pytest.raises(ConfigurationError):
        load_config(env={**REAL, "FORTELLIS_REDIRECT_URI": "https://example.com/#x"}, dotenv=False)


@pytest.mark.parametrize("issuer, gateway", [
    ("https://identity.fortellis.io/oauth2/aus1p1ixy7YL8cMq02p7", "https://api.fortellis.io"),
    ("https://identity-qat.fortellis.io/oauth2/ausax07ig2eIlo3pO4x6", "https://api-qat.fortellis.io"),
    ("https://login.example.com/oauth2/default", None),
])
def test_gateway_follows_from_the_fortellis_issuer(issuer, gateway):
    assert api_base_url_for(issuer) == gateway


@pytest.mark.parametrize("issuer, service", [
    ("https://identity.fortellis.io/oauth2/aus1p1ixy7YL8cMq02p7", "https://subscriptions.fortellis.io"),
    ("https://identity-dev.fortellis.io/oauth2/aus1ni5i9n9WkzcYa2p7", None),  # not published
    ("https://login.example.com/oauth2/default", None),
])
def test_the_subscriptions_service_follows_from_the_production_issuer(issuer, service):
    assert subscriptions_url_for(issuer) == service


def test_the_subscriptions_service_from_the_environment_and_from_the_sandbox(info):
    from fortellis_nb.local import sandbox_config

    production = {**REAL, "FORTELLIS_ISSUER": "https://identity.fortellis.io/oauth2/aus1p1ixy7YL8cMq02p7"}
    assert load_config(env=production, dotenv=False).subscriptions_url == "https://subscriptions.fortellis.io"
    mine = load_config(env={**REAL, "FORTELLIS_SUBSCRIPTIONS_URL": "https://subs.example.com"}, dotenv=False)
    assert mine.subscriptions_url == "https://subs.example.com"
    assert mine.sources["subscriptions_url"] == "FORTELLIS_SUBSCRIPTIONS_URL in the environment"
    assert sandbox_config(info).subscriptions_url == info.subscriptions_url == f"{info.base_url}/subscriptions"
    on_a_hub = sandbox_config(info, env={"JUPYTERHUB_SERVICE_PREFIX": "/user/learner/"})
    port = info.base_url.rsplit(":", 1)[1]
    assert on_a_hub.browser_url(on_a_hub.subscriptions_url) == f"/user/learner/proxy/{port}/subscriptions"


def test_nothing_set_means_the_given_sandbox_and_arguments_still_override(info):
    from fortellis_nb.local import sandbox_config

    config = sandbox_config(info, redirect_uri="https://example.com/")
    assert config.is_sandbox
    assert config.issuer == info.issuer and config.api_key == info.api_key
    assert config.api_secret == info.api_secret
    assert config.redirect_uri == "https://example.com/"
    assert config.sources["issuer"] == "sandbox" and config.sources["redirect_uri"] == "argument"
    assert info.password not in repr(config) and info.api_secret not in str(config)


def test_nothing_set_is_refused_with_both_ways_named_and_starts_nothing(tmp_path):
    state_dir = tmp_path / "state"
    with pytest.raises(ConfigurationError) as caught:
        load_config(env={}, dotenv=False)
    assert "No issuer is set" in caught.value.description
    assert "FORTELLIS_ISSUER" in caught.value.hint and "sandbox_client()" in caught.value.hint
    assert running_sandbox(state_dir) is None


def test_asking_for_the_sandbox_starts_it_in_the_background(tmp_path):
    state_dir = tmp_path / "state"
    try:
        from fortellis_nb.local import start

        config = start(env={}, dotenv=False, state_dir=state_dir).config
        running = running_sandbox(state_dir)
        assert running is not None
        assert config.issuer == running.issuer and config.is_sandbox
    finally:
        stop_sandbox(state_dir)


def test_a_room_s_shared_sandbox_at_a_private_address_may_use_plain_http():
    from fortellis_nb.oauth.config import Config
    from fortellis_nb.oauth.errors import ConfigurationError

    for issuer in ("http://10.0.0.5:8765/oauth2/aus1", "http://192.168.1.20:8765/oauth2/aus1"):
        assert Config(issuer=issuer, api_key="k", api_secret="s").issuer == issuer
    for issuer in ("http://8.8.8.8:8765/oauth2/aus1", "http://room.example.org/oauth2/aus1",
                   "http://169.254.1.1/oauth2/aus1"):
        with pytest.raises(ConfigurationError, match="plain http"):
            Config(issuer=issuer, api_key="k", api_secret="s")
