"""The example backend behind a company's proxy that refuses every connection (HTTP_PROXY and
HTTPS_PROXY set, no NO_PROXY): the backend file, which imports nothing of this package, signs a
user in, finds the subscription and calls the API on the sandbox on this machine directly, run
on its own (``python backend.py``) or by `fortellis-nb example backend` (which also registers
its app with the sandbox): none of it through the proxy."""

from __future__ import annotations

from pathlib import Path

import pytest

from fortellis_nb.lessons.backend import free_port
from tests.examples.test_backend import (
    DEALER,
    Backend,
    example_backend,
    settings_for_new_app,
    short_lived_tokens_sandbox,
    signed_in_browser,
)
from tests.test_behind_a_proxy import PROXY_VARIABLES, proxy_environment, refusing_port  # noqa: F401 - a fixture


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with short_lived_tokens_sandbox(tmp_path_factory.mktemp("sandbox")) as info:
        yield info


def works(started: Backend) -> None:
    try:
        browser, _, home = signed_in_browser(started)  # this test's own requests: no proxy set here
        assert f"Your organization: <b>{DEALER}</b>" in home.text
        assert browser.get(started.url + "dealership").status_code == 200
    finally:
        started.stop()


def test_the_backend_file_on_its_own(sandbox, refusing_port):  # noqa: F811
    port = free_port()
    settings, _ = settings_for_new_app(sandbox, port)
    proxy = proxy_environment(f"http://127.0.0.1:{refusing_port}")
    works(Backend({**settings, **{name: proxy[name] for name in PROXY_VARIABLES}}, port))


def test_the_command(sandbox, refusing_port):  # noqa: F811
    works(example_backend(Path(sandbox["state_dir"]), env=proxy_environment(f"http://127.0.0.1:{refusing_port}")))
