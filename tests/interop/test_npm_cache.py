"""When the npm registry cannot be reached, the tests that need it skip and say why; with
CI=true they fail instead. Shown with a real npm pointed at a port that refuses."""

from __future__ import annotations

import shutil

import pytest

from .npm_cache import npm_package, registry_unreachable


@pytest.fixture
def no_registry(tmp_path, monkeypatch):
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("needs node and npm")  # without them the tests skip (or fail in CI) before any install
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")  # the discard port: refused
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    monkeypatch.setenv("FORTELLIS_NB_TEST_CACHE", str(tmp_path / "cache"))


def test_an_unreachable_registry_is_a_skip_that_says_so(no_registry, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        npm_package("is-number@7.0.0", "is-number")
    assert str(skipped.value).startswith("the npm registry cannot be reached to install is-number@7.0.0: ")
    assert "127.0.0.1:9" in str(skipped.value) or "ECONNREFUSED" in str(skipped.value)


def test_with_ci_true_it_is_a_failure(no_registry, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        npm_package("is-number@7.0.0", "is-number")
    assert "cannot be reached" in str(failed.value) and "CI=true makes that a failure" in str(failed.value)


def test_what_counts_as_unreachable():
    assert registry_unreachable(b"npm error code ECONNREFUSED\nnpm error errno ECONNREFUSED") == \
        "npm error code ECONNREFUSED"
    assert registry_unreachable("npm error 404 Not Found - GET https://registry.npmjs.org/nope") is None
    assert registry_unreachable(None) is None
