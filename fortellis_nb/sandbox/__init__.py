"""A local identity server that behaves like Fortellis' (an Okta custom authorization
server), for learning and testing offline. It stands on its own: it needs neither
Jupyter nor the rest of this package.

    from fortellis_nb.sandbox import ensure_sandbox
    info = ensure_sandbox()        # started in the background, or the running one reused
    info.issuer, info.api_key, info.redirect_uri, ...
"""

from .authority import Settings
from .launcher import SandboxStartError, default_state_dir, ensure_sandbox, running_sandbox, stop_sandbox
from .server import Sandbox, SandboxInfo

__all__ = [
    "Sandbox",
    "SandboxInfo",
    "SandboxStartError",
    "Settings",
    "default_state_dir",
    "ensure_sandbox",
    "running_sandbox",
    "stop_sandbox",
]
