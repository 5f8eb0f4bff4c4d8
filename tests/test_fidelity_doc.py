"""docs/fidelity.md is the sandbox's account of what it says and why: its tables must be the
sandbox's own tables, entry for entry, so the page cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

from fortellis_nb.sandbox import gateway, okta

DOC = (Path(__file__).resolve().parents[1] / "docs" / "fidelity.md").read_text(encoding="utf-8")


def table_rows(first_header_cell: str) -> list[list[str]]:
    """The rows of the markdown table whose header starts with ``first_header_cell``."""
    lines = DOC.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header_cell}"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def as_documented(description: str) -> str:
    """The table writes Okta's placeholders ({0}, {1}) as an ellipsis."""
    return re.sub(r"\{\d\}", "…", description)


def test_the_error_table_is_the_sandbox_s_error_table():
    rows = {row[0].strip("`"): row for row in table_rows("key (Okta's internalErrorCode)")}
    assert set(rows) == set(okta.ERRORS), "every entry documented, and nothing more"
    for key, entry in okta.ERRORS.items():
        _key, _when, status, error, description, source = rows[key]
        assert int(status) == entry.status, key
        assert error == f"`{entry.error}`", key
        assert description == as_documented(entry.description), key
        expected_source = f"Okta's catalog {okta.CATALOG_RELEASE}" if entry.source == okta.CATALOG else entry.source
        assert source == expected_source, key


def test_the_gateway_table_is_the_gateway_s():
    rows = {row[0].strip("`"): row for row in table_rows("Code | Status")}
    assert set(rows) == set(gateway.CAUSES)
    for code, (status, _message) in gateway.CAUSES.items():
        assert int(rows[code][1]) == status, code


def test_the_page_names_the_catalog_release_the_code_uses():
    assert f"release {okta.CATALOG_RELEASE}" in DOC
