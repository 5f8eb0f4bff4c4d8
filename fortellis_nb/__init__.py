"""fortellis-nb: learn the Fortellis OAuth 2.0 authorization code flow, one runnable step at a time.

The package has four layers, imported in one direction only:

* ``fortellis_nb.oauth``   - the protocol as plain Python (no widgets), knowing no sandbox;
* ``fortellis_nb.local``   - what the client does only for the local sandbox (headless
  sign-in, a code's issue time, app registration, finding or starting a sandbox);
* ``fortellis_nb.widgets`` - ipywidgets views over the protocol;
* ``fortellis_nb.sandbox`` - a stand-alone local identity server that behaves like
  Fortellis' (an Okta custom authorization server). It shares no logic with the client,
  so each checks the other.
"""

__version__ = "0.1.0"

# The few names a user needs, imported on first use: `import fortellis_nb.sandbox` must stay
# light and free of the client's code (the sandbox stands on its own).
_EXPORTS = {
    "FortellisClient": "fortellis_nb.oauth",
    "FortellisError": "fortellis_nb.oauth",
    "Config": "fortellis_nb.oauth.config",
    "load_config": "fortellis_nb.oauth.config",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'fortellis_nb' has no attribute {name!r}")
