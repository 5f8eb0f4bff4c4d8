"""Tests do not depend on their order. Playwright's sync API counts its event loop as running
in the thread for as long as it is open, and refuses to start again meanwhile: the browser
tests' Chromium is closed when the last test of tests/browser ends, so that a test after them
in the same process (bench/'s measurements, in tests/test_bench.py) can start its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.npm_cache import unavailable

ROOT = Path(__file__).resolve().parents[1]


def test_sync_playwright_starts_here():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        assert playwright.chromium.name == "chromium"


@pytest.mark.slow
def test_playwright_starts_again_after_the_browser_tests_in_one_process():
    from tests.browser.jupyter import chromium_executable

    if chromium_executable() is None:
        unavailable("Chromium is needed for the browser tests")
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           "tests/browser/test_browser_fixture.py",
                           "tests/test_order.py::test_sync_playwright_starts_here"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout[-3000:]
