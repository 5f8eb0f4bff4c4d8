"""Fixtures for the widget tests: a sandbox on the test's fake clock, a client on the same
clock, and widgets with their live tickers off (the tests call ``tick()`` themselves)."""

from __future__ import annotations

import html
import re

import pytest
from ipywidgets.widgets import widget as _widget

from fortellis_nb.local import sandbox_client
from fortellis_nb.widgets import Flow


@pytest.fixture
def client(sandbox, clock):
    return sandbox_client(sandbox.info, clock=clock)


@pytest.fixture
def flow(client):
    flow = Flow(client, live=False)
    yield flow
    flow.close()


@pytest.fixture(autouse=True)
def close_new_widgets():
    """Close the widgets a test made, so one test's widgets are not in the next one's scan."""
    before = set(_widget._instances)
    yield
    for key in set(_widget._instances) - before:
        w = _widget._instances.get(key)
        if w is not None:
            w.close()


def text(widget) -> str:
    """What a person reads in an HTML widget: tags dropped, entities decoded, spaces collapsed."""
    value = widget.value if hasattr(widget, "value") else str(widget)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", value)).split())


def sign_in_url(client, request) -> str:
    """The address a person lands on after signing in (the sandbox's headless sign-in)."""
    return client.sign_in_headless(request)
