"""The state one flow's widgets share: the client, each step's result, and a clock that ticks.

Widgets of one flow hold the same :class:`Flow`; each step sets its result on it and the
others observe it (``flow.observe(callback, "tokens")``), as ipywidgets' own traits do.
The Flow is not a widget: nothing here is synced to the browser or saved with a notebook.
"""

from __future__ import annotations

import contextlib
import threading

from traitlets import Any, HasTraits, Instance, Int

from ..local import start
from ..oauth import FortellisClient
from ..oauth.checks import redact


class Ticker:
    """Calls its callbacks about once a second on a background thread, while ``live``.

    Tests make it with ``live=False`` and call the widgets' ``tick()`` themselves after
    moving a fake clock. A callback that raises is ignored: a countdown must never break
    a notebook.
    """

    def __init__(self, live: bool = True, interval: float = 1.0):
        self.live = live
        self.interval = interval
        self._callbacks: list = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, callback) -> None:
        with self._lock:
            if callback not in self._callbacks:
                self._callbacks.append(callback)
            if self.live and (self._thread is None or not self._thread.is_alive()):
                self._stopped.clear()
                self._thread = threading.Thread(target=self._run, name="fortellis-nb-ticker", daemon=True)
                self._thread.start()

    def remove(self, callback) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)
            if not self._callbacks:
                self._stopped.set()

    def stop(self) -> None:
        with self._lock:
            self._callbacks.clear()
            self._stopped.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopped.is_set()

    def tick(self) -> None:
        for callback in list(self._callbacks):
            with contextlib.suppress(Exception):  # a countdown must never raise into the kernel
                callback()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.tick()


class Flow(HasTraits):
    """One run of the authorization code flow, shared by the widgets that show it."""

    client = Instance(FortellisClient, help="The client every step of this flow uses.")
    request = Any(None, allow_none=True, help="Step 1: the AuthorizationRequest (authorize URL).")
    redirect = Any(None, allow_none=True, help="Step 2: the AuthorizationResponse (code and state).")
    tokens = Any(None, allow_none=True, help="Step 3, or the last refresh: the current TokenResponse.")
    previous_tokens = Any(None, allow_none=True, help="The TokenResponse the last refresh replaced.")
    api_response = Any(None, allow_none=True, help="Step 4: the last successful ApiResponse.")
    exchanges = Int(0, help="How many HTTP exchanges the client's transcript holds.")
    settings_version = Int(0, help="Bumped when the client's settings change.")
    revoked = Any(None, allow_none=True, help="Why the current tokens no longer work, once known; else None.")
    attempts = Int(0, help="Bumped when an authorization request's state is used up (answered or refused).")
    busy = Any(None, allow_none=True, help="The step running now (a request on the wire), or None.")

    def __init__(self, client: FortellisClient | None = None, *, live: bool = True, clock=None):
        super().__init__(client=client if client is not None else start())
        self._clock = clock
        self.ticker = Ticker(live=live)
        self._secrets: set[str] = set()
        self._remember_client()
        self._listen(self.client)
        self.observe(self._on_result, ["request", "redirect", "tokens", "previous_tokens"])
        # A client that already went through the steps in code (a notebook's earlier cells)
        # brings its authorize request and its tokens along, so the widgets start where the
        # learner is, on the same request as the cells (one state per attempt).
        latest = self.client.states.latest
        if latest is not None and latest.state in self.client.states:
            self.request = latest
        if self.client.tokens is not None:
            self.tokens = self.client.tokens
        self.observe(lambda change: self._sync_revoked(), "tokens")

    @classmethod
    def of(cls, value=None, *, live: bool = True, clock=None) -> Flow:
        """``value`` if it is a Flow, else a new Flow around ``value`` (a client, or None for the default)."""
        if isinstance(value, Flow):
            return value
        return cls(value, live=live, clock=clock)

    @property
    def live(self) -> bool:
        return self.ticker.live

    def now(self) -> float:
        return (self._clock or self.client.clock)()

    # --- secrets ----------------------------------------------------------------
    def _remember_client(self) -> None:
        config = self.client.config
        self._hidden = {config.api_secret, (config.sandbox or {}).get("password") or ""}

    def remember(self, *values) -> None:
        """Values never to show in full (codes, tokens, verifiers)."""
        self._secrets.update(v for v in values if isinstance(v, str) and v)

    def _on_result(self, change) -> None:
        value = change["new"]
        if value is None:
            return
        self.remember(*(getattr(value, name, None) for name in
                        ("code", "code_verifier", "access_token", "id_token", "refresh_token")))
        if getattr(value, "code_verifier", None) is None and hasattr(value, "request"):
            self.remember(getattr(value.request, "code_verifier", None))

    def redact(self, text: str) -> str:
        """``text`` made safe to display and to save: secrets hidden, tokens and codes shortened."""
        self._remember_client()
        return redact(text, secrets=self._secrets, hidden=self._hidden)

    # --- changes ------------------------------------------------------------------
    def _listen(self, client: FortellisClient) -> None:
        # Every exchange the client records, from a widget or from a notebook's own cell,
        # reaches the views at once (the network log).
        client.transcript.subscribe(self._on_exchange)
        # A redirect a cell reads itself (parse_redirect, after a headless sign-in) uses up
        # the state the authorize link shows: the link then offers a fresh one.
        client.states.subscribe(self._on_state_used)

    def _unlisten(self, client: FortellisClient) -> None:
        client.transcript.unsubscribe(self._on_exchange)
        client.states.unsubscribe(self._on_state_used)

    def _on_state_used(self, state: str) -> None:
        if self.request is not None and self.request.state == state:
            self.request_used()

    def _on_exchange(self, exchange) -> None:
        self.recorded()
        # A cell's own call may have changed what the widgets show (the code used again, a
        # token revoked): one state change, seen by every widget of the flow.
        if self.client.tokens is not self.tokens and self.client.tokens is not None and self.busy is None:
            self.tokens = self.client.tokens
        self._sync_revoked()

    def _sync_revoked(self) -> None:
        reason = self.tokens.revoked if self.tokens is not None else None
        if reason != self.revoked:
            self.revoked = reason

    def request_used(self) -> None:
        """An authorization request's state was used up: views offering its link renew it."""
        self.attempts += 1

    def recorded(self) -> None:
        """Tell the observers (the network log) that the transcript may have grown."""
        self.exchanges = len(self.client.transcript)

    def settings_changed(self) -> None:
        self._remember_client()
        self.settings_version += 1

    def use_client(self, client: FortellisClient) -> None:
        """Start over with another client (another server or app)."""
        self.api_response = self.previous_tokens = self.tokens = self.redirect = self.request = None
        self._unlisten(self.client)
        self.client = client
        self._listen(client)
        self.settings_changed()
        self.recorded()

    def close(self) -> None:
        self.ticker.stop()
