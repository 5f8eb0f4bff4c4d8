"""A local identity server that behaves like Fortellis' (an Okta custom authorization
server), for learning and testing offline. It stands on its own: it needs neither
Jupyter nor the rest of this package.

    from fortellis_nb.sandbox import ensure_sandbox
    info = ensure_sandbox()        # started in the background, or the running one reused
    info.issuer, info.api_key, info.redirect_uri, ...
"""

from .launcher import SandboxStartError, default_state_dir, ensure_sandbox, running_sandbox, stop_sandbox
from .state import SandboxInfo

#: The server itself, imported when first asked for: finding or starting one in the background
#: (all a notebook does) needs neither tornado nor the cryptography.
_LAZY = {"MovableClock": "clock", "Sandbox": "server", "Settings": "authority"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MovableClock",
    "Sandbox",
    "SandboxInfo",
    "SandboxStartError",
    "Settings",
    "default_state_dir",
    "ensure_sandbox",
    "running_sandbox",
    "stop_sandbox",
]
