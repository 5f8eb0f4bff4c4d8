"""What the client does only for the local sandbox, above the protocol layer (which knows no
sandbox): sign in without a browser, learn when a code was issued, register apps, move one
app's clock (:func:`app_clock`), and find, start or recognise a sandbox.

Two ways to get a client, and only these:

* :func:`start` (``lessons.start()`` in the notebooks): the server the FORTELLIS_* settings or
  ``.env`` name, else the local sandbox (the running one, or one started in the background);
* :func:`sandbox_client`: a sandbox's demo app whatever the settings say, for code and tests
  that want the sandbox only (this user's, a state directory's, or a ``SandboxInfo`` at hand).

Both give a :class:`SandboxClient`: a :class:`~fortellis_nb.oauth.FortellisClient` that also
signs in headless (``client.sign_in_headless(request)``) and refuses to
(:class:`~fortellis_nb.oauth.errors.SandboxOnlyError`) against a server that is not a sandbox.
"""

from .apps import consent_app, sandbox_app
from .client import SandboxClient, recognise, sandbox_client, sandbox_config, start
from .clock import AppClock, app_clock

__all__ = ["AppClock", "SandboxClient", "app_clock", "consent_app", "recognise", "sandbox_app", "sandbox_client",
           "sandbox_config", "start"]
