"""The hardening tests' log check: while each of them runs, whatever the sandbox and tornado
log with a traceback, or at ERROR, is collected, and the test fails if anything was. A
hostile request must be answered, not end in the server's log as a crash.

A test that provokes a server error on purpose says so: ``@pytest.mark.server_errors_expected``."""

from __future__ import annotations

import logging

import pytest

WATCHED = ("fortellis_nb", "tornado")


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)


def pytest_configure(config):
    config.addinivalue_line("markers", "server_errors_expected: the test provokes a logged server error on purpose")


@pytest.fixture(autouse=True)
def no_traceback_in_the_sandbox_log(request):
    collect = _Collect()
    loggers = [logging.getLogger(name) for name in WATCHED]
    for logger in loggers:
        logger.addHandler(collect)
    try:
        yield collect
    finally:
        for logger in loggers:
            logger.removeHandler(collect)
    if request.node.get_closest_marker("server_errors_expected") is None:
        logged = [f"{r.name} {r.levelname}: {r.getMessage()}" + (f" ({r.exc_info[1]!r})" if r.exc_info else "")
                  for r in collect.records]
        assert not logged, "the sandbox logged errors or tracebacks:\n" + "\n".join(logged[:5])
