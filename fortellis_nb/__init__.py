"""fortellis-nb: learn the Fortellis OAuth 2.0 authorization code flow, one runnable step at a time.

The package has three layers, imported in one direction only:

* ``fortellis_nb.oauth``   - the protocol as plain Python (no widgets);
* ``fortellis_nb.widgets`` - ipywidgets views over the protocol;
* ``fortellis_nb.sandbox`` - a stand-alone local identity server that behaves like
  Fortellis' (an Okta custom authorization server). It shares no logic with the client,
  so each checks the other.
"""

__version__ = "0.1.0"
