"""Notebook support: catching up on earlier steps, and errors shown without tracebacks."""

import pytest
from IPython.core.interactiveshell import InteractiveShell

from fortellis_nb.local import sandbox_client
from fortellis_nb.lessons import ErrorReport, catch_up, explain, install_friendly_errors
from fortellis_nb.oauth import FortellisClient, FortellisError
from fortellis_nb.oauth.errors import SandboxOnlyError


@pytest.fixture
def client(sandbox):
    return sandbox_client(sandbox.info)


def test_catch_up_runs_steps_one_to_three(client):
    tokens = catch_up(client)
    assert tokens.refresh_token and tokens.id_claims["aud"] == client.config.api_key
    last = client.transcript.last
    assert last.method == "POST" and last.url.endswith("/v1/token")


def test_catch_up_against_a_real_server_asks_for_a_person(client):
    real = FortellisClient(client.config.replace(sandbox=None))
    with pytest.raises(SandboxOnlyError) as caught:
        catch_up(real)
    assert "pasted_url" in caught.value.hint and "/v1/authorize?" in caught.value.hint


def test_explain_lays_out_what_why_and_what_to_do(client):
    tokens = catch_up(client)
    with pytest.raises(FortellisError) as caught:
        client.refresh(scopes="openid offline_access profile")
    report = explain(caught.value)
    text = repr(report)
    assert "What happened: AccessDeniedError: access_denied" in text
    assert "Why: Some of the scopes requested for the refresh request were not granted" in text
    assert "What to do:" in text and "curl --request POST" in text
    assert tokens.refresh_token not in text and tokens.refresh_token not in report._repr_html_()
    assert "<pre>" in report._repr_html_() and client.config.api_secret not in text


def test_ipython_shows_a_report_instead_of_a_traceback(client, capsys):
    shell = InteractiveShell.instance()
    try:
        assert install_friendly_errors() is True
        shell.user_ns["client"] = client
        shell.run_cell("client.parse_redirect('not a url at all')")
        out = capsys.readouterr().out
        assert "What happened:" in out and "Traceback" not in out
    finally:
        InteractiveShell.clear_instance()


def test_a_cell_run_before_the_cell_defining_its_names_says_what_to_run(capsys):
    shell = InteractiveShell.instance()
    try:
        install_friendly_errors()
        shell.run_cell("tokens.access_token")  # as after a kernel restart, or out of order
        out = capsys.readouterr().out
        assert "tokens is not defined: if a cell above defines it, run the cells above" in out
        assert "one of them failed before defining it" in out  # run, but the cell defining it failed
        assert "Traceback" not in out and out.count("\n") == 1  # one line
    finally:
        InteractiveShell.clear_instance()


def test_backticked_names_in_a_report_are_code():
    report = ErrorReport(FortellisError("The access token's `aud` is <wrong>.", error="invalid_token",
                                        hint="Send the access token (aud `api_providers`)."))
    shown = report._repr_html_()
    assert "`" not in shown and "<code>aud</code>" in shown and "<code>api_providers</code>" in shown
    assert "&lt;wrong&gt;" in shown
    assert "`aud`" in repr(report)  # plain text keeps the backticks


def test_a_name_not_defined_is_code_in_html():
    from fortellis_nb.lessons.reports import NotRunYet

    shown = NotRunYet(NameError("name 'tokens' is not defined", name="tokens"))._repr_html_()
    assert shown.count("<code>tokens</code>") == 1 and "`" not in shown


def test_a_plain_exception_is_reported_too():
    assert repr(ErrorReport(ValueError("bad"))).startswith("What happened: ValueError")


def test_our_warnings_read_as_one_sentence():
    import warnings

    from fortellis_nb.oauth.errors import RedirectURIWarning

    install_friendly_errors()
    text = warnings.formatwarning("Add the trailing slash.", RedirectURIWarning, "/some/file.py", 12)
    assert text == "Warning (RedirectURIWarning): Add the trailing slash.\n"
    assert "/some/file.py" in warnings.formatwarning("x", UserWarning, "/some/file.py", 12)
