"""The habits the package keeps: ruff's rules clean, mypy clean on the protocol (oauth, local) and the sandbox,
and no function above cyclomatic complexity 15 (radon's count, which also counts the boolean
operators that ruff's mccabe leaves out). Each runs the tool as a maintainer would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.source import parse

ROOT = Path(__file__).resolve().parents[1]
MOST_COMPLEX = 15


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_is_clean():
    result = run("ruff", "check", "--no-cache", "fortellis_nb")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_the_protocol_its_sandbox_layer_and_the_sandbox():
    result = run("mypy", "--no-incremental", "--cache-dir", "/dev/null" if sys.platform != "win32" else "nul")
    assert result.returncode == 0, result.stdout + result.stderr


def blocks(code: str):
    """Every function, method and nested function radon sees in ``code`` (radon lists the
    functions and methods; nested functions hang from them)."""
    from radon.complexity import cc_visit_ast
    from radon.visitors import Class

    waiting = [block for block in cc_visit_ast(parse(code)) if not isinstance(block, Class)]
    while waiting:
        block = waiting.pop(0)
        waiting.extend(block.closures)
        yield block


def functions_above(limit: int) -> list[str]:
    found = []
    for path in sorted((ROOT / "fortellis_nb").rglob("*.py")):
        for block in blocks(path.read_text(encoding="utf-8")):
            if block.complexity > limit:
                found.append(f"{path.relative_to(ROOT)}:{block.lineno} {block.fullname} ({block.complexity})")
    return sorted(found)


def test_no_function_is_above_the_complexity_limit():
    assert functions_above(MOST_COMPLEX) == []


def test_the_complexity_check_sees_a_complex_method_and_closure():
    branches = "\n".join(f"            if x == {n}:\n                return {n}" for n in range(MOST_COMPLEX + 1))
    code = f"class A:\n    def m(self, x):\n        def inner(x):\n{branches}\n        return inner(x)\n"
    assert [(b.name, b.complexity > MOST_COMPLEX) for b in blocks(code)] == [("m", False), ("inner", True)]
