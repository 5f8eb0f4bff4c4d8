"""Reading the package's own source in tests."""

from __future__ import annotations

import ast


def parse(text: str, attempts: int = 3) -> ast.Module:
    """``ast.parse``, once more if it fails spuriously. CPython 3.11 keeps the AST builder's
    recursion depth per interpreter, not per thread, so a parse that overlaps a compile in
    another thread (an in-process sandbox compiling its tornado templates, a test server of a
    neighbouring test) can raise "SystemError: AST constructor recursion depth mismatch"
    although the source is fine. Python 3.12 keeps it per thread."""
    for attempt in range(attempts):
        try:
            return ast.parse(text)
        except SystemError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
