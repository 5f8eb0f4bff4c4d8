"""The ``browser`` fixture, on its own: the cheapest test that opens this folder's Chromium
(tests/test_order.py runs it before a test outside the folder that starts Playwright again)."""

from __future__ import annotations


def test_the_browser_opens_a_page(browser):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content("<p id='here'>here</p>")
        assert page.inner_text("#here") == "here"
    finally:
        context.close()
