"""Keeps what must run in one process together when the suite runs in parallel
(`pytest -n 2 --dist loadgroup`): the cells of one notebook share a kernel, and the
browser tests share one Jupyter server."""

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        path = str(item.path)
        if path.endswith(".ipynb"):
            item.add_marker(pytest.mark.xdist_group(name=f"notebook:{item.path.name}"))
        elif "/tests/browser/" in path:
            item.add_marker(pytest.mark.xdist_group(name="browser"))
